"""The procedure library stays whole: every shipped type has its row in docs/PROCEDURES.md, its life
test in tests/procedures and its demo cases, names its seed sections, and at least 29 types ship."""

from __future__ import annotations

import re
from pathlib import Path

from domain.model.registry import CaseTypeRegistry

ROOT = Path(__file__).resolve().parents[2]


def test_every_shipped_type_is_documented_tested_and_in_the_demo() -> None:
    names = CaseTypeRegistry.load().names()
    assert len(names) >= 29
    doc = (ROOT / "docs" / "PROCEDURES.md").read_text(encoding="utf-8")
    types = doc.split("## The types", 1)[1].split("\n## ", 1)[0]
    rows = set(re.findall(r"^\| ([a-z_]+) \| ", types, re.M)) - {"type"}
    assert rows == set(names), (set(names) - rows, rows - set(names))
    assert f"ships {len(names)} case types" in doc
    built_in = {"complaint", "inquiry", "repair_order", "return_visit", "order_approval"}
    for name in names:
        ct = CaseTypeRegistry.load().get(name)
        assert ct.sources, f"{name} names no seed sections"
        if name not in built_in:
            assert (ROOT / "tests" / "procedures" / f"test_{name}.py").is_file(), name
        assert (ROOT / "scripts" / "demo_plans" / f"{name}.toml").is_file() or name in built_in, name

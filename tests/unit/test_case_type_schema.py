"""The JSON Schema of case-type files: current, valid, accepting every built-in file, catching typos."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import jsonschema

from domain.model.casetype import BUILTIN_DIR
from domain.model.file_format import case_type_schema
from tests.unit.test_role_catalog import CASH_ADVANCE

DOCS = Path(__file__).resolve().parents[2] / "docs" / "case-type.schema.json"


def validator() -> jsonschema.Draft202012Validator:
    schema = case_type_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_the_published_schema_is_the_one_the_loader_builds() -> None:
    assert json.loads(DOCS.read_text(encoding="utf-8")) == case_type_schema()
    printed = subprocess.run([str(Path(sys.executable).parent / "casetrail"), "case-types", "schema"],
                             capture_output=True, text=True, timeout=60)
    assert json.loads(printed.stdout) == case_type_schema()


def test_every_built_in_file_and_the_operator_example_are_valid() -> None:
    v = validator()
    files = [p for p in sorted(BUILTIN_DIR.glob("*.toml")) if not p.name.startswith("_")]
    assert len(files) >= 5
    for path in files:
        assert list(v.iter_errors(tomllib.loads(path.read_text(encoding="utf-8")))) == [], path.name
    assert list(v.iter_errors(tomllib.loads(CASH_ADVANCE))) == []


def test_typos_are_flagged_where_an_editor_shows_them() -> None:
    v = validator()
    typos = [
        'number_prefx = "X"\n' + CASH_ADVANCE,  # an unknown top-level key
        CASH_ADVANCE.replace('[actions.pay]\n', '[actions.pay]\nrolse = ["cashier"]\n'),  # an unknown action key
        CASH_ADVANCE.replace('[fields]\n', '[fields]\nx = { type = "colour" }\n'),  # an unknown field type
    ]
    for text in typos:
        assert list(v.iter_errors(tomllib.loads(text))), text[:80]

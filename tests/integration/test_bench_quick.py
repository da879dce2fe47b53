"""The benchmark suite runs end to end and writes a well-formed results file.

Runs ``casetrail bench --smoke`` (tiny sizes, its own throwaway PostgreSQL)
and checks ``latest.json``: every figure id of QUALITY.md is present, each
with a number and a boolean ``met`` or an explicit ``not_measured`` reason,
plus the machine description. No timing assertions: it is a benchmark.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from scripts.bench.report import FIGURE_IDS, GOALS, check_shape

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(120)
def test_bench_smoke_writes_well_formed_results(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "scripts.cli", "bench", "--smoke", "--out", str(tmp_path)],
        cwd=REPO, capture_output=True, text=True, timeout=110,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    data = json.loads((tmp_path / "latest.json").read_text())
    assert check_shape(data) == []
    assert set(data["figures"]) == set(FIGURE_IDS)
    for key in ("cores", "ram_gb", "cpu_model", "sqlite_synchronous"):
        assert data["machine"][key]
    measured = {fid for fid, f in data["figures"].items() if f["value"] is not None}
    assert "W3" in measured  # SQLite needs nothing installed
    for fid, f in data["figures"].items():
        if f["value"] is None:
            assert isinstance(f["not_measured"], str) and f["not_measured"], fid
        else:
            assert isinstance(f["value"], (int, float)) and f["value"] > 0, fid
            if GOALS[fid][2] is None:  # a baseline figure (W0): no goal
                assert f["met"] is None, fid
            else:
                assert isinstance(f["met"], bool), fid
            assert len(f["runs"]) >= 3, fid
    if "postgres_version" in data["machine"]:
        assert {"W0", "W1", "W2", "N1", "A1", "V1"} <= measured
        assert data["figures"]["W1"]["cpu_us_per_command"] > 0
        assert data["figures"]["W2"]["processes"] >= 1
        assert "fsync=on" in data["machine"]["postgres_settings"]
    assert (tmp_path / "latest.md").read_text().startswith("# casetrail bench")

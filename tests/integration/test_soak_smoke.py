"""``casetrail soak`` runs: a 10-second soak on each database writes its report.

Only that the script works is checked here (requests of every kind made,
none failed, the report written with the figures the summary prints), not
memory growth: ten seconds say nothing about it, and the full 10-minute
soak is ``make soak``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from scripts.bench.soak import MIX

CASETRAIL = str(Path(sys.executable).parent / "casetrail")


def test_a_short_soak_writes_its_report(database_url: str, tmp_path: Path) -> None:
    out = tmp_path / "results"
    run = subprocess.run([CASETRAIL, "soak", "--database-url", database_url, "--duration", "10", "--threads", "2",
                          "--sample-every", "1", "--out", str(out)], capture_output=True, text=True, timeout=120)
    assert run.returncode in (0, 1), run.stderr[-2000:]  # 1: RSS grew, which 10 s cannot judge
    reports = list(out.glob("soak-*-*.json"))
    assert len(reports) == 1, (run.stdout, run.stderr[-2000:])
    report = json.loads(reports[0].read_text())
    assert report["database"] == ("sqlite" if database_url.startswith("sqlite") else "postgres")
    assert report["errors"] == 0 and report["server_alive_at_end"], report["error_samples"]
    assert report["unhandled_errors_in_log"] == 0
    assert set(report["by_operation"]) == set(MIX)  # every kind of request was made
    assert report["by_status"].get("201", 0) > 0 and report["by_status"].get("409", 0) > 0
    assert report["requests"] == sum(report["by_status"].values()) > 0
    assert report["latency_ms"]["p50"] <= report["latency_ms"]["p99"]
    assert len(report["rss_kb"]["samples"]) >= 5 and report["rss_kb"]["at_end"] > 0
    assert report["passed"] == (report["errors"] == 0 and report["rss_kb"]["growth_pct"] < report["max_growth_pct"])
    assert run.returncode == (0 if report["passed"] else 1)
    assert ("PASS" if report["passed"] else "FAIL") in run.stdout and str(reports[0]) in run.stdout

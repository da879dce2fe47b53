"""``casetrail bench``: the benchmark suite of docs QUALITY.md (also ``make bench``).

Measures W0-W4, N1, A1, V1, I1, C1 and (when the read models exist) R1, R2,
Q1, each against a baseline measured in the same run, and writes
``bench/results/latest.json`` and ``latest.md``. It reports; it never fails
because the machine is slow. ``--quick`` takes about five minutes;
``--smoke`` in seconds (the integration test uses it); the default full run
uses 100k-event data sets and the 1M-event rebuild and may take an hour.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from scripts.extras import load

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "bench" / "results"


@click.command()
@click.option("--quick", "mode", flag_value="quick", help="Small sizes, 3 repetitions (about 5 minutes).")
@click.option("--smoke", "mode", flag_value="smoke", help="Tiny sizes: checks the suite runs (seconds).")
@click.option("--full", "mode", flag_value="full", default=True, help="Full sizes (the default).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=DEFAULT_OUT,
              show_default=True, help="Directory for latest.json and latest.md.")
@click.option("--durability", type=click.Choice(["durable", "fast"]), default="durable", show_default=True,
              help="PostgreSQL settings for the run: durable = fsync, full_page_writes and synchronous_commit "
                   "on; fast = all off (as the tests run). Baselines use the same server.")
@click.option("--no-readmodels", is_flag=True, help="Skip R1/R2/Q1 (recorded as not measured).")
def bench(mode: str, out_dir: Path, durability: str, no_readmodels: bool) -> None:
    """Run the benchmark suite and write bench/results/latest.{json,md}."""
    suite = load("scripts.bench.suite", "bench")
    report = load("scripts.bench.report", "bench")

    sizes = suite.MODES[mode]
    if no_readmodels:
        sizes = suite.with_overrides(mode, rebuild=None, q1=None)
    data = suite.run(mode, out_dir, durability, log=lambda line: click.echo(line, err=True), sizes=sizes)
    if no_readmodels:
        for fid in ("R1", "R2", "Q1"):
            if data["figures"][fid].get("not_measured", "").startswith("not run"):
                data["figures"][fid]["not_measured"] = "skipped (--no-readmodels)"
        report.write_results(data, out_dir)
    click.echo(report.markdown(data))
    problems = report.check_shape(data)
    if problems:
        raise click.ClickException("results are malformed: " + json.dumps(problems))


commands = [bench]

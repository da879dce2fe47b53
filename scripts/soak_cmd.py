"""``casetrail soak``: mixed load against a real server for minutes (needs ``casetrail[bench]``).

The run itself is ``scripts.bench.soak`` (it drives the API with httpx,
an optional extra); this module is only the command line, so that the
base install's ``casetrail`` starts without it.
"""

from __future__ import annotations

from pathlib import Path

import click

from scripts.extras import load


@click.command("soak")
@click.option("--database", type=click.Choice(["postgres", "sqlite"]), default="postgres", show_default=True,
              help="A throwaway PostgreSQL server, or a SQLite file in a temporary directory.")
@click.option("--database-url", default=None, help="Use this (fresh) database instead of a throwaway one.")
@click.option("--duration", type=click.FloatRange(1), default=600, show_default=True, help="Seconds of load.")
@click.option("--threads", type=click.IntRange(1, 256), default=8, show_default=True, help="Client threads.")
@click.option("--sample-every", type=click.FloatRange(0.1), default=5, show_default=True,
              help="Seconds between RSS samples.")
@click.option("--warmup", type=click.FloatRange(0), default=None,
              help="Seconds before the reference RSS sample (default: half the run, at most 180).")
@click.option("--max-growth", type=float, default=10.0, show_default=True,
              help="Fail when RSS grows by this many % or more after the warm-up.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Directory for soak-<database>-<time>.json (default: bench/results).")
def soak_command(database: str, database_url: str | None, duration: float, threads: int, sample_every: float,
                 warmup: float | None, max_growth: float, out_dir: Path | None) -> int:
    """Mixed load against `casetrail serve` for --duration seconds; fail on any error or RSS growth."""
    soak = load("scripts.bench.soak", "soak")
    return int(soak.run(database, database_url, duration, threads, sample_every, warmup, max_growth, out_dir))


commands = [soak_command]

"""``casetrail projections run|status|rebuild``: the read-model workers and their upkeep.

``run [NAME ...]`` keeps the read models (default all) current, plus a
periodic SLA pass, until SIGINT/SIGTERM. ``status`` shows each read model's
version, position and lag (events and seconds) and any unfinished rebuild.
``rebuild [NAME ...]`` replays the log into new tables while the old ones
serve, with a progress bar, then switches; Ctrl-C stops after the current
batch, and running it again continues from there.
"""

from __future__ import annotations

import json
import signal
import threading
from typing import Any

import click

from domain.storage.database import database_url
from projections.bulk import REBUILD_BATCH
from projections.catalog import resolve
from projections.maintenance import rebuild, status
from projections.views import Store
from scripts.database import existing_application


def _names(names: tuple[str, ...], *, outboxes: bool = False) -> list[str]:
    try:
        return resolve(names, outboxes=outboxes)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="NAME") from None


def _on_signals(handler: Any, *signals: int) -> None:
    for sig in signals:
        signal.signal(sig, handler)


@click.group()
def projections() -> None:
    """Read models (case_state, staff_performance, audit_history) and the webhook outbox: run, status, rebuild."""


@projections.command("run")
@click.argument("names", nargs=-1)
@click.option("--sla-interval", type=float, default=None,
              help="Seconds between SLA passes (default $CASETRAIL_SLA_INTERVAL or 60; 0: none).")
def run(names: tuple[str, ...], sla_interval: float | None) -> None:
    """Keep read models current (and run the SLA monitor) until stopped."""
    from api.logging import configure_logging
    from projections.workers import run_until_stopped

    chosen = _names(names, outboxes=True)
    configure_logging()
    stop = threading.Event()
    _on_signals(lambda *_: stop.set(), signal.SIGINT, signal.SIGTERM)
    click.echo(f"running {', '.join(chosen)} until stopped", err=True)
    run_until_stopped(database_url(), chosen, stop, sla_interval=sla_interval)


@projections.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def status_cmd(as_json: bool) -> None:
    """Position and lag of each read model."""
    app = existing_application()
    try:
        rows = status(app, Store.for_app(app))
    finally:
        app.close()
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    click.echo(f"{'projection':<18} {'version':>7} {'position':>10} {'head':>10} {'lag':>8} {'lag s':>9}  rebuild")
    for r in rows:
        rb = r.get("rebuilding")
        extra = f"v{rb['version']} at {rb['position']} ({rb['done_pct']}%)" if rb else "-"
        position = "-" if r["position"] is None else r["position"]
        click.echo(f"{r['name']:<18} {'v' + str(r['version']) if r['version'] else '-':>7} {position:>10} "
                   f"{r['head']:>10} {r['lag_events']:>8} {r['lag_seconds']:>9.1f}  {extra}")


@projections.command("rebuild")
@click.argument("names", nargs=-1)
@click.option("--batch-size", type=click.IntRange(1, 10_000), default=REBUILD_BATCH, show_default=True,
              help="Events per transaction.")
@click.option("--no-switch", is_flag=True, help="Fill the new tables but keep serving the old ones.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def rebuild_cmd(names: tuple[str, ...], batch_size: int, no_switch: bool, quiet: bool) -> None:
    """Rebuild read models from event 1 into new tables, then switch (resumable)."""
    from tqdm import tqdm

    chosen = _names(names)
    app = existing_application()
    store = Store.for_app(app)
    stop = threading.Event()

    def interrupt(*_: Any) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        click.echo("\nstopping after this batch; run the rebuild again to continue", err=True)

    _on_signals(interrupt, signal.SIGINT, signal.SIGTERM)
    bar = tqdm(desc="rebuild", unit="ev", unit_scale=True, dynamic_ncols=True, disable=quiet, smoothing=0.05)

    def progress(position: int, head: int) -> None:
        if bar.total != head:
            bar.total = head
        if bar.n == 0 and position:
            bar.n = bar.last_print_n = position  # resuming: count only this run in the rate
            bar.refresh()
        else:
            bar.update(position - bar.n)

    try:
        result = rebuild(app, store, chosen, batch_size=batch_size, stop=stop, progress=progress,
                         switch=not no_switch)
    finally:
        bar.close()
        app.close()
    versions = ", ".join(f"{n} v{v}" for n, v in result.versions.items())
    rate = result.events / result.seconds if result.seconds else 0.0
    if result.interrupted:
        click.echo(f"interrupted at position {result.position} ({versions}); "
                   "run `casetrail projections rebuild` again to continue", err=True)
        raise SystemExit(130)
    click.echo(f"rebuilt {versions} up to position {result.position}: {result.events} events in "
               f"{result.seconds:.1f} s ({rate:,.0f} events/s); "
               + (f"switched {', '.join(result.switched)}" if result.switched else "not switched"))


commands = [projections]

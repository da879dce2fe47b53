"""``casetrail sla check [--now TIME]``: one pass of the SLA deadline monitor and the schedules.

Brings ``case_state`` up to date, then records ``DeadlineBreached`` +
``Escalated`` once for every running clock due before ``--now`` (default:
the current time), and prints one line per breach recorded. Running it
again with the same ``--now`` records nothing more. A ``--now`` later than
the server clock is refused: no event is ever dated in the future. Then the
retention rules (``[retention]`` of the case types) erase the customers whose
closed cases are past their period, one line per erasure.
"""

from __future__ import annotations

from datetime import UTC, datetime

import click

from projections.events import parse_time
from projections.sla import retention_pass, sla_pass
from projections.views import Store
from scripts.database import existing_application
from scripts.errors import CommandError


@click.group()
def sla() -> None:
    """SLA deadline monitor."""


@sla.command("check")
@click.option("--now", "now_text", default=None, metavar="TIME",
              help="The moment to check against, RFC 3339 with offset (default: now).")
def check(now_text: str | None) -> None:
    """Record every breach due before TIME, once; print what was recorded."""
    try:
        now = parse_time(now_text) if now_text else datetime.now(UTC)
        if now_text and len(now_text.strip()) == 10:
            raise ValueError("give a time, not a date (e.g. 2026-11-20T09:00:00+08:00)")
        clock = datetime.now(UTC)
        if now > clock:
            raise ValueError(f"{now.isoformat()} is later than the server clock ({clock.isoformat()}); "
                             "breaches are recorded as they happen, never ahead of time")
    except ValueError as e:
        raise CommandError(f"--now: {e}") from None
    app = existing_application()
    try:
        breaches = sla_pass(app, Store.for_app(app), now)
        opened = app.run_schedules(now)
        erased = retention_pass(app, Store.for_app(app), now)
    finally:
        app.close()
    for b in breaches:
        click.echo(f"{b.number}\t{b.clock}\tdue {b.due_at}\tescalated to {b.escalated_to}")
    for number in opened:
        click.echo(f"{number}\topened by its schedule")
    click.echo(f"{len(breaches)} breach(es) recorded at {now.isoformat()}")
    if opened:
        click.echo(f"{len(opened)} scheduled case(s) opened")
    for erasure in erased:
        click.echo(f"{erasure.subject}\terased by retention ({len(erasure.cases)} case(s))")


commands = [sla]

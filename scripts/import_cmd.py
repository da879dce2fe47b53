"""``casetrail import FILE``: import legacy cases from a JSON-lines file.

Each line is one case with its whole history, exactly the body of
``POST /v1/import/cases`` (``{"case": {...}, "actions": [...]}``). Each case
is imported atomically (``domain.importing``): it is recorded with all its
actions or not at all. A line that is refused is reported on stderr with its
number and the reason, and the others still go in; the command exits 1 if
any line was refused. ``--as STAFF_ID`` records a staff member with the
``importer`` role as the actor (default: the ``system:import`` process).
``FILE`` may be ``-`` for stdin.
"""

from __future__ import annotations

import json

import click

from domain.model.actor import Actor, CommandContext
from domain.model.errors import DomainError
from scripts.database import existing_application

SYSTEM_IMPORTER = Actor(id="system:import", roles=("importer",), name="import")


@click.command("import")
@click.argument("file", type=click.File("r", encoding="utf-8"))
@click.option("--as", "as_staff", default=None, metavar="STAFF_ID",
              help="record this staff member (with the importer role) as the actor")
def import_cases(file: click.utils.LazyFile, as_staff: str | None) -> None:
    """Import the cases of FILE (JSON lines), each one atomically."""
    app = existing_application()
    refused = imported = 0
    try:
        actor = app.get_staff(as_staff).as_actor() if as_staff else SYSTEM_IMPORTER
        for number, line in enumerate(file, start=1):
            if not line.strip():
                continue
            try:
                body = json.loads(line)
            except ValueError as e:
                click.echo(f"line {number}: not JSON: {e}", err=True)
                refused += 1
                continue
            try:
                case = app.import_case(actor, body, CommandContext(correlation_id=f"import:{number}")).case
            except DomainError as e:
                click.echo(f"line {number}: refused: {e}", err=True)
                refused += 1
                continue
            imported += 1
            click.echo(f"line {number}: {case.number}\t{case.id}\t{case.status}\t{case.version} events")
    finally:
        app.close()
    click.echo(f"{imported} case(s) imported, {refused} refused")
    if refused:
        raise SystemExit(1)


commands = [import_cases]

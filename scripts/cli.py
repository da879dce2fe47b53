"""The ``casetrail`` command line: one click group, one module per command family.

Each family lives in its own module (``serve_cmd``, ``staff_cmd``,
``projections_cmd``, ``sla_cmd``, ``audit_cmd``, ``demo_cmd``,
``bench_cmd``, ``soak_cmd``, ``import_cmd``) exposing ``commands``: a list of click
commands/groups. They are plain imports: every one of them must import on
the base install (optional extras are loaded inside the command that needs
them, ``scripts.extras``).
All commands read ``CASETRAIL_DATABASE_URL`` and ``CASETRAIL_CALENDAR``; the
audit commands and the worker also ``CASETRAIL_SIGNING_KEY``,
``CASETRAIL_PUBLIC_KEY``, ``CASETRAIL_WITNESS`` (and the legacy
``CASETRAIL_AUDIT_KEY``). Domain errors and configuration errors (a bad
calendar or case-type file) become a message on stderr and exit 2; a
database that cannot be reached or used, a message and exit 3. Never a
traceback.
"""

from __future__ import annotations

import sqlite3
import sys

import click
import psycopg
from eventsourcing.persistence import PersistenceError

from domain.model.calendar import CalendarError
from domain.model.errors import CaseTypeError, DomainError
from domain.storage.database import StorageConfigError
from scripts import (
    audit_cmd,
    bench_cmd,
    case_types_cmd,
    customers_cmd,
    demo_cmd,
    import_cmd,
    projections_cmd,
    serve_cmd,
    sla_cmd,
    soak_cmd,
    staff_cmd,
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """casetrail: event-sourced case tracking with a provable audit trail."""


for _module in (serve_cmd, staff_cmd, projections_cmd, sla_cmd, audit_cmd, case_types_cmd, demo_cmd, bench_cmd,
                soak_cmd, import_cmd, customers_cmd):
    for _command in _module.commands:
        cli.add_command(_command)


def main() -> None:
    try:
        code = cli.main(standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(1)
    except (DomainError, CalendarError, CaseTypeError, StorageConfigError) as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(2)
    except (PersistenceError, psycopg.Error, sqlite3.Error) as e:
        detail = " ".join(str(e).split())[:500] or type(e).__name__
        click.echo(f"error: the database cannot be used: {detail}", err=True)
        sys.exit(3)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()

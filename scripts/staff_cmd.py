"""``casetrail staff ...`` and ``casetrail token ...``: staff members and API tokens.

``staff add`` records a staff member (an event); ``staff list`` shows them.
The ``token`` commands live in ``scripts/token_cmd.py``.
"""

from __future__ import annotations

from contextlib import closing

import click

from domain.application import CaseTrail
from domain.model.actor import ROLES
from domain.model.staff import Staff
from domain.model.topics import topics
from scripts.database import existing_application
from scripts.token_cmd import token  # registered with the staff group (scripts/cli.py)


def application() -> CaseTrail:
    """For ``staff add`` (which may create the database)."""
    return CaseTrail.from_url()


@click.group()
def staff() -> None:
    """Staff members: add, list, update, deactivate."""


@staff.command("add")
@click.argument("staff_id")
@click.option("--name", required=True, help="Display name.")
@click.option("--department", required=True, help="Department, e.g. cs, sales, service.")
@click.option("--role", "roles", multiple=True, required=True, metavar="ROLE",
              help=f"A role of the role catalog (repeat for several): {', '.join(ROLES)}, or one an operator's "
                   "_roles.toml adds.")
@click.option("--token", "with_token", is_flag=True,
              help="Also issue a token and print it on stdout (the first admin in one command).")
def staff_add(staff_id: str, name: str, department: str, roles: tuple[str, ...], with_token: bool) -> None:
    """Add a staff member."""
    with closing(application()) as app:
        member = app.register_staff(staff_id, name, department, list(roles))
        click.echo(f"added {member.staff_id} ({member.name}, {member.department}: {', '.join(member.roles)})",
                   err=True)
        if with_token:
            click.echo(app.issue_token(member.staff_id))


@staff.command("list")
def staff_list() -> None:
    """List staff members (id, name, department, roles, active)."""
    app = existing_application()
    after = 0
    while True:
        page = app.recorder.select_notifications(start=after + 1, limit=500, topics=topics(Staff.Registered))
        for n in page:
            member = app.load(n.originator_id)
            click.echo("\t".join([member.staff_id, member.name, member.department, ",".join(member.roles),
                                  "active" if member.active else "inactive"]))
        if len(page) < 500:
            break
        after = page[-1].id


@staff.command("update")
@click.argument("staff_id")
@click.option("--name", default=None, help="New display name.")
@click.option("--department", default=None, help="New department.")
@click.option("--role", "roles", multiple=True, metavar="ROLE",
              help="The new set of roles (repeat for several; replaces the old set), from the role catalog.")
def staff_update(staff_id: str, name: str | None, department: str | None, roles: tuple[str, ...]) -> None:
    """Change a staff member's name, department or roles (recorded as an event)."""
    if name is None and department is None and not roles:
        raise click.UsageError("nothing to change: give --name, --department or --role")
    with closing(existing_application()) as app:
        member = app.update_staff(staff_id, name=name, department=department, roles=list(roles) or None)
    click.echo(f"updated {member.staff_id} ({member.name}, {member.department}: {', '.join(member.roles)})",
               err=True)


@staff.command("deactivate")
@click.argument("staff_id")
def staff_deactivate(staff_id: str) -> None:
    """Lock STAFF_ID out: all their tokens are refused from now on (history is kept)."""
    with closing(existing_application()) as app:
        app.deactivate_staff(staff_id)
    click.echo(f"deactivated {staff_id}", err=True)


commands = [staff, token]

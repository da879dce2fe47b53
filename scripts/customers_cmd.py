"""``casetrail customers erase CUSTOMER_ID --reason TEXT``: erase a customer's personal data.

Destroys the customer's data key and records an ``Erased`` event (who: the
``--by`` staff member or ``system:admin``; why: ``--reason``; which cases),
``domain.erasing``. Prints the erased cases' ids and one summary line on
stderr. ``--case CASE_ID`` instead erases a case without a customer id (its
own data subject). An unknown customer, one erased already or an empty
reason is one line on stderr and exit 2; nothing is recorded then.
"""

from __future__ import annotations

from contextlib import closing

import click

from domain.model.actor import Actor
from domain.model.errors import DomainError
from scripts.database import existing_application
from scripts.errors import CommandError


@click.group()
def customers() -> None:
    """Customers' personal data: erase."""


@customers.command("erase")
@click.argument("customer_id", required=False)
@click.option("--reason", required=True, help="Why (consent withdrawn, retention expired...); recorded.")
@click.option("--case", "case_id", default=None, metavar="CASE_ID",
              help="Erase the personal data of a case without a customer id instead.")
@click.option("--by", "by", default=None, metavar="STAFF_ID",
              help="The staff member who asked for the erasure (recorded; default system:admin).")
def erase(customer_id: str | None, reason: str, case_id: str | None, by: str | None) -> None:
    """Destroy a customer's data key: their personal fields read [erased] from now on."""
    if (customer_id is None) == (case_id is None):
        raise CommandError("give a CUSTOMER_ID or --case CASE_ID (one of them)")
    with closing(existing_application()) as app:
        try:
            actor = app.get_staff(by).as_actor() if by else Actor.system("admin")
            if case_id is not None:
                result = app.erase_case(actor, case_id, reason)
            else:
                result = app.erase_customer(actor, customer_id, reason)
        except DomainError as e:
            raise CommandError(str(e)) from None
    for cid in result.cases:
        click.echo(cid)
    click.echo(f"erased {result.subject}: key {result.key_id} destroyed, {len(result.cases)} case(s)", err=True)


commands = [customers]

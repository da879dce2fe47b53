"""``casetrail token ...``: issue, list and revoke API tokens.

``token issue STAFF_ID [--expires 90d]`` prints the new token on stdout and
nothing else (so that ``TOKEN=$(casetrail token issue agent1)`` works) and
its public token id on stderr; only the token's hash is stored. ``--expires``
takes minutes, hours or days (``30m``, ``12h``, ``90d``) or ``never`` (the
default); ``--ttl-days N`` is the older spelling of ``--expires Nd``.
``token list [STAFF_ID] [--json]`` prints one line per token, ``TOKEN_ID
STAFF_ID CREATED EXPIRES STATUS`` (tab-separated; status active, expired or
revoked; never the token or its hash). ``token revoke TOKEN_ID`` revokes a
token by its id; the token itself (``ct_...``) or ``-`` (the token read from
stdin, out of the shell history) still work. Unknown staff or token ids exit 2
with one line on stderr.
"""

from __future__ import annotations

import json
import sys
from contextlib import closing
from datetime import timedelta

import click

from domain import tokens
from domain.model.durations import wall_span
from domain.model.staff import TOKEN_PREFIX, token_hash, token_id_of
from scripts.database import existing_application
from scripts.errors import CommandError

MAX_LIFETIME = timedelta(days=3650)


def lifetime(expires: str | None, ttl_days: int | None) -> timedelta | None:
    """The token's lifetime from ``--expires`` (or ``--ttl-days``); None: it never expires."""
    if expires is not None and ttl_days is not None:
        raise CommandError("give --expires or --ttl-days, not both")
    if ttl_days is not None:
        return timedelta(days=ttl_days)
    if expires is None:
        return None
    try:
        ttl = wall_span(expires)
    except ValueError as e:
        raise CommandError(f"--expires {e}") from None
    if ttl is None:
        return None
    if not timedelta(0) < ttl <= MAX_LIFETIME:
        raise CommandError(f"--expires {expires!r}: a lifetime must be more than 0 and at most 3650d")
    return ttl


@click.group()
def token() -> None:
    """API tokens: issue, list, revoke."""


@token.command("issue")
@click.argument("staff_id")
@click.option("--expires", default=None, metavar="DURATION",
              help="Expire after this long: 30m, 12h, 90d (default: never).")
@click.option("--ttl-days", type=click.IntRange(1, 3650), default=None,
              help="Expire after N days (the same as --expires Nd).")
def token_issue(staff_id: str, expires: str | None, ttl_days: int | None) -> None:
    """Print a new API token for STAFF_ID on stdout (its token id on stderr)."""
    ttl = lifetime(expires, ttl_days)
    with closing(existing_application()) as app:
        value = app.issue_token(staff_id, ttl=ttl)
    click.echo(value)
    click.echo(f"token id {token_id_of(token_hash(value))}", err=True)


@token.command("list")
@click.argument("staff_id", required=False)
@click.option("--json", "as_json", is_flag=True, help="A JSON array instead of lines.")
def token_list(staff_id: str | None, as_json: bool) -> None:
    """List tokens (of STAFF_ID): TOKEN_ID STAFF_ID CREATED EXPIRES STATUS, never the token."""
    with closing(existing_application()) as app:
        now = app.clock()
        rows = [t.listing(now) for t in tokens.tokens(app, staff_id)]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for row in rows:
        click.echo("\t".join([row["token_id"], row["staff_id"], row["created_at"] or "-",
                              row["expires_at"] or "never", row["status"]]))


@token.command("revoke")
@click.argument("token_ref", metavar="TOKEN_ID")
def token_revoke(token_ref: str) -> None:
    """Revoke the token TOKEN_ID (or the token itself; - reads the token from stdin)."""
    if token_ref == "-":
        token_ref = sys.stdin.readline().strip()
    with closing(existing_application()) as app:
        if token_ref.startswith(TOKEN_PREFIX):
            app.revoke_token(token_ref)
            token_id = token_id_of(token_hash(token_ref))
        else:
            token_id = tokens.revoke(app, token_ref).token_id
    click.echo(f"revoked {token_id}", err=True)


commands = [token]

"""API tokens by their public id: list them, find one, revoke one.

A token aggregate is keyed by the token's hash (``domain.model.staff.ApiToken``),
so the secret finds its record in one read; an operator only knows the short
public *token id* (``tk_...``). This module answers questions by token id
from the ``ApiToken.Issued`` events in the application's log (one query
filtered by topic, the tokens loaded one by one: a CLI-sized job, not a
request-path one): ``tokens(app, staff_id)`` lists them oldest first,
``find(app, token_id)`` returns one or raises ``TokenNotFound``,
``revoke(app, token_id)`` records its revocation (revoking twice records
nothing new). A revoked token is refused at once by ``CaseTrail.authenticate``,
by open event streams (their recheck) and by console sessions (their per-request
check of the token record).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from domain.model.actor import Actor, CommandContext, event_meta
from domain.model.errors import TokenNotFound
from domain.model.staff import TOKEN_ID_PREFIX, ApiToken
from domain.model.topics import topics

PAGE = 500


def _issued(app: Any) -> Iterator[ApiToken]:
    after = 0
    wanted = topics(ApiToken.Issued)  # type: ignore[attr-defined]
    while True:
        page = app.recorder.select_notifications(start=after + 1, limit=PAGE, topics=wanted)
        for n in page:
            record = app.load(n.originator_id)
            if isinstance(record, ApiToken):
                yield record
        if len(page) < PAGE:
            return
        after = page[-1].id


def tokens(app: Any, staff_id: str | None = None) -> list[ApiToken]:
    """Every token (of ``staff_id``, who must exist), in the order they were issued."""
    if staff_id is not None:
        app.get_staff(staff_id)  # StaffNotFound for an unknown id
    return [t for t in _issued(app) if staff_id is None or t.staff_id == staff_id]


def find(app: Any, token_id: str) -> ApiToken:
    if isinstance(token_id, str) and token_id.startswith(TOKEN_ID_PREFIX) and len(token_id) <= 40:
        for record in _issued(app):
            if record.token_id == token_id:
                return record
    raise TokenNotFound(f"no token has the id {token_id[:60]!r} (see `casetrail token list`)")


def revoke(app: Any, token_id: str, actor: Actor = Actor.system("admin")) -> ApiToken:
    record = find(app, token_id)
    if not record.revoked:  # revoking twice records nothing new
        record.revoke(meta=event_meta(actor, app.clock(), CommandContext()), token_id=record.token_id)
        app.save(record)
    return record

"""Authentications this process made, reused while neither the token nor its staff member changed.

Every API request authenticates, and resolving a token loads two aggregates
(the token, then its staff member): two reads of the event store before the
request does anything. ``AuthCache`` keeps, per token hash, the actor the
token resolved to and the versions of the token and staff aggregates it was
resolved from. A later request asks ONE primary-key read whether either
aggregate has an event after that version (``domain.storage.heads``): a
revocation, a deactivation or a role change, by any process, is seen at
once, exactly as before; so is expiry, checked against the server clock.
Anything else resolves the token afresh (``CaseTrail.authenticate``).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.postgres import PostgresAggregateRecorder
from eventsourcing.sqlite import SQLiteAggregateRecorder

from domain.model.actor import Actor
from domain.storage.heads import select_heads

MAXSIZE = 10_000


@dataclass(frozen=True)
class _Resolved:
    actor: Actor
    token_id: UUID
    token_version: int
    staff_id: UUID
    staff_version: int
    expires_at: datetime | None


_PG_CHANGED = ("SELECT 1 FROM {schema}.{table} WHERE (originator_id = %s AND originator_version = %s) "
               "OR (originator_id = %s AND originator_version = %s) LIMIT 1")
_SQLITE_CHANGED = ("SELECT 1 FROM {table} WHERE (originator_id = ? AND originator_version = ?) "
                   "OR (originator_id = ? AND originator_version = ?) LIMIT 1")


def _changed(recorder: Any, kept: _Resolved) -> bool:
    """Whether the token or the staff member has an event after the versions ``kept`` was resolved from:
    one prepared primary-key statement (the library's recorders), else ``select_heads``."""
    after = (kept.token_id, kept.token_version + 1, kept.staff_id, kept.staff_version + 1)
    if isinstance(recorder, PostgresAggregateRecorder):
        statement = _PG_CHANGED.format(schema=f'"{recorder.datastore.schema}"',
                                       table=f'"{recorder.events_table_name}"')
        with recorder.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(statement, after, prepare=True)
            return curs.fetchone() is not None
    if isinstance(recorder, SQLiteAggregateRecorder):
        params = (after[0].hex, after[1], after[2].hex, after[3])
        with recorder.datastore.transaction(commit=False) as c:
            c.execute(_SQLITE_CHANGED.format(table=recorder.events_table_name), params)
            return c.fetchone() is not None
    return bool(select_heads(recorder, {after[0]: after[1], after[2]: after[3]}))


class AuthCache:
    def __init__(self, maxsize: int = MAXSIZE) -> None:
        self._kept: OrderedDict[str, _Resolved] = OrderedDict()
        self._lock = threading.Lock()
        self._maxsize = maxsize

    def get(self, hashed: str, recorder: Any, now: datetime) -> Actor | None:
        """The actor ``hashed`` resolved to, if nothing about it changed since (one read), else None."""
        with self._lock:
            kept = self._kept.get(hashed)
        if kept is None or (kept.expires_at is not None and kept.expires_at <= now):
            return None
        if _changed(recorder, kept):
            self.forget(hashed)
            return None
        with self._lock:
            if hashed in self._kept:
                self._kept.move_to_end(hashed)
        return kept.actor

    def put(self, hashed: str, actor: Actor, token: Any, staff: Any) -> None:
        """Remember what ``hashed`` resolved to: ``token`` (an ``ApiToken``) of ``staff``, as loaded."""
        expires = datetime.fromisoformat(token.expires_at) if token.expires_at else None
        resolved = _Resolved(actor, token.id, token.version, staff.id, staff.version, expires)
        with self._lock:
            self._kept[hashed] = resolved
            self._kept.move_to_end(hashed)
            while len(self._kept) > self._maxsize:
                self._kept.popitem(last=False)

    def forget(self, hashed: str | None = None) -> None:
        with self._lock:
            if hashed is None:
                self._kept.clear()
            else:
                self._kept.pop(hashed, None)

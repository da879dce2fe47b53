"""Idempotency records: a retried request returns its original response, within a retention window.

An ``Idempotency-Key`` is scoped to the caller. The record is an aggregate
whose id derives from (actor, key) and is saved in the same transaction as
the case events the request produced, so a retry either finds the record
(and gets the original result) or the original request never happened.
The request fingerprint detects the same key sent with a different body.

Records expire after a retention window (``CASETRAIL_IDEMPOTENCY_RETENTION``,
default ``7d``; ``never`` keeps the old rule, a key is good forever). Inside
the window nothing changes: the same key and request replay the answer, the
same key with another request is refused. After it, the key may be used
again: the new request's answer is recorded as a ``Renewed`` event on the
same record (the event log is append-only, so old records are not deleted:
they are ignored once their window has passed), which starts a new window.
It is saved with the command in one transaction, under the record's
optimistic version, so two reuses racing for an expired key cannot both win.
A window starts at ``recorded_at`` (the server clock when the answer was
recorded); records from before windows existed start at their creation time.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.model.actor import stable_id
from domain.model.durations import wall_span
from domain.model.topics import register_moved

DEFAULT_RETENTION = "7d"


def fingerprint(*parts: Any) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(repr(p).encode("utf-8", "surrogatepass"))
        h.update(b"\x00")
    return h.hexdigest()


def retention_of(text: str | None) -> timedelta | None:
    """The retention window written as ``30m``, ``12h``, ``7d`` (default ``7d``), or ``never`` (None)."""
    value = (text or "").strip() or DEFAULT_RETENTION
    try:
        return wall_span(value)
    except ValueError as e:
        raise ValueError(f"idempotency retention {e}") from None


class IdempotencyRecord(Aggregate):
    @staticmethod
    def create_id(actor_id: str, key: str) -> UUID:
        return stable_id("idempotency", f"{actor_id}\x00{key}")

    @event("Recorded")
    def __init__(self, actor_id: str, key: str, request: str, status: int, case_id: str, case_version: int,
                 meta: dict[str, Any], recorded_at: str | None = None) -> None:
        self.actor_id = actor_id
        self.key = key
        self.request = request
        self.status = status
        self.case_id = case_id
        self.case_version = case_version
        self.recorded_at = recorded_at  # None: recorded before windows existed (see ``started``)
        self.head_hash: str | None = None

    @event("Renewed")
    def renew(self, request: str, status: int, case_id: str, case_version: int, recorded_at: str,
              meta: dict[str, Any]) -> None:
        """The key used again after its window: this request's answer, and a new window from now."""
        self.request, self.status = request, status
        self.case_id, self.case_version = case_id, case_version
        self.recorded_at = recorded_at

    @property
    def started(self) -> datetime:
        return datetime.fromisoformat(self.recorded_at) if self.recorded_at else self.created_on

    def current(self, now: datetime, retention: timedelta | None) -> bool:
        """Whether the answer still binds the key at ``now`` (inside its retention window)."""
        return retention is None or now < self.started + retention


# Events stored before the domain became packages name this module by its old path.
register_moved(__name__)

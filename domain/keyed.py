"""A request's Idempotency-Key, read once per attempt: replay the recorded answer, or record this one.

Every command that takes an ``Idempotency-Key`` (opening a case, an action,
an import, a webhook subscription) goes through ``Keyed``:

- ``Keyed.load`` reads the key's record (``domain.model.idempotency``) once,
  before the command is decided;
- ``replayed`` says whether that record binds the key now (inside its
  retention window): then the command answers what the record says, and
  the same key with another request is refused (``IdempotencyMismatch``);
- ``records`` is what the command saves with its own events: a new record,
  or a ``Renewed`` window on the key's expired one.

The record is read once, not again at save time: a request with the same key
that committed in between makes this save fail on the record's version (a new
record's id is taken, a renewed one has moved on), so the command is decided
again, finds the record and replays it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from eventsourcing.application import AggregateNotFoundError

from domain.model.errors import IdempotencyMismatch
from domain.model.idempotency import IdempotencyRecord


class Loads(Protocol):
    def load(self, aggregate_id: Any) -> Any: ...


@dataclass(frozen=True)
class Keyed:
    """An Idempotency-Key ``(key, request fingerprint)`` of ``actor_id`` and its record as read."""

    actor_id: str
    key: str
    request: str
    record: IdempotencyRecord | None

    @classmethod
    def load(cls, app: Loads, actor_id: str, idempotency: tuple[str, str] | None) -> Keyed | None:
        """None without a key; else the key with its record (None when it has none yet)."""
        if idempotency is None:
            return None
        key, request = idempotency
        try:
            found = app.load(IdempotencyRecord.create_id(actor_id, key))
        except AggregateNotFoundError:
            found = None
        return cls(actor_id, key, request, found if isinstance(found, IdempotencyRecord) else None)

    def replayed(self, now: datetime, retention: timedelta | None) -> IdempotencyRecord | None:
        """The record whose answer this request gets, when the key is bound at ``now``; raises
        ``IdempotencyMismatch`` when it is bound to another request."""
        record = self.record
        if record is None or not record.current(now, retention):
            return None  # a new key, or one whose window has passed: the request is a new one
        if record.request != self.request:
            raise IdempotencyMismatch(f"Idempotency-Key {self.key!r} was used with a different request")
        return record

    def records(self, now: datetime, *, target_id: str, version: int, status: int,
                meta: dict[str, Any]) -> list[IdempotencyRecord]:
        """What the command saves with its events: the record of this answer (``target_id`` at
        ``version``, answered ``status``), or a new window on the key's expired record."""
        if self.record is None:
            return [IdempotencyRecord(actor_id=self.actor_id, key=self.key, request=self.request, status=status,
                                      case_id=target_id, case_version=version, meta=meta,
                                      recorded_at=now.isoformat())]
        self.record.renew(request=self.request, status=status, case_id=target_id, case_version=version,
                          recorded_at=now.isoformat(), meta=meta)
        return [self.record]

"""Idempotency records: a retried request returns its original response.

An ``Idempotency-Key`` is scoped to the caller. The record is an aggregate
whose id derives from (actor, key) and is saved in the same transaction as
the case events the request produced, so a retry either finds the record
(and gets the original result) or the original request never happened.
The request fingerprint detects the same key sent with a different body.
"""

from __future__ import annotations

import hashlib
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.model.actor import stable_id
from domain.model.topics import register_moved


def fingerprint(*parts: Any) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(repr(p).encode("utf-8", "surrogatepass"))
        h.update(b"\x00")
    return h.hexdigest()


class IdempotencyRecord(Aggregate):
    @staticmethod
    def create_id(actor_id: str, key: str) -> UUID:
        return stable_id("idempotency", f"{actor_id}\x00{key}")

    @event("Recorded")
    def __init__(self, actor_id: str, key: str, request: str, status: int, case_id: str, case_version: int,
                 meta: dict[str, Any]) -> None:
        self.actor_id = actor_id
        self.key = key
        self.request = request
        self.status = status
        self.case_id = case_id
        self.case_version = case_version
        self.head_hash: str | None = None


# Events stored before the domain became packages name this module by its old path.
register_moved(__name__)

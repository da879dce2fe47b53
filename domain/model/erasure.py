"""Erasure records: one aggregate per data subject, one ``Erased`` event per erasure.

Erasing a data subject (a customer, or a case without a customer) destroys the
key that sealed their personal values (``domain.storage.keys``); this aggregate
is the record that it happened: who, why, when (in ``meta``), the subject, the
destroyed key's id, and which cases held their data. It holds no personal data.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.model.actor import stable_id
from domain.model.copying import PlainCopy
from domain.model.errors import InvalidFields

MAX_REASON = 500
MAX_ID = 200


def check_erasure(customer_id: Any, reason: Any) -> None:
    """Refuse a customer id or reason that is empty or too long (422)."""
    errors = []
    if not isinstance(customer_id, str) or not customer_id.strip() or len(customer_id) > MAX_ID:
        errors.append({"field": "customer_id", "problem": f"must be a non-empty string of at most {MAX_ID} characters"})
    if not isinstance(reason, str) or not reason.strip() or len(reason) > MAX_REASON:
        errors.append({"field": "reason", "problem": f"must be a non-empty text of at most {MAX_REASON} characters"})
    if errors:
        raise InvalidFields("; ".join(f"{e['field']} {e['problem']}" for e in errors), errors=errors)


class Erasure(PlainCopy, Aggregate):
    """The erasures of one data subject (``customer:<id>`` or ``case:<uuid>``)."""

    @staticmethod
    def create_id(subject: str) -> UUID:
        return stable_id("erasure", subject)

    @event("Started")
    def __init__(self, subject: str, meta: dict[str, Any]) -> None:
        self.subject = subject
        self.head_hash: str | None = None
        self.erasures: list[dict[str, Any]] = []

    @event("Erased")
    def erased(self, subject: str, reason: str, key_id: str | None, cases: list[str], paths: list[str],
               meta: dict[str, Any]) -> None:
        """``paths``: the personal paths of those cases' types (read models blank them)."""
        self.erasures.append({"reason": reason, "key_id": key_id, "cases": list(cases), "paths": list(paths),
                              "at": meta["occurred_at"], "by": meta.get("actor")})

    def erased_key(self, key_id: str | None) -> bool:
        """Whether an erasure of ``key_id`` is recorded already."""
        return any(e["key_id"] == key_id for e in self.erasures)

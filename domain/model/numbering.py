"""Case numbers: ``TS-YYYYMM-NNNN``, a serial per type prefix restarting each month.

Each month's series is an aggregate whose version *is* the counter: opening
a case appends ``Allocated`` to the series in the same transaction as the
case, so optimistic concurrency makes every number unique without gaps
(a conflicting open retries with the next number).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from eventsourcing.domain import Aggregate, event

from domain.model.actor import stable_id
from domain.model.copying import PlainCopy
from domain.model.topics import register_moved


def series_key(prefix: str, at: datetime, timezone: str) -> str:
    local = at.astimezone(ZoneInfo(timezone))
    return f"{prefix}-{local:%Y%m}"


class NumberSeries(PlainCopy, Aggregate):
    """One month's serial for one case-type prefix."""

    @staticmethod
    def create_id(key: str) -> UUID:
        return stable_id("series", key)

    @event("Started")
    def __init__(self, key: str, meta: dict[str, Any]) -> None:
        self.key = key
        self.last = 0
        self.head_hash: str | None = None

    @event("Allocated")
    def _allocated(self, number: str, serial: int, meta: dict[str, Any]) -> None:
        self.last = serial

    def allocate(self, meta: dict[str, Any]) -> str:
        serial = self.last + 1
        number = f"{self.key}-{serial:04d}"
        self._allocated(number=number, serial=serial, meta=meta)
        return number

    def describe(self) -> dict[str, Any]:
        return {"key": self.key, "last": self.last}


# Events stored before the domain became packages name this module by its old path.
register_moved(__name__)

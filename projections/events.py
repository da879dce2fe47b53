"""Events as the read models see them: decoded notifications with canonical times.

``decode`` turns one notification of the application's log into an
``Event`` with the library's mapper (msgpack, hash chain, upcasting), or
``None`` for the bookkeeping aggregates no read model looks at (number
series, idempotency records). Times in read models are canonical UTC text
(``2026-11-16T02:00:00.000000Z``): fixed width, so text order is time order
on both back ends, and ``datetime.fromisoformat`` reads it back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from eventsourcing.persistence import Mapper, Notification
from eventsourcing.utils import get_topic

from domain.model import moments
from domain.model import topics as topic_names
from domain.storage.chain import ChainedMapper

# bookkeeping aggregates no read model shows (under their module paths before and after the move)
SKIPPED_TOPICS = tuple(f"{name}:" for module in ("domain.model.numbering", "domain.model.idempotency",
                                                  "domain.model.uniqueness", "domain.model.schedules")
                       for name in topic_names.module_names(module))


def canon(value: str | datetime | None) -> str | None:
    """A time as canonical UTC text (``None`` stays ``None``); naive means UTC."""
    if value is None:
        return None
    if isinstance(value, str):
        return _canon_text(value)
    moment = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="microseconds")[:-6] + "Z"


@lru_cache(maxsize=8192)
def _canon_text(value: str) -> str:
    # An event's times repeat (occurred-at, clock changes): remember recent ones.
    return canon(datetime.fromisoformat(value))  # type: ignore[return-value]


def parse_time(value: str | datetime | date, zone: ZoneInfo | None = None) -> datetime:
    """A datetime from an ISO text, a datetime or a date (midnight in ``zone``); ValueError otherwise."""
    return moments.parse_time(value, zone, dates=True)


def seconds_between(start: str, end: str) -> float:
    """Seconds from one canonical time to another (rounded to milliseconds)."""
    delta = datetime.fromisoformat(end) - datetime.fromisoformat(start)
    return round(delta.total_seconds(), 3)


def local_day(at: str, zone: ZoneInfo) -> str:
    """The calendar day (``YYYY-MM-DD``) of a canonical time in ``zone``."""
    return datetime.fromisoformat(at).astimezone(zone).date().isoformat()


@dataclass(slots=True)
class Event:
    """One stored event: position, type (``Case.ActionTaken``), aggregate, data."""

    position: int
    type: str
    aggregate_id: str
    version: int
    data: dict[str, Any]
    at: str  # canonical occurred-at (the importer's original time if imported)
    actor: str | None

    @property
    def meta(self) -> dict[str, Any]:
        return self.data.get("meta") or {}

    @property
    def staff_actor(self) -> str | None:
        """The acting staff member's id, or None for system processes."""
        actor = self.actor
        return actor if actor and not actor.startswith("system:") else None

    @property
    def recorded_at(self) -> str | None:
        """When the library recorded the event (its ``timestamp``), canonical."""
        timestamp = self.data.get("timestamp")
        return canon(timestamp) if isinstance(timestamp, datetime) else None


def event_type(topic: str) -> str:
    """``domain.model.case:Case.ActionTaken`` -> ``Case.ActionTaken``."""
    return topic.rsplit(":", 1)[-1]


def plain_state(mapper: Mapper[Any], state: bytes) -> bytes:
    """Decrypted and decompressed (``ChainedMapper.plain_state``, or as the library's Mapper does)."""
    if isinstance(mapper, ChainedMapper):
        return mapper.plain_state(state)
    return ChainedMapper.plain_state(mapper, state)  # type: ignore[arg-type]


def decode(mapper: Mapper[Any], notification: Notification) -> Event | None:
    """The event of one notification (None for bookkeeping aggregates).

    Read models need the event's data, not a domain-event object: the stored
    state is decrypted, decompressed and decoded as the library's ``Mapper``
    does, and only an event whose class has been versioned (``class_version``,
    needing upcasting) goes through ``Mapper.to_domain_event`` itself. Sealed
    personal values are opened (or read ``"[erased]"``). The hash
    chain is checked by ``audit verify``, not here."""
    topic = notification.topic
    if topic.startswith(SKIPPED_TOPICS):
        return None
    plain = plain_state(mapper, notification.state)
    data = mapper.transcoder.decode(plain)
    if "class_version" in data:
        data = Mapper.to_domain_event(mapper, notification).__dict__
    if isinstance(mapper, ChainedMapper):  # personal values opened, or "[erased]" (domain.storage.sealing)
        data = mapper.unsealed(data, notification.originator_id, plain)
    data["originator_id"] = notification.originator_id
    data["originator_version"] = notification.originator_version
    return _event(data, notification.id, event_type(topic))


def from_domain_event(domain_event: Any, position: int, topic: str | None = None) -> Event:
    return _event(domain_event.__dict__, position, event_type(topic or get_topic(type(domain_event))))


def _event(data: dict[str, Any], position: int, kind: str) -> Event:
    meta = data.get("meta") or {}
    occurred = meta.get("occurred_at")
    timestamp = data.get("timestamp")
    at = canon(occurred) if occurred else (canon(timestamp) if isinstance(timestamp, datetime) else "")
    return Event(position=position, type=kind, aggregate_id=str(data["originator_id"]),
                 version=data["originator_version"], data=data, at=at or "", actor=meta.get("actor"))

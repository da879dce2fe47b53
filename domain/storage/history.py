"""A case's history as stored: every event with its metadata and hashes.

Read straight from the stored events (not a read model), so what a reviewer
sees is exactly what is chained: version, event type, occurred-at (server
clock, or an importer's original time), recorded-at (the library's commit
timestamp), actor, roles, data, ``imported``, ``prev_hash`` and ``hash``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Mapper, StoredEvent

from domain.storage.chain import record_hash

HIDDEN = {"originator_id", "originator_version", "timestamp", "meta", "prev_hash", "stored_hash", "originator_topic"}


def event_type(topic: str) -> str:
    """``domain.model.case:Case.ActionTaken`` -> ``ActionTaken``."""
    return topic.rsplit(".", 1)[-1].rsplit(":", 1)[-1]


def jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def history_entry(mapper: Mapper[UUID], stored: StoredEvent) -> dict[str, Any]:
    event = mapper.to_domain_event(stored)
    state = event.__dict__
    meta = state.get("meta") or {}
    timestamp = state.get("timestamp")
    return {
        "version": stored.originator_version,
        "type": event_type(stored.topic),
        "occurred_at": meta.get("occurred_at") or (timestamp.isoformat() if timestamp else None),
        "recorded_at": timestamp.isoformat() if isinstance(timestamp, datetime) else None,
        "actor": meta.get("actor"),
        "roles": list(meta.get("roles") or []),
        "data": jsonable({k: v for k, v in state.items() if k not in HIDDEN}),
        "imported": bool(meta.get("imported", False)),
        **({"original_actor": meta["original_actor"]} if meta.get("original_actor") else {}),
        "correlation_id": meta.get("correlation_id") or None,
        "causation_id": meta.get("causation_id") or None,
        "prev_hash": state.get("prev_hash"),
        "hash": record_hash(stored.topic, stored.state),
    }


def feed_entry(mapper: Mapper[UUID], notification: Any) -> dict[str, Any]:
    """A notification as the event feed (``GET /v1/events``) and webhooks show it: the history
    entry plus its ``position``, ``aggregate_id`` and ``case_id``."""
    entry = history_entry(mapper, notification)
    entry.update(position=notification.id, aggregate_id=str(notification.originator_id),
                 case_id=str(notification.originator_id))
    return entry


def case_history(mapper: Mapper[UUID], stored_events: Iterable[StoredEvent]) -> list[dict[str, Any]]:
    return [history_entry(mapper, s) for s in stored_events]

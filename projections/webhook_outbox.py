"""The webhook outbox: a projection writing one delivery row per (subscription, matching event).

``WebhookOutbox`` (read model ``webhooks``) reads the log in order, like the
other projections, and keeps two tables: the subscriptions as the log says at
each position (``Subscription.Subscribed`` adds one, ``Unsubscribed`` ends it
and cancels its pending deliveries) and the deliveries. A case event whose
type (``Opened``, ``ActionTaken``, ...) a live subscription asked for becomes a
``pending`` delivery with a stable id (``delivery_id``: subscription and
position), committed in the same transaction as the outbox's tracking position,
so a crash never loses or doubles one. A subscription only sees the events
recorded after its own ``Subscribed`` event. The row holds no personal data: the
document is read from the event store when it is sent (``webhook_dispatch``), so
an erasure in between is honoured.

The outbox is never rebuilt (``rebuilt = False``; ``projections rebuild`` leaves
it out): replaying the log into new tables would send every old event again.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, ClassVar

from domain.model.actor import stable_id
from projections.base import Batch, ReadModel
from projections.events import Event
from projections.views import Store, Table

NAME = "webhooks"
TARGETS = Table("webhook_targets", "subscription_id {KEY} PRIMARY KEY, url TEXT NOT NULL, events TEXT NOT NULL, "
                "since_position {INT} NOT NULL, active {INT} NOT NULL")
DELIVERIES = Table(
    "webhook_deliveries",
    "delivery_id {KEY} PRIMARY KEY, subscription_id {KEY} NOT NULL, position {INT} NOT NULL, case_id {KEY} NOT NULL, "
    "event_type {KEY} NOT NULL, status {KEY} NOT NULL, rounds {INT} NOT NULL, next_at {INT} NOT NULL, "
    "last_error TEXT, delivered_at {TS}",
    indexes=(("pending", "subscription_id, status, position"), ("position", "subscription_id, position"),
             ("due", "next_at WHERE status = 'pending'")))
DELIVERY_COLUMNS = ("delivery_id", "subscription_id", "position", "case_id", "event_type", "status", "rounds",
                    "next_at", "last_error", "delivered_at")
PENDING, DELIVERED, CANCELLED = "pending", "delivered", "cancelled"


def delivery_id(subscription: str, position: int) -> str:
    """The delivery's id: the same for every attempt and every process."""
    return str(stable_id("webhook-delivery", f"{subscription}:{position}"))


class OutboxBatch(Batch):
    def __init__(self, model: WebhookOutbox, events: Sequence[Event]) -> None:
        self.view = model.view
        table = self.view.tables["webhook_targets"]
        self.targets = {r["subscription_id"]: {"url": r["url"], "events": set(json.loads(r["events"])),
                                               "since": r["since_position"], "active": bool(r["active"])}
                        for r in self.view.read(f"SELECT * FROM {table} WHERE active = 1")}
        self.changed: set[str] = set()
        self.cancelled: list[str] = []
        self.deliveries: list[tuple[Any, ...]] = []
        for event in events:
            self.apply(event)

    def apply(self, event: Event) -> None:
        kind, _, name = event.type.partition(".")
        if kind == "Subscription":
            sid = event.aggregate_id
            if name == "Subscribed":
                self.targets[sid] = {"url": event.data["url"], "events": set(event.data["events"]),
                                     "since": event.position, "active": True}
                self.changed.add(sid)
            elif name == "Unsubscribed" and sid in self.targets:
                self.targets[sid]["active"] = False
                self.changed.add(sid)
                self.cancelled.append(sid)
            return
        for sid, target in self.targets.items():
            if target["active"] and name in target["events"]:
                self.deliveries.append((delivery_id(sid, event.position), sid, event.position, event.aggregate_id,
                                        name, PENDING, 0, 0, None, None))

    def write(self, cursor: Any) -> None:
        view = self.view
        targets = view.tables["webhook_targets"]
        rows = [(sid, t["url"], json.dumps(sorted(t["events"])), t["since"], int(t["active"]))
                for sid, t in self.targets.items() if sid in self.changed]
        view.upsert_rows(cursor, targets, ("subscription_id", "url", "events", "since_position", "active"), rows,
                         "ON CONFLICT (subscription_id) DO UPDATE SET active = excluded.active")
        view.insert_rows(cursor, view.tables["webhook_deliveries"], DELIVERY_COLUMNS, self.deliveries)
        for sid in self.cancelled:
            cursor.execute(view.dialect.sql(f"UPDATE {view.tables['webhook_deliveries']} SET status = ? "
                                            "WHERE subscription_id = ? AND status = ?"), (CANCELLED, sid, PENDING))


class WebhookOutbox(ReadModel):
    name = NAME
    tables = (TARGETS, DELIVERIES)
    prefixes = ("Case.", "Subscription.")
    rebuilt: ClassVar[bool] = False  # projections rebuild leaves it alone (it would send old events again)

    def batch(self, events: Sequence[Event]) -> Batch:
        return OutboxBatch(self, events)


def outbox_tables(store: Store) -> dict[str, str]:
    """The names of the outbox's tables at its active version (created if missing: an API
    started before any worker reads empty tables); remembered per store (never rebuilt)."""
    known = getattr(store, "_webhook_outbox_tables", None)
    if known is None:
        version = store.claim_initial(NAME)
        store.view(NAME, version, WebhookOutbox.tables)
        known = {t.key: t.name(version) for t in WebhookOutbox.tables}
        store._webhook_outbox_tables = known  # type: ignore[attr-defined]
    return known


def deliveries(store: Store, subscription: str, *, limit: int, before: int | None = None) -> list[dict[str, Any]]:
    """A subscription's deliveries, newest first (positions below ``before``)."""
    table = outbox_tables(store)["webhook_deliveries"]
    where, params = "subscription_id = ?", [subscription]
    if before is not None:
        where += " AND position < ?"
        params.append(before)
    return store.read(f"SELECT {', '.join(DELIVERY_COLUMNS)} FROM {table} WHERE {where} "
                      "ORDER BY position DESC LIMIT ?", [*params, limit])

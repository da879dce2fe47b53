"""The ``audit_history`` read model: one row per recorded event, for the global audit log.

Every event of a case, a staff member, an API token or a webhook subscription (not the bookkeeping
of number series and idempotency records) becomes a row: position
(notification id), aggregate id and kind (case / staff / token), case id
and number (cases only), version, event type, actor and roles at that
moment, occurred-at (the importer's original time when imported), a
human-readable one-line ``summary`` and ``changes`` (JSON: ``path -> [old,
new]`` for actions and linked outcomes; the initial values for an opening;
the event's data otherwise; token hashes are left out).

Queries filter by actor, case and time range, in time order
``(occurred_at, position)``, keyset-paginated. The authoritative, hash-chained
record stays the event store (``GET /v1/cases/{id}/history``); this is its index.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from domain.storage.history import jsonable
from domain.storage.keys import scrub_sqlite_wal
from domain.storage.sealing import ERASED
from projections.base import Batch, ReadModel, chunks, placeholders
from projections.case_state import decode_cursor, encode_cursor, filter_clauses
from projections.events import Event
from projections.views import Table

EVENTS = Table(
    "audit_events",
    "position {INT} PRIMARY KEY, aggregate_id {KEY} NOT NULL, kind {KEY} NOT NULL, case_id {KEY}, "
    "case_number {KEY}, version {INT} NOT NULL, event_type {KEY} NOT NULL, actor {KEY}, roles TEXT NOT NULL, "
    "occurred_at {TS} NOT NULL, imported {INT} NOT NULL, summary TEXT NOT NULL, changes TEXT NOT NULL",
    indexes=(
        ("time", "occurred_at, position"),
        ("actor", "actor, occurred_at, position"),
        ("case", "case_id, occurred_at, position"),
    ),
)
NUMBERS = Table("audit_case_numbers", "case_id {KEY} PRIMARY KEY, number {KEY} NOT NULL")
COLUMNS = ("position", "aggregate_id", "kind", "case_id", "case_number", "version", "event_type", "actor",
           "roles", "occurred_at", "imported", "summary", "changes")
KINDS = {"Case": "case", "Staff": "staff", "ApiToken": "token", "Erasure": "erasure", "Subscription": "webhook"}
HIDDEN = {"originator_id", "originator_version", "timestamp", "meta", "prev_hash", "stored_hash",
          "originator_topic", "token_hash"}
CACHE_SIZE = 20_000


def _json_default(value: Any) -> Any:
    return jsonable(value) if isinstance(value, (datetime, UUID)) else str(value)


_ROLES: dict[tuple[Any, ...], str] = {}  # the few role lists there are, as their JSON text


def _roles_text(roles: Any) -> str:
    key = tuple(roles or ())
    text = _ROLES.get(key)
    if text is None:
        text = json.dumps(list(key), ensure_ascii=False)
        if len(_ROLES) < 1000:
            _ROLES[key] = text
    return text


def _arrow(change: Sequence[Any]) -> str:
    old, new = change
    return f"{'∅' if old is None else old} → {'∅' if new is None else new}"


def summarize(e: Event, number: str | None) -> tuple[str, Any]:
    """The one-line summary and the changes of an event."""
    d, who, kind = e.data, e.actor or "?", e.type.split(".", 1)[0]
    subject = number or e.aggregate_id
    if e.type == "Case.Opened":
        changes = {"status": [None, d["status"]], "title": [None, d["title"]],
                   **{f"customer.{k}": [None, v] for k, v in (d.get("customer") or {}).items()},
                   **{f"fields.{k}": [None, v] for k, v in (d.get("fields") or {}).items()}}
        origin = next((link["number"] for link in d.get("links") or () if link.get("rel") == "origin"), None)
        text = f"{who} opened {d['case_type']} {subject} “{d['title']}” ({d['status']})"
        return text + (f", follow-up of {origin}" if origin else ""), changes
    if e.type == "Case.ActionTaken":
        changes = d.get("changes") or {}
        moved = f" ({d['from_state']} → {d['to_state']})" if d["from_state"] != d["to_state"] else ""
        shown = [f"{p} {_arrow(c)}" for p, c in changes.items() if p != "status"][:3]
        return f"{who}: {d['action']} on {subject}{moved}" + (f"; {', '.join(shown)}" if shown else ""), changes
    if e.type == "Case.DeadlineBreached":
        return f"{subject}: {d['clock']} deadline {d['due_at']} breached (recorded by {who})", \
            {"clock": d["clock"], "due_at": d["due_at"]}
    if e.type == "Case.Escalated":
        return f"{subject} escalated to {d['to_role']}: {d['reason']}", \
            {"to_role": d["to_role"], "reason": d["reason"], "clock": d.get("clock")}
    if e.type == "Case.LinkAdded":
        return f"{subject}: linked {d['rel']} {d['number']}", {"rel": d["rel"], "case_id": d["case_id"]}
    if e.type == "Case.LinkedOutcomeRecorded":
        return f"{subject}: {d['rel']} outcome {d['outcome']}", d.get("changes") or {}
    data = {k: v for k, v in d.items() if k not in HIDDEN}
    if e.type == "Staff.Registered":
        return f"{who} registered staff {d['staff_id']} ({d['department']}; roles {', '.join(d['roles'])})", data
    if e.type == "Staff.Updated":
        return f"{who} updated staff {d['name']} ({d['department']}; roles {', '.join(d['roles'])})", data
    if e.type == "Erasure.Erased":
        return f"{who} erased the personal data of {d['subject']} ({len(d['cases'])} cases): {d['reason']}", data
    if e.type == "Subscription.Subscribed":
        return f"{who} subscribed a webhook to {', '.join(d['events'])}", data
    if e.type in ("Subscription.Unsubscribed", "Subscription.Reenabled"):
        return f"{who} {e.type.split('.', 1)[1].lower()} webhook {e.aggregate_id}", data
    if e.type == "ApiToken.Issued":
        named = f" {d['token_id']}" if d.get("token_id") else ""  # the public id (tokens issued since it exists)
        return f"{who} issued a token{named} for staff {d['staff_id']}" + \
            (f" (expires {d['expires_at']})" if d.get("expires_at") else ""), data
    if e.type == "ApiToken.Revoked" and d.get("token_id"):
        return f"{who} revoked the token {d['token_id']}", data
    return f"{who}: {kind} {e.type.split('.', 1)[-1]}", data


class AuditBatch(Batch):
    def __init__(self, model: AuditHistory, events: Sequence[Event]) -> None:
        self.model = model
        self.rows: list[tuple[Any, ...]] = []
        self.numbers: list[tuple[str, str]] = []
        self.erasures: list[tuple[list[str], set[str]]] = []  # (case ids, personal paths) to blank
        cache = model.numbers
        opened = {e.aggregate_id: e.data["number"] for e in events if e.type == "Case.Opened"}
        wanted = sorted({e.aggregate_id for e in events if e.type.startswith("Case.")} - set(cache) - set(opened))
        table = model.view.tables["audit_case_numbers"]
        for ids in chunks(wanted):
            for r in model.view.read(f"SELECT case_id, number FROM {table} WHERE case_id IN "
                                     f"({placeholders(len(ids))})", ids):
                model.remember(r["case_id"], r["number"])
        for case_id, number in opened.items():
            self.numbers.append((case_id, number))
            model.remember(case_id, number)
        for e in events:
            self.apply(e)

    def apply(self, e: Event) -> None:
        kind = KINDS.get(e.type.split(".", 1)[0], "other")
        case_id = e.aggregate_id if kind == "case" else None
        number = self.model.numbers.get(case_id) if case_id else None
        summary, changes = summarize(e, number)
        if e.type == "Erasure.Erased":
            self.erasures.append((list(e.data.get("cases") or ()), set(e.data.get("paths") or ())))
        meta = e.meta
        self.rows.append((
            e.position, e.aggregate_id, kind, case_id, number, e.version, e.type, e.actor,
            _roles_text(meta.get("roles")), e.at, int(bool(meta.get("imported"))),
            summary[:500], json.dumps(changes, ensure_ascii=False, separators=(",", ":"), default=_json_default),
        ))

    def write(self, cursor: Any) -> None:
        view = self.model.view
        view.insert_rows(cursor, view.tables["audit_case_numbers"], ("case_id", "number"), self.numbers)
        view.insert_rows(cursor, view.tables["audit_events"], COLUMNS, self.rows)
        for cases, paths in self.erasures:
            blank_rows(cursor, view, cases, paths)


def blank_rows(cursor: Any, view: Any, cases: Sequence[str], paths: set[str]) -> None:
    """Blank the personal values (``paths``) of the rows of erased ``cases``: in ``changes``,
    and wherever the summary quotes them."""
    table = view.tables["audit_events"]
    for ids in chunks(list(cases)):
        cursor.execute(view.dialect.sql(f"SELECT position, summary, changes FROM {table} WHERE case_id IN "
                                        f"({placeholders(len(ids))})"), tuple(ids))
        updates = []
        for row in cursor.fetchall():
            changes, summary = json.loads(row["changes"]), row["summary"]
            values: set[str] = set()
            for path, change in changes.items():
                if path in paths and isinstance(change, list):
                    values |= {str(v) for v in change if v is not None and v != ERASED}
                    changes[path] = [None if v is None else ERASED for v in change]
            for value in sorted(values, key=len, reverse=True):
                summary = summary.replace(value, ERASED)
            if values:
                updates.append((summary, json.dumps(changes, ensure_ascii=False, separators=(",", ":")),
                                row["position"]))
        for update in updates:
            cursor.execute(view.dialect.sql(f"UPDATE {table} SET summary = ?, changes = ? WHERE position = ?"), update)


class AuditHistory(ReadModel):
    name = "audit_history"
    tables = (EVENTS, NUMBERS)
    prefixes = ("Case.", "Staff.", "ApiToken.", "Erasure.", "Subscription.")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.numbers: dict[str, str] = {}

    def remember(self, case_id: str, number: str) -> None:
        if len(self.numbers) >= CACHE_SIZE:
            self.numbers.clear()  # bounded memory; numbers are re-read as needed
        self.numbers[case_id] = number

    def batch(self, events: Sequence[Event]) -> Batch:
        return AuditBatch(self, events)

    def process(self, events: Sequence[Event], last: int) -> None:
        batch = self.prepare(events)
        self.view.commit(batch.write, last, after=self.position)
        self.position = last
        if isinstance(batch, AuditBatch) and batch.erasures:
            scrub_sqlite_wal(self.view.datastore)  # the blanked rows' old page images (SQLite)


def audit_events(view_read: Any, table: str, *, actor: str | None = None, case_id: str | None = None,
                 time_from: str | None = None, time_to: str | None = None, limit: int = 50,
                 cursor: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
    """One page of audit rows in time order (times already canonical)."""
    where, params = filter_clauses((("actor", actor), ("case_id", case_id)), "occurred_at", time_from, time_to)
    if cursor:
        key = decode_cursor(cursor, "audit", 2)
        if not isinstance(key[1], int):
            raise ValueError("invalid cursor: pass back the next_cursor of the previous page of the same query")
        where.append("(occurred_at, position) > (?, ?)")
        params += key
    sql = (f"SELECT {', '.join(COLUMNS)} FROM {table}" + (f" WHERE {' AND '.join(where)}" if where else "")
           + " ORDER BY occurred_at, position LIMIT ?")
    rows = view_read(sql, [*params, limit + 1])
    more = len(rows) > limit
    items = []
    for r in rows[:limit]:
        items.append(dict(r, roles=json.loads(r["roles"]), imported=bool(r["imported"]),
                          changes=json.loads(r["changes"])))
    last = items[-1] if items else None
    next_cursor = encode_cursor("audit", [last["occurred_at"], last["position"]]) if more and last else None
    return items, next_cursor

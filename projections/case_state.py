"""The ``case_state`` read model: one row per case, for filtered lists and the SLA monitor.

Columns: id, number, type, status, title, assignee, department, customer
id and tier, opened_at / updated_at (the events' occurred-at), version,
closed (status is one of the type's closed states), the clocks (JSON:
name -> [state, due_at, breached]), ``next_due_at`` (earliest due time of a
running clock; NULL for closed cases) and ``sla_due_at`` (earliest due
time of a running clock whose breach is not recorded yet: what the SLA
monitor looks for, exactly the domain's ``overdue_clocks`` rule). A case is
*overdue* at query time when ``next_due_at < now``. ``case_escalated``
holds (case id, staff id) for every escalation that reached a person
(``?escalated_to=`` lists the open ones; cases escalated before that table
existed appear after ``projections rebuild case_state``).

Lists are keyset-paginated: newest first ``(opened_at DESC, id DESC)``, or,
for ``overdue=true``, most overdue first ``(next_due_at, id)``; the cursor
is opaque base64 of the last row's sort key. Indexes cover status+assignee,
type+status, assignee+due, due, customer, department and opened_at.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from domain.model.clocks import RUNNING, apply_clock_change
from projections.base import Batch, ReadModel, chunks, placeholders
from projections.events import Event, canon
from projections.views import Table

COLUMNS = ("id", "number", "type", "status", "title", "assignee", "department", "customer_id",
           "customer_tier", "opened_at", "updated_at", "next_due_at", "sla_due_at", "version", "closed", "clocks")
ITEM_COLUMNS = ("id", "number", "type", "status", "title", "assignee", "department", "customer_id",
                "opened_at", "updated_at", "next_due_at", "version")

CASES = Table(
    "case_state",
    "id {KEY} PRIMARY KEY, number {KEY} NOT NULL, type {KEY} NOT NULL, status {KEY} NOT NULL, "
    "title TEXT NOT NULL, assignee {KEY}, department {KEY}, customer_id {KEY}, customer_tier {KEY}, "
    "opened_at {TS} NOT NULL, updated_at {TS} NOT NULL, next_due_at {TS}, sla_due_at {TS}, "
    "version {INT} NOT NULL, closed {INT} NOT NULL, clocks TEXT NOT NULL",
    indexes=(
        ("status_assignee", "status, assignee, opened_at, id"),
        ("type_status", "type, status, opened_at, id"),
        ("assignee_due", "assignee, next_due_at, id"),
        ("due", "next_due_at, id WHERE next_due_at IS NOT NULL"),
        ("sla_due", "sla_due_at, id WHERE sla_due_at IS NOT NULL"),
        ("customer", "customer_id, opened_at, id"),
        ("department", "department, opened_at, id"),
        ("opened", "opened_at, id"),
        ("updated", "updated_at, id"),
    ),
)


# (case, keyed hash of the customer's normalised phone): ``?phone=`` without storing the number (issue 21);
# rows are deleted when the customer is erased. Cases opened before this table existed need a rebuild.
PHONES = Table("case_phone", "case_id {KEY} PRIMARY KEY, phone_hash {KEY} NOT NULL",
               indexes=(("hash", "phone_hash, case_id"),))

ESCALATED = Table("case_escalated", "case_id {KEY} NOT NULL, staff_id {KEY} NOT NULL, "
                                    "PRIMARY KEY (case_id, staff_id)", indexes=(("staff", "staff_id, case_id"),))


def apply_clock(clocks: dict[str, list[Any]], change: dict[str, Any]) -> None:
    """Apply one recorded clock change by the domain's own rule (``apply_clock_change``);
    the row keeps ``[state, due_at, breached]`` of each clock."""
    name = change["name"]
    if change["op"] != "start" and name not in clocks:
        return  # a change to a clock this row never saw start (cannot happen with a complete log)
    full = {name: _domain_clock(name, clocks[name])} if name in clocks else {}
    apply_clock_change(full, change)
    clock = full[name]
    clocks[name] = [clock["state"], canon(clock["due_at"]), 1 if clock["breached"] else 0]


def _domain_clock(name: str, row: list[Any]) -> dict[str, Any]:
    state, due_at, breached = row
    return {"name": name, "state": state, "due_at": due_at, "breached": bool(breached), "paused_at": None,
            "stopped_at": None, "started_at": None, "duration": None, "policy_version": None, "escalate_to": None}


class CaseStateBatch(Batch):
    def __init__(self, model: CaseState, events: Sequence[Event]) -> None:
        self.model = model
        self.rows: dict[str, dict[str, Any]] = {}
        self.dirty: set[str] = set()
        self.escalated: set[tuple[str, str]] = set()
        self.phones: dict[str, str | None] = {}  # case id -> phone hash (None: delete the row)
        opened = {e.aggregate_id for e in events if e.type == "Case.Opened"}
        missing = sorted({e.aggregate_id for e in events if e.type.startswith("Case.")} - opened)
        table = model.view.tables["case_state"]
        for ids in chunks(missing):
            for row in model.view.read(f"SELECT * FROM {table} WHERE id IN ({placeholders(len(ids))})", ids):
                row["clocks"] = json.loads(row["clocks"])
                self.rows[row["id"]] = row
        for e in events:
            self.apply(e)

    def apply(self, e: Event) -> None:
        d = e.data
        if e.type == "Erasure.Erased":
            self.phones.update({case_id: None for case_id in d.get("cases") or ()})
            return
        version = (d.get("meta") or {}).get("case_type_version")
        if version is not None or e.type == "Case.Opened":
            kind = d["case_type"] if e.type == "Case.Opened" else (self.rows.get(e.aggregate_id) or {}).get("type")
            if kind is not None:
                self.model.context.check_version(kind, version)
        if e.type == "Case.Opened":
            customer = d.get("customer") or {}
            row = self.rows[e.aggregate_id] = {
                "id": e.aggregate_id, "number": d["number"], "type": d["case_type"], "status": d["status"],
                "title": d["title"], "assignee": None, "department": d.get("department"),
                "customer_id": customer.get("id"), "customer_tier": customer.get("tier"),
                "opened_at": e.at, "clocks": {},
            }
            self._phone(e.aggregate_id, customer.get("phone"))
        else:
            found = self.rows.get(e.aggregate_id)
            if found is None:
                return  # not a case this read model knows (cannot happen with a complete log)
            row = found
        for path, (_old, new) in (d.get("changes") or {}).items():
            if path in ("status", "assignee", "department", "title"):
                row[path] = new
            elif path in ("customer.id", "customer.tier"):
                row["customer_" + path.split(".", 1)[1]] = new
            elif path == "customer.phone":
                self._phone(e.aggregate_id, new)
        if e.type == "Case.ActionTaken":
            row["status"] = d["to_state"]
        if e.type == "Case.DeadlineBreached":
            apply_clock(row["clocks"], {"op": "breach", "name": d["clock"]})
        if e.type == "Case.Escalated" and d.get("to_staff"):
            self.escalated.add((e.aggregate_id, d["to_staff"]))
        for change in d.get("clock_changes") or ():
            apply_clock(row["clocks"], change)
        row["version"] = e.version
        row["updated_at"] = e.at
        self.dirty.add(e.aggregate_id)

    def _phone(self, case_id: str, phone: Any) -> None:
        hashed = self.model.context.phone_hash
        self.phones[case_id] = hashed(phone) if hashed is not None else None

    def finish(self, row: dict[str, Any]) -> tuple[Any, ...]:
        closed = row["status"] in self.model.context.closed_states(row["type"])
        running = [c for c in row["clocks"].values() if c[0] == RUNNING]
        row["closed"] = int(closed)
        row["next_due_at"] = None if closed or not running else min(c[1] for c in running)
        unrecorded = [c[1] for c in running if not c[2]]
        row["sla_due_at"] = min(unrecorded) if unrecorded else None
        values = dict(row, clocks=json.dumps(row["clocks"], sort_keys=True, separators=(",", ":")))
        return tuple(values[c] for c in COLUMNS)

    def write(self, cursor: Any) -> None:
        table = self.model.view.tables["case_state"]
        sets = ", ".join(f"{c} = excluded.{c}" for c in COLUMNS[1:])
        self.model.view.upsert_rows(cursor, table, COLUMNS, [self.finish(self.rows[i]) for i in sorted(self.dirty)],
                                    f"ON CONFLICT (id) DO UPDATE SET {sets}")
        self.model.view.upsert_rows(cursor, self.model.view.tables["case_escalated"], ("case_id", "staff_id"),
                                    sorted(self.escalated), "ON CONFLICT (case_id, staff_id) DO NOTHING")
        phones = self.model.view.tables["case_phone"]
        gone = [(i,) for i, h in sorted(self.phones.items()) if h is None]
        if gone:
            self.model.view.executemany(cursor, f"DELETE FROM {phones} WHERE case_id = ?", gone)
        self.model.view.upsert_rows(cursor, phones, ("case_id", "phone_hash"),
                                    [(i, h) for i, h in sorted(self.phones.items()) if h is not None],
                                    "ON CONFLICT (case_id) DO UPDATE SET phone_hash = excluded.phone_hash")


class CaseState(ReadModel):
    name = "case_state"
    tables = (CASES, ESCALATED, PHONES)
    prefixes = ("Case.", "Erasure.")

    def batch(self, events: Sequence[Event]) -> Batch:
        return CaseStateBatch(self, events)


# ------------------------------------------------------------------- queries
def encode_cursor(order: str, key: Sequence[Any]) -> str:
    raw = json.dumps({"o": order, "k": list(key)}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, order: str, size: int) -> list[Any]:
    """The sort key in ``cursor``; ValueError when it is not one of ours for this ordering."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")).decode())
        key = data["k"]
        ok = data["o"] == order and isinstance(key, list) and len(key) == size
    except (ValueError, KeyError, TypeError, UnicodeError, binascii.Error):
        ok = False
    if not ok:
        raise ValueError("invalid cursor: pass back the next_cursor of the previous page of the same query")
    if not all(_cursor_value(k) for k in key):
        raise ValueError("invalid cursor: pass back the next_cursor of the previous page of the same query")
    return key


def _cursor_value(value: Any) -> bool:
    """A value our cursors hold (and both databases bind): a 64-bit integer or ASCII text without NUL."""
    if isinstance(value, int) and not isinstance(value, bool):
        return -(2**63) <= value < 2**63
    return isinstance(value, str) and "\x00" not in value and value.isascii()


def filter_clauses(equal: Any, range_column: str, low: Any, high: Any) -> tuple[list[str], list[Any]]:
    """WHERE clauses and parameters for ``column = value`` filters (None: no filter; a list: any of
    its values) and a half-open range ``low <= range_column < high``."""
    where: list[str] = []
    params: list[Any] = []
    for column, value in equal:
        if value is None:
            continue
        values = [value] if isinstance(value, str) else list(value)
        where.append(f"{column} = ?" if len(values) == 1 else f"{column} IN ({', '.join('?' * len(values))})")
        params += values
    for op, value in ((">=", low), ("<", high)):
        if value is not None:
            where.append(f"{range_column} {op} ?")
            params.append(value)
    return where, params


FAR = "9999-12-31T23:59:59.999999Z"  # a case with no deadline sorts after every one with a deadline
# sort -> (keyset expressions, comparison for "after the cursor", ORDER BY)
ORDERS = {
    "due": ((f"COALESCE(next_due_at, '{FAR}')", "id"), ">", f"COALESCE(next_due_at, '{FAR}'), id"),
    "due_at": ((f"COALESCE(next_due_at, '{FAR}')", "id"), ">", f"COALESCE(next_due_at, '{FAR}'), id"),
    "-opened_at": (("opened_at", "id"), "<", "opened_at DESC, id DESC"),  # newest first (the default)
    "opened_at": (("opened_at", "id"), ">", "opened_at, id"),
    "-updated_at": (("updated_at", "id"), "<", "updated_at DESC, id DESC"),
    "updated_at": (("updated_at", "id"), ">", "updated_at, id"),
}
SORTS = ("opened_at", "-opened_at", "updated_at", "-updated_at", "due_at")


def list_cases(view_read: Any, table: str, *, now: datetime, type: Any = None, status: Any = None,
               assignee: Any = None, department: Any = None, customer_id: str | None = None,
               overdue: bool | None = None, opened_from: str | None = None, opened_to: str | None = None,
               limit: int = 50, cursor: str | None = None, escalated_to: str | None = None,
               escalations_table: str | None = None, q: str | None = None, sort: str | None = None,
               phone_hash: str | None = None, phones_table: str | None = None,
               ) -> tuple[list[dict[str, Any]], str | None]:
    """One page of cases matching the filters (times already canonical; a list filter matches any of
    its values; ``q`` searches the number and the title; ``phone_hash`` the customer's keyed phone hash)."""
    now_c = canon(now)
    where, params = filter_clauses(
        (("type", type), ("status", status), ("assignee", assignee), ("department", department),
         ("customer_id", customer_id)), "opened_at", opened_from, opened_to)
    if escalated_to is not None:  # open cases escalated to that person
        where.append(f"closed = 0 AND id IN (SELECT case_id FROM {escalations_table} WHERE staff_id = ?)")
        params.append(escalated_to)
    if q:
        pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        where.append("(UPPER(number) LIKE UPPER(?) ESCAPE '\\' OR title LIKE ? ESCAPE '\\')")
        params += [pattern, pattern]
    if phone_hash is not None:  # the customer's phone, by its keyed hash
        where.append(f"id IN (SELECT case_id FROM {phones_table} WHERE phone_hash = ?)")
        params.append(phone_hash)
    if overdue:
        where.append("next_due_at < ?")
        params.append(now_c)
    elif overdue is False:
        where.append("(next_due_at IS NULL OR next_due_at >= ?)")
        params.append(now_c)
    order = sort or ("due" if overdue else "-opened_at")
    if order not in ORDERS:
        raise ValueError(f"sort must be one of {list(SORTS)}")
    key_columns, after, ordering = ORDERS[order]
    if cursor:
        where.append(f"({', '.join(key_columns)}) {after} (?, ?)")
        params += decode_cursor(cursor, order, 2)
    columns = [*ITEM_COLUMNS, f"{key_columns[0]} AS sort_key"]
    sql = (f"SELECT {', '.join(columns)} FROM {table}"
           + (f" WHERE {' AND '.join(where)}" if where else "") + f" ORDER BY {ordering} LIMIT ?")
    rows = view_read(sql, [*params, limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(order, [rows[-1]["sort_key"], rows[-1]["id"]]) if more and rows else None
    items = [{k: v for k, v in dict(r).items() if k != "sort_key"} for r in rows]
    for item in items:
        item["overdue"] = item["next_due_at"] is not None and item["next_due_at"] < now_c
    return items, next_cursor


def overdue_for_sla(view_read: Any, table: str, now: datetime, after: tuple[str, str] | None,
                    limit: int = 500) -> list[dict[str, Any]]:
    """Cases with a running clock past due whose breach is not recorded yet."""
    sql = f"SELECT id, number, sla_due_at, clocks FROM {table} WHERE sla_due_at < ?"
    params: list[Any] = [canon(now)]
    if after:
        sql += " AND (sla_due_at, id) > (?, ?)"
        params += list(after)
    return view_read(sql + " ORDER BY sla_due_at, id LIMIT ?", [*params, limit])

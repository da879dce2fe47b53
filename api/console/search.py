"""Case search for the console: the ``case_state`` read model with the console's filters.

Filters: ``q`` (part of the number or title, or of the customer's name or
phone as recorded in the ``audit_history`` read model's opening and
correction rows), ``staff`` (assignee), ``type``, ``status``, ``department``
(each also comma-separated: any of them), ``opened_from``/``opened_to`` (days,
both inclusive, in the calendar's zone), ``escalated_to`` (open cases escalated to that person, as
``GET /v1/cases?escalated_to=``). ``sort`` is a column, ``-column`` for
descending. The page and the CSV export run the same ``search``: the CSV is
exactly the filtered rows (all of them, up to ``MAX_EXPORT``).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from projections.case_state import ITEM_COLUMNS, filter_clauses
from projections.events import canon, parse_time
from projections.queries import ReadModels

FILTERS = ("q", "staff", "type", "status", "department", "opened_from", "opened_to", "escalated_to")
SORTS = ("number", "type", "status", "title", "assignee", "department", "opened_at", "updated_at", "next_due_at")
DEFAULT_SORT = "-opened_at"
PAGE = 100
MAX_EXPORT = 10_000
CSV_COLUMNS = ("number", "type", "status", "title", "customer_name", "assignee", "department", "opened_at",
               "updated_at", "next_due_at", "overdue", "version", "id")


@dataclass
class Search:
    filters: dict[str, str] = field(default_factory=dict)
    sort: str = DEFAULT_SORT
    errors: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, query: Any) -> Search:
        filters = {k: str(query.get(k)).strip()[:200] for k in FILTERS if (query.get(k) or "").strip()}
        sort = query.get("sort") or DEFAULT_SORT
        if sort.lstrip("-") not in SORTS:
            sort = DEFAULT_SORT
        return cls(filters, sort)

    def query_string(self, **changes: str) -> str:
        from urllib.parse import urlencode
        return urlencode({**self.filters, "sort": self.sort, **changes})


def _like(text: str) -> str:
    return "%" + text.replace("!", "!!").replace("%", "!%").replace("_", "!_") + "%"


def _day(text: str | None, models: ReadModels, plus: int = 0) -> str | None:
    if not text:
        return None
    day = date.fromisoformat(text) + timedelta(days=plus)  # ValueError: reported by the caller
    return canon(parse_time(day, models.zone))


def _customer_matches(models: ReadModels, q: str) -> set[str]:
    """Ids of cases whose recorded customer name or phone contains ``q``."""
    view = models.view("audit_history")
    rows = view.read(f"SELECT case_id, changes FROM {view.tables['audit_events']} WHERE kind = 'case' "
                     "AND event_type IN ('Case.Opened', 'Case.ActionTaken') AND changes LIKE ? ESCAPE '!'",
                     [_like(q)])
    found: set[str] = set()
    for row in rows:
        try:
            changes = json.loads(row["changes"])
        except ValueError:
            continue
        for path in ("customer.name", "customer.phone"):
            pair = changes.get(path) if isinstance(changes, dict) else None
            if isinstance(pair, list) and any(q in str(v) for v in pair if v is not None):
                found.add(str(row["case_id"]))
    return found


def customer_names(models: ReadModels, case_ids: list[str]) -> dict[str, str]:
    """case id -> the customer name recorded when it was opened."""
    if not case_ids:
        return {}
    view = models.view("audit_history")
    names: dict[str, str] = {}
    for start in range(0, len(case_ids), 500):
        chunk = case_ids[start:start + 500]
        rows = view.read(f"SELECT case_id, changes FROM {view.tables['audit_events']} WHERE event_type = "
                         f"'Case.Opened' AND case_id IN ({', '.join('?' * len(chunk))})", chunk)
        for row in rows:
            try:
                pair = json.loads(row["changes"]).get("customer.name")
            except (ValueError, AttributeError):
                continue
            if isinstance(pair, list) and pair[-1] is not None:
                names[str(row["case_id"])] = str(pair[-1])
    return names


def search(models: ReadModels, s: Search, *, limit: int = PAGE, offset: int = 0,
           now: datetime | None = None) -> tuple[list[dict[str, Any]], int]:
    """The rows of one page (``limit``, ``offset``) and the count of all matching rows."""
    f = s.filters
    view = models.view("case_state")
    table, escalations = view.tables["case_state"], view.tables["case_escalated"]
    try:
        low, high = _day(f.get("opened_from"), models), _day(f.get("opened_to"), models, plus=1)
    except ValueError:
        s.errors.append("dates must be YYYY-MM-DD")
        return [], 0
    where, params = filter_clauses((), "opened_at", low, high)
    for column, name in (("type", "type"), ("status", "status"), ("assignee", "staff"), ("department", "department")):
        values = [v.strip() for v in (f.get(name) or "").split(",") if v.strip()][:50]  # comma: any of them
        if values:
            where.append(f"{column} IN ({', '.join('?' * len(values))})")
            params += values
    if f.get("escalated_to"):
        where.append(f"closed = 0 AND id IN (SELECT case_id FROM {escalations} WHERE staff_id = ?)")
        params.append(f["escalated_to"])
    if f.get("q"):
        ids = sorted(_customer_matches(models, f["q"]))[:2000]
        alternatives = ["number LIKE ? ESCAPE '!'", "title LIKE ? ESCAPE '!'"]
        params += [_like(f["q"]), _like(f["q"])]
        if ids:
            alternatives.append(f"id IN ({', '.join('?' * len(ids))})")
            params += ids
        where.append("(" + " OR ".join(alternatives) + ")")
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    column = s.sort.lstrip("-")
    direction = "DESC" if s.sort.startswith("-") else "ASC"
    nulls = "" if column != "next_due_at" else "CASE WHEN next_due_at IS NULL THEN 1 ELSE 0 END, "
    count = int(view.read(f"SELECT COUNT(*) AS n FROM {table}{clause}", params)[0]["n"])
    rows = view.read(f"SELECT {', '.join(ITEM_COLUMNS)} FROM {table}{clause} "
                     f"ORDER BY {nulls}{column} {direction}, id {direction} LIMIT ? OFFSET ?",
                     [*params, limit, offset])
    now_c = canon(now or datetime.now(UTC))
    names = customer_names(models, [str(r["id"]) for r in rows])
    items = [dict(r, overdue=r["next_due_at"] is not None and r["next_due_at"] < now_c,
                  customer_name=names.get(str(r["id"]), "")) for r in rows]
    return items, count


def export_csv(models: ReadModels, s: Search) -> str:
    """Every row ``s`` matches, as CSV (UTF-8 with BOM, like the API's ``text/csv``)."""
    rows, _ = search(models, s, limit=MAX_EXPORT)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        writer.writerow(["" if row.get(c) is None else row.get(c) for c in CSV_COLUMNS])
    return "\ufeff" + out.getvalue()

"""Read-model endpoints: case lists, staff KPIs, department reports, the global audit log.

All read from the projections (``projections.queries.ReadModels``, kept on
``app.state.read_models``, made on first use for the application's database
with a small pool of its own), so they are eventually consistent: each answer carries
``X-Casetrail-Position`` (the notification position the read model has
processed), and ``?min_position=n`` waits (at most 5 s) until it reaches
``n``; if it does not, the answer is the data as it stands (compare the header).
A query parameter outside its documented schema is a 400; one that is
well-formed but meaningless (a cursor of another query, ``to`` before
``from``, an unreadable time) is a 422.

Who may read what (``READ_ROLES``): any staff member lists cases; a staff
member's KPIs are visible to that member and to supervisors, department
heads, the general manager and reviewers; department reports to managers
and reviewers; the global audit log to reviewers, department heads, the
general manager and admins (and each such read is recorded in the access
ledger, subject ``audit-events``). Every case list read is recorded too
(subject ``case-list:<staff id>``, with its filters).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api import openapi as oa
from api import params, tabular
from api.auth import authenticate
from api.negotiation import render
from api.problems import Problem, bad_request
from api.threads import in_thread
from domain.audit.access import record_read
from domain.model.actor import Actor, CommandContext
from projections.case_state import SORTS
from projections.queries import MAX_LIMIT, ReadModels

MAX_WAIT_SECONDS = 5.0
MONTH = re.compile(r"^[0-9]{4}-(0[1-9]|1[0-2])$")
MAX_POSITION = 2**62
READ_ROLES = {
    "staff_performance": {"supervisor", "dept_head", "general_manager", "reviewer"},  # and the member
    "department_report": {"supervisor", "dept_head", "sales_manager", "general_manager", "reviewer"},
    "audit_events": {"reviewer", "dept_head", "general_manager", "admin"},
}
_lock = threading.Lock()


def read_models(request: Request) -> ReadModels:
    state = request.app.state
    models = getattr(state, "read_models", None)
    if models is None:
        with _lock:
            models = getattr(state, "read_models", None)
            if models is None:
                models = state.read_models = ReadModels.for_app(state.casetrail)
    return models


def _param(request: Request, name: str, max_length: int = 200) -> str | None:
    value = request.query_params.get(name)
    if value is None or value == "":
        return None
    if len(value) > max_length:
        raise bad_request(f"{name} must be at most {max_length} characters")
    if "\x00" in value:
        raise Problem(422, f"{name} must not contain NUL characters", kind="invalid-query",
                      title="Invalid query parameter")
    return value


def _time(request: Request, name: str) -> datetime | date | None:
    """A date (YYYY-MM-DD: its start in the calendar's zone) or an RFC 3339 time."""
    raw = request.query_params.get(name)
    if raw is not None and len(raw.strip()) == 10:
        try:
            day = date.fromisoformat(raw.strip())
        except ValueError:
            raise bad_request(f"{name} must be a date YYYY-MM-DD or an RFC 3339 time, got {raw[:40]!r}") from None
        # As for times: no case exists before 1970 or after 9998.
        return params.EARLIEST if day.year < 1970 else params.LATEST if day.year > 9998 else day
    return params.time_param(request, name)


def _require(actor: Actor, what: str, *, also: bool = False) -> None:
    if not (also or set(actor.roles) & READ_ROLES[what]):
        raise Problem(403, f"{what.replace('_', ' ')} is visible to roles {sorted(READ_ROLES[what])}"
                           + (" and to the staff member" if what == "staff_performance" else ""),
                      kind="forbidden", title="Role not allowed", allowed_roles=sorted(READ_ROLES[what]))


async def _answer(request: Request, models: ReadModels, name: str, query: Callable[[], Any],
                  table: Callable[[Any, dict[str, str]], Response] | None = None) -> Response:
    """Wait for ?min_position (bounded), run the query, render it with the position (as CSV with
    ``table`` when the client prefers it: api.tabular)."""
    as_csv = table is not None and tabular.wants_csv(request)
    min_position = params.int_param(request, "min_position", None, 0, MAX_POSITION)

    def run() -> tuple[Any, int]:
        if min_position is not None:
            # Positions come from committed writes: never wait for one beyond the log's head.
            head = request.app.state.casetrail.recorder.max_notification_id() or 0
            models.wait_for(min(min_position, head), MAX_WAIT_SECONDS, [name])
        position = models.view(name).position()
        try:
            return query(), position
        except ValueError as e:  # well-formed but meaningless: a stale cursor, to before from, ...
            raise Problem(422, str(e), kind="invalid-query", title="Invalid query parameter") from None

    data, position = await in_thread(run)
    headers = {"X-Casetrail-Position": str(position)}
    if as_csv:
        assert table is not None
        return table(data, headers)
    return render(request, data, headers=headers)


def _csv_page(request: Request, item: dict[str, Any], name: str) -> Callable[[Any, dict[str, str]], Response]:
    return lambda data, headers: tabular.csv_response(request, tabular.columns(item), data["items"], name,
                                                      headers=headers, next_cursor=data["next_cursor"])


def _page(items: list[dict[str, Any]], next_cursor: str | None) -> dict[str, Any]:
    return {"items": items, "next_cursor": next_cursor}


FILTERS = ("type", "status", "assignee", "department", "customer_id")


MULTI = ("type", "status", "assignee", "department")  # comma-separated: any of the values


def _known_filters(app: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    """Split the multi-value filters and refuse (400) a type, status or staff id that does not exist:
    a misspelt filter is an error, never an empty list."""
    out = dict(kwargs)
    for name in MULTI:
        if out.get(name) is not None:
            out[name] = [v.strip() for v in str(out[name]).split(",") if v.strip()] or None
    registry = app.registry
    for t in out.get("type") or []:
        if t not in registry:
            raise bad_request(f"type: unknown case type {t!r}; known: {', '.join(registry.names())}")
    for s in out.get("status") or []:
        if s not in registry.states():
            raise bad_request(f"status: {s!r} is not a state of any case type")
    for who in out.get("assignee") or []:
        if not app.staff_exists(who):
            raise bad_request(f"assignee: unknown staff member {who!r}")
    return out


async def list_cases(request: Request) -> Response:
    actor = await authenticate(request)
    params.only(request, *FILTERS, "overdue", "opened_from", "opened_to", "limit", "cursor", "min_position",
                "escalated_to", "q", "sort", "phone")
    models = read_models(request)
    overdue_text = request.query_params.get("overdue")
    if overdue_text not in (None, "true", "false"):
        raise bad_request(f"overdue must be true or false, got {overdue_text[:40]!r}")
    sort = _param(request, "sort", 20)
    if sort is not None and sort not in SORTS:
        raise bad_request(f"sort must be one of {list(SORTS)}, got {sort!r}")
    q = _param(request, "q", 100)
    app = request.app.state.casetrail
    kwargs = await in_thread(_known_filters, app, {
        name: _param(request, name, 2000 if name in ("type", "status") else 200) for name in FILTERS})
    limit = params.int_param(request, "limit", 50, 1, MAX_LIMIT)
    cursor = _param(request, "cursor", 1000)
    opened_from, opened_to = _time(request, "opened_from"), _time(request, "opened_to")
    overdue = None if overdue_text is None else overdue_text == "true"
    escalated_to = _param(request, "escalated_to", 64)
    if escalated_to is not None and not await in_thread(app.staff_exists, escalated_to):
        raise bad_request(f"escalated_to: unknown staff member {escalated_to!r}")
    phone = _param(request, "phone", 40)
    phone_hash = None
    if phone is not None:  # matched by its keyed hash; the number itself is not stored nor recorded
        phone_hash = app.sealer.phone_hash(phone)
        if phone_hash is None:
            raise Problem(422, "phone: give a phone number (digits)", kind="invalid-query",
                          title="Invalid query parameter")
    now = datetime.now(UTC)
    response = await _answer(request, models, "case_state", lambda: _page(*models.list_cases(
        **kwargs, overdue=overdue, opened_from=opened_from, opened_to=opened_to, now=now, limit=limit,
        cursor=cursor, escalated_to=escalated_to, q=q, sort=sort, phone_hash=phone_hash)),
        _csv_page(request, CASE_ITEM, "cases.csv"))
    listed = {k: (",".join(v) if isinstance(v, list) else str(v)) for k, v in {
        **kwargs, "overdue": overdue_text, "opened_from": opened_from, "opened_to": opened_to, "cursor": cursor,
        "escalated_to": escalated_to, "q": q, "sort": sort, "phone_hash": phone_hash}.items() if v is not None}
    await in_thread(_record_read, request, actor, listed, "cases", f"case-list:{actor.id}")
    return response


async def staff_performance(request: Request) -> Response:
    actor = await authenticate(request)
    staff_id = request.path_params["staff_id"]
    if len(staff_id) > 64:
        raise bad_request("staff id must be at most 64 characters")
    _require(actor, "staff_performance", also=actor.id == staff_id)
    params.only(request, "from", "to", "by", "min_position")
    models = read_models(request)
    date_from, date_to = _day(request, "from"), _day(request, "to")
    by = request.query_params.get("by")
    if by not in (None, "day", "week", "month"):
        raise bad_request(f"by must be day, week or month, got {by[:40]!r}")
    name = tabular.file_name("performance", staff_id, str(date_from), str(date_to))
    return await _answer(request, models, "staff_performance",
                         lambda: models.staff_performance(staff_id, date_from, date_to, by),
                         lambda data, headers: tabular.csv_response(request, PERFORMANCE_COLUMNS,
                                                                    tabular.report_rows(data), name, headers=headers))


def _day(request: Request, name: str) -> date:
    raw = request.query_params.get(name)
    try:
        return date.fromisoformat(raw or "")
    except ValueError:
        raise bad_request(f"{name} is required: a day YYYY-MM-DD (inclusive)") from None


async def department_report(request: Request) -> Response:
    actor = await authenticate(request)
    _require(actor, "department_report")
    params.only(request, "month", "min_position")
    department = request.path_params["department"]
    if len(department) > 64:
        raise bad_request("department must be at most 64 characters")
    month = request.query_params.get("month") or ""
    if not MONTH.match(month):
        raise bad_request(f"month is required: YYYY-MM, got {month[:40]!r}")
    models = read_models(request)
    return await _answer(request, models, "staff_performance", lambda: models.department_report(department, month),
                         lambda data, headers: tabular.csv_response(
                             request, tabular.columns(REPORT), [data],
                             tabular.file_name("department", department, month), headers=headers))


async def audit_events(request: Request) -> Response:
    actor = await authenticate(request)
    _require(actor, "audit_events")
    params.only(request, "actor", "case_id", "from", "to", "limit", "cursor", "min_position")
    models = read_models(request)
    filters = {"actor": _param(request, "actor", 100), "case_id": _param(request, "case_id", 64),
               "time_from": _time(request, "from"), "time_to": _time(request, "to")}
    limit = params.int_param(request, "limit", 50, 1, MAX_LIMIT)
    cursor = _param(request, "cursor", 1000)
    response = await _answer(request, models, "audit_history", lambda: _page(*models.audit_events(
        **filters, limit=limit, cursor=cursor)), _csv_page(request, AUDIT_ITEM, "audit-events.csv"))
    await in_thread(_record_read, request, actor, {k: str(v) for k, v in filters.items() if v is not None})
    return response


def _record_read(request: Request, actor: Actor, filters: dict[str, Any], what: str = "audit-events",
                 subject: str = "audit-events") -> None:
    """In the access ledger: ``actor`` read ``what`` (a case list: one log per reader, so
    readers never queue on one another)."""
    ctx = CommandContext(correlation_id=getattr(request.state, "request_id", "") or "")
    record_read(request.app.state.casetrail, actor, subject, what, filters, ctx)


routes = [
    Route("/v1/cases", list_cases, methods=["GET"]),
    Route("/v1/staff/{staff_id}/performance", staff_performance, methods=["GET"]),
    Route("/v1/reports/departments/{department}", department_report, methods=["GET"]),
    Route("/v1/audit/events", audit_events, methods=["GET"]),
]

# ----------------------------------------------------------------------- OpenAPI
STR, INT, NUM = {"type": "string"}, {"type": "integer"}, {"type": "number"}
TIME_OR_DATE = {"anyOf": [{"type": "string", "format": "date"}, {"type": "string", "format": "date-time"}],
                "description": "RFC 3339 time, or a date YYYY-MM-DD (its start in the business calendar's time zone)"}
DAY = {"type": "string", "format": "date"}
PCT = oa.nullable(NUM)
POSITION = {"X-Casetrail-Position": {"description": "Notification position this read model has processed",
                                     "schema": INT}}
MIN_POSITION = oa.query("min_position", {"type": "integer", "minimum": 0, "maximum": MAX_POSITION},
                        "wait (at most 5 s) until the read model has processed this notification position "
                        "(from a write's X-Casetrail-Position)")
LIMIT = oa.query("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": 50}, "page size")
CURSOR = oa.query("cursor", {"type": "string", "maxLength": 1000}, "next_cursor of the previous page")
STATS = {"type": "object", "properties": {"count": INT, "mean_seconds": PCT, "median_seconds": PCT,
                                          "p90_seconds": PCT}, "required": ["count"]}
CASE_ITEM = {"type": "object", "properties": {
    "id": {"type": "string", "format": "uuid"}, "number": STR, "type": STR, "status": STR, "title": STR,
    "assignee": oa.nullable(STR), "department": oa.nullable(STR), "customer_id": oa.nullable(STR),
    "opened_at": STR, "updated_at": STR, "next_due_at": oa.nullable(STR), "overdue": {"type": "boolean"},
    "version": INT}, "required": ["id", "number", "type", "status", "overdue", "version"]}
AUDIT_ITEM = {"type": "object", "properties": {
    "position": INT, "aggregate_id": STR, "kind": {"enum": ["case", "staff", "token", "other"]},
    "case_id": oa.nullable(STR), "case_number": oa.nullable(STR), "version": INT, "event_type": STR,
    "actor": oa.nullable(STR), "roles": {"type": "array", "items": STR}, "occurred_at": STR,
    "imported": {"type": "boolean"}, "summary": STR, "changes": {}},
    "required": ["position", "kind", "version", "event_type", "occurred_at", "summary"]}
KPIS = {
    "cases": {"type": "object", "properties": {"assigned": INT, "resolved": INT, "reopened": INT}},
    "first_response": STATS, "resolution": STATS,
    "clocks": {"type": "object", "properties": {"met": INT, "breached": INT, "compliance_pct": PCT}},
    "return_visits": {"type": "object", "properties": {
        "due": INT, "done": INT, "done_on_time": INT, "on_time_pct": PCT, "member_vip_due": INT,
        "member_vip_done": INT, "member_vip_coverage_pct": PCT}},
    "satisfaction": {"type": "object", "properties": {"satisfied": INT, "neutral": INT, "unsatisfied": INT,
                                                      "satisfaction_pct": PCT}},
    "approvals": {"type": "object", "properties": {"given": INT, "turnaround": STATS}},
    "technician": {"type": "object", "properties": {
        "arrivals": INT, "on_time": INT, "on_time_pct": PCT, "return_visit_scores": INT,
        "average_return_visit_score": PCT}},
}
PERFORMANCE = {"type": "object", "properties": {
    "staff_id": STR, "from": DAY, "to": DAY, "by": STR, **KPIS,
    "periods": {"type": "array", "items": {"type": "object", "properties": {"period": STR, **KPIS}}}},
    "required": ["staff_id", "from", "to", *KPIS]}
PERFORMANCE_COLUMNS = ["staff_id", "from", "to", "by", "period",
                       *tabular.columns({"properties": KPIS})]  # CSV: one row per period ("all": the range)
REPORT = {"type": "object", "properties": {
    "department": STR, "month": STR, "complaints_received": INT, "complaints_handled": INT,
    "handling_rate_pct": PCT, "handling_rate_target_pct": oa.nullable(NUM),
    "handling_rate_met": oa.nullable({"type": "boolean"}),
    "complaints_return_visited": INT, "return_visit_rate_pct": PCT, "return_visit_rate_target_pct": oa.nullable(NUM),
    "return_visit_rate_met": oa.nullable({"type": "boolean"}), "complaints_satisfied": INT,
    "satisfaction_rate_pct": PCT, "satisfaction_rate_target_pct": oa.nullable(NUM),
    "satisfaction_rate_met": oa.nullable({"type": "boolean"}), "valid_complaints": INT},
    "required": ["department", "month", "complaints_received", "complaints_handled", "valid_complaints"]}


def _page_schema(item: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": {"items": {"type": "array", "items": item},
                                             "next_cursor": oa.nullable(STR)}, "required": ["items", "next_cursor"]}


def _ok(description: str, schema: dict[str, Any], table: dict[str, Any]) -> dict[str, Any]:
    return {"200": {"description": description, "content": {**oa.content(schema), **table},
                    "headers": {**POSITION, **tabular.HEADERS}}}




paths = {
    "/v1/cases": {"get": oa.operation(
        "listCases", "List cases (case_state read model)", tag="cases",
        description="Newest first (or `sort`); with `overdue=true`, most overdue first (a running clock past "
                    "due). `opened_from` <= opened_at < `opened_to`. `type`, `status`, `assignee` and "
                    "`department` take comma-separated values (any of them); an unknown type, state or staff "
                    "member is a 400 naming it. `q` searches the number and the title. Keyset-paginated "
                    "with `cursor`.",
        parameters=[*(oa.query(n, {"type": "string", "maxLength": 200}, f"only cases with (any of) this {n}")
                      for n in ("type", "status", "assignee", "department")),
                    oa.query("customer_id", {"type": "string", "maxLength": 200}, "only this customer's cases"),
                    oa.query("q", {"type": "string", "maxLength": 100}, "search the number and the title"),
                    oa.query("sort", {"enum": list(SORTS)}, "order (default -opened_at; due_at: next deadline first)"),
                    oa.query("overdue", {"enum": ["true", "false"]}, "only (not) overdue cases"),
                    oa.query("escalated_to", {"type": "string", "maxLength": 64},
                             "only open cases escalated to this staff member (400 if unknown)"),
                    oa.query("phone", {"type": "string", "maxLength": 40},
                             "only cases of the customer with this phone number (any spacing, +86; matched "
                             "by a keyed hash, the number is not stored)"),
                    oa.query("opened_from", TIME_OR_DATE, "opened at or after"),
                    oa.query("opened_to", TIME_OR_DATE, "opened before"), LIMIT, CURSOR, MIN_POSITION],
        responses=_ok("A page of cases", _page_schema(CASE_ITEM), tabular.media(
            CASE_ITEM, "the page as CSV, one row per case; the next page in the Link header")),
        problems=[400, 406, 422])},
    "/v1/staff/{staff_id}/performance": {"get": oa.operation(
        "staffPerformance", "A staff member's KPIs over a range of days", tag="reports",
        description="Visible to the member, supervisors, department heads, "
                    "the general manager and reviewers. `by=day|week|month` adds per-period figures.",
        parameters=[oa.path_param("staff_id", {"type": "string", "maxLength": 64}, "staff id"),
                    oa.query("from", DAY, "first day (inclusive)", required=True),
                    oa.query("to", DAY, "last day (inclusive)", required=True),
                    oa.query("by", {"enum": ["day", "week", "month"]}, "also per period"), MIN_POSITION],
        responses=_ok("The staff member's KPIs", PERFORMANCE, {tabular.CSV: {"schema": {
            "type": "string", "description": "one row for the range (period `all`), then one per period; "
                                             f"columns: {', '.join(PERFORMANCE_COLUMNS)}"}}}),
        problems=[400, 403, 406, 422])},
    "/v1/reports/departments/{department}": {"get": oa.operation(
        "departmentReport", "A department's monthly complaint report (001 B§10)", tag="reports",
        description="Complaints received / handled, return-visit rate, satisfaction rate and valid "
                    "complaints, for complaints registered in the month; each rate next to its target "
                    "from the complaint case type's `report_targets` (001 B§10: handled 100%, "
                    "return visits ≥ 50%) and whether it was met.",
        parameters=[oa.path_param("department", {"type": "string", "maxLength": 64}, "department"),
                    oa.query("month", {"type": "string", "pattern": "^[0-9]{4}-(0[1-9]|1[0-2])$"}, "YYYY-MM",
                             required=True), MIN_POSITION],
        responses=_ok("The report", REPORT, tabular.media(REPORT, "the report as one CSV row")),
        problems=[400, 403, 406, 422])},
    "/v1/audit/events": {"get": oa.operation(
        "auditEvents", "The global audit log (audit_history read model)", tag="audit",
        description="Every case, staff and token event in time order, with a one-line summary and the "
                    "changes; `from` <= occurred_at < `to`. Each read is recorded in the access ledger.",
        parameters=[oa.query("actor", {"type": "string", "maxLength": 100}, "only events by this actor"),
                    oa.query("case_id", {"type": "string", "maxLength": 64}, "only events of this case"),
                    oa.query("from", TIME_OR_DATE, "occurred at or after"),
                    oa.query("to", TIME_OR_DATE, "occurred before"), LIMIT, CURSOR, MIN_POSITION],
        responses=_ok("A page of audit entries", _page_schema(AUDIT_ITEM), tabular.media(
            AUDIT_ITEM, "the page as CSV, one row per event; the next page in the Link header")),
        problems=[400, 403, 406, 422])},
}
for _item in paths.values():
    _item["get"]["description"] = _item["get"].get("description", "") + tabular.NOTE
openapi_paths = paths

"""Console pages over the read models and ledgers: audit log, access ledger, reports, escalation inbox.

- ``/console/audit``: the global audit log (``audit_history`` read model,
  as ``GET /v1/audit/events``) by actor, case and date, and the access
  ledger's latest reads (optionally of one case); roles as the API's
  (``api.read_models.READ_ROLES["audit_events"]``).
- ``/console/reports``: a staff member's KPIs per month (SLA compliance,
  return-visit coverage, satisfaction, reopen counts) and a department's
  monthly complaint reports (``ReadModels.staff_performance`` /
  ``department_report``), drawn with ECharts (the data is in the page as JSON).
- ``/console/inbox``: open cases escalated to the signed-in person.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from uuid import UUID

from starlette.requests import Request
from starlette.responses import Response

from api.console.pages import case_id_for
from api.console.search import PAGE, Search, search
from api.console.web import casetrail, may, models, page, record, signed_in
from api.read_models import READ_ROLES
from api.threads import in_thread
from domain.audit.access import AccessLog
from domain.model.errors import CaseNotFound
from domain.storage.history import history_entry

LEDGER_ROWS = 100
MONTHS = 6


def _text(request: Request, name: str, size: int = 100) -> str | None:
    value = (request.query_params.get(name) or "").strip()[:size]
    return value or None


def _date(request: Request, name: str) -> date | None:
    try:
        return date.fromisoformat(_text(request, name) or "")
    except ValueError:
        return None


def access_reads(app: Any, subject: str | None, limit: int = LEDGER_ROWS) -> list[dict[str, Any]]:
    """The latest reads in the access ledger (of ``subject`` only, when given), newest first."""
    ledger = app.access_ledger
    if subject is not None:
        reads = ledger.reads_of(subject)[-limit:]
        return [dict(r, subject=subject) for r in reversed(reads)]
    head = ledger.recorder.max_notification_id() or 0
    notes = ledger.recorder.select_notifications(max(1, head - 4 * limit), 4 * limit + 1)
    subjects: dict[Any, str] = {}
    out = []
    for note in reversed(notes):
        if not note.topic.endswith("Read"):
            continue
        if note.originator_id not in subjects:
            try:
                log = ledger.load(note.originator_id)  # as record_read loads (its chain head kept)
                subjects[note.originator_id] = log.subject if isinstance(log, AccessLog) else "?"
            except Exception:  # a subject whose log cannot be read is still shown
                subjects[note.originator_id] = "?"
        entry = history_entry(ledger.mapper, note)
        data = entry["data"]
        out.append({"at": entry["occurred_at"], "actor": data.get("actor"), "roles": data.get("roles"),
                    "what": data.get("what"), "detail": data.get("detail"), "subject": subjects[note.originator_id]})
        if len(out) >= limit:
            break
    return out


def _name_cases(rm: Any, reads: list[dict[str, Any]]) -> None:
    """Give each read of a case (subject: its id) the case's number (from the case_state read model)."""
    ids = sorted({r["subject"] for r in reads if _is_uuid(r["subject"])})
    if not ids:
        return
    view = rm.view("case_state")
    rows = view.read(f"SELECT id, number FROM {view.tables['case_state']} WHERE id IN ({', '.join('?' * len(ids))})",
                     ids)
    numbers = {str(row["id"]): row["number"] for row in rows}
    for r in reads:
        r["case_number"] = numbers.get(r["subject"])


def _is_uuid(text: Any) -> bool:
    try:
        UUID(str(text))
    except ValueError:
        return False
    return True


async def audit(request: Request) -> Response:
    actor = await signed_in(request)
    if not may(actor, READ_ROLES["audit_events"]):
        return page(request, "forbidden.html", {"title_key": "audit"}, status=403)
    case_text, who = _text(request, "case"), _text(request, "actor")
    day_from, day_to = _date(request, "from"), _date(request, "to")

    cursor = _text(request, "cursor", 1000)

    def load() -> tuple[list[dict[str, Any]], str | None, list[dict[str, Any]], str | None]:
        case_id = None
        error = None
        more = None
        if case_text:
            try:
                case_id = str(case_id_for(request, case_text))
            except CaseNotFound:
                error = "not_found"
        rm = models(request)
        items: list[dict[str, Any]] = []
        if error is None:
            try:
                items, more = rm.audit_events(actor=who, case_id=case_id, time_from=day_from,
                                              time_to=day_to + timedelta(days=1) if day_to else None, limit=PAGE,
                                              cursor=cursor)
            except ValueError:  # a cursor of another query
                error = "not_found"
        reads = access_reads(casetrail(request), case_id)
        _name_cases(rm, reads)
        return items, more, reads, error

    items, more, reads, error = await in_thread(load)
    await record(request, actor, "audit-events", "console-audit",
                 {"actor": who, "case": case_text, "from": day_from, "to": day_to})
    more_url = None
    if more:
        query = [(k, v) for k, v in request.query_params.multi_items() if k != "cursor"]
        more_url = "?" + urlencode([*query, ("cursor", more)])
    return page(request, "audit.html", {"items": items, "reads": reads, "error": error, "title_key": "audit",
                                        "more_url": more_url,
                                        "f": {"case": case_text or "", "actor": who or "",
                                              "from": day_from or "", "to": day_to or ""}})


def _months(last: str, count: int) -> list[str]:
    year, month = int(last[:4]), int(last[5:7])
    out = []
    for _ in range(count):
        out.append(f"{year:04d}-{month:02d}")
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return list(reversed(out))


async def reports(request: Request) -> Response:
    actor = await signed_in(request)
    today = datetime.now(UTC).date()
    staff_id = _text(request, "staff", 64) or actor.id
    day_from = _date(request, "from") or today - timedelta(days=180)
    day_to = _date(request, "to") or today
    department = _text(request, "department", 64) or actor.department
    month = _text(request, "month", 7) or today.strftime("%Y-%m")
    if len(month) != 7 or not month[:4].isdigit() or not month[5:].isdigit() or not 1 <= int(month[5:]) <= 12:
        month = today.strftime("%Y-%m")
    see_staff = staff_id == actor.id or may(actor, READ_ROLES["staff_performance"])
    see_dept = may(actor, READ_ROLES["department_report"])

    def load() -> dict[str, Any]:
        rm = models(request)
        perf = trend = report = None
        if see_staff and day_from <= day_to:
            perf = rm.staff_performance(staff_id, day_from, day_to, "month")
        if see_dept:
            report = rm.department_report(department, month)
            trend = [rm.department_report(department, m) for m in _months(month, MONTHS)]
        return {"perf": perf, "report": report, "trend": trend}

    data = await in_thread(load)
    perf, trend = data["perf"], data["trend"]
    charts = {}
    if perf is not None:
        periods = perf.get("periods") or []
        charts["staff"] = {
            "x": [p["period"] for p in periods],
            "series": {"sla_compliance": [p["clocks"].get("compliance_pct") for p in periods],
                       "return_visit_coverage": [p["return_visits"].get("member_vip_coverage_pct") for p in periods],
                       "satisfaction": [p["satisfaction"].get("satisfaction_pct") for p in periods],
                       "reopened": [p["cases"].get("reopened") for p in periods]}}
    if trend is not None:
        charts["department"] = {
            "x": [r["month"] for r in trend],
            "series": {"handling_rate": [r.get("handling_rate_pct") for r in trend],
                       "return_visit_rate": [r.get("return_visit_rate_pct") for r in trend],
                       "satisfaction_rate": [r.get("satisfaction_rate_pct") for r in trend]}}
    await record(request, actor, f"reports:{actor.id}", "console-reports",
                 {"staff": staff_id if see_staff else None, "department": department if see_dept else None,
                  "month": month, "from": day_from, "to": day_to})
    return page(request, "reports.html", {
        **data, "charts": charts, "see_staff": see_staff, "see_dept": see_dept, "title_key": "reports",
        "f": {"staff": staff_id, "from": day_from, "to": day_to, "department": department, "month": month}})


async def inbox(request: Request) -> Response:
    actor = await signed_in(request)
    s = Search({"escalated_to": actor.id}, "next_due_at")
    rm = models(request)
    rows, count = await in_thread(lambda: search(rm, s, limit=PAGE))
    await record(request, actor, f"case-list:{actor.id}", "console-inbox", {"escalated_to": actor.id})
    return page(request, "inbox.html", {"rows": rows, "count": count, "s": s, "title_key": "inbox"})

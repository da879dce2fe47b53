"""Regression tests for issue #14: the built-in case types broke their own
rules on paths the first tests never took (corrections, reclassification,
pauses, neutral outcomes, return visits, future SLA passes, imports).

Each test drives the public API on SQLite and PostgreSQL. Rules: CASE-TYPES.md,
"Rules that hold on every path (second edition)".
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from tests.api_support import ApiWorld
from tests.support import SHANGHAI

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

FRIDAY_1700 = datetime(2026, 11, 20, 17, 0, tzinfo=SHANGHAI)


def order(w: ApiWorld, amount: str, terms: str = "credit", kind: str = "standard") -> dict:
    case = w.open_view("order_approval", fields={"amount": amount, "payment_terms": terms, "product_kind": kind})
    return w.do(case, "submit", "agent")


def complaint_to(w: ApiWorld, state: str, severity: str = "general") -> dict:
    case = w.open_view("complaint", fields={"severity": severity})
    approver = {"general": "supervisor", "major": "dept_head", "crisis": "general_manager"}[severity]
    steps = [("assigned", "assign", "supervisor", {"assignee": "agent"}),
             ("investigating", "start_investigation", "agent", {}),
             ("resolution_proposed", "propose_resolution", "agent", {"resolution": "replace the part"}),
             ("resolution_approved", "approve_resolution", approver, {}),
             ("replied", "reply_customer", "agent", {"reply": "we will replace it"})]
    for reached, action, by, data in steps:
        if case["status"] == state:
            break
        case = w.do(case, action, by, **data)
        assert case["status"] == reached
    return case


def correct(w: ApiWorld, case: dict, field: str, value: str, by: str = "supervisor", status: int = 200) -> dict:
    return w.do(case, "correct_field", by, status, field=field, value=value, reason="typed wrong")


# ------------------------------------------------------------- corrections
def test_correcting_the_amount_recomputes_the_approval_chain(w: ApiWorld) -> None:
    case = order(w, "15000.00")
    assert case["status"] == "approved" and case["approvals"]["required"] == []
    case = correct(w, case, "amount", "900000.00")
    assert case["status"] == "submitted"
    assert case["approvals"]["required"] == ["sales_manager", "general_manager"]
    problem = w.do(case, "ship", "agent", 422)
    assert problem["missing_approvals"] == ["sales_manager", "general_manager"]
    case = w.do(case, "approve", "sales_manager")
    case = w.do(case, "approve", "general_manager")
    assert case["status"] == "approved"
    assert w.do(case, "ship", "agent")["status"] == "shipped"


def test_correcting_down_keeps_only_the_approvals_still_required(w: ApiWorld) -> None:
    case = order(w, "60000.00")
    case = w.do(case, "approve", "sales_manager")
    case = correct(w, case, "fields.amount", "30000.00")
    assert case["approvals"]["required"] == ["sales_manager"]
    assert [g["role"] for g in case["approvals"]["granted"]] == ["sales_manager"]
    assert case["status"] == "approved"


def test_gating_fields_cannot_be_corrected_after_shipping(w: ApiWorld) -> None:
    case = w.do(order(w, "9000.00", terms="cash"), "ship", "agent")
    problem = correct(w, case, "product_kind", "custom", status=422)
    assert "shipped" in problem["detail"] and "allowed_actions" in problem
    correct(w, case, "amount", "90000.00", status=422)
    correct(w, case, "customer.is_new", "true", status=422)
    assert correct(w, case, "title", "the right title")["title"] == "the right title"
    assert w.show(case)["fields"]["product_kind"] == "standard"


# ------------------------------------------------------------ severity
def test_a_refused_supervisor_cannot_lower_a_crisis_and_approve_it(w: ApiWorld) -> None:
    case = complaint_to(w, "resolution_proposed", severity="crisis")
    w.do(case, "approve_resolution", "supervisor", 403)
    problem = correct(w, case, "severity", "general", status=403)
    assert "general_manager" in problem["detail"]
    w.do(case, "approve_resolution", "supervisor", 403)
    assert w.show(case)["fields"]["severity"] == "crisis"
    case = correct(w, case, "severity", "major", by="general_manager")
    w.do(case, "approve_resolution", "supervisor", 403)
    assert w.do(case, "approve_resolution", "dept_head")["status"] == "resolution_approved"


def test_lowering_from_major_needs_the_department_head(w: ApiWorld) -> None:
    case = w.open_view("complaint", fields={"severity": "major"})
    w.do(case, "classify", "agent", 403, severity="general")
    w.do(case, "classify", "supervisor", 403, severity="general")
    case = w.do(case, "classify", "agent", severity="crisis")  # raising is anyone's
    correct(w, case, "severity", "general", by="dept_head", status=403)  # from crisis: the GM
    assert correct(w, case, "severity", "general", by="general_manager")["fields"]["severity"] == "general"


def test_classifying_major_afterwards_retimes_the_resolution_clock(w: ApiWorld) -> None:
    case = w.open_view("complaint")  # Monday 10:00, general: 1 working day
    assert datetime.fromisoformat(w.clock(case, "resolution")["due_at"]) == w.now + timedelta(days=1)
    w.advance(hours=2)
    case = w.do(case, "classify", "agent", severity="major")
    clock = w.clock(case, "resolution")
    assert clock["duration"] == "3wd"
    assert datetime.fromisoformat(clock["due_at"]) == datetime(2026, 11, 19, 10, 0, tzinfo=SHANGHAI)
    assert datetime.fromisoformat(clock["started_at"]) == datetime(2026, 11, 16, 10, 0, tzinfo=SHANGHAI)
    # and the reverse: lowered by the department head, back to 1 working day from the start
    case = correct(w, case, "severity", "general", by="dept_head")
    clock = w.clock(case, "resolution")
    assert clock["duration"] == "1wd"
    assert datetime.fromisoformat(clock["due_at"]) == datetime(2026, 11, 17, 10, 0, tzinfo=SHANGHAI)


# -------------------------------------------------------------- pauses
def test_pausing_a_working_day_clock_excludes_working_time_only(w: ApiWorld) -> None:
    w.now = FRIDAY_1700
    case = w.open_view("complaint")
    assert datetime.fromisoformat(w.clock(case, "resolution")["due_at"]) == datetime(
        2026, 11, 23, 17, 0, tzinfo=SHANGHAI)  # Monday 17:00
    case = w.do(case, "assign", "supervisor", assignee="agent")
    case = w.do(case, "start_investigation", "agent")
    w.now = FRIDAY_1700 + timedelta(minutes=30)
    case = w.do(case, "wait_for_customer", "agent", reason="photos")
    w.now = datetime(2026, 11, 23, 9, 0, tzinfo=SHANGHAI)  # Monday 09:00
    case = w.do(case, "customer_responded", "agent")
    # 30 working minutes (Friday 17:30-18:00) were paused
    assert datetime.fromisoformat(w.clock(case, "resolution")["due_at"]) == datetime(
        2026, 11, 23, 17, 30, tzinfo=SHANGHAI)


# ---------------------------------------------------- return visits
def test_a_neutral_return_visit_lets_the_complaint_close(w: ApiWorld) -> None:
    case = complaint_to(w, "replied")
    visit = w.linked_view(case, "return_visit")
    problem = w.do(visit, "record_outcome", "agent", 422, result="neutral")
    assert any(e["field"] == "improvement" for e in problem["errors"]) and "allowed_actions" in problem
    w.do(visit, "record_outcome", "agent", result="neutral", improvement="call back sooner")
    assert w.show(case)["fields"]["return_visit_outcome"] == "neutral"
    assert w.do(case, "close", "supervisor")["status"] == "closed"


def _completed_repair(w: ApiWorld) -> dict:
    case = w.open_view("repair_order", fields={"device": "空调"})
    case = w.do(case, "accept", "technician")
    start = w.now + timedelta(hours=1)
    case = w.do(case, "schedule", "technician", window_start=start.isoformat(),
                window_end=(start + timedelta(hours=2)).isoformat())
    w.now = start - timedelta(minutes=15)
    case = w.do(case, "arrive", "technician")
    return w.do(case, "complete", "technician")


def test_a_neutral_return_visit_lets_the_repair_order_close(w: ApiWorld) -> None:
    case = _completed_repair(w)
    visit = w.linked_view(case, "return_visit")
    w.do(visit, "record_outcome", "agent", result="neutral", improvement="tidier work")
    assert w.do(case, "close", "agent")["status"] == "closed"


def test_one_missed_visit_is_one_breach_and_one_escalation(w: ApiWorld) -> None:
    case = complaint_to(w, "replied")
    visit = w.linked_view(case, "return_visit")
    w.advance(days=4)
    for case_id in (case["id"], visit["id"]):
        w.app.record_breaches(case_id)
    events = [e["type"] for cid in (case, visit) for e in w.history(cid)]
    assert events.count("DeadlineBreached") == 1 and events.count("Escalated") == 1
    assert [e for e in w.history(visit) if e["type"] == "DeadlineBreached"]


def test_a_visit_recorded_on_the_repair_order_is_the_visit(w: ApiWorld) -> None:
    case = _completed_repair(w)
    visit = w.linked_view(case, "return_visit")
    case = w.do(case, "record_return_visit", "agent", result="satisfied")
    visit = w.show(visit)
    assert visit["status"] == "done" and visit["fields"]["result"] == "satisfied"
    assert w.do(case, "close", "agent")["status"] == "closed"


def test_unsatisfied_on_the_repair_order_reworks(w: ApiWorld) -> None:
    case = _completed_repair(w)
    visit = w.linked_view(case, "return_visit")
    case = w.do(case, "record_return_visit", "agent", result="unsatisfied", notes="still noisy")
    assert case["status"] == "scheduled"
    assert w.show(visit)["status"] == "done"
    w.advance(days=2)
    assert w.app.record_breaches(visit["id"]) == []


# ------------------------------------------------------ time and imports
def test_the_sla_pass_never_records_an_event_after_the_server_clock(w: ApiWorld) -> None:
    case = w.open_view("complaint")
    version = w.show(case)["version"]
    from domain.model.errors import DomainError

    with pytest.raises(DomainError, match="server clock"):
        w.app.record_breaches(case["id"], w.now + timedelta(days=5))
    assert w.show(case)["version"] == version
    w.advance(days=5)
    assert set(w.app.record_breaches(case["id"], w.now - timedelta(days=1))) == {"first_response", "resolution"}
    breaches = [e for e in w.history(case) if e["type"] == "DeadlineBreached"]
    assert {e["occurred_at"] for e in breaches} == {w.now.isoformat()}
    assert {e["data"]["due_at"] for e in breaches} == {c["due_at"] for c in w.show(case)["clocks"]}
    # ?as_of= now shows the real actions taken afterwards
    w.advance(minutes=1)
    w.do(case, "log_contact", "agent", channel="phone", summary="called")
    as_of = w.call("GET", f"/v1/cases/{case['id']}?as_of={(w.now + timedelta(seconds=1)).isoformat()}"
                   .replace("+", "%2B"), "reviewer", status=200)
    assert as_of["version"] == w.show(case)["version"]

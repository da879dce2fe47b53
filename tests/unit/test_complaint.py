"""Complaint workflow: every action, roles by severity, clocks, escalation, return-visit loop."""

from __future__ import annotations

from datetime import datetime

import pytest

from domain.model.errors import (
    ActionNotAllowed,
    GuardFailed,
    InvalidFields,
    RoleNotAllowed,
    UnknownAction,
    UnknownCaseType,
)
from tests.support import CUSTOMER, ORDER_CUSTOMER, World, complaint_to


@pytest.fixture
def world() -> World:
    return World()


def test_open_numbers_and_clocks(world: World) -> None:
    a = world.open("complaint")
    b = world.open("complaint")
    assert a.number == "TS-202611-0001" and b.number == "TS-202611-0002"
    assert a.status == "registered" and a.version == 1
    clocks = {c["name"]: c for c in a.view(None, None)["clocks"]}
    assert clocks["first_response"]["state"] == "running"
    assert datetime.fromisoformat(clocks["first_response"]["due_at"]) == world.now.replace(day=17)
    # general: 1 working day from Monday 10:00 is Tuesday 10:00 (Asia/Shanghai)
    assert datetime.fromisoformat(clocks["resolution"]["due_at"]) == world.now.replace(day=17)
    assert clocks["resolution"]["policy_version"] == 1


def test_channel_goes_to_the_field_or_is_refused(world: World) -> None:
    agent = world.actor("agent")
    case = world.app.open_case(agent, "complaint", "Case", CUSTOMER, {}, channel="wechat")
    assert case.fields["channel"] == "wechat"
    position = world.app.recorder.max_notification_id()
    for case_type, customer, fields, needle in (
            ("order_approval", ORDER_CUSTOMER, {"amount": "10.00", "payment_terms": "cash"}, "has no channel"),
            ("complaint", CUSTOMER, {"channel": "phone"}, "differ")):
        with pytest.raises(InvalidFields, match=needle):
            world.app.open_case(agent, case_type, "Case", customer, fields, channel="wechat")
    assert world.app.recorder.max_notification_id() == position  # nothing recorded


def test_number_serial_restarts_each_month(world: World) -> None:
    world.open("complaint")
    world.now = world.now.replace(month=12, day=1)
    assert world.open("complaint").number == "TS-202612-0001"


def test_full_path_and_allowed_actions(world: World) -> None:
    case = world.open("complaint")
    assert case.allowed_actions(world.app.registry.get("complaint"), world.actor("agent")) == [
        "classify", "log_contact"]
    sup = case.allowed_actions(world.app.registry.get("complaint"), world.actor("supervisor"))
    assert {"assign", "reject", "classify", "correct_field"} <= set(sup)
    case = complaint_to(world, "replied")
    assert world.clock_state(case, "first_response") == "met"
    assert world.clock_state(case, "resolution") == "met"
    assert world.clock_state(case, "return_visit") == "running"


def test_classify_sets_fields_and_major_escalates_once(world: World) -> None:
    case = world.open("complaint")
    case = world.act(case, "classify", "agent", {"category": "communicative", "subtype": "venting"})
    assert case.fields["category"] == "communicative" and case.escalations == []
    case = world.act(case, "classify", "supervisor", {"category": "valid", "severity": "major"})
    assert case.fields["category"] == "valid"
    assert [e["to_role"] for e in case.escalations] == ["dept_head"]
    case = world.act(case, "classify", "supervisor", {"severity": "major"})
    assert [e["to_role"] for e in case.escalations] == ["dept_head"]


def test_crisis_at_registration_escalates_to_head_and_gm(world: World) -> None:
    case = world.open("complaint", fields={"severity": "crisis"})
    assert [e["to_role"] for e in case.escalations] == ["dept_head", "general_manager"]
    assert case.version == 3


@pytest.mark.parametrize("severity,approver,wrong", [
    ("general", "supervisor", "dept_head"),
    ("major", "dept_head", "supervisor"),
    ("crisis", "general_manager", "dept_head"),
])
def test_approver_depends_on_severity(world: World, severity: str, approver: str, wrong: str) -> None:
    case = complaint_to(world, "resolution_proposed", severity=severity)
    with pytest.raises(RoleNotAllowed) as e:
        world.act(case, "approve_resolution", wrong)
    assert approver in str(e.value)
    assert world.act(case, "send_back", approver, {"reason": "more detail"}).status == "investigating"
    case = world.act(case, "propose_resolution", "agent", {"resolution": "refund"})
    assert world.act(case, "approve_resolution", approver).status == "resolution_approved"


def test_only_assignee_starts_investigation(world: World) -> None:
    case = complaint_to(world, "assigned")
    with pytest.raises(RoleNotAllowed):
        world.act(case, "start_investigation", "agent2")
    assert world.act(case, "start_investigation", "agent").status == "investigating"


def test_assign_unknown_staff_is_refused_and_nothing_recorded(world: World) -> None:
    case = world.open("complaint")
    with pytest.raises(InvalidFields, match="unknown staff"):
        world.act(case, "assign", "supervisor", {"assignee": "nobody"})
    assert world.case(case.id).version == 1 and world.stored_count(case) == 1


def test_log_contact_stops_first_response_and_validates(world: World) -> None:
    case = world.open("complaint")
    with pytest.raises(InvalidFields) as e:
        world.act(case, "log_contact", "agent", {"channel": "phone", "summary": 5, "colour": "red"})
    problems = {p["field"] for p in e.value.extra["errors"]}
    assert problems == {"summary", "colour"}
    case = world.act(case, "log_contact", "agent", {"channel": "phone", "summary": "called back",
                                                      "next_reply_at": "2026-11-17T10:00:00+08:00"})
    assert world.clock_state(case, "first_response") == "met"


def test_reject_closes_with_reason(world: World) -> None:
    case = complaint_to(world, "investigating")
    with pytest.raises(InvalidFields, match="reason"):
        world.act(case, "reject", "supervisor", {})
    case = world.act(case, "reject", "supervisor", {"reason": "客诉不成立"})
    assert case.status == "rejected"
    assert world.clock_state(case, "resolution") == "met"
    with pytest.raises(ActionNotAllowed) as e:
        world.act(case, "reopen", "supervisor", {"reason": "x"})
    assert e.value.extra["allowed_actions"] == ["correct_field"]


def test_unknown_action_and_type(world: World) -> None:
    case = world.open("complaint")
    with pytest.raises(UnknownAction, match="actions:"):
        world.act(case, "fly", "agent")
    with pytest.raises(UnknownCaseType, match="known types"):
        world.open("parking_ticket")


def test_close_needs_satisfied_return_visit(world: World) -> None:
    case = complaint_to(world, "replied")
    with pytest.raises(GuardFailed, match="return visit"):
        world.act(case, "close", "supervisor")
    visit = world.linked(case, "return_visit")
    assert visit.status == "open" and visit.fields["mandatory"] is True
    assert visit.customer == case.customer
    world.act(visit, "record_outcome", "agent", {"result": "satisfied", "score": 5})
    case = world.case(case.id)
    assert case.fields["return_visit_outcome"] == "satisfied"
    assert world.clock_state(case, "return_visit") == "met"
    assert world.act(case, "close", "supervisor").status == "closed"


def test_unsatisfied_return_visit_reopens_the_complaint(world: World) -> None:
    case = complaint_to(world, "replied")
    visit = world.linked(case, "return_visit")
    world.act(visit, "record_outcome", "agent", {"result": "unsatisfied", "notes": "still noisy"})
    case = world.case(case.id)
    assert case.status == "investigating"
    history = world.app.case_history(case.id)
    reopen = history[-1]
    assert reopen["data"]["action"] == "reopen" and reopen["actor"] == "system:policy"
    assert reopen["causation_id"] == f"{visit.id}:2"
    assert world.clock_state(case, "resolution") == "running"
    # the loop: resolve again, a second return visit, satisfied this time
    case = world.act(case, "propose_resolution", "agent", {"resolution": "new fridge"})
    case = world.act(case, "approve_resolution", "supervisor")
    case = world.act(case, "reply_customer", "agent", {"reply": "new fridge on Friday"})
    visits = [link for link in case.links if link["rel"] == "return_visit"]
    assert len(visits) == 2
    world.act(visits[1]["case_id"], "record_outcome", "agent", {"result": "satisfied"})
    assert world.act(case, "close", "supervisor").status == "closed"
    closed = world.act(case, "reopen", "supervisor", {"reason": "customer called again"})
    assert closed.status == "investigating"


def test_unreachable_after_three_attempts_allows_close(world: World) -> None:
    case = complaint_to(world, "replied")
    visit = world.linked(case, "return_visit")
    for n in (1, 2):
        visit = world.act(visit, "attempt_failed", "agent", {"reason": f"no answer {n}"})
        assert visit.status == "open" and visit.counters["attempts"] == n
    visit = world.act(visit, "attempt_failed", "agent", {"reason": "no answer 3"})
    assert visit.status == "unreachable"
    assert world.act(case, "close", "supervisor").status == "closed"


def test_pause_moves_due_time(world: World) -> None:
    case = complaint_to(world, "investigating")
    due = datetime.fromisoformat(case.clocks["resolution"]["due_at"])
    paused_at = world.now
    case = world.act(case, "wait_for_customer", "agent", {"reason": "customer travelling"})
    assert world.clock_state(case, "resolution") == "paused"
    # a paused clock is never breached, even past its old due time
    world.advance(hours=30)
    assert "resolution" not in world.app.record_breaches(case.id, world.now)
    case = world.act(case, "customer_responded", "agent")
    assert world.clock_state(case, "resolution") == "running"
    # a working-day clock moves by the working time that passed while it was paused
    paused = world.app.calendar.working_time_between(paused_at, world.now)
    assert datetime.fromisoformat(case.clocks["resolution"]["due_at"]) == world.app.calendar.add_working_time(
        due, paused)


def test_extend_deadline_limited_to_seven_working_days(world: World) -> None:
    case = complaint_to(world, "investigating", severity="major")
    due = datetime.fromisoformat(case.clocks["resolution"]["due_at"])
    with pytest.raises(RoleNotAllowed):
        world.act(case, "extend_deadline", "supervisor", {"working_days": 1, "reason": "parts"})
    case = world.act(case, "extend_deadline", "dept_head", {"working_days": 2, "reason": "parts on order"})
    assert case.clocks["resolution"]["duration"] == "5wd"
    assert datetime.fromisoformat(case.clocks["resolution"]["due_at"]).date() > due.date()
    with pytest.raises(GuardFailed, match="7wd"):
        world.act(case, "extend_deadline", "dept_head", {"working_days": 3, "reason": "more"})
    with pytest.raises(InvalidFields):
        world.act(case, "extend_deadline", "dept_head", {"working_days": 0, "reason": "none"})
    assert world.act(case, "extend_deadline", "dept_head", {"working_days": 2, "reason": "last"}).version == case.version + 1


def test_breach_recorded_once_and_escalates_up_the_ladder(world: World) -> None:
    case = complaint_to(world, "assigned")
    case = world.act(case, "log_contact", "agent", {"channel": "phone", "summary": "called"})
    assert world.app.record_breaches(case.id, world.now) == []
    world.now = later = world.now.replace(day=18)
    assert world.app.record_breaches(case.id, later) == ["resolution"]
    assert world.app.record_breaches(case.id, later) == []
    case = world.case(case.id)
    assert case.escalations[-1]["to_role"] == "dept_head" and case.escalations[-1]["clock"] == "resolution"
    assert world.clock_state(case, "resolution") == "breached"
    types = [h["type"] for h in world.app.case_history(case.id)][-2:]
    assert types == ["DeadlineBreached", "Escalated"]
    assert world.app.case_history(case.id)[-1]["actor"] == "system:sla-monitor"


def test_correct_field_records_old_new_reason_approver(world: World) -> None:
    case = world.open("complaint", fields={"severity": "general"})
    with pytest.raises(RoleNotAllowed):
        world.act(case, "correct_field", "agent", {"field": "severity", "value": "major", "reason": "typo"})
    case = world.act(case, "correct_field", "supervisor",
                     {"field": "customer.phone", "value": "13900139000", "reason": "customer gave new number"})
    entry = world.app.case_history(case.id)[-1]
    assert entry["data"]["changes"] == {"customer.phone": ["13800138000", "13900139000"]}
    assert entry["actor"] == "supervisor" and entry["data"]["data"]["reason"] == "customer gave new number"
    with pytest.raises(InvalidFields):
        world.act(case, "correct_field", "supervisor", {"field": "severity", "value": "huge", "reason": "x"})
    with pytest.raises(InvalidFields, match="correctable"):
        world.act(case, "correct_field", "supervisor", {"field": "status", "value": "closed", "reason": "x"})


def test_reviewer_and_admin_cannot_act(world: World) -> None:
    case = world.open("complaint")
    for who in ("reviewer", "admin"):
        with pytest.raises(RoleNotAllowed):
            world.act(case, "classify", who, {"severity": "major"})
        with pytest.raises(RoleNotAllowed):
            world.open("complaint", by=who)
    assert world.case(case.id).version == 1


def test_text_that_cannot_be_stored_is_refused(world: World) -> None:
    case = world.open("complaint")
    for bad in ("nul\x00here", "lone \ud800 surrogate"):
        with pytest.raises(InvalidFields, match="NUL|Unicode"):
            world.act(case, "log_contact", "agent", {"channel": "phone", "summary": bad})
    assert world.case(case.id).version == 1

"""qc_project (003 §3 第五條): a QC group's topic registered, a PDCA plan, monthly activities, half a year at most idle.

Through the HTTP API on both databases: a project names its group, members
and topic (422 otherwise); only General Affairs (the dept_head) registers
the topic (403 for a member), and nothing is planned or logged before
(422); the plan states the current state, the target and countermeasures
each with an owner (422 otherwise); activities are logged by PDCA phase;
an outcome without a logged activity is refused (422); a support request
is escalated to marketing (the sales manager); an activity is due 30 days
after the start or resumption and after each activity, every month without
one escalates (the supervisor, then up the ladder), a suspension longer
than 183 days to General Affairs; General Affairs files or returns the
outcome.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tests.api_support import ApiWorld
from tests.support import SHANGHAI

PROBLEMS = "https://casetrail.invalid/problems/"
GROUP = {"group_kind": "group_account_managers", "topic": "降低集团客户投诉重复率",
         "members": [{"staff": "agent", "duty": "组长"}, {"staff": "agent2"}]}
PLAN = {"current_state": "重复投诉率 8%", "target": "三个月内降到 4%",
        "countermeasures": [{"measure": "建立回访台账", "owner": "agent2", "due": "2026-12-31"}]}


def formed(world: ApiWorld, **fields: Any) -> dict[str, Any]:
    return world.open_view("qc_project", by="agent", customer={}, fields={**GROUP, **fields}, title="QC 课题")


def running(world: ApiWorld) -> dict[str, Any]:
    case = world.do(formed(world), "register_topic", "dept_head", registration_no="QC-2026-07")
    case = world.do(case, "submit_plan", "agent", **PLAN)
    return world.do(case, "start", "agent")


def test_the_topic_is_registered_before_the_group_plans(world: ApiWorld) -> None:
    missing = world.open_view("qc_project", by="agent", customer={}, fields={"topic": "x"}, status=422)
    assert {e["field"] for e in missing["errors"]} == {"fields.group_kind", "fields.members"}
    case = formed(world)
    assert case["number"].startswith("QCKT-202611-")
    early = world.do(case, "submit_plan", "agent", status=422, **PLAN)
    assert early["type"] == PROBLEMS + "action-not-allowed"
    refused = world.do(case, "register_topic", "agent", status=403, registration_no="QC-1")
    assert refused["type"] == PROBLEMS + "forbidden" and refused["allowed_roles"] == ["dept_head"]
    case = world.do(case, "register_topic", "dept_head", registration_no="QC-2026-07")
    no_owner = world.do(case, "submit_plan", "agent", status=422,
                        **{**PLAN, "countermeasures": [{"measure": "建立回访台账"}]})
    assert no_owner["type"] == PROBLEMS + "invalid-fields" and no_owner["errors"][0]["field"] == "countermeasures"
    case = world.do(case, "submit_plan", "agent", **PLAN)
    assert case["status"] == "planned" and case["fields"]["registration_no"] == "QC-2026-07"


def test_activities_then_the_outcome_filed_with_general_affairs(world: ApiWorld) -> None:
    case = running(world)
    empty = world.do(case, "report_outcome", "agent", status=422, outcome="重复率降到 3.5%")
    assert empty["type"] == PROBLEMS + "invalid-fields" and "活動記錄表" in empty["detail"]
    for phase, day in (("plan", "2026-11-20"), ("do", "2026-12-10")):
        case = world.do(case, "log_activity", "agent2", phase=phase, held_on=day, record="现状调查数据 120 条")
    assert world.do(case, "log_activity", "agent", status=422, phase="dream", held_on="2026-12-11",
                    record="x")["errors"][0]["field"] == "phase"
    assert world.clock(case, "monthly_activity")["state"] == "running"  # the third month's turn
    assert world.clock(case, "next_monthly_activity")["state"] == "met"
    case = world.do(case, "request_support", "agent", need="需要营销部提供投诉数据")
    told = world.show(case)["escalations"]
    assert [(e["to_role"], e["clock"]) for e in told] == [("sales_manager", None)]
    case = world.do(case, "report_outcome", "agent", outcome="重复率降到 3.5%")
    assert world.clock(case, "monthly_activity")["state"] == "met"
    assert world.do(case, "file_outcome", "agent", status=403)["type"] == PROBLEMS + "forbidden"
    case = world.do(case, "return_outcome", "dept_head", reason="补充活动前后对比图表")
    assert case["status"] == "running"
    case = world.do(case, "report_outcome", "agent", outcome="重复率由 8% 降到 3.5%,附对比图")
    case = world.do(case, "file_outcome", "dept_head", comment="成果已报备")
    assert (case["status"], case["counters"]) == ("closed", {"activities": 2})


def test_a_month_without_activity_and_a_long_suspension_escalate(world: ApiWorld) -> None:
    idle = running(world)
    assert world.clock(idle, "monthly_activity")["due_at"] == "2026-12-16T10:00:00+08:00"
    world.advance(days=30, minutes=1)
    assert world.app.record_breaches(idle["id"]) == ["monthly_activity"]
    assert [(e["clock"], e["to_role"]) for e in world.show(idle)["escalations"]] == [("monthly_activity", "supervisor")]
    paused = world.do(running(world), "suspend", "agent", reason="年底业务高峰")
    assert world.clock(paused, "suspension")["due_at"] == "2027-06-17T10:01:00+08:00"  # 183 days
    paused = world.do(paused, "explain_suspension", "agent", explanation="春节后恢复")
    world.advance(days=183)
    assert world.app.record_breaches(paused["id"]) == []
    world.advance(minutes=1)
    assert world.app.record_breaches(paused["id"]) == ["suspension"]
    escalations = world.show(paused)["escalations"]
    assert [(e["clock"], e["to_role"], e["to_staff"]) for e in escalations] == [
        ("suspension", "dept_head", "dept_head")]
    assert world.do(paused, "resume", "agent")["status"] == "running"


def test_every_month_needs_an_activity(world: ApiWorld) -> None:
    case = running(world)
    world.now = datetime(2026, 12, 10, 10, 0, tzinfo=SHANGHAI)
    case = world.do(case, "log_activity", "agent", phase="plan", held_on="2026-12-10", record="现状调查")
    assert world.clock(case, "next_monthly_activity")["due_at"] == "2027-01-09T10:00:00+08:00"
    world.now = datetime(2027, 1, 9, 10, 1, tzinfo=SHANGHAI)
    assert world.app.record_breaches(case["id"]) == ["next_monthly_activity"]  # the second month was missed
    world.now = datetime(2027, 1, 15, 10, 0, tzinfo=SHANGHAI)
    case = world.do(case, "log_activity", "agent2", phase="do", held_on="2027-01-15", record="实施对策")
    assert world.clock(case, "monthly_activity")["due_at"] == "2027-02-14T10:00:00+08:00"
    world.now = datetime(2027, 2, 14, 10, 1, tzinfo=SHANGHAI)
    assert world.app.record_breaches(case["id"]) == ["monthly_activity"]  # and the next: recorded again
    assert [(e["clock"], e["to_role"]) for e in world.show(case)["escalations"]] == [
        ("next_monthly_activity", "supervisor"), ("monthly_activity", "dept_head")]
    case = world.do(case, "suspend", "agent", reason="春节")
    assert {c["name"]: c["state"] for c in case["clocks"]}["monthly_activity"] == "breached"
    assert world.do(case, "resume", "agent")["status"] == "running"
    assert world.clock(case, "monthly_activity")["due_at"] == "2027-03-16T10:01:00+08:00"  # timed afresh

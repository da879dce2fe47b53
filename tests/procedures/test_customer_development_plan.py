"""customer_development_plan (003 §1 第五-八條): research, director then managers' meeting, monthly reports.

Through the HTTP API on both databases: submitting needs the research and
the measures, and a plan that needs support must name the departments (422
otherwise); the director of the specialist's own department approves first
(another department's head is refused) and the general manager (for the
managers' office meeting) second — the general manager before the director,
the specialist, or the same approver twice are refused; either approver
sends the plan back with a reason; after approval only the specialist
reports progress, a report is due 30 days after the approval and after each
report, and every late month escalates (the director first, then up the
ladder).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tests.api_support import ApiWorld
from tests.support import SHANGHAI

PROBLEMS = "https://casetrail.invalid/problems/"
TARGET = {"name": "江南物流有限公司", "contact": "韩经理", "phone": "0571-88886666"}
PLAN = {"research": "年用油约 3000 吨,现由两家供应商供货,对配送时效不满",
        "measures": "12 月上门拜访两次,提供试供 100 吨报价", "needs_support": True,
        "support": [{"department": "调度管理部", "need": "试供期间的配送车辆"}]}


def draft(world: ApiWorld) -> dict[str, Any]:
    return world.open_view("customer_development_plan", by="seller", customer=TARGET, title="开发 江南物流")


def approved(world: ApiWorld) -> dict[str, Any]:
    case = world.do(draft(world), "submit", "seller", **PLAN)
    world.do(case, "approve", "sales_head")
    return world.do(case, "approve", "general_manager", comment="经理办公会同意")


def test_the_plan_states_its_research_and_the_support_it_needs(world: ApiWorld) -> None:
    case = draft(world)
    assert case["number"].startswith("KFJH-202611-")
    missing = world.do(case, "submit", "seller", status=422, needs_support=False)
    assert missing["type"] == PROBLEMS + "invalid-fields"
    assert {e["field"] for e in missing["errors"]} == {"research", "measures"}
    unnamed = world.do(case, "submit", "seller", status=422, **{**PLAN, "support": []})
    assert unnamed["type"] == PROBLEMS + "invalid-fields" and unnamed["errors"][0]["field"] == "support"
    assert "第八條" in unnamed["detail"]
    case = world.do(case, "submit", "seller", **{**PLAN, "needs_support": False, "support": []})
    assert case["status"] == "submitted" and case["approvals"]["missing"] == ["dept_head", "general_manager"]


def test_the_director_then_the_managers_meeting_approve(world: ApiWorld) -> None:
    case = world.do(draft(world), "submit", "seller", **PLAN)
    assert case["assignee"] == "seller"
    early = world.do(case, "approve", "general_manager", status=403)
    assert early["type"] == PROBLEMS + "approval-not-allowed"
    other = world.do(case, "approve", "dept_head", status=403)  # the head of customer service, not of sales
    assert other["type"] == PROBLEMS + "approval-not-allowed" and "dept_head (of department sales)" in other["detail"]
    assert world.do(case, "approve", "seller", status=403)["type"] == PROBLEMS + "approval-not-allowed"
    case = world.do(case, "approve", "sales_head", comment="同意,报经理办公会")
    assert (case["status"], case["approvals"]["missing"]) == ("submitted", ["general_manager"])
    assert world.do(case, "approve", "sales_head", status=422)["type"] == PROBLEMS + "duplicate-approval"
    case = world.do(case, "approve", "general_manager")
    assert case["status"] == "approved"
    assert [g["role"] for g in case["approvals"]["granted"]] == ["dept_head", "general_manager"]


def test_an_approver_sends_the_plan_back(world: ApiWorld) -> None:
    case = world.do(draft(world), "submit", "seller", **PLAN)
    assert world.do(case, "send_back", "seller", status=403, reason="x")["type"] == PROBLEMS + "approval-not-allowed"
    assert world.do(case, "send_back", "dept_head", status=403, reason="x")["type"] == PROBLEMS + "approval-not-allowed"
    case = world.do(case, "send_back", "sales_head", reason="试供量过大,请重新测算")
    assert case["status"] == "draft"
    case = world.do(case, "edit", "seller", measures="试供 50 吨")
    case = world.do(case, "submit", "seller", **{**PLAN, "measures": "试供 50 吨"})
    assert case["approvals"]["granted"] == [] and case["approvals"]["missing"] == ["dept_head", "general_manager"]


def test_only_the_specialist_reports_and_a_late_first_report_escalates(world: ApiWorld) -> None:
    case = approved(world)
    assert world.clock(case, "monthly_report")["due_at"] == "2026-12-16T10:00:00+08:00"
    assert world.do(case, "report_progress", "seller2", status=403, month="2026-11",
                    progress="x")["type"] == PROBLEMS + "forbidden"
    world.advance(days=30, minutes=1)
    assert world.app.record_breaches(case["id"]) == ["monthly_report"]
    assert [(e["clock"], e["to_role"], e["to_staff"]) for e in world.show(case)["escalations"]] == [
        ("monthly_report", "dept_head", "sales_head")]
    case = world.do(case, "report_progress", "seller", month="2026-12", progress="已完成两次拜访",
                    problems="对方要求账期 60 天", support_needed="财务资产部评估账期")
    assert case["counters"] == {"monthly_reports": 1}
    case = world.do(case, "complete", "seller", result="won", note="签订年度供油合同")
    assert (case["status"], case["fields"]["result"]) == ("completed", "won")


def test_every_month_is_timed_afresh_and_late_months_climb_the_ladder(world: ApiWorld) -> None:
    case = approved(world)
    world.now = datetime(2026, 12, 1, 9, 0, tzinfo=SHANGHAI)
    case = world.do(case, "report_progress", "seller", month="2026-11", progress="首次拜访")
    assert world.clock(case, "monthly_report")["state"] == "met"
    assert world.clock(case, "next_monthly_report")["due_at"] == "2026-12-31T09:00:00+08:00"
    world.now = datetime(2026, 12, 20, 9, 0, tzinfo=SHANGHAI)
    case = world.do(case, "report_progress", "seller", month="2026-12", progress="试供报价已提交")
    assert world.clock(case, "next_monthly_report")["state"] == "met"
    assert world.clock(case, "monthly_report")["due_at"] == "2027-01-19T09:00:00+08:00"  # the third month
    world.now = datetime(2027, 1, 19, 9, 1, tzinfo=SHANGHAI)
    assert world.app.record_breaches(case["id"]) == ["monthly_report"]
    world.now = datetime(2027, 1, 25, 9, 0, tzinfo=SHANGHAI)
    case = world.do(case, "report_progress", "seller", month="2027-01", progress="迟交的月报")
    assert world.clock(case, "next_monthly_report")["due_at"] == "2027-02-24T09:00:00+08:00"
    world.now = datetime(2027, 2, 24, 9, 1, tzinfo=SHANGHAI)
    assert world.app.record_breaches(case["id"]) == ["next_monthly_report"]  # missed again: recorded again
    assert [(e["clock"], e["to_role"]) for e in world.show(case)["escalations"]] == [
        ("monthly_report", "dept_head"), ("next_monthly_report", "general_manager")]
    assert world.show(case)["escalations"][0]["to_staff"] == "sales_head"  # the specialist's own director
    assert world.show(case)["counters"] == {"monthly_reports": 3}

"""sales_visit_plan (003 §13 3.1-3.2): next month's visit plan, opened on the 25th, reviewed by the supervisor.

Through the HTTP API on both databases: the policy worker opens one plan per
salesperson on the 25th at 09:00, once per occurrence; only the salesperson
the plan is offered to submits it (403 for a colleague), with a month and at
least one visit (422 otherwise); only the sales supervisor approves or sends
it back; a second plan of the same salesperson for the same month is a 422
``.../duplicate``; a plan not submitted by the month's end (24:00 of its
last day) escalates to the sales supervisor and a review not done in a
working day to the department head.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from domain.model.schedules import ScheduleRun
from tests.api_support import ApiWorld

PROBLEMS = "https://casetrail.invalid/problems/"
SHANGHAI = ZoneInfo("Asia/Shanghai")
ON_THE_25TH = datetime(2026, 11, 25, 9, 0, tzinfo=SHANGHAI)
VISITS = [
    {"customer": "华南建材", "target": "existing", "purpose": "customer_care", "planned_on": "2026-12-03"},
    {"customer": "新城装饰", "target": "potential", "purpose": "new_customer"},
]


def scheduled_plan(world: ApiWorld, staff_id: str = "seller") -> dict[str, Any]:
    """The plan the worker opened for ``staff_id`` on 2026-11-25 (run it first)."""
    run = world.app.load(ScheduleRun.create_id("sales_visit_plan", "monthly", ON_THE_25TH.isoformat(), staff_id))
    return world.show(run.case_id)


def plans_opened(world: ApiWorld) -> list[str]:
    world.now = ON_THE_25TH + timedelta(minutes=30)
    return [n for n in world.app.run_schedules() if n.startswith("BFJH-")]


def submitted(world: ApiWorld) -> dict[str, Any]:
    plans_opened(world)
    plan = world.do(scheduled_plan(world), "submit", "seller", month="2026-12", visits=VISITS)
    assert (plan["status"], plan["assignee"]) == ("submitted", "seller")
    return plan


def test_the_worker_opens_one_plan_per_salesperson_on_the_25th(world: ApiWorld) -> None:
    opened = plans_opened(world)
    # every agent gets a plan: agent, agent2, seller, seller2
    assert len(opened) == 4
    assert plans_opened(world) == []  # the same occurrence again: nothing
    plan = scheduled_plan(world)
    assert plan["status"] == "drafting" and plan["fields"]["offered_to"] == "seller"
    assert plan["title"] == "2026-11 月底提交 次月拜访计划"
    assert world.clock(plan, "submission")["due_at"] == "2026-12-01T00:00:00+08:00"  # 「每月底」: 24:00 of 11-30


def test_only_the_planner_submits_and_only_the_supervisor_approves(world: ApiWorld) -> None:
    plans_opened(world)
    plan = scheduled_plan(world)
    assert world.do(plan, "submit", "seller2", status=403, month="2026-12",
                    visits=VISITS)["type"] == PROBLEMS + "forbidden"
    no_visit = world.do(plan, "submit", "seller", status=422, month="2026-12", visits=[])
    assert no_visit["type"] == PROBLEMS + "invalid-fields" and no_visit["errors"][0]["field"] == "visits"
    bad = world.do(plan, "submit", "seller", status=422, month="2026-13",
                   visits=[{"customer": "华南建材", "target": "friend", "purpose": "customer_care"}])
    assert {e["field"] for e in bad["errors"]} == {"month", "visits"}
    plan = world.do(plan, "submit", "seller", month="2026-12", visits=VISITS)
    assert world.clock(plan, "submission")["state"] == "met"
    assert world.do(plan, "approve", "seller", status=403)["type"] == PROBLEMS + "forbidden"
    assert world.do(plan, "approve", "sales_head", status=403)["allowed_roles"] == ["sales_manager"]
    plan = world.do(plan, "send_back", "sales_manager", reason="缺少新产品推广拜访")
    assert (plan["status"], plan["fields"]["review_note"]) == ("drafting", "缺少新产品推广拜访")
    visits = [*VISITS, {"customer": "东方五金", "target": "target", "purpose": "new_product"}]
    plan = world.do(plan, "submit", "seller", month="2026-12", visits=visits)
    plan = world.do(plan, "approve", "sales_manager", comment="同意")
    assert plan["status"] == "approved" and len(plan["fields"]["visits"]) == 3
    assert world.do(plan, "close", "sales_manager")["status"] == "closed"


def test_one_plan_per_salesperson_and_month(world: ApiWorld) -> None:
    first = submitted(world)
    extra = world.open_view("sales_visit_plan", by="seller", customer={}, fields={"offered_to": "seller"},
                            title="补充计划")
    dup = world.do(extra, "submit", "seller", status=422, month="2026-12", visits=VISITS)
    assert dup["type"] == PROBLEMS + "duplicate" and dup["other_case"]["number"] == first["number"]
    assert world.do(extra, "submit", "seller", month="2027-01", visits=VISITS)["status"] == "submitted"


def test_a_late_plan_and_a_late_review_escalate(world: ApiWorld) -> None:
    plans_opened(world)
    plan = scheduled_plan(world)
    world.now = datetime(2026, 11, 30, 23, 59, tzinfo=SHANGHAI)
    assert world.app.record_breaches(plan["id"]) == []
    world.now = datetime(2026, 12, 1, 0, 1, tzinfo=SHANGHAI)
    assert world.app.record_breaches(plan["id"]) == ["submission"]
    assert [(e["clock"], e["to_role"]) for e in world.show(plan)["escalations"]] == [("submission", "sales_manager")]
    plan = world.do(plan, "submit", "seller", month="2026-12", visits=VISITS)  # late, still accepted
    assert world.clock(plan, "submission")["state"] == "breached"
    world.advance(days=2)  # Tuesday 2026-12-01 00:01 + 2 days: past one working day
    assert world.app.record_breaches(plan["id"]) == ["review"]
    escalations = world.show(plan)["escalations"]
    assert (escalations[-1]["clock"], escalations[-1]["to_role"], escalations[-1]["to_staff"]) == \
        ("review", "dept_head", "sales_head")

"""sales_visit_record (003 §13 3.2-3.4): a visit from the approved plan, reported within two days, promises followed up.

Through the HTTP API on both databases: a visit without the salesperson's
approved plan for its month is a 422 ``.../prerequisite-missing``; only the
visiting salesperson — who opened the visit on their own plan — prepares,
visits and reports (403 for a colleague, and for both when the visit was
opened on a colleague's plan);
preparing needs the customer contacted (422 otherwise); expenses or gifts
applied for go to the sales supervisor for approval before the visit (the
salesperson cannot approve them, a rejection sends the visit back); a visit
without them is ready at once; a visit is not recorded for a time to come
(422); the report is due two days after the visit itself, however late the
visit is recorded, and a late one escalates to the sales supervisor; the supervisor reviews,
and closing needs a follow-up for every promise of the report (422 before).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tests.api_support import ApiWorld
from tests.support import SHANGHAI

PROBLEMS = "https://casetrail.invalid/problems/"
CUSTOMER = {"name": "华南建材", "contact": "陈经理", "phone": "020-83331234"}
VISIT = {"offered_to": "seller", "plan_month": "2026-12", "target": "existing", "purpose": "customer_care"}
PLAN_VISITS = [{"customer": "华南建材", "target": "existing", "purpose": "customer_care"}]


def approved_plan(world: ApiWorld, salesperson: str = "seller", month: str = "2026-12") -> dict[str, Any]:
    plan = world.open_view("sales_visit_plan", by=salesperson, customer={}, fields={"offered_to": salesperson},
                           title="拜访计划")
    world.do(plan, "submit", salesperson, month=month, visits=PLAN_VISITS)
    return world.do(plan, "approve", "sales_manager")


def visit(world: ApiWorld, status: int = 201, by: str = "seller", **fields: Any) -> dict[str, Any]:
    return world.open_view("sales_visit_record", by=by, customer=CUSTOMER, fields={**VISIT, **fields},
                           title="拜访 华南建材", status=status)


def visited(world: ApiWorld) -> dict[str, Any]:
    approved_plan(world)
    case = visit(world)
    case = world.do(case, "prepare", "seller", contact_confirmed=True)
    assert case["status"] == "prepared"
    return world.do(case, "record_visit", "seller", visited_at="2026-11-16T10:00:00+08:00")


def test_a_visit_needs_the_approved_plan_of_its_month(world: ApiWorld) -> None:
    missing = visit(world, status=422)
    assert missing["type"] == PROBLEMS + "prerequisite-missing"
    plan = world.open_view("sales_visit_plan", by="seller", customer={}, fields={"offered_to": "seller"},
                           title="拜访计划")
    world.do(plan, "submit", "seller", month="2026-12", visits=PLAN_VISITS)
    # submitted is not approved yet
    assert visit(world, status=422)["type"] == PROBLEMS + "prerequisite-missing"
    world.do(plan, "approve", "sales_manager")
    assert visit(world)["number"].startswith("BF-202611-")
    # the plan is seller's, not seller2's; and not for January
    assert visit(world, status=422, by="seller2", offered_to="seller2")["type"] == PROBLEMS + "prerequisite-missing"
    assert visit(world, status=422, plan_month="2027-01")["type"] == PROBLEMS + "prerequisite-missing"
    assert visit(world, status=422, purpose="fishing")["type"] == PROBLEMS + "invalid-fields"


def test_expenses_and_gifts_are_approved_in_advance(world: ApiWorld) -> None:
    approved_plan(world)
    case = visit(world)
    assert world.do(case, "request_expense", "seller2", status=403, amount="300.00")["type"] == PROBLEMS + "forbidden"
    case = world.do(case, "request_expense", "seller", amount="300.00", gifts="新品样品两盒")
    assert world.do(case, "prepare", "seller2", status=403, contact_confirmed=True)["type"] == PROBLEMS + "forbidden"
    not_called = world.do(case, "prepare", "seller", status=422, contact_confirmed=False)
    assert not_called["type"] == PROBLEMS + "invalid-fields" and "事先與拜訪單位取得聯系" in not_called["detail"]
    case = world.do(case, "prepare", "seller", contact_confirmed=True)
    assert case["status"] == "awaiting_approval" and case["approvals"]["missing"] == ["sales_manager"]
    assert world.do(case, "record_visit", "seller", status=422,
                    visited_at="2026-11-16T10:00:00+08:00")["type"] == PROBLEMS + "action-not-allowed"
    assert world.do(case, "approve", "seller", status=403)["type"] == PROBLEMS + "approval-not-allowed"
    case = world.do(case, "reject", "sales_manager", reason="礼品超标")
    assert case["status"] == "planned"
    case = world.do(case, "request_expense", "seller", amount="150.00")
    case = world.do(case, "prepare", "seller", contact_confirmed=True)
    case = world.do(case, "approve", "sales_manager", comment="同意")
    assert case["status"] == "prepared"
    # a visit with nothing applied for is ready at once
    plain = world.do(visit(world), "prepare", "seller", contact_confirmed=True)
    assert plain["status"] == "prepared" and plain["approvals"]["required"] == []


def test_the_report_is_reviewed_and_promises_are_followed_up_before_closing(world: ApiWorld) -> None:
    case = visited(world)
    assert world.do(case, "submit_report", "seller2", status=403, report="x")["type"] == PROBLEMS + "forbidden"
    promises = [{"promise": "寄送新品报价单", "due": "2026-11-18"}, {"promise": "安排技术交流"}]
    case = world.do(case, "submit_report", "seller", report="客户对新品有兴趣,货款月底结清", promises=promises)
    assert world.clock(case, "report")["state"] == "met"
    assert world.do(case, "review", "seller", status=403)["type"] == PROBLEMS + "forbidden"
    case = world.do(case, "return_report", "sales_manager", reason="补充竞品信息")
    assert case["status"] == "visited"
    case = world.do(case, "submit_report", "seller", report="补充: 竞品降价 5%", promises=promises)
    case = world.do(case, "review", "sales_manager", comment="好")
    case = world.do(case, "log_follow_up", "seller", promise="寄送新品报价单", result="已寄出")
    early = world.do(case, "close", "sales_manager", status=422, assessment="good")
    assert early["type"] == PROBLEMS + "invalid-fields" and "跟蹤處理" in early["detail"]
    case = world.do(case, "log_follow_up", "seller", promise="安排技术交流", result="定于下周三")
    case = world.do(case, "close", "sales_manager", assessment="good")
    assert (case["status"], case["fields"]["assessment"], case["counters"]) == ("closed", "good", {"follow_ups": 2})


def test_a_report_later_than_two_days_escalates_to_the_supervisor(world: ApiWorld) -> None:
    case = visited(world)
    assert world.clock(case, "report")["due_at"] == "2026-11-18T10:00:00+08:00"
    world.advance(days=1, hours=23)
    assert world.app.record_breaches(case["id"]) == []
    world.advance(hours=2)
    assert world.app.record_breaches(case["id"]) == ["report"]
    escalations = world.show(case)["escalations"]
    assert [(e["clock"], e["to_role"]) for e in escalations] == [("report", "sales_manager")]
    case = world.do(case, "submit_report", "seller", report="迟交的报告")
    assert world.clock(case, "report")["state"] == "breached"


def test_only_the_salesperson_who_opened_the_visit_on_their_own_plan_works_it(world: ApiWorld) -> None:
    approved_plan(world, salesperson="seller2")
    borrowed = visit(world, by="seller", offered_to="seller2")  # seller opens a visit on seller2's plan
    for who in ("seller", "seller2", "agent"):
        refused = world.do(borrowed, "prepare", who, status=403, contact_confirmed=True)
        assert refused["type"] == PROBLEMS + "forbidden", who
    assert world.do(borrowed, "cancel", "sales_manager", reason="不是本人的拜访计划")["status"] == "cancelled"
    own = visit(world, by="seller2", offered_to="seller2")
    assert world.do(own, "prepare", "seller2", contact_confirmed=True)["status"] == "prepared"


def test_the_report_is_due_two_days_after_the_visit_itself(world: ApiWorld) -> None:
    approved_plan(world)
    case = world.do(visit(world), "prepare", "seller", contact_confirmed=True)
    ahead = world.do(case, "record_visit", "seller", status=422, visited_at="2026-11-16T15:00:00+08:00")
    assert [e["field"] for e in ahead["errors"]] == ["visited_at"]  # now is 10:00
    world.now = datetime(2026, 11, 17, 9, 0, tzinfo=SHANGHAI)  # recorded the next morning
    case = world.do(case, "record_visit", "seller", visited_at="2026-11-16T14:30:00+08:00")
    assert world.clock(case, "report")["due_at"] == "2026-11-18T14:30:00+08:00"  # two days after the visit

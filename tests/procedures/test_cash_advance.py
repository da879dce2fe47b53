"""cash_advance (现金借支, 004 B3 c) through the HTTP API, on both databases.

The main path: any employee requests an advance, the head of *their*
department and then the finance director approve in that order, the
cashier disburses; the repayment clock is due at the end of the working day
on ``repay_by``, and its breach moves the advance to ``overdue`` and goes to
the finance director, who may deduct the rest from salary; the cashier
settles only once repaid >= amount. And every refusal: a cash purchase over
3,000.00, a repayment date in the past, someone else submitting, the wrong
department's head, the finance director before the head, the requester
approving their own advance, a non-cashier disbursing, settling short.
"""

from __future__ import annotations

from datetime import datetime

from tests.api_support import ApiWorld
from tests.support import SHANGHAI

EMPLOYEE: dict[str, str] = {}  # an advance has no customer: the requester is the opener


def advance(world: ApiWorld, by: str = "seller", **fields: str) -> dict:
    body = {"amount": "2000.00", "purpose": "travel", "repay_by": "2026-11-20", **fields}
    return world.open_view("cash_advance", by=by, fields=body, customer=EMPLOYEE)


def test_an_advance_from_request_to_settlement_through_overdue(world: ApiWorld) -> None:
    case = advance(world)
    assert case["status"] == "draft" and case["number"] == "JZ-202611-0001"
    world.do(case, "submit", "seller2", status=403)  # only the requester submits
    case = world.do(case, "submit", "seller")
    assert case["approvals"]["required"] == ["dept_head", "finance_director"]

    refused = world.do(case, "approve", "finance_director", status=403)  # in order: the head first
    assert "dept_head (of department sales)" in refused["detail"]
    world.do(case, "approve", "dept_head", status=403)  # the head of customer service, not of sales
    case = world.do(case, "approve", "sales_head")
    assert case["status"] == "submitted" and case["approvals"]["missing"] == ["finance_director"]
    case = world.do(case, "approve", "finance_director")
    assert case["status"] == "approved"

    world.do(case, "disburse", "seller", status=403)
    case = world.do(case, "disburse", "cashier")
    assert case["status"] == "disbursed"
    assert world.clock(case, "repayment")["due_at"] == "2026-11-20T18:00:00+08:00"  # end of that working day

    case = world.do(case, "repay", "cashier", amount="500.00")
    assert case["fields"]["repaid"] == "500.00"
    short = world.do(case, "settle", "cashier", status=422)
    assert short["type"].endswith("/guard-failed")

    world.now = datetime(2026, 11, 20, 17, 59, tzinfo=SHANGHAI)
    assert world.app.record_breaches(case["id"]) == []
    world.now = datetime(2026, 11, 20, 18, 1, tzinfo=SHANGHAI)
    assert world.app.record_breaches(case["id"]) == ["repayment"]
    case = world.show(case)
    assert case["status"] == "overdue"
    assert [(e["to_role"], e["to_staff"]) for e in case["escalations"]] == [("finance_director", "finance_director")]
    breach = next(h for h in world.history(case) if h["type"].endswith("DeadlineBreached"))
    assert breach["data"]["changes"] == {"status": ["disbursed", "overdue"]}

    world.do(case, "deduct_salary", "cashier", status=403, amount="1500.00")  # 「从其工资中扣除」: the director
    case = world.do(case, "deduct_salary", "finance_director", amount="1500.00")
    assert case["fields"]["repaid"] == "2000.00"
    case = world.do(case, "settle", "cashier")
    assert case["status"] == "settled"


def test_a_cash_purchase_over_3000_and_a_past_repayment_date_are_refused(world: ApiWorld) -> None:
    body = world.open_view("cash_advance", by="seller", status=422, customer=EMPLOYEE,
                           fields={"amount": "3000.01", "purpose": "cash_purchase", "repay_by": "2026-11-20"})
    assert [e["field"] for e in body["errors"]] == ["amount"]
    assert advance(world, purpose="cash_purchase", amount="3000.00")["status"] == "draft"
    assert advance(world, purpose="travel", amount="8000.00")["status"] == "draft"  # travel has no cap
    past = world.open_view("cash_advance", by="seller", status=422, customer=EMPLOYEE,
                           fields={"amount": "100.00", "purpose": "travel", "repay_by": "2026-11-15"})
    assert [e["field"] for e in past["errors"]] == ["repay_by"]
    world.open_view("cash_advance", by="reviewer", status=403, customer=EMPLOYEE,
                    fields={"amount": "100.00", "purpose": "travel", "repay_by": "2026-11-20"})


def test_the_requester_never_approves_their_own_advance(world: ApiWorld) -> None:
    case = advance(world, by="sales_head")  # the head of sales asks for an advance himself
    case = world.do(case, "submit", "sales_head")
    refused = world.do(case, "approve", "sales_head", status=403)
    assert refused["type"].endswith("/approval-not-allowed") and "may not approve" in refused["detail"]
    other = world.do(case, "reject", "dept_head", status=403, reason="x")  # not an approver of this advance
    assert other["type"].endswith("/approval-not-allowed")
    case = world.do(case, "reject", "finance_director", reason="预算不足")  # a required approver rejects
    assert case["status"] == "rejected"

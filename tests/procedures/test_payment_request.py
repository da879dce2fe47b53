"""payment_request (付款/报销审批, 004 B3 b): the life of a payment through the HTTP API.

Proves on SQLite and PostgreSQL: only the handler hands the form in; it goes to the head
of the handler's own department (部门经理), then 财务总监, then 总经理, in that order; the
cashier pays only then and stamps it 付讫, posts it, the finance director reviews (复核) or
queries it; the handler never approves their own form; an approver may send it back; a cash
payment over 10,000.00 needs its large-cash notice (10,000.00 itself does not, a correction
to cash does); a late approval reaches the general manager, a late payment and a payment not
posted by the end of its working day the finance director.
"""

from __future__ import annotations

from typing import Any

from tests.api_support import ApiWorld

PROBLEM = "https://casetrail.invalid/problems/"
RECEIPT = {"file": {"name": "发票.pdf", "media_type": "application/pdf", "size": 2048, "sha256": "ab" * 32}}


def request(world: ApiWorld, by: str = "seller", status: int = 201, **fields: Any) -> dict[str, Any]:
    body = {"form": "reimbursement", "amount": "860.00", "method": "bank_transfer", "payee": "王五",
            "purpose": "差旅费: 广州—深圳", "originals": [RECEIPT], **fields}
    return world.open_view("payment_request", by=by, fields=body, customer={}, status=status)


def approved(world: ApiWorld, **fields: Any) -> dict[str, Any]:
    case = request(world, **fields)
    world.do(case, "submit", "seller")
    for who in ("sales_head", "finance_director", "general_manager"):
        case = world.do(case, "approve", who, comment="同意")
    assert case["status"] == "approved"
    return case


def test_the_form_goes_through_three_approvals_is_paid_stamped_posted_and_reviewed(world: ApiWorld) -> None:
    case = request(world)
    assert case["number"].startswith("FKBX-202611-")
    assert case["department"] == "finance"
    case = world.do(case, "submit", "seller")
    assert case["status"] == "submitted"
    assert case["approvals"]["required"] == ["dept_head", "finance_director", "general_manager"]
    assert case["approvals"]["sequential"] is True
    case = world.do(case, "approve", "sales_head", comment="同意")
    assert (case["status"], case["approvals"]["missing"]) == ("submitted", ["finance_director", "general_manager"])
    case = world.do(case, "approve", "finance_director")
    case = world.do(case, "approve", "general_manager")
    assert case["status"] == "approved"
    assert [g["by"] for g in case["approvals"]["granted"]] == ["sales_head", "finance_director", "general_manager"]
    assert world.clock(case, "approval")["state"] == "met"
    case = world.do(case, "pay", "cashier", stamp="付讫")
    assert (case["status"], case["fields"]["stamp"]) == ("paid", "付讫")
    case = world.do(case, "post", "cashier", journal_entry="现金日记账 11-16 #7", voucher="记-2611-031")
    assert case["status"] == "posted"
    case = world.do(case, "query", "finance_director", reason="凭证号写错")
    assert case["status"] == "paid"
    case = world.do(case, "post", "cashier", journal_entry="现金日记账 11-16 #7", voucher="记-2611-032")
    case = world.do(case, "review", "finance_director", comment="复核无误")
    assert case["status"] == "reviewed"
    assert case["fields"]["voucher"] == "记-2611-032"
    taken = [(e["data"]["action"], e["actor"]) for e in world.history(case) if e["type"] == "ActionTaken"]
    assert [a for a, _ in taken] == ["submit", "approve", "approve", "approve", "pay", "post", "query", "post", "review"]
    assert taken[4] == ("pay", "cashier")


def test_approvals_are_taken_in_order_and_never_by_the_handler(world: ApiWorld) -> None:
    case = request(world)
    out = world.do(case, "submit", "seller2", status=403)
    assert out["type"] == PROBLEM + "forbidden"  # only the handler hands it in
    world.do(case, "submit", "seller")
    # the first step is the head of the handler's department (sales), not any department head
    out = world.do(case, "approve", "dept_head", status=403)
    assert out["type"] == PROBLEM + "approval-not-allowed"
    assert "dept_head (of department sales)" in out["detail"]
    out = world.do(case, "approve", "finance_director", status=403)
    assert out["type"] == PROBLEM + "approval-not-allowed"
    assert out["missing"] == ["dept_head", "finance_director", "general_manager"]
    out = world.do(case, "approve", "general_manager", status=403)
    assert out["type"] == PROBLEM + "approval-not-allowed"
    # a department head's own reimbursement: they may not take its first approval, nor may the
    # head of another department; it can only be sent back or rejected (left to people)
    own = request(world, by="sales_head")
    world.do(own, "submit", "sales_head")
    out = world.do(own, "approve", "sales_head", status=403)
    assert out["type"] == PROBLEM + "approval-not-allowed"
    assert "may not approve" in out["detail"]
    assert world.do(own, "approve", "dept_head", status=403)["type"] == PROBLEM + "approval-not-allowed"
    assert world.do(own, "send_back", "finance_director", reason="请总经理直接审批")["status"] == "draft"


def test_only_the_cashier_pays_and_only_once_every_approval_is_in(world: ApiWorld) -> None:
    case = request(world)
    world.do(case, "submit", "seller")
    world.do(case, "approve", "sales_head")
    out = world.do(case, "pay", "cashier", status=422, stamp="付讫")
    assert out["type"] == PROBLEM + "action-not-allowed"
    case = world.do(case, "approve", "finance_director")
    case = world.do(case, "approve", "general_manager")
    out = world.do(case, "pay", "finance_director", status=403, stamp="付讫")
    assert out["type"] == PROBLEM + "forbidden"
    assert out["allowed_roles"] == ["cashier"]
    out = world.do(case, "pay", "cashier", status=422, stamp="已付")
    assert out["type"] == PROBLEM + "invalid-fields"
    assert [e["field"] for e in out["errors"]] == ["stamp"]
    out = world.do(case, "review", "finance_director", status=422)
    assert out["type"] == PROBLEM + "action-not-allowed"
    out = world.do(case, "post", "cashier", status=422, journal_entry="x", voucher="y")
    assert out["type"] == PROBLEM + "action-not-allowed"
    assert world.do(case, "pay", "cashier", stamp="付讫")["status"] == "paid"


def test_an_approver_rejects_or_sends_the_form_back(world: ApiWorld) -> None:
    case = request(world)
    world.do(case, "submit", "seller")
    world.do(case, "approve", "sales_head")
    out = world.do(case, "send_back", "seller", status=403, reason="x")
    assert out["type"] == PROBLEM + "approval-not-allowed"
    out = world.do(case, "send_back", "finance_director", status=422)
    assert out["type"] == PROBLEM + "invalid-fields"
    case = world.do(case, "send_back", "finance_director", reason="缺住宿发票")
    assert case["status"] == "draft"
    assert world.clock(case, "approval")["state"] == "met"
    case = world.do(case, "submit", "seller")
    assert case["approvals"]["granted"] == []  # the chain starts anew
    world.do(case, "approve", "sales_head")
    case = world.do(case, "reject", "finance_director", reason="不属于报销范围")
    assert case["status"] == "rejected"


def test_a_form_is_refused_with_invalid_fields(world: ApiWorld) -> None:
    out = request(world, status=422, amount="0.00", form="loan", originals=None)
    assert out["type"] == PROBLEM + "invalid-fields"
    assert sorted(e["field"] for e in out["errors"]) == ["fields.amount", "fields.form", "fields.originals"]


def test_cash_over_ten_thousand_needs_the_large_cash_notice(world: ApiWorld) -> None:
    out = request(world, status=422, method="cash", amount="10000.01")
    assert out["type"] == PROBLEM + "invalid-fields"
    assert out["errors"][0]["field"] == "cash_notice"
    assert "提前三天" in out["detail"]
    assert request(world, method="cash", amount="10000.00")["status"] == "draft"  # 超过: 10,000.00 is not over
    assert request(world, method="bank_transfer", amount="50000.00")["status"] == "draft"
    assert request(world, method="cash", amount="12000.00", cash_notice="DEXJ-202611-0001")["status"] == "draft"
    # a correction to cash is a change like any other: it needs the notice too
    transfer = request(world, method="bank_transfer", amount="12000.00")
    out = world.do(transfer, "correct_field", "supervisor", status=422, field="method", value="cash",
                   reason="改为现金支付")
    assert out["errors"][0]["field"] == "cash_notice"
    assert world.show(transfer)["fields"]["method"] == "bank_transfer"


def test_a_late_approval_reaches_the_general_manager_and_a_late_payment_the_finance_director(
        world: ApiWorld) -> None:
    case = request(world)
    world.do(case, "submit", "seller")  # Monday 10:00: due Thursday 10:00 (3 working days)
    assert world.clock(case, "approval")["due_at"].startswith("2026-11-19T10:00")
    world.advance(days=2, hours=23)
    assert world.app.record_breaches(case["id"]) == []
    world.advance(hours=2)
    assert world.app.record_breaches(case["id"]) == ["approval"]
    view = world.show(case)
    assert view["escalations"][-1]["to_role"] == "general_manager"
    # the person: the first active general manager (the roster's "boss" holds the role too)
    assert view["escalations"][-1]["to_staff"] == "boss"
    paid = approved(world)  # Thursday 11:00: the cashier has until Friday 11:00
    world.advance(days=1, minutes=1)
    assert world.app.record_breaches(paid["id"]) == ["payment"]
    view = world.show(paid)
    assert (view["escalations"][-1]["to_role"], view["escalations"][-1]["to_staff"]) == \
        ("finance_director", "finance_director")
    view = world.do(paid, "pay", "cashier", stamp="付讫")
    assert world.clock(view, "payment")["state"] == "breached"


def test_a_payment_not_posted_by_the_end_of_its_working_day_reaches_the_finance_director(world: ApiWorld) -> None:
    case = approved(world)
    world.advance(hours=6, minutes=30)  # Monday 16:30
    case = world.do(case, "pay", "cashier", stamp="付讫")
    assert world.clock(case, "posting")["due_at"].startswith("2026-11-16T18:00")  # 日清: the same day
    world.advance(hours=1, minutes=31)
    assert world.app.record_breaches(case["id"]) == ["posting"]
    esc = world.show(case)["escalations"][-1]
    assert (esc["to_role"], esc["to_staff"], esc["clock"]) == ("finance_director", "finance_director", "posting")
    case = world.do(case, "post", "cashier", journal_entry="现金日记账 #8", voucher="记-2611-040")
    assert world.clock(case, "posting")["state"] == "breached"
    world.advance(hours=1)  # Monday 19:01: queried after hours, to be posted by Tuesday's end
    case = world.do(case, "query", "finance_director", reason="金额大写有误")
    assert world.clock(case, "posting")["due_at"].startswith("2026-11-17T18:00")

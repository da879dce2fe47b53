"""Order approval (amount rules, chains, shipping) and repair orders (grab, window, rework)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from domain.model.errors import (
    ActionNotAllowed,
    AlreadyTaken,
    ApprovalNotAllowed,
    ApprovalsMissing,
    DuplicateApproval,
    GuardFailed,
    InvalidFields,
    RoleNotAllowed,
)
from tests.support import World


@pytest.fixture
def world() -> World:
    return World()


def order(world: World, amount: str, terms: str = "credit", is_new: bool = False, kind: str = "standard"):
    customer = {"id": "K-9", "name": "新客户" if is_new else "老客户", "is_new": is_new}
    case = world.open("order_approval", customer=customer,
                      fields={"amount": amount, "payment_terms": terms, "product_kind": kind})
    return world.act(case, "submit", "agent")


@pytest.mark.parametrize("amount,terms,is_new,chain", [
    ("20000.00", "credit", False, []),
    ("20000.01", "credit", False, ["sales_manager"]),
    ("50000.00", "credit", False, ["sales_manager"]),
    ("50000.01", "credit", False, ["sales_manager", "general_manager"]),
    ("900000.00", "cash", True, []),
    ("900000.00", "cod", False, []),
    ("900000.00", "prepay", True, []),
])
def test_approval_boundaries(world: World, amount: str, terms: str, is_new: bool, chain: list[str]) -> None:
    case = order(world, amount, terms, is_new)
    assert case.approvals["required"] == chain
    assert case.status == ("approved" if not chain else "submitted")
    submit = world.app.case_history(case.id)[-1]
    assert submit["data"]["approvals"]["required"] == chain


@pytest.mark.parametrize("amount", ["19999.99", "20000.00"])
def test_new_customers_do_not_get_credit(world: World, amount: str) -> None:
    # second edition (004 B1): a new customer's order is cash or prepay (cod in 广州 from 1,500.00)
    with pytest.raises(InvalidFields, match="new customer"):
        order(world, amount, "credit", True)


def test_sequential_chain_and_ship(world: World) -> None:
    case = order(world, "50000.01")
    with pytest.raises(ApprovalsMissing) as e:
        world.act(case, "ship", "agent")
    assert e.value.extra["missing_approvals"] == ["sales_manager", "general_manager"]
    with pytest.raises(ApprovalNotAllowed, match="sales_manager"):
        world.act(case, "approve", "general_manager")
    with pytest.raises(ApprovalNotAllowed):
        world.act(case, "approve", "supervisor")
    case = world.act(case, "approve", "sales_manager", {"comment": "ok"})
    assert case.status == "submitted"
    with pytest.raises(DuplicateApproval):
        world.act(case, "approve", "sales_manager")
    case = world.act(case, "approve", "general_manager")
    assert case.status == "approved"
    assert [g["role"] for g in case.approvals["granted"]] == ["sales_manager", "general_manager"]
    case = world.act(case, "ship", "agent")
    assert world.act(case, "deliver", "agent").status == "delivered"
    assert world.clock_state(case, "delivery") == "met"


def test_one_person_may_not_approve_twice(world: World) -> None:
    case = order(world, "50000.01")
    case = world.act(case, "approve", "boss")  # holds both roles; approves as sales_manager
    with pytest.raises(DuplicateApproval):
        world.act(case, "approve", "boss")
    assert world.act(case, "approve", "general_manager").status == "approved"


def test_reject_by_required_approver_only(world: World) -> None:
    case = order(world, "30000.00")
    with pytest.raises(ApprovalNotAllowed):
        world.act(case, "reject", "general_manager", {"reason": "no"})
    assert world.act(case, "reject", "sales_manager", {"reason": "credit limit"}).status == "rejected"


def test_custom_product_needs_deposit(world: World) -> None:
    case = order(world, "1000.00", kind="custom")
    assert case.status == "approved" and "delivery" not in case.clocks
    with pytest.raises(GuardFailed, match="30%"):
        world.act(case, "ship", "agent")
    case = world.act(case, "record_deposit", "agent", {"amount": "200.00"})
    case = world.act(case, "record_deposit", "agent", {"amount": "99.99"})
    assert case.counters["deposit"] == "299.99"
    with pytest.raises(GuardFailed):
        world.act(case, "ship", "agent")
    case = world.act(case, "record_deposit", "agent", {"amount": "0.01"})
    assert world.act(case, "ship", "agent").status == "shipped"


def test_money_is_validated_as_decimal(world: World) -> None:
    for bad in (20000.5, "abc", "1.001", "-5", True, "NaN"):
        with pytest.raises(InvalidFields):
            world.open("order_approval", fields={"amount": bad, "payment_terms": "credit"})
    with pytest.raises(InvalidFields, match="payment_terms"):
        world.open("order_approval", fields={"amount": "10.00"})


def test_repair_order_grab_window_and_rework(world: World) -> None:
    case = world.open("repair_order", fields={"device": "空调", "fault": "不制冷"})
    with pytest.raises(RoleNotAllowed):
        world.act(case, "accept", "agent")
    case = world.act(case, "accept", "technician")
    assert case.assignee == "technician"
    with pytest.raises(AlreadyTaken):
        world.act(case, "accept", "technician2")
    start = world.now + timedelta(days=1)
    with pytest.raises(GuardFailed, match="2 hours"):
        world.act(case, "schedule", "technician", {"window_start": start.isoformat(),
                                                    "window_end": (start + timedelta(hours=3)).isoformat()})
    with pytest.raises(GuardFailed):
        world.act(case, "schedule", "technician", {"window_start": start.isoformat(),
                                                    "window_end": start.isoformat()})
    case = world.act(case, "schedule", "technician", {"window_start": start.isoformat(),
                                                       "window_end": (start + timedelta(hours=2)).isoformat()})
    with pytest.raises(RoleNotAllowed):
        world.act(case, "arrive", "technician2")
    assert world.clock_state(case, "appointment_contact") == "met"
    case = world.act(case, "arrive", "technician")
    case = world.act(case, "quote", "technician", {"amount": "180.00"})
    case = world.act(case, "approve_quote", "agent")
    case = world.act(case, "complete", "technician", {"notes": "replaced compressor"})
    assert case.status == "completed"
    visit = world.linked(case, "return_visit")
    assert visit.clocks["return_visit"]["duration"] == "24h"
    with pytest.raises(GuardFailed):
        world.act(case, "close", "agent")
    # unsatisfied return visit sends the technician back (rework loops to scheduled)
    world.act(visit, "record_outcome", "agent", {"result": "unsatisfied"})
    case = world.case(case.id)
    assert case.status == "scheduled"
    case = world.act(case, "arrive", "technician")
    case = world.act(case, "complete", "technician")
    case = world.act(case, "record_return_visit", "agent", {"result": "satisfied"})
    assert case.fields["return_visit_outcome"] == "satisfied"
    assert world.act(case, "close", "supervisor").status == "closed"


def test_appointment_contact_breach(world: World) -> None:
    case = world.open("repair_order")
    case = world.act(case, "accept", "technician")
    world.advance(hours=3)
    # first_call (5 min after the grab) falls due before appointment_contact (2 h)
    assert world.app.record_breaches(case.id, world.now) == ["first_call", "appointment_contact"]
    # each breach goes one step further up the ladder
    assert [e["to_role"] for e in world.case(case.id).escalations] == ["supervisor", "dept_head"]


def test_inquiry_answer_close_and_convert(world: World) -> None:
    q = world.open("inquiry", fields={"kind": "suggestion", "description": "longer opening hours"})
    q = world.act(q, "answer", "agent", {"answer": "passed on"})
    assert world.clock_state(q, "first_response") == "met"
    assert world.act(q, "close", "agent").status == "closed"
    q2 = world.open("inquiry", fields={"description": "my bill is wrong"})
    with pytest.raises(ActionNotAllowed):
        world.act(q2, "close", "agent")
    q2 = world.act(q2, "convert", "agent", {"reason": "customer wants to complain"})
    assert q2.status == "converted"
    complaint = world.linked(q2, "complaint")
    assert complaint.case_type == "complaint" and complaint.status == "registered"
    assert complaint.fields["description"] == "my bill is wrong"
    assert complaint.links == [{"rel": "origin", "case_id": str(q2.id), "number": q2.number}]
    assert world.app.case_history(complaint.id)[0]["causation_id"] == f"{q2.id}:2"


def test_return_visit_by_hand_and_reschedule(world: World) -> None:
    v = world.open("return_visit", fields={"campaign": "春节回访"})
    due = v.clocks["return_visit"]["due_at"]
    assert datetime.fromisoformat(due) == world.now + timedelta(days=3)
    v = world.act(v, "reschedule", "agent", {"at": (world.now + timedelta(days=1)).isoformat()})
    assert v.clocks["return_visit"]["due_at"] == due
    v = world.act(v, "record_outcome", "supervisor", {"result": "neutral", "score": 3, "improvement": "call at noon"})
    assert v.status == "done" and v.fields["score"] == 3
    with pytest.raises(InvalidFields):
        world.act(world.open("return_visit"), "record_outcome", "agent", {"result": "happy", "score": 9})


def test_importer_supplies_original_time(world: World) -> None:
    from domain.model.actor import CommandContext

    past = world.now - timedelta(days=400)
    importer = world.actor("importer")
    case = world.app.open_case(importer, "complaint", "old case", {"id": "C-0", "name": "老王"},
                               ctx=CommandContext(occurred_at=past))
    assert case.number.startswith("TS-202510-")
    entry = world.app.case_history(case.id)[0]
    assert entry["imported"] is True and entry["occurred_at"] == past.isoformat()
    with pytest.raises(InvalidFields, match="future"):
        world.app.open_case(importer, "complaint", "from the future", {"id": "C-0", "name": "老王"},
                            ctx=CommandContext(occurred_at=world.now + timedelta(days=1)))
    with pytest.raises(RoleNotAllowed, match="importer"):
        world.app.act(world.actor("supervisor"), case.id, "assign", {"assignee": "agent"},
                      ctx=CommandContext(occurred_at=past))

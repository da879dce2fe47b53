"""special_price_request (特价申请, 004 B1): a price below the guide price, and what it costs.

Proves on SQLite and PostgreSQL: a special price is below the guide price and never below
90% of it (最低…指导价X0.9%); the salesperson's commission drops 0.1 point per 1% off and a
wrong cut is refused; up to 5% off the sales manager approves, beyond it the general manager
too, in that order; the salesperson never approves; one request per quotation (422
duplicate, free again once rejected); prices are not corrected after submitting; a decision
late by a working day reaches the general manager.
"""

from __future__ import annotations

from typing import Any

from tests.api_support import ApiWorld

PROBLEM = "https://casetrail.invalid/problems/"
BUYER = {"id": "K-7", "name": "佛山某灯饰厂"}


def request(world: ApiWorld, price: str, cut: str, status: int = 201, quote: str = "BJD-202611-0001",
            **fields: Any) -> dict[str, Any]:
    body = {"quote_ref": quote, "product": "BVR 2.5mm² 电线", "quantity": 500, "guide_price": "100.00",
            "requested_price": price, "commission_cut_pct": cut, "reason": "年度框架客户, 竞品报价更低", **fields}
    return world.open_view("special_price_request", by="seller", customer=BUYER, fields=body, status=status)


def test_up_to_five_percent_off_the_sales_manager_approves(world: ApiWorld) -> None:
    case = request(world, "96.00", "0.40")
    assert case["number"].startswith("TJSQ-202611-")
    out = world.do(case, "approve", "sales_manager", status=422)
    assert out["type"] == PROBLEM + "action-not-allowed"  # submitted first
    case = world.do(case, "submit", "seller")
    assert case["approvals"]["required"] == ["sales_manager"]
    out = world.do(case, "approve", "seller", status=403)
    assert out["type"] == PROBLEM + "approval-not-allowed"
    case = world.do(case, "approve", "sales_manager", comment="同意")
    assert case["status"] == "approved"
    assert world.clock(case, "decision")["state"] == "met"


def test_more_than_five_percent_off_needs_the_general_manager_after_the_sales_manager(world: ApiWorld) -> None:
    case = request(world, "94.99", "0.50")  # 5.01% off: cut 0.501 -> 0.50
    case = world.do(case, "submit", "seller")
    assert case["approvals"]["required"] == ["sales_manager", "general_manager"]
    out = world.do(case, "approve", "general_manager", status=403)
    assert out["type"] == PROBLEM + "approval-not-allowed"
    case = world.do(case, "approve", "sales_manager")
    assert case["status"] == "submitted"
    case = world.do(case, "approve", "general_manager")
    assert case["status"] == "approved"
    edge = request(world, "95.00", "0.50", quote="BJD-202611-0002")  # exactly 5%: the sales manager alone
    assert world.do(edge, "submit", "seller")["approvals"]["required"] == ["sales_manager"]


def test_the_price_floor_and_the_commission_cut(world: ApiWorld) -> None:
    out = request(world, "89.99", "1.00", status=422)
    assert out["type"] == PROBLEM + "invalid-fields"
    assert out["errors"][0]["field"] == "requested_price"
    assert "90%" in out["detail"]
    assert request(world, "90.00", "1.00")["status"] == "draft"  # the floor itself
    out = request(world, "100.00", "0.00", status=422, quote="BJD-202611-0003")
    assert "below the guide price" in out["detail"]
    out = request(world, "97.30", "0.30", status=422, quote="BJD-202611-0003")
    assert out["errors"][0]["field"] == "commission_cut_pct"
    assert "提成降0.1%" in out["detail"]
    assert request(world, "97.30", "0.27", quote="BJD-202611-0003")["status"] == "draft"
    out = request(world, "95.00", "1.50", status=422, quote="BJD-202611-0004")
    assert out["errors"][0]["field"] == "commission_cut_pct"  # more than the field allows


def test_one_request_per_quotation(world: ApiWorld) -> None:
    first = request(world, "96.00", "0.40")
    out = request(world, "95.00", "0.50", status=422)
    assert out["type"] == PROBLEM + "duplicate"
    assert out["other_case"]["number"] == first["number"]
    world.do(first, "submit", "seller")
    out = world.do(first, "reject", "seller", status=403, reason="x")
    assert out["type"] == PROBLEM + "approval-not-allowed"
    world.do(first, "reject", "sales_manager", reason="价格低于区域底价")
    assert request(world, "98.00", "0.20")["status"] == "draft"


def test_prices_are_corrected_only_before_submitting(world: ApiWorld) -> None:
    case = request(world, "96.00", "0.40")
    out = world.do(case, "correct_field", "sales_manager", status=422, field="requested_price", value="80.00",
                   reason="x")
    assert out["type"] == PROBLEM + "invalid-fields"  # the floor holds for corrections too
    case = world.do(case, "correct_field", "sales_manager", field="commission_cut_pct", value="0.40",
                    reason="核对")
    world.do(case, "submit", "seller")
    out = world.do(case, "correct_field", "sales_manager", status=422, field="requested_price", value="92.00",
                   reason="客户再压价")
    assert out["type"] == PROBLEM + "action-not-allowed"


def test_a_late_decision_reaches_the_general_manager(world: ApiWorld) -> None:
    case = request(world, "96.00", "0.40")
    world.do(case, "submit", "seller")
    world.advance(days=1)
    assert world.app.record_breaches(case["id"]) == []
    world.advance(minutes=1)
    assert world.app.record_breaches(case["id"]) == ["decision"]
    esc = world.show(case)["escalations"][-1]
    # the first active general manager of the sales department: the roster's "boss"
    assert (esc["to_role"], esc["to_staff"], esc["clock"]) == ("general_manager", "boss", "decision")

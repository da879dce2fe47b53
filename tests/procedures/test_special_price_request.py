"""special_price_request (特价申请, 004 B1): a price below the guide price, and what it costs.

Proves on SQLite and PostgreSQL: a special price is below the guide price and never below
90% of it (最低…指导价X0.9%), also when corrected; submitting (only by the salesperson who
asked) computes the discount and the commission cut, 0.1 point per 1% off, rounded half up,
which nobody may give by hand; up to 5% off the sales manager approves, beyond it the
general manager too, in that order; the salesperson never approves; one request per
quotation (422 duplicate, free again once rejected); prices are not corrected after
submitting; a decision late by a working day reaches the general manager.
"""

from __future__ import annotations

from typing import Any

from tests.api_support import ApiWorld

PROBLEM = "https://casetrail.invalid/problems/"
BUYER = {"id": "K-7", "name": "佛山某灯饰厂"}


def request(world: ApiWorld, price: str, status: int = 201, quote: str = "BJD-202611-0001",
            **fields: Any) -> dict[str, Any]:
    body = {"quote_ref": quote, "product": "BVR 2.5mm² 电线", "quantity": 500, "guide_price": "100.00",
            "requested_price": price, "reason": "年度框架客户, 竞品报价更低", **fields}
    return world.open_view("special_price_request", by="seller", customer=BUYER, fields=body, status=status)


def test_up_to_five_percent_off_the_sales_manager_approves(world: ApiWorld) -> None:
    case = request(world, "96.00")
    assert case["number"].startswith("TJSQ-202611-")
    assert "commission_cut_pct" not in case["fields"]
    out = world.do(case, "approve", "sales_manager", status=422)
    assert out["type"] == PROBLEM + "action-not-allowed"  # submitted first
    out = world.do(case, "submit", "seller2", status=403)
    assert out["type"] == PROBLEM + "forbidden"  # only the salesperson who asked
    case = world.do(case, "submit", "seller")
    assert (case["fields"]["discount_pct"], case["fields"]["commission_cut_pct"]) == ("4.00", "0.40")
    assert case["approvals"]["required"] == ["sales_manager"]
    out = world.do(case, "approve", "seller", status=403)
    assert out["type"] == PROBLEM + "approval-not-allowed"
    case = world.do(case, "approve", "sales_manager", comment="同意")
    assert case["status"] == "approved"
    assert world.clock(case, "decision")["state"] == "met"


def test_more_than_five_percent_off_needs_the_general_manager_after_the_sales_manager(world: ApiWorld) -> None:
    case = world.do(request(world, "94.99"), "submit", "seller")  # 5.01% off
    assert (case["fields"]["discount_pct"], case["fields"]["commission_cut_pct"]) == ("5.01", "0.50")
    assert case["approvals"]["required"] == ["sales_manager", "general_manager"]
    out = world.do(case, "approve", "general_manager", status=403)
    assert out["type"] == PROBLEM + "approval-not-allowed"
    case = world.do(case, "approve", "sales_manager")
    assert case["status"] == "submitted"
    case = world.do(case, "approve", "general_manager")
    assert case["status"] == "approved"
    edge = request(world, "95.00", quote="BJD-202611-0002")  # exactly 5%: the sales manager alone
    assert world.do(edge, "submit", "seller")["approvals"]["required"] == ["sales_manager"]


def test_the_commission_cut_is_a_tenth_of_the_discount_rounded_half_up(world: ApiWorld) -> None:
    for i, (price, guide, discount, cut) in enumerate([
            ("97.30", "100.00", "2.70", "0.27"), ("96.55", "100.00", "3.45", "0.35"),
            ("90.00", "100.00", "10.00", "1.00"), ("163.00", "168.00", "2.98", "0.30")]):
        case = request(world, price, quote=f"BJD-202611-01{i}", guide_price=guide)
        case = world.do(case, "submit", "seller")
        assert (case["fields"]["discount_pct"], case["fields"]["commission_cut_pct"]) == (discount, cut), price
    out = request(world, "95.00", status=422, quote="BJD-202611-0200", commission_cut_pct="0.10")
    assert [e["field"] for e in out["errors"]] == ["fields.commission_cut_pct"]  # never given by hand


def test_the_price_floor(world: ApiWorld) -> None:
    out = request(world, "89.99", status=422)
    assert out["type"] == PROBLEM + "invalid-fields"
    assert out["errors"][0]["field"] == "requested_price"
    assert "90%" in out["detail"]
    assert request(world, "90.00")["status"] == "draft"  # the floor itself
    out = request(world, "100.00", status=422, quote="BJD-202611-0003")
    assert "below the guide price" in out["detail"]


def test_one_request_per_quotation(world: ApiWorld) -> None:
    first = request(world, "96.00")
    out = request(world, "95.00", status=422)
    assert out["type"] == PROBLEM + "duplicate"
    assert out["other_case"]["number"] == first["number"]
    world.do(first, "submit", "seller")
    out = world.do(first, "reject", "seller", status=403, reason="x")
    assert out["type"] == PROBLEM + "approval-not-allowed"
    world.do(first, "reject", "sales_manager", reason="价格低于区域底价")
    assert request(world, "98.00")["status"] == "draft"


def test_prices_are_corrected_only_before_submitting(world: ApiWorld) -> None:
    case = request(world, "96.00")
    out = world.do(case, "correct_field", "sales_manager", status=422, field="requested_price", value="80.00",
                   reason="x")
    assert out["type"] == PROBLEM + "invalid-fields"  # the floor holds for corrections too
    case = world.do(case, "correct_field", "sales_manager", field="requested_price", value="92.00",
                    reason="客户再压价")
    case = world.do(case, "submit", "seller")
    assert case["approvals"]["required"] == ["sales_manager", "general_manager"]
    out = world.do(case, "correct_field", "sales_manager", status=422, field="requested_price", value="96.00",
                   reason="x")
    assert out["type"] == PROBLEM + "action-not-allowed"


def test_a_late_decision_reaches_the_general_manager(world: ApiWorld) -> None:
    case = request(world, "96.00")
    world.do(case, "submit", "seller")
    world.advance(days=1)
    assert world.app.record_breaches(case["id"]) == []
    world.advance(minutes=1)
    assert world.app.record_breaches(case["id"]) == ["decision"]
    esc = world.show(case)["escalations"][-1]
    # the first active general manager of the sales department: the roster's "boss"
    assert (esc["to_role"], esc["to_staff"], esc["clock"]) == ("general_manager", "boss", "decision")

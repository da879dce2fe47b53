"""quotation (报价, 004 B1; 002 A15): the price rules of a quote, through the HTTP API.

Proves on SQLite and PostgreSQL: a listed product is priced from the list by the
salesperson, a custom, non-standard or harness product only by finance (按财务部提供指导价);
a quote below the guide price is refused unless it names an approved special price, the
customer takes no VAT invoice and it is at most 6% off, or the product is 国标 (the
salesperson decides); with a fee of x% the price must be guide / (1 - x%) to the fen; prices
are never given by hand nor corrected, and a sent quote not at all (电子报价单内不能修改); a
non-standard or harness quote not sent within 24 hours reaches the sales manager.
"""

from __future__ import annotations

from typing import Any

from tests.api_support import ApiWorld

PROBLEM = "https://casetrail.invalid/problems/"
BUYER = {"id": "K-7", "name": "佛山某灯饰厂", "phone": "0757-8888001"}


def quotation(world: ApiWorld, kind: str = "standard", customer: Any = None, **fields: Any) -> dict[str, Any]:
    body = {"product_kind": kind, "product": "BVR 2.5mm² 电线", "quantity": 200, **fields}
    return world.open_view("quotation", by="seller", customer=customer or BUYER, fields=body)


def priced(world: ApiWorld, guide: str = "100.00", kind: str = "standard", customer: Any = None) -> dict[str, Any]:
    case = quotation(world, kind, customer)
    return world.do(case, "price_from_list", "seller", guide_price=guide)


def test_a_listed_product_is_priced_from_the_list_quoted_and_accepted(world: ApiWorld) -> None:
    case = quotation(world)
    assert case["number"].startswith("BJD-202611-")
    assert case["clocks"] == []  # listed products are quoted on the spot
    case = world.do(case, "price_from_list", "seller", guide_price="100.00")
    assert (case["status"], case["fields"]["guide_price_source"]) == ("priced", "price_list")
    case = world.do(case, "quote", "seller", quoted_price="100.00")
    assert (case["status"], case["fields"]["quoted_price"]) == ("quoted", "100.00")
    case = world.do(case, "accept", "seller", order_ref="DD-202611-0031")
    assert case["status"] == "accepted"


def test_an_unlisted_product_is_priced_by_finance_within_24_hours(world: ApiWorld) -> None:
    case = quotation(world, "harness", product="定制线束 HX-12")
    assert world.clock(case, "quote")["due_at"].startswith("2026-11-17T10:00")
    out = world.do(case, "price_from_list", "seller", status=422, guide_price="38.00")
    assert out["type"] == PROBLEM + "guard-failed"
    assert "按财务部提供指导价报价" in out["detail"]
    out = world.do(case, "provide_guide_price", "seller", status=403, guide_price="38.00")
    assert (out["type"], out["allowed_roles"]) == (PROBLEM + "forbidden", ["finance_director"])
    case = world.do(case, "provide_guide_price", "finance_director", guide_price="38.00")
    assert (case["status"], case["fields"]["guide_price_source"]) == ("priced", "finance")
    world.advance(hours=5)
    case = world.do(case, "quote", "seller", quoted_price="38.00")
    assert world.clock(case, "quote")["state"] == "met"
    custom = quotation(world, "custom")
    assert world.clock(custom, "quote")["duration"] == "1wd"


def test_below_the_guide_price_needs_a_special_price_a_no_vat_customer_or_a_national_standard_product(
        world: ApiWorld) -> None:
    case = priced(world)
    out = world.do(case, "quote", "seller", status=422, quoted_price="99.99")
    assert out["type"] == PROBLEM + "invalid-fields"
    assert out["errors"][0]["field"] == "quoted_price"
    assert "申请特价" in out["detail"]
    assert world.do(case, "quote", "seller", quoted_price="90.00",
                    special_price_ref="TJSQ-202611-0002")["status"] == "quoted"
    no_vat = {**BUYER, "id": "K-8", "vat_invoice": False}
    case = priced(world, customer=no_vat)
    out = world.do(case, "quote", "seller", status=422, quoted_price="93.99")
    assert out["errors"][0]["field"] == "quoted_price"
    assert world.do(case, "quote", "seller", quoted_price="94.00")["status"] == "quoted"  # 最多下浮6%
    case = priced(world, kind="national_standard")
    assert world.do(case, "quote", "seller", quoted_price="80.00")["status"] == "quoted"


def test_a_fee_is_built_into_the_price(world: ApiWorld) -> None:
    case = priced(world)
    for wrong in ("105.00", "105.27", "100.00"):
        out = world.do(case, "quote", "seller", status=422, quoted_price=wrong, fee_pct="5.00")
        assert out["type"] == PROBLEM + "invalid-fields"
        assert "指导价格/(1-x%)" in out["detail"]
    case = world.do(case, "quote", "seller", quoted_price="105.26", fee_pct="5.00")  # 100 / 0.95
    assert case["fields"]["fee_pct"] == "5.00"


def test_prices_come_only_from_the_actions_and_a_sent_quote_is_never_corrected(world: ApiWorld) -> None:
    out = world.open_view("quotation", by="seller", customer=BUYER, status=422, fields={
        "product_kind": "custom", "product": "x", "quantity": 1, "guide_price": "10.00",
        "guide_price_source": "finance"})
    assert sorted(e["field"] for e in out["errors"]) == ["fields.guide_price", "fields.guide_price_source"]
    case = priced(world)
    out = world.do(case, "correct_field", "supervisor", status=422, field="guide_price", value="90.00",
                   reason="x")
    assert out["type"] == PROBLEM + "invalid-fields"  # a price is never corrected
    out = world.do(case, "correct_field", "agent", status=403, field="quantity", value="300", reason="x")
    assert out["type"] == PROBLEM + "forbidden"
    case = world.do(case, "correct_field", "supervisor", field="quantity", value="300", reason="客户加量")
    assert case["fields"]["quantity"] == 300
    case = world.do(case, "quote", "seller", quoted_price="100.00")
    out = world.do(case, "correct_field", "supervisor", status=422, field="quantity", value="200",
                   reason="客户减量")
    assert out["type"] == PROBLEM + "action-not-allowed"
    assert world.show(case)["fields"]["quantity"] == 300
    out = world.do(case, "decline", "seller", status=422)
    assert [e["field"] for e in out["errors"]] == ["reason"]
    assert world.do(case, "decline", "seller", reason="客户选了别家")["status"] == "declined"


def test_a_non_standard_quote_late_by_24_hours_reaches_the_sales_manager(world: ApiWorld) -> None:
    case = quotation(world, "non_standard", product="非国标 RVV 3×1.0")
    world.advance(hours=24)
    assert world.app.record_breaches(case["id"]) == []
    world.advance(minutes=1)
    assert world.app.record_breaches(case["id"]) == ["quote"]
    esc = world.show(case)["escalations"][-1]
    # the first active sales manager of the sales department (the roster's "boss" holds the role too)
    assert (esc["to_role"], esc["to_staff"], esc["clock"]) == ("sales_manager", "boss", "quote")
    world.do(case, "provide_guide_price", "finance_director", guide_price="12.50")
    case = world.do(case, "quote", "seller", quoted_price="12.50")
    assert world.clock(case, "quote")["state"] == "breached"

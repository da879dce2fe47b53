"""vat_invoice_request (增值税发票申请, 004 B1): a VAT invoice only from 5,000.00, accumulated.

Proves on SQLite and PostgreSQL: a salesperson records the customer's sales on one request;
below 5,000.00 no VAT invoice can be issued (a general one can), at 5,000.00 accumulated
the request is eligible and the cashier issues it; one accumulating request per customer
(a second is a 422 duplicate naming it, allowed again once the first is issued); only the
cashier issues and only issuing sets the invoice number; invoice numbers and tax ids are
checked; an eligible request not issued within 3 working days reaches the finance director.
"""

from __future__ import annotations

from typing import Any

from tests.api_support import ApiWorld

PROBLEM = "https://casetrail.invalid/problems/"
BUYER = {"id": "K-88", "name": "广州某电器有限公司", "tax_id": "91440101MA59XXXX0Q"}


def request(world: ApiWorld, customer: Any = None, status: int = 201) -> dict[str, Any]:
    return world.open_view("vat_invoice_request", by="seller", customer=customer or BUYER,
                           fields={"invoice_title": "广州某电器有限公司"}, status=status)


def test_sales_accumulate_to_five_thousand_then_the_vat_invoice_is_issued(world: ApiWorld) -> None:
    case = request(world)
    assert case["number"].startswith("ZZFP-202611-")
    assert case["status"] == "accumulating"
    case = world.do(case, "add_sale", "seller", order_ref="DD-202611-0001", amount="3000.00")
    assert (case["status"], case["counters"]["invoiceable"]) == ("accumulating", "3000.00")
    out = world.do(case, "issue_vat", "cashier", status=422, invoice_number="04412345")
    assert out["type"] == PROBLEM + "action-not-allowed"
    case = world.do(case, "add_sale", "seller2", order_ref="DD-202611-0002", amount="1999.99")
    assert (case["status"], case["counters"]["invoiceable"]) == ("accumulating", "4999.99")
    case = world.do(case, "add_sale", "seller", order_ref="DD-202611-0003", amount="0.01")
    assert (case["status"], case["counters"]["invoiceable"]) == ("eligible", "5000.00")
    case = world.do(case, "add_sale", "seller", order_ref="DD-202611-0004", amount="800.00")
    assert (case["status"], case["counters"]["invoiceable"]) == ("eligible", "5800.00")
    out = world.do(case, "issue_vat", "seller", status=403, invoice_number="04412345")
    assert (out["type"], out["allowed_roles"]) == (PROBLEM + "forbidden", ["cashier"])
    out = world.do(case, "issue_vat", "cashier", status=422, invoice_number="0441-2345")
    assert [e["field"] for e in out["errors"]] == ["invoice_number"]
    case = world.do(case, "issue_vat", "cashier", invoice_number="04412345")
    assert (case["status"], case["fields"]["invoice_number"]) == ("issued", "04412345")
    assert world.clock(case, "issue")["state"] == "met"


def test_below_five_thousand_the_customer_may_take_a_general_invoice(world: ApiWorld) -> None:
    case = request(world)
    world.do(case, "add_sale", "seller", order_ref="DD-202611-0009", amount="1200.00")
    case = world.do(case, "issue_general", "cashier", invoice_number="12345678")
    assert case["status"] == "general_issued"
    assert [c["name"] for c in case["clocks"]] == []  # never eligible: no issuing clock


def test_one_accumulating_request_per_customer(world: ApiWorld) -> None:
    first = request(world)
    out = request(world, status=422)
    assert out["type"] == PROBLEM + "duplicate"
    assert out["other_case"]["number"] == first["number"]
    assert request(world, customer={**BUYER, "id": "K-89"})["status"] == "accumulating"
    world.do(first, "add_sale", "seller", order_ref="DD-202611-0010", amount="5000.00")
    out = request(world, status=422)  # eligible still holds the customer
    assert out["other_case"]["number"] == first["number"]
    world.do(first, "issue_vat", "cashier", invoice_number="04412346")
    assert request(world)["status"] == "accumulating"


def test_invalid_tax_ids_and_sales_are_refused(world: ApiWorld) -> None:
    out = request(world, customer={**BUYER, "tax_id": "914401-01"}, status=422)
    assert out["type"] == PROBLEM + "invalid-fields"
    assert [e["field"] for e in out["errors"]] == ["customer.tax_id"]
    out = world.open_view("vat_invoice_request", by="seller", customer=BUYER, status=422,
                          fields={"invoice_title": "x", "invoice_number": "04412345"})
    assert [e["field"] for e in out["errors"]] == ["fields.invoice_number"]  # only issuing sets it
    case = request(world)
    out = world.do(case, "add_sale", "seller", status=422, amount="-5.00")
    assert sorted(e["field"] for e in out["errors"]) == ["amount", "order_ref"]
    out = world.do(case, "cancel", "seller", status=422)
    assert [e["field"] for e in out["errors"]] == ["reason"]
    assert world.do(case, "cancel", "sales_manager", reason="客户改开普票")["status"] == "cancelled"


def test_an_eligible_request_not_issued_in_three_working_days_reaches_the_finance_director(
        world: ApiWorld) -> None:
    case = request(world)
    case = world.do(case, "add_sale", "seller", order_ref="DD-202611-0011", amount="6200.00")
    assert world.clock(case, "issue")["due_at"].startswith("2026-11-19T10:00")  # Monday 10:00 + 3wd
    world.advance(days=3)
    assert world.app.record_breaches(case["id"]) == []
    world.advance(minutes=1)
    assert world.app.record_breaches(case["id"]) == ["issue"]
    esc = world.show(case)["escalations"][-1]
    assert (esc["to_role"], esc["to_staff"], esc["clock"]) == ("finance_director", "finance_director", "issue")

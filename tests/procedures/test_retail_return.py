"""retail_return (退换货, 000 A§13) through the HTTP API, on both databases.

A return is handled by tender: a stored-value card refund names the card
used (「消费时使用的储值卡」), a bank-card refund the UnionPay reference
number and transaction date (「参考号、交易日期、退款金额」), each a 422
without; after the refund voucher is printed, a bank-card refund closes
only once the customer signed the merchant stub (「商户存根」), a cash one at
once. Only a supervisor rejects; a refund not made within a day is breached.
"""

from __future__ import annotations

from tests.api_support import ApiWorld

SHOPPER = {"name": "李女士", "phone": "13500135000"}


def open_return(world: ApiWorld, status: int = 201, **fields: str) -> dict:
    return world.open_view("retail_return", customer=SHOPPER, status=status,
                           fields={"invoice_no": "FP-001", "amount": "299.00", **fields})


def test_each_tender_needs_its_own_evidence(world: ApiWorld) -> None:
    card = open_return(world, 422, tender="stored_value")
    assert [e["field"] for e in card["errors"]] == ["stored_value_card"]
    bank = open_return(world, 422, tender="bank_card", reference_no="123456")
    assert [e["field"] for e in bank["errors"]] == ["reference_no"]
    assert open_return(world, tender="stored_value", stored_value_card="CZ-202611-0001")["status"] == "requested"
    world.open_view("retail_return", customer=SHOPPER, fields={"tender": "cash", "amount": "1.00"}, status=422)


def test_a_bank_card_refund_closes_after_the_signature_and_cash_at_once(world: ApiWorld) -> None:
    bank = open_return(world, tender="bank_card", reference_no="889900112233", transaction_date="2026-11-15")
    bank = world.do(bank, "verify", "agent")
    bank = world.do(bank, "refund", "agent", voucher_no="TK-0001")
    refused = world.do(bank, "close", "agent", status=422)
    assert "商户存根" in refused["detail"]
    bank = world.do(world.do(bank, "customer_signs", "agent"), "close", "agent")
    assert bank["status"] == "closed" and bank["fields"]["customer_signed"] is True

    cash = open_return(world, tender="cash")
    cash = world.do(world.do(world.do(cash, "verify", "agent"), "refund", "agent", voucher_no="TK-0002"), "close", "agent")
    assert cash["status"] == "closed"

    late = open_return(world, tender="cash")
    world.do(late, "reject", "agent", status=403, reason="x")
    world.advance(days=1, minutes=1)
    assert world.app.record_breaches(late["id"]) == ["refund"]
    assert world.do(late, "reject", "supervisor", reason="超过退货期限")["status"] == "rejected"

"""large_cash_notice (大额现金支出通知, 004 B3): a cash payment over 10,000.00 announced to finance.

Proves on SQLite and PostgreSQL: any employee gives the notice, only for more than
10,000.00 and at least three days before the pay day (also when corrected); the cashier
acknowledges it, draws the cash and pays it out against the payment request; only the finance director cancels; one notice per payment (a second is
a 422 duplicate naming the first, also once it is paid out; free again once the first
is cancelled); finance has
until 09:00 on the pay day to have the cash ready: a late acknowledgement reaches the
finance director and a late preparation climbs the ladder to the general manager.
"""

from __future__ import annotations

from typing import Any

from tests.api_support import ApiWorld

PROBLEM = "https://casetrail.invalid/problems/"


def notice(world: ApiWorld, by: str = "seller", status: int = 201, **fields: Any) -> dict[str, Any]:
    body = {"amount": "36000.00", "pay_on": "2026-11-19", "payment_ref": "FKBX-202611-0007",
            "purpose": "展会现场搭建尾款 (现金)", **fields}
    return world.open_view("large_cash_notice", by=by, fields=body, customer={}, status=status)


def test_the_notice_is_acknowledged_the_cash_drawn_and_paid_out(world: ApiWorld) -> None:
    case = notice(world)
    assert case["number"].startswith("DEXJ-202611-")
    assert (case["status"], case["department"]) == ("notified", "finance")
    case = world.do(case, "acknowledge", "cashier", comment="周五上午备款")
    assert case["status"] == "acknowledged"
    case = world.do(case, "prepare_cash", "cashier", withdrawal_ref="工行取现 0031")
    assert (case["status"], case["fields"]["withdrawal_ref"]) == ("cash_ready", "工行取现 0031")
    case = world.do(case, "disburse", "cashier", payment_ref="FKBX-202611-0007")
    assert case["status"] == "disbursed"
    assert world.clock(case, "acknowledgement")["state"] == "met"
    assert world.clock(case, "preparation")["state"] == "met"


def test_only_more_than_ten_thousand_and_only_finance_acts(world: ApiWorld) -> None:
    out = notice(world, status=422, amount="10000.00", pay_on="2026-11-31")
    assert out["type"] == PROBLEM + "invalid-fields"
    assert sorted(e["field"] for e in out["errors"]) == ["fields.amount", "fields.pay_on"]
    out = notice(world, status=422, pay_on="2026-11-18")  # Monday for Wednesday: two days only
    assert [e["field"] for e in out["errors"]] == ["pay_on"]
    assert "提前三天" in out["detail"]
    case = notice(world, amount="10000.01")
    out = world.do(case, "acknowledge", "seller", status=403)
    assert (out["type"], out["allowed_roles"]) == (PROBLEM + "forbidden", ["cashier"])
    out = world.do(case, "prepare_cash", "cashier", status=422, withdrawal_ref="x")
    assert out["type"] == PROBLEM + "action-not-allowed"  # acknowledged first
    world.do(case, "acknowledge", "cashier")
    out = world.do(case, "prepare_cash", "cashier", status=422)
    assert [e["field"] for e in out["errors"]] == ["withdrawal_ref"]
    out = world.do(case, "cancel", "cashier", status=403, reason="x")
    assert out["type"] == PROBLEM + "forbidden"
    assert world.do(case, "cancel", "finance_director", reason="改为银行转账")["status"] == "cancelled"


def test_one_notice_per_payment(world: ApiWorld) -> None:
    first = notice(world)
    out = notice(world, by="agent", status=422)
    assert out["type"] == PROBLEM + "duplicate"
    assert out["other_case"]["number"] == first["number"]
    assert notice(world, payment_ref="FKBX-202611-0008")["status"] == "notified"
    world.do(first, "cancel", "finance_director", reason="付款取消")
    again = notice(world, by="agent")
    assert again["status"] == "notified"
    # paying out against a payment that another notice holds is refused too
    world.do(again, "acknowledge", "cashier")
    world.do(again, "prepare_cash", "cashier", withdrawal_ref="工行取现 0032")
    out = world.do(again, "disburse", "cashier", status=422, payment_ref="FKBX-202611-0008")
    assert out["type"] == PROBLEM + "duplicate"
    paid = world.do(again, "disburse", "cashier", payment_ref="FKBX-202611-0007")
    assert paid["status"] == "disbursed"
    # a payment paid out in cash is paid once: it still holds its payment
    out = notice(world, by="agent", status=422)
    assert out["other_case"]["number"] == again["number"]


def test_a_pay_day_moved_forward_still_needs_three_days(world: ApiWorld) -> None:
    case = notice(world)
    out = world.do(case, "correct_field", "supervisor", status=422, field="pay_on", value="2026-11-17",
                   reason="供应商要求提前")
    assert [e["field"] for e in out["errors"]] == ["pay_on"]
    case = world.do(case, "correct_field", "supervisor", field="pay_on", value="2026-11-23", reason="延期")
    assert world.clock(case, "preparation")["due_at"].startswith("2026-11-23T09:00")  # the deadline moves


def test_late_acknowledgement_and_late_preparation_climb_the_ladder(world: ApiWorld) -> None:
    case = notice(world)  # Monday 10:00, to be paid Thursday
    assert world.clock(case, "acknowledgement")["due_at"].startswith("2026-11-17T10:00")
    assert world.clock(case, "preparation")["due_at"].startswith("2026-11-19T09:00")
    world.advance(days=1, minutes=1)
    assert world.app.record_breaches(case["id"]) == ["acknowledgement"]
    esc = world.show(case)["escalations"]
    assert [(e["to_role"], e["to_staff"]) for e in esc] == [("finance_director", "finance_director")]
    world.do(case, "acknowledge", "cashier")
    world.advance(days=1, hours=22, minutes=58)  # Thursday 08:59
    assert world.app.record_breaches(case["id"]) == []
    world.advance(minutes=2)
    assert world.app.record_breaches(case["id"]) == ["preparation"]
    esc = world.show(case)["escalations"]
    assert esc[-1]["to_role"] == "general_manager"
    assert esc[-1]["clock"] == "preparation"
    assert world.app.record_breaches(case["id"]) == []  # once per clock

"""stored_value_card (储值卡, 000 A§13) through the HTTP API, on both databases.

A stored-value card needs the household's membership card (422
``prerequisite-missing`` without one, or once that card is cancelled); it is
entered, topped up, and the day's sales are handed over to finance by the
end of the next working day (「当天所售金额需在第二天与财务部交接对账」),
with the finance receipt kept; a late hand-over is breached and escalated.
"""

from __future__ import annotations

from datetime import datetime

from tests.api_support import ApiWorld
from tests.support import SHANGHAI

HOUSEHOLD = {"name": "王芳", "phone": "13800138000", "household_address": "幸福小区3栋2单元501"}


def test_a_card_needs_the_households_membership_card_and_is_reconciled_next_working_day(world: ApiWorld) -> None:
    missing = world.open_view("stored_value_card", customer=HOUSEHOLD, fields={"membership_card": "HY-1"},
                              status=422)
    assert missing["type"].endswith("/prerequisite-missing")
    member = world.open_view("membership_card", customer=HOUSEHOLD, fields={"signed": True})
    card = world.open_view("stored_value_card", customer=HOUSEHOLD, fields={"membership_card": member["number"]})
    assert card["number"] == "CZ-202611-0001"
    world.do(card, "enter_info", "technician", status=403)
    card = world.do(card, "enter_info", "agent")
    world.do(card, "top_up", "agent", status=422, amount="0.00")
    card = world.do(card, "top_up", "agent", amount="1000.00")
    assert card["fields"]["amount"] == "1000.00"
    assert world.clock(card, "reconciliation")["due_at"] == "2026-11-17T18:00:00+08:00"  # Monday -> Tuesday 18:00
    world.now = datetime(2026, 11, 17, 18, 1, tzinfo=SHANGHAI)
    assert world.app.record_breaches(card["id"]) == ["reconciliation"]
    assert world.show(card)["escalations"][0]["to_role"] == "supervisor"
    card = world.do(card, "reconcile", "cashier", receipt_no="CW-20261117-08")
    assert card["status"] == "reconciled" and card["fields"]["receipt_no"] == "CW-20261117-08"

    world.do(member, "cancel", "supervisor", reason="搬家")
    again = world.open_view("stored_value_card", customer=HOUSEHOLD, fields={"membership_card": member["number"]},
                            status=422)
    assert again["type"].endswith("/prerequisite-missing")  # the household holds no card any more


def test_a_top_up_on_a_friday_is_reconciled_on_monday(world: ApiWorld) -> None:
    world.open_view("membership_card", customer=HOUSEHOLD)
    world.now = datetime(2026, 11, 20, 15, 0, tzinfo=SHANGHAI)
    card = world.open_view("stored_value_card", customer=HOUSEHOLD, fields={"membership_card": "HY-202611-0001"})
    card = world.do(world.do(card, "enter_info", "agent"), "top_up", "agent", amount="200.00")
    assert world.clock(card, "reconciliation")["due_at"] == "2026-11-23T18:00:00+08:00"
    world.do(card, "cancel", "supervisor", status=422, reason="x")  # topped up: no longer cancellable

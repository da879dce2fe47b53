"""referral_registration (员工介绍客户登记, 003 §7.1) through the HTTP API, on both databases.

Any employee registers a customer before the first visit (the appointment
must be in the future); the first registration for a phone wins (422
``duplicate``). The referrer or a project manager confirms the visit; a
project manager validates, hands over to a salesperson (who becomes the
assignee) and closes the deal, which splits the commission 30 / 70 exactly
(「成交傭金的30%為介紹人的傭金,70%為接待客戶的售樓員的傭金」). A customer
who does not come on the appointed day: at 24:00 the system moves the
registration to ``expired`` (「介紹登記失效」) without escalating, and the
customer may be registered again.
"""

from __future__ import annotations

from datetime import datetime

from tests.api_support import ApiWorld
from tests.support import SHANGHAI

BUYER = {"name": "陈先生", "phone": "13712345678"}


def register(world: ApiWorld, by: str = "seller", at: str = "2026-11-18T15:00:00+08:00", status: int = 201) -> dict:
    return world.open_view("referral_registration", by=by, customer=BUYER, fields={"appointment_at": at},
                           status=status)


def test_a_referral_from_registration_to_the_commission_split(world: ApiWorld) -> None:
    case = register(world)
    assert case["number"] == "JS-202611-0001"
    dup = register(world, by="agent", status=422)
    assert dup["type"].endswith("/duplicate") and dup["other_case"]["number"] == case["number"]

    world.do(case, "confirm_visit", "seller2", status=403)  # neither the referrer nor a project manager
    case = world.do(case, "confirm_visit", "seller")  # the referrer
    assert case["status"] == "visited" and world.clock(case, "visit")["state"] == "met"
    world.do(case, "validate", "seller", status=403)
    case = world.do(case, "validate", "project_manager")
    world.do(case, "hand_over", "project_manager", status=422, salesperson="nobody")
    case = world.do(case, "hand_over", "project_manager", salesperson="seller2")
    assert case["assignee"] == "seller2" and case["status"] == "handed_over"
    case = world.do(case, "close_deal", "project_manager", commission="10000.01")
    assert case["status"] == "closed"
    assert (case["fields"]["referrer_commission"], case["fields"]["sales_commission"]) == ("3000.00", "7000.01")
    assert register(world, by="agent")["status"] == "registered"  # a closed registration no longer holds the phone


def test_a_no_show_expires_the_registration_at_midnight_and_frees_the_customer(world: ApiWorld) -> None:
    past = register(world, at="2026-11-16T09:00:00+08:00", status=422)  # before now: after the first visit
    assert [e["field"] for e in past["errors"]] == ["appointment_at"]
    case = register(world)
    assert world.clock(case, "visit")["due_at"] == "2026-11-19T00:00:00+08:00"
    world.now = datetime(2026, 11, 18, 23, 59, tzinfo=SHANGHAI)
    assert world.app.record_breaches(case["id"]) == []
    world.now = datetime(2026, 11, 19, 0, 1, tzinfo=SHANGHAI)
    assert world.app.record_breaches(case["id"]) == ["visit"]
    case = world.show(case)
    assert case["status"] == "expired" and case["escalations"] == []
    world.do(case, "confirm_visit", "seller", status=422)
    again = register(world, at="2026-11-20T10:00:00+08:00")  # 「介紹登記失效」: registered anew
    assert again["status"] == "registered"

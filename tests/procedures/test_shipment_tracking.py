"""shipment_tracking (货物追踪, 000 A§16/A§19) through the HTTP API, on both databases.

The first tracking is due at 14:00 the day after the goods were shipped
(「当货物中转发运后次日,下午14:00后」), stopped by logging the tracking or
confirming delivery; an exception is settled by 12:00 of the next working
day (「中午之前落实」: reported on a Friday, due Monday noon), stopped when a
supervisor resolves it. Missing either is breached and escalated.
"""

from __future__ import annotations

from datetime import datetime

from tests.api_support import ApiWorld
from tests.support import SHANGHAI

SHIPPER = {"id": "K-3", "name": "城际共配", "phone": "085112345678"}


def shipment(world: ApiWorld, shipped_at: str = "2026-11-16T08:30:00+08:00") -> dict:
    return world.open_view("shipment_tracking", customer=SHIPPER, fields={"waybill": "YT123456789", "shipped_at": shipped_at})


def test_tracking_due_at_14_the_next_day_and_an_exception_by_noon_of_the_next_working_day(world: ApiWorld) -> None:
    case = shipment(world)
    assert case["number"] == "GZ-202611-0001"
    assert world.clock(case, "first_tracking")["due_at"] == "2026-11-17T14:00:00+08:00"
    path = f"/v1/cases/{case['id']}/actions/log_tracking"  # its field is named status, like do()'s parameter
    world.call("POST", path, "technician", {"status": "x"}, status=403)
    case = world.call("POST", path, "agent", {"status": "已到贵阳中转站"}, status=200)
    assert case["fields"]["last_status"] == "已到贵阳中转站"
    assert world.clock(case, "first_tracking")["state"] == "met"

    world.now = datetime(2026, 11, 20, 16, 0, tzinfo=SHANGHAI)  # a Friday afternoon
    world.do(case, "report_exception", "agent", status=422, kind="lost")
    case = world.do(case, "report_exception", "agent", kind="damage", notes="外箱破损")
    assert case["status"] == "exception"
    assert world.clock(case, "exception")["due_at"] == "2026-11-23T12:00:00+08:00"  # Monday noon
    world.do(case, "resolve", "agent", status=403, resolution="recovered")
    world.now = datetime(2026, 11, 23, 12, 1, tzinfo=SHANGHAI)
    assert world.app.record_breaches(case["id"]) == ["exception"]
    case = world.do(case, "resolve", "supervisor", resolution="written_off")
    assert case["status"] == "resolved" and case["fields"]["resolution"] == "written_off"


def test_a_missed_first_tracking_is_breached(world: ApiWorld) -> None:
    case = shipment(world, shipped_at="2026-11-15T20:00:00+08:00")  # shipped on Sunday evening
    assert world.clock(case, "first_tracking")["due_at"] == "2026-11-16T14:00:00+08:00"
    world.now = datetime(2026, 11, 16, 14, 1, tzinfo=SHANGHAI)
    assert world.app.record_breaches(case["id"]) == ["first_tracking"]
    assert world.show(case)["escalations"][0]["to_role"] == "supervisor"
    case = world.do(case, "confirm_delivery", "agent")
    assert case["status"] == "delivered"

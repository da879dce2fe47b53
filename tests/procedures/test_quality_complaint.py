"""quality_complaint (品质投诉, 003 §4) through the HTTP API, on both databases.

Numbered ``PZ-YYMM-NNN`` with the serial restarting each month. The quality
manager investigates and reports within 3 days, the department head decides
within a day of the report, and the case closes within 15 days (domestic) or
20 days (foreign) of registration (「國內十五天國外二十天內結案」, a duration
the file computes with an expression). A customer who rejects the decision
gets a new linked complaint (``original`` on the new case, ``follow_up`` on
this one, 「再填一份新的…附原抱怨表」). A missed report deadline is
breached and escalated.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from tests.api_support import ApiWorld
from tests.support import SHANGHAI

BUYER = {"id": "K-9", "name": "华美贸易", "phone": "02012345678"}


def test_a_quality_complaint_from_registration_to_a_rejected_decision(world: ApiWorld) -> None:
    case = world.open_view("quality_complaint", customer=BUYER, fields={"market": "foreign", "product": "电源适配器",
                                                                        "defect": "外壳开裂", "quantity": 12})
    assert case["number"] == "PZ-2611-001"
    clocks = {c["name"]: c["due_at"] for c in case["clocks"]}
    assert clocks == {"report": "2026-11-19T10:00:00+08:00", "closure": "2026-12-06T10:00:00+08:00"}  # 20 days
    domestic = world.open_view("quality_complaint", customer=BUYER, fields={"market": "domestic"})
    assert domestic["number"] == "PZ-2611-002" and world.clock(domestic, "closure")["due_at"].startswith("2026-12-01")

    world.do(case, "start_investigation", "agent", status=403)
    case = world.do(case, "start_investigation", "quality_manager")
    case = world.do(case, "submit_report", "quality_manager", findings="注塑温度偏低")
    assert world.clock(case, "report")["state"] == "met" and world.clock(case, "decision")["state"] == "running"
    world.do(case, "decide", "quality_manager", status=403, decision="x")
    case = world.do(case, "decide", "dept_head", decision="换货12件")
    case = world.do(case, "close", "agent")
    assert case["status"] == "closed"

    case = world.do(case, "customer_rejects", "agent", reason="要求退款")
    follow = world.linked_view(case, "follow_up")
    assert follow["type"] == "quality_complaint" and follow["status"] == "registered"
    assert follow["fields"]["market"] == "foreign" and follow["fields"]["quantity"] == 12
    assert [x["number"] for x in follow["links"] if x["rel"] == "original"] == [case["number"]]


def test_a_missed_report_is_breached_and_the_serial_restarts_next_month(world: ApiWorld) -> None:
    case = world.open_view("quality_complaint", customer=BUYER, fields={"market": "domestic"})
    world.advance(days=3, minutes=1)
    assert world.app.record_breaches(case["id"]) == ["report"]
    case = world.show(case)
    assert case["status"] == "registered" and [e["to_role"] for e in case["escalations"]] == ["supervisor"]
    world.now = datetime(2026, 12, 1, 9, tzinfo=SHANGHAI) + timedelta(days=1)
    assert world.open_view("quality_complaint", customer=BUYER, fields={"market": "domestic"})["number"] == "PZ-2612-001"
    world.open_view("quality_complaint", customer=BUYER, fields={"market": "moon"}, status=422)

"""pod_return (回单, 000 A§19 A§16) through the HTTP API, on SQLite and PostgreSQL.

Proves: a 回单 is chased (each chase names whom it reached, counted), comes
back, is entered in the system with an electronic archive copy, handed to
finance and signed for by finance (cashier or finance director, nobody
else); steps out of order and missing system entries are refused; one
回单 per waybill, ever (422 .../duplicate, even after it is filed); a 回单
not back within 7 days, or not filed within a working day of its return
(product defaults), escalates to the supervisor.
"""

from __future__ import annotations

from tests.api_support import ApiWorld

PROBLEMS = "https://casetrail.invalid/problems/"
SHIPPER = {"name": "贵阳某商贸公司", "phone": "13985000000"}
SCAN = {"name": "HD-YD2611.pdf", "media_type": "application/pdf", "size": 120000, "sha256": "9a" * 32}


def pod(world: ApiWorld, waybill: str = "YD20261116001", status: int = 201) -> dict:
    return world.open_view("pod_return", customer=SHIPPER, status=status,
                           fields={"waybill": waybill, "station": "遵义站", "shipped_on": "2026-11-12"})


def test_chased_returned_entered_archived_and_signed_for_by_finance(world: ApiWorld) -> None:
    case = pod(world)
    assert case["number"].startswith("HD-") and case["status"] == "chasing"
    world.do(case, "chase", "agent", contacted="遵义站 刘站长", reply="明天随车返回")
    world.do(case, "chase", "agent", contacted="遵义站 刘站长")
    assert world.show(case)["counters"]["chases"] == 2
    unnamed = world.do(case, "chase", "agent", status=422)
    assert unnamed["errors"] == [{"field": "contacted", "problem": "is required"}]
    assert world.do(case, "enter_system", "agent", system_ref="KB-1", archive_scan=SCAN, status=422)["type"] == \
        PROBLEMS + "action-not-allowed"

    world.do(case, "record_return", "agent")
    assert world.clock(case, "return")["state"] == "met"
    no_scan = world.do(case, "enter_system", "agent", system_ref="KB-88123", status=422)
    assert [e["field"] for e in no_scan["errors"]] == ["archive_scan"]
    archived = world.do(case, "enter_system", "agent", system_ref="KB-88123", archive_scan=SCAN)
    assert archived["status"] == "archived" and archived["fields"]["archive_scan"]["sha256"] == "9a" * 32
    world.do(case, "hand_to_finance", "agent", handed_to="财务部 周会计")
    assert world.clock(case, "filing")["state"] == "met"
    for who in ("agent", "supervisor"):
        assert world.do(case, "confirm_receipt", who, status=403)["type"] == PROBLEMS + "forbidden"
    assert world.do(case, "confirm_receipt", "cashier")["status"] == "received"


def test_one_pod_per_waybill_ever(world: ApiWorld) -> None:
    first = pod(world)
    twice = pod(world, status=422)
    assert twice["type"] == PROBLEMS + "duplicate" and twice["other_case"]["number"] == first["number"]
    assert world.do(first, "write_off", "agent", reason="x", status=403)["type"] == PROBLEMS + "forbidden"
    lost = world.do(first, "write_off", "supervisor", reason="站点遗失回单")
    assert lost["status"] == "lost"
    assert pod(world, status=422)["type"] == PROBLEMS + "duplicate"  # written off: still the waybill's case


def test_a_pod_not_back_in_seven_days_or_not_filed_escalates(world: ApiWorld) -> None:
    case = pod(world)
    world.advance(days=6, hours=23)
    assert world.app.record_breaches(case["id"]) == []
    world.advance(hours=2)
    assert world.app.record_breaches(case["id"]) == ["return"]
    world.do(case, "record_return", "agent", note="第8天才返回")
    assert world.clock(case, "return")["state"] == "breached"
    world.advance(days=3)
    assert world.app.record_breaches(case["id"]) == ["filing"]
    escalations = [(e["clock"], e["to_role"], e["to_staff"]) for e in world.show(case)["escalations"]]
    assert escalations == [("return", "supervisor", "supervisor"), ("filing", "dept_head", "dept_head")]

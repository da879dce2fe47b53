"""reactive_compensation (003 §14): no connection without compensation; power-factor, sizing and metering rules.

Through the HTTP API on both databases: a new connection's supply plan
holds the compensation (a dedicated high-voltage customer's must be
automatic, 422 otherwise); only a technician records the inspection (403);
connecting an in-scope customer without the compensation installed, below
the power-factor standard of its supply, with per-motor capacitors outside
50-60 % of the motor, without the reactive meter a 100 kVA customer needs,
or without enrolling it in the power-factor fee assessment is a 422; a
customer out of scope is connected without compensation; an existing
low-voltage customer gets a rectification notice with its deadline (a day
to come, 422 otherwise), due at 24:00 of it and escalating to the
supervisor when it passes; the supervisor records a 50-200 yuan
sanction (422 outside that range, 403 for others).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tests.api_support import ApiWorld
from tests.support import SHANGHAI

PROBLEMS = "https://casetrail.invalid/problems/"
FACTORY = {"id": "YD-36001", "name": "信丰县红星机械厂", "phone": "0797-3321234"}


def case_of(world: ApiWorld, kind: str = "new_connection", supply: str = "hv_dedicated", capacity: str = "250",
            **fields: Any) -> dict[str, Any]:
    return world.open_view("reactive_compensation", by="agent", customer=FACTORY, title="新装 无功补偿",
                           fields={"kind": kind, "supply": supply, "capacity": capacity, **fields})


def field_refused(world: ApiWorld, case: dict[str, Any], action: str, by: str, field: str, **data: Any) -> str:
    refused = world.do(case, action, by, status=422, **data)
    assert refused["type"] == PROBLEMS + "invalid-fields", refused
    assert refused["errors"][0]["field"] == field, refused
    return str(refused["detail"])


def test_a_dedicated_customer_is_connected_only_with_automatic_compensation_and_its_meter(world: ApiWorld) -> None:
    case = case_of(world)
    assert case["number"].startswith("WGBC-202611-")
    assert "四.1" in field_refused(world, case, "plan_supply", "agent", "device", design="逐台电机补偿",
                                   device="per_motor")
    case = world.do(case, "plan_supply", "agent", design="10kV 侧自动补偿 120 kvar", device="automatic")
    assert world.do(case, "inspect", "agent", status=403, compensation_installed=True, power_factor="0.95",
                    reactive_meter="single_bidirectional")["type"] == PROBLEMS + "forbidden"
    case = world.do(case, "inspect", "technician", compensation_installed=False, power_factor="0.95",
                    reactive_meter="single_bidirectional")
    assert "應拒絕接電" in field_refused(world, case, "connect", "agent", "connected_on",
                                    connected_on="2026-11-20", pf_assessment=True)
    case = world.do(case, "inspect", "technician", compensation_installed=True, power_factor="0.88",
                    reactive_meter="single_unidirectional")
    assert "五:" in field_refused(world, case, "connect", "agent", "reactive_meter",
                                connected_on="2026-11-20", pf_assessment=True)
    case = world.do(case, "inspect", "technician", compensation_installed=True, power_factor="0.88",
                    reactive_meter="two_anti_reverse")
    assert "三" in field_refused(world, case, "connect", "agent", "power_factor", connected_on="2026-11-20",
                                pf_assessment=True)
    case = world.do(case, "inspect", "technician", compensation_installed=True, power_factor="0.90",
                    reactive_meter="two_anti_reverse")
    assert "六.3" in field_refused(world, case, "connect", "agent", "pf_assessment", connected_on="2026-11-20",
                                  pf_assessment=False)
    case = world.do(case, "connect", "agent", connected_on="2026-11-20", pf_assessment=True)
    assert (case["status"], case["fields"]["power_factor"]) == ("connected", "0.90")


def test_per_motor_capacitors_are_half_to_six_tenths_of_the_motor(world: ApiWorld) -> None:
    case = case_of(world, supply="lv_motive", capacity="30", motor_kw="30")
    case = world.do(case, "plan_supply", "agent", design="逐台电机随器补偿", device="per_motor")
    for kvar in ("14.99", "18.01"):
        assert "50%-60%" in field_refused(world, case, "inspect", "technician", "capacitor_kvar",
                                          compensation_installed=True, capacitor_kvar=kvar, power_factor="0.90",
                                          reactive_meter="none")
    for kvar in ("15.00", "18.00"):
        case = world.do(case, "inspect", "technician", compensation_installed=True, capacitor_kvar=kvar,
                        power_factor="0.85", reactive_meter="none")
    # ≥0.85 for low-voltage motive power: 0.84 is refused at connection, 0.85 connects
    case = world.do(case, "inspect", "technician", compensation_installed=True, capacitor_kvar="16.50",
                    power_factor="0.84", reactive_meter="none")
    field_refused(world, case, "connect", "agent", "power_factor", connected_on="2026-11-20", pf_assessment=False)
    case = world.do(case, "inspect", "technician", compensation_installed=True, capacitor_kvar="16.50",
                    power_factor="0.85", reactive_meter="none")
    assert world.do(case, "connect", "agent", connected_on="2026-11-20", pf_assessment=False)["status"] == "connected"


def test_a_customer_out_of_scope_is_connected_without_compensation(world: ApiWorld) -> None:
    small = case_of(world, supply="lv_motive", capacity="3")  # under 4 kW
    small = world.do(small, "plan_supply", "agent", design="无需补偿", device="auto_switching")
    small = world.do(small, "inspect", "technician", compensation_installed=False, power_factor="0.86",
                     reactive_meter="none")
    assert world.do(small, "connect", "agent", connected_on="2026-11-20", pf_assessment=False)["status"] == "connected"
    # a supply plan is not for a rectification, a notice not for a new connection
    notice = case_of(world, kind="rectification", supply="lv_motive", capacity="15")
    refused = world.do(notice, "plan_supply", "agent", status=422, design="x", device="per_motor")
    assert refused["type"] == PROBLEMS + "guard-failed"
    new = case_of(world)
    assert world.do(new, "issue_notice", "agent", status=422, notice_no="ZG-1", device="automatic",
                    rectify_by="2026-12-16")["type"] == PROBLEMS + "guard-failed"


def test_a_rectification_notice_states_its_deadline_then_escalates(world: ApiWorld) -> None:
    case = case_of(world, kind="rectification", supply="lv_motive", capacity="15", motor_kw="15")
    for bad in (None, "2026-11-16"):  # 「限期」: a deadline, and a day to come
        data = {"notice_no": "ZG-2026-017", "device": "per_motor", **({"rectify_by": bad} if bad else {})}
        refused = world.do(case, "issue_notice", "agent", status=422, **data)
        assert [e["field"] for e in refused["errors"]] == ["rectify_by"], bad
    case = world.do(case, "issue_notice", "agent", notice_no="ZG-2026-017", device="per_motor",
                    rectify_by="2026-12-15")
    assert case["fields"]["rectify_by"] == "2026-12-15"
    assert world.clock(case, "rectification")["due_at"] == "2026-12-16T00:00:00+08:00"  # 24:00 of the deadline
    world.now = datetime(2026, 12, 15, 23, 59, tzinfo=SHANGHAI)
    assert world.app.record_breaches(case["id"]) == []
    world.now = datetime(2026, 12, 16, 0, 1, tzinfo=SHANGHAI)
    assert world.app.record_breaches(case["id"]) == ["rectification"]
    assert [(e["clock"], e["to_role"]) for e in world.show(case)["escalations"]] == [("rectification", "supervisor")]
    case = world.do(case, "inspect", "technician", compensation_installed=False, power_factor="0.80",
                    reactive_meter="none")
    not_yet = world.do(case, "confirm_rectified", "agent", status=422, archive_no="DA-1")
    assert not_yet["type"] == PROBLEMS + "guard-failed"
    case = world.do(case, "inspect", "technician", compensation_installed=True, capacitor_kvar="8.00",
                    power_factor="0.92", reactive_meter="none")
    case = world.do(case, "confirm_rectified", "agent", archive_no="DA-2026-0098")
    assert case["status"] == "rectified" and world.clock(case, "rectification")["state"] == "breached"


def test_the_supervisor_records_a_50_to_200_yuan_sanction(world: ApiWorld) -> None:
    case = case_of(world)
    assert world.do(case, "record_sanction", "agent", status=403, department="城关供电所", amount="100.00",
                    reason="x")["type"] == PROBLEMS + "forbidden"
    for amount in ("49.99", "200.01"):
        assert world.do(case, "record_sanction", "supervisor", status=422, department="城关供电所", amount=amount,
                        reason="未把补偿装置列入供电方案")["errors"][0]["field"] == "amount"
    case = world.do(case, "record_sanction", "supervisor", department="城关供电所", amount="200.00",
                    reason="未把补偿装置列入供电方案")
    case = world.do(case, "record_sanction", "supervisor", department="计量所", amount="50.00", reason="表计未更换")
    assert case["counters"] == {"sanctions": "250.00"}

"""vehicle_file_handover (7dc / 3dc 客户档案资料移交, 001 B§8) through the HTTP API, on SQLite and PostgreSQL.

Proves: after a delivery (7dc) the salesperson hands over the complete file
— every required document, the hand-over refused 422 naming each one
missing — within 2 working days, after a service (3dc) the front desk within
1 working day; each kind has its own hand-over (the other is refused);
the file is received by the supervisor (7dc) or another specialist (3dc),
never by whoever handed it over; a reason given to the supervisor extends
the deadline by up to 3 working days, before the deadline only (「事前」);
a file not handed over in time is moved to overdue by the system and
escalates to the supervisor, and is still handed over; one open file per
vehicle and kind (422 .../duplicate).
"""

from __future__ import annotations

from datetime import datetime

from tests.api_support import ApiWorld

PROBLEMS = "https://casetrail.invalid/problems/"
BUYER = {"name": "孙先生", "phone": "13612345678"}
VIN = "LSVAU2180N2123456"
SALE_DOCS = ["purchase_contract", "identity_document", "certificate_of_conformity", "invoice",
             "purchase_tax_certificate", "purchase_tax_receipt", "licence_receipt", "insurance_policy",
             "insurance_invoice", "delivery_confirmation", "outbound_order", "membership_form"]


def scan(name: str) -> dict:
    return {"name": f"{name}.pdf", "media_type": "application/pdf", "size": 2048, "sha256": "4c" * 32}


def file_for(world: ApiWorld, kind: str, by: str = "seller", vin: str = VIN, status: int = 201) -> dict:
    return world.open_view("vehicle_file_handover", by=by, customer=BUYER, status=status,
                           fields={"kind": kind, "vin": vin, "model": "朗逸 1.5L"})


def hours_due(world: ApiWorld, case: dict) -> float:
    clock = world.clock(case, "handover")
    return (datetime.fromisoformat(clock["due_at"]) - datetime.fromisoformat(clock["started_at"])).total_seconds() / 3600


def test_a_delivery_file_is_complete_and_received_by_the_supervisor(world: ApiWorld) -> None:
    case = file_for(world, "sale_7dc")
    assert case["number"].startswith("DA-") and world.clock(case, "handover")["duration"] == "2wd"
    partial = world.do(case, "hand_over_sale", "seller", purchase_contract=scan("购车合同"), status=422)
    assert partial["type"] == PROBLEMS + "invalid-fields"
    assert sorted(e["field"] for e in partial["errors"]) == sorted(SALE_DOCS[1:])
    wrong_kind = world.do(case, "hand_over_service", "seller", repair_order=scan("工单"), status=422)
    assert wrong_kind["type"] == PROBLEMS + "guard-failed"

    handed = world.do(case, "hand_over_sale", "seller", **{d: scan(d) for d in SALE_DOCS})
    assert handed["status"] == "handed_over" and handed["approvals"]["required"] == ["supervisor"]
    assert world.clock(case, "handover")["state"] == "met"
    for who in ("seller", "agent"):
        assert world.do(case, "accept_file", who, status=403)["type"] == PROBLEMS + "approval-not-allowed"
    assert world.do(case, "accept_file", "supervisor", comment="资料齐全")["status"] == "filed"


def test_a_service_file_is_received_by_another_specialist(world: ApiWorld) -> None:
    case = file_for(world, "service_3dc", by="agent")
    assert world.clock(case, "handover")["duration"] == "1wd"
    wrong_kind = world.do(case, "hand_over_sale", "agent", **{d: scan(d) for d in SALE_DOCS}, status=422)
    assert wrong_kind["type"] == PROBLEMS + "guard-failed"
    world.do(case, "hand_over_service", "agent", repair_order=scan("维修工单"),
             other_documents=[{"file": scan("结算单")}])
    own = world.do(case, "accept_file", "agent", status=403)
    assert own["type"] == PROBLEMS + "approval-not-allowed"  # the one who handed it over
    assert world.do(case, "accept_file", "agent2")["status"] == "filed"


def test_one_open_file_per_vehicle_and_kind(world: ApiWorld) -> None:
    first = file_for(world, "sale_7dc")
    twice = file_for(world, "sale_7dc", by="seller2", status=422)
    assert twice["type"] == PROBLEMS + "duplicate" and twice["other_case"]["number"] == first["number"]
    assert file_for(world, "service_3dc", by="agent")["status"] == "pending"  # the same car's service file
    bad_vin = file_for(world, "sale_7dc", vin="LSVAU2180N21234IO", status=422)  # I and O are not in a VIN
    assert [e["field"] for e in bad_vin["errors"]] == ["fields.vin"]


def test_a_reason_extends_the_deadline_and_a_late_file_escalates(world: ApiWorld) -> None:
    case = file_for(world, "sale_7dc")
    before = hours_due(world, case)
    assert world.do(case, "explain_delay", "seller", reason="x", working_days=1, status=403)["type"] == \
        PROBLEMS + "forbidden"
    too_long = world.do(case, "explain_delay", "supervisor", reason="x", working_days=4, status=422)
    assert [e["field"] for e in too_long["errors"]] == ["working_days"]
    world.do(case, "explain_delay", "supervisor", reason="客户保险单未出,保险公司周四送达", working_days=2)
    clock = world.clock(case, "handover")
    assert clock["duration"] == "4wd" and hours_due(world, case) > before
    world.advance(days=3)  # Thursday 10:00: inside the extended deadline (Friday)
    assert world.app.record_breaches(case["id"]) == []

    late = file_for(world, "service_3dc", by="agent", vin="LSVAU2180N2654321")
    world.advance(days=1, minutes=1)  # Friday 10:01: one working day after Thursday 10:00
    assert world.app.record_breaches(late["id"]) == ["handover"]
    assert [(e["to_role"], e["to_staff"]) for e in world.show(late)["escalations"]] == [("supervisor", "supervisor")]
    assert world.app.record_breaches(case["id"]) == ["handover"]  # the extended deadline (Friday 10:00) passed too

    for overdue in (late, case):
        view = world.show(overdue)
        assert view["status"] == "overdue"  # 「逾期者」: marked for the quarterly assessment
        breach = next(h for h in world.history(overdue) if h["type"].endswith("DeadlineBreached"))
        assert breach["data"]["changes"] == {"status": ["pending", "overdue"]}
    # 「事前」: a reason given after the deadline does not extend it
    after = world.do(case, "explain_delay", "supervisor", reason="保险单还没到", working_days=1, status=422)
    assert after["type"] == PROBLEMS + "action-not-allowed"
    handed = world.do(late, "hand_over_service", "agent", repair_order=scan("结算单"))
    assert handed["status"] == "handed_over" and world.clock(handed, "handover")["state"] == "breached"
    assert world.do(handed, "accept_file", "agent2")["status"] == "filed"

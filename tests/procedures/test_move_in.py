"""move_in (入伙, 000 A§18; 001 B§14 B§19) through the HTTP API, on SQLite and PostgreSQL.

Proves: the six steps run in their order (manuals signed for and the ID card
copied, resident form with both agreements signed, the clerk's stamp,
property fee and maintenance fund paid at the cashier, the inspection with
收楼书 and 整改单, keys handed over against a receipt); a step out of order,
a missing document, an unsigned agreement or the wrong role is refused; a
key is kept for rectification only with the owner's consent; one move-in
per unit (422 .../duplicate) until a move-in is cancelled; the appointment
(入伙预约, booked at opening or later, never in the past) is due by 24:00
of its day: an owner not received by then escalates to the supervisor, and
a new booking moves the deadline.
"""

from __future__ import annotations

from datetime import datetime

from tests.api_support import ApiWorld
from tests.support import SHANGHAI

PROBLEMS = "https://casetrail.invalid/problems/"
OWNER = {"name": "陈先生", "phone": "13500135000", "id_number": "11010519491231002X"}


def doc(name: str) -> dict:
    return {"name": name, "media_type": "application/pdf", "size": 1024, "sha256": "0f" * 32}


def open_move_in(world: ApiWorld, unit: str = "3-1-502", status: int = 201,
                 appointment_at: str | None = "2026-11-18T10:00:00+08:00") -> dict:
    fields = {"unit": unit, "countersign_sheet": doc("会签单.pdf"), "move_in_notice": doc("入住通知书.pdf")}
    if appointment_at:
        fields["appointment_at"] = appointment_at
    return world.open_view("move_in", customer=OWNER, status=status, fields=fields)


def to_inspected(world: ApiWorld, case: dict) -> dict:
    world.do(case, "issue_manuals", "agent", owner_receipt="signed", id_copy=doc("身份证.pdf"))
    world.do(case, "register_resident", "agent", resident_form=doc("住户登记表.pdf"),
             fire_safety_agreement="signed", civility_pledge="signed")
    world.do(case, "accept", "agent", stamp="stamped")
    world.do(case, "record_payment", "cashier", property_fee="2400.00", maintenance_fund="8600.00",
             receipt_no="CW-88")
    return world.do(case, "inspect", "technician", handover_form=doc("收楼书.pdf"), rectification_items="厨房瓷砖空鼓")


def test_the_six_steps_end_with_the_keys_handed_over(world: ApiWorld) -> None:
    case = open_move_in(world)
    assert case["number"].startswith("RH-") and case["status"] == "registered"
    inspected = to_inspected(world, case)
    assert inspected["status"] == "inspected"
    assert inspected["fields"]["property_fee"] == "2400.00" and inspected["fields"]["maintenance_fund"] == "8600.00"
    assert inspected["fields"]["rectification_items"] == "厨房瓷砖空鼓"
    done = world.do(case, "hand_over_keys", "agent", keys_count=3, receipt=doc("回执.pdf"),
                    keep_key=True, owner_consents_keep=True)
    assert done["status"] == "keys_handed" and done["fields"]["keep_key"] is True
    steps = [e["data"]["action"] for e in world.history(case) if e["type"].endswith("ActionTaken")]
    assert steps == ["issue_manuals", "register_resident", "accept", "record_payment", "inspect", "hand_over_keys"]
    assert [e["actor"] for e in world.history(case) if e["type"].endswith("ActionTaken")][3] == "cashier"


def test_documents_order_and_roles_are_checked(world: ApiWorld) -> None:
    missing = world.open_view("move_in", customer=OWNER, status=422,
                              fields={"unit": "9-9-909", "countersign_sheet": doc("会签单.pdf")})
    assert missing["type"] == PROBLEMS + "invalid-fields"
    assert missing["errors"] == [{"field": "fields.move_in_notice", "problem": "is required"}]

    case = open_move_in(world)
    skipped = world.do(case, "record_payment", "cashier", property_fee="1.00", maintenance_fund="1.00",
                       receipt_no="x", status=422)
    assert skipped["type"] == PROBLEMS + "action-not-allowed"
    world.do(case, "issue_manuals", "agent", owner_receipt="signed", id_copy=doc("身份证.pdf"))
    unsigned = world.do(case, "register_resident", "agent", resident_form=doc("住户登记表.pdf"),
                        fire_safety_agreement="signed", status=422)
    assert [e["field"] for e in unsigned["errors"]] == ["civility_pledge"]
    world.do(case, "register_resident", "agent", resident_form=doc("住户登记表.pdf"),
             fire_safety_agreement="signed", civility_pledge="signed")
    world.do(case, "accept", "agent", stamp="stamped")
    by_agent = world.do(case, "record_payment", "agent", property_fee="2400.00", maintenance_fund="8600.00",
                        receipt_no="CW-1", status=403)
    assert by_agent["type"] == PROBLEMS + "forbidden"  # 「去财务缴纳」: the cashier records it
    assert world.show(case)["status"] == "accepted"


def test_a_key_is_kept_only_with_the_owners_consent(world: ApiWorld) -> None:
    case = open_move_in(world, unit="5-2-101")
    to_inspected(world, case)
    refused = world.do(case, "hand_over_keys", "agent", keys_count=2, receipt=doc("回执.pdf"), keep_key=True,
                       status=422)
    assert refused["type"] == PROBLEMS + "invalid-fields"
    assert refused["errors"][0]["field"] == "owner_consents_keep"
    assert world.show(case)["status"] == "inspected"
    no_receipt = world.do(case, "hand_over_keys", "agent", keys_count=2, status=422)
    assert [e["field"] for e in no_receipt["errors"]] == ["receipt"]
    done = world.do(case, "hand_over_keys", "agent", keys_count=2, receipt=doc("回执.pdf"))
    assert done["status"] == "keys_handed" and done["fields"]["keep_key"] is False


def test_one_move_in_per_unit(world: ApiWorld) -> None:
    first = open_move_in(world, unit="7-3-1201")
    twice = open_move_in(world, unit="7-3-1201", status=422)
    assert twice["type"] == PROBLEMS + "duplicate" and twice["other_case"]["number"] == first["number"]
    assert world.do(first, "cancel", "agent", reason="x", status=403)["type"] == PROBLEMS + "forbidden"
    world.do(first, "cancel", "supervisor", reason="业主退房")
    assert open_move_in(world, unit="7-3-1201")["status"] == "registered"


def test_an_owner_not_received_on_the_appointed_day_escalates_to_the_supervisor(world: ApiWorld) -> None:
    case = open_move_in(world)
    assert world.clock(case, "appointment")["due_at"] == "2026-11-19T00:00:00+08:00"  # 24:00 of the day booked
    world.now = datetime(2026, 11, 18, 23, 59, tzinfo=SHANGHAI)
    assert world.app.record_breaches(case["id"]) == []
    world.now = datetime(2026, 11, 19, 0, 1, tzinfo=SHANGHAI)
    assert world.app.record_breaches(case["id"]) == ["appointment"]
    view = world.show(case)
    assert view["status"] == "registered"  # nothing moves: the desk books the owner again
    assert [(e["clock"], e["to_role"], e["to_staff"]) for e in view["escalations"]] == \
        [("appointment", "supervisor", "supervisor")]


def test_an_appointment_is_booked_for_a_time_to_come_and_a_new_booking_moves_the_deadline(world: ApiWorld) -> None:
    past = open_move_in(world, appointment_at="2026-11-16T09:00:00+08:00", status=422)  # now is 10:00
    assert [e["field"] for e in past["errors"]] == ["appointment_at"]
    case = open_move_in(world, appointment_at=None)
    assert world.show(case)["clocks"] == []  # no appointment, no deadline
    assert world.do(case, "book_appointment", "technician", status=403,
                    appointment_at="2026-11-20T14:00:00+08:00")["type"] == PROBLEMS + "forbidden"
    gone = world.do(case, "book_appointment", "agent", status=422, appointment_at="2026-11-15T14:00:00+08:00")
    assert [e["field"] for e in gone["errors"]] == ["appointment_at"]
    case = world.do(case, "book_appointment", "agent", appointment_at="2026-11-20T14:00:00+08:00")
    assert world.clock(case, "appointment")["due_at"] == "2026-11-21T00:00:00+08:00"
    case = world.do(case, "book_appointment", "agent", appointment_at="2026-11-23T09:30:00+08:00")  # rebooked
    assert world.clock(case, "appointment")["due_at"] == "2026-11-24T00:00:00+08:00"
    world.now = datetime(2026, 11, 23, 9, 40, tzinfo=SHANGHAI)
    case = world.do(case, "issue_manuals", "agent", owner_receipt="signed", id_copy=doc("身份证.pdf"))
    assert world.clock(case, "appointment")["state"] == "met"
    world.do(case, "book_appointment", "agent", status=422, appointment_at="2026-11-25T09:30:00+08:00")

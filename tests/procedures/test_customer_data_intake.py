"""customer_data_intake (客户资料分派, 000 A§11; 001 B§2 B§11) through the HTTP API, on SQLite and PostgreSQL.

Proves: a specialist extracts a customer's data and hands it to the
supervisor, who classifies and assigns it; only the assigned specialist
records the first contact (phone, SMS or e-mail, with a detailed record),
which is due within a week of the assignment and escalates to the
supervisor when missed; data handed in and not assigned within a working
day escalates to the department head; one intake per customer at a time
(422 .../duplicate); wrong roles and missing fields are refused.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from tests.api_support import ApiWorld

PROBLEMS = "https://casetrail.invalid/problems/"
CUSTOMER = {"name": "赵先生", "phone": "13912345678", "tier": "member"}


def intake(world: ApiWorld, customer: dict = CUSTOMER, status: int = 201) -> dict:
    return world.open_view("customer_data_intake", customer=customer, status=status,
                           fields={"source": "到店洗车登记"})


def test_extracted_assigned_and_filed_by_the_assigned_specialist(world: ApiWorld) -> None:
    case = intake(world)
    assert case["number"].startswith("ZL-") and case["status"] == "extracted"
    world.do(case, "submit", "agent")
    assert world.clock(case, "assignment")["state"] == "running"
    assert world.do(case, "assign", "agent", assignee="agent2", category="会员", status=403)["type"] == \
        PROBLEMS + "forbidden"
    unclassified = world.do(case, "assign", "supervisor", assignee="agent2", status=422)
    assert unclassified["errors"] == [{"field": "category", "problem": "is required"}]
    assigned = world.do(case, "assign", "supervisor", assignee="agent2", category="会员")
    assert assigned["status"] == "assigned" and assigned["assignee"] == "agent2"
    assert world.clock(case, "assignment")["state"] == "met"
    contact = world.clock(case, "first_contact")
    assert datetime.fromisoformat(contact["due_at"]) - datetime.fromisoformat(contact["started_at"]) == \
        timedelta(days=7)

    not_theirs = world.do(case, "record_contact", "agent", channel="phone", record="x", status=403)
    assert not_theirs["type"] == PROBLEMS + "forbidden"
    world.do(case, "log_attempt", "agent2", channel="phone", note="无人接听")
    assert world.show(case)["counters"]["attempts"] == 1
    bare = world.do(case, "record_contact", "agent2", channel="email", status=422)
    assert [e["field"] for e in bare["errors"]] == ["record"]
    filed = world.do(case, "record_contact", "agent2", channel="email", record="已邮件介绍会员权益,客户下周到店")
    assert filed["status"] == "filed" and filed["fields"]["channel"] == "email"
    assert world.clock(case, "first_contact")["state"] == "met"


def test_one_intake_per_customer_at_a_time(world: ApiWorld) -> None:
    first = intake(world)
    again = intake(world, customer={**CUSTOMER, "name": "赵总"}, status=422)
    assert again["type"] == PROBLEMS + "duplicate" and again["other_case"]["number"] == first["number"]
    assert world.do(first, "discard", "agent", reason="x", status=403)["type"] == PROBLEMS + "forbidden"
    world.do(first, "discard", "supervisor", reason="重复资料")
    assert intake(world)["status"] == "extracted"


def test_no_contact_within_a_week_escalates_to_the_supervisor(world: ApiWorld) -> None:
    case = intake(world)
    world.do(case, "submit", "agent")
    world.do(case, "assign", "supervisor", assignee="agent", category="新客户")
    world.advance(days=6, hours=23)
    assert world.app.record_breaches(case["id"]) == []
    world.advance(hours=2)
    assert world.app.record_breaches(case["id"]) == ["first_contact"]
    assert [(e["to_role"], e["to_staff"]) for e in world.show(case)["escalations"]] == [("supervisor", "supervisor")]
    late = world.do(case, "record_contact", "agent", channel="sms", record="短信联系,客户已回复")
    assert late["status"] == "filed" and world.clock(case, "first_contact")["state"] == "breached"


def test_data_left_unassigned_for_a_working_day_goes_to_the_department_head(world: ApiWorld) -> None:
    case = intake(world)
    world.do(case, "submit", "agent")
    world.advance(days=3)  # Monday 10:00 + one working day is long past by Thursday
    assert world.app.record_breaches(case["id"]) == ["assignment"]
    assert [(e["to_role"], e["to_staff"], e["clock"]) for e in world.show(case)["escalations"]] == \
        [("dept_head", "dept_head", "assignment")]

"""care_reminder (客户关怀提醒, 001 B§8 B§2; 000 A§11) through the HTTP API, on SQLite and PostgreSQL.

Proves: the policy worker opens one reminder list a day for each CS
supervisor (once per occurrence, again the next day), titled by the date;
the supervisor hands it to a specialist; reminders are recorded with their
kind and channel, a birthday greeting only 2-7 days before the birthday
(422 otherwise); only the supervisor or the assignee finishes the list; a
list not finished by the end of the working day (18:00; a list opened on a
Saturday by Monday's end) escalates to the department head.
"""

from __future__ import annotations

from datetime import datetime

from domain.model.case import Case
from tests.api_support import ApiWorld
from tests.support import SHANGHAI

PROBLEMS = "https://casetrail.invalid/problems/"


def todays_lists(world: ApiWorld) -> list[dict]:
    numbers = [n for n in world.app.run_schedules() if n.startswith("GH-")]
    return [world.show(str(Case.create_id(n))) for n in numbers]


def test_one_list_a_day_for_each_supervisor(world: ApiWorld) -> None:
    [case] = todays_lists(world)  # the world has one supervisor
    assert case["title"] == "2026-11-16 客户关怀提醒" and case["status"] == "open"
    assert case["fields"] == {"owner": "supervisor", "list": "daily"}
    assert todays_lists(world) == []  # the same occurrence is opened once
    world.advance(days=1)
    [tomorrow] = todays_lists(world)
    assert tomorrow["title"] == "2026-11-17 客户关怀提醒" and tomorrow["number"] != case["number"]


def test_reminders_are_recorded_and_the_list_finished(world: ApiWorld) -> None:
    [case] = todays_lists(world)
    assert world.do(case, "assign", "agent", assignee="agent", status=403)["type"] == PROBLEMS + "forbidden"
    world.do(case, "assign", "supervisor", assignee="agent")
    world.do(case, "record_reminder", "agent", kind="birthday", customer_name="王先生", channel="sms",
             days_before_birthday=3)
    world.do(case, "record_reminder", "agent", kind="maintenance", customer_name="李女士", channel="phone",
             note="下次保养 5000 公里")
    world.do(case, "record_reminder", "agent2", kind="insurance_renewal", customer_name="赵先生", channel="phone")
    assert world.show(case)["counters"]["reminders"] == 3
    assert world.do(case, "finish", "agent2", status=403)["type"] == PROBLEMS + "forbidden"  # not the assignee
    done = world.do(case, "finish", "agent", summary="3 位客户已提醒")
    assert done["status"] == "done" and world.clock(case, "daily")["state"] == "met"


def test_a_birthday_greeting_goes_two_to_seven_days_before(world: ApiWorld) -> None:
    [case] = todays_lists(world)
    undated = world.do(case, "record_reminder", "agent", kind="birthday", customer_name="王先生", channel="sms",
                       status=422)
    assert undated["type"] == PROBLEMS + "invalid-fields" and undated["errors"][0]["field"] == "days_before_birthday"
    for days in (1, 8):
        out_of_window = world.do(case, "record_reminder", "agent", kind="birthday", customer_name="王先生",
                                 channel="sms", days_before_birthday=days, status=422)
        assert [e["field"] for e in out_of_window["errors"]] == ["days_before_birthday"], days
    assert world.do(case, "record_reminder", "technician", kind="maintenance", customer_name="x", channel="sms",
                    status=403)["type"] == PROBLEMS + "forbidden"
    assert "reminders" not in world.show(case)["counters"]
    by_agent = world.open_view("care_reminder", by="agent", customer={}, status=403)
    assert by_agent["type"] == PROBLEMS + "forbidden"
    ad_hoc = world.open_view("care_reminder", by="supervisor", customer={}, title="节日问候 元旦")
    assert ad_hoc["fields"] == {"list": "ad_hoc"}


def test_a_list_left_unfinished_escalates_to_the_department_head(world: ApiWorld) -> None:
    [case] = todays_lists(world)
    assert world.clock(case, "daily")["due_at"] == "2026-11-16T18:00:00+08:00"  # the end of Monday's work
    world.now = datetime(2026, 11, 16, 17, 59, tzinfo=SHANGHAI)
    assert world.app.record_breaches(case["id"]) == []
    world.now = datetime(2026, 11, 16, 18, 1, tzinfo=SHANGHAI)
    assert world.app.record_breaches(case["id"]) == ["daily"]
    assert [(e["to_role"], e["to_staff"]) for e in world.show(case)["escalations"]] == [("dept_head", "dept_head")]
    assert world.show(case)["status"] == "open"  # still to be worked


def test_a_list_opened_on_a_saturday_is_due_at_the_end_of_monday(world: ApiWorld) -> None:
    world.now = datetime(2026, 11, 21, 9, 5, tzinfo=SHANGHAI)
    [saturday] = todays_lists(world)
    assert saturday["title"] == "2026-11-21 客户关怀提醒"
    assert world.clock(saturday, "daily")["due_at"] == "2026-11-23T18:00:00+08:00"

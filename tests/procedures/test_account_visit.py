"""account_visit (客户经理拜访, 002 A1 A17, 004 B6): a visit cycle, face to face, and the next one.

Proves on SQLite and PostgreSQL: an appointment is for a time still to come, a core client's
a day ahead; phone and online contacts are counted but do not end the cycle, only a
face-to-face visit does; the visit records the feedback, the order (signed where a signature
is needed, 422 otherwise) and the next visit's day (a core client's within two weeks, any
other's this month or next), which opens the next cycle for the same client and account
manager; a problem not solved on site opens a linked client_issue reported to the
department head; only the department head spot-checks, and an unconfirmed record reaches the
general manager; a core client not visited within two weeks, any other by the end of the
planned month, reaches the department head and the account manager.
"""

from __future__ import annotations

from typing import Any

from tests.api_support import ApiWorld

PROBLEM = "https://casetrail.invalid/problems/"
CLIENT = {"id": "M-30871", "name": "陈女士", "phone": "13912345678"}


def visit(world: ApiWorld, visit_class: str = "core", **fields: Any) -> dict[str, Any]:
    body = {"visit_class": visit_class, "account_manager": "seller", "planned_on": "2026-11-18",
            "purpose": "月度帐户回顾", **fields}
    return world.open_view("account_visit", by="seller", customer=CLIENT, fields=body, title="拜访 陈女士")


def on_site(world: ApiWorld, case: dict[str, Any], status: int = 200, **data: Any) -> dict[str, Any]:
    body = {"minutes": 18, "feedback": "关注新股中签; 希望每周收到板块推荐", "next_visit_on": "2026-11-30", **data}
    return world.do(case, "visit_on_site", "seller", status=status, **body)


def test_an_appointed_visit_is_made_face_to_face_and_plans_the_next_one(world: ApiWorld) -> None:
    case = visit(world)
    assert case["number"].startswith("KHBF-202611-")
    assert [c["name"] for c in case["clocks"]] == ["fortnightly"]
    out = world.do(case, "appoint", "seller", status=422, appointment_at="2026-11-16T09:00:00+08:00")
    assert out["type"] == PROBLEM + "guard-failed"
    out = world.do(case, "appoint", "seller", status=422, appointment_at="2026-11-17T09:30:00+08:00")
    assert out["errors"][0]["field"] == "appointment_at"  # a core client: a day ahead
    assert "提前一天预约" in out["detail"]
    case = world.do(case, "appoint", "seller", appointment_at="2026-11-17T15:00:00+08:00")
    assert case["status"] == "appointed"
    case = world.do(case, "log_remote", "seller", mode="phone", summary="确认明天15点拜访")
    assert (case["status"], case["counters"]["remote_contacts"]) == ("appointed", 1)
    world.advance(days=1, hours=5)
    case = on_site(world, case, order_amount="0.00")
    assert case["status"] == "visited"
    assert world.clock(case, "fortnightly")["state"] == "met"
    assert [link["rel"] for link in case["links"]] == ["next_visit"]
    nxt = world.linked_view(case, "next_visit")
    assert (nxt["type"], nxt["status"], nxt["customer"]) == ("account_visit", "planned", CLIENT)
    assert nxt["fields"]["account_manager"] == "seller"
    assert nxt["fields"]["planned_on"] == "2026-11-30"
    assert nxt["fields"]["visit_class"] == "core"
    assert world.clock(nxt, "fortnightly")["due_at"].startswith("2026-12-01T15:00")  # 14 days from this visit


def test_a_monthly_client_is_appointed_without_a_days_notice(world: ApiWorld) -> None:
    case = visit(world, "monthly")
    assert [c["name"] for c in case["clocks"]] == ["monthly"]
    assert world.do(case, "appoint", "seller", appointment_at="2026-11-16T16:00:00+08:00")["status"] == "appointed"


def test_the_order_is_signed_where_needed_and_the_next_visit_keeps_the_rhythm(world: ApiWorld) -> None:
    case = visit(world)
    out = on_site(world, case, status=422, order_amount="3200.00", needs_signature=True)
    assert out["type"] == PROBLEM + "invalid-fields"
    assert out["errors"][0]["field"] == "customer_signed"
    assert "签字" in out["detail"]
    out = on_site(world, case, status=422, minutes=0, next_visit_on=None)
    assert sorted(e["field"] for e in out["errors"]) == ["minutes", "next_visit_on"]
    out = on_site(world, case, status=422, next_visit_on="2026-12-01")  # 15 days: not 两周一次
    assert out["errors"][0]["field"] == "next_visit_on"
    out = on_site(world, case, status=422, next_visit_on="2026-11-15")  # the past
    assert out["errors"][0]["field"] == "next_visit_on"
    case = on_site(world, case, order_amount="3200.00", needs_signature=True, customer_signed=True,
                   next_visit_on="2026-11-30")
    assert (case["status"], case["fields"]["order_amount"]) == ("visited", "3200.00")
    monthly = visit(world, "monthly")
    out = on_site(world, monthly, status=422, next_visit_on="2027-01-04")  # the month after next
    assert "每月" in out["detail"]
    assert on_site(world, monthly, next_visit_on="2026-12-31")["status"] == "visited"


def test_what_the_visit_records_is_not_given_on_opening_and_a_plan_is_not_for_the_past(world: ApiWorld) -> None:
    out = world.open_view("account_visit", by="seller", customer=CLIENT, status=422, fields={
        "account_manager": "seller", "planned_on": "2026-11-18", "feedback": "满意", "spot_check": "confirmed"})
    assert sorted(e["field"] for e in out["errors"]) == ["fields.feedback", "fields.spot_check"]
    out = world.open_view("account_visit", by="seller", customer=CLIENT, status=422, fields={
        "account_manager": "seller", "planned_on": "2026-11-13"})
    assert [e["field"] for e in out["errors"]] == ["planned_on"]


def test_a_problem_not_solved_on_site_opens_a_client_issue_for_the_department_head(world: ApiWorld) -> None:
    case = on_site(world, visit(world), issue="对帐单地址错误, 需营业部更正")
    assert sorted(link["rel"] for link in case["links"]) == ["client_issue", "next_visit"]
    issue = world.linked_view(case, "client_issue")
    assert (issue["type"], issue["status"]) == ("client_issue", "logged")
    assert issue["fields"]["description"] == "对帐单地址错误, 需营业部更正"
    assert issue["fields"]["origin_number"] == case["number"]
    assert issue["customer"] == CLIENT
    assert [(e["to_role"], e["to_staff"]) for e in issue["escalations"]] == [("dept_head", "sales_head")]
    assert world.clock(issue, "resolution")["duration"] == "3wd"


def test_only_the_department_head_spot_checks_and_a_false_record_reaches_the_general_manager(
        world: ApiWorld) -> None:
    case = on_site(world, visit(world))
    out = world.do(case, "spot_check", "seller", status=403, spot_check="confirmed")
    assert (out["type"], out["allowed_roles"]) == (PROBLEM + "forbidden", ["dept_head"])
    case = world.do(case, "spot_check", "sales_head", spot_check="confirmed", note="电话核实")
    assert case["escalations"] == []
    other = on_site(world, visit(world, "monthly"))
    other = world.do(other, "spot_check", "sales_head", spot_check="not_confirmed", note="客户称本月未见面")
    assert [e["to_role"] for e in other["escalations"]] == ["general_manager"]
    out = world.do(other, "cancel", "sales_head", status=422, reason="x")
    assert out["type"] == PROBLEM + "action-not-allowed"


def test_a_client_not_visited_face_to_face_in_time_reaches_the_department_head_and_the_manager(
        world: ApiWorld) -> None:
    core, monthly = visit(world), visit(world, "monthly")
    assert world.clock(monthly, "monthly")["due_at"].startswith("2026-12-01T00:00")  # end of November
    world.do(core, "log_remote", "seller", mode="online", summary="微信发送周报")  # not a visit
    world.advance(days=14, minutes=1)
    assert world.app.record_breaches(core["id"]) == ["fortnightly"]
    assert world.app.record_breaches(monthly["id"]) == []
    esc = world.show(core)["escalations"]
    assert [(e["to_role"], e["to_staff"], e["clock"]) for e in esc] == [
        ("dept_head", "sales_head", "fortnightly"), ("agent", "seller", None)]
    world.advance(hours=13, minutes=58)  # Monday 30 November 23:59
    assert world.app.record_breaches(monthly["id"]) == []
    world.advance(minutes=2)  # Tuesday 1 December 00:01
    assert world.app.record_breaches(monthly["id"]) == ["monthly"]
    out = world.do(monthly, "cancel", "seller", status=403, reason="x")
    assert out["type"] == PROBLEM + "forbidden"
    assert world.do(monthly, "cancel", "sales_head", reason="客户销户")["status"] == "cancelled"

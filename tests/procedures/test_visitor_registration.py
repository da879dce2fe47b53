"""visitor_registration (003 §12, §2): the first registration of a customer wins and owns them.

Through the HTTP API on both databases: a registration needs the form of
address, a phone number and the desired unit type, and a phone inquiry is
no registration (422); a second salesperson registering the same phone is
a 422 ``.../duplicate`` naming the first registration, until that one
closes; only the sales supervisor confirms (403 otherwise) and the
confirmation makes the registering salesperson the owner, whose follow-ups
alone count; handing a customer back needs three follow-ups (422 before);
the supervisor reassigns on the customer's request; a late confirmation
escalates to the sales supervisor; the month of validity runs from the
visit and starts again at every follow-up (「最后一次跟進后一個月內」), and a
month without one expires the registration by itself (no escalation; the
owner is told) and frees the customer; a visit in the future is refused.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tests.api_support import ApiWorld
from tests.support import SHANGHAI

PROBLEMS = "https://casetrail.invalid/problems/"
WANG = {"name": "王先生", "phone": "13800138000"}
FIELDS = {"unit_type": "三房两厅", "visited_at": "2026-11-16T10:00:00+08:00"}


def register(world: ApiWorld, by: str = "seller", customer: Any = None, status: int = 201,
             **fields: Any) -> dict[str, Any]:
    return world.open_view("visitor_registration", by=by, customer=customer or WANG,
                           fields={**FIELDS, **fields}, title="来访登记", status=status)


def confirmed(world: ApiWorld, owner: str = "seller", customer: Any = None) -> dict[str, Any]:
    case = register(world, by=owner, customer=customer)
    case = world.do(case, "confirm", "sales_manager", assignee=owner)
    assert (case["status"], case["assignee"]) == ("confirmed", owner)
    return case


def test_the_first_registration_wins_until_it_closes(world: ApiWorld) -> None:
    first = register(world)
    assert first["number"].startswith("LFDJ-202611-")
    second = register(world, by="seller2", status=422)
    assert second["type"] == PROBLEMS + "duplicate"
    assert second["other_case"] == {"id": first["id"], "number": first["number"]}
    assert "以先登記者為準" in second["detail"]
    # another customer is not in conflict
    register(world, by="seller2", customer={"name": "李女士", "phone": "021-55551234"})
    # once the first registration closed in a deal, the phone is free again
    world.do(first, "confirm", "sales_manager", assignee="seller")
    done = world.do(first, "close_deal", "seller", unit="3-1201")
    assert (done["status"], done["fields"]["deal_unit"]) == ("deal", "3-1201")
    assert register(world, by="seller2")["status"] == "registered"


def test_a_registration_needs_address_phone_and_unit_type_and_is_never_a_phone_call(world: ApiWorld) -> None:
    missing = world.open_view("visitor_registration", by="seller", customer={"name": "王先生"},
                              fields={"visited_at": FIELDS["visited_at"]}, status=422)
    assert missing["type"] == PROBLEMS + "invalid-fields"
    assert {e["field"] for e in missing["errors"]} == {"customer.phone", "fields.unit_type"}  # every problem at once
    no_unit = world.open_view("visitor_registration", by="seller", customer=WANG,
                              fields={"visited_at": FIELDS["visited_at"]}, status=422)
    assert [e["field"] for e in no_unit["errors"]] == ["fields.unit_type"]
    wrong_phone = register(world, customer={"name": "王先生", "phone": "12345"}, status=422)
    assert [e["field"] for e in wrong_phone["errors"]] == ["customer.phone"]
    phone_call = register(world, source="phone", status=422)
    assert [e["field"] for e in phone_call["errors"]] == ["fields.source"]
    # a technician is no salesperson
    assert register(world, by="technician", status=403)["type"] == PROBLEMS + "forbidden"


def test_the_supervisor_confirms_ownership_and_only_the_owner_follows_up(world: ApiWorld) -> None:
    case = register(world)
    refused = world.do(case, "confirm", "seller", status=403, assignee="seller")
    assert refused["type"] == PROBLEMS + "forbidden" and refused["allowed_roles"] == ["sales_manager"]
    case = world.do(case, "confirm", "sales_manager", assignee="seller")
    assert world.do(case, "log_follow_up", "seller2", status=403, channel="phone",
                    summary="想抢客")["type"] == PROBLEMS + "forbidden"
    case = world.do(case, "log_follow_up", "seller", channel="phone", summary="约周六看样板房")
    assert case["counters"] == {"follow_ups": 1}
    # 003 §2 rule 15: the duty salesperson records the owner's returning customer; it is no follow-up of theirs
    case = world.do(case, "record_visit_for_owner", "seller2", summary="原售樓員休息,代接待")
    assert case["counters"] == {"follow_ups": 1, "visits_for_owner": 1}
    # 003 §2 rule 17: the customer asks for another salesperson; the supervisor reassigns
    assert world.do(case, "reassign", "seller", status=403, assignee="seller2",
                    reason="客户要求")["type"] == PROBLEMS + "forbidden"
    case = world.do(case, "reassign", "sales_manager", assignee="seller2", reason="客户要求更换售楼员")
    assert case["assignee"] == "seller2"
    world.do(case, "log_follow_up", "seller", status=403, channel="phone", summary="x")
    assert world.do(case, "log_follow_up", "seller2", channel="visit", summary="接手")["counters"]["follow_ups"] == 2


def test_handing_a_customer_back_needs_three_follow_ups(world: ApiWorld) -> None:
    case = confirmed(world)
    for n in (1, 2):
        case = world.do(case, "log_follow_up", "seller", channel="phone", summary=f"跟進 {n}")
        early = world.do(case, "release", "seller", status=422, reason="客户无意向")
        assert early["type"] == PROBLEMS + "invalid-fields"
        assert early["errors"][0]["field"] == "release_reason" and "不少于三次" in early["detail"]
    case = world.do(case, "log_follow_up", "seller", channel="sms", summary="跟進 3")
    case = world.do(case, "release", "seller", reason="客户无意向")
    assert (case["status"], case["fields"]["release_reason"]) == ("released", "客户无意向")
    assert register(world, by="seller2")["status"] == "registered"  # released: free for others


def test_an_unconfirmed_registration_escalates_to_the_sales_supervisor(world: ApiWorld) -> None:
    case = register(world)
    assert world.clock(case, "confirmation")["due_at"] == "2026-11-17T10:00:00+08:00"  # 1 working day
    world.advance(hours=23)
    assert world.app.record_breaches(case["id"]) == []
    world.advance(hours=2)
    assert world.app.record_breaches(case["id"]) == ["confirmation"]
    view = world.show(case)
    assert [(e["clock"], e["to_role"]) for e in view["escalations"]] == [("confirmation", "sales_manager")]
    assert world.clock(case, "confirmation")["state"] == "breached"


def test_a_month_without_a_follow_up_expires_the_registration_by_itself(world: ApiWorld) -> None:
    case = confirmed(world)
    assert case["fields"]["last_contact_at"] == FIELDS["visited_at"]  # the visit is the first contact
    assert world.clock(case, "validity")["due_at"] == "2026-12-17T00:00:00+08:00"  # 30 days, to 24:00
    world.now = datetime(2026, 12, 16, 23, 59, tzinfo=SHANGHAI)
    assert world.app.record_breaches(case["id"]) == []
    world.now = datetime(2026, 12, 17, 0, 1, tzinfo=SHANGHAI)
    assert world.app.record_breaches(case["id"]) == ["validity"]
    view = world.show(case)
    assert view["status"] == "expired"
    # no escalation up the ladder; the owner hears that the customer is free
    assert [(e["clock"], e["to_role"], e["to_staff"]) for e in view["escalations"]] == [(None, "agent", "seller")]
    breach = next(h for h in world.history(case) if h["type"].endswith("DeadlineBreached"))
    assert breach["data"]["changes"] == {"status": ["confirmed", "expired"]}
    world.do(case, "log_follow_up", "seller", status=422, channel="phone", summary="太迟了")
    assert register(world, by="seller2", visited_at="2026-12-17T00:00:00+08:00")["status"] == "registered"


def test_every_follow_up_starts_the_month_again(world: ApiWorld) -> None:
    case = confirmed(world)
    world.now = datetime(2026, 12, 6, 15, 0, tzinfo=SHANGHAI)
    case = world.do(case, "log_follow_up", "seller", channel="phone", summary="约看样板房")
    assert world.clock(case, "validity")["state"] == "running"
    assert world.clock(case, "validity")["due_at"] == "2027-01-06T00:00:00+08:00"  # 30 days after 12-06
    world.now = datetime(2026, 12, 20, 11, 0, tzinfo=SHANGHAI)
    assert world.app.record_breaches(case["id"]) == []  # past the first month: the follow-up renewed it
    case = world.do(case, "log_follow_up", "seller", channel="visit", summary="二次到访")
    assert world.clock(case, "validity")["due_at"] == "2027-01-20T00:00:00+08:00"
    world.now = datetime(2027, 1, 19, 23, 0, tzinfo=SHANGHAI)
    assert world.app.record_breaches(case["id"]) == []
    world.now = datetime(2027, 1, 20, 0, 1, tzinfo=SHANGHAI)
    assert world.app.record_breaches(case["id"]) == ["validity"]
    assert world.show(case)["status"] == "expired"
    # a deal in time meets the clock instead
    other = register(world, by="seller2", customer={"name": "赵先生", "phone": "13900139000"},
                     visited_at="2027-01-20T00:00:00+08:00")
    world.do(other, "confirm", "sales_manager", assignee="seller2")
    done = world.do(other, "close_deal", "seller2", unit="5-0801")
    assert done["status"] == "deal" and world.clock(done, "validity")["state"] == "met"


def test_a_visit_in_the_future_is_no_registration(world: ApiWorld) -> None:
    ahead = register(world, visited_at="2026-11-16T10:30:00+08:00", status=422)  # now is 10:00
    assert [e["field"] for e in ahead["errors"]] == ["visited_at"]
    assert register(world, visited_at="2026-11-15T16:00:00+08:00")["status"] == "registered"

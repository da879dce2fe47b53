"""The second-edition rules (CASE-TYPES.md "Rules that hold on every path"),
each through the HTTP API on SQLite and PostgreSQL: first response, return
visit assignment, the repair-order dispatch rules of 002 A6, new customers'
payment terms, no approving one's own order, subtypes, ``allowed_actions``
on every 422 about an action, and the loader's no-dead-end check.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from domain.model.casetype import build_case_type
from domain.model.errors import CaseTypeError
from tests.api_support import ApiWorld

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def window(w: ApiWorld, hours: float = 1) -> dict[str, str]:
    start = w.now + timedelta(hours=hours)
    return {"window_start": start.isoformat(), "window_end": (start + timedelta(hours=2)).isoformat()}


# ------------------------------------------------------------ first response
def test_first_response_is_the_first_contact_with_the_customer(w: ApiWorld) -> None:
    case = w.open_view("complaint")
    case = w.do(case, "assign", "supervisor", assignee="agent2")
    assert w.clock(case, "first_response")["state"] == "running"  # assigning is internal
    w.advance(minutes=20)
    case = w.do(case, "log_contact", "agent2", channel="phone", summary="called back")
    clock = w.clock(case, "first_response")
    assert clock["state"] == "met" and clock["stopped_at"] == w.now.isoformat()
    other = w.open_view("complaint")
    for action, by, data in [("assign", "supervisor", {"assignee": "agent"}), ("start_investigation", "agent", {}),
                             ("propose_resolution", "agent", {"resolution": "refund"}),
                             ("approve_resolution", "supervisor", {})]:
        other = w.do(other, action, by, **data)
    assert w.clock(other, "first_response")["state"] == "running"
    other = w.do(other, "reply_customer", "agent", reply="refunded")
    assert w.clock(other, "first_response")["state"] == "met"


# ------------------------------------------------------------ return visits
def test_return_visits_can_be_assigned(w: ApiWorld) -> None:
    visit = w.open_view("return_visit", fields={"campaign": "春节回访"})
    w.do(visit, "assign", "agent", 403, assignee="agent2")
    visit = w.do(visit, "assign", "supervisor", assignee="agent2")
    assert visit["assignee"] == "agent2"
    assert w.do(visit, "record_outcome", "agent2", result="satisfied", score=5)["status"] == "done"


# ------------------------------------------------------------ repair orders
def test_an_offered_order_may_be_accepted_only_by_the_technicians_offered(w: ApiWorld) -> None:
    case = w.open_view("repair_order", fields={"device": "空调"})
    w.do(case, "offer", "technician", 403, technician="technician2")
    case = w.do(case, "offer", "agent", technician="technician2", technician2="agent2")
    assert case["fields"]["offered_to"] == "technician2,agent2"
    assert "accept" not in w.show(case, "technician").get("allowed_actions", [])
    w.do(case, "accept", "technician", 403)
    case = w.do(case, "accept", "technician2")
    assert case["assignee"] == "technician2"


def test_accepting_an_order_one_holds_is_200_with_nothing_new(w: ApiWorld) -> None:
    case = w.open_view("repair_order")
    case = w.do(case, "accept", "technician")
    again = w.do(case, "accept", "technician")
    assert again["version"] == case["version"] and again["status"] == "accepted"
    w.do(case, "accept", "technician2", 409)


def test_dispatch_clocks_of_002_a6(w: ApiWorld) -> None:
    case = w.open_view("repair_order")
    acceptance = w.clock(case, "acceptance")
    assert datetime.fromisoformat(acceptance["due_at"]) == w.now + timedelta(minutes=30)
    w.advance(minutes=10)
    case = w.do(case, "accept", "technician")
    assert w.clock(case, "acceptance")["state"] == "met"
    first_call = w.clock(case, "first_call")
    assert datetime.fromisoformat(first_call["due_at"]) == w.now + timedelta(minutes=5)
    w.advance(minutes=3)
    case = w.do(case, "log_contact", "technician", channel="phone", summary="约了明天上午")
    assert w.clock(case, "first_call")["state"] == "met"
    assert w.clock(case, "appointment_contact")["state"] == "running"
    problem = w.do(case, "schedule", "technician", 422, window_start=(w.now - timedelta(hours=1)).isoformat(),
                   window_end=w.now.isoformat())
    assert "future" in problem["detail"] and "schedule" in problem["allowed_actions"]
    case = w.do(case, "schedule", "technician", **window(w, hours=24))
    assert w.clock(case, "appointment_contact")["state"] == "met"
    w.now = datetime.fromisoformat(case["fields"]["window_start"]) - timedelta(minutes=12)
    case = w.do(case, "arrive", "technician")
    assert case["fields"]["arrival"] == "on_time"
    case = w.do(case, "complete", "technician")
    case = w.do(case, "rework", "supervisor", reason="still noisy")
    assert w.clock(case, "appointment_contact")["state"] == "running"  # restarted by the rework
    case = w.do(case, "schedule", "technician", **window(w, hours=1))
    w.now = datetime.fromisoformat(case["fields"]["window_end"]) + timedelta(minutes=1)
    assert w.do(case, "arrive", "technician")["fields"]["arrival"] == "late"


# ------------------------------------------------------------ orders
@pytest.mark.parametrize("terms,city,amount,ok", [
    ("cash", None, "100.00", True), ("prepay", None, "90000.00", True),
    ("cod", "广州", "1500.00", True), ("cod", "广州", "1499.99", False), ("cod", "深圳", "9000.00", False),
    ("credit", "广州", "9000.00", False),
])
def test_new_customers_pay_cash_or_in_advance(w: ApiWorld, terms: str, city: str | None, amount: str,
                                              ok: bool) -> None:
    fields = {"amount": amount, "payment_terms": terms} | ({"city": city} if city else {})
    customer = {"id": "K-new", "name": "新客户", "is_new": True}
    if ok:
        w.open_view("order_approval", fields=fields, customer=customer)
        return
    problem = w.open_view("order_approval", fields=fields, customer=customer, status=422)
    assert "004 B1" in problem["detail"] and problem["errors"][0]["field"] == "payment_terms"


def test_a_correction_cannot_make_an_order_break_the_payment_terms_rule(w: ApiWorld) -> None:
    case = w.open_view("order_approval", fields={"amount": "5000.00", "payment_terms": "credit"})
    problem = w.do(case, "correct_field", "supervisor", 422, field="customer.is_new", value="true", reason="x")
    assert "allowed_actions" in problem


def test_nobody_approves_an_order_they_opened_or_submitted(w: ApiWorld) -> None:
    w.app.register_staff("seller", "Seller", "sales", ["agent", "sales_manager"])
    w.tokens["seller"] = w.app.issue_token("seller")
    case = w.open_view("order_approval", by="seller", fields={"amount": "30000.00", "payment_terms": "credit"})
    case = w.do(case, "submit", "seller")
    assert case["approvals"]["required"] == ["sales_manager"]
    assert "approve" not in case["allowed_actions"]
    w.do(case, "approve", "seller", 403)
    other = w.open_view("order_approval", fields={"amount": "30000.00", "payment_terms": "credit"})
    other = w.do(other, "submit", "seller")
    w.do(other, "approve", "seller", 403)
    assert w.do(other, "approve", "sales_manager")["status"] == "approved"


# ------------------------------------------------------------ complaints
def test_subtype_only_for_communicative_complaints(w: ApiWorld) -> None:
    problem = w.open_view("complaint", fields={"category": "valid", "subtype": "venting"}, status=422)
    assert problem["errors"][0]["field"] == "subtype"
    case = w.open_view("complaint")
    w.do(case, "classify", "agent", 422, category="valid", subtype="help")
    case = w.do(case, "classify", "agent", category="communicative", subtype="help")
    case = w.do(case, "classify", "agent", category="valid")  # reclassified valid: the subtype goes
    assert case["fields"]["category"] == "valid" and "subtype" not in case["fields"]


# ------------------------------------------------------------ problems
def test_every_422_about_an_action_carries_allowed_actions(w: ApiWorld) -> None:
    case = w.open_view("complaint")
    problems = [w.do(case, "log_contact", "agent", 422, channel="phone"),                    # missing field
                w.do(case, "log_contact", "agent", 422, channel="phone", summary="x", colour=1),  # unknown field
                w.do(case, "assign", "supervisor", 422, assignee="nobody"),                   # unknown staff
                w.do(case, "reply_customer", "agent", 422, reply="x"),                         # wrong state
                w.do(case, "extend_deadline", "dept_head", 422, working_days=9, reason="x")]   # out of range
    order = w.open_view("order_approval", fields={"amount": "1000.00", "payment_terms": "cash",
                                                  "product_kind": "custom"})
    order = w.do(order, "submit", "agent")
    problems.append(w.do(order, "ship", "agent", 422))                                         # failed guard
    for problem in problems:
        assert isinstance(problem["allowed_actions"], list), problem
    assert "log_contact" in problems[0]["allowed_actions"]


def test_the_loader_refuses_a_state_with_no_way_out() -> None:
    data = {"name": "t", "number_prefix": "T", "initial_state": "a", "states": ["a", "b", "c"],
            "closed_states": ["c"], "actions": {"go": {"from": ["a"], "to": "b"}}}
    with pytest.raises(CaseTypeError, match="'b' is not closed and no action leaves it"):
        build_case_type(data, {}, "t.toml")
    data["actions"]["end"] = {"from": ["b"], "to": "c"}
    assert build_case_type(data, {}, "t.toml").name == "t"


# ------------------------------------------------------------ escalations
def test_escalations_reach_a_person_and_list_by_escalated_to(w: ApiWorld) -> None:
    from tests.integration.test_projections import catch_up

    major = w.open_view("complaint", fields={"severity": "major"})
    assert [(e["to_role"], e["to_staff"]) for e in major["escalations"]] == [("dept_head", "dept_head")]
    crisis = w.open_view("complaint", fields={"severity": "crisis"})
    # nobody in cs is a general manager: the first active one anywhere, by staff id
    # ("boss" holds general_manager besides sales_manager)
    assert [(e["to_role"], e["to_staff"]) for e in crisis["escalations"]] == [
        ("dept_head", "dept_head"), ("general_manager", "boss")]
    late = w.open_view("complaint")
    w.advance(days=3)
    w.app.record_breaches(late["id"])
    assert {e["to_staff"] for e in w.show(late)["escalations"]} == {"supervisor", "dept_head"}
    history = [e for e in w.history(late) if e["type"] == "Escalated"]
    assert {e["data"]["to_staff"] for e in history} == {"supervisor", "dept_head"}
    w.do(crisis, "reject", "supervisor", reason="客诉不成立")  # closed: no longer listed
    catch_up(w.app)
    listed = w.call("GET", "/v1/cases?escalated_to=dept_head", "dept_head", status=200)["items"]
    assert {c["number"] for c in listed} == {major["number"], late["number"]}
    assert w.call("GET", "/v1/cases?escalated_to=boss", "dept_head", status=200)["items"] == []
    problem = w.call("GET", "/v1/cases?escalated_to=ghost", "dept_head", status=400)  # API.md: 400 naming it
    assert "ghost" in problem["detail"]


# ------------------------------------------------------------ KPIs
def test_kpis_credit_contact_recorder_and_technician(w: ApiWorld) -> None:
    from tests.integration.test_projections import catch_up

    complaint = w.open_view("complaint")
    complaint = w.do(complaint, "assign", "supervisor", assignee="agent")
    w.advance(minutes=15)
    w.do(complaint, "log_contact", "agent2", channel="phone", summary="called back")  # agent2 made the contact
    for arrive_before, score in ((timedelta(minutes=15), 5), (timedelta(minutes=-150), 2)):
        case = w.open_view("repair_order")
        case = w.do(case, "accept", "technician")
        case = w.do(case, "schedule", "technician", **window(w))
        w.now = datetime.fromisoformat(case["fields"]["window_start"]) - arrive_before
        case = w.do(case, "arrive", "technician")
        case = w.do(case, "complete", "technician")
        visit = w.linked_view(case, "return_visit")
        w.do(visit, "assign", "supervisor", assignee="agent2")
        w.do(visit, "record_outcome", "agent2", result="satisfied", score=score)
    catch_up(w.app)
    days = "from=2026-11-01&to=2026-11-30"
    agent2 = w.call("GET", f"/v1/staff/agent2/performance?{days}", "supervisor", status=200)
    assert agent2["first_response"]["count"] == 1 and agent2["first_response"]["median_seconds"] == 900.0
    assert agent2["satisfaction"]["satisfied"] == 2  # the results count for the agent who recorded them
    tech = w.call("GET", f"/v1/staff/technician/performance?{days}", "supervisor", status=200)
    assert tech["technician"] == {"arrivals": 2, "on_time": 1, "on_time_pct": 50.0, "return_visit_scores": 2,
                                  "average_return_visit_score": 3.5}
    assert w.call("GET", f"/v1/staff/agent/performance?{days}", "supervisor", status=200)[
        "first_response"]["count"] == 0

"""sales_lead (客户信息登记, 004 B1, 002 A9 A15): who owns a lead, and how it is followed.

Proves on SQLite and PostgreSQL: the first registration of a phone number owns the customer
(a second one is a 422 duplicate naming the owner's case, also once the first is won; free
again once it is lost); a self-sourced lead is claimed only by the salesperson who registered
it, a network lead only assigned by the sales manager; only the assignee follows it up, only the sales manager moves
it (with a reason); a network lead not assigned within a working day reaches the general
manager, a lead not contacted within a week of assignment the sales manager.
"""

from __future__ import annotations

from typing import Any

from tests.api_support import ApiWorld

PROBLEM = "https://casetrail.invalid/problems/"
PROSPECT = {"name": "周经理", "phone": "13800001234", "company": "南海某灯具厂"}


def lead(world: ApiWorld, source: str = "self", by: str = "seller", status: int = 201,
         customer: Any = None) -> dict[str, Any]:
    return world.open_view("sales_lead", by=by, customer=customer or PROSPECT, status=status,
                           fields={"source": source, "channel": "web", "needs": "LED 灯带线束, 月用量约2万条"})


def test_a_self_sourced_lead_is_claimed_followed_and_won(world: ApiWorld) -> None:
    case = lead(world)
    assert case["number"].startswith("KHXX-202611-")
    assert case["clocks"] == []  # no assignment clock for a self-sourced lead
    out = world.do(case, "assign", "sales_manager", status=422, assignee="seller2")
    assert out["type"] == PROBLEM + "guard-failed"
    out = world.do(case, "claim", "seller2", status=403)
    assert out["type"] == PROBLEM + "forbidden"  # not the salesperson who found it
    case = world.do(case, "claim", "seller")
    assert (case["status"], case["assignee"]) == ("assigned", "seller")
    out = world.do(case, "log_contact", "seller2", status=403, channel="phone", summary="x")
    assert out["type"] == PROBLEM + "forbidden"
    case = world.do(case, "log_contact", "seller", channel="visit", summary="上门看样, 要求报价")
    assert case["status"] == "following"
    assert world.clock(case, "first_contact")["state"] == "met"
    out = world.do(case, "win", "seller", status=422)
    assert [e["field"] for e in out["errors"]] == ["order_ref"]
    assert world.do(case, "win", "seller", order_ref="DD-202611-0042")["status"] == "won"


def test_a_network_lead_is_assigned_by_the_sales_manager(world: ApiWorld) -> None:
    case = lead(world, "network", by="agent")  # the online promotion specialist registers it
    out = world.do(case, "claim", "agent", status=422)
    assert out["type"] == PROBLEM + "guard-failed"
    assert "统一交业务部经理分配" in out["detail"]
    out = world.do(case, "assign", "sales_head", status=403, assignee="seller2")
    assert (out["type"], out["allowed_roles"]) == (PROBLEM + "forbidden", ["sales_manager"])
    case = world.do(case, "assign", "sales_manager", assignee="seller2")
    assert (case["status"], case["assignee"]) == ("assigned", "seller2")
    assert world.clock(case, "assignment")["state"] == "met"
    out = world.do(case, "reassign", "seller2", status=403, assignee="seller", reason="x")
    assert out["type"] == PROBLEM + "forbidden"
    out = world.do(case, "reassign", "sales_manager", status=422, assignee="seller")
    assert [e["field"] for e in out["errors"]] == ["reason"]
    case = world.do(case, "reassign", "sales_manager", assignee="seller", reason="客户此前已由张三接待")
    assert case["assignee"] == "seller"


def test_the_first_registration_owns_the_customer(world: ApiWorld) -> None:
    first = lead(world)
    out = lead(world, "network", by="agent", status=422)
    assert out["type"] == PROBLEM + "duplicate"
    assert out["other_case"]["number"] == first["number"]
    assert "先建客户档案者负责跟踪" in out["detail"]
    assert lead(world, customer={**PROSPECT, "phone": "020-83001234"})["status"] == "registered"
    world.do(first, "claim", "seller")
    world.do(first, "log_contact", "seller", channel="phone", summary="约下周拜访")
    world.do(first, "win", "seller", order_ref="DD-202611-0043")
    out = lead(world, by="seller2", status=422)  # won: still the first salesperson's customer
    assert out["other_case"]["number"] == first["number"]
    other = {**PROSPECT, "phone": "13900005678"}
    lost = lead(world, customer=other)
    world.do(lost, "lose", "sales_manager", reason="客户转向竞品")
    assert lead(world, by="seller2", customer=other)["status"] == "registered"


def test_invalid_leads_are_refused(world: ApiWorld) -> None:
    out = lead(world, customer={"name": "周经理", "phone": "8300-1234"}, status=422)
    assert out["type"] == PROBLEM + "invalid-fields"
    assert [e["field"] for e in out["errors"]] == ["customer.phone"]
    out = lead(world, "walk_in", status=422)
    assert [e["field"] for e in out["errors"]] == ["fields.source"]
    out = lead(world, by="sales_manager", status=403)
    assert out["type"] == PROBLEM + "forbidden"


def test_unassigned_and_uncontacted_leads_are_escalated(world: ApiWorld) -> None:
    network = lead(world, "network", by="agent")
    mine = world.do(lead(world, customer={**PROSPECT, "phone": "13900006789"}), "claim", "seller")
    world.advance(days=1, minutes=1)
    assert world.app.record_breaches(network["id"]) == ["assignment"]
    esc = world.show(network)["escalations"][-1]
    # the first active general manager of the sales department: the roster's "boss"
    assert (esc["to_role"], esc["to_staff"], esc["clock"]) == ("general_manager", "boss", "assignment")
    assert world.app.record_breaches(mine["id"]) == []
    world.advance(days=6)
    assert world.app.record_breaches(mine["id"]) == ["first_contact"]
    esc = world.show(mine)["escalations"][-1]
    assert (esc["to_role"], esc["clock"]) == ("sales_manager", "first_contact")

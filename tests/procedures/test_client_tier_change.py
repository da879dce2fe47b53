"""client_tier_change (客户级别调整, 002 A1 一, A17): a client's move to another service tier.

Proves on SQLite and PostgreSQL: 会员 needs a market value of at least 300,000.00 and 贵宾 of
at least 1,000,000.00 (the boundaries themselves are enough), also when a value is
corrected; a change to the same tier is refused; the proposer submits, the department head approves, for 贵宾
the general manager after them, never the account manager; one open change per client (422
duplicate); a proposal undecided after two working days reaches the general manager.
"""

from __future__ import annotations

from typing import Any

from tests.api_support import ApiWorld

PROBLEM = "https://casetrail.invalid/problems/"
CLIENT = {"id": "M-30871", "name": "陈女士"}


def change(world: ApiWorld, proposed: str, value: str, current: str = "general", status: int = 201,
           customer: Any = None) -> dict[str, Any]:
    body = {"current_tier": current, "proposed_tier": proposed, "market_value": value, "valued_on": "2026-11-13",
            "basis": "11月13日收盘对帐单"}
    return world.open_view("client_tier_change", by="seller", customer=customer or CLIENT, fields=body,
                           status=status)


def test_a_member_promotion_is_approved_by_the_department_head(world: ApiWorld) -> None:
    case = change(world, "member", "300000.00")
    assert case["number"].startswith("KHDJ-202611-")
    assert world.do(case, "submit", "seller2", status=403)["type"] == PROBLEM + "forbidden"
    case = world.do(case, "submit", "seller")
    assert case["approvals"]["required"] == ["dept_head"]
    out = world.do(case, "approve", "seller", status=403)
    assert out["type"] == PROBLEM + "approval-not-allowed"
    out = world.do(case, "approve", "general_manager", status=403)
    assert out["type"] == PROBLEM + "approval-not-allowed"
    case = world.do(case, "approve", "sales_head", comment="市值达标")
    assert case["status"] == "approved"
    assert world.clock(case, "decision")["state"] == "met"


def test_a_vip_promotion_needs_the_general_manager_after_the_department_head(world: ApiWorld) -> None:
    case = world.do(change(world, "vip", "1000000.00", current="member"), "submit", "seller")
    assert case["approvals"]["required"] == ["dept_head", "general_manager"]
    out = world.do(case, "approve", "general_manager", status=403)
    assert out["type"] == PROBLEM + "approval-not-allowed"
    case = world.do(case, "approve", "sales_head")
    assert case["status"] == "submitted"
    case = world.do(case, "reject", "general_manager", reason="资金为短期转入, 下月复核")
    assert case["status"] == "rejected"


def test_the_market_value_thresholds(world: ApiWorld) -> None:
    out = change(world, "member", "299999.99", status=422)
    assert out["type"] == PROBLEM + "invalid-fields"
    assert out["errors"][0]["field"] == "market_value"
    assert "30万元以上" in out["detail"]
    out = change(world, "vip", "999999.99", current="member", status=422)
    assert "100万元以上" in out["detail"]
    out = change(world, "member", "500000.00", current="member", status=422)
    assert out["errors"][0]["field"] == "proposed_tier"
    # a demotion needs no threshold
    down = change(world, "general", "120000.00", current="member", customer={"id": "M-2", "name": "李先生"})
    assert world.do(down, "submit", "seller")["approvals"]["required"] == ["dept_head"]
    # a correction may not take a proposal below its threshold either
    vip = change(world, "vip", "1200000.00", current="member", customer={"id": "M-3", "name": "赵先生"})
    out = world.do(vip, "correct_field", "supervisor", status=422, field="market_value", value="800000.00",
                   reason="按月均市值")
    assert "100万元以上" in out["detail"]


def test_one_open_change_per_client(world: ApiWorld) -> None:
    first = change(world, "member", "350000.00")
    out = change(world, "vip", "1500000.00", status=422)
    assert out["type"] == PROBLEM + "duplicate"
    assert out["other_case"]["number"] == first["number"]
    out = world.do(first, "withdraw", "seller", status=422)
    assert [e["field"] for e in out["errors"]] == ["reason"]
    world.do(first, "withdraw", "seller", reason="市值已超100万, 直接申请贵宾")
    assert change(world, "vip", "1500000.00")["status"] == "draft"


def test_an_undecided_proposal_reaches_the_general_manager(world: ApiWorld) -> None:
    case = world.do(change(world, "member", "420000.00"), "submit", "seller")
    assert world.clock(case, "decision")["due_at"].startswith("2026-11-18T10:00")
    world.advance(days=2, minutes=1)
    assert world.app.record_breaches(case["id"]) == ["decision"]
    esc = world.show(case)["escalations"][-1]
    # the first active general manager of the sales department: the roster's "boss"
    assert (esc["to_role"], esc["to_staff"], esc["clock"]) == ("general_manager", "boss", "decision")

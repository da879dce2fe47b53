"""renovation_permit (装修许可, 000 A§18) through the HTTP API, on both databases.

A supervisor approves within 3 working days (「3个工作日之内完成审批」); the
technician records the water and pressure tests, and only a pass the owner
signed moves the permit to ``tested`` (a failed or unsigned test is recorded
and the permit waits); the test clock (3 days from applying) stops then; the
supervisor issues the permit. A late approval is breached.
"""

from __future__ import annotations

from tests.api_support import ApiWorld

OWNER = {"id": "H-501", "name": "赵女士", "phone": "13600136000"}


def permit(world: ApiWorld) -> dict:
    return world.open_view("renovation_permit", customer=OWNER, fields={"unit": "3-2-501", "contractor": "美家装饰"})


def test_a_permit_waits_for_a_passed_signed_test(world: ApiWorld) -> None:
    case = permit(world)
    assert case["number"] == "ZXXK-202611-0001"
    assert world.clock(case, "approval")["due_at"] == "2026-11-19T10:00:00+08:00"  # Mon 10:00 + 3 working days
    world.do(case, "approve", "agent", status=403)
    case = world.do(case, "approve", "supervisor")
    world.do(case, "record_test", "agent", status=403, result="pass", owner_signed=True)
    case = world.do(case, "record_test", "technician", result="fail", owner_signed=True)
    assert case["status"] == "approved" and case["fields"]["test_result"] == "fail"
    case = world.do(case, "record_test", "technician", result="pass", owner_signed=False)
    assert case["status"] == "approved"  # not signed by the owner
    world.do(case, "issue_permit", "supervisor", status=422)
    case = world.do(case, "record_test", "technician", result="pass", owner_signed=True)
    assert case["status"] == "tested" and world.clock(case, "test")["state"] == "met"
    case = world.do(case, "issue_permit", "supervisor")
    assert case["status"] == "permitted"


def test_a_late_approval_is_breached(world: ApiWorld) -> None:
    case = permit(world)
    world.advance(days=3)  # Thursday 10:00: exactly due, not yet late
    assert world.app.record_breaches(case["id"]) == []
    world.advance(minutes=1)
    assert world.app.record_breaches(case["id"]) == ["approval", "test"]  # both 3 days from applying
    assert [e["to_role"] for e in world.show(case)["escalations"]] == ["supervisor", "dept_head"]
    case = world.do(case, "reject", "supervisor", reason="未提交施工图")
    assert case["status"] == "rejected"

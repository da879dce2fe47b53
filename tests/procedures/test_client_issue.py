"""client_issue (客户意见登记, 002 A1 四): a client's problem not solved on site, in 3 working days.

Proves on SQLite and PostgreSQL: logging the issue reports it to the department head at
once (向部门负责人汇报); the account manager resolves it, only the department head closes it
or sends it back; a description is required; an issue not resolved within three working
days climbs past the department head to the general manager.
"""

from __future__ import annotations

from typing import Any

from tests.api_support import ApiWorld

PROBLEM = "https://casetrail.invalid/problems/"
CLIENT = {"id": "M-30871", "name": "陈女士", "phone": "13912345678"}


def issue(world: ApiWorld, status: int = 201, **fields: Any) -> dict[str, Any]:
    body = {"description": "配股款未按时划转", "account_manager": "seller", **fields}
    return world.open_view("client_issue", by="seller", customer=CLIENT, fields=body, status=status)


def test_an_issue_is_reported_resolved_and_closed_by_the_department_head(world: ApiWorld) -> None:
    case = issue(world)
    assert case["number"].startswith("KHYJ-202611-")
    assert [(e["to_role"], e["to_staff"], e["clock"]) for e in case["escalations"]] == \
        [("dept_head", "sales_head", None)]
    out = world.do(case, "resolve", "seller", status=422)
    assert [e["field"] for e in out["errors"]] == ["resolution"]
    case = world.do(case, "resolve", "seller", resolution="已联系清算部补划, 客户确认到帐")
    assert case["status"] == "resolved"
    assert world.clock(case, "resolution")["state"] == "met"
    out = world.do(case, "close", "seller", status=403)
    assert (out["type"], out["allowed_roles"]) == (PROBLEM + "forbidden", ["dept_head"])
    case = world.do(case, "reopen", "sales_head", reason="客户反映仍少一笔")
    assert case["status"] == "logged"
    world.do(case, "resolve", "seller", resolution="补划第二笔")
    assert world.do(case, "close", "sales_head", comment="已回访确认")["status"] == "closed"


def test_an_issue_needs_its_description(world: ApiWorld) -> None:
    out = issue(world, status=422, description="")
    assert out["type"] == PROBLEM + "invalid-fields"
    assert [e["field"] for e in out["errors"]] == ["fields.description"]


def test_an_issue_unresolved_after_three_working_days_reaches_the_general_manager(world: ApiWorld) -> None:
    case = issue(world)  # Monday 10:00: due Thursday 10:00
    assert world.clock(case, "resolution")["due_at"].startswith("2026-11-19T10:00")
    world.advance(days=3)
    assert world.app.record_breaches(case["id"]) == []
    world.advance(minutes=1)
    assert world.app.record_breaches(case["id"]) == ["resolution"]
    esc = world.show(case)["escalations"]
    # the department head knew from the start: the breach goes one up
    assert [(e["to_role"], e["clock"]) for e in esc] == [("dept_head", None), ("general_manager", "resolution")]

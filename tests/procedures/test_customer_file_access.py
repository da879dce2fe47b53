"""customer_file_access (003 §10): the marketing manager agrees, the operations manager is told, the file comes back.

Through the HTTP API on both databases: a request names the files and its
purpose (422 otherwise) and only a salesperson opens one (403 for a
technician); only the marketing manager approves or rejects (403 for the
salesperson and for the department head); the approval itself is escalated
to the operations manager (the department head) to tell them; a file not
returned within a working day escalates to the general manager (the
operations manager knows already), and an
undecided request after a working day to the marketing manager.
"""

from __future__ import annotations

from typing import Any

from tests.api_support import ApiWorld

PROBLEMS = "https://casetrail.invalid/problems/"
FILES = [{"customer": "周先生", "file_no": "KH-0381"}, {"customer": "郑女士"}]


def request(world: ApiWorld, by: str = "seller", status: int = 201, **fields: Any) -> dict[str, Any]:
    body = {"files": FILES, "purpose": "交房前回访,核对联系方式", **fields}
    return world.open_view("customer_file_access", by=by, customer={}, fields=body, title="查阅客户档案",
                           status=status)


def test_a_request_names_the_files_and_why(world: ApiWorld) -> None:
    missing = world.open_view("customer_file_access", by="seller", customer={}, fields={}, status=422)
    assert missing["type"] == PROBLEMS + "invalid-fields"
    assert {e["field"] for e in missing["errors"]} == {"fields.files", "fields.purpose"}
    assert request(world, files=[{"file_no": "KH-1"}], status=422)["errors"][0]["field"] == "fields.files"
    assert request(world, by="technician", status=403)["type"] == PROBLEMS + "forbidden"
    assert request(world)["number"].startswith("DACY-202611-")


def test_the_marketing_manager_agrees_and_the_operations_manager_is_told(world: ApiWorld) -> None:
    case = request(world)
    assert world.do(case, "approve", "seller", status=403)["type"] == PROBLEMS + "forbidden"
    assert world.do(case, "approve", "sales_head", status=403)["allowed_roles"] == ["sales_manager"]
    assert world.show(case)["escalations"] == []
    case = world.do(case, "approve", "sales_manager", comment="同意,当日归还")
    assert case["status"] == "approved" and world.clock(case, "decision")["state"] == "met"
    told = world.show(case)["escalations"]
    assert [(e["to_role"], e["to_staff"], e["clock"]) for e in told] == [("dept_head", "sales_head", None)]
    assert "知會經營部經理" in told[0]["reason"]
    assert world.do(case, "return_file", "seller", status=403)["type"] == PROBLEMS + "forbidden"
    case = world.do(case, "return_file", "sales_manager", note="已归还")
    assert case["status"] == "returned" and world.clock(case, "return")["state"] == "met"
    other = world.do(request(world), "reject", "sales_manager", reason="用途不明")
    assert (other["status"], other["fields"]["decision_note"]) == ("rejected", "用途不明")
    assert world.show(other)["escalations"] == []  # nobody is told of a refusal


def test_a_file_kept_and_a_request_left_undecided_escalate(world: ApiWorld) -> None:
    waiting = request(world)
    kept = world.do(request(world), "approve", "sales_manager")
    world.advance(days=1, minutes=1)
    assert world.app.record_breaches(waiting["id"]) == ["decision"]
    assert [(e["clock"], e["to_role"]) for e in world.show(waiting)["escalations"]] == [("decision", "sales_manager")]
    assert world.app.record_breaches(kept["id"]) == ["return"]
    escalations = world.show(kept)["escalations"]
    assert [(e["clock"], e["to_role"]) for e in escalations] == [(None, "dept_head"), ("return", "general_manager")]

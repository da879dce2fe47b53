"""key_loan (钥匙借用, 000 A§18) through the HTTP API, on SQLite and PostgreSQL.

Proves: an owner's loan goes out on registration and signature; a key that
is out cannot be lent again (422 .../duplicate naming the loan) until it is
returned; 「其它人员」 wait for the supervisor's consent, which the person who
signed the key out may not give; the register is cleared (消项) after the
return; a key still out after 24 hours escalates to the supervisor; wrong
roles, missing signatures and actions out of order are refused.
"""

from __future__ import annotations

from tests.api_support import ApiWorld

PROBLEMS = "https://casetrail.invalid/problems/"
BORROWER = {"name": "张女士", "phone": "13900139000"}


def loan(world: ApiWorld, kind: str = "owner", key: str = "3-1-502", by: str = "agent",
         status: int = 201) -> dict:
    return world.open_view("key_loan", by=by, customer=BORROWER, status=status,
                           fields={"key_no": key, "borrower_kind": kind, "purpose": "验房整改"})


def test_an_owner_borrows_returns_and_the_entry_is_cleared(world: ApiWorld) -> None:
    case = loan(world)
    assert case["number"].startswith("YS-") and case["status"] == "registered"
    lent = world.do(case, "sign_out", "agent", signed_name="张女士")
    assert lent["status"] == "lent" and lent["fields"]["signed_name"] == "张女士"
    assert lent["approvals"]["required"] == []
    assert world.clock(case, "key_out")["state"] == "running"

    again = loan(world, status=422)  # the same key while it is out
    assert again["type"] == PROBLEMS + "duplicate"
    assert again["other_case"]["number"] == case["number"]

    back = world.do(case, "return_key", "agent", returned_by="张女士", condition="完好")
    assert back["status"] == "returned"
    assert world.clock(case, "key_out")["state"] == "met"
    assert world.clock(case, "clearing")["state"] == "running"
    assert loan(world)["status"] == "registered"  # the key is free once it is back

    cleared = world.do(case, "clear_entry", "agent")
    assert cleared["status"] == "cleared"
    assert world.clock(case, "clearing")["state"] == "met"
    actions = [e["data"].get("action") for e in world.history(case) if e["type"].endswith("ActionTaken")]
    assert actions == ["sign_out", "return_key", "clear_entry"]


def test_another_borrower_needs_the_supervisors_consent(world: ApiWorld) -> None:
    case = loan(world, kind="other")
    waiting = world.do(case, "sign_out", "agent", signed_name="装修工 李四")
    assert waiting["status"] == "awaiting_consent"
    assert waiting["approvals"]["required"] == ["supervisor"]
    assert "clocks" in waiting and world.show(case)["clocks"] == []  # not out yet: no loan clock

    refused = world.do(case, "consent", "agent", status=403)  # an agent is not 主管领导
    assert refused["type"] == PROBLEMS + "approval-not-allowed"
    assert world.do(case, "return_key", "agent", status=422)["type"] == PROBLEMS + "action-not-allowed"

    lent = world.do(case, "consent", "supervisor", comment="同意借出")
    assert lent["status"] == "lent"
    assert [g["by"] for g in lent["approvals"]["granted"]] == ["supervisor"]


def test_the_supervisor_who_signs_a_key_out_may_not_consent_to_it(world: ApiWorld) -> None:
    case = loan(world, kind="other", key="5-2-101", by="supervisor")
    world.do(case, "sign_out", "supervisor", signed_name="物流 王五")
    own = world.do(case, "consent", "supervisor", status=403)
    assert own["type"] == PROBLEMS + "approval-not-allowed"
    refused = world.do(case, "refuse", "supervisor", reason="非业主,无授权")
    assert refused["status"] == "refused"
    assert loan(world, kind="other", key="5-2-101")["status"] == "registered"  # a refused loan holds no key


def test_refusals_wrong_role_missing_signature_unknown_kind(world: ApiWorld) -> None:
    opened = world.open_view("key_loan", by="technician", customer=BORROWER, status=403,
                             fields={"key_no": "1-1-101", "borrower_kind": "owner"})
    assert opened["type"] == PROBLEMS + "forbidden"
    bad = world.open_view("key_loan", customer=BORROWER, status=422,
                          fields={"key_no": "1-1-101", "borrower_kind": "friend"})
    assert bad["type"] == PROBLEMS + "invalid-fields"
    assert [e["field"] for e in bad["errors"]] == ["fields.borrower_kind"]  # paths into the opening body

    case = loan(world, key="1-1-101")
    unsigned = world.do(case, "sign_out", "agent", status=422)
    assert unsigned["type"] == PROBLEMS + "invalid-fields"
    assert unsigned["errors"] == [{"field": "signed_name", "problem": "is required"}]
    forbidden = world.do(case, "sign_out", "technician", signed_name="x", status=403)
    assert forbidden["type"] == PROBLEMS + "forbidden"
    assert world.show(case)["status"] == "registered"


def test_a_key_still_out_after_24_hours_escalates_to_the_supervisor(world: ApiWorld) -> None:
    case = loan(world, key="7-3-1201")
    world.do(case, "sign_out", "agent", signed_name="张女士")
    world.advance(hours=23)
    assert world.app.record_breaches(case["id"]) == []
    world.advance(hours=2)
    assert world.app.record_breaches(case["id"]) == ["key_out"]
    view = world.show(case)
    assert [(e["to_role"], e["to_staff"], e["clock"]) for e in view["escalations"]] == \
        [("supervisor", "supervisor", "key_out")]
    assert world.clock(case, "key_out")["state"] == "breached"
    assert world.app.record_breaches(case["id"]) == []  # once

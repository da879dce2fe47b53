"""group_purchase_card (团购卡, 000 A§13) through the HTTP API, on SQLite and PostgreSQL.

Proves: the seven arrows of the procedure are the path (application form,
confirmation with finance, purchasing and the mall department, 批准签字 by
the department head, the triplicate form, the bonus explanation acknowledged,
the finance signature, the bonus settled at the cashier); an organisation's
card names the organisation; all three departments must be named; only the
head of the sending agent's department (customer service) signs the
approval — not another department's head, the agent who sent it for
approval or the cashier;
wrong roles and steps out of order are refused; a rejection ends it.
"""

from __future__ import annotations

from tests.api_support import ApiWorld

PROBLEMS = "https://casetrail.invalid/problems/"
APPLICANT = {"name": "华南电子 行政部 林小姐", "phone": "13800138000"}
FORM = {"name": "团购申请表.pdf", "media_type": "application/pdf", "size": 3000, "sha256": "7e" * 32}
CONFIRMED_BY = {"finance_by": "财务 周会计", "purchasing_by": "采购 吴经理", "mall_by": "商场部 郑主管"}


def apply(world: ApiWorld, status: int = 201, **fields: object) -> dict:
    base = {"holder_kind": "organisation", "organisation": "华南电子有限公司", "card_count": 50,
            "total_amount": "50000.00", "application_form": FORM}
    return world.open_view("group_purchase_card", customer=APPLICANT, fields={**base, **fields}, status=status)


def test_the_seven_steps_from_application_to_bonus(world: ApiWorld) -> None:
    case = apply(world)
    assert case["number"].startswith("TG-") and case["status"] == "applied"
    confirmed = world.do(case, "confirm_departments", "agent2", **CONFIRMED_BY)
    assert confirmed["status"] == "confirmed" and confirmed["approvals"]["required"] == ["dept_head"]
    assert world.do(case, "issue_form", "agent", form_no="SL-1", status=422)["type"] == \
        PROBLEMS + "action-not-allowed"  # not signed yet
    approved = world.do(case, "approve", "dept_head", comment="同意")
    assert approved["status"] == "approved"
    world.do(case, "issue_form", "agent", form_no="SL-000123")
    unacknowledged = world.do(case, "explain_bonus", "agent", bonus_policy="满5万返2%", status=422)
    assert [e["field"] for e in unacknowledged["errors"]] == ["customer_acknowledged"]
    world.do(case, "explain_bonus", "agent", bonus_policy="满5万返2%", customer_acknowledged="acknowledged")
    assert world.do(case, "finance_sign", "agent", status=403)["type"] == PROBLEMS + "forbidden"
    world.do(case, "finance_sign", "finance_director")
    assert world.do(case, "settle_bonus", "finance_director", bonus_amount="1000.00", receipt_no="CW-9",
                    status=403)["type"] == PROBLEMS + "forbidden"
    done = world.do(case, "settle_bonus", "cashier", bonus_amount="1000.00", receipt_no="CW-9")
    assert done["status"] == "bonus_settled"
    assert (done["fields"]["form_no"], done["fields"]["bonus_amount"]) == ("SL-000123", "1000.00")
    assert done["fields"]["mall_by"] == "商场部 郑主管"


def test_an_organisation_is_named_and_all_three_departments_confirm(world: ApiWorld) -> None:
    nameless = apply(world, status=422, organisation=None)
    assert nameless["type"] == PROBLEMS + "invalid-fields"
    assert nameless["errors"][0]["field"] == "organisation"
    person = apply(world, holder_kind="individual", organisation=None, card_count=2, total_amount="2000.00")
    assert person["status"] == "applied"
    partial = world.do(person, "confirm_departments", "agent2", finance_by="财务 周会计", mall_by="商场部 郑主管",
                       status=422)
    assert partial["errors"] == [{"field": "purchasing_by", "problem": "is required"}]
    assert world.show(person)["status"] == "applied"


def test_who_may_sign_the_approval(world: ApiWorld) -> None:
    case = apply(world)
    world.do(case, "confirm_departments", "agent2", **CONFIRMED_BY)
    for who in ("agent2", "cashier", "supervisor", "sales_head"):
        refused = world.do(case, "approve", who, status=403)
        assert refused["type"] == PROBLEMS + "approval-not-allowed", who
    assert "dept_head (of department cs)" in world.do(case, "approve", "sales_head", status=403)["detail"]
    assert world.do(case, "reject", "sales_head", reason="x", status=403)["type"] == PROBLEMS + "approval-not-allowed"
    rejected = world.do(case, "reject", "dept_head", reason="超出本季度团购额度")
    assert rejected["status"] == "rejected"
    assert world.do(case, "issue_form", "agent", form_no="x", status=422)["type"] == PROBLEMS + "action-not-allowed"


def test_a_department_that_declines_ends_the_application(world: ApiWorld) -> None:
    case = apply(world)
    assert world.do(case, "decline", "technician", reason="x", status=403)["type"] == PROBLEMS + "forbidden"
    declined = world.do(case, "decline", "agent", reason="采购部:该品类不参加团购")
    assert declined["status"] == "rejected"

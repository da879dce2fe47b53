"""worker_pass (出入证 / 临时出入证, 000 A§18) through the HTTP API, on SQLite and PostgreSQL.

Proves: a worker pass needs the renovation permit, residence permit, unit
and a copy of the ID card (422 naming each missing one), is paid at the
cashier with exactly 押金 50 and 工本费 5, and only then issued; its validity
runs 90 days, a temporary pass's 3 days (no fee: paying for one is refused);
an ID number must carry its GB 11643 check digit; one person holds one pass
at a time (422 .../duplicate) until it is returned; an expired pass
escalates to the supervisor and can then be marked expired and returned.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from tests.api_support import ApiWorld

PROBLEMS = "https://casetrail.invalid/problems/"
WORKER = {"name": "李师傅", "id_number": "440301199003070019", "phone": "13700137000"}
ID_COPY = {"name": "id-copy.jpg", "media_type": "image/jpeg", "size": 48213, "sha256": "ab" * 32}
WORKER_FIELDS = {"kind": "worker", "unit": "3-1-502", "construction_permit_no": "ZX-2026-118",
                 "residence_permit_no": "ZZ440301-77", "id_copy": ID_COPY}


def due_in(clock: dict) -> timedelta:
    return datetime.fromisoformat(clock["due_at"]) - datetime.fromisoformat(clock["started_at"])


def test_a_worker_pass_is_paid_issued_and_returned(world: ApiWorld) -> None:
    case = world.open_view("worker_pass", customer=WORKER, fields=WORKER_FIELDS)
    assert case["number"].startswith("CRZ-") and case["status"] == "applied"
    early = world.do(case, "issue", "agent", pass_no="CR-0001", status=422)  # not paid yet
    assert early["type"] == PROBLEMS + "action-not-allowed"

    wrong_fee = world.do(case, "pay", "cashier", deposit="40.00", card_fee="5.00", receipt_no="R1", status=422)
    assert wrong_fee["type"] == PROBLEMS + "invalid-fields"
    assert [e["field"] for e in wrong_fee["errors"]] == ["deposit"]
    by_agent = world.do(case, "pay", "agent", deposit="50.00", card_fee="5.00", receipt_no="R1", status=403)
    assert by_agent["type"] == PROBLEMS + "forbidden"  # 「去财务交费」: the cashier takes the money

    paid = world.do(case, "pay", "cashier", deposit="50.00", card_fee="5.00", receipt_no="R1")
    assert paid["status"] == "paid"
    assert (paid["fields"]["deposit_paid"], paid["fields"]["card_fee_paid"]) == ("50.00", "5.00")
    issued = world.do(case, "issue", "agent", pass_no="CR-0001")
    assert issued["status"] == "issued"
    assert due_in(world.clock(case, "validity")) == timedelta(days=90)

    back = world.do(case, "return_pass", "cashier", deposit_refunded="50.00")
    assert back["status"] == "returned" and back["fields"]["deposit_refunded"] == "50.00"
    assert world.clock(case, "validity")["state"] == "met"


def test_a_worker_pass_needs_its_documents(world: ApiWorld) -> None:
    for missing, problem in (("construction_permit_no", "施工许可证"), ("residence_permit_no", "暂住证"),
                             ("id_copy", "留身份证复印件"), ("unit", "unit")):
        fields = {k: v for k, v in WORKER_FIELDS.items() if k != missing}
        refused = world.open_view("worker_pass", customer=WORKER, fields=fields, status=422)
        assert refused["type"] == PROBLEMS + "invalid-fields", missing
        assert refused["errors"][0]["field"] == missing and problem in refused["errors"][0]["problem"]
    bad_id = world.open_view("worker_pass", customer={**WORKER, "id_number": "440301199003070010"},
                             fields=WORKER_FIELDS, status=422)
    assert [e["field"] for e in bad_id["errors"]] == ["id_number"]
    assert "GB 11643" in bad_id["errors"][0]["problem"]


def test_a_temporary_pass_is_free_and_valid_for_three_days(world: ApiWorld) -> None:
    visitor = {"name": "送货 王五", "id_number": "11010519491231002X"}
    case = world.open_view("worker_pass", customer=visitor, fields={"kind": "temporary"})
    fee = world.do(case, "pay", "cashier", deposit="50.00", card_fee="5.00", receipt_no="R2", status=422)
    assert fee["type"] == PROBLEMS + "guard-failed" and "temporary pass has no fee" in fee["detail"]
    issued = world.do(case, "issue_temporary", "agent", pass_no="LS-0001")
    assert issued["status"] == "issued"
    assert due_in(world.clock(case, "validity")) == timedelta(days=3)

    worker = world.open_view("worker_pass", customer=WORKER, fields=WORKER_FIELDS)
    unpaid = world.do(worker, "issue_temporary", "agent", pass_no="LS-0002", status=422)
    assert unpaid["type"] == PROBLEMS + "guard-failed"  # a worker pass is not issued without payment


def test_one_pass_per_person_until_it_is_returned(world: ApiWorld) -> None:
    first = world.open_view("worker_pass", customer=WORKER, fields=WORKER_FIELDS)
    second = world.open_view("worker_pass", customer=WORKER, fields={"kind": "temporary"}, status=422)
    assert second["type"] == PROBLEMS + "duplicate"
    assert second["other_case"]["number"] == first["number"]
    world.do(first, "reject", "supervisor", reason="施工许可证已过期")
    assert world.open_view("worker_pass", customer=WORKER, fields={"kind": "temporary"})["status"] == "applied"


def test_an_expired_temporary_pass_escalates_and_is_marked_expired(world: ApiWorld) -> None:
    case = world.open_view("worker_pass", customer=WORKER, fields={"kind": "temporary"})
    world.do(case, "issue_temporary", "agent", pass_no="LS-0009")
    world.advance(days=2, hours=23)
    assert world.app.record_breaches(case["id"]) == []
    world.advance(hours=2)
    assert world.app.record_breaches(case["id"]) == ["validity"]
    view = world.show(case)
    assert [(e["to_role"], e["to_staff"]) for e in view["escalations"]] == [("supervisor", "supervisor")]
    assert world.do(case, "expire", "technician", status=403)["type"] == PROBLEMS + "forbidden"
    expired = world.do(case, "expire", "agent")
    assert expired["status"] == "expired"
    still_held = world.open_view("worker_pass", customer=WORKER, fields={"kind": "temporary"}, status=422)
    assert still_held["type"] == PROBLEMS + "duplicate"  # not returned yet: the entry stands
    assert world.do(case, "return_pass", "agent")["status"] == "returned"

"""worker_pass (出入证 / 临时出入证, 000 A§18) through the HTTP API, on SQLite and PostgreSQL.

Proves: a worker pass needs the renovation permit, residence permit, unit
and a copy of the ID card (422 naming each missing one), is paid at the
cashier with exactly 押金 50 and 工本费 5, and only then issued; the pass
bears its last valid day (valid_until), at most 3 months ahead for a worker
pass and 3 days (the issue day included) for a temporary one, never in the
past (422 each); a temporary pass has no fee (paying for one is refused);
an ID number must carry its GB 11643 check digit; one person holds one pass
at a time (422 .../duplicate) until it is returned; at 24:00 of valid_until
the system moves the pass to expired and escalates to the supervisor, and
the expired pass is then returned.
"""

from __future__ import annotations

from datetime import datetime

from tests.api_support import ApiWorld
from tests.support import SHANGHAI

PROBLEMS = "https://casetrail.invalid/problems/"
WORKER = {"name": "李师傅", "id_number": "440301199003070019", "phone": "13700137000"}
ID_COPY = {"name": "id-copy.jpg", "media_type": "image/jpeg", "size": 48213, "sha256": "ab" * 32}
WORKER_FIELDS = {"kind": "worker", "unit": "3-1-502", "construction_permit_no": "ZX-2026-118",
                 "residence_permit_no": "ZZ440301-77", "id_copy": ID_COPY}


def test_a_worker_pass_is_paid_issued_and_returned(world: ApiWorld) -> None:
    case = world.open_view("worker_pass", customer=WORKER, fields=WORKER_FIELDS)
    assert case["number"].startswith("CRZ-") and case["status"] == "applied"
    early = world.do(case, "issue", "agent", pass_no="CR-0001", valid_until="2027-02-16", status=422)  # not paid
    assert early["type"] == PROBLEMS + "action-not-allowed"

    wrong_fee = world.do(case, "pay", "cashier", deposit="40.00", card_fee="5.00", receipt_no="R1", status=422)
    assert wrong_fee["type"] == PROBLEMS + "invalid-fields"
    assert [e["field"] for e in wrong_fee["errors"]] == ["deposit"]
    by_agent = world.do(case, "pay", "agent", deposit="50.00", card_fee="5.00", receipt_no="R1", status=403)
    assert by_agent["type"] == PROBLEMS + "forbidden"  # 「去财务交费」: the cashier takes the money

    paid = world.do(case, "pay", "cashier", deposit="50.00", card_fee="5.00", receipt_no="R1")
    assert paid["status"] == "paid"
    assert (paid["fields"]["deposit_paid"], paid["fields"]["card_fee_paid"]) == ("50.00", "5.00")
    # 「有效期为3个月以内」: from Monday 2026-11-16, 2027-02-16 at the latest; never before the issue day
    for late in ("2027-02-17", "2027-03-01"):
        too_long = world.do(case, "issue", "agent", pass_no="CR-0001", valid_until=late, status=422)
        assert [e["field"] for e in too_long["errors"]] == ["valid_until"] and "3个月以内" in too_long["detail"]
    past = world.do(case, "issue", "agent", pass_no="CR-0001", valid_until="2026-11-15", status=422)
    assert [e["field"] for e in past["errors"]] == ["valid_until"]
    no_term = world.do(case, "issue", "agent", pass_no="CR-0001", status=422)
    assert [e["field"] for e in no_term["errors"]] == ["valid_until"]
    issued = world.do(case, "issue", "agent", pass_no="CR-0001", valid_until="2027-02-16")
    assert issued["status"] == "issued" and issued["fields"]["valid_until"] == "2027-02-16"
    assert world.clock(case, "validity")["due_at"] == "2027-02-17T00:00:00+08:00"  # 24:00 of its last day

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
    assert [e["field"] for e in bad_id["errors"]] == ["customer.id_number"]
    assert "GB 11643" in bad_id["errors"][0]["problem"]


def test_a_temporary_pass_is_free_and_valid_for_three_days(world: ApiWorld) -> None:
    visitor = {"name": "送货 王五", "id_number": "11010519491231002X"}
    case = world.open_view("worker_pass", customer=visitor, fields={"kind": "temporary"})
    fee = world.do(case, "pay", "cashier", deposit="50.00", card_fee="5.00", receipt_no="R2", status=422)
    assert fee["type"] == PROBLEMS + "guard-failed" and "temporary pass has no fee" in fee["detail"]
    four_days = world.do(case, "issue_temporary", "agent", pass_no="LS-0001", valid_until="2026-11-19", status=422)
    assert [e["field"] for e in four_days["errors"]] == ["valid_until"] and "有效时间为3天" in four_days["detail"]
    issued = world.do(case, "issue_temporary", "agent", pass_no="LS-0001", valid_until="2026-11-18")
    assert issued["status"] == "issued"
    assert world.clock(case, "validity")["due_at"] == "2026-11-19T00:00:00+08:00"  # Mon, Tue, Wed

    worker = world.open_view("worker_pass", customer=WORKER, fields=WORKER_FIELDS)
    unpaid = world.do(worker, "issue_temporary", "agent", pass_no="LS-0002", valid_until="2026-11-18", status=422)
    assert unpaid["type"] == PROBLEMS + "guard-failed"  # a worker pass is not issued without payment


def test_one_pass_per_person_until_it_is_returned(world: ApiWorld) -> None:
    first = world.open_view("worker_pass", customer=WORKER, fields=WORKER_FIELDS)
    second = world.open_view("worker_pass", customer=WORKER, fields={"kind": "temporary"}, status=422)
    assert second["type"] == PROBLEMS + "duplicate"
    assert second["other_case"]["number"] == first["number"]
    world.do(first, "reject", "supervisor", reason="施工许可证已过期")
    assert world.open_view("worker_pass", customer=WORKER, fields={"kind": "temporary"})["status"] == "applied"


def test_a_pass_past_its_last_day_expires_by_itself_and_escalates(world: ApiWorld) -> None:
    case = world.open_view("worker_pass", customer=WORKER, fields={"kind": "temporary"})
    world.do(case, "issue_temporary", "agent", pass_no="LS-0009", valid_until="2026-11-18")
    world.now = datetime(2026, 11, 18, 23, 59, tzinfo=SHANGHAI)
    assert world.app.record_breaches(case["id"]) == []
    world.now = datetime(2026, 11, 19, 0, 1, tzinfo=SHANGHAI)
    assert world.app.record_breaches(case["id"]) == ["validity"]
    view = world.show(case)
    assert view["status"] == "expired"  # the system moved it: nobody marks it by hand
    assert [(e["to_role"], e["to_staff"]) for e in view["escalations"]] == [("supervisor", "supervisor")]
    breach = next(h for h in world.history(case) if h["type"].endswith("DeadlineBreached"))
    assert breach["data"]["changes"] == {"status": ["issued", "expired"]}
    assert world.do(case, "expire", "agent", status=404)["type"] == PROBLEMS + "unknown-action"
    still_held = world.open_view("worker_pass", customer=WORKER, fields={"kind": "temporary"}, status=422)
    assert still_held["type"] == PROBLEMS + "duplicate"  # not returned yet: the entry stands
    assert world.do(case, "return_pass", "agent")["status"] == "returned"
    assert world.open_view("worker_pass", customer=WORKER, fields={"kind": "temporary"})["status"] == "applied"

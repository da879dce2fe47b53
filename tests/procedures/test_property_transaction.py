"""property_transaction (003 §6): after-deal formalities with 1/3/1/1/3/5-working-day steps and a document checklist.

Through the HTTP API on both databases: the branch office opens the case and
only the customer-service supervisor assigns the specialist (403 otherwise),
within 1 working day; only the assigned specialist takes the documents, and
a checklist missing a required document (or the power of attorney when an
agent acts) is a 422; the specialist may refuse documents; the contract copy
goes to the supervisor only after the parties were told by SMS (422 before)
and within 3 working days of the assignment; payments are filed by finance
within 1 working day; purchase-money transfers wait for the supervisor;
the 《付款單》 is due by 24:00 of the day the conditions for a transfer were
met (recorded by the specialist, never a day to come); the settlement list
is passed on in 1 and gas/cable transferred in 3 working days, before the
formalities may complete (422); the archive is due in 5 working days and
opens a return visit. Each deadline's breach escalates to the supervisor,
the next one up the ladder to the department head. A contract signed on a
day to come is refused (422).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tests.api_support import ApiWorld
from tests.support import SHANGHAI

PROBLEMS = "https://casetrail.invalid/problems/"
BUYER = {"id": "B-1", "name": "周先生", "phone": "13700137000"}
DEAL = {"deal_kind": "sale", "contract_no": "JJ-2026-1116", "contract_signed_on": "2026-11-16",
        "property": "翠湖花园 5-802", "seller_name": "吴女士"}
DOCUMENTS = [{"kind": "contract_copy"}, {"kind": "title_certificate"}, {"kind": "buyer_id_copy"},
             {"kind": "seller_id_copy"}, {"kind": "deal_report", "copies": 2}]
TASKS = [{"task": "网签备案"}, {"task": "缴税过户", "due": "2026-12-10"}]


def opened(world: ApiWorld) -> dict[str, Any]:
    return world.open_view("property_transaction", by="seller", customer=BUYER, fields=DEAL, title="翠湖花园 5-802 买卖")


def assigned(world: ApiWorld) -> dict[str, Any]:
    return world.do(opened(world), "assign", "supervisor", assignee="agent")


def in_progress(world: ApiWorld) -> dict[str, Any]:
    case = assigned(world)
    case = world.do(case, "receive_documents", "agent", documents=DOCUMENTS, agent_acts=False, tasks=TASKS)
    case = world.do(case, "notify_parties", "agent", sms_sent=True)
    case = world.do(case, "submit_contract", "agent")
    return world.do(case, "approve_contract", "supervisor")


def test_the_documents_are_taken_against_the_checklist(world: ApiWorld) -> None:
    case = opened(world)
    assert case["number"].startswith("ZSSX-202611-")
    assert world.do(case, "assign", "agent", status=403, assignee="agent")["type"] == PROBLEMS + "forbidden"
    case = world.do(case, "assign", "supervisor", assignee="agent")
    assert world.clock(case, "assignment")["state"] == "met"
    assert world.do(case, "receive_documents", "agent2", status=403, documents=DOCUMENTS, agent_acts=False,
                    tasks=TASKS)["type"] == PROBLEMS + "forbidden"
    no_seller_id = [d for d in DOCUMENTS if d["kind"] != "seller_id_copy"]
    short = world.do(case, "receive_documents", "agent", status=422, documents=no_seller_id, agent_acts=False,
                     tasks=TASKS)
    assert short["type"] == PROBLEMS + "invalid-fields" and short["errors"][0]["field"] == "documents"
    assert "賣方產權資料" in short["detail"]
    no_attorney = world.do(case, "receive_documents", "agent", status=422, documents=DOCUMENTS, agent_acts=True,
                           tasks=TASKS)
    assert no_attorney["type"] == PROBLEMS + "invalid-fields"
    bad_kind = world.do(case, "receive_documents", "agent", status=422, documents=[{"kind": "photo"}],
                        agent_acts=False, tasks=TASKS)
    assert bad_kind["errors"][0]["field"] == "documents" and "photo" in bad_kind["errors"][0]["problem"]
    case = world.do(case, "refuse_documents", "agent", reason="缺卖方身份证复印件")
    assert (case["status"], case["counters"]) == ("assigned", {"refusals": 1})
    # the title proof instead of a certificate, and the power of attorney when an agent acts
    with_proof = [*no_seller_id[:1], {"kind": "title_proof", "note": "购房合同+完税证明"}, *DOCUMENTS[2:],
                  {"kind": "power_of_attorney"}]
    case = world.do(case, "receive_documents", "agent", documents=with_proof, agent_acts=True, tasks=TASKS,
                    receivables="12000.00")
    assert case["status"] == "documents_received" and len(case["fields"]["documents"]) == 6
    assert case["fields"]["receivables"] == "12000.00"


def test_the_formalities_in_order_to_the_archive_and_a_return_visit(world: ApiWorld) -> None:
    case = assigned(world)
    case = world.do(case, "receive_documents", "agent", documents=DOCUMENTS, agent_acts=False, tasks=TASKS)
    not_told = world.do(case, "submit_contract", "agent", status=422)
    assert not_told["type"] == PROBLEMS + "guard-failed" and "短信" in not_told["detail"]
    case = world.do(case, "notify_parties", "agent", sms_sent=True)
    case = world.do(case, "submit_contract", "agent")
    assert world.clock(case, "contract_review")["state"] == "met"
    assert world.do(case, "approve_contract", "agent", status=403)["type"] == PROBLEMS + "forbidden"
    case = world.do(case, "return_contract", "supervisor", reason="复印件不清晰")
    case = world.do(world.do(case, "submit_contract", "agent"), "approve_contract", "supervisor")
    assert case["status"] == "in_progress"
    case = world.do(case, "record_progress", "agent", task="网签备案", note="已完成")
    case = world.do(case, "record_payment", "seller", amount="50000.00", payer="周先生")
    assert world.do(case, "file_payment", "seller", status=403, amount="50000.00")["type"] == PROBLEMS + "forbidden"
    case = world.do(case, "file_payment", "cashier", amount="50000.00")
    assert world.clock(case, "payment_filing")["state"] == "met"
    case = world.do(case, "request_transfer", "agent", amount="50000.00", payee="吴女士")
    assert case["status"] == "transfer_requested"
    assert world.do(case, "approve_transfer", "agent", status=403)["type"] == PROBLEMS + "forbidden"
    case = world.do(case, "approve_transfer", "supervisor", comment="核对无误")
    assert case["counters"] == {"progress_entries": 1, "received": "50000.00", "filed": "50000.00",
                                "transfers_approved": 1}
    case = world.do(case, "record_handover", "seller", handed_over_on="2026-11-20")
    case = world.do(case, "receive_settlement_list", "agent", settlement=[{"item": "物业费", "amount": "860.00"}])
    too_early = world.do(case, "complete_formalities", "agent", status=422, completed_on="2026-11-25")
    assert too_early["type"] == PROBLEMS + "invalid-fields" and "煤氣" in too_early["detail"]
    case = world.do(case, "complete_utility_transfer", "agent",
                    transfers=[{"utility": "gas", "account": "G-8802"}, {"utility": "cable"}])
    case = world.do(case, "complete_formalities", "agent", completed_on="2026-11-25")
    case = world.do(case, "archive", "agent", received_by="资料管理员 孙")
    assert (case["status"], case["fields"]["archived_with"]) == ("archived", "资料管理员 孙")
    assert {c["name"]: c["state"] for c in case["clocks"]} == {
        "assignment": "met", "contract_review": "met", "payment_filing": "met", "settlement_list": "met",
        "utility_transfer": "met", "archive": "met"}
    visit = world.linked_view(case, "return_visit")
    assert visit["type"] == "return_visit" and visit["customer"]["name"] == "周先生"
    assert visit["fields"]["origin_number"] == case["number"]


def test_the_working_day_deadlines(world: ApiWorld) -> None:
    # Monday 2026-11-16 10:00: 1 working day is Tuesday 10:00, 3 Thursday, 5 the next Monday
    case = opened(world)
    assert world.clock(case, "assignment")["due_at"] == "2026-11-17T10:00:00+08:00"
    case = world.do(case, "assign", "supervisor", assignee="agent")
    assert world.clock(case, "contract_review")["due_at"] == "2026-11-19T10:00:00+08:00"
    case = in_progress(world)
    for action, by, data, clock, due in [
        ("record_payment", "seller", {"amount": "1000.00", "payer": "周先生"}, "payment_filing", "2026-11-17"),
        ("record_handover", "seller", {"handed_over_on": "2026-11-16"}, "settlement_list", "2026-11-17"),
        ("receive_settlement_list", "agent", {"settlement": [{"item": "水费", "amount": "35.50"}]},
         "utility_transfer", "2026-11-19"),
        ("complete_utility_transfer", "agent", {"transfers": [{"utility": "gas"}]}, None, None),
        ("complete_formalities", "agent", {"completed_on": "2026-11-16"}, "archive", "2026-11-23"),
    ]:
        case = world.do(case, action, by, **data)
        if clock:
            assert world.clock(case, clock)["due_at"] == f"{due}T10:00:00+08:00", clock


def test_late_steps_escalate_to_the_supervisor_then_the_department_head(world: ApiWorld) -> None:
    case = opened(world)
    world.advance(days=1, hours=1)  # Tuesday 11:00
    assert world.app.record_breaches(case["id"]) == ["assignment"]
    case = world.do(case, "assign", "supervisor", assignee="agent")
    world.advance(days=3, minutes=1)  # Friday 11:01: past Friday 11:00 (3 working days from Tuesday 11:00)
    assert world.app.record_breaches(case["id"]) == ["contract_review"]
    escalations = world.show(case)["escalations"]
    assert [(e["clock"], e["to_role"], e["to_staff"]) for e in escalations] == [
        ("assignment", "supervisor", "supervisor"), ("contract_review", "dept_head", "dept_head")]
    assert world.clock(case, "assignment")["state"] == "breached"  # assigned late: the breach stays recorded


def test_a_contract_signed_on_a_day_to_come_is_refused(world: ApiWorld) -> None:
    ahead = world.open_view("property_transaction", by="seller", customer=BUYER, status=422,
                            fields={**DEAL, "contract_signed_on": "2026-11-17"}, title="x")
    assert [e["field"] for e in ahead["errors"]] == ["contract_signed_on"] and "4.1" in ahead["detail"]
    late = world.open_view("property_transaction", by="seller", customer=BUYER,
                           fields={**DEAL, "contract_signed_on": "2026-11-13"}, title="x")
    assert late["status"] == "opened"  # a late sheet is not refused


def test_the_payment_order_is_due_the_day_the_transfer_conditions_are_met(world: ApiWorld) -> None:
    case = in_progress(world)
    assert world.do(case, "record_conditions_met", "agent2", status=403, conditions_met_on="2026-11-16")["type"] == \
        PROBLEMS + "forbidden"  # the assigned specialist records it
    ahead = world.do(case, "record_conditions_met", "agent", status=422, conditions_met_on="2026-11-17")
    assert [e["field"] for e in ahead["errors"]] == ["conditions_met_on"]
    case = world.do(case, "record_conditions_met", "agent", conditions_met_on="2026-11-16", note="网签完成,首期款到账")
    assert world.clock(case, "transfer_request")["due_at"] == "2026-11-17T00:00:00+08:00"  # 「當天」: by 24:00
    world.now = datetime(2026, 11, 16, 23, 59, tzinfo=SHANGHAI)
    assert world.app.record_breaches(case["id"]) == []
    world.now = datetime(2026, 11, 17, 0, 1, tzinfo=SHANGHAI)
    assert world.app.record_breaches(case["id"]) == ["transfer_request"]
    assert [(e["clock"], e["to_role"], e["to_staff"]) for e in world.show(case)["escalations"]] == [
        ("transfer_request", "supervisor", "supervisor")]
    case = world.do(case, "request_transfer", "agent", amount="50000.00", payee="吴女士")
    assert world.clock(case, "transfer_request")["state"] == "breached"
    case = world.do(case, "approve_transfer", "supervisor")
    # the second instalment: timed afresh, and on time
    world.now = datetime(2026, 11, 20, 9, 0, tzinfo=SHANGHAI)
    case = world.do(case, "record_conditions_met", "agent", conditions_met_on="2026-11-20")
    assert world.clock(case, "transfer_request")["due_at"] == "2026-11-21T00:00:00+08:00"
    case = world.do(case, "request_transfer", "agent", amount="250000.00", payee="吴女士")
    assert world.clock(case, "transfer_request")["state"] == "met"

"""trial_seller (试销商, 000 A§1) through the HTTP API, on SQLite and PostgreSQL.

Proves: a salesperson registers a company, the sales manager signs the
written trial agreement (area, products, term), sales are recorded, the
sales manager evaluates against the admission criteria (no breach of
contract, the sales capacity — product default 500,000.00 for 「##万」 —,
proof of creditworthiness and mortgageable real estate: each refused 422
when missing) and only the general manager promotes a passed trial seller;
「试销期结束后,合同自动解除」: at 24:00 of the contract's trial_ends a trial
not evaluated, or one that failed, lapses by itself without an escalation
(a passed one waits for its promotion); the term ends after it starts and
not before the signing day (422); one trial per company (422
.../duplicate); wrong roles are refused.
"""

from __future__ import annotations

from datetime import datetime

from tests.api_support import ApiWorld
from tests.support import SHANGHAI

PROBLEMS = "https://casetrail.invalid/problems/"
COMPANY = {"id": "91440300MA5F12345X", "name": "深圳安达安防科技有限公司", "contact": "何经理"}
CONTRACT = {"name": "试销协议.pdf", "media_type": "application/pdf", "size": 80000, "sha256": "5c" * 32}
CREDIT = {"name": "资信证明.pdf", "media_type": "application/pdf", "size": 9000, "sha256": "6d" * 32}
ESTATE = {"name": "房产证.pdf", "media_type": "application/pdf", "size": 9500, "sha256": "7e" * 32}


def on_trial(world: ApiWorld, company: dict = COMPANY, ends: str = "2027-02-14") -> dict:
    case = world.open_view("trial_seller", by="seller", customer=company,
                           fields={"area": "深圳市南山区", "products": "红外探测器 AP-200 系列"})
    world.do(case, "sign_contract", "sales_manager", contract=CONTRACT, trial_starts="2026-11-16",
             trial_ends=ends)
    return case


def test_a_good_trial_seller_is_evaluated_and_promoted(world: ApiWorld) -> None:
    case = on_trial(world)
    view = world.show(case)
    assert view["number"].startswith("SX-") and view["status"] == "on_trial" and view["department"] == "sales"
    assert view["fields"]["trial_ends"] == "2027-02-14"
    world.do(case, "record_sales", "seller", amount="120000.00")
    world.do(case, "record_sales", "seller", amount="80000.50")
    assert world.show(case)["counters"]["sales"] == "200000.50"
    assert world.do(case, "evaluate", "seller", evaluation="pass", status=403)["type"] == PROBLEMS + "forbidden"
    evaluated = world.do(case, "evaluate", "sales_manager", evaluation="pass", sales_capacity="600000.00",
                         network_points=12, credit_proof=CREDIT, collateral=ESTATE)
    assert evaluated["status"] == "evaluated"
    assert world.do(case, "promote", "sales_manager", status=403)["type"] == PROBLEMS + "forbidden"
    promoted = world.do(case, "promote", "general_manager", comment="晋升为正式分销商")
    assert promoted["status"] == "promoted"
    assert world.clock(case, "trial")["state"] == "met"


def test_the_admission_criteria_are_checked_at_a_pass(world: ApiWorld) -> None:
    case = on_trial(world)
    proofs = {"credit_proof": CREDIT, "collateral": ESTATE}
    low = world.do(case, "evaluate", "sales_manager", evaluation="pass", sales_capacity="499999.99", status=422,
                   **proofs)
    assert low["type"] == PROBLEMS + "invalid-fields" and low["errors"][0]["field"] == "sales_capacity"
    no_estate = world.do(case, "evaluate", "sales_manager", evaluation="pass", sales_capacity="500000.00",
                         credit_proof=CREDIT, status=422)
    assert no_estate["errors"][0]["field"] == "collateral"
    no_credit = world.do(case, "evaluate", "sales_manager", evaluation="pass", sales_capacity="500000.00",
                         collateral=ESTATE, status=422)
    assert no_credit["errors"][0]["field"] == "credit_proof"

    world.do(case, "record_breach", "sales_manager", description="跨区域销售")
    breached = world.do(case, "evaluate", "sales_manager", evaluation="pass", sales_capacity="900000.00",
                        status=422, **proofs)
    assert breached["errors"][0]["field"] == "evaluation" and "无违约记录" in breached["detail"]
    assert world.show(case)["status"] == "on_trial"

    failed = world.do(case, "evaluate", "sales_manager", evaluation="fail", notes="有违约记录")
    assert failed["status"] == "evaluated"
    refused = world.do(case, "promote", "general_manager", status=422)
    assert refused["type"] == PROBLEMS + "guard-failed"
    assert world.do(case, "lapse", "sales_manager", reason="评估未通过")["status"] == "lapsed"


def test_one_trial_per_company(world: ApiWorld) -> None:
    first = on_trial(world)
    again = world.open_view("trial_seller", by="seller2", customer=COMPANY, status=422,
                            fields={"area": "深圳市福田区", "products": "门磁"})
    assert again["type"] == PROBLEMS + "duplicate" and again["other_case"]["number"] == first["number"]
    bad_code = world.open_view("trial_seller", by="seller", customer={**COMPANY, "id": "ABC"}, status=422,
                               fields={"area": "x", "products": "y"})
    assert [e["field"] for e in bad_code["errors"]] == ["customer.id"]
    unsigned = world.open_view("trial_seller", by="seller", customer={**COMPANY, "id": "91440300MA5F99999X"},
                               fields={"area": "x", "products": "y"})
    no_contract = world.do(unsigned, "sign_contract", "sales_manager", trial_starts="2026-11-16",
                           trial_ends="2027-02-14", status=422)
    assert [e["field"] for e in no_contract["errors"]] == ["contract"]


def test_the_contract_lapses_by_itself_at_the_end_of_its_trial_period(world: ApiWorld) -> None:
    case = on_trial(world)
    assert world.clock(case, "trial")["due_at"] == "2027-02-15T00:00:00+08:00"  # 24:00 of trial_ends
    world.do(case, "record_sales", "seller", amount="5000.00")
    world.now = datetime(2027, 2, 14, 23, 59, tzinfo=SHANGHAI)
    assert world.app.record_breaches(case["id"]) == []
    world.now = datetime(2027, 2, 15, 0, 1, tzinfo=SHANGHAI)
    assert world.app.record_breaches(case["id"]) == ["trial"]
    view = world.show(case)
    assert view["status"] == "lapsed" and view["escalations"] == []  # 「合同自动解除」: nobody is escalated to
    breach = next(h for h in world.history(case) if h["type"].endswith("DeadlineBreached"))
    assert breach["data"]["changes"] == {"status": ["on_trial", "lapsed"]}
    assert world.do(case, "record_sales", "seller", amount="1.00", status=422)["type"] == PROBLEMS + "action-not-allowed"
    again = on_trial(world, ends="2027-05-15")  # a lapsed company may start a new trial
    assert world.show(again)["status"] == "on_trial" and again["number"] != case["number"]


def test_a_failed_trial_lapses_at_its_end_and_a_passed_one_waits_for_the_promotion(world: ApiWorld) -> None:
    failed = on_trial(world)
    world.do(failed, "evaluate", "sales_manager", evaluation="fail", notes="销量不足")
    assert world.clock(failed, "trial")["state"] == "met"
    assert world.clock(failed, "failed_trial")["due_at"] == "2027-02-15T00:00:00+08:00"
    other = {**COMPANY, "id": "91440300MA5F99999X", "name": "深圳另一家公司"}
    passed = on_trial(world, other)
    world.do(passed, "evaluate", "sales_manager", evaluation="pass", sales_capacity="600000.00",
             credit_proof=CREDIT, collateral=ESTATE)
    assert [c["name"] for c in world.show(passed)["clocks"]] == ["trial"]  # no lapse clock for a pass
    world.now = datetime(2027, 2, 15, 0, 1, tzinfo=SHANGHAI)
    assert world.app.record_breaches(failed["id"]) == ["failed_trial"]
    assert world.app.record_breaches(passed["id"]) == []
    assert world.show(failed)["status"] == "lapsed" and world.show(failed)["escalations"] == []
    assert world.show(passed)["status"] == "evaluated"
    assert world.do(passed, "promote", "general_manager")["status"] == "promoted"  # after the trial's end


def test_the_trial_term_is_checked_when_the_contract_is_signed(world: ApiWorld) -> None:
    case = world.open_view("trial_seller", by="seller", customer=COMPANY,
                           fields={"area": "深圳市南山区", "products": "红外探测器"})
    backwards = world.do(case, "sign_contract", "sales_manager", contract=CONTRACT, trial_starts="2026-12-01",
                         trial_ends="2026-11-30", status=422)
    assert [e["field"] for e in backwards["errors"]] == ["trial_ends"]
    ended = world.do(case, "sign_contract", "sales_manager", contract=CONTRACT, trial_starts="2026-08-01",
                     trial_ends="2026-11-15", status=422)  # yesterday: it would lapse at once
    assert [e["field"] for e in ended["errors"]] == ["trial_ends"]
    today = world.do(case, "sign_contract", "sales_manager", contract=CONTRACT, trial_starts="2026-08-16",
                     trial_ends="2026-11-16")
    assert today["status"] == "on_trial"
    assert world.clock(today, "trial")["due_at"] == "2026-11-17T00:00:00+08:00"

"""Staff KPIs and the department report for a scripted month, against hand-computed figures.

Cases (default calendar: Asia/Shanghai, Mon-Fri 09:00-18:00; Mon 2026-11-16):
First contacts are logged by the assignee right after each assignment
(first response means contact with the customer, not the assignment).
A  complaint, member: handled by agent, visited (satisfied), closed.
B  complaint: nobody acts for two days; the SLA monitor breaches both clocks.
C  complaint, major: resolution clock paused for 48 h (met only because of the
   pause), customer unreachable after 3 attempts, closed.
D  complaint, member, handled by agent2: visit unsatisfied -> reopened by the
   policy, replied again, second visit satisfied; classified valid, then corrected.
E  complaint, vip: replied but never visited: the return visit's clock breaches
   (once, on the visit; counted for E's handler).
F  inquiry answered and closed by agent2 (no assignee).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from projections.queries import ReadModels
from projections.sla import sla_pass
from projections.views import Store
from tests.integration.test_projections import catch_up
from tests.support import SHANGHAI, World


def at(day: int, hh: int, mm: int = 0) -> datetime:
    return datetime(2026, 11, day, hh, mm, tzinfo=SHANGHAI)


def customer(n: int, tier: str) -> dict[str, Any]:
    return {"id": f"C-{n}", "name": f"客户{n}", "tier": tier}


def last_visit(world: World, case: Any) -> Any:
    link = [x for x in world.case(case.id).links if x["rel"] == "return_visit"][-1]
    return world.case(link["case_id"])


def scripted_month(world: World) -> dict[str, Any]:
    def do(when: datetime, case: Any, action: str, by: str, data: Any = None) -> Any:
        world.now = when
        return world.act(case, action, by, data)

    def opened(when: datetime, kind: str, by: str, cust: dict[str, Any], fields: Any = None) -> Any:
        world.now = when
        return world.open(kind, by=by, customer=cust, fields=fields or {})

    def sla(when: datetime) -> None:
        world.now = when
        store = Store.for_app(world.app)
        sla_pass(world.app, store, when)
        store.close()

    a = opened(at(16, 10), "complaint", "agent", customer(1, "member"))
    do(at(16, 10, 10), a, "classify", "agent", {"category": "valid"})
    do(at(16, 10, 30), a, "assign", "supervisor", {"assignee": "agent"})
    do(at(16, 10, 30), a, "log_contact", "agent", {"channel": "phone", "summary": "called"})
    do(at(16, 10, 40), a, "start_investigation", "agent")
    do(at(16, 11), a, "propose_resolution", "agent", {"resolution": "replace"})
    b = opened(at(16, 11), "complaint", "agent2", customer(2, "regular"))
    do(at(16, 11, 30), a, "approve_resolution", "supervisor")
    do(at(16, 12), a, "reply_customer", "agent", {"reply": "done"})
    do(at(17, 9), last_visit(world, a), "record_outcome", "agent2", {"result": "satisfied"})
    c = opened(at(17, 9), "complaint", "agent", customer(3, "regular"), {"severity": "major"})
    do(at(17, 9, 10), c, "assign", "supervisor", {"assignee": "agent"})
    do(at(17, 9, 10), c, "log_contact", "agent", {"channel": "phone", "summary": "called"})
    do(at(17, 9, 20), c, "start_investigation", "agent")
    do(at(17, 10), a, "close", "supervisor")
    do(at(17, 10), c, "wait_for_customer", "agent", {"reason": "photos"})
    sla(at(18, 9))
    do(at(18, 10), b, "assign", "supervisor", {"assignee": "agent2"})
    do(at(18, 10), b, "log_contact", "agent2", {"channel": "phone", "summary": "called"})
    d = opened(at(18, 14), "complaint", "agent", customer(4, "member"))
    do(at(18, 14, 1), d, "classify", "agent", {"category": "valid"})
    do(at(18, 14, 5), d, "assign", "supervisor", {"assignee": "agent2"})
    do(at(18, 14, 5), d, "log_contact", "agent2", {"channel": "phone", "summary": "called"})
    do(at(18, 14, 10), d, "start_investigation", "agent2")
    do(at(18, 14, 20), d, "propose_resolution", "agent2", {"resolution": "refund"})
    do(at(18, 14, 30), d, "approve_resolution", "supervisor")
    do(at(18, 15), d, "reply_customer", "agent2", {"reply": "refunded"})
    e = opened(at(19, 9), "complaint", "agent2", customer(5, "vip"))
    do(at(19, 9, 30), e, "assign", "supervisor", {"assignee": "agent2"})
    do(at(19, 9, 30), e, "log_contact", "agent2", {"channel": "phone", "summary": "called"})
    do(at(19, 9, 40), e, "start_investigation", "agent2")
    do(at(19, 10), last_visit(world, d), "record_outcome", "agent", {"result": "unsatisfied"})
    assert world.case(d.id).status == "investigating"  # reopened by the policy
    do(at(19, 10), c, "customer_responded", "agent")
    do(at(19, 10), e, "propose_resolution", "agent2", {"resolution": "swap"})
    do(at(19, 10, 30), e, "approve_resolution", "supervisor")
    do(at(19, 11), c, "propose_resolution", "agent", {"resolution": "repair"})
    do(at(19, 11), e, "reply_customer", "agent2", {"reply": "swapped"})
    do(at(19, 15), c, "approve_resolution", "dept_head")
    do(at(20, 9), d, "propose_resolution", "agent2", {"resolution": "refund and gift"})
    do(at(20, 9, 30), d, "approve_resolution", "supervisor")
    do(at(20, 9, 45), d, "reply_customer", "agent2", {"reply": "sorry"})
    do(at(20, 10), c, "reply_customer", "agent", {"reply": "repaired"})
    assert world.clock_state(c, "resolution") == "met"  # due Fri 09:00 + 48 h paused
    f = opened(at(20, 10), "inquiry", "agent2", customer(6, "regular"))
    do(at(20, 10, 30), f, "answer", "agent2", {"answer": "yes"})
    do(at(20, 10, 40), f, "close", "agent2")
    do(at(20, 12), d, "correct_field", "supervisor", {"field": "fields.category", "value": "communicative",
                                                       "reason": "misclassified"})
    for minute in (0, 5, 10):
        do(at(21, 10, minute), last_visit(world, c), "attempt_failed", "agent2", {"reason": "no answer"})
    assert world.case(c.id).fields["return_visit_outcome"] == "unreachable"
    do(at(23, 9), c, "close", "supervisor")
    do(at(23, 9), last_visit(world, d), "record_outcome", "agent", {"result": "satisfied"})
    sla(at(23, 12))
    assert world.clock_state(last_visit(world, e), "return_visit") == "breached"
    assert [h["type"] for h in world.app.case_history(e.id)].count("DeadlineBreached") == 0
    catch_up(world.app, batch_size=9)
    return {"a": a, "b": b, "c": c, "d": d, "e": e, "f": f}


def stats(count: int, mean: float | None, median: float | None, p90: float | None) -> dict[str, Any]:
    return {"count": count, "mean_seconds": mean, "median_seconds": median, "p90_seconds": p90}


NONE = stats(0, None, None, None)


def test_scripted_month(database_url: str) -> None:
    world = World(database_url)
    scripted_month(world)
    models = ReadModels(database_url)
    month = ("2026-11-01", "2026-11-30")

    agent = models.staff_performance("agent", *month)
    assert agent["cases"] == {"assigned": 2, "resolved": 2, "reopened": 0}
    assert agent["clocks"] == {"met": 6, "breached": 0, "compliance_pct": 100.0}
    assert agent["return_visits"] == {"due": 2, "done": 1, "done_on_time": 1, "on_time_pct": 50.0,
                                      "member_vip_due": 1, "member_vip_done": 1,
                                      "member_vip_coverage_pct": 100.0}
    # visit results count for the agent who recorded them: D's two visits
    assert agent["satisfaction"] == {"satisfied": 1, "neutral": 0, "unsatisfied": 1, "satisfaction_pct": 50.0}
    assert agent["first_response"] == stats(2, 1200.0, 1200.0, 1800.0)  # A 30 min, C 10 min
    assert agent["resolution"] == stats(2, 302400.0, 302400.0, 518400.0)  # A 24 h, C 6 days
    assert agent["approvals"] == {"given": 0, "turnaround": NONE}

    agent2 = models.staff_performance("agent2", *month)
    assert agent2["cases"] == {"assigned": 3, "resolved": 1, "reopened": 1}
    assert agent2["clocks"] == {"met": 8, "breached": 3, "compliance_pct": 72.7}
    assert agent2["return_visits"] == {"due": 3, "done": 2, "done_on_time": 2, "on_time_pct": 66.7,
                                       "member_vip_due": 3, "member_vip_done": 2,
                                       "member_vip_coverage_pct": 66.7}
    assert agent2["satisfaction"] == {"satisfied": 1, "neutral": 0, "unsatisfied": 0, "satisfaction_pct": 100.0}
    # F answered in 30 min; D 5 min, E 30 min, B 47 h (after the breach)
    assert agent2["first_response"] == stats(4, 43275.0, 1800.0, 169200.0)
    assert agent2["resolution"] == stats(1, 2400.0, 2400.0, 2400.0)

    supervisor = models.staff_performance("supervisor", *month)
    assert supervisor["approvals"] == {"given": 4, "turnaround": stats(4, 1500.0, 1800.0, 1800.0)}
    assert supervisor["first_response"] == NONE  # assigning is not a contact with the customer
    assert supervisor["cases"] == {"assigned": 0, "resolved": 0, "reopened": 0}
    head = models.staff_performance("dept_head", *month)
    assert head["approvals"] == {"given": 1, "turnaround": stats(1, 14400.0, 14400.0, 14400.0)}

    # a range of days, and per-period figures
    part = models.staff_performance("agent2", "2026-11-18", "2026-11-19")
    assert part["cases"] == {"assigned": 3, "resolved": 0, "reopened": 1}
    assert part["clocks"] == {"met": 5, "breached": 2, "compliance_pct": 71.4}
    assert part["return_visits"]["due"] == 0 and part["satisfaction"]["unsatisfied"] == 0
    weekly = models.staff_performance("agent2", *month, by="week")
    assert [(p["period"], p["clocks"]["breached"]) for p in weekly["periods"]] == [("2026-W47", 2),
                                                                                 ("2026-W48", 1)]
    assert models.staff_performance("nobody", *month)["cases"] == {"assigned": 0, "resolved": 0, "reopened": 0}

    report = models.department_report("cs", "2026-11")
    assert report == {
        "department": "cs", "month": "2026-11",
        "complaints_received": 5, "complaints_handled": 4,
        "handling_rate_pct": 80.0, "handling_rate_target_pct": 100.0, "handling_rate_met": False,
        "complaints_return_visited": 2, "return_visit_rate_pct": 50.0, "return_visit_rate_target_pct": 50.0,
        "return_visit_rate_met": True, "complaints_satisfied": 2, "satisfaction_rate_pct": 100.0,
        "satisfaction_rate_target_pct": None, "satisfaction_rate_met": None,
        "valid_complaints": 1,
    }
    # the targets are the complaint case type's data (report_targets), not code
    models.report_targets = {"handling_rate_pct": 80.0, "satisfaction_rate_pct": 99.0}
    stricter = models.department_report("cs", "2026-11")
    assert (stricter["handling_rate_met"], stricter["return_visit_rate_target_pct"], stricter["return_visit_rate_met"],
            stricter["satisfaction_rate_met"]) == (True, None, None, True)
    empty = models.department_report("cs", "2026-12")
    assert empty["complaints_received"] == 0 and empty["handling_rate_pct"] is None
    models.close()

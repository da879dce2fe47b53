"""Hypothesis state machine: every path at once, and the rules that must hold after each step.

One world holds an order, a complaint and a repair order. Steps mix actions
by anybody, corrections of the values the rules read (amount, payment terms,
is_new, product kind, severity), classification, pauses and resumes, return
visits recorded on either case, imports of legacy complaints, SLA passes (at
the server clock or a past ``now``, and a refused future one) and time
passing (minutes to days, across weekends). After every step:

- an order is shipped only if every approval its *current* values require was
  granted by someone other than the person who opened or submitted it (and a
  custom one has its 30 % deposit);
- a running clock is due exactly its duration after its start plus the time it
  was paused (working time for working-day clocks);
- no case in a non-closed state is stuck: some action leaves the state and its
  case-only guards hold (or will, once an allowed action records what they
  count, e.g. a deposit; or it waits on an open linked case);
- the events of every case are in non-decreasing ``occurred_at`` and none is
  dated after the server clock; replaying them gives the same case;
- a refused command records nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import hypothesis.strategies as st
from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from domain.model.approvals import ApprovalState, compute_chain
from domain.model.clocks import due_from_start
from domain.model.durations import parse_duration
from domain.model.errors import DomainError
from domain.model.guards import guards_hold
from domain.model.registry import CaseTypeRegistry
from tests.support import STAFF, World

REGISTRY = CaseTypeRegistry.load()
REACHED: set[tuple[str, str]] = set()
PEOPLE = sorted(STAFF)
AMOUNTS = ["900.00", "1500.00", "15000.00", "20000.00", "20000.01", "50000.00", "50000.01", "900000.00"]
CORRECTIONS = {
    "order_approval": [("amount", st.sampled_from(AMOUNTS)),
                       ("payment_terms", st.sampled_from(["cash", "cod", "prepay", "credit"])),
                       ("customer.is_new", st.sampled_from(["true", "false"])),
                       ("product_kind", st.sampled_from(["standard", "custom"]))],
    "complaint": [("severity", st.sampled_from(["general", "major", "crisis"])),
                  ("category", st.sampled_from(["valid", "communicative"]))],
    "repair_order": [("device", st.just("空调"))],
}


class EveryPath(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.world = World(registry=REGISTRY)
        w = self.world
        self.cases = {
            "order_approval": w.open("order_approval", fields={"amount": "15000.00", "payment_terms": "credit"}).id,
            "complaint": w.open("complaint").id,
            "repair_order": w.open("repair_order").id,
        }

    # ----------------------------------------------------------- helpers
    def all_cases(self) -> list:
        out = []
        for case_id in self.cases.values():
            case = self.world.case(case_id)
            out.append(case)
            out += [self.world.case(link["case_id"]) for link in case.links]
        return out

    def attempt(self, case_id, action: str, by: str, data: dict) -> None:
        before = self.world.stored_count(self.world.case(case_id))
        position = self.world.app.recorder.max_notification_id()
        try:
            self.world.act(case_id, action, by, data)
        except DomainError:
            assert self.world.stored_count(self.world.case(case_id)) == before
            assert self.world.app.recorder.max_notification_id() == position

    def data_for(self, ct, action: str, draw) -> dict:
        spec = ct.actions[action]
        data = {}
        for name, f in spec.fields.items():
            if not (f.required or draw(st.booleans())):
                continue
            if f.type == "enum":
                data[name] = draw(st.sampled_from(f.values))
            elif f.type == "staff":
                data[name] = draw(st.sampled_from(["agent", "agent2", "technician", "technician2"]))
            elif f.type == "int":
                data[name] = draw(st.integers(int(f.min or 1), int(f.max or 5)))
            elif f.type == "decimal":
                data[name] = draw(st.sampled_from(["100.00", "4500.00", "300000.00"]))
            elif f.type == "datetime":
                start = self.world.now + timedelta(minutes=draw(st.integers(-30, 3000)))
                data[name] = start.isoformat()
            else:
                data[name] = "x"
        if action == "schedule":
            start = self.world.now + timedelta(minutes=draw(st.integers(-30, 3000)))
            data = {"window_start": start.isoformat(), "window_end": (start + timedelta(hours=2)).isoformat()}
        return data

    # ------------------------------------------------------------- rules
    @rule(kind=st.sampled_from(sorted(CORRECTIONS)), data=st.data())
    def allowed_action(self, kind: str, data: st.DataObject) -> None:
        """Mostly-valid moves by whoever may take one, on a case or one of its linked cases."""
        ids = [str(c.id) for c in self.all_cases() if c.id == self.cases[kind]
               or any(x["case_id"] == str(self.cases[kind]) for x in c.links)]
        case = self.world.case(data.draw(st.sampled_from(ids)))
        ct = REGISTRY.get(case.case_type)
        who = data.draw(st.sampled_from(PEOPLE + [case.assignee or "agent"] * 4))
        allowed = [a for a in case.allowed_actions(ct, self.world.actor(who)) if a != "correct_field"]
        if allowed:
            action = data.draw(st.sampled_from(allowed))
            self.attempt(case.id, action, who, self.data_for(ct, action, data.draw))

    @rule(kind=st.sampled_from(sorted(CORRECTIONS)), n=st.integers(2, 8), data=st.data())
    def drive(self, kind: str, n: int, data: st.DataObject) -> None:
        """Several mostly-valid moves in a row, so that walks get deep into each workflow."""
        for _ in range(n):
            self.allowed_action(kind, data)

    @rule(kind=st.sampled_from(sorted(CORRECTIONS)), who=st.sampled_from(PEOPLE), data=st.data())
    def any_action(self, kind: str, who: str, data: st.DataObject) -> None:
        ct = REGISTRY.get(kind)
        action = data.draw(st.sampled_from(sorted(ct.actions)))
        self.attempt(self.cases[kind], action, who, self.data_for(ct, action, data.draw))

    @rule(kind=st.sampled_from(sorted(CORRECTIONS)), data=st.data(),
          who=st.sampled_from(["supervisor", "dept_head", "general_manager", "agent"]))
    def correction(self, kind: str, data: st.DataObject, who: str) -> None:
        field, values = data.draw(st.sampled_from(CORRECTIONS[kind]))
        self.attempt(self.cases[kind], "correct_field", who,
                     {"field": field, "value": data.draw(values), "reason": "typed wrong"})

    @rule(severity=st.sampled_from(["general", "major", "crisis"]), who=st.sampled_from(["agent", "supervisor"]))
    def classify(self, severity: str, who: str) -> None:
        self.attempt(self.cases["complaint"], "classify", who, {"severity": severity})

    @rule(pause=st.booleans())
    def pause_or_resume(self, pause: bool) -> None:
        case = self.world.case(self.cases["complaint"])
        who = case.assignee or "supervisor"
        self.attempt(case.id, "wait_for_customer" if pause else "customer_responded", who, {"reason": "photos"})

    @rule(minutes=st.sampled_from([1, 7, 29, 45, 90, 240, 600, 1440, 2880, 4000]))
    def time_passes(self, minutes: int) -> None:
        self.world.advance(minutes=minutes)

    @rule(back=st.sampled_from([0, 0, 60, 1440]), future=st.booleans())
    def sla_pass(self, back: int, future: bool) -> None:
        app = self.world.app
        for case in self.all_cases():
            if future:
                try:
                    app.record_breaches(case.id, self.world.now + timedelta(hours=1))
                    raise AssertionError("a future now was accepted")
                except DomainError:
                    pass
            app.record_breaches(case.id, self.world.now - timedelta(minutes=back))

    @rule(days=st.integers(2, 40), steps=st.lists(st.sampled_from(
        ["assign", "log_contact", "start_investigation", "classify", "close"]), max_size=4))
    def import_legacy(self, days: int, steps: list[str]) -> None:
        opened = self.world.now - timedelta(days=days)
        data = {"assign": {"assignee": "agent"}, "log_contact": {"channel": "phone", "summary": "called"},
                "classify": {"severity": "major"}, "start_investigation": {}, "close": {}}
        body = {"case": {"type": "complaint", "title": "legacy", "customer": {"id": "L", "name": "老客户"},
                         "occurred_at": opened.isoformat()},
                "actions": [{"action": a, "occurred_at": (opened + timedelta(hours=7 * (i + 1))).isoformat(),
                             "data": data[a]} for i, a in enumerate(steps)]}
        position = self.world.app.recorder.max_notification_id()
        try:
            case = self.world.app.import_case(self.world.actor("importer"), body).case
        except DomainError:
            assert self.world.app.recorder.max_notification_id() == position
            return
        history = self.world.app.case_history(case.id)
        assert all(e["imported"] for e in history)
        self.cases.setdefault("imports", case.id)

    @precondition(lambda self: "imports" in self.cases)
    @rule()
    def forget_import(self) -> None:
        self.cases.pop("imports")

    # -------------------------------------------------------- invariants
    @invariant()
    def shipped_orders_had_their_approvals(self) -> None:
        order = self.world.case(self.cases["order_approval"])
        if order.status not in ("shipped", "delivered"):
            return
        ct = REGISTRY.get("order_approval")
        chain = compute_chain(ct, order.context())
        granted = order.approvals["granted"]
        assert set(chain["required"]) <= {g["role"] for g in granted}, (chain, granted)
        assert not {g["by"] for g in granted} & order.requesters()
        if order.fields.get("product_kind") == "custom":
            assert Decimal(str(order.counters.get("deposit", 0))) >= Decimal(order.fields["amount"]) * Decimal("0.3")

    @invariant()
    def running_clocks_are_due_from_their_start(self) -> None:
        calendar = self.world.app.calendar
        for case in self.all_cases():
            for clock in case.clocks.values():
                if clock["state"] == "running":
                    expected = due_from_start(clock, parse_duration(clock["duration"]), calendar)
                    assert datetime.fromisoformat(clock["due_at"]) == expected, (case.number, clock)

    @invariant()
    def no_open_state_is_a_dead_end(self) -> None:
        for case in self.all_cases():
            ct = REGISTRY.get(case.case_type)
            if not ct.is_open_state(case.status):
                continue
            # a deposit still to be recorded is a way forward, not a dead end
            counted = {f"counters.{a.increments}" for a in ct.actions.values()
                       if a.increments and case.state_allows(a, ct)}
            leaving = [a for a in ct.actions.values() if case.state_allows(a, ct)
                       and any(t not in (None, case.status) for t in (a.to, a.to_when_approved))
                       and guards_hold(tuple(g for g in a.guards if g.get("field") not in counted),
                                       case.context())]
            waiting = any(self.world.case(x["case_id"]).status == "open" for x in case.links
                          if x["rel"] == "return_visit")
            assert leaving or waiting or ApprovalState.of(case.approvals).missing, (case.number, case.status)

    @invariant()
    def events_in_time_order_and_replayable(self) -> None:
        now = self.world.now
        for case in self.all_cases():
            REACHED.add((case.case_type, case.status))
            history = self.world.app.case_history(case.id)
            times = [datetime.fromisoformat(e["occurred_at"]) for e in history]
            assert times == sorted(times), (case.number, [e["type"] for e in history])
            assert not times or times[-1] <= now
            replayed = self.world.app.load(case.id, version=case.version)
            ct = REGISTRY.get(case.case_type)
            assert replayed.view(ct, None) == case.view(ct, None)


def test_rules_hold_on_every_path() -> None:
    REACHED.clear()
    run_state_machine_as_test(EveryPath, settings=settings(
        max_examples=60, stateful_step_count=40, deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]))
    print(sorted(REACHED))
    # the walk gets deep: orders ship, complaints are replied to, repairs are completed
    assert {("order_approval", "shipped"), ("complaint", "replied"), ("repair_order", "completed")} & REACHED

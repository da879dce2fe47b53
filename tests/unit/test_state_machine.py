"""Hypothesis state machines: random action sequences through every case type.

Invariants after every step: the status is a defined state; the version
equals the number of stored events; replaying the stored events gives the
same case; clocks are in a defined state with consistent times; a refused
command (any DomainError) records nothing; no other exception escapes.
"""

from __future__ import annotations

import tomllib
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from domain.model.errors import DomainError
from domain.model.fields import FieldSpec
from domain.model.registry import CaseTypeRegistry
from scripts.demo_cmd import PLANS_DIR, relative
from scripts.demo_cmd import STAFF as DEMO_STAFF_LIST
from tests.support import LIBRARY_STAFF, STAFF, World

REGISTRY = CaseTypeRegistry.load()
CLOCK_STATES = {"running", "paused", "met", "breached"}
REACHED: set[str] = set()


def value_for(spec: FieldSpec, now: datetime) -> st.SearchStrategy:
    t = spec.type
    if t == "enum":
        return st.sampled_from(spec.values)
    if t in ("string", "text"):
        return st.text(min_size=1, max_size=20).filter(str.strip)
    if t == "staff":
        return st.sampled_from(sorted(ALL_STAFF) + ["ghost"])
    if t == "int":
        lo = int(spec.min) if spec.min is not None else -5
        hi = int(spec.max) if spec.max is not None else 10
        return st.integers(lo - 1, hi + 1)
    if t == "decimal":
        return st.decimals(min_value=Decimal("-1"), max_value=Decimal("100000"), places=2,
                           allow_nan=False, allow_infinity=False).map(str)
    if t == "bool":
        return st.booleans()
    if t == "datetime":
        return st.integers(0, 200).map(lambda m: (now + timedelta(minutes=m)).isoformat())
    if t == "date":
        return st.integers(-3, 30).map(lambda d: (now + timedelta(days=d)).date().isoformat())
    if t == "pattern":
        return st.sampled_from(["11010519491231002X", "110105194912310021", "123"])
    if t == "list":
        return st.just([])
    if t == "attachment":
        return st.sampled_from([{"name": "单据.pdf", "media_type": "application/pdf", "size": 1024,
                                 "sha256": "ab" * 32}, {"name": "x"}])
    raise AssertionError(t)


def valid_value(spec: FieldSpec, now: datetime) -> st.SearchStrategy:
    if spec.type == "staff":
        return st.sampled_from(["agent", "agent2", "technician"])
    if spec.type == "int":
        return st.integers(int(spec.min or 1), int(spec.max or 5))
    if spec.type == "decimal":
        return st.sampled_from(["0.01", "100.00", "7500.00", "30000.00"])
    return value_for(spec, now)


BUILT_IN = ("complaint", "inquiry", "order_approval", "repair_order", "return_visit")
ALL_STAFF = {**STAFF, **LIBRARY_STAFF}
# the demo roster (scripts/demo_cmd.py) too: the library types open as their first demo case, by demo staff
DEMO_ROSTER = {staff_id: (department, roles) for staff_id, _name, department, roles in DEMO_STAFF_LIST}


def demo_opening(type_name: str) -> dict[str, Any]:
    """How the type's first demo case is opened (scripts/demo_plans): valid data for every library type."""
    plan = tomllib.loads((PLANS_DIR / f"{type_name}.toml").read_text(encoding="utf-8"))["cases"][0]
    return {"by": plan.get("by", "agent1"), "customer": dict(plan.get("customer") or {}),
            "fields": dict(plan.get("fields") or {}),
            "steps": [(x["action"], x["by"], dict(x.get("data") or {})) for x in plan.get("steps", [])]}


def open_as_demo(world: World, type_name: str) -> Any:
    """Open a library case as its first demo case; a case it needs (``[[requires]]``) first, as in the demo."""
    for need in REGISTRY.get(type_name).requires:
        prior = open_as_demo(world, need.type)
        for action, who, data in demo_opening(need.type)["steps"]:
            world.act(prior, action, who, relative(data, world.now))
    how = demo_opening(type_name)
    return world.open(type_name, by=how["by"], customer=how["customer"], fields=relative(how["fields"], world.now))


def make_machine(type_name: str) -> type[RuleBasedStateMachine]:
    ct = REGISTRY.get(type_name)

    class CaseMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.world = World(registry=REGISTRY, extra_staff={**LIBRARY_STAFF, **DEMO_ROSTER})
            if type_name in BUILT_IN:
                fields = {"amount": "25000.00", "payment_terms": "credit"} if type_name == "order_approval" else {}
                self.case = self.world.open(type_name, fields=fields)
            else:  # a procedure-library type: opened as its first demo case is
                self.case = open_as_demo(self.world, type_name)
            self.versions_seen = [1]

        @rule(action=st.sampled_from(sorted(ct.actions)), who=st.sampled_from(sorted(ALL_STAFF)), data=st.data())
        def take_action(self, action: str, who: str, data: st.DataObject) -> None:
            spec = ct.actions[action]
            values = {}
            for name, fspec in spec.fields.items():
                if fspec.required or data.draw(st.booleans()):
                    values[name] = data.draw(value_for(fspec, self.world.now), label=name)
            if action == "correct_field":
                values["field"] = data.draw(st.sampled_from(["title", "customer.name", "fields.description", "status"]))
            before = self.world.case(self.case.id).version
            try:
                self.case = self.world.act(self.case, action, who, values)
            except DomainError:
                assert self.world.case(self.case.id).version == before
                assert self.world.stored_count(self.case) == before

        @rule(data=st.data())
        def take_allowed_action(self, data: st.DataObject) -> None:
            """Mostly-valid moves, so the walk gets deep into each workflow."""
            case = self.world.case(self.case.id)
            who = data.draw(st.sampled_from(sorted(ALL_STAFF) + [case.assignee or "agent"] * 6))
            allowed = [a for a in case.allowed_actions(ct, self.world.actor(who)) if a != "correct_field"]
            if not allowed:
                return
            action = data.draw(st.sampled_from(allowed))
            values = {}
            for name, fspec in ct.actions[action].fields.items():
                if fspec.required or data.draw(st.booleans()):
                    values[name] = data.draw(valid_value(fspec, self.world.now), label=name)
            if action == "schedule":
                start = self.world.now + timedelta(hours=1)
                values = {"window_start": start.isoformat(), "window_end": (start + timedelta(hours=2)).isoformat()}
            before = case.version
            try:
                self.case = self.world.act(case, action, who, values)
            except DomainError:
                assert self.world.case(self.case.id).version == before

        @rule(minutes=st.integers(1, 5000))
        def time_passes(self, minutes: int) -> None:
            self.world.advance(minutes=minutes)

        @rule()
        def sla_pass(self) -> None:
            self.world.app.record_breaches(self.case.id, self.world.now)
            # linked cases get their pass too
            for link in self.world.case(self.case.id).links:
                self.world.app.record_breaches(link["case_id"], self.world.now)

        @rule(data=st.data())
        def linked_case_acts(self, data: st.DataObject) -> None:
            links = self.world.case(self.case.id).links
            if not links:
                return
            linked = self.world.case(data.draw(st.sampled_from(links))["case_id"])
            lct = REGISTRY.get(linked.case_type)
            action = data.draw(st.sampled_from(sorted(lct.actions)))
            values = {n: data.draw(value_for(f, self.world.now)) for n, f in lct.actions[action].fields.items()
                      if f.required}
            try:
                self.world.act(linked, action, data.draw(st.sampled_from(["agent", "supervisor"])), values)
            except DomainError:
                pass

        @invariant()
        def consistent(self) -> None:
            case = self.world.case(self.case.id)
            assert case.status in ct.states
            REACHED.add(case.status)
            assert case.version == self.world.stored_count(case)
            replayed = self.world.app.load(case.id, version=case.version)
            assert replayed.view(ct, None) == case.view(ct, None)
            for clock in case.clocks.values():
                assert clock["state"] in CLOCK_STATES
                assert datetime.fromisoformat(clock["due_at"]) >= datetime.fromisoformat(clock["started_at"])
                assert (clock["state"] == "paused") == (clock["paused_at"] is not None)
                if clock["state"] in ("met", "breached"):
                    assert clock["stopped_at"] is not None
            approvals = case.approvals
            granted = [g["by"] for g in approvals["granted"]]
            assert len(granted) == len(set(granted))
            assert set(g["role"] for g in approvals["granted"]) <= set(approvals["required"]) | {"system"}

    CaseMachine.__name__ = f"{type_name.title().replace('_', '')}Machine"
    return CaseMachine


@pytest.mark.parametrize("type_name", REGISTRY.names())
def test_random_action_sequences(type_name: str) -> None:
    machine = make_machine(type_name)
    REACHED.clear()
    run_state_machine_as_test(machine, settings=settings(
        max_examples=100 if type_name in BUILT_IN else 10, stateful_step_count=50, deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    ))
    # the walk must get past the initial state (the machine really explores)
    assert len(REACHED) >= 2, REACHED

"""The Case aggregate: one case of any type, driven by its case-type definition.

Command methods (``open``, ``take``, ``record_breaches``, ``record_linked_outcome``,
``add_link``) decide: they check the case-type rules, roles, fields and
guards, compute clock changes with the calendar, and then call an
``@event`` method which records the outcome. Event methods only apply what
the event says (status, field changes, clock changes), so replaying a case
never depends on the current case-type files or the calendar.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.model.actor import Actor, stable_id
from domain.model.approvals import ApprovalState
from domain.model.approving import check_approver, plan_approvals
from domain.model.breaches import Holder, enter, escalations_due, next_role_up, plan_breach
from domain.model.calendar import BusinessCalendar
from domain.model.casetype import ALL_OPEN_STATES, ANY_STATE, LINKED_OUTCOME, OPEN, ActionSpec, CaseType
from domain.model.clocks import (
    apply_clock_change,
    clock_view,
    overdue_clocks,
    plan_clock_changes,
    plan_retiming,
)
from domain.model.conditions import lookup, matches
from domain.model.copying import PlainCopy
from domain.model.effects import arrival, computed_value, plan_correction, plan_extend
from domain.model.errors import (
    ActionNotAllowed,
    AlreadyTaken,
    DomainError,
    InvalidFields,
    RoleNotAllowed,
    UnknownAction,
)
from domain.model.fields import validate_fields
from domain.model.guards import check_guards, guards_hold
from domain.model.moments import moments
from domain.model.opening import opening_values, refuse
from domain.model.rederive import check_constraints, check_downgrades, check_locked, gating_paths, rederive_approvals
from domain.model.topics import register_moved

Meta = dict[str, Any]


class Case(PlainCopy, Aggregate):
    """A case (complaint, inquiry, repair order, return visit, order approval)."""

    @staticmethod
    def create_id(number: str) -> UUID:
        """Case ids derive from their unique numbers (``TS-202611-0001``)."""
        return stable_id("case", number)

    @event("Opened")
    def __init__(
        self, case_type: str, number: str, title: str, status: str, customer: dict[str, Any],
        fields: dict[str, Any], department: str, links: list[dict[str, Any]],
        clock_changes: list[dict[str, Any]], meta: Meta,
    ) -> None:
        self.case_type = case_type
        self.number = number
        self.title = title
        self.status = status
        self.customer = dict(customer)
        self.fields = dict(fields)
        self.department = department
        self.assignee: str | None = None
        self.links = [dict(link) for link in links]
        self.clocks: dict[str, dict[str, Any]] = {}
        self.approvals: dict[str, Any] = {"required": [], "sequential": False, "granted": []}
        self.counters: dict[str, Any] = {}
        self.escalations: list[dict[str, Any]] = []
        self.opened_at = meta["occurred_at"]
        self.opened_by = meta.get("actor")
        self.updated_at = meta["occurred_at"]
        self.head_hash: str | None = None
        for change in clock_changes:
            apply_clock_change(self.clocks, change)

    # ----------------------------------------------------------------- apply
    @event("ActionTaken")
    def _action_taken(
        self, action: str, from_state: str, to_state: str, data: dict[str, Any],
        changes: dict[str, list[Any]], clock_changes: list[dict[str, Any]],
        approvals: dict[str, Any] | None, meta: Meta,
    ) -> None:
        self.status = to_state
        for path, (_old, new) in changes.items():
            self._set(path, new)
        for change in clock_changes:
            apply_clock_change(self.clocks, change)
        if approvals is not None:
            self.approvals = approvals
        self.updated_at = meta["occurred_at"]

    @event("DeadlineBreached")
    def _deadline_breached(self, clock: str, due_at: str, meta: Meta, changes: dict[str, list[Any]] | None = None,
                           clock_changes: list[dict[str, Any]] | None = None) -> None:
        apply_clock_change(self.clocks, {"op": "breach", "name": clock})
        for path, (_old, new) in (changes or {}).items():  # what the breach does: a system transition
            self._set(path, new)
        for change in clock_changes or ():
            apply_clock_change(self.clocks, change)
        self.updated_at = meta["occurred_at"]

    @event("Escalated")
    def _escalated(self, to_role: str, reason: str, clock: str | None, meta: Meta,
                   to_staff: str | None = None) -> None:
        self.escalations.append({"to_role": to_role, "reason": reason, "clock": clock, "at": meta["occurred_at"],
                                 "to_staff": to_staff})
        self.updated_at = meta["occurred_at"]

    @event("LinkAdded")
    def _link_added(self, rel: str, case_id: str, number: str, meta: Meta) -> None:
        self.links.append({"rel": rel, "case_id": case_id, "number": number})
        self.updated_at = meta["occurred_at"]

    @event("LinkedOutcomeRecorded")
    def _linked_outcome(
        self, rel: str, case_id: str, outcome: str, changes: dict[str, list[Any]],
        clock_changes: list[dict[str, Any]], meta: Meta, recorded_by: str | None = None,
        score: int | None = None,
    ) -> None:
        for path, (_old, new) in changes.items():
            self._set(path, new)
        for change in clock_changes:
            apply_clock_change(self.clocks, change)
        self.updated_at = meta["occurred_at"]

    def _set(self, path: str, value: Any) -> None:
        head, _, rest = path.partition(".")
        if head in ("fields", "customer", "counters") and rest:
            target = getattr(self, head)
            if value is None:
                target.pop(rest, None)
            else:
                target[rest] = value
        elif head in ("status", "assignee", "department", "title"):
            setattr(self, head, value)

    # ---------------------------------------------------------------- decide
    @classmethod
    def open(
        cls, *, case_type: CaseType, actor: Actor, number: str, title: Any, customer: Any,
        fields: Any, channel: Any, links: list[dict[str, Any]], at: datetime,
        calendar: BusinessCalendar, meta: Meta, holder: Holder | None = None,
    ) -> Case:
        if not (actor.is_system or actor.is_importer or actor.has_any(case_type.open_roles)):
            raise RoleNotAllowed(
                f"opening a {case_type.name} needs one of the roles {list(case_type.open_roles)}",
                allowed_roles=list(case_type.open_roles),
            )
        customer_v, fields_v, errors = opening_values(case_type, title, customer, fields, channel)
        refuse(errors, f"opening a {case_type.name}")  # every invalid field at once (domain.model.opening)
        assert isinstance(title, str)
        context = {"fields": fields_v, "customer": customer_v, "type": case_type.name, "status":
                   case_type.initial_state, **moments(at, calendar.zone)}
        named = {f"fields.{k}" for k in fields_v} | {f"customer.{k}" for k in customer_v}
        check_constraints(case_type, context, named, lambda path: None, {OPEN})
        triggers = [OPEN, enter(case_type.initial_state)]
        clock_changes = plan_clock_changes(case_type, {}, triggers, context, at, calendar)
        case = cls(
            case_type=case_type.name, number=number, title=title.strip(), status=case_type.initial_state,
            customer=customer_v, fields=fields_v, department=case_type.department, links=links,
            clock_changes=clock_changes, meta=meta,
        )
        case._escalate_for(case_type, OPEN, meta, holder)
        case._escalate_for(case_type, enter(case_type.initial_state), meta, holder)
        return case

    def context(self) -> dict[str, Any]:
        return {
            "type": self.case_type, "status": self.status, "fields": self.fields,
            "customer": self.customer, "counters": self.counters, "assignee": self.assignee,
            "approvals": self.approvals, "links": self.links,
        }

    def roles_for(self, spec: ActionSpec) -> set[str]:
        """Roles that may take ``spec`` now (not counting the assignee rule)."""
        roles = set(spec.roles)
        if spec.roles_by:
            roles |= set(spec.roles_by["map"].get(lookup(self.context(), spec.roles_by["field"]), []))
        if spec.approval == "grant":
            roles |= set(ApprovalState.of(self.approvals).grantable_roles())
        elif spec.approval == "reject":
            roles |= set(self.approvals.get("required", []))
        return roles

    def requesters(self) -> set[str]:
        """Who opened or submitted the case: they never approve it."""
        return {str(who) for who in (getattr(self, "opened_by", None), self.approvals.get("requested_by")) if who}

    def offered_to(self) -> list[str]:
        return [s for s in str(self.fields.get("offered_to") or "").split(",") if s]

    def permits(self, spec: ActionSpec, actor: Actor) -> bool:
        if actor.is_system or actor.is_importer:
            return True
        if not actor.may_act:
            return False
        if spec.restricted_to_offer and self.offered_to() and actor.id not in self.offered_to():
            return False
        if spec.approval == "grant" and actor.id in self.requesters():
            return False
        if spec.approval and not spec.roles:
            state = ApprovalState.of(self.approvals)
            if spec.approval == "grant":
                return state.step_for(actor.roles, actor.department) is not None
            return state.may_reject(actor.roles, actor.department)
        if actor.has_any(self.roles_for(spec)):
            return True
        if spec.opener and actor.id == getattr(self, "opened_by", None):
            return True
        return spec.assignee and self.assignee is not None and self.assignee == actor.id

    def state_allows(self, spec: ActionSpec, case_type: CaseType) -> bool:
        if ANY_STATE in spec.from_states or self.status in spec.from_states:
            return True
        return ALL_OPEN_STATES in spec.from_states and case_type.is_open_state(self.status)

    def allowed_actions(self, case_type: CaseType, actor: Actor) -> list[str]:
        """The actions this actor's roles may take in the current state."""
        context = self.context()
        return sorted(
            name for name, spec in case_type.actions.items()
            if self.state_allows(spec, case_type) and self.permits(spec, actor)
            and guards_hold(spec.guards, context)
        )

    def take(
        self, *, case_type: CaseType, action: str, data: Any, actor: Actor, at: datetime,
        calendar: BusinessCalendar, meta: Meta, known_staff: Callable[[str], bool], holder: Holder | None = None,
    ) -> None:
        spec = case_type.action(action)
        if spec is None:
            raise UnknownAction(
                f"{case_type.name} has no action {action!r}; actions: {sorted(case_type.actions)}",
                actions=sorted(case_type.actions),
            )
        if not actor.may_act:
            raise RoleNotAllowed(f"{action}: roles {list(actor.roles)} may not act on cases",
                                 allowed_roles=sorted(self.roles_for(spec)))
        if not self.state_allows(spec, case_type):
            if spec.idempotent_for_assignee and self.assignee == actor.id and not actor.is_system:
                return  # the holder taking it again: nothing new to record
            if spec.conflict_when_taken and self.assignee and self.permits(spec, actor):
                raise AlreadyTaken(f"{self.number} was already taken ({action}) by {self.assignee}",
                                   current_version=self.version)
            raise ActionNotAllowed(
                f"{action} is not allowed when the {case_type.name} is {self.status!r}; "
                f"allowed from {list(spec.from_states)}",
                allowed_actions=self.allowed_actions(case_type, actor),
            )
        if spec.approval:
            check_approver(self.approvals, self.requesters(), self.case_type, spec, actor,
                           str(meta.get("original_actor") or actor.id))
        elif not self.permits(spec, actor):
            needs = sorted(self.roles_for(spec)) + (["the assignee"] if spec.assignee else []) + (
                ["the staff member who opened it"] if spec.opener else [])
            raise RoleNotAllowed(f"{action} needs one of {needs}; you have {list(actor.roles)}",
                                 allowed_roles=needs)
        try:
            self._decide(case_type, spec, data, actor, at, calendar, meta, known_staff, holder)
        except DomainError as e:  # every 422 about an action says what may be done instead
            if e.status == 422 and "allowed_actions" not in e.extra:
                e.extra["allowed_actions"] = self.allowed_actions(case_type, actor)
            raise

    def _decide(
        self, case_type: CaseType, spec: ActionSpec, data: Any, actor: Actor, at: datetime,
        calendar: BusinessCalendar, meta: Meta, known_staff: Callable[[str], bool], holder: Holder | None,
    ) -> None:
        action = spec.name
        if meta.get("imported") and at < datetime.fromisoformat(self.updated_at):
            raise InvalidFields(f"occurred_at {at.isoformat()} is before the case's last event ({self.updated_at})",
                                errors=[{"field": "occurred_at", "problem": "is before the case's last event"}])
        values = validate_fields(spec.fields, data, what=f"{action} fields")
        context = self.context()
        check_guards(spec.guards, context, values, action, at)
        self._do(case_type, spec, values, actor, at, calendar, meta, known_staff, holder)

    def _do(
        self, ct: CaseType, spec: ActionSpec, values: dict[str, Any], actor: Actor, at: datetime,
        calendar: BusinessCalendar, meta: Meta, known_staff: Callable[[str], bool], holder: Holder | None = None,
    ) -> None:
        changes: dict[str, list[Any]] = {}
        to_state = spec.to or self.status

        def change(path: str, new: Any) -> None:
            old = lookup(self.context() | {"title": self.title, "department": self.department}, path)
            if old != new:
                changes[path] = [old, new]

        for name, target in spec.sets.items():
            if name in values:
                change(target if "." in target else f"fields.{target}", values[name])
        for name, fspec in spec.fields.items():
            if fspec.type == "staff" and name in values and not known_staff(values[name]):
                raise InvalidFields(f"{name}: unknown staff member {values[name]!r}",
                                    errors=[{"field": name, "problem": "unknown staff member"}])
        if spec.assigns:
            change("assignee", values[spec.assigns if isinstance(spec.assigns, str) else "assignee"])
            if values.get("department"):
                change("department", values["department"])
        if spec.assign_actor:
            change("assignee", actor.id)
        if spec.offers:
            chosen = list(dict.fromkeys(values[f] for f in spec.offers["fields"] if values.get(f)))
            change(f"fields.{spec.offers['to']}", ",".join(chosen))
        if spec.stamps:
            change(f"fields.{spec.stamps['field']}", arrival(self.context(), spec.stamps, at))
        if spec.increments:
            current = self.counters.get(spec.increments, 0)
            new: str | int
            if spec.increment_by:
                new = str(Decimal(str(current)) + Decimal(values[spec.increment_by]))
            else:
                new = int(current) + 1
            change(f"counters.{spec.increments}", new)
            if spec.to_at_count and Decimal(str(new)) >= Decimal(str(spec.to_at_count["at"])):
                to_state = spec.to_at_count["to"]
        if spec.computes:
            scope = {**self._after(changes), "input": values, "actor": actor.id, **moments(at, calendar.zone)}
            for target, expression in spec.computes.items():
                path = target if "." in target else f"fields.{target}"
                change(path, computed_value(ct, path, expression, scope))
        if spec.corrects:
            plan_correction(ct, values, change)
            check_locked(ct, self.status, changes, lambda: self.allowed_actions(ct, actor))
        check_downgrades(ct, changes, actor)
        named = set(changes) | {t if "." in t else f"fields.{t}" for n, t in spec.sets.items() if n in values}
        check_constraints(ct, {**self._after(changes), **moments(at, calendar.zone)}, named,
                          lambda path: change(path, None), {spec.name})
        ctx = self._after(changes)
        for rule in spec.to_when:  # a conditional transition (a passed test with the owner's signature)
            if matches(rule["when"], {**ctx, "input": values}):
                to_state = rule["to"]
                break
        approvals = plan_approvals(ct, spec, actor, at, self.context(), self.approvals, meta)
        if approvals is not None and spec.to_when_approved and ApprovalState.of(approvals).complete:
            to_state = spec.to_when_approved
        gating = set(changes) & gating_paths(ct)
        if gating and approvals is None:
            approvals, moved = rederive_approvals(ct, ctx, self.approvals, self.status)
            to_state = moved or to_state
        ctx["approvals"] = approvals if approvals is not None else self.approvals
        triggers = [spec.name] + ([enter(to_state)] if to_state != self.status else [])
        clock_changes = plan_clock_changes(ct, self.clocks, triggers, ctx, at, calendar)
        if gating:
            touched = {c["name"] for c in clock_changes}
            clock_changes += [c for c in plan_retiming(ct, self.clocks, self.context(), ctx, calendar)
                              if c["name"] not in touched]
        if spec.extends:
            clock_changes.append(plan_extend(self.clocks, ct, spec, values, calendar))
        if to_state != self.status:
            changes["status"] = [self.status, to_state]
        self._action_taken(
            action=spec.name, from_state=self.status, to_state=to_state, data=values, changes=changes,
            clock_changes=clock_changes, approvals=approvals, meta=meta,
        )
        self._escalate_for(ct, spec.name, meta, holder)
        if to_state != changes.get("status", [to_state])[0]:
            self._escalate_for(ct, enter(to_state), meta, holder)

    def _after(self, changes: Mapping[str, list[Any]]) -> dict[str, Any]:
        """The case's context as ``changes`` would leave it."""
        ctx = self.context()
        for path, (_o, new) in changes.items():
            head, _, rest = path.partition(".")
            if rest and isinstance(ctx.get(head), dict):
                ctx[head] = {k: v for k, v in {**ctx[head], rest: new}.items() if v is not None}
        return ctx

    def _escalate_for(self, ct: CaseType, trigger: str, meta: Meta, holder: Holder | None = None) -> None:
        people = {"opener": getattr(self, "opened_by", None), "assignee": self.assignee}
        for due in escalations_due(ct, trigger, self.context(), people, self.department, self.escalations, holder):
            self._escalated(to_role=due["to_role"], reason=due["reason"], clock=None, meta=meta,
                            to_staff=due["to_staff"])

    def record_breaches(self, ct: CaseType, now: datetime, meta: Meta, *, at_due: bool = False,
                        holder: Holder | None = None, calendar: BusinessCalendar | None = None) -> list[str]:
        """Record DeadlineBreached + Escalated for each running clock past due (once per clock),
        dated by ``meta`` (or, ``at_due``, for an import: at the due time each clock missed)."""
        breached = []
        for clock in sorted(overdue_clocks(self.clocks, now), key=lambda c: (datetime.fromisoformat(c["due_at"]),
                                                                             c["name"])):
            if at_due:
                due = max(datetime.fromisoformat(clock["due_at"]), datetime.fromisoformat(self.updated_at))
                meta = {**meta, "occurred_at": due.isoformat()}
            plan = plan_breach(ct, self.context(), self.clocks, clock, datetime.fromisoformat(meta["occurred_at"]),
                               calendar)
            self._deadline_breached(clock=clock["name"], due_at=clock["due_at"], meta=meta,
                                    changes=plan.changes or None, clock_changes=plan.clock_changes or None)
            if plan.escalate:
                role = next_role_up(list(ct.escalation_ladder), self.escalations, clock.get("escalate_to"))
                self._escalated(to_role=role, reason=f"{clock['name']} deadline {clock['due_at']} breached",
                                clock=clock["name"], meta=meta,
                                to_staff=holder(role, self.department) if holder else None)
            for trigger in plan.triggers:
                self._escalate_for(ct, trigger, meta, holder)
            breached.append(clock["name"])
        return breached

    def add_link(self, rel: str, case_id: UUID, number: str, meta: Meta) -> None:
        self._link_added(rel=rel, case_id=str(case_id), number=number, meta=meta)

    def record_linked_outcome(
        self, ct: CaseType, rel: str, case_id: UUID, outcome: str, at: datetime,
        calendar: BusinessCalendar, meta: Meta, recorded_by: str | None = None, score: int | None = None,
    ) -> str | None:
        """Record a linked case's outcome; return the follow-up action to take, if any."""
        spec = ct.on_linked_outcome or {}
        changes: dict[str, list[Any]] = {}
        if spec.get("field"):
            old = self.fields.get(spec["field"])
            if old != outcome:
                changes[f"fields.{spec['field']}"] = [old, outcome]
        ctx = self.context()
        clock_changes = plan_clock_changes(ct, self.clocks, [LINKED_OUTCOME], ctx, at, calendar)
        self._linked_outcome(rel=rel, case_id=str(case_id), outcome=outcome, changes=changes,
                             clock_changes=clock_changes, meta=meta, recorded_by=recorded_by, score=score)
        return (spec.get("actions") or {}).get(outcome)

    # ------------------------------------------------------------------ view
    def view(self, ct: CaseType | None, actor: Actor | None) -> dict[str, Any]:
        state = ApprovalState.of(self.approvals)
        return {
            "id": str(self.id), "number": self.number, "type": self.case_type, "status": self.status,
            "version": self.version, "title": self.title, "customer": dict(self.customer),
            "assignee": self.assignee, "department": self.department, "fields": dict(self.fields),
            "counters": dict(self.counters), "opened_at": self.opened_at, "updated_at": self.updated_at,
            "clocks": [clock_view(c) for c in self.clocks.values()],
            "approvals": {"required": list(state.required), "granted": list(state.granted),
                          "missing": state.missing, "sequential": state.sequential},
            "links": [dict(link) for link in self.links],
            "escalations": [dict(e) for e in self.escalations],
            "allowed_actions": self.allowed_actions(ct, actor) if ct and actor else [],
        }


# Events stored before the domain became packages name this module by its old path.
register_moved(__name__)

"""Case types as data: the definitions loaded from ``domain/case_types/*.toml``.

A case type lists its states, the actions (from/to states, roles, fields,
guards, effects), the clocks (SLA deadlines), approval rules, escalations and
follow-ups (cross-case policies). ``build_case_type`` validates one parsed
file and raises ``CaseTypeError`` naming the file and key for anything
malformed; reading the files and the ``CaseTypeRegistry`` of the types in
force are in ``domain.model.registry``.

Shared definitions (``correct_field``, the escalation ladder) live in
``_common.toml`` and are merged into every type; a type may override them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from domain.model.approvals import check_chain
from domain.model.conditions import check_condition
from domain.model.deadlines import DueRule, parse_due
from domain.model.durations import Duration, parse_duration
from domain.model.errors import CaseTypeError
from domain.model.expressions import check_expression
from domain.model.fields import FieldSpec
from domain.model.kpis import KpiSpec, kpi_spec
from domain.model.numbering import DEFAULT_FORMAT, NumberFormatError, check_format
from domain.model.retention import RetentionSpec, retention_spec
from domain.model.schedules import ScheduleSpec, schedules
from domain.model.uniqueness import Requirement, UniqueRule, requirements, unique_rules

BUILTIN_DIR = Path(__file__).parent / "case_types"
OPEN = "@open"
LINKED_OUTCOME = "@linked_outcome"
ALL_OPEN_STATES = "*open"
ANY_STATE = "*"

ACTION_KEYS = {
    "from", "to", "roles", "assignee", "roles_by", "approval", "computes_approvals",
    "to_when_approved", "fields", "sets", "assigns", "assign_actor", "increments",
    "to_at_count", "increment_by", "guards", "conflict_when_taken", "extends", "corrects", "doc",
    "records_on_link", "offers", "restricted_to_offer", "idempotent_for_assignee", "stamps",
    "opener", "computes", "to_when",
}
TYPE_KEYS = {
    "name", "title", "version", "number_prefix", "number_format", "initial_state", "states", "closed_states",
    "open_roles", "department", "sources", "customer", "fields", "actions", "clocks",
    "approvals", "escalations", "follow_ups", "on_linked_outcome", "report_outcome",
    "escalation_ladder", "report_targets", "unique", "requires", "schedules", "corrections", "downgrades",
    "constraints", "kpis", "retention",
}
CLOCK_KEYS = {"when", "duration", "duration_by", "start", "stop", "pause", "resume", "max_total", "escalate_to",
              "doc", "follows", "due", "on_breach"}
BREACH_KEYS = {"to", "escalate"}
# Targets the monthly department report compares its rates with (percent, 0-100).
REPORT_TARGETS = {"handling_rate_pct", "return_visit_rate_pct", "satisfaction_rate_pct"}
GUARD_KINDS = {"field_in", "approvals_complete", "min_ratio", "max_span", "linked_outcome_in", "data_required",
               "in_future"}


@dataclass(frozen=True)
class ActionSpec:
    name: str
    from_states: tuple[str, ...]
    to: str | None
    roles: tuple[str, ...] = ()
    assignee: bool = False
    roles_by: Mapping[str, Any] | None = None
    approval: str | None = None
    computes_approvals: bool = False
    to_when_approved: str | None = None
    fields: Mapping[str, FieldSpec] = field(default_factory=dict)
    sets: Mapping[str, str] = field(default_factory=dict)
    assigns: bool | str = False  # true: the action's ``assignee`` field; a name: that field
    assign_actor: bool = False
    increments: str | None = None
    increment_by: str | None = None
    to_at_count: Mapping[str, Any] | None = None
    guards: tuple[Mapping[str, Any], ...] = ()
    conflict_when_taken: bool = False
    extends: Mapping[str, Any] | None = None
    corrects: bool = False
    doc: str = ""
    # the outcome is the linked case's: take ``action`` on the open case linked as ``link``
    records_on_link: Mapping[str, Any] | None = None
    offers: Mapping[str, Any] | None = None  # {"field", "max"}: offer the case to these staff
    restricted_to_offer: bool = False  # when offered, only those staff may take it
    idempotent_for_assignee: bool = False  # the assignee taking it again: 200, nothing recorded
    stamps: Mapping[str, Any] | None = None  # {"field", ...}: record a computed value (arrive: on_time/late)
    opener: bool = False  # the staff member who opened the case may take it (the requester, the referrer)
    computes: Mapping[str, str] = field(default_factory=dict)  # case path -> CEL expression of its new value
    to_when: tuple[Mapping[str, Any], ...] = ()  # [{when, to}]: the first that holds (over case and input) moves


@dataclass(frozen=True)
class ClockSpec:
    name: str
    duration: Duration
    duration_by: Mapping[str, Any] | None
    start: tuple[str, ...]
    stop: tuple[str, ...]
    pause: tuple[str, ...] = ()
    resume: tuple[str, ...] = ()
    max_total: Duration | None = None
    escalate_to: str | None = None
    when: Mapping[str, Any] | str | None = None
    follows: str | None = None  # the link whose case holds the real clock (breached there)
    due: DueRule | None = None  # due from a field and/or a calendar anchor (domain.model.deadlines)
    duration_expr: str | None = None  # a CEL expression giving the duration text
    on_breach: Mapping[str, Any] = field(default_factory=dict)  # {"to": state, "escalate": bool}

    def duration_for(self, context: Mapping[str, Any]) -> Duration:
        if self.duration_expr:
            from domain.model.expressions import ExpressionFailed, evaluate

            text = evaluate(self.duration_expr, context)
            try:
                return parse_duration(str(text))
            except ValueError:
                raise ExpressionFailed(f"clock {self.name}: {self.duration_expr!r} gave {text!r}, not a duration",
                                       rule=self.duration_expr) from None
        if self.duration_by:
            from domain.model.conditions import lookup

            value = lookup(context, self.duration_by["field"])
            text = self.duration_by["map"].get(value)
            if text is not None:
                return parse_duration(text)
        return self.duration


@dataclass(frozen=True)
class CaseType:
    name: str
    title: str
    version: int
    number_prefix: str
    initial_state: str
    states: tuple[str, ...]
    closed_states: tuple[str, ...]
    open_roles: tuple[str, ...]
    department: str
    customer: Mapping[str, FieldSpec]
    fields: Mapping[str, FieldSpec]
    actions: Mapping[str, ActionSpec]
    clocks: Mapping[str, ClockSpec]
    approvals: tuple[Mapping[str, Any], ...]
    escalations: tuple[Mapping[str, Any], ...]
    follow_ups: tuple[Mapping[str, Any], ...]
    on_linked_outcome: Mapping[str, Any] | None
    report_outcome: Mapping[str, Any] | None
    escalation_ladder: tuple[str, ...]
    sources: str = ""
    report_targets: Mapping[str, float] = field(default_factory=dict)
    number_format: str = DEFAULT_FORMAT
    unique: tuple[UniqueRule, ...] = ()
    requires: tuple[Requirement, ...] = ()
    schedules: tuple[ScheduleSpec, ...] = ()
    # states after which gating values (see ``domain.model.rederive``) may not be corrected
    corrections_locked_in: tuple[str, ...] = ()
    downgrades: tuple[Mapping[str, Any], ...] = ()  # lowering a ranked value needs these roles
    constraints: tuple[Mapping[str, Any], ...] = ()  # must hold after every change
    kpis: KpiSpec = field(default_factory=KpiSpec)  # what the staff KPIs and department report count
    retention: RetentionSpec | None = None  # how long a closed case's personal data is kept (retention.py)
    digest: str = ""  # the content hash of the definition (file and shared definitions): its version on events
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def action(self, name: str) -> ActionSpec | None:
        return self.actions.get(name)

    def is_open_state(self, state: str) -> bool:
        return state not in self.closed_states

    def describe(self) -> dict[str, Any]:
        """The definition as the API shows it (``GET /v1/case-types/{type}``)."""
        return {
            "name": self.name,
            "title": self.title,
            "version": self.version,
            "number_prefix": self.number_prefix,
            "number_format": self.number_format,
            "digest": self.digest,
            "initial_state": self.initial_state,
            "states": list(self.states),
            "closed_states": list(self.closed_states),
            "open_roles": list(self.open_roles),
            "report_targets": dict(self.report_targets),
            "retention": self.retention.describe() if self.retention else None,
            "customer": {k: v.describe() for k, v in self.customer.items()},
            "fields": {k: v.describe() for k, v in self.fields.items()},
            "actions": {
                a.name: {
                    "from": list(a.from_states),
                    "to": a.to,
                    "roles": list(a.roles),
                    "assignee": a.assignee,
                    "roles_by": dict(a.roles_by) if a.roles_by else None,
                    "approval": a.approval,
                    "fields": {k: v.describe() for k, v in a.fields.items()},
                    "doc": a.doc,
                }
                for a in self.actions.values()
            },
            "clocks": {
                c.name: {
                    "duration": str(c.duration),
                    "duration_by": dict(c.duration_by) if c.duration_by else None,
                    "start": list(c.start),
                    "stop": list(c.stop),
                    "pause": list(c.pause),
                    "resume": list(c.resume),
                    "max_total": str(c.max_total) if c.max_total else None,
                    "escalate_to": c.escalate_to,
                }
                for c in self.clocks.values()
            },
        }


def _strs(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise CaseTypeError(f"{where} must be a string or a list of strings")
    return tuple(value)


def _fields(data: Any, where: str) -> dict[str, FieldSpec]:
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise CaseTypeError(f"{where} must be a table of fields")
    return {k: FieldSpec.from_mapping(k, v, f"{where}") for k, v in data.items()}


def _duration(text: Any, where: str) -> Duration:
    try:
        return parse_duration(str(text))
    except ValueError as e:
        raise CaseTypeError(f"{where}: {e}") from None


def _action(name: str, data: Any, states: tuple[str, ...], where: str) -> ActionSpec:
    w = f"{where}: key 'actions.{name}'"
    if not isinstance(data, Mapping):
        raise CaseTypeError(f"{w} must be a table")
    unknown = set(data) - ACTION_KEYS
    if unknown:
        raise CaseTypeError(f"{w}: unknown keys {sorted(unknown)}")
    if "from" not in data:
        raise CaseTypeError(f"{w}: 'from' is required")
    from_states = _strs(data["from"], f"{w}.from")
    for s in from_states:
        if s not in (ALL_OPEN_STATES, ANY_STATE) and s not in states:
            raise CaseTypeError(f"{w}.from: state {s!r} is not in 'states'")
    for key in ("to", "to_when_approved"):
        if key in data and data[key] not in states:
            raise CaseTypeError(f"{w}.{key}: state {data[key]!r} is not in 'states'")
    roles_by = data.get("roles_by")
    if roles_by is not None and (
        not isinstance(roles_by, Mapping) or "field" not in roles_by or "map" not in roles_by
    ):
        raise CaseTypeError(f"{w}.roles_by needs 'field' and 'map'")
    if data.get("approval") not in (None, "grant", "reject"):
        raise CaseTypeError(f"{w}.approval must be 'grant' or 'reject'")
    guards = data.get("guards", [])
    if not isinstance(guards, list):
        raise CaseTypeError(f"{w}.guards must be a list of tables")
    for i, g in enumerate(guards):
        if not isinstance(g, Mapping) or g.get("kind") not in GUARD_KINDS:
            raise CaseTypeError(f"{w}.guards[{i}]: 'kind' must be one of {sorted(GUARD_KINDS)}")
        if "when" in g:
            check_condition(g["when"], f"{w}.guards[{i}]")
        if "max" in g:
            _duration(g["max"], f"{w}.guards[{i}].max")
    fields = _fields(data.get("fields"), f"{w}.fields")
    raw_sets = data.get("sets", [])
    if isinstance(raw_sets, Mapping):
        sets = {str(k): str(v) for k, v in raw_sets.items()}
    else:
        sets = {s: s for s in _strs(raw_sets, f"{w}.sets")}
    for s in sets:
        if s not in fields:
            raise CaseTypeError(f"{w}.sets: {s!r} is not one of the action's fields")
    computes = data.get("computes") or {}
    if not isinstance(computes, Mapping):
        raise CaseTypeError(f"{w}.computes must be a table of field = expression")
    computes = {str(k): check_expression(v, f"{w}.computes.{k}") for k, v in computes.items()}
    to_when = data.get("to_when") or []
    if not isinstance(to_when, list) or not all(isinstance(t, Mapping) and set(t) == {"when", "to"} for t in to_when):
        raise CaseTypeError(f"{w}.to_when: a list of {{ when = condition, to = state }} tables")
    for i, t in enumerate(to_when):
        check_condition(t["when"], f"{w}.to_when[{i}]")
        if t["to"] not in states:
            raise CaseTypeError(f"{w}.to_when[{i}].to: state {t['to']!r} is not in 'states'")
    count = data.get("to_at_count")
    if count is not None and (not isinstance(count, Mapping) or count.get("to") not in states):
        raise CaseTypeError(f"{w}.to_at_count needs 'at' and a valid 'to' state")
    return ActionSpec(
        name=name,
        from_states=from_states,
        to=data.get("to"),
        roles=_strs(data.get("roles", []), f"{w}.roles"),
        assignee=bool(data.get("assignee", False)),
        roles_by=roles_by,
        approval=data.get("approval"),
        computes_approvals=bool(data.get("computes_approvals", False)),
        to_when_approved=data.get("to_when_approved"),
        fields=fields,
        sets=sets,
        assigns=data["assigns"] if isinstance(data.get("assigns"), str) else bool(data.get("assigns", False)),
        assign_actor=bool(data.get("assign_actor", False)),
        increments=data.get("increments"),
        increment_by=data.get("increment_by"),
        to_at_count=count,
        guards=tuple(guards),
        conflict_when_taken=bool(data.get("conflict_when_taken", False)),
        extends=data.get("extends"),
        corrects=bool(data.get("corrects", False)),
        doc=str(data.get("doc", "")),
        records_on_link=data.get("records_on_link"),
        offers=data.get("offers"),
        restricted_to_offer=bool(data.get("restricted_to_offer", False)),
        idempotent_for_assignee=bool(data.get("idempotent_for_assignee", False)),
        stamps=data.get("stamps"),
        opener=bool(data.get("opener", False)),
        computes=computes,
        to_when=tuple(to_when),
    )


def _clock(name: str, data: Any, actions: Mapping[str, Any], where: str,
           specs: Mapping[str, Mapping[str, FieldSpec]] | None = None,
           states: tuple[str, ...] = ()) -> ClockSpec:
    w = f"{where}: key 'clocks.{name}'"
    if not isinstance(data, Mapping):
        raise CaseTypeError(f"{w} must be a table")
    unknown = set(data) - CLOCK_KEYS
    if unknown:
        raise CaseTypeError(f"{w}: unknown keys {sorted(unknown)}")
    if "duration" not in data and "due" not in data:
        raise CaseTypeError(f"{w}: 'duration' or 'due' is required")
    due = parse_due(data["due"], specs or {}, f"{w}.due") if "due" in data else None
    duration, expr = Duration(Decimal(0), "m"), None
    if "duration" in data:
        try:
            duration = parse_duration(str(data["duration"]))
        except ValueError:  # not a duration: a CEL expression that gives one ("... ? '15d' : '20d'")
            expr = check_expression(data["duration"], f"{w}.duration")
    on_breach = data.get("on_breach") or {}
    if not isinstance(on_breach, Mapping) or set(on_breach) - BREACH_KEYS:
        raise CaseTypeError(f"{w}.on_breach: expected a table with some of {sorted(BREACH_KEYS)}")
    if "to" in on_breach and on_breach["to"] not in states:
        raise CaseTypeError(f"{w}.on_breach.to: state {on_breach['to']!r} is not in 'states'")
    by = data.get("duration_by")
    if by is not None:
        if not isinstance(by, Mapping) or "field" not in by or not isinstance(by.get("map"), Mapping):
            raise CaseTypeError(f"{w}.duration_by needs 'field' and a 'map' table")
        for k, v in by["map"].items():
            _duration(v, f"{w}.duration_by.map.{k}")
    triggers: dict[str, tuple[str, ...]] = {}
    for key in ("start", "stop", "pause", "resume"):
        triggers[key] = _strs(data.get(key, []), f"{w}.{key}")
        for t in triggers[key]:
            if not t.startswith("@") and t not in actions:
                raise CaseTypeError(f"{w}.{key}: {t!r} is not an action of this type")
    if not triggers["start"]:
        raise CaseTypeError(f"{w}: 'start' is required")
    return ClockSpec(
        name=name,
        duration=duration,
        due=due,
        duration_expr=expr,
        on_breach=dict(on_breach),
        duration_by=by,
        max_total=_duration(data["max_total"], f"{w}.max_total") if "max_total" in data else None,
        escalate_to=data.get("escalate_to"),
        when=check_condition(data["when"], w) if "when" in data else None,
        follows=data.get("follows"),
        **triggers,
    )


def _table_list(data: Any, where: str) -> tuple[Mapping[str, Any], ...]:
    if data is None:
        return ()
    if not isinstance(data, list) or not all(isinstance(x, Mapping) for x in data):
        raise CaseTypeError(f"{where} must be a list of tables")
    for i, item in enumerate(data):
        if "when" in item:
            check_condition(item["when"], f"{where}[{i}]")
    return tuple(data)


def _report_targets(data: Any, where: str) -> dict[str, float]:
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise CaseTypeError(f"{where} must be a table")
    unknown = set(data) - REPORT_TARGETS
    if unknown:
        raise CaseTypeError(f"{where}: unknown targets {sorted(unknown)} (known: {sorted(REPORT_TARGETS)})")
    out: dict[str, float] = {}
    for name, value in data.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 100:
            raise CaseTypeError(f"{where}.{name} must be a percentage from 0 to 100")
        out[name] = float(value)
    return out


def content_digest(data: Mapping[str, Any], common: Mapping[str, Any]) -> str:
    """A short SHA-256 of a definition as parsed (key order and comments do not matter)."""
    text = json.dumps({"type": data, "common": common}, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _number_format(value: Any, where: str) -> str:
    try:
        return check_format(value)
    except NumberFormatError as e:
        raise CaseTypeError(f"{where}: {e}") from None


def build_case_type(data: Mapping[str, Any], common: Mapping[str, Any], source: str) -> CaseType:
    """Validate a parsed case-type mapping (merged with the common one)."""
    unknown = set(data) - TYPE_KEYS
    if unknown:
        raise CaseTypeError(f"{source}: unknown keys {sorted(unknown)}")
    for key in ("name", "states", "initial_state", "number_prefix", "actions"):
        if key not in data:
            raise CaseTypeError(f"{source}: key '{key}' is required")
    states = _strs(data["states"], f"{source}: key 'states'")
    if data["initial_state"] not in states:
        raise CaseTypeError(f"{source}: key 'initial_state': {data['initial_state']!r} is not in 'states'")
    closed = _strs(data.get("closed_states", []), f"{source}: key 'closed_states'")
    for s in closed:
        if s not in states:
            raise CaseTypeError(f"{source}: key 'closed_states': {s!r} is not in 'states'")
    raw_actions = dict(common.get("actions", {}))
    if not isinstance(data["actions"], Mapping):
        raise CaseTypeError(f"{source}: key 'actions' must be a table")
    raw_actions.update(data["actions"])
    actions = {n: _action(n, a, states, source) for n, a in raw_actions.items()}
    raw_clocks = data.get("clocks", {})
    if not isinstance(raw_clocks, Mapping):
        raise CaseTypeError(f"{source}: key 'clocks' must be a table")
    customer_specs = _fields(data.get("customer"), f"{source}: key 'customer'")
    field_specs = _fields(data.get("fields"), f"{source}: key 'fields'")
    specs = {"fields": field_specs, "customer": customer_specs}
    clocks = {n: _clock(n, c, actions, source, specs, states) for n, c in raw_clocks.items()}
    _check_targets(actions, specs, source)
    approvals = data.get("approvals", {}).get("rules") if isinstance(data.get("approvals"), Mapping) else None
    if "approvals" in data and approvals is None:
        raise CaseTypeError(f"{source}: key 'approvals' needs a 'rules' list")
    rules = _table_list(approvals, f"{source}: key 'approvals.rules'")
    for i, r in enumerate(rules):
        if "chain" not in r:
            raise CaseTypeError(f"{source}: key 'approvals.rules[{i}]': 'chain' is required")
        check_chain(r["chain"], states, f"{source}: key 'approvals.rules[{i}]'")
    _check_ways_out(actions, states, closed, source)
    _check_reachable(actions, clocks, states, closed, data["initial_state"], source)
    corrections = data.get("corrections") or {}
    if not isinstance(corrections, Mapping):
        raise CaseTypeError(f"{source}: key 'corrections' must be a table")
    locked = _strs(corrections.get("locked_in", []), f"{source}: key 'corrections.locked_in'")
    for s in locked:
        if s not in states:
            raise CaseTypeError(f"{source}: key 'corrections.locked_in': {s!r} is not in 'states'")
    downgrades = _table_list(data.get("downgrades"), f"{source}: key 'downgrades'")
    for i, d in enumerate(downgrades):
        if not isinstance(d.get("field"), str) or not isinstance(d.get("order"), list) \
                or not isinstance(d.get("roles"), Mapping):
            raise CaseTypeError(f"{source}: key 'downgrades[{i}]' needs 'field', an 'order' list and a 'roles' table")
    constraints = _table_list(data.get("constraints"), f"{source}: key 'constraints'")
    for i, c in enumerate(constraints):
        if "unless" in c:
            check_condition(c["unless"], f"{source}: key 'constraints[{i}].unless'")
    version = data.get("version", 1)
    if not isinstance(version, int) or version < 1:
        raise CaseTypeError(f"{source}: key 'version' must be a positive integer")
    return CaseType(
        name=str(data["name"]),
        title=str(data.get("title", data["name"])),
        version=version,
        number_prefix=str(data["number_prefix"]),
        initial_state=data["initial_state"],
        states=states,
        closed_states=closed,
        open_roles=_strs(data.get("open_roles", ["agent"]), f"{source}: key 'open_roles'"),
        department=str(data.get("department", "cs")),
        customer=customer_specs,
        fields=field_specs,
        actions=actions,
        clocks=clocks,
        approvals=rules,
        escalations=_table_list(data.get("escalations"), f"{source}: key 'escalations'"),
        follow_ups=_table_list(data.get("follow_ups"), f"{source}: key 'follow_ups'"),
        on_linked_outcome=data.get("on_linked_outcome"),
        report_outcome=data.get("report_outcome"),
        escalation_ladder=_strs(
            data.get("escalation_ladder", common.get("escalation_ladder", [])),
            f"{source}: key 'escalation_ladder'",
        ),
        sources=str(data.get("sources", "")),
        report_targets=_report_targets(data.get("report_targets"), f"{source}: key 'report_targets'"),
        number_format=_number_format(data.get("number_format", DEFAULT_FORMAT), f"{source}: key 'number_format'"),
        unique=unique_rules(data.get("unique"), states, source),
        requires=requirements(data.get("requires"), source),
        schedules=schedules(data.get("schedules"), set(data.get("fields") or {}), source),
        corrections_locked_in=locked,
        downgrades=downgrades,
        constraints=constraints,
        kpis=kpi_spec(data.get("kpis"), common.get("kpis"), states, f"{source}: key 'kpis'"),
        retention=retention_spec(data.get("retention"), f"{source}: [retention]"),
        digest=content_digest(data, common),
        raw=data,
    )


def _check_ways_out(actions: Mapping[str, ActionSpec], states: tuple[str, ...], closed: tuple[str, ...],
                    source: str) -> None:
    """Every non-closed state has an action that leaves it (no dead ends)."""
    for state in states:
        if state in closed:
            continue
        leaving = [
            a for a in actions.values()
            if (state in a.from_states or ANY_STATE in a.from_states or ALL_OPEN_STATES in a.from_states)
            and any(t not in (None, state) for t in (a.to, a.to_when_approved, (a.to_at_count or {}).get("to"),
                                                      *(x["to"] for x in a.to_when)))
        ]
        if not leaving:
            raise CaseTypeError(f"{source}: key 'states': state {state!r} is not closed and no action leaves it")


def _check_targets(actions: Mapping[str, ActionSpec], specs: Mapping[str, Mapping[str, FieldSpec]],
                   source: str) -> None:
    """What an action sets or computes is a declared field of the type (``fields.X`` or ``customer.X``)."""
    for a in actions.values():
        targets = [(f"sets.{n}", t) for n, t in a.sets.items()] + [(f"computes.{t}", t) for t in a.computes]
        for key, target in targets:
            head, _, rest = target.partition(".") if "." in target else ("fields", "", target)
            if head not in specs or rest not in specs[head]:
                raise CaseTypeError(f"{source}: key 'actions.{a.name}.{key}': {target!r} is not a declared field "
                                    f"of the type (declare it under [fields] or [customer])")


def _check_reachable(actions: Mapping[str, ActionSpec], clocks: Mapping[str, ClockSpec], states: tuple[str, ...],
                     closed: tuple[str, ...], initial: str, source: str) -> None:
    """Every state can be reached from the initial one (by actions, or by a breach that moves the case)."""
    reached, todo = {initial}, [initial]
    while todo:
        state = todo.pop()
        for a in actions.values():
            if not (state in a.from_states or ANY_STATE in a.from_states
                    or (ALL_OPEN_STATES in a.from_states and state not in closed)):
                continue
            for t in (a.to, a.to_when_approved, (a.to_at_count or {}).get("to"), *(x["to"] for x in a.to_when)):
                if t and t not in reached:
                    reached.add(t)
                    todo.append(t)
        if state not in closed:
            for c in clocks.values():
                t = c.on_breach.get("to")
                if t and t not in reached:
                    reached.add(t)
                    todo.append(t)
    missing = [s for s in states if s not in reached]
    if missing:
        raise CaseTypeError(f"{source}: key 'states': {missing} cannot be reached from {initial!r} "
                            "(no action or breach leads there)")

"""KPIs as data: what of a case type the staff KPIs and the department report count.

A case type's ``[kpis]`` table (defaults in ``_common.toml``, merged into
every type) names the clocks, actions and fields the staff-performance read
model reads (``projections.kpi``), so a new type reports without Python::

    [kpis]
    first_response_clock = "first_response"      # its stop records a first-response time
    return_visit_clock = "return_visit"          # return visits due / done / on time
    approval_actions = ["approve_resolution"]    # counted as approvals, with their turnaround
    reopen_actions = ["reopen"]
    outcome_fields = ["fields.result"]           # an action setting one records a visit outcome
    outcomes = { satisfied = ["satisfied"], neutral = ["neutral"], unsatisfied = ["unsatisfied"] }
    arrival_field = "fields.arrival"             # technicians' arrivals; on time when "on_time"
    scores_credit_assignee = true                # return-visit scores reported here credit the assignee
    mirror_when_linked = "origin"                # a case opened with this link is a mirror: not counted
    department_report = { handled_states = ["replied", "rejected"],
                          valid = { field = "fields.category", value = "valid" } }  # one line in TOML

``department_report`` makes the type count in the monthly department
report (received, handled, return-visited, satisfied, valid), against the
type's ``report_targets``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from domain.model.errors import CaseTypeError

KPI_KEYS = {"first_response_clock", "return_visit_clock", "approval_actions", "reopen_actions", "outcome_fields",
            "outcomes", "arrival_field", "scores_credit_assignee", "mirror_when_linked", "department_report"}
OUTCOME_KINDS = ("satisfied", "neutral", "unsatisfied")


@dataclass(frozen=True)
class DepartmentReport:
    handled_states: tuple[str, ...]
    valid_field: str | None = None
    valid_value: Any = None


@dataclass(frozen=True)
class KpiSpec:
    first_response_clock: str | None = None
    return_visit_clock: str | None = None
    approval_actions: tuple[str, ...] = ()
    reopen_actions: tuple[str, ...] = ()
    outcome_fields: tuple[str, ...] = ()
    outcomes: Mapping[str, str] = field(default_factory=dict)  # recorded value -> satisfied|neutral|unsatisfied
    arrival_field: str | None = None
    scores_credit_assignee: bool = False
    mirror_when_linked: str | None = None
    department_report: DepartmentReport | None = None

    def outcome(self, value: Any) -> str | None:
        """The outcome kind a recorded value counts as (None: not an outcome)."""
        return self.outcomes.get(str(value)) if value is not None else None


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise CaseTypeError(f"{where} must be a list of names")
    return tuple(value)


def kpi_spec(data: Any, common: Any, states: tuple[str, ...], where: str) -> KpiSpec:
    """The type's ``[kpis]`` over the shared defaults."""
    merged = {**(common if isinstance(common, Mapping) else {}), **(data if isinstance(data, Mapping) else {})}
    if data is not None and not isinstance(data, Mapping):
        raise CaseTypeError(f"{where} must be a table")
    unknown = set(merged) - KPI_KEYS
    if unknown:
        raise CaseTypeError(f"{where}: unknown keys {sorted(unknown)} (known: {sorted(KPI_KEYS)})")
    raw_outcomes = merged.get("outcomes") or {k: [k] for k in OUTCOME_KINDS}
    if not isinstance(raw_outcomes, Mapping) or set(raw_outcomes) - set(OUTCOME_KINDS):
        raise CaseTypeError(f"{where}.outcomes: a table of {list(OUTCOME_KINDS)} = [values]")
    outcomes = {v: kind for kind, values in raw_outcomes.items() for v in _strings(values, f"{where}.outcomes")}
    report = merged.get("department_report")
    department = None
    if report is not None:
        if not isinstance(report, Mapping) or set(report) - {"handled_states", "valid"}:
            raise CaseTypeError(f"{where}.department_report: a table with 'handled_states' and 'valid'")
        handled = _strings(report.get("handled_states", []), f"{where}.department_report.handled_states")
        for s in handled:
            if s not in states:
                raise CaseTypeError(f"{where}.department_report.handled_states: {s!r} is not in 'states'")
        valid = report.get("valid") or {}
        department = DepartmentReport(handled, valid.get("field"), valid.get("value"))
    return KpiSpec(
        first_response_clock=merged.get("first_response_clock"),
        return_visit_clock=merged.get("return_visit_clock"),
        approval_actions=_strings(merged.get("approval_actions", []), f"{where}.approval_actions"),
        reopen_actions=_strings(merged.get("reopen_actions", []), f"{where}.reopen_actions"),
        outcome_fields=_strings(merged.get("outcome_fields", []), f"{where}.outcome_fields"),
        outcomes=outcomes,
        arrival_field=merged.get("arrival_field"),
        scores_credit_assignee=bool(merged.get("scores_credit_assignee", False)),
        mirror_when_linked=merged.get("mirror_when_linked"),
        department_report=department,
    )

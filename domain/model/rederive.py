"""Re-deriving what depends on a case's values, whichever action changed them.

A correction (``correct_field``) or a reclassification (``classify``) is an
action like any other, so it never bypasses a control (CASE-TYPES.md, "Rules
that hold on every path"). When a change touches a value that an approval
rule, a guard, a clock or an escalation reads (a *gating* value), the same
event carries everything re-derived from the new values:

- ``gating_paths``: the values the case type's rules read;
- ``check_locked``: gating values may not be corrected once the case is in
  one of ``corrections.locked_in`` (an order after ``shipped``);
- ``check_downgrades``: lowering a ranked value (a complaint's severity)
  needs the roles ``downgrades`` names for the value it is lowered from;
- ``rederive_approvals``: the approval chain recomputed from the corrected
  values; approvals granted count only if their role is still in the chain;
  an approved case that now lacks approvals goes back to waiting for them;
- ``check_constraints``: the type's ``constraints`` hold after the change
  (a new customer's payment terms; ``subtype`` only for communicative
  complaints); a value the change did not name that breaks a constraint
  with ``clear`` is cleared instead.
Clocks are re-timed by ``domain.clocks.plan_retiming``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from domain.model.actor import Actor
from domain.model.approvals import ApprovalState, compute_chain
from domain.model.casetype import CaseType
from domain.model.conditions import lookup, matches
from domain.model.errors import ActionNotAllowed, InvalidFields, RoleNotAllowed

_PATH = re.compile(r"\b(?:fields|customer)\.[A-Za-z_]\w*")


def paths_of(when: Any) -> set[str]:
    """The dotted paths a condition reads: a table's keys, or the ``fields.x`` / ``customer.x`` of an expression."""
    if isinstance(when, str):
        return set(_PATH.findall(when))
    return set(when or {})


_GATING: dict[int, tuple[CaseType, frozenset[str]]] = {}


def gating_paths(ct: CaseType) -> frozenset[str]:
    """Dotted paths (``fields.amount``, ``customer.is_new``) read by the type's rules (computed once per type)."""
    kept = _GATING.get(id(ct))
    if kept is None or kept[0] is not ct:
        kept = _GATING[id(ct)] = (ct, frozenset(_gating_paths(ct)))
    return kept[1]


def _gating_paths(ct: CaseType) -> set[str]:
    paths: set[str] = set()
    for rule in ct.approvals:
        paths |= paths_of(rule.get("when"))
    for rule in (*ct.escalations, *ct.constraints):
        paths |= paths_of(rule.get("when")) | paths_of(rule.get("unless"))
    for spec in ct.actions.values():
        if spec.roles_by:
            paths.add(spec.roles_by["field"])
        for guard in spec.guards:
            paths |= {guard[k] for k in ("field", "of") if isinstance(guard.get(k), str) and "." in guard[k]}
            paths |= paths_of(guard.get("when"))
    for clock in ct.clocks.values():
        paths |= paths_of(clock.when) | paths_of(clock.duration_expr)
        if clock.duration_by:
            paths.add(clock.duration_by["field"])
        if clock.due is not None and clock.due.source:
            paths.add(clock.due.source)
    return {p for p in paths if p.split(".", 1)[0] in ("fields", "customer")}


def check_locked(ct: CaseType, status: str, changes: Mapping[str, Any], allowed: Callable[[], list[str]]) -> None:
    if status not in ct.corrections_locked_in:
        return
    gating = sorted(set(changes) & gating_paths(ct))
    if gating:
        raise ActionNotAllowed(
            f"correct_field: {', '.join(gating)} may not be corrected once the {ct.name} is {status!r} "
            f"(it gates approvals, guards or clocks)", allowed_actions=allowed())


def check_downgrades(ct: CaseType, changes: Mapping[str, list[Any]], actor: Actor) -> None:
    if actor.is_system or actor.is_importer:
        return
    for rule in ct.downgrades:
        change = changes.get(rule["field"])
        if not change:
            continue
        old, new = change
        order = list(rule["order"])
        if old not in order or new not in order or order.index(new) >= order.index(old):
            continue
        needs = list(rule["roles"].get(old, []))
        if needs and not actor.has_any(needs):
            raise RoleNotAllowed(
                f"lowering {rule['field']} from {old!r} to {new!r} needs one of the roles {needs}; "
                f"you have {list(actor.roles)}", allowed_roles=needs)


def rederive_approvals(ct: CaseType, context: Mapping[str, Any], approvals: Mapping[str, Any],
                       status: str) -> tuple[dict[str, Any] | None, str | None]:
    """The approval state after a change of gating values, and the state the case
    moves to (None: unchanged), for a case whose chain was computed already."""
    if "rule" not in approvals:  # never submitted: the chain is computed at submit
        return None, None
    chain = compute_chain(ct, context)
    granted = [g for g in approvals.get("granted", []) if g["role"] in chain["required"]]
    new = {**chain, "granted": granted}
    if {k: new.get(k) for k in ("required", "sequential", "granted")} == \
            {k: approvals.get(k) for k in ("required", "sequential", "granted")}:
        return None, None
    submit = next((a for a in ct.actions.values() if a.computes_approvals), None)
    to = None
    if submit is not None and submit.to and submit.to_when_approved:
        complete = ApprovalState.of(new).complete
        if status == submit.to_when_approved and not complete:
            to = submit.to
        elif status == submit.to and complete:
            to = submit.to_when_approved
    return new, to


def check_constraints(ct: CaseType, context: Mapping[str, Any], named: set[str],
                      clear: Callable[[str], None], triggers: set[str] | None = None) -> None:
    """Refuse (422) a case whose values break one of the type's constraints (those whose ``on``
    names one of ``triggers`` — ``@open``, the action — or, without ``on``, after every change)."""
    for rule in ct.constraints:
        if "on" in rule and not set(rule["on"]) & (triggers or set()):
            continue
        if not matches(rule.get("when"), context):
            continue
        if "unless" in rule and matches(rule["unless"], context):
            continue
        target = rule.get("clear")
        if target and target not in named and lookup(context, target) is not None:
            clear(target)
            continue
        field = rule.get("field") or next(iter(rule.get("when") or {"value": None}))
        raise InvalidFields(rule.get("message") or f"{field} breaks a rule of the {ct.name}",
                            errors=[{"field": field.split(".", 1)[-1] if field.startswith("fields.") else field,
                                     "problem": rule.get("message", "not allowed")}])

"""Guards: named, parameterised preconditions of actions in case-type files.

Kinds (see ``GUARD_KINDS`` in ``casetype``); every guard with a ``when``
applies only while it holds — over the case, or for ``data_required`` over
the action's data:

- ``field_in``: a case value (dotted path) must be one of ``values``;
- ``linked_outcome_in``: like ``field_in``, but only when the case has a link
  of relation ``link`` (a return visit that was not sampled does not block);
- ``approvals_complete``: every required approval is granted;
- ``min_ratio``: ``field`` >= ``of`` × ``ratio``;
- ``max_span``: the action's ``end`` - ``start`` is positive and at most ``max``;
- ``data_required``: the action's ``field`` is given (a neutral return visit
  needs an ``improvement`` note): 422 invalid fields;
- ``in_future``: the action's time ``field`` is after the moment of the action.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from domain.model.approvals import ApprovalState
from domain.model.conditions import lookup, matches
from domain.model.durations import parse_duration
from domain.model.errors import ApprovalsMissing, GuardFailed, InvalidFields
from domain.model.moments import parse_time


def check_guards(
    guards: tuple[Mapping[str, Any], ...],
    context: Mapping[str, Any],
    data: Mapping[str, Any],
    action: str,
    at: datetime | None = None,
) -> None:
    for guard in guards:
        kind = guard["kind"]
        message = guard.get("message")
        # a guard applies only when its condition holds (a bank-card refund's signature): over the
        # case, except data_required's, which is over the action's data (a neutral return visit's note)
        if "when" in guard and not matches(guard["when"], data if kind == "data_required" else context):
            continue
        if kind == "approvals_complete":
            state = ApprovalState.of(context.get("approvals") or {})
            if not state.complete:
                raise ApprovalsMissing(
                    f"{action} needs approvals that are missing: {state.missing}",
                    missing_approvals=state.missing,
                )
        elif kind == "field_in":
            value = lookup(context, guard["field"])
            if value not in guard["values"]:
                raise GuardFailed(
                    message or f"{action} needs {guard['field']} in {guard['values']}, it is {value!r}"
                )
        elif kind == "linked_outcome_in":
            if any(link["rel"] == guard["link"] for link in context.get("links", [])):
                value = lookup(context, "fields." + guard["field"])
                if value not in guard["values"]:
                    raise GuardFailed(
                        message or f"{action} needs {guard['field']} in {guard['values']}, it is {value!r}"
                    )
        elif kind == "min_ratio":
            have = Decimal(str(lookup(context, guard["field"]) or 0))
            base = Decimal(str(lookup(context, guard["of"]) or 0))
            need = (base * Decimal(str(guard["ratio"]))).quantize(Decimal("0.01"))
            if have < need:
                raise GuardFailed(message or f"{action} needs {guard['field']} >= {need}, it is {have}")
        elif kind == "data_required":
            if data.get(guard["field"]) in (None, ""):
                text = message or f"{action} needs {guard['field']} here"
                raise InvalidFields(text, errors=[{"field": guard["field"], "problem": text}])
        elif kind == "in_future":
            value = data.get(guard["field"])
            if at is not None and value is not None and not parse_time(value) > at:
                raise GuardFailed(message or f"{guard['field']} must be in the future")
        elif kind == "max_span":
            start, end = parse_time(data[guard["start"]]), parse_time(data[guard["end"]])
            limit = parse_duration(guard["max"]).to_timedelta()
            if not start < end or end - start > limit:
                raise GuardFailed(
                    message or f"{guard['end']} must be after {guard['start']} and at most {guard['max']} later"
                )


CONTEXT_ONLY = {"field_in", "linked_outcome_in", "approvals_complete", "min_ratio"}


def guards_hold(guards: tuple[Mapping[str, Any], ...], context: Mapping[str, Any]) -> bool:
    """Whether the guards that depend only on the case (not on action fields) hold."""
    try:
        check_guards(tuple(g for g in guards if g["kind"] in CONTEXT_ONLY), context, {}, "")
    except (GuardFailed, ApprovalsMissing):
        return False
    return True

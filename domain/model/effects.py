"""What an action's declarative effects compute, apart from the case itself.

- ``arrival``: a ``stamps`` field (a technician's arrival: ``on_time``,
  ``in_window`` or ``late`` against the appointment window);
- ``computed_value``: a ``computes`` expression's value, checked against its
  field's spec;
- ``plan_correction``: ``correct_field``'s new value, coerced to the field's
  type (fields set by actions are not correctable);
- ``plan_extend``: ``extends``, a clock's deadline moved within its maximum.

``domain.model.case`` records what they return; none of them changes a case.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from domain.model.calendar import BusinessCalendar
from domain.model.casetype import ActionSpec, CaseType
from domain.model.clocks import plan_extension
from domain.model.conditions import lookup
from domain.model.durations import Duration, parse_duration
from domain.model.errors import CaseTypeError, GuardFailed, InvalidFields
from domain.model.expressions import ExpressionFailed, computed
from domain.model.moments import parse_time


def arrival(context: Mapping[str, Any], stamp: Mapping[str, Any], at: datetime) -> str | None:
    """``on_time`` (at least ``early`` before the window starts), ``late`` (after it
    ends) or ``in_window``; None without a window."""
    start, end = lookup(context, stamp["start"]), lookup(context, stamp["end"])
    if not start or not end:
        return None
    early = parse_duration(str(stamp.get("early", "0m"))).to_timedelta()
    if at <= parse_time(start) - early:
        return "on_time"
    return "late" if at > parse_time(end) else "in_window"


def computed_value(ct: CaseType, path: str, expression: str, scope: Mapping[str, Any]) -> Any:
    """The value an action's ``computes`` gives ``path``, checked against the field's spec."""
    value = computed(expression, scope)
    head, _, name = path.partition(".")
    spec = {"fields": ct.fields, "customer": ct.customer}[head][name]
    try:
        return spec.coerce(value)
    except (ValueError, CaseTypeError) as e:
        raise ExpressionFailed(f"{path} = {expression!r} gave {value!r}, which {e}", rule=expression) from None


def plan_correction(ct: CaseType, values: dict[str, Any], change: Callable[[str, Any], None]) -> None:
    """``correct_field``: the corrected value of ``values["field"]``, coerced to its type;
    a field an action sets (``set_by_action``) is not correctable."""
    path = values["field"]
    head, _, rest = path.partition(".")
    if not rest and path in ct.fields:
        head, rest = "fields", path
    specs = {"fields": ct.fields, "customer": ct.customer}.get(head)
    if path == "title":
        change("title", values["value"])
        return
    if specs is None or rest not in specs or specs[rest].set_by_action:
        allowed = ["title"] + [f"fields.{k}" for k, v in ct.fields.items() if not v.set_by_action] + [
            f"customer.{k}" for k, v in ct.customer.items() if not v.set_by_action]
        raise InvalidFields(f"correct_field: cannot correct {path!r}; correctable: {allowed}",
                            errors=[{"field": "field", "problem": "not a correctable field"}])
    raw: Any = values["value"]
    ftype = specs[rest].type
    try:
        if ftype == "int":
            raw = int(raw)
        elif ftype == "bool":
            raw = {"true": True, "false": False}[raw.strip().lower()]
        new = specs[rest].coerce(raw)
    except (ValueError, KeyError) as e:
        raise InvalidFields(f"correct_field: value for {path!r} {e}",
                            errors=[{"field": "value", "problem": str(e)}]) from None
    change(f"{head}.{rest}", new)


def plan_extend(clocks: Mapping[str, Any], ct: CaseType, spec: ActionSpec, values: dict[str, Any],
                calendar: BusinessCalendar) -> dict[str, Any]:
    """``extends``: the clock change that moves a running or paused clock's deadline by the
    action's amount, within the clock's ``max_total``."""
    ext = spec.extends or {}
    name = ext["clock"]
    clock = clocks.get(name)
    if clock is None or clock["state"] not in ("running", "paused"):
        raise GuardFailed(f"{spec.name}: the {name} clock is not running")
    by = Duration(amount=Decimal(str(values[ext["field"]])), unit=ext.get("unit", "wd"))
    try:
        return plan_extension(clock, by, ct.clocks[name].max_total, calendar)
    except ValueError as e:
        raise GuardFailed(f"{spec.name}: {e}") from None

"""Conditions (``when = {...}`` or ``when = "CEL expression"``) used by approval
rules, escalations, clocks, guards and follow-ups in case-type files.

A text is a Common Expression Language expression (``domain.model.expressions``).

A condition maps a dotted path (``amount``, ``customer.is_new``) to a test:
either a plain value / list (equality / membership) or a table with one or
more operators ``eq``, ``ne``, ``in``, ``not_in``, ``gt``, ``gte``, ``lt``,
``lte``, ``present``. Numbers compare as ``Decimal``, so money boundaries are
exact. All tests must hold.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from domain.model.errors import CaseTypeError
from domain.model.expressions import check_expression, holds

OPERATORS = {"eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "present"}


def check_condition(when: Any, where: str) -> dict[str, Any] | str:
    """Validate a condition (a table, or an expression) from a case-type file."""
    if isinstance(when, str):
        return check_expression(when, f"{where}: 'when'")
    if not isinstance(when, Mapping):
        raise CaseTypeError(f"{where}: 'when' must be a table or an expression")
    for path, test in when.items():
        if isinstance(test, Mapping):
            bad = set(test) - OPERATORS
            if bad or not test:
                raise CaseTypeError(
                    f"{where}: 'when.{path}': unknown operators {sorted(bad)}; allowed {sorted(OPERATORS)}"
                )
            for op in ("gt", "gte", "lt", "lte"):
                if op in test:
                    try:
                        Decimal(str(test[op]))
                    except InvalidOperation:
                        raise CaseTypeError(f"{where}: 'when.{path}.{op}' is not a number") from None
    return dict(when)


def lookup(context: Mapping[str, Any], path: str) -> Any:
    value: Any = context
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def _num(value: Any) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _test(value: Any, test: Any) -> bool:
    if not isinstance(test, Mapping):
        return value in test if isinstance(test, list) else value == test
    for op, arg in test.items():
        if op == "eq" and value != arg:
            return False
        if op == "ne" and value == arg:
            return False
        if op == "in" and value not in arg:
            return False
        if op == "not_in" and value in arg:
            return False
        if op == "present" and (value is not None) != bool(arg):
            return False
        if op in ("gt", "gte", "lt", "lte"):
            n = _num(value)
            if n is None:
                return False
            bound = Decimal(str(arg))
            ok = {"gt": n > bound, "gte": n >= bound, "lt": n < bound, "lte": n <= bound}[op]
            if not ok:
                return False
    return True


def matches(when: Mapping[str, Any] | str | None, context: Mapping[str, Any]) -> bool:
    """True when ``when`` holds for ``context``: every test of a table, or the expression."""
    if not when:
        return True
    if isinstance(when, str):
        return holds(when, context)
    return all(_test(lookup(context, path), test) for path, test in when.items())

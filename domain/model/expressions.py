"""Expressions in case-type files: Common Expression Language (CEL), sandboxed, money exact.

Wherever a file takes a condition (``when`` of an approval rule, an
escalation, a clock, a guard, a follow-up), it may give a CEL expression
instead of a table::

    when = "customer.is_new && fen(fields.amount) >= fen('1500.00')"
    when = "fields.severity in ['major', 'crisis']"

CEL (the language Kubernetes and Envoy use for such rules) cannot loop,
read files or call out: an expression only sees the case's ``fields``,
``customer``, ``counters``, ``status``, ``type``, ``assignee``,
``approvals`` and ``links``. CEL has no decimal type, so money stays exact
through three functions: ``fen(x)`` (a decimal value or text as a whole
number of fen, exactly), ``yuan(n)`` (fen back to the decimal text
``"1234.50"``) and ``share(x, "0.30")`` (a share of an amount in fen,
rounded half to even). ``has(fields.x)`` tests for an optional field.

Expressions are compiled when the file is loaded (a syntax error names the
file and key) and their results must be true or false. An expression that
fails while it is evaluated (a missing field without ``has``, a type
mismatch) refuses the command with a 422 instead of guessing: a rule that
cannot be read never silently lets a case through.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

import cel

from domain.model.errors import CaseTypeError, DomainError

MAX_LENGTH = 2000
FEN = Decimal("0.01")


class ExpressionFailed(DomainError):
    status = 422
    kind = "rule-failed"
    title = "A rule of the case type could not be evaluated"


def _decimal(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise ValueError("a money value, not true/false")
    try:
        d = Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"not a decimal number: {value!r}") from None
    if not d.is_finite():
        raise ValueError("not a finite number")
    return d


def fen(value: Any) -> int:
    """A decimal amount (text or number) as whole fen, exactly."""
    return int((_decimal(value) * 100).to_integral_value(rounding=ROUND_HALF_EVEN))


def yuan(amount_fen: Any) -> str:
    """Whole fen as the decimal text of yuan (``123450`` -> ``"1234.50"``)."""
    return str((Decimal(int(amount_fen)) / 100).quantize(FEN))


def share(value: Any, ratio: Any) -> int:
    """``ratio`` of an amount, in fen, rounded half to even (``share("1000.00", "0.30")`` = 30000)."""
    return int((_decimal(value) * _decimal(ratio) * 100).to_integral_value(rounding=ROUND_HALF_EVEN))


FUNCTIONS = (("fen", fen), ("yuan", yuan), ("share", share))


@lru_cache(maxsize=4096)
def compile_expression(source: str) -> Any:
    """The compiled program of ``source`` (``ValueError`` with CEL's message when it does not parse)."""
    if not isinstance(source, str) or not source.strip() or len(source) > MAX_LENGTH:
        raise ValueError(f"an expression is a text of 1 to {MAX_LENGTH} characters")
    return cel.compile(source)


def check_expression(source: Any, where: str) -> str:
    """Validate an expression from a case-type file (at load time)."""
    try:
        compile_expression(source)
    except ValueError as e:
        first = str(e).strip().splitlines()
        raise CaseTypeError(f"{where}: not a valid expression: {first[1] if len(first) > 1 else first[0]}") from None
    return str(source)


def plain(value: Any) -> Any:
    """Case data as CEL values: Decimals become their text, tuples lists, None stays null."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    return value


def evaluate(source: str, context: Mapping[str, Any]) -> Any:
    """The value of an expression over a case's context; ``ExpressionFailed`` if it cannot be evaluated."""
    program = compile_expression(source)
    variables = cel.Context()  # one per evaluation: evaluations run in many threads at once
    for name, function in FUNCTIONS:
        variables.add_function(name, function)
    try:
        for key, value in context.items():
            variables.add_variable(key, plain(value))
        return program.execute(variables)
    except Exception as e:  # noqa: BLE001 - CEL raises plain Python errors for missing keys, types
        raise ExpressionFailed(f"the rule {source!r} could not be evaluated: {type(e).__name__}: {e}",
                               rule=source) from None


def holds(source: str, context: Mapping[str, Any]) -> bool:
    """Evaluate a condition expression over a case's context; ``ExpressionFailed`` if it cannot be."""
    result = evaluate(source, context)
    if not isinstance(result, bool):
        raise ExpressionFailed(f"the rule {source!r} gave {result!r}, not true or false", rule=source)
    return result


def computed(source: str, context: Mapping[str, Any]) -> Any:
    """A value an action computes (text, number, true/false); ``ExpressionFailed`` for anything else."""
    result = evaluate(source, context)
    if isinstance(result, (str, bool)) or (isinstance(result, int)):
        return result
    if isinstance(result, float) and result.is_integer():
        return int(result)
    raise ExpressionFailed(f"the expression {source!r} gave {result!r}; a computed field is text, a whole number "
                           "or true/false (money: yuan(...))", rule=source)

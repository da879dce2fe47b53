"""Retention rules of a case type: how long a closed case's personal data is kept (issue 21).

A case-type file may say::

    [retention]
    erase_customer_after = "3y"    # after the case closed: N y (365 days each) or N d

The policy pass (``projections.sla.retention_pass``: the workers' SLA thread and
``casetrail sla check``) erases the data subject of a closed case whose period
has passed, when every other case of that subject is closed and past its own
type's period too (a subject with an open case, or with a case of a type
without a rule, is kept). Each erasure is an ``Erased`` event
(``domain.erasing``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from domain.model.errors import CaseTypeError

RETENTION_KEYS = {"erase_customer_after", "doc"}
_PERIOD = re.compile(r"^([1-9]\d{0,3})([yd])$")


@dataclass(frozen=True)
class RetentionSpec:
    erase_customer_after: str  # as written ("3y")
    period: timedelta

    def describe(self) -> dict[str, Any]:
        return {"erase_customer_after": self.erase_customer_after}


def retention_spec(data: Any, where: str) -> RetentionSpec | None:
    if data is None:
        return None
    if not isinstance(data, dict):
        raise CaseTypeError(f"{where} must be a table")
    unknown = set(data) - RETENTION_KEYS
    if unknown:
        raise CaseTypeError(f"{where}: unknown keys {sorted(unknown)}")
    text = data.get("erase_customer_after")
    match = _PERIOD.match(text) if isinstance(text, str) else None
    if match is None:
        raise CaseTypeError(f"{where}: 'erase_customer_after' must be like \"3y\" or \"90d\", got {text!r}")
    amount, unit = int(match.group(1)), match.group(2)
    return RetentionSpec(str(text), timedelta(days=amount * (365 if unit == "y" else 1)))

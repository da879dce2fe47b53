"""Fast copies of aggregates whose state is plain data.

The library's aggregate cache hands out a ``deepcopy`` of the cached
aggregate on every load, and the application keeps copies of committed
cases for commands (``CaseTrail``). Our aggregates hold only plain data
(dicts, lists, strings, numbers, ``None``, UUIDs, datetimes, decimals), so a
copy that rebuilds just the dicts and lists is several times faster than
``copy.deepcopy``'s generic machinery. Anything else falls back to
``deepcopy``, so the result is always a deep copy.
"""

from __future__ import annotations

import copy
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

_IMMUTABLE = frozenset((str, int, float, bool, type(None), bytes, UUID, datetime, date, time, timedelta,
                        Decimal))


def plain_copy(value: Any) -> Any:
    """A deep copy of ``value``, quick for dicts and lists of immutable values."""
    kind = type(value)
    if kind is dict:
        return {k: plain_copy(v) for k, v in value.items()}
    if kind is list:
        return [plain_copy(v) for v in value]
    if kind in _IMMUTABLE:
        return value
    if kind is tuple:
        return tuple(plain_copy(v) for v in value)
    return copy.deepcopy(value)


class PlainCopy:
    """Mixin for aggregates: ``copy.deepcopy(aggregate)`` uses ``plain_copy``."""

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        new = object.__new__(type(self))
        new.__dict__.update({k: plain_copy(v) for k, v in self.__dict__.items()})
        return new

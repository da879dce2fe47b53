"""Case numbers: a serial per case type and period, written by the type's ``number_format``.

The default format is ``{prefix}-{YYYY}{MM}-{seq:4}`` (``TS-202612-0001``);
a case-type file may set another from the tokens ``{prefix}``, ``{YYYY}``,
``{YY}``, ``{MM}``, ``{DD}`` and one ``{seq:N}`` (the serial, N digits),
e.g. ``{prefix}-{YY}{MM}-{seq:3}`` (003 §4) or ``A{YY}{MM}{DD}{seq:3}``
(002 A15). The serial restarts with each day, month or year, whichever is
the finest date token (never, with none). Dates are local to the business
calendar's time zone.

Each period's series is an aggregate whose version *is* the counter:
opening a case appends ``Allocated`` to the series in the same transaction
as the case, so optimistic concurrency makes every number unique without
gaps (a conflicting open retries with the next number).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from eventsourcing.domain import Aggregate, event

from domain.model.actor import stable_id
from domain.model.copying import PlainCopy
from domain.model.topics import register_moved

DEFAULT_FORMAT = "{prefix}-{YYYY}{MM}-{seq:4}"
TOKEN = re.compile(r"\{(prefix|YYYY|YY|MM|DD|seq(?::([1-9]))?)\}")


class NumberFormatError(ValueError):
    pass


def check_format(fmt: str) -> str:
    """``fmt`` if it is a valid number format, else ``NumberFormatError`` saying why."""
    if not isinstance(fmt, str) or not fmt or len(fmt) > 64:
        raise NumberFormatError("must be a text of at most 64 characters")
    unknown = [t for t in re.findall(r"\{[^}]*\}", fmt) if not TOKEN.fullmatch(t)]
    if unknown:
        raise NumberFormatError(f"unknown tokens {unknown}; known: {{prefix}} {{YYYY}} {{YY}} {{MM}} {{DD}} {{seq:N}}")
    if len(re.findall(r"\{seq(?::[1-9])?\}", fmt)) != 1:
        raise NumberFormatError("needs exactly one {seq} or {seq:N} (the serial)")
    rest = TOKEN.sub("", fmt)
    if not all(c.isalnum() or c in "-_/." for c in rest):
        raise NumberFormatError("between the tokens only letters, digits and - _ / . are allowed")
    return fmt


def _dates(fmt: str, prefix: str, at: datetime, timezone: str) -> str:
    local = at.astimezone(ZoneInfo(timezone))
    values = {"prefix": prefix, "YYYY": f"{local:%Y}", "YY": f"{local:%y}", "MM": f"{local:%m}", "DD": f"{local:%d}"}
    return TOKEN.sub(lambda m: values.get(m.group(1), m.group(0)), fmt)


def series_key(prefix: str, at: datetime, timezone: str, fmt: str = DEFAULT_FORMAT) -> str:
    """The series a number at ``at`` is drawn from: the format with its date tokens filled and
    the serial left out (``TS-202612`` for the default format)."""
    filled = _dates(fmt, prefix, at, timezone)
    return re.sub(r"\{seq(?::[1-9])?\}", "", filled).strip("-_/.") or prefix


def render_number(fmt: str, prefix: str, at: datetime, timezone: str, serial: int) -> str:
    filled = _dates(fmt, prefix, at, timezone)
    return re.sub(r"\{seq(?::([1-9]))?\}", lambda m: f"{serial:0{m.group(1) or 1}d}", filled)


class NumberSeries(PlainCopy, Aggregate):
    """One month's serial for one case-type prefix."""

    @staticmethod
    def create_id(key: str) -> UUID:
        return stable_id("series", key)

    @event("Started")
    def __init__(self, key: str, meta: dict[str, Any]) -> None:
        self.key = key
        self.last = 0
        self.head_hash: str | None = None

    @event("Allocated")
    def _allocated(self, number: str, serial: int, meta: dict[str, Any]) -> None:
        self.last = serial

    def allocate(self, meta: dict[str, Any], render: Callable[[int], str] | None = None) -> str:
        """The next number: ``render(serial)``, by default ``KEY-NNNN``."""
        serial = self.last + 1
        number = render(serial) if render is not None else f"{self.key}-{serial:04d}"
        self._allocated(number=number, serial=serial, meta=meta)
        return number

    def describe(self) -> dict[str, Any]:
        return {"key": self.key, "last": self.last}


# Events stored before the domain became packages name this module by its old path.
register_moved(__name__)

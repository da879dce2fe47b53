"""Durations as written in case-type files: "5m", "2h", "3d", "1wd", "2.5wh".

This module owns the duration notation and what a duration means for a due
time. Wall-clock units (``m`` minutes, ``h`` hours, ``d`` days) are elapsed
time; working units (``wh`` working hours, ``wd`` working days) are counted
on a ``BusinessCalendar`` (one working day = the calendar's ``day_length``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

from domain.model.calendar import BusinessCalendar

__all__ = ["Duration", "UNITS", "WALL_UNITS", "WORKING_UNITS", "parse_duration", "wall_span"]

UNITS: dict[str, str] = {
    "m": "minutes",
    "h": "hours",
    "d": "days (wall clock)",
    "wh": "working hours",
    "wd": "working days",
}
WALL_UNITS = frozenset({"m", "h", "d"})
WORKING_UNITS = frozenset({"wh", "wd"})
_MICROS = {  # microseconds per unit, for the units with a fixed length
    "m": 60_000_000,
    "h": 3_600_000_000,
    "d": 86_400_000_000,
    "wh": 3_600_000_000,
}
_WALL_ORDER = ("m", "h", "d")  # finest first: mixed sums are expressed in the finer unit
_PATTERN = re.compile(r"(\d+(?:\.\d+)?)(wh|wd|m|h|d)", re.ASCII)
_ONE_MICRO = timedelta(microseconds=1)
_ALLOWED = ", ".join(f"{unit} ({name})" for unit, name in UNITS.items())


def _micros_of(amount: Decimal, per_unit: int) -> int:
    return int((amount * per_unit).to_integral_value(rounding=ROUND_HALF_EVEN))


def _timedelta(micros: int, text: str) -> timedelta:
    try:
        return timedelta(microseconds=micros)
    except OverflowError:
        raise ValueError(f"duration {text} is too long") from None


@dataclass(frozen=True)
class Duration:
    """An amount of time in one unit: ``m``, ``h``, ``d``, ``wh`` or ``wd``."""

    amount: Decimal
    unit: str

    def __post_init__(self) -> None:
        if self.unit not in UNITS:
            raise ValueError(f"unknown duration unit {self.unit!r}; allowed units: {_ALLOWED}")
        amount = self.amount
        if isinstance(amount, bool) or not isinstance(amount, (int, Decimal)):
            raise TypeError(f"duration amount must be a Decimal, got {type(amount).__name__}")
        amount = Decimal(amount)
        if not amount.is_finite() or amount < 0:
            raise ValueError(f"duration amount must be a finite non-negative number, got {amount}")
        object.__setattr__(self, "amount", amount)
        if self.unit in _MICROS:  # reject amounts no timedelta can hold
            _timedelta(_micros_of(amount, _MICROS[self.unit]), str(self))

    @property
    def is_working(self) -> bool:
        """True for working units (``wh``, ``wd``), counted on a business calendar."""
        return self.unit in WORKING_UNITS

    def __str__(self) -> str:
        amount = self.amount.normalize()
        text = format(amount, "f")
        return f"{text}{self.unit}"

    def to_timedelta(self) -> timedelta:
        """Elapsed time of a wall-clock duration (``m``, ``h``, ``d``)."""
        if self.is_working:
            raise ValueError(
                f"duration {self} is working time; use to_working_time(calendar) or due()"
            )
        return _timedelta(_micros_of(self.amount, _MICROS[self.unit]), str(self))

    def to_working_time(self, calendar: BusinessCalendar) -> timedelta:
        """Working time of a working duration (``1wd`` = ``calendar.day_length``)."""
        if not self.is_working:
            raise ValueError(f"duration {self} is wall-clock time; use to_timedelta()")
        if self.unit == "wd":
            return calendar.working_days(self.amount)
        return _timedelta(_micros_of(self.amount, _MICROS["wh"]), str(self))

    def due(self, start: datetime, calendar: BusinessCalendar) -> datetime:
        """When this duration, started at ``start``, runs out.

        Wall-clock units add elapsed time; working units count only working
        time on ``calendar``. The result is in the calendar's time zone.
        """
        if not isinstance(start, datetime):
            raise TypeError(f"start must be a datetime, got {type(start).__name__}")
        if start.tzinfo is None or start.utcoffset() is None:
            raise ValueError(f"start must be timezone-aware, got naive {start.isoformat()}")
        if self.is_working:
            return calendar.add_working_time(start, self.to_working_time(calendar))
        elapsed = start.astimezone(UTC) + self.to_timedelta()
        return elapsed.astimezone(calendar.zone)

    def plus(self, other: Duration, calendar: BusinessCalendar | None = None) -> Duration:
        """The sum of two durations of the same kind (wall + wall, working + working).

        Same units add directly. Mixed wall units are expressed in the finer
        unit (``1d`` + ``2h`` = ``26h``). Mixing ``wd`` and ``wh`` needs the
        calendar's day length and gives working hours.
        """
        if not isinstance(other, Duration):
            raise TypeError(f"can only add a Duration, got {type(other).__name__}")
        if self.is_working != other.is_working:
            raise ValueError(f"cannot add wall-clock and working durations: {self} + {other}")
        if self.unit == other.unit:
            return Duration(self.amount + other.amount, self.unit)
        if not self.is_working:
            unit = min(self.unit, other.unit, key=_WALL_ORDER.index)
            per = _MICROS[unit]
            amount = (self.amount * _MICROS[self.unit] + other.amount * _MICROS[other.unit]) / per
            return Duration(amount, unit)
        if calendar is None:
            raise ValueError(f"adding {self} + {other} needs a calendar for the working-day length")
        day_hours = Decimal(calendar.day_length // _ONE_MICRO) / _MICROS["wh"]
        wd, wh = (self, other) if self.unit == "wd" else (other, self)
        return Duration(wd.amount * day_hours + wh.amount, "wh")


def parse_duration(text: str) -> Duration:
    """Parse "5m", "2h", "24h", "3d", "1wd", "2.5wh"; anything else is a ValueError."""
    match = _PATTERN.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(
            f"invalid duration {text!r}: expected a number followed by a unit, "
            f'e.g. "5m", "2h", "1wd", "2.5wh"; allowed units: {_ALLOWED}'
        )
    number, unit = match.groups()
    try:
        amount = Decimal(number)
    except InvalidOperation:  # pragma: no cover - the pattern admits only digits
        raise ValueError(f"invalid duration {text!r}: bad number {number!r}") from None
    return Duration(amount, unit)


def wall_span(text: str) -> timedelta | None:
    """A positive wall-clock span written in minutes, hours or days (``30m``, ``12h``, ``90d``), or
    ``never`` (None); ``ValueError`` for anything else (token lifetimes, retention windows)."""
    value = text.strip()
    if value.lower() == "never":
        return None
    try:
        duration = parse_duration(value)
        if duration.unit not in WALL_UNITS:
            raise ValueError(value)
        span = duration.to_timedelta()
    except (ValueError, OverflowError):
        raise ValueError(f"{value[:40]!r}: give minutes, hours or days (30m, 12h, 7d) or never") from None
    if span <= timedelta(0):
        raise ValueError(f"{value[:40]!r}: must be more than 0")
    return span

"""The business calendar: working days, working hours and working-time arithmetic.

This module owns the answer to "when is N working days / hours from now?" and
"how much working time lies between two instants?". A calendar is an immutable
value (``BusinessCalendar``): a time zone, a work week (ISO weekday numbers),
daily working hours, holidays (never working) and make-up working days
(调休: working even if their weekday is not in the work week).

Working time is measured on the local wall clock of the calendar's time zone,
inside the working hours of working days: one working day is exactly
``day_length`` of working time. Results are aware datetimes in the calendar's
time zone. (Only working hours that straddle a daylight-saving shift, which
office hours never do, would see the local clock jump inside a working day.)

Operators supply a TOML file (``CASETRAIL_CALENDAR=path``); without one the
default calendar is Asia/Shanghai, Mon–Fri, 09:00–18:00, no holidays.

The only I/O here is reading that calendar file.
"""

from __future__ import annotations

import bisect
import os
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "BusinessCalendar",
    "CalendarError",
    "CALENDAR_ENV_VAR",
    "load_calendar",
]

CALENDAR_ENV_VAR = "CASETRAIL_CALENDAR"
_KEYS = ("timezone", "workweek", "hours", "holidays", "workdays")
# Give up looking for a working day after this many consecutive days off.
_SEARCH_LIMIT_DAYS = 3 * 366
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
_TIME_RE = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2}))?")
_UTC = UTC


class CalendarError(ValueError):
    """A calendar is malformed, or the calendar has no working time to count."""


def _err(source: str, key: str, problem: str) -> CalendarError:
    return CalendarError(f"{source}: key '{key}': {problem}")


def _check_zone(name: object, source: str) -> ZoneInfo:
    if not isinstance(name, str) or not name.strip():
        raise _err(source, "timezone", f"expected a time zone name, got {name!r}")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise _err(source, "timezone", f"unknown time zone {name!r}") from None


def _check_workweek(days: Iterable[object], source: str) -> frozenset[int]:
    seen: set[int] = set()
    for day in days:
        if isinstance(day, bool) or not isinstance(day, int) or not 1 <= day <= 7:
            raise _err(source, "workweek", f"{day!r} is not an ISO weekday number 1-7")
        if day in seen:
            raise _err(source, "workweek", f"weekday {day} is listed twice")
        seen.add(day)
    return frozenset(seen)


def _check_hours(hours: object, source: str) -> tuple[time, time]:
    if not isinstance(hours, (tuple, list)) or len(hours) != 2:
        raise _err(source, "hours", f'expected [start, end] like ["09:00", "18:00"], got {hours!r}')
    parsed: list[time] = []
    for value in hours:
        match = _TIME_RE.fullmatch(value) if isinstance(value, str) else None
        if match:
            try:
                hour, minute, second = (int(g) for g in match.groups(default="0"))
                value = time(hour, minute, second)
            except ValueError:
                raise _err(source, "hours", f"{value!r} is not a valid time of day") from None
        if not isinstance(value, time):
            raise _err(source, "hours", f"{value!r} is not a time of day (HH:MM)")
        if value.tzinfo is not None or value.microsecond:
            raise _err(source, "hours", f"{value} must be a plain local time (HH:MM[:SS])")
        parsed.append(value)
    start, end = parsed
    if end <= start:
        raise _err(source, "hours", f"end {_hhmm(end)} is not after start {_hhmm(start)}")
    return start, end


def _hhmm(t: time) -> str:
    return t.isoformat(timespec="seconds" if t.second else "minutes")


def _check_dates(key: str, values: object, source: str) -> frozenset[date]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise _err(source, key, f"expected a list of dates (YYYY-MM-DD), got {values!r}")
    result: set[date] = set()
    for value in values:
        if isinstance(value, str) and _DATE_RE.fullmatch(value):
            try:
                value = date.fromisoformat(value)
            except ValueError:
                raise _err(source, key, f"{value!r} is not a valid date") from None
        if isinstance(value, datetime) or not isinstance(value, date):
            raise _err(source, key, f"{value!r} is not a date (YYYY-MM-DD)")
        result.add(value)
    return frozenset(result)


def _to_microseconds(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_HALF_EVEN))


@dataclass(frozen=True)
class BusinessCalendar:
    """Working days and hours in one time zone, and arithmetic over them."""

    timezone: str = "Asia/Shanghai"
    workweek: frozenset[int] = frozenset({1, 2, 3, 4, 5})
    hours: tuple[time, time] = (time(9, 0), time(18, 0))
    holidays: frozenset[date] = frozenset()
    workdays: frozenset[date] = frozenset()
    _zone: ZoneInfo = field(init=False, repr=False, compare=False)
    _overrides: tuple[date, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        source = type(self).__name__
        setattr_ = object.__setattr__
        setattr_(self, "_zone", _check_zone(self.timezone, source))
        setattr_(self, "workweek", _check_workweek(self.workweek, source))
        setattr_(self, "hours", _check_hours(self.hours, source))
        setattr_(self, "holidays", _check_dates("holidays", self.holidays, source))
        setattr_(self, "workdays", _check_dates("workdays", self.workdays, source))
        setattr_(self, "_overrides", tuple(sorted(self.holidays | self.workdays)))

    # ---------------------------------------------------------------- loading

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], source: str = "<calendar>") -> BusinessCalendar:
        """Build a calendar from parsed TOML-like data; missing keys take defaults."""
        if not isinstance(data, Mapping):
            raise CalendarError(f"{source}: expected a table of calendar settings")
        unknown = sorted(str(k) for k in data if k not in _KEYS)
        if unknown:
            allowed = ", ".join(_KEYS)
            raise _err(source, unknown[0], f"unknown key (allowed: {allowed})")
        kwargs: dict[str, Any] = {}
        if "timezone" in data:
            _check_zone(data["timezone"], source)
            kwargs["timezone"] = data["timezone"]
        if "workweek" in data:
            week = data["workweek"]
            if not isinstance(week, (list, tuple)):
                problem = f"expected a list of ISO weekday numbers, got {week!r}"
                raise _err(source, "workweek", problem)
            kwargs["workweek"] = _check_workweek(week, source)
        if "hours" in data:
            kwargs["hours"] = _check_hours(data["hours"], source)
        for key in ("holidays", "workdays"):
            if key in data:
                if not isinstance(data[key], (list, tuple)):
                    problem = f"expected a list of dates (YYYY-MM-DD), got {data[key]!r}"
                    raise _err(source, key, problem)
                kwargs[key] = _check_dates(key, data[key], source)
        return cls(**kwargs)

    @classmethod
    def from_toml(cls, path: str | os.PathLike[str]) -> BusinessCalendar:
        """Read a calendar file (TOML). Any problem raises ``CalendarError``."""
        source = str(path)
        try:
            text = Path(path).read_bytes().decode("utf-8")
        except OSError as exc:
            reason = exc.strerror or exc
            raise CalendarError(f"{source}: cannot read calendar file: {reason}") from None
        except UnicodeDecodeError:
            raise CalendarError(f"{source}: calendar file is not valid UTF-8") from None
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise CalendarError(f"{source}: invalid TOML: {exc}") from None
        return cls.from_mapping(data, source)

    # ---------------------------------------------------------------- queries

    @property
    def zone(self) -> ZoneInfo:
        """The calendar's time zone object."""
        return self._zone

    @property
    def day_length(self) -> timedelta:
        """Working time in one working day (9 h with the default hours)."""
        start, end = self.hours
        return datetime.combine(date.min, end) - datetime.combine(date.min, start)

    def is_working_day(self, d: date) -> bool:
        """True if ``d`` is a working day: holidays never, make-up days always."""
        if isinstance(d, datetime):
            d = d.date()
        if d in self.holidays:
            return False
        return d in self.workdays or d.isoweekday() in self.workweek

    def add_working_time(self, start: datetime, delta: timedelta) -> datetime:
        """The instant at which ``delta`` of working time has passed since ``start``.

        If the time runs out exactly at the end of a working day, the answer is
        that end (e.g. 18:00), not the next morning. A zero ``delta`` gives
        ``start`` itself (in the calendar's time zone).
        """
        local = self._local(start, "start")
        if not isinstance(delta, timedelta):
            raise TypeError(f"delta must be a timedelta, got {type(delta).__name__}")
        if delta < timedelta(0):
            raise ValueError(f"delta must not be negative, got {delta}")
        if delta == timedelta(0):
            return start.astimezone(self._zone)
        return self._aware(self._add_local(local, delta))

    def add_working_days(self, start: datetime, n: int | Decimal) -> datetime:
        """``add_working_time(start, n × day_length)``; ``n`` may be fractional."""
        return self.add_working_time(start, self.working_days(n))

    def working_days(self, n: int | Decimal) -> timedelta:
        """``n`` working days as working time (``n × day_length``)."""
        if isinstance(n, bool) or not isinstance(n, (int, Decimal)):
            raise TypeError(f"n must be an int or Decimal, got {type(n).__name__}")
        amount = Decimal(n)
        if not amount.is_finite() or amount < 0:
            raise ValueError(f"n must be a finite non-negative number, got {n}")
        per_day = self.day_length // timedelta(microseconds=1)
        return timedelta(microseconds=_to_microseconds(amount * per_day))

    def working_time_between(self, a: datetime, b: datetime) -> timedelta:
        """Working time from ``a`` to ``b``; zero if ``b`` is not after ``a``."""
        lo = self._local(a, "a")
        hi = self._local(b, "b")
        if b.astimezone(_UTC) <= a.astimezone(_UTC) or hi <= lo:
            return timedelta(0)
        total = timedelta(0)
        day, last = lo.date(), hi.date()
        week = self._week_total()
        while day <= last:
            if day > lo.date() and week:
                weeks = min((last - day).days // 7, self._clear_weeks(day))
                if weeks:
                    total += week * weeks
                    day += timedelta(days=7 * weeks)
                    continue
            if self.is_working_day(day):
                ws, we = self._window(day)
                overlap = min(hi, we) - max(lo, ws)
                if overlap > timedelta(0):
                    total += overlap
            day += timedelta(days=1)
        return total

    # --------------------------------------------------------------- helpers

    def _local(self, moment: datetime, name: str) -> datetime:
        """``moment`` as a naive local wall-clock time in the calendar's zone."""
        if not isinstance(moment, datetime):
            raise TypeError(f"{name} must be a datetime, got {type(moment).__name__}")
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise ValueError(f"{name} must be timezone-aware, got naive {moment.isoformat()}")
        return moment.astimezone(self._zone).replace(tzinfo=None)

    def _aware(self, local: datetime) -> datetime:
        # Round-trip through UTC so that a wall time in a DST gap is normalised.
        return local.replace(tzinfo=self._zone).astimezone(_UTC).astimezone(self._zone)

    def _window(self, day: date) -> tuple[datetime, datetime]:
        start, end = self.hours
        return datetime.combine(day, start), datetime.combine(day, end)

    def _week_total(self) -> timedelta:
        """Working time in an ordinary week (no holidays or make-up days)."""
        return self.day_length * len(self.workweek)

    def _clear_weeks(self, day: date) -> int:
        """Whole weeks from ``day`` before the next holiday or make-up day."""
        i = bisect.bisect_left(self._overrides, day)
        if i == len(self._overrides):
            return 1 << 30
        return (self._overrides[i] - day).days // 7

    def _add_local(self, local: datetime, remaining: timedelta) -> datetime:
        day = local.date()
        week = self._week_total()
        days_off = 0
        while True:
            if self.is_working_day(day):
                days_off = 0
                ws, we = self._window(day)
                cur = max(local, ws)
                if cur < we:
                    available = we - cur
                    if remaining <= available:
                        return cur + remaining
                    remaining -= available
            else:
                days_off += 1
                if days_off > _SEARCH_LIMIT_DAYS:
                    raise CalendarError(
                        f"calendar has no working day within {_SEARCH_LIMIT_DAYS} days "
                        f"after {day - timedelta(days=days_off - 1)}"
                    )
            day += timedelta(days=1)
            local = datetime.combine(day, time.min)
            if week and remaining > week:
                # Skip whole ordinary weeks; keep strictly > 0 time for the day loop
                # so that an exact end-of-day finish is found there.
                needed = (remaining - timedelta(microseconds=1)) // week
                weeks = min(needed, self._clear_weeks(day))
                if weeks:
                    remaining -= week * weeks
                    day += timedelta(days=7 * weeks)
                    local = datetime.combine(day, time.min)


def load_calendar(environ: Mapping[str, str] = os.environ) -> BusinessCalendar:
    """The calendar from ``$CASETRAIL_CALENDAR`` if set, else the default calendar."""
    path = environ.get(CALENDAR_ENV_VAR, "").strip()
    if not path:
        return BusinessCalendar()
    return BusinessCalendar.from_toml(path)

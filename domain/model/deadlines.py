"""When a clock is due: from a field's date or time and a calendar anchor.

A clock's ``duration`` counts from the moment it starts. A ``due`` table
says instead what the deadline is measured from and where it lands::

    due = { from = "fields.repay_by", at = "end_of_working_day" }     # 到期日下班前
    due = { from = "fields.shipped_at", at = "14:00 next_day" }        # 次日下午14:00
    due = { at = "12:00 next_working_day" }                            # 中午之前 (from the start)
    due = { after = "3d", at = "end_of_day" }                          # 3 days, then to midnight
    due = { at = "day 10 of next_month" }                              # 次月10號前

``from`` is a field path holding a ``date`` or a ``datetime`` (default: the
moment the clock starts); ``after`` a duration added to it first; ``at`` an
anchor, in the business calendar's time zone:

- ``end_of_day``: 24:00 of that day;
- ``end_of_working_day``: the end of working hours that day, or of the next
  working day if it is not one or its working hours are over;
- ``end_of_month``: 24:00 of the month's last day;
- ``HH:MM``, ``HH:MM next_day``, ``HH:MM next_working_day``: that time on the
  same day, the next calendar day, or the next working day;
- ``day N of next_month`` (optionally ``... HH:MM``, default 00:00, i.e.
  before the Nth begins).

A date field without an anchor is due as that day begins. The deadline is
computed once, when the clock starts, and stored on the clock; a clock whose
``from`` field is empty does not start, and one whose deadline has already
passed when it starts is due at once (never before its start).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from domain.model.calendar import BusinessCalendar
from domain.model.conditions import lookup
from domain.model.durations import Duration, parse_duration
from domain.model.errors import CaseTypeError
from domain.model.moments import parse_time

DUE_KEYS = {"from", "after", "at"}
_TIME = r"(?P<h>[01]\d|2[0-3]):(?P<m>[0-5]\d)"
_ANCHORS = [
    ("end_of_day", re.compile(r"end_of_day")),
    ("end_of_working_day", re.compile(r"end_of_working_day")),
    ("end_of_month", re.compile(r"end_of_month")),
    ("time", re.compile(_TIME + r"(?: (?P<day>same_day|next_day|next_working_day))?")),
    ("next_month", re.compile(r"day (?P<n>[1-9]|[12]\d|3[01]) of next_month(?: " + _TIME + ")?")),
]
ANCHOR_FORMS = ["end_of_day", "end_of_working_day", "end_of_month", "HH:MM [same_day|next_day|next_working_day]",
                "day N of next_month [HH:MM]"]


@dataclass(frozen=True)
class Anchor:
    kind: str
    at: time = time(0, 0)
    day: str = "same_day"
    n: int = 1


@dataclass(frozen=True)
class DueRule:
    source: str | None  # a field path holding a date or datetime; None: the clock's start
    after: Duration | None
    anchor: Anchor | None

    def describe(self) -> dict[str, Any]:
        return {"from": self.source, "after": str(self.after) if self.after else None,
                "at": _anchor_text(self.anchor) if self.anchor else None}


def _anchor_text(a: Anchor) -> str:
    if a.kind == "time":
        return f"{a.at:%H:%M} {a.day}"
    if a.kind == "next_month":
        return f"day {a.n} of next_month {a.at:%H:%M}"
    return a.kind


def parse_anchor(text: Any, where: str) -> Anchor:
    for kind, pattern in _ANCHORS:
        found = pattern.fullmatch(str(text).strip()) if isinstance(text, str) else None
        if found:
            g = found.groupdict()
            at = time(int(g["h"]), int(g["m"])) if g.get("h") else time(0, 0)
            return Anchor(kind, at=at, day=g.get("day") or "same_day", n=int(g.get("n") or 1))
    raise CaseTypeError(f"{where}: {text!r} is not an anchor; write one of {ANCHOR_FORMS}")


def parse_due(data: Any, fields: Mapping[str, Any], where: str) -> DueRule:
    """A clock's ``due`` table, checked against the type's field specs (``fields.X`` of type date/datetime)."""
    if not isinstance(data, Mapping) or not data or set(data) - DUE_KEYS:
        raise CaseTypeError(f"{where}: expected a table with some of {sorted(DUE_KEYS)}")
    source = data.get("from")
    if source is not None:
        head, _, name = str(source).partition(".")
        spec = fields.get(head, {}).get(name) if head in fields else None
        if spec is None or spec.type not in ("date", "datetime"):
            raise CaseTypeError(f"{where}.from: {source!r} is not a date or datetime field of this type")
    after = None
    if "after" in data:
        try:
            after = parse_duration(str(data["after"]))
        except ValueError as e:
            raise CaseTypeError(f"{where}.after: {e}") from None
    anchor = parse_anchor(data["at"], f"{where}.at") if "at" in data else None
    return DueRule(source=str(source) if source else None, after=after, anchor=anchor)


def _next_working_day(day: date, calendar: BusinessCalendar) -> date:
    day += timedelta(days=1)
    for _ in range(400):
        if calendar.is_working_day(day):
            return day
        day += timedelta(days=1)
    raise ValueError(f"no working day in the year after {day}")  # a calendar with no working days


def _land(anchor: Anchor, local: datetime, calendar: BusinessCalendar) -> datetime:
    """The local wall time ``anchor`` puts a deadline at, from the local moment ``local``."""
    day = local.date()
    if anchor.kind == "end_of_day":
        return datetime.combine(day + timedelta(days=1), time(0, 0))
    if anchor.kind == "end_of_working_day":
        if not calendar.is_working_day(day) or local.time() >= calendar.hours[1]:  # after hours: the next one
            day = _next_working_day(day, calendar)
        return datetime.combine(day, calendar.hours[1])
    if anchor.kind == "end_of_month":
        first = (day.replace(day=1) + timedelta(days=32)).replace(day=1)
        return datetime.combine(first, time(0, 0))
    if anchor.kind == "next_month":
        first = (day.replace(day=1) + timedelta(days=32)).replace(day=1)
        return datetime.combine(first + timedelta(days=anchor.n - 1), anchor.at)
    if anchor.day == "next_day":
        day += timedelta(days=1)
    elif anchor.day == "next_working_day":
        day = _next_working_day(day, calendar)
    return datetime.combine(day, anchor.at)


def due_at(rule: DueRule, started: datetime, context: Mapping[str, Any], calendar: BusinessCalendar) -> datetime | None:
    """The deadline ``rule`` gives a clock starting at ``started`` (None: its ``from`` field is empty)."""
    zone = calendar.zone
    if rule.source is None:
        base = started.astimezone(zone)
    else:
        value = lookup(context, rule.source)
        if value in (None, ""):
            return None
        if isinstance(value, str) and len(value) == 10:  # a date: that day, as it begins
            base = datetime.combine(date.fromisoformat(value), time(0, 0), tzinfo=zone)
        else:
            base = parse_time(str(value)).astimezone(zone)
    if rule.after is not None:
        base = rule.after.due(base, calendar)
    if rule.anchor is None:
        return max(base, started.astimezone(zone))
    local = _land(rule.anchor, base.replace(tzinfo=None), calendar)
    # a deadline already past when the clock starts (a repay-by date before the money went out) is due at once
    return max(local.replace(tzinfo=zone), started.astimezone(zone))

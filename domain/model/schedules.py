"""Recurring cases: a case-type file's ``[[schedules]]``, opened by the policy worker.

::

    [[schedules]]                       # 003 §7: a visit plan for each account manager, monthly
    name = "monthly_visit_plan"
    every = "month"                     # "day", "week" (day = ISO weekday 1-7) or "month" (day = 1-28)
    day = 25
    at = "09:00"                        # local time of the business calendar
    title = "{YYYY}-{MM} 拜访计划"
    for_each_role = "agent"             # one case per active staff member with the role (omit: one case)
    staff_field = "owner"               # the field that names that staff member
    fields = { kind = "visit_plan" }

At each pass the worker opens the cases of the latest occurrence at or
before now that was not opened yet, never more than one occurrence late (a
worker that was down for three months opens this month's plan, not three).
Each opening is a ``ScheduleRun`` aggregate whose id comes from the type,
schedule, occurrence and staff member, saved with the case: two workers
cannot open the same occurrence twice.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from eventsourcing.domain import Aggregate, event

from domain.model.actor import stable_id
from domain.model.copying import PlainCopy
from domain.model.errors import CaseTypeError

SCHEDULE_KEYS = {"name", "every", "day", "at", "title", "for_each_role", "staff_field", "fields", "customer", "doc",
                 "opt_in"}
PERIODS = ("day", "week", "month")


@dataclass(frozen=True)
class ScheduleSpec:
    name: str
    every: str
    day: int
    at: time
    title: str
    for_each_role: str | None = None
    staff_field: str | None = None
    fields: Mapping[str, Any] = field(default_factory=dict)
    customer: Mapping[str, Any] = field(default_factory=dict)
    # a shipped procedure's schedule runs only where the operator turns it on (CASETRAIL_SCHEDULES)
    opt_in: bool = False


def enabled(spec: ScheduleSpec, case_type: str, turned_on: str) -> bool:
    """Whether a schedule runs: always, unless it is ``opt_in`` and its type is not in ``turned_on``
    (``CASETRAIL_SCHEDULES``: comma-separated type names, or ``all``)."""
    names = {n.strip() for n in turned_on.split(",") if n.strip()}
    return not spec.opt_in or "all" in names or case_type in names


def schedules(data: Any, field_names: set[str], source: str) -> tuple[ScheduleSpec, ...]:
    out = []
    for i, item in enumerate(data or []):
        where = f"{source}: key 'schedules[{i}]'"
        if not isinstance(item, Mapping) or set(item) - SCHEDULE_KEYS or not {"name", "every", "title"} <= set(item):
            raise CaseTypeError(f"{where}: a table with 'name', 'every' and 'title' ({sorted(SCHEDULE_KEYS)})")
        every = item["every"]
        if every not in PERIODS:
            raise CaseTypeError(f"{where}.every must be one of {list(PERIODS)}")
        day = item.get("day", 1)
        limit = {"day": 1, "week": 7, "month": 28}[every]
        if isinstance(day, bool) or not isinstance(day, int) or not 1 <= day <= limit:
            raise CaseTypeError(f"{where}.day must be 1 to {limit} for every = {every!r}")
        match = re.fullmatch(r"(\d{1,2}):(\d{2})", str(item.get("at", "09:00")))
        if not match or int(match.group(1)) > 23 or int(match.group(2)) > 59:
            raise CaseTypeError(f"{where}.at must be a time of day like \"09:00\"")
        staff_field = item.get("staff_field")
        if (item.get("for_each_role") is None) != (staff_field is None):
            raise CaseTypeError(f"{where}: 'for_each_role' and 'staff_field' go together")
        if staff_field is not None and staff_field not in field_names:
            raise CaseTypeError(f"{where}.staff_field: {staff_field!r} is not one of the type's fields")
        out.append(ScheduleSpec(
            name=str(item["name"]), every=every, day=day, at=time(int(match.group(1)), int(match.group(2))),
            title=str(item["title"]), for_each_role=item.get("for_each_role"), staff_field=staff_field,
            fields=dict(item.get("fields") or {}), customer=dict(item.get("customer") or {}),
            opt_in=bool(item.get("opt_in", False))))
    return tuple(out)


def latest_occurrence(spec: ScheduleSpec, now: datetime, zone: ZoneInfo) -> datetime:
    """The schedule's most recent occurrence at or before ``now`` (an aware datetime)."""
    local = now.astimezone(zone)

    def at(day: date) -> datetime:
        return datetime.combine(day, spec.at, tzinfo=zone)

    if spec.every == "day":
        candidate = at(local.date())
        return candidate if candidate <= local else at(local.date() - timedelta(days=1))
    if spec.every == "week":
        day = local.date() - timedelta(days=(local.isoweekday() - spec.day) % 7)
        candidate = at(day)
        return candidate if candidate <= local else at(day - timedelta(days=7))
    candidate = at(local.date().replace(day=spec.day))
    if candidate <= local:
        return candidate
    previous = (local.date().replace(day=1) - timedelta(days=1)).replace(day=spec.day)
    return at(previous)


def render_title(template: str, occurrence: datetime) -> str:
    values = {"YYYY": f"{occurrence:%Y}", "YY": f"{occurrence:%y}", "MM": f"{occurrence:%m}",
              "DD": f"{occurrence:%d}"}
    return re.sub(r"\{(YYYY|YY|MM|DD)\}", lambda m: values[m.group(1)], template)


class ScheduleRun(PlainCopy, Aggregate):
    """One occurrence of one schedule opened for one staff member (or for nobody in particular)."""

    @staticmethod
    def create_id(case_type: str, schedule: str, occurrence: str, staff_id: str) -> UUID:
        return stable_id("schedule-run", f"{case_type}\x1e{schedule}\x1e{occurrence}\x1e{staff_id}")

    @event("Opened")
    def __init__(self, case_type: str, schedule: str, occurrence: str, staff_id: str, case_id: str,
                 number: str, meta: dict[str, Any]) -> None:
        self.case_type, self.schedule, self.occurrence = case_type, schedule, occurrence
        self.staff_id, self.case_id, self.number = staff_id, case_id, number
        self.head_hash: str | None = None

"""Schedules: the recurring cases the case types declare (``[[schedules]]``), opened when due.

``run_schedules`` opens, for every enabled schedule (``CASETRAIL_SCHEDULES``:
the shipped types' schedules are opt-in), the latest occurrence due at ``now``
— once per staff member holding ``for_each_role`` when the schedule names one.
Each occurrence is recorded as a ``ScheduleRun`` in the same transaction as
the case it opened, so two workers racing on one occurrence open it once.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

from eventsourcing.application import AggregateNotFoundError

from domain.application import CaseTrail
from domain.model.actor import Actor, CommandContext
from domain.model.case import Case
from domain.model.casetype import CaseType
from domain.model.schedules import ScheduleRun, ScheduleSpec, enabled, latest_occurrence, render_title
from domain.model.staff import Staff
from domain.model.topics import topics

SCHEDULER = Actor.system("scheduler")


class _AlreadyOpened(Exception):
    """A schedule's occurrence was opened by another worker in the meantime."""


def run_schedules(app: CaseTrail, now: datetime | None = None) -> list[str]:
    """Open the recurring cases that are due (``[[schedules]]`` of the case types); their numbers."""
    at = now or app.clock()
    opened: list[str] = []
    turned_on = os.environ.get("CASETRAIL_SCHEDULES", "")
    for ct in app.registry:
        for spec in ct.schedules:
            if not enabled(spec, ct.name, turned_on):
                continue
            occurrence = latest_occurrence(spec, at, app.calendar.zone)
            for staff_id in _schedule_targets(app, spec):
                number = _open_scheduled(app, ct, spec, occurrence, staff_id)
                if number is not None:
                    opened.append(number)
    return opened

def _schedule_targets(app: CaseTrail, spec: ScheduleSpec) -> list[str]:
    if spec.for_each_role is None:
        return [""]
    registered = app.recorder.select_notifications(start=1, limit=100_000, topics=topics(Staff.Registered))
    members = [app.get_staff(app.mapper.to_domain_event(n).staff_id) for n in registered]
    return sorted(m.staff_id for m in members if m.active and spec.for_each_role in m.roles)

def _open_scheduled(app: CaseTrail, ct: CaseType, spec: ScheduleSpec, occurrence: datetime,
                    staff_id: str) -> str | None:
    key = occurrence.isoformat()
    run_id = ScheduleRun.create_id(ct.name, spec.name, key, staff_id)

    def attach(case: Case, meta: dict[str, Any]) -> list[Any]:
        try:
            app.load(run_id)
        except AggregateNotFoundError:
            return [ScheduleRun(case_type=ct.name, schedule=spec.name, occurrence=key, staff_id=staff_id,
                                case_id=str(case.id), number=case.number, meta=meta)]
        raise _AlreadyOpened  # another worker opened this occurrence first

    fields = {**spec.fields, **({spec.staff_field: staff_id} if spec.staff_field else {})}
    try:
        app.load(run_id)
        return None
    except AggregateNotFoundError:
        pass
    try:
        result = app.open(SCHEDULER, ct.name, render_title(spec.title, occurrence), dict(spec.customer), fields,
                           ctx=CommandContext(correlation_id=f"schedule:{ct.name}:{spec.name}:{key}"),
                           attach=attach)
    except _AlreadyOpened:
        return None
    return result.case.number

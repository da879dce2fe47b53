"""SLA clocks on a case: deciding clock changes and applying them.

A clock is a plain dict kept on the case (so it snapshots and replays
as-is). Deciding (``plan_clock_changes``) uses the calendar and the case-type
clock specs and produces *change records* that are stored inside events;
applying (``apply_clock_change``) is pure bookkeeping, so a replay never
needs the calendar or the current case-type files: the due time and the
policy version in force when a clock started are part of the record.

States: ``running``, ``paused``, ``met``, ``breached``. Pausing stops the
clock; resuming moves the due time by the paused time: the *working* time
that passed while paused for a working-time clock (``wd``/``wh``, so the
due time stays inside working hours), the elapsed time for a ``d``/``h``/``m``
clock. The paused time is kept on the clock (``paused_seconds``) so that a
re-timed clock (``retime``: its duration changed, e.g. with a complaint's
severity) is due ``duration`` after its start plus the time it was paused.

A clock started with ``follows`` mirrors the clock of a linked case (a
complaint's return visit is the ``return_visit`` case's clock): its breach
is recorded there, once, never on the mirror.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from domain.model.calendar import BusinessCalendar
from domain.model.casetype import CaseType
from domain.model.conditions import lookup, matches
from domain.model.deadlines import due_at
from domain.model.durations import Duration, parse_duration

RUNNING, PAUSED, MET, BREACHED = "running", "paused", "met", "breached"
ACTIVE = (RUNNING, PAUSED)


def ts(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def plan_clock_changes(
    case_type: CaseType,
    clocks: Mapping[str, Mapping[str, Any]],
    triggers: Iterable[str],
    context: Mapping[str, Any],
    at: datetime,
    calendar: BusinessCalendar,
) -> list[dict[str, Any]]:
    """The clock changes that ``triggers`` (action names, ``@open``,
    ``@enter:<state>``, ``@linked_outcome``) cause on a case."""
    fired = set(triggers)
    changes: list[dict[str, Any]] = []
    for spec in case_type.clocks.values():
        current: Mapping[str, Any] = clocks.get(spec.name) or {}
        active = bool(current) and current["state"] in ACTIVE
        if active and fired & set(spec.stop):
            changes.append({"op": "stop", "name": spec.name, "at": at.isoformat()})
            continue
        if active and current["state"] == RUNNING and fired & set(spec.pause):
            changes.append({"op": "pause", "name": spec.name, "at": at.isoformat()})
            continue
        if active and current["state"] == PAUSED and fired & set(spec.resume):
            paused_at, due_before = ts(current["paused_at"]), ts(current["due_at"])
            assert paused_at is not None and due_before is not None
            working = parse_duration(current["duration"]).is_working
            paused = calendar.working_time_between(paused_at, at) if working else max(at - paused_at, timedelta(0))
            due = shift(due_before, paused, working, calendar)
            changes.append({"op": "resume", "name": spec.name, "at": at.isoformat(), "due_at": due.isoformat(),
                            "paused_seconds": paused.total_seconds()})
            continue
        if not active and fired & set(spec.start):
            if spec.when and not matches(spec.when, context):
                continue
            duration = spec.duration_for(context)
            due = duration.due(at, calendar)
            if spec.due is not None:
                anchored = due_at(spec.due, at, context, calendar)
                if anchored is None:
                    continue  # its date field is empty: nothing to be due yet
                due, duration = anchored, spec.due.after or Duration(Decimal(0), "m")
            changes.append(
                {
                    "op": "start",
                    "name": spec.name,
                    "at": at.isoformat(),
                    "due_at": due.isoformat(),
                    "duration": str(duration),
                    "policy_version": case_type.version,
                    "escalate_to": spec.escalate_to,
                    **({"follows": spec.follows} if spec.follows else {}),
                }
            )
    return changes


def shift(due: datetime, by: timedelta, working: bool, calendar: BusinessCalendar) -> datetime:
    """``due`` moved later by ``by`` of working time (or of elapsed time)."""
    if working:
        return calendar.add_working_time(due, by)
    return (due + by).astimezone(calendar.zone)


def due_from_start(clock: Mapping[str, Any], duration: Duration, calendar: BusinessCalendar) -> datetime:
    """When a clock of ``duration`` started at its start and paused as long as it was is due."""
    due = duration.due(ts(clock["started_at"]), calendar)  # type: ignore[arg-type]
    paused = timedelta(seconds=float(clock.get("paused_seconds") or 0))
    return shift(due, paused, duration.is_working, calendar) if paused else due


def plan_retiming(
    case_type: CaseType,
    clocks: Mapping[str, Mapping[str, Any]],
    before: Mapping[str, Any],
    after: Mapping[str, Any],
    calendar: BusinessCalendar,
) -> list[dict[str, Any]]:
    """``retime`` changes for active clocks whose duration depends on a value that
    changed from ``before`` to ``after`` (same start, the new duration plus any
    extension granted, paused time still excluded)."""
    changes: list[dict[str, Any]] = []
    for spec in case_type.clocks.values():
        clock = clocks.get(spec.name)
        if clock is None or clock["state"] not in ACTIVE:
            continue
        if spec.due is not None and spec.due.source:  # due from a field: a corrected date moves it
            if lookup(before, spec.due.source) != lookup(after, spec.due.source):
                moved = due_at(spec.due, ts(clock["started_at"]), after, calendar)  # type: ignore[arg-type]
                if moved is not None and moved.isoformat() != clock["due_at"]:
                    changes.append({"op": "retime", "name": spec.name, "due_at": moved.isoformat(),
                                    "duration": clock["duration"]})
            continue
        if not spec.duration_by and not spec.duration_expr:
            continue
        old, new = spec.duration_for(before), spec.duration_for(after)
        if old == new:
            continue
        current = parse_duration(clock["duration"])
        extra = current.amount - old.amount if current.unit == old.unit else Decimal(0)
        total = new.plus(Duration(max(extra, Decimal(0)), new.unit), calendar) if new.unit == old.unit else new
        if str(total) == clock["duration"]:
            continue
        due = due_from_start(clock, total, calendar)
        changes.append({"op": "retime", "name": spec.name, "due_at": due.isoformat(), "duration": str(total)})
    return changes


def plan_extension(
    clock: Mapping[str, Any], by: Duration, max_total: Duration | None, calendar: BusinessCalendar
) -> dict[str, Any]:
    """Extend a running clock; raise ValueError if the total would exceed ``max_total``."""
    total = parse_duration(clock["duration"]).plus(by)
    if max_total is not None and total.amount > max_total.amount and total.unit == max_total.unit:
        raise ValueError(
            f"total time for clock {clock['name']!r} would be {total}, more than the maximum {max_total}"
        )
    due = by.due(ts(clock["due_at"]), calendar)  # type: ignore[arg-type]
    return {"op": "extend", "name": clock["name"], "due_at": due.isoformat(), "duration": str(total)}


def apply_clock_change(clocks: dict[str, dict[str, Any]], change: Mapping[str, Any]) -> None:
    """Apply one recorded change to the case's clocks (pure bookkeeping)."""
    op, name = change["op"], change["name"]
    if op == "start":
        clocks[name] = {
            "name": name,
            "state": RUNNING,
            "started_at": change["at"],
            "due_at": change["due_at"],
            "duration": change.get("duration"),
            "policy_version": change.get("policy_version"),
            "escalate_to": change.get("escalate_to"),
            "paused_at": None,
            "stopped_at": None,
            "breached": False,
            "paused_seconds": 0,
            **({"follows": change["follows"]} if change.get("follows") else {}),
        }
        return
    clock = clocks[name]
    if op == "stop":
        clock["stopped_at"] = change["at"]
        late = ts(change["at"]) > ts(clock["due_at"])  # type: ignore[operator]
        clock["state"] = BREACHED if clock["breached"] or late else MET
        clock["paused_at"] = None
    elif op == "pause":
        clock["state"] = PAUSED
        clock["paused_at"] = change["at"]
    elif op == "resume":
        clock["state"] = RUNNING
        clock["paused_at"] = None
        clock["due_at"] = change["due_at"]
        clock["paused_seconds"] = float(clock.get("paused_seconds") or 0) + float(change.get("paused_seconds") or 0)
    elif op in ("extend", "retime"):
        clock["due_at"] = change["due_at"]
        clock["duration"] = change["duration"]
    elif op == "breach":
        clock["breached"] = True


def overdue_clocks(clocks: Mapping[str, Mapping[str, Any]], now: datetime) -> list[Mapping[str, Any]]:
    """Running clocks past due whose breach has not been recorded yet (mirrors of a
    linked case's clock are breached there)."""
    return [
        c
        for c in clocks.values()
        if c["state"] == RUNNING and not c["breached"] and not c.get("follows")
        and ts(c["due_at"]) < now  # type: ignore[operator]
    ]


def clock_view(clock: Mapping[str, Any]) -> dict[str, Any]:
    state = clock["state"]
    if state in ACTIVE and clock["breached"]:
        state = BREACHED
    return {
        "name": clock["name"],
        "state": state,
        "started_at": clock["started_at"],
        "due_at": clock["due_at"],
        "duration": clock["duration"],
        "policy_version": clock["policy_version"],
        "paused_at": clock["paused_at"],
        "stopped_at": clock["stopped_at"],
    }

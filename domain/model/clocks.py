"""SLA clocks on a case: deciding clock changes and applying them.

A clock is a plain dict kept on the case (so it snapshots and replays
as-is). Deciding (``plan_clock_changes``) uses the calendar and the case-type
clock specs and produces *change records* that are stored inside events;
applying (``apply_clock_change``) is pure bookkeeping, so a replay never
needs the calendar or the current case-type files: the due time and the
policy version in force when a clock started are part of the record.

States: ``running``, ``paused``, ``met``, ``breached``. Pausing stops the
clock; resuming moves the due time by the paused duration.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from domain.model.calendar import BusinessCalendar
from domain.model.casetype import CaseType
from domain.model.conditions import matches
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
            due = due_before + (at - paused_at)
            changes.append(
                {"op": "resume", "name": spec.name, "at": at.isoformat(), "due_at": due.isoformat()}
            )
            continue
        if not active and fired & set(spec.start):
            if spec.when and not matches(spec.when, context):
                continue
            duration = spec.duration_for(context)
            changes.append(
                {
                    "op": "start",
                    "name": spec.name,
                    "at": at.isoformat(),
                    "due_at": duration.due(at, calendar).isoformat(),
                    "duration": str(duration),
                    "policy_version": case_type.version,
                    "escalate_to": spec.escalate_to,
                }
            )
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
    elif op == "extend":
        clock["due_at"] = change["due_at"]
        clock["duration"] = change["duration"]
    elif op == "breach":
        clock["breached"] = True


def overdue_clocks(clocks: Mapping[str, Mapping[str, Any]], now: datetime) -> list[Mapping[str, Any]]:
    """Running clocks past due whose breach has not been recorded yet."""
    return [
        c
        for c in clocks.values()
        if c["state"] == RUNNING and not c["breached"] and ts(c["due_at"]) < now  # type: ignore[operator]
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

"""What a missed deadline and a state change set off: breaches, the escalation ladder, escalation rules.

Pure planning for ``Case`` (which records the events):

- ``plan_breach``: for one overdue clock, the status move its ``on_breach``
  asks for (only from an open state), the triggers it fires
  (``@breach:<clock>``, and ``@enter:<state>`` when the case moves) and the
  clock changes those triggers cause;
- ``next_role_up``: whom a breach escalates to — a role outside the ladder
  directly, else one step above the highest rung reached so far (or the
  clock's ``escalate_to``, whichever is higher), never past the top;
- ``escalations_due``: the escalation rules a trigger fires, leaving out what
  was told before: a rule to a role is skipped once anybody in that role was
  told by a rule, a rule to a person (``to_staff``) once that person was.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from domain.model.calendar import BusinessCalendar
from domain.model.casetype import CaseType
from domain.model.clocks import plan_clock_changes
from domain.model.conditions import lookup, matches

Holder = Callable[[str, str], "str | None"]  # (role, department) -> staff id (domain.directory)


def enter(state: str) -> str:
    """The trigger fired on entering ``state``."""
    return f"@enter:{state}"


@dataclass(frozen=True)
class Breach:
    """What breaching one clock records and sets off."""

    changes: dict[str, list[Any]]
    triggers: list[str]
    clock_changes: list[dict[str, Any]]
    escalate: bool


def plan_breach(ct: CaseType, context: Mapping[str, Any], clocks: Mapping[str, Any], clock: Mapping[str, Any],
                at: datetime, calendar: BusinessCalendar | None) -> Breach:
    spec = ct.clocks.get(clock["name"])
    then = spec.on_breach if spec is not None else {}
    status = context["status"]
    moves = bool(then.get("to")) and then["to"] != status and ct.is_open_state(status)
    changes = {"status": [status, then["to"]]} if moves else {}
    triggers = [f"@breach:{clock['name']}"] + ([enter(then["to"])] if moves else [])
    after = {**context, "status": then["to"] if moves else status}
    breached = {**clocks, clock["name"]: {**clock, "state": "breached"}}
    clock_changes = plan_clock_changes(ct, breached, triggers, after, at, calendar) if calendar else []
    return Breach(changes, triggers, clock_changes, bool(then.get("escalate", True)))


def next_role_up(ladder: Sequence[str], escalations: Sequence[Mapping[str, Any]], preferred: str | None) -> str:
    if preferred and preferred not in ladder:
        return preferred  # a role outside the ladder (the finance director): straight to it
    reached = [e["to_role"] for e in escalations if e["to_role"] in ladder]
    level = max((ladder.index(r) for r in reached), default=0)
    if preferred in ladder:
        level = max(level, ladder.index(preferred) - 1)
    return ladder[min(level + 1, len(ladder) - 1)] if ladder else (preferred or "supervisor")


def escalations_due(ct: CaseType, trigger: str, context: Mapping[str, Any], people: Mapping[str, Any],
                    department: str, escalations: Sequence[Mapping[str, Any]],
                    holder: Holder | None) -> list[dict[str, Any]]:
    """``{to_role, to_staff, reason}`` for each rule ``trigger`` fires that has not fired before.

    ``people``: who ``to_staff = "opener"`` and ``"assignee"`` name; any other
    ``to_staff`` is a path into ``context`` (``fields.x``)."""
    told = {(e["to_role"], e.get("to_staff")) for e in escalations if e["clock"] is None}
    roles_told = {role for role, _ in told}
    due: list[dict[str, Any]] = []
    for rule in ct.escalations:
        if trigger not in rule.get("on", []) or not matches(rule.get("when"), context):
            continue
        role = str(rule.get("to") or "")
        to_person = rule.get("to_staff")
        if to_person:
            who = people[to_person] if to_person in people else lookup(context, str(to_person))
            staff = str(who) if who and not str(who).startswith("system:") else None
        else:
            staff = holder(role, department) if holder else None
        if not role and staff is None:
            continue  # nobody to tell (a person field left empty)
        if ((role, staff) in told) if to_person else (role in roles_told):
            continue  # told before (by an earlier trigger)
        due.append({"to_role": role, "to_staff": staff, "reason": rule.get("reason", "")})
    return due

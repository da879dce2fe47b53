"""The SLA monitor: record each running clock's breach once, when it is past due.

One pass (``sla_pass``) brings ``case_state`` up to date, then walks the
cases whose ``sla_due_at`` (earliest due time of a running clock whose breach
is not recorded yet) is before ``now``, in (due time, case id) order, and
calls ``CaseTrail.record_breaches(case_id, now)``: the domain records
``DeadlineBreached`` + ``Escalated`` (actor ``system:sla-monitor``, at
``now``) once per clock, so repeated or concurrent passes record nothing
twice. Given the same events and ``now`` a pass records the same thing.
``casetrail sla check [--now]`` runs one pass; workers run one periodically.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog

from domain.model.errors import DomainError
from domain.storage.keys import CASES_TABLE, KEYS_TABLE
from projections.case_state import CASES, overdue_for_sla
from projections.events import canon
from projections.maintenance import model_at_active
from projections.runner import OutageLog, Pump, retry_delay
from projections.views import Store

log = structlog.get_logger("casetrail.sla")
PAGE = 500


@dataclass(frozen=True)
class Breach:
    case_id: str
    number: str
    clock: str
    due_at: str
    escalated_to: str | None


def sla_pass(app: Any, store: Store, now: datetime, *, catch_up: bool = True) -> list[Breach]:
    """Record every breach due before ``now``; what was recorded, in order."""
    model = model_at_active(store, app, "case_state")
    if catch_up:
        Pump(app, [model]).catch_up()
    table = CASES.name(model.version)
    recorded: list[Breach] = []
    after: tuple[str, str] | None = None
    while True:
        rows = overdue_for_sla(store.read, table, now, after, PAGE)
        for row in rows:
            recorded.extend(_record(app, row, now))
        if len(rows) < PAGE:
            return recorded
        after = (rows[-1]["sla_due_at"], rows[-1]["id"])


def retention_pass(app: Any, store: Store, now: datetime) -> list[Any]:
    """Erase the customers of closed cases past their type's ``[retention]`` period (each an ``Erased``
    event, ``domain.erasing.erase_by_retention``); the erasures made. ``case_state`` is read as it stands
    (``sla_pass`` caught it up); erased cases' subjects are skipped by the domain."""
    rules = {ct.name: ct.retention.period for ct in app.registry if ct.retention is not None}
    if not rules:
        return []
    model = model_at_active(store, app, "case_state")
    table = CASES.name(model.version)
    candidates: list[str] = []
    for name, period in sorted(rules.items()):
        rows = store.read(f"SELECT id FROM {table} WHERE type = ? AND closed = 1 AND updated_at <= ? "
                          f"AND id IN (SELECT c.case_id FROM {CASES_TABLE} c JOIN {KEYS_TABLE} k "
                          "ON k.subject = c.subject) ORDER BY id",  # cases whose subject still has a key
                          [name, canon(now - period)])
        candidates += [r["id"] for r in rows]
    return list(app.erase_by_retention(candidates, now)) if candidates else []


def _record(app: Any, row: dict[str, Any], now: datetime) -> list[Breach]:
    try:
        clocks = app.record_breaches(row["id"], now)
        if not clocks:
            return []
        case = app.get_case(row["id"])
    except DomainError as e:
        log.warning("SLA pass skipped a case", case_id=row["id"], error=str(e))
        return []
    out = []
    for name in clocks:
        clock = case.clocks.get(name, {})
        role = next((x["to_role"] for x in reversed(case.escalations) if x.get("clock") == name), None)
        out.append(Breach(row["id"], case.number, name, clock.get("due_at", ""), role))
    return out


def run_periodically(app: Any, store: Store, stop: threading.Event, interval: float,
                     *, catch_up: bool = False) -> None:
    """An SLA pass every ``interval`` seconds (now = the application's clock) until stopped;
    after a failure because the database was unavailable, again within a couple of seconds."""
    wait = interval
    outage = OutageLog("SLA pass", log)
    while not stop.wait(wait):
        try:
            breaches = sla_pass(app, store, app.clock(), catch_up=catch_up)
            opened = app.run_schedules()  # recurring cases due ([[schedules]] of the case types)
            erased = retention_pass(app, store, app.clock())  # [retention] of the case types
            if erased:
                log.info("retention erasures", subjects=len(erased))
            outage.succeeded()
            wait = interval
            if breaches:
                log.info("SLA pass recorded breaches", breaches=len(breaches))
            if opened:
                log.info("scheduled cases opened", numbers=opened)
        except Exception as e:
            wait = retry_delay(e, interval)
            outage.failed(e, wait)

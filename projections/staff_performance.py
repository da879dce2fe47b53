"""The ``staff_performance`` read model: per staff per day counters, raw durations,
per department per month complaint figures (definitions: ``projections.kpi``).

Tables: ``staff_daily`` (staff, day, counters), ``staff_durations`` (one
row per event and kind: first-response, resolution and approval times, so
median and p90 are computed over any range), ``dept_monthly`` (department,
month of registration, complaint counters) and ``perf_cases`` (each
non-mirror case's small KPI state, the projection's working memory).
Counters are written as increments (``ON CONFLICT ... DO UPDATE SET c = c +
excluded.c``), in the same transaction as the tracking position.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from projections.base import Batch, ReadModel, chunks, placeholders
from projections.events import Event
from projections.kpi import (
    DEPT_COUNTERS,
    SERVICE_COUNTERS,
    STAFF_COUNTERS,
    Deltas,
    KpiTracker,
    State,
    figures,
    pct,
    period_of,
)
from projections.views import Table

_INTS = ", ".join(f"{c} {{INT}} NOT NULL DEFAULT 0" for c in STAFF_COUNTERS)
DAILY = Table("staff_daily", f"staff_id {{KEY}} NOT NULL, day {{KEY}} NOT NULL, {_INTS}, "
                             "PRIMARY KEY (staff_id, day)")
# technicians' arrivals and return-visit scores (a table of its own, so that read models
# built before it existed keep working; their earlier figures come with a rebuild)
_SERVICE_INTS = ", ".join(f"{c} {{INT}} NOT NULL DEFAULT 0" for c in SERVICE_COUNTERS)
SERVICE = Table("staff_service_daily", f"staff_id {{KEY}} NOT NULL, day {{KEY}} NOT NULL, {_SERVICE_INTS}, "
                                       "PRIMARY KEY (staff_id, day)")
DURATIONS = Table(
    "staff_durations",
    "position {INT} NOT NULL, kind {KEY} NOT NULL, staff_id {KEY} NOT NULL, day {KEY} NOT NULL, "
    "case_id {KEY} NOT NULL, seconds {REAL} NOT NULL, PRIMARY KEY (position, kind)",
    indexes=(("staff", "staff_id, day, kind"),),
)
_DEPT_INTS = ", ".join(f"{c} {{INT}} NOT NULL DEFAULT 0" for c in DEPT_COUNTERS)
DEPT = Table("dept_monthly", f"department {{KEY}} NOT NULL, month {{KEY}} NOT NULL, {_DEPT_INTS}, "
                             "PRIMARY KEY (department, month)")
CASES = Table("perf_cases", "case_id {KEY} PRIMARY KEY, state TEXT NOT NULL")


def _dump(state: State) -> str:
    return json.dumps(state, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _increments(table: str, keys: Sequence[str], counters: Sequence[str]) -> str:
    sets = ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in counters)
    return f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {sets}"


class PerformanceBatch(Batch):
    def __init__(self, model: StaffPerformance, events: Sequence[Event]) -> None:
        self.model = model
        self.states: dict[str, State | None] = {}
        self.dirty: set[str] = set()
        self.deltas = Deltas()
        opened = {e.aggregate_id for e in events if e.type == "Case.Opened"}
        wanted = sorted({e.aggregate_id for e in events} - opened)
        table = model.view.tables["perf_cases"]
        for ids in chunks(wanted):
            for r in model.view.read(f"SELECT case_id, state FROM {table} WHERE case_id IN "
                                     f"({placeholders(len(ids))})", ids):
                self.states[r["case_id"]] = json.loads(r["state"])
        for e in events:
            self.apply(e)

    def apply(self, e: Event) -> None:
        before = self.states.get(e.aggregate_id)
        if before is not None and "mirror_of" in before:
            if e.type == "Case.DeadlineBreached":
                origin = self._state(before["mirror_of"])
                if origin is not None and "mirror_of" not in origin:
                    self.model.tracker.mirror_breach(origin, e, self.deltas)
                    self.dirty.add(before["mirror_of"])
            return
        state = self.model.tracker.apply(before, e, self.deltas)
        if state is not None:
            self.states[e.aggregate_id] = state
            self.dirty.add(e.aggregate_id)

    def _state(self, case_id: str) -> State | None:
        if case_id not in self.states:
            table = self.model.view.tables["perf_cases"]
            rows = self.model.view.read(f"SELECT state FROM {table} WHERE case_id = ?", [case_id])
            self.states[case_id] = json.loads(rows[0]["state"]) if rows else None
        return self.states[case_id]

    def write(self, cursor: Any) -> None:
        view, t = self.model.view, self.model.view.tables
        view.upsert_rows(cursor, t["perf_cases"], ("case_id", "state"),
                         [(i, _dump(self.states[i])) for i in sorted(self.dirty)],  # type: ignore[arg-type]
                         "ON CONFLICT (case_id) DO UPDATE SET state = excluded.state")
        view.upsert_rows(cursor, t["staff_daily"], ("staff_id", "day", *STAFF_COUNTERS),
                         [(*key, *(c[n] for n in STAFF_COUNTERS)) for key, c in sorted(self.deltas.staff.items())
                          if any(c[n] for n in STAFF_COUNTERS)],
                         _increments(t["staff_daily"], ("staff_id", "day"), STAFF_COUNTERS))
        view.upsert_rows(cursor, t["staff_service_daily"], ("staff_id", "day", *SERVICE_COUNTERS),
                         [(*key, *(c[n] for n in SERVICE_COUNTERS)) for key, c in sorted(self.deltas.staff.items())
                          if any(c[n] for n in SERVICE_COUNTERS)],
                         _increments(t["staff_service_daily"], ("staff_id", "day"), SERVICE_COUNTERS))
        view.upsert_rows(cursor, t["dept_monthly"], ("department", "month", *DEPT_COUNTERS),
                         [(*key, *(c[n] for n in DEPT_COUNTERS)) for key, c in sorted(self.deltas.dept.items())],
                         _increments(t["dept_monthly"], ("department", "month"), DEPT_COUNTERS))
        view.insert_rows(cursor, t["staff_durations"], ("position", "kind", "staff_id", "day", "case_id", "seconds"),
                         self.deltas.durations)


class StaffPerformance(ReadModel):
    name = "staff_performance"
    tables = (DAILY, DURATIONS, DEPT, CASES, SERVICE)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tracker = KpiTracker(self.context.zone, self.context.closed_states, self.context.kpis)

    def batch(self, events: Sequence[Event]) -> Batch:
        return PerformanceBatch(self, events)


# ------------------------------------------------------------------- queries
def staff_report(view_read: Any, tables: dict[str, str], staff_id: str, date_from: str, date_to: str,
                 by: str | None = None) -> dict[str, Any]:
    """KPIs of one staff member over ``date_from``..``date_to`` (inclusive days)."""
    rows = view_read(f"SELECT * FROM {tables['staff_daily']} WHERE staff_id = ? AND day >= ? AND day <= ? "
                     "ORDER BY day", [staff_id, date_from, date_to])
    durations = view_read(f"SELECT kind, day, seconds FROM {tables['staff_durations']} "
                          "WHERE staff_id = ? AND day >= ? AND day <= ?", [staff_id, date_from, date_to])
    service = view_read(f"SELECT * FROM {tables['staff_service_daily']} WHERE staff_id = ? AND day >= ? "
                        "AND day <= ? ORDER BY day", [staff_id, date_from, date_to])
    total: Counter[str] = Counter()
    per: defaultdict[str, Counter[str]] = defaultdict(Counter)
    for r in [*rows, *service]:
        counts = Counter({c: int(r[c]) for c in (*STAFF_COUNTERS, *SERVICE_COUNTERS) if c in r})
        total.update(counts)
        if by:
            per[period_of(r["day"], by)].update(counts)
    all_durations: defaultdict[str, list[float]] = defaultdict(list)
    per_durations: defaultdict[str, defaultdict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for d in durations:
        all_durations[d["kind"]].append(float(d["seconds"]))
        if by:
            per_durations[period_of(d["day"], by)][d["kind"]].append(float(d["seconds"]))
    report: dict[str, Any] = {"staff_id": staff_id, "from": date_from, "to": date_to,
                              **figures(total, all_durations)}
    if by:
        periods = sorted(set(per) | set(per_durations))
        report["by"] = by
        report["periods"] = [{"period": p, **figures(per[p], per_durations[p])} for p in periods]
    return report


def department_report(view_read: Any, table: str, department: str, month: str,
                      targets: Mapping[str, float]) -> dict[str, Any]:
    """The monthly complaint report; ``targets`` (rate name -> percent) come from
    the complaint case type's ``report_targets``; a rate without one has
    ``..._target_pct`` and ``..._met`` None."""
    rows = view_read(f"SELECT * FROM {table} WHERE department = ? AND month = ?", [department, month])
    c = {k: int(rows[0][k]) if rows else 0 for k in DEPT_COUNTERS}
    rates = {"handling_rate_pct": pct(c["handled"], c["received"]),
             "return_visit_rate_pct": pct(c["visited"], c["handled"]),
             "satisfaction_rate_pct": pct(c["satisfied"], c["visited"])}
    report: dict[str, Any] = {
        "department": department, "month": month,
        "complaints_received": c["received"], "complaints_handled": c["handled"],
        "complaints_return_visited": c["visited"], "complaints_satisfied": c["satisfied"],
        "valid_complaints": c["valid"],
    }
    for name, value in rates.items():
        target = targets.get(name)
        base = name.removesuffix("_pct")
        report[name] = value
        report[f"{base}_target_pct"] = target
        report[f"{base}_met"] = None if value is None or target is None else value >= target
    return report

"""The read models there are, by name, and how to open one at a version."""

from __future__ import annotations

from collections.abc import Iterable

from projections.audit_history import AuditHistory
from projections.base import Context, ReadModel
from projections.case_state import CaseState
from projections.staff_performance import StaffPerformance
from projections.views import Store

PROJECTIONS: dict[str, type[ReadModel]] = {
    CaseState.name: CaseState,
    StaffPerformance.name: StaffPerformance,
    AuditHistory.name: AuditHistory,
}


def resolve(names: Iterable[str] | None) -> list[str]:
    """The projection names asked for (all when none); ValueError naming unknown ones."""
    chosen = list(dict.fromkeys(names or ())) or list(PROJECTIONS)
    unknown = [n for n in chosen if n not in PROJECTIONS]
    if unknown:
        raise ValueError(f"unknown projection(s) {unknown}; known: {list(PROJECTIONS)}")
    return chosen


def open_model(store: Store, name: str, version: int, context: Context, *, indexes: bool = True) -> ReadModel:
    """The projection ``name`` on its ``version`` tables (created if missing)."""
    cls = PROJECTIONS[name]
    return cls(store.view(name, version, cls.tables, indexes=indexes), context)

"""The projections there are, by name, and how to open one at a version.

``PROJECTIONS`` are the read models: rebuilt from event 1 by ``projections
rebuild``. ``OUTBOXES`` are projections that must never be replayed (the
webhook outbox: a replay would send every old event again); the workers feed
both (``ALL_PROJECTIONS``).
"""

from __future__ import annotations

from collections.abc import Iterable

from projections.audit_history import AuditHistory
from projections.base import Context, ReadModel
from projections.case_state import CaseState
from projections.staff_performance import StaffPerformance
from projections.views import Store
from projections.webhook_outbox import WebhookOutbox

PROJECTIONS: dict[str, type[ReadModel]] = {
    CaseState.name: CaseState,
    StaffPerformance.name: StaffPerformance,
    AuditHistory.name: AuditHistory,
}
OUTBOXES: dict[str, type[ReadModel]] = {WebhookOutbox.name: WebhookOutbox}
ALL_PROJECTIONS: dict[str, type[ReadModel]] = {**PROJECTIONS, **OUTBOXES}


def resolve(names: Iterable[str] | None, *, outboxes: bool = False) -> list[str]:
    """The projection names asked for (all when none); ValueError naming unknown ones.
    Without ``outboxes`` (a rebuild, a read) only the read models: naming an outbox is an error."""
    known = ALL_PROJECTIONS if outboxes else PROJECTIONS
    chosen = list(dict.fromkeys(names or ())) or list(known)
    never = [n for n in chosen if n in OUTBOXES and not outboxes]
    if never:
        raise ValueError(f"{never} is the webhook outbox, which is never rebuilt (a rebuild would send every old "
                         f"event again; docs/WEBHOOKS.md); read models: {list(PROJECTIONS)}")
    unknown = [n for n in chosen if n not in known]
    if unknown:
        raise ValueError(f"unknown projection(s) {unknown}; known: {list(known)}")
    return chosen


def open_model(store: Store, name: str, version: int, context: Context, *, indexes: bool = True) -> ReadModel:
    """The projection ``name`` on its ``version`` tables (created if missing)."""
    cls = ALL_PROJECTIONS[name]
    return cls(store.view(name, version, cls.tables, indexes=indexes), context)

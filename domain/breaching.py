"""The SLA pass over one case: clocks that fell due are recorded as breached, with what a breach does.

``record_breaches`` records each clock due before ``now`` (default: the
server clock; never later) as breached, once, dated by the server clock;
the case type's ``on_breach`` moves and escalations happen in the case
(``Case.record_breaches``), and what a breach does across cases here: a
unique rule's key is released when the case leaves its states, and
``after = "@breach:X"`` follow-ups are opened — all in one transaction.
A busy case is left to the next pass.
"""

from __future__ import annotations

import copy
from datetime import datetime
from uuid import UUID

from domain.application import CaseTrail, typed
from domain.model.actor import Actor, CommandContext, event_meta
from domain.model.errors import InvalidFields, VersionConflict
from domain.model.uniqueness import plan_keys
from domain.storage.retry import retrying


def record_breaches(app: CaseTrail, case_id: UUID | str, now: datetime | None = None) -> list[str]:
    """One SLA pass over one case: record each clock due before ``now`` (default:
    the server clock; never later) as breached, once, dated by the server clock."""
    actor = Actor.system("sla-monitor")
    clock = app.clock()
    if now is not None and now > clock:
        raise InvalidFields(f"now ({now.isoformat()}) is later than the server clock ({clock.isoformat()}): "
                            "breaches are recorded as they happen, never ahead of time",
                            errors=[{"field": "now", "problem": "is later than the server clock"}])

    def once(_fresh: bool) -> list[str]:
        case = app.get_case(case_id)
        at = app.clock()  # every event is dated by the server clock; `now` only selects
        ct = app.registry.get(case.case_type)
        previous = case.status
        before = (previous, copy.deepcopy(case.context())) if ct.unique else None
        meta = typed(event_meta(actor, at, CommandContext()), ct)
        breached = case.record_breaches(ct, now or at, meta, holder=app.directory.holder,
                                        calendar=app.calendar)
        if breached:  # what a breach does across cases: release keys, open follow-ups (after = "@breach:X")
            others = plan_keys(ct, case, before, app._unique_key, meta) if ct.unique else []
            cause = CommandContext("", f"{case.id}:{case.version}")
            for name in breached:
                others += app._policies(case, ct, f"@breach:{name}", previous, at, cause, actor=actor)
            app.save(case, *others)
        return list(breached)

    with app._writers(("case", str(case_id))):
        try:
            return retrying(once, give_up=lambda: VersionConflict("breaches not recorded: busy case"))
        except VersionConflict:
            return []  # the next pass records them

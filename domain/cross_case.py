"""Cross-case policies inside one command: what an action on one case does to others.

Saved in the same transaction as the case (``CaseTrail._policies``):

- ``follow_ups_for``: an action opens linked cases (a return visit after a
  repair order is closed), each with its number, a link both ways and its
  uniqueness keys;
- ``record_on_link``: an outcome recorded on the origin (a repair order's
  ``record_return_visit``) is recorded on its open linked case by the same
  person; without one the origin follows up on the outcome itself;
- ``report_outcome``: a linked case that just ended (a return visit) tells its
  origin the outcome, and the origin may act on it (reopen, rework).

What each case type does is data (its ``follow_ups``, ``records_on_link``,
``on_linked_outcome``); this module only carries it out.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from domain.model.actor import POLICY, Actor, CommandContext, event_meta, typed
from domain.model.case import Case
from domain.model.policies import follow_action_data, follow_ups_for, origin_link, outcome_to_report
from domain.model.uniqueness import plan_keys

if TYPE_CHECKING:
    from domain.application import CaseTrail


def cross_case_effects(app: CaseTrail, case: Case, ct: Any, action: str, previous: str, at: datetime,
                       cause: CommandContext, actor: Actor = POLICY) -> list[Any]:
    """Aggregates changed by cross-case policies (saved with the case)."""
    out: list[Any] = []
    meta = event_meta(POLICY, at, cause)
    types = app._types
    for f in follow_ups_for(case, ct, action, types):
        target = types[f.open_type]
        series = app._series(target, at, meta)
        number = app._allocate(series, target, at, meta)
        linked = Case.open(case_type=target, actor=POLICY, number=number, title=f.title, customer=f.customer,
                           fields=f.fields, channel=None, at=at, calendar=app.calendar, meta=typed(meta, target),
                           holder=app.directory.holder,
                           links=[{"rel": f.back_link, "case_id": str(case.id), "number": case.number}])
        case.add_link(f.link, linked.id, number, typed(meta, ct))
        out += [linked, series, *plan_keys(target, linked, None, app._unique_key, typed(meta, target))]
    spec = ct.action(action)
    if spec is not None and spec.records_on_link:
        out += record_on_link(app, case, ct, spec, at, cause, actor)
    origin = report_outcome(app, case, ct, previous, at, meta)
    if origin is not None:
        out.append(origin)
    return out

def report_outcome(app: CaseTrail, case: Case, ct: Any, previous: str, at: datetime, meta: dict[str, Any],
                   origin: Case | None = None) -> Case | None:
    """A just-ended linked case (a return visit) tells its origin the outcome; the origin
    may act on it (reopen, rework). Returns the origin changed, if any."""
    outcome = outcome_to_report(case, ct, previous)
    link = origin_link(case) if outcome else None
    if not outcome or not link:
        return None
    if origin is None:
        origin = app.get_case(link["case_id"])
    oct_ = app.registry.get(origin.case_type)
    rel = next((x["rel"] for x in origin.links if x["case_id"] == str(case.id)), ct.name)
    # who recorded the outcome on the linked case (KPIs credit them), and the customer's score
    recorder = next((e.meta.get("actor") for e in reversed(case.pending_events)
                     if getattr(e, "action", None)), None)
    score = case.fields.get("score")
    follow = origin.record_linked_outcome(oct_, rel, case.id, outcome, at, app.calendar, meta,
                                          recorded_by=recorder, score=score if isinstance(score, int) else None)
    follow_up(app, origin, oct_, follow, f"{case.number}: customer {outcome}", at, meta)
    return origin

def follow_up(app: CaseTrail, case: Case, ct: Any, follow: str | None, reason: str, at: datetime,
              meta: dict[str, Any]) -> None:
    """The origin's own follow-up action on an outcome (``follow``), when its state allows it."""
    spec = ct.action(follow) if follow else None
    if spec and case.state_allows(spec, ct):
        case.take(case_type=ct, action=follow, data=follow_action_data(ct, follow, reason), actor=POLICY,
                  at=at, calendar=app.calendar, meta=meta, known_staff=app.staff_exists,
                  holder=app.directory.holder)

def record_on_link(app: CaseTrail, case: Case, ct: Any, spec: Any, at: datetime, cause: CommandContext,
                   actor: Actor) -> list[Any]:
    """An outcome recorded on the origin (a repair order's ``record_return_visit``) is
    recorded on its open linked case (the return visit), by the same person; without
    one, the origin follows up on the outcome itself (unsatisfied: rework)."""
    rule = spec.records_on_link
    values = next((dict(e.data) for e in reversed(case.pending_events)
                   if getattr(e, "action", None) == spec.name), {})
    for link in reversed(case.links):
        if link["rel"] != rule["link"]:
            continue
        linked = app.get_case(link["case_id"])
        lct = app.registry.get(linked.case_type)
        lspec = lct.action(rule["action"])
        if lspec is None or not linked.state_allows(lspec, lct):
            continue
        previous = linked.status
        data = {k: v for k, v in values.items() if k in lspec.fields}
        linked.take(case_type=lct, action=rule["action"], data=data, actor=POLICY, at=at,
                    calendar=app.calendar, meta=event_meta(actor, at, cause), known_staff=app.staff_exists,
                    holder=app.directory.holder)
        report_outcome(app, linked, lct, previous, at, event_meta(POLICY, at, cause), origin=case)
        return [linked]
    outcome = values.get("result")
    follow = (ct.on_linked_outcome or {}).get("actions", {}).get(outcome) if outcome else None
    follow_up(app, case, ct, follow, f"return visit: customer {outcome}", at, event_meta(POLICY, at, cause))
    return []

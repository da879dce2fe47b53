"""Erasing a data subject's personal data (issue 21): destroy the key, record the erasure.

``erase_subject`` records an ``Erasure.Erased`` event (who, why, when, the
destroyed key's id, which cases; no personal data) and then deletes the
subject's key row (``domain.storage.keys.SubjectKeys.destroy``). The event is
saved first: if destroying the key then fails, running the erasure again finds
the erasure of that key recorded and only destroys the key, so nothing is left
half-done and nothing is recorded twice. Afterwards every read of the subject's
cases opens their sealed values as ``"[erased]"`` (``domain.storage.sealing``);
this process forgets its cached copies of those cases at once, other processes
within ``domain.storage.keys.KEY_TTL`` seconds (``CaseTrail.get_case``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

import structlog
from eventsourcing.application import AggregateNotFoundError

from domain.model.actor import Actor, CommandContext, event_meta
from domain.model.erasure import Erasure, check_erasure
from domain.model.errors import AlreadyErased, CaseNotFound, CustomerNotFound, InvalidFields
from domain.storage.sealing import subject_of

log = structlog.get_logger("casetrail.erasure")

if TYPE_CHECKING:
    from domain.application import CaseTrail


@dataclass(frozen=True)
class ErasureResult:
    subject: str
    cases: list[str]
    key_id: str | None
    position: int | None

    def as_dict(self) -> dict[str, Any]:
        return {"subject": self.subject, "cases": self.cases, "key_id": self.key_id, "position": self.position}


def erase_customer(app: CaseTrail, actor: Actor, customer_id: Any, reason: Any,
                   ctx: CommandContext = CommandContext()) -> ErasureResult:
    """Erase a customer's personal data (422 bad input, 404 unknown, 409 erased already)."""
    check_erasure(customer_id, reason)
    return erase_subject(app, actor, f"customer:{customer_id.strip()}", reason.strip(), ctx,
                         what=f"customer {customer_id.strip()!r}")


def erase_case(app: CaseTrail, actor: Actor, case_id: Any, reason: Any,
               ctx: CommandContext = CommandContext()) -> ErasureResult:
    """Erase the personal data of a case without a customer id (its own data subject)."""
    check_erasure(str(case_id), reason)
    case = app.get_case(case_id)
    subject = subject_of(case.customer, case.id)
    if not subject.startswith("case:"):
        raise InvalidFields(f"case {case.number} belongs to customer {case.customer['id']!r}: erase the customer",
                            errors=[{"field": "case_id", "problem": "has a customer id: erase the customer"}])
    return erase_subject(app, actor, subject, reason.strip(), ctx, what=f"case {case.number}")


def erase_subject(app: CaseTrail, actor: Actor, subject: str, reason: str,
                  ctx: CommandContext = CommandContext(), *, what: str | None = None) -> ErasureResult:
    keys = app.subject_keys
    cases = [c for c in keys.cases(subject) if _exists(app, c)]
    key_id = keys.current_key_id(subject)
    if key_id is None:
        if cases:
            raise AlreadyErased(f"the personal data of {what or subject} was erased already", cases=cases)
        raise CustomerNotFound(f"no personal data is held for {what or subject} under a data key (cases recorded "
                               "before personal fields were sealed hold plain text that erasure cannot reach: "
                               "docs/PRIVACY.md)")
    try:
        record: Erasure = app.load(Erasure.create_id(subject))
    except AggregateNotFoundError:
        record = Erasure(subject=subject, meta=event_meta(actor, app.clock(), ctx))
    position = None
    if not record.erased_key(key_id):
        paths: set[str] = set()
        for case_id in cases:
            personal = app.sealer.personal(app.get_case(case_id).case_type)
            paths |= personal.paths if personal is not None else set()
        record.erased(subject=subject, reason=reason, key_id=key_id, cases=cases, paths=sorted(paths),
                      meta=event_meta(actor, app.clock(), ctx))
        recordings = app.save(record)
        position = max((r.notification.id for r in recordings), default=None)
    keys.destroy(subject)
    for case_id in cases:
        app.forget_case(UUID(case_id))
    log.info("personal data erased", subject=subject, cases=len(cases), key_id=key_id, by=actor.id,
             position=position)
    return ErasureResult(subject=subject, cases=cases, key_id=key_id, position=position)


RETENTION = Actor.system("retention")


def erase_by_retention(app: CaseTrail, case_ids: Iterable[str], now: datetime) -> list[ErasureResult]:
    """Erase the subjects of closed cases whose type's retention period has passed (``[retention]``,
    ``domain.model.retention``), when all of the subject's cases are closed and past their own period."""
    done: list[ErasureResult] = []
    seen: set[str] = set()
    for case_id in case_ids:
        try:
            case = app.get_case(case_id)
        except CaseNotFound:
            continue
        subject = subject_of(case.customer, case.id)
        if subject in seen or not _expired(app, case, now):
            continue
        seen.add(subject)
        if app.subject_keys.current_key_id(subject) is None:
            continue  # erased already
        others = [c for c in app.subject_keys.cases(subject) if _exists(app, c)]
        if not all(_expired(app, app.get_case(c), now) for c in others):
            continue  # an open case, or one still within its period, keeps the subject's data
        ct = app.registry.get(case.case_type)
        assert ct.retention is not None
        reason = f"retention: {ct.name} erase_customer_after {ct.retention.erase_customer_after} after closing"
        try:
            done.append(erase_subject(app, RETENTION, subject, reason))
        except (AlreadyErased, CustomerNotFound):
            continue  # another worker erased it in the meantime
    return done


def _expired(app: CaseTrail, case: Any, now: datetime) -> bool:
    """A closed case of a type with a retention rule whose period (from its last event) has passed."""
    ct = app.registry.get(case.case_type)
    if ct.retention is None or ct.is_open_state(case.status):
        return False
    return datetime.fromisoformat(case.updated_at) + ct.retention.period <= now


def _exists(app: CaseTrail, case_id: str) -> bool:
    try:
        app.get_case(case_id)
    except CaseNotFound:  # a case whose save failed after its key was made
        return False
    return True

"""The casetrail application: one method per use case, on the eventsourcing library.

``CaseTrail`` loads aggregates, calls the domain, and saves everything a
command produced in one transaction (the case, a linked case, the number
series, an idempotency record). Stored events are msgpack and hash-chained
(``ChainedMapper``). Time comes from one injectable clock. Unconditional
actions retry on a concurrent write; conditional ones raise
``VersionConflict``; this process's writers of one case (or one number
series) queue on a lock first (``domain.locks``). Commands decide on this
process's copy of the case as it last committed it (``domain.committed``:
no read, never recorded on a stale state); cases are snapshotted every 100
events.
"""

from __future__ import annotations

import logging
import random
import time
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterator, Mapping
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError, Mapper, PersistenceError, Transcoder

from domain.actor import Actor, CommandContext, event_meta
from domain.calendar import BusinessCalendar, load_calendar
from domain.case import Case
from domain.registry import CaseTypeRegistry
from domain.chain import ChainedMapper, project_with_head
from domain.committed import CommittedCases
from domain.directory import StaffDirectory
from domain.errors import (
    AuthenticationFailed, CaseNotFound, DomainError, IdempotencyMismatch, InvalidFields, RoleNotAllowed,
    StaffExists, StaffNotFound, VersionConflict,
)
from domain.history import case_history
from domain.idempotency import IdempotencyRecord
from domain.locks import KeyedLocks
from domain.numbering import NumberSeries, series_key
from domain.policies import follow_action_data, follow_ups_for, origin_link, outcome_to_report
from domain.schema import SchemaLocked
from domain.storage import database_url, env_for_url
from domain.staff import ApiToken, Staff, check_staff_fields, new_token, token_hash
from domain.transcoder import MsgpackTranscoder

POLICY = Actor.system("policy")
# A command that keeps losing write races to other processes is tried again
# (after a random, growing pause) for up to RETRY_SECONDS, then refused (409).
RETRY_SECONDS, MAX_ATTEMPTS = 5.0, 500


def attempts() -> Iterator[int]:
    deadline = time.monotonic() + RETRY_SECONDS
    for attempt in range(MAX_ATTEMPTS):
        yield attempt
        if time.monotonic() > deadline:
            return


def backoff(attempt: int) -> None:
    """After losing a write race to another process: wait a random, growing
    while (at most 50 ms) so that the competitors do not collide again in step."""
    time.sleep(random.uniform(0, min(0.05, 0.001 * 2 ** attempt)))
log = logging.getLogger(__name__)


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


class CaseTrail(SchemaLocked, Application[UUID]):
    name = "CaseTrail"
    # A long case loads from its latest snapshot plus at most 100 events; the
    # projector puts the hash chain's head (head_hash) into each snapshot.
    snapshotting_intervals = {Case: 100}
    snapshotting_projectors = {Case: project_with_head}

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        *,
        registry: CaseTypeRegistry | None = None,
        calendar: BusinessCalendar | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.registry = registry or CaseTypeRegistry.load()
        self.calendar = calendar or load_calendar()
        self.clock = clock
        self._types = {ct.name: ct for ct in self.registry}
        super().__init__(dict(env) if env else None)
        # Commands decide on copies of the cases committed last (domain/committed.py).
        size = int(self.env.get(self.AGGREGATE_CACHE_MAXSIZE) or 0)
        self._committed = CommittedCases(size) if size > 0 else None
        self._writers = KeyedLocks()  # domain/locks.py
        self.directory = StaffDirectory(self)  # who an escalation reaches (domain/directory.py)

    @classmethod
    def from_url(cls, url: str | None = None, **kwargs: Any) -> "CaseTrail":
        """The application on ``url`` (default: ``CASETRAIL_DATABASE_URL``)."""
        env = env_for_url(url or database_url())
        env.setdefault("AGGREGATE_CACHE_MAXSIZE", "5000")
        return cls(env, **kwargs)

    # ------------------------------------------------------------ plumbing
    def construct_transcoder(self) -> Transcoder:
        return MsgpackTranscoder()

    def construct_mapper(self) -> Mapper[UUID]:
        return self.factory.mapper(transcoder=self.construct_transcoder(), mapper_class=ChainedMapper)

    def save(self, *objs: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        """Save aggregates, continuing each one's hash chain."""
        aggregates = [o for o in objs if o is not None]
        heads = {a.id: getattr(a, "head_hash", None) for a in aggregates}
        assert isinstance(self.mapper, ChainedMapper)
        with self.mapper.chaining(heads):
            recordings = super().save(*aggregates, **kwargs)
        # The notification position of this command, so that callers (the API's
        # X-Casetrail-Position) can tell read-model clients what to wait for.
        position = max((r.notification.id for r in recordings), default=None)
        for a in aggregates:
            a.head_hash = heads.get(a.id)
            a.recorded_position = position
            if self._committed is not None and isinstance(a, Case):
                self._committed.remember(a)
        return recordings

    def take_snapshot(self, aggregate_id: UUID, version: int | None = None,
                      projector_func: Any = project_with_head) -> None:
        """Snapshots only speed up loading: failing to take one never fails a command."""
        try:
            super().take_snapshot(aggregate_id, version, projector_func)
        except PersistenceError as e:
            log.warning("snapshot of %s at version %s not taken: %s", aggregate_id, version, e)

    def load(self, aggregate_id: UUID, version: int | None = None) -> Any:
        return self.repository.get(aggregate_id, version=version, projector_func=project_with_head)

    def _now(self, actor: Actor, ctx: CommandContext) -> tuple[datetime, bool]:
        if ctx.occurred_at is None:
            return self.clock(), False
        if not actor.is_importer:
            raise RoleNotAllowed("occurred_at may only be supplied by an importer", allowed_roles=["importer"])
        if ctx.occurred_at > self.clock() + timedelta(minutes=5):
            raise InvalidFields("occurred_at is in the future",
                                errors=[{"field": "occurred_at", "problem": "is in the future"}])
        return ctx.occurred_at, True

    # --------------------------------------------------------------- staff
    def register_staff(self, staff_id: str, name: str, department: str, roles: list[str],
                       actor: Actor = Actor.system("admin"), ctx: CommandContext = CommandContext()) -> Staff:
        check_staff_fields(staff_id, name, department, roles)
        staff = Staff(staff_id=staff_id, name=name, department=department, roles=sorted(set(roles)),
                      meta=event_meta(actor, self.clock(), ctx))
        try:
            self.save(staff)
        except IntegrityError:
            raise StaffExists(f"staff member {staff_id!r} exists already") from None
        return staff

    def update_staff(self, staff_id: str, *, name: str | None = None, department: str | None = None,
                     roles: list[str] | None = None, actor: Actor = Actor.system("admin")) -> Staff:
        staff = self.get_staff(staff_id)
        new = (name or staff.name, department or staff.department, sorted(set(roles or staff.roles)))
        check_staff_fields(staff_id, *new)
        staff.update(*new, meta=event_meta(actor, self.clock(), CommandContext()))
        self.save(staff)
        return staff

    def deactivate_staff(self, staff_id: str, actor: Actor = Actor.system("admin")) -> Staff:
        """Lock a staff member out: every token of theirs is refused from now on."""
        staff = self.get_staff(staff_id)
        if staff.active:  # deactivating twice records nothing new
            staff.deactivate(meta=event_meta(actor, self.clock(), CommandContext()))
            self.save(staff)
        return staff

    def get_staff(self, staff_id: str) -> Staff:
        try:
            staff = self.load(Staff.create_id(staff_id))
        except (AggregateNotFoundError, TypeError, ValueError):
            raise StaffNotFound(f"unknown staff member {staff_id!r}") from None
        if not isinstance(staff, Staff):
            raise StaffNotFound(f"unknown staff member {staff_id!r}")
        return staff

    def staff_exists(self, staff_id: str) -> bool:
        try:
            return self.get_staff(staff_id).active
        except StaffNotFound:
            return False

    def issue_token(self, staff_id: str, ttl: timedelta | None = None,
                    actor: Actor = Actor.system("admin")) -> str:
        staff = self.get_staff(staff_id)
        token = new_token()
        now = self.clock()
        expires = (now + ttl).isoformat() if ttl else None
        self.save(ApiToken(token_hash=token_hash(token), staff_id=staff.staff_id, expires_at=expires,
                           meta=event_meta(actor, now, CommandContext())))
        return token

    def revoke_token(self, token: str, actor: Actor = Actor.system("admin")) -> None:
        record = self._token(token)
        if record is None:
            raise AuthenticationFailed("unknown token")
        if record.revoked:  # revoking twice records nothing new
            return
        record.revoke(meta=event_meta(actor, self.clock(), CommandContext()))
        self.save(record)

    def _token(self, token: str) -> ApiToken | None:
        if not isinstance(token, str) or not token.startswith("ct_") or len(token) > 100:
            return None
        h = token_hash(token)
        try:
            record = self.load(ApiToken.create_id(h))
        except AggregateNotFoundError:
            return None
        return record if isinstance(record, ApiToken) else None

    def authenticate(self, token: str) -> Actor:
        record = self._token(token)
        if record is None or not record.valid(token_hash(token), self.clock()):
            raise AuthenticationFailed("missing, unknown, expired or revoked token")
        staff = self.get_staff(record.staff_id)
        if not staff.active:
            raise AuthenticationFailed("staff member is not active")
        return staff.as_actor()

    # --------------------------------------------------------------- cases
    def get_case(self, case_id: UUID | str, version: int | None = None) -> Case:
        try:
            cid = case_id if isinstance(case_id, UUID) else UUID(str(case_id))
            case = self.load(cid, version=version)
        except (AggregateNotFoundError, ValueError, TypeError):
            raise CaseNotFound(f"no case {case_id}" + (f" at version {version}" if version else "")) from None
        if not isinstance(case, Case):
            raise CaseNotFound(f"no case {case_id}")
        if version is not None and case.version != version:  # the library returns the head for version > head
            raise CaseNotFound(f"no case {case_id} at version {version} (its latest version is {case.version})")
        return case

    def case_history(self, case_id: UUID | str) -> list[dict[str, Any]]:
        """Every stored event of the case, oldest first, with hashes."""
        case = self.get_case(case_id)
        return case_history(self.mapper, self.recorder.select_events(case.id))

    def get_case_as_of(self, case_id: UUID | str, as_of: datetime) -> Case:
        """The case as it stood at ``as_of`` (by the events' occurred-at times)."""
        case = self.get_case(case_id)
        version = 0
        for e in self.events.get(case.id):
            if datetime.fromisoformat(e.meta["occurred_at"]) > as_of:
                break
            version = e.originator_version
        if version == 0:
            raise CaseNotFound(f"case {case_id} did not exist at {as_of.isoformat()}")
        return self.get_case(case.id, version=version)

    def open_case(self, actor: Actor, case_type: str, title: Any, customer: Any, fields: Any = None,
                  channel: Any = None, ctx: CommandContext = CommandContext(),
                  idempotency: tuple[str, str] | None = None) -> Case:
        ct = self.registry.get(case_type)
        at, imported = self._now(actor, ctx)
        # this process's openers of one number series queue (domain/locks.py)
        with self._writers(("series", series_key(ct.number_prefix, at, self.calendar.timezone))):
            for attempt in attempts():
                idem = self._idempotent(actor, idempotency)
                if isinstance(idem, Case):
                    return idem
                meta = event_meta(actor, at, ctx, imported=imported)
                series = self._series(ct.number_prefix, at, meta)
                case = Case.open(case_type=ct, actor=actor, number=series.allocate(meta), title=title,
                                 customer=customer, fields=fields, channel=channel, links=[], at=at,
                                 calendar=self.calendar, meta=meta, holder=self.directory.holder)
                records = self._idem_record(actor, idempotency, case, 201, meta)
                try:
                    self.save(case, series, *records)
                    return case
                except IntegrityError:
                    backoff(attempt)
            raise VersionConflict("could not allocate a case number; try again")

    def _series(self, prefix: str, at: datetime, meta: dict[str, Any]) -> NumberSeries:
        key = series_key(prefix, at, self.calendar.timezone)
        try:
            return self.load(NumberSeries.create_id(key))
        except AggregateNotFoundError:
            return NumberSeries(key=key, meta=meta)

    def act(self, actor: Actor, case_id: UUID | str, action: str, data: Any = None, *,
            expected_version: int | None = None, ctx: CommandContext = CommandContext(),
            idempotency: tuple[str, str] | None = None) -> Case:
        if data is not None and not isinstance(data, Mapping):
            raise InvalidFields(f"{action}: expected an object of fields", errors=[])
        at, imported = self._now(actor, ctx)
        fresh = self._committed is None
        with self._writers(("case", str(case_id))):  # this process's writers of the case queue
            for attempt in attempts():
                idem = self._idempotent(actor, idempotency)
                if isinstance(idem, Case):
                    return idem
                kept = None if fresh or self._committed is None else self._committed.checkout(case_id)
                case, copied = (kept, True) if kept is not None else (self.get_case(case_id), False)
                if expected_version is not None and case.version != expected_version:
                    if copied:  # the copy may be behind: decide on the stored case
                        fresh = True
                        continue
                    raise VersionConflict(f"case is at version {case.version}, not {expected_version}",
                                          current_version=case.version)
                ct = self.registry.get(case.case_type)
                previous = case.status
                meta = event_meta(actor, at, ctx, imported=imported)
                try:
                    case.take(case_type=ct, action=action, data=data, actor=actor, at=at, calendar=self.calendar,
                              meta=meta, known_staff=self.staff_exists, holder=self.directory.holder)
                    cause = CommandContext(ctx.correlation_id, f"{case.id}:{case.version}")
                    others = self._policies(case, ct, action, previous, at, cause, actor=actor)
                except DomainError:
                    if not copied:
                        raise
                    fresh = True  # refused on a copy that may be behind: decide again on the stored case
                    continue
                records = self._idem_record(actor, idempotency, case, 200, meta)
                try:
                    self.save(case, *others, *records)
                    return case
                except IntegrityError:
                    fresh = True
                    if expected_version is None:
                        backoff(attempt)
                    if self._committed is not None:
                        self._committed.forget(case.id)  # the copy is behind
                    if expected_version is not None:
                        current = self.get_case(case_id).version
                        raise VersionConflict(f"case moved on to version {current}",
                                              current_version=current) from None
            raise VersionConflict("too many concurrent writes on this case; try again",
                                  current_version=self.get_case(case_id).version)

    def _policies(self, case: Case, ct: Any, action: str, previous: str, at: datetime,
                  cause: CommandContext, actor: Actor = POLICY) -> list[Any]:
        """Aggregates changed by cross-case policies (saved with the case)."""
        out: list[Any] = []
        meta = event_meta(POLICY, at, cause)
        types = self._types
        for f in follow_ups_for(case, ct, action, types):
            target = types[f.open_type]
            series = self._series(target.number_prefix, at, meta)
            number = series.allocate(meta)
            linked = Case.open(case_type=target, actor=POLICY, number=number, title=f.title, customer=f.customer,
                               fields=f.fields, channel=None, at=at, calendar=self.calendar, meta=meta,
                               holder=self.directory.holder, links=[{"rel": "origin", "case_id": str(case.id), "number": case.number}])
            case.add_link(f.link, linked.id, number, meta)
            out += [linked, series]
        spec = ct.action(action)
        if spec is not None and spec.records_on_link:
            out += self._record_on_link(case, ct, spec, at, cause, actor)
        origin = self._report_outcome(case, ct, previous, at, meta)
        if origin is not None:
            out.append(origin)
        return out

    def _report_outcome(self, case: Case, ct: Any, previous: str, at: datetime, meta: dict[str, Any],
                        origin: Case | None = None) -> Case | None:
        """A just-ended linked case (a return visit) tells its origin the outcome; the origin
        may act on it (reopen, rework). Returns the origin changed, if any."""
        outcome = outcome_to_report(case, ct, previous)
        link = origin_link(case) if outcome else None
        if not outcome or not link:
            return None
        if origin is None:
            origin = self.get_case(link["case_id"])
        oct_ = self.registry.get(origin.case_type)
        rel = next((x["rel"] for x in origin.links if x["case_id"] == str(case.id)), ct.name)
        # who recorded the outcome on the linked case (KPIs credit them), and the customer's score
        recorder = next((e.meta.get("actor") for e in reversed(case.pending_events)
                         if getattr(e, "action", None)), None)
        score = case.fields.get("score")
        follow = origin.record_linked_outcome(oct_, rel, case.id, outcome, at, self.calendar, meta,
                                              recorded_by=recorder, score=score if isinstance(score, int) else None)
        self._follow(origin, oct_, follow, f"{case.number}: customer {outcome}", at, meta)
        return origin

    def _follow(self, case: Case, ct: Any, follow: str | None, reason: str, at: datetime,
                meta: dict[str, Any]) -> None:
        spec = ct.action(follow) if follow else None
        if spec and case.state_allows(spec, ct):
            case.take(case_type=ct, action=follow, data=follow_action_data(ct, follow, reason), actor=POLICY,
                      at=at, calendar=self.calendar, meta=meta, known_staff=self.staff_exists, holder=self.directory.holder)

    def _record_on_link(self, case: Case, ct: Any, spec: Any, at: datetime, cause: CommandContext,
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
            linked = self.get_case(link["case_id"])
            lct = self.registry.get(linked.case_type)
            lspec = lct.action(rule["action"])
            if lspec is None or not linked.state_allows(lspec, lct):
                continue
            previous = linked.status
            data = {k: v for k, v in values.items() if k in lspec.fields}
            linked.take(case_type=lct, action=rule["action"], data=data, actor=POLICY, at=at,
                        calendar=self.calendar, meta=event_meta(actor, at, cause), known_staff=self.staff_exists, holder=self.directory.holder)
            self._report_outcome(linked, lct, previous, at, event_meta(POLICY, at, cause), origin=case)
            return [linked]
        outcome = values.get("result")
        follow = (ct.on_linked_outcome or {}).get("actions", {}).get(outcome) if outcome else None
        self._follow(case, ct, follow, f"return visit: customer {outcome}", at, event_meta(POLICY, at, cause))
        return []

    def import_case(self, actor: Actor, body: Any, ctx: CommandContext = CommandContext(),
                    idempotency: tuple[str, str] | None = None) -> Case:
        """A legacy case with its whole history, in one transaction (``domain.importing``)."""
        from domain.importing import import_case

        return import_case(self, actor, body, ctx, idempotency)

    # --------------------------------------------------------- idempotency
    def _idempotent(self, actor: Actor, idempotency: tuple[str, str] | None) -> Case | None:
        if idempotency is None:
            return None
        key, request = idempotency
        try:
            record = self.load(IdempotencyRecord.create_id(actor.id, key))
        except AggregateNotFoundError:
            return None
        if record.request != request:
            raise IdempotencyMismatch(f"Idempotency-Key {key!r} was used with a different request")
        case = self.get_case(record.case_id, version=record.case_version)
        case.replayed_status = record.status  # type: ignore[attr-defined]
        return case

    def _idem_record(self, actor: Actor, idempotency: tuple[str, str] | None, case: Case,
                     status: int, meta: dict[str, Any]) -> list[IdempotencyRecord]:
        if idempotency is None:
            return []
        key, request = idempotency
        return [IdempotencyRecord(actor_id=actor.id, key=key, request=request, status=status,
                                  case_id=str(case.id), case_version=case.version, meta=meta)]

    # ----------------------------------------------------------------- SLA
    def record_breaches(self, case_id: UUID | str, now: datetime | None = None) -> list[str]:
        """One SLA pass over one case: record each clock due before ``now`` (default:
        the server clock; never later) as breached, once, dated by the server clock."""
        actor = Actor.system("sla-monitor")
        clock = self.clock()
        if now is not None and now > clock:
            raise InvalidFields(f"now ({now.isoformat()}) is later than the server clock ({clock.isoformat()}): "
                                "breaches are recorded as they happen, never ahead of time",
                                errors=[{"field": "now", "problem": "is later than the server clock"}])
        with self._writers(("case", str(case_id))):
            for attempt in attempts():
                case = self.get_case(case_id)
                at = self.clock()  # every event is dated by the server clock; `now` only selects
                breached = case.record_breaches(self.registry.get(case.case_type), now or at,
                                                event_meta(actor, at, CommandContext()), holder=self.directory.holder)
                if not breached:
                    return []
                try:
                    self.save(case)
                    return breached
                except IntegrityError:
                    backoff(attempt)
        return []

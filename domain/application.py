"""The casetrail application: one method per use case, on the eventsourcing library.

Each command is load -> decide -> save and returns a ``CommandResult``
(the case, the notification position of its save, and whether it was an
idempotent replay): ``open`` and ``take_action`` (``open_case`` and
``act`` return just the case). Everything a command produced is saved in
one transaction (the case, a linked case, the number series, an
idempotency record), hash-chained (``domain.storage.chained``). Time comes
from one injectable clock. Lost write races are decided again
(``domain.storage.retry``: unconditional commands after a random pause,
conditional ones raise ``VersionConflict``); this process's writers of one
case (or one number series) queue on a lock first
(``domain.storage.locks``). Commands decide on this process's copy of the
case as it last committed it (``domain.storage.committed``: no read, never
recorded on a stale state); cases are snapshotted every 100 events.
"""

from __future__ import annotations

import copy
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import structlog
from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import PersistenceError

from domain.audit import ledger as _ledger  # noqa: F401  (its stored events must decode in every process)
from domain.audit.access import AccessLedger
from domain.authcache import AuthCache
from domain.cross_case import cross_case_effects
from domain.directory import StaffDirectory
from domain.keyed import Keyed
from domain.model.actor import POLICY, Actor, CommandContext, event_meta, typed
from domain.model.calendar import BusinessCalendar, load_calendar
from domain.model.case import Case
from domain.model.casetype import CaseType
from domain.model.errors import (
    CaseNotFound,
    DomainError,
    InvalidFields,
    RoleNotAllowed,
    VersionConflict,
)
from domain.model.idempotency import retention_of
from domain.model.moments import utc_now
from domain.model.numbering import NumberSeries, render_number, series_key
from domain.model.registry import CaseTypeRegistry
from domain.model.uniqueness import BlindingLoader, UniqueKey, check_requirements, plan_keys
from domain.staffing import StaffUseCases
from domain.storage.chain import ChainedMapper, project_with_head
from domain.storage.chained import ChainedApplication, position_of
from domain.storage.committed import CommittedCases
from domain.storage.database import StorageConfigError, database_url, env_for_url
from domain.storage.history import case_history
from domain.storage.keys import SubjectKeys, master_key, url_of
from domain.storage.locks import KeyedLocks
from domain.storage.retry import Stale, retrying
from domain.storage.sealing import ERASED, Sealer, subject_of


@dataclass(frozen=True)
class CommandResult:
    """What a command did: the case as it now stands, the notification position of the save
    (None for a replay), and for a request replayed by its Idempotency-Key the status first given."""

    case: Case
    position: int | None
    replayed_status: int | None = None

    @property
    def replayed(self) -> bool:
        return self.replayed_status is not None
log = structlog.get_logger("casetrail.application")


class CaseTrail(StaffUseCases, ChainedApplication):
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
        self.registry = registry or CaseTypeRegistry.from_env()
        self.calendar = calendar or load_calendar()
        self.clock = clock
        self._types = {ct.name: ct for ct in self.registry}
        try:  # how long an Idempotency-Key binds its answer (domain/model/idempotency.py)
            self.idempotency_retention = retention_of(os.environ.get("CASETRAIL_IDEMPOTENCY_RETENTION"))
        except ValueError as e:
            raise StorageConfigError(f"CASETRAIL_IDEMPOTENCY_RETENTION: {e}") from None
        super().__init__(dict(env) if env else None)
        # Commands decide on copies of the cases committed last (domain/committed.py).
        size = int(self.env.get(self.AGGREGATE_CACHE_MAXSIZE) or 0)
        self._committed = CommittedCases(size) if size > 0 else None
        self._auth = AuthCache()
        self._writers = KeyedLocks()  # domain/storage/locks.py
        self.directory = StaffDirectory(self)  # who an escalation reaches (domain/directory.py)
        self._access: AccessLedger | None = None
        self._access_lock = threading.Lock()
        # Personal values are sealed with their subject's key (domain/storage/sealing.py, docs/PRIVACY.md).
        self.subject_keys = SubjectKeys(getattr(self.factory, "datastore", None), master_key(url=url_of(self.env)))
        self.sealer = Sealer(self.subject_keys, self._types.get)
        self.sealer.bind(self.mapper.transcoder.encode, self.mapper.transcoder.decode)
        if isinstance(self.mapper, ChainedMapper):  # (the bench's library-default reference seals nothing)
            self.mapper.sealer = self.sealer
        self._legacy_plain: set[UUID] = set()  # cases whose personal values were stored in plain text
        # unique keys made of personal values are keyed hashes (domain.model.uniqueness.BlindingLoader)
        self._unique_key = BlindingLoader(self._load_unique_key, self.sealer.blind, self._types.get)

    @property
    def access_ledger(self) -> AccessLedger:
        """The access ledger (who read what) in this application's database, made on first use."""
        with self._access_lock:
            if self._access is None:
                self._access = AccessLedger.for_app(self)
            return self._access

    def close(self) -> None:
        if self._access is not None:
            self._access.close()
        super().close()

    @classmethod
    def from_url(cls, url: str | None = None, **kwargs: Any) -> CaseTrail:
        """The application on ``url`` (default: ``CASETRAIL_DATABASE_URL``)."""
        env = env_for_url(url or database_url())
        env.setdefault("AGGREGATE_CACHE_MAXSIZE", "5000")
        return cls(env, **kwargs)

    # ------------------------------------------------------------ plumbing
    def save(self, *objs: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        """Save aggregates (continuing their hash chains); remember the cases as committed."""
        recordings = super().save(*objs, **kwargs)
        if self._committed is not None:
            for a in objs:
                if isinstance(a, Case):
                    self._committed.remember(a)
        return recordings

    def take_snapshot(self, aggregate_id: UUID, version: int | None = None,
                      projector_func: Any = project_with_head) -> None:
        """Snapshots only speed up loading: failing to take one never fails a command."""
        try:
            super().take_snapshot(aggregate_id, version, projector_func)
        except PersistenceError as e:
            log.warning("snapshot not taken", case_id=str(aggregate_id), version=version, error=str(e))

    def _now(self, actor: Actor, ctx: CommandContext) -> tuple[datetime, bool]:
        if ctx.occurred_at is None:
            return self.clock(), False
        if not actor.is_importer:
            raise RoleNotAllowed("occurred_at may only be supplied by an importer", allowed_roles=["importer"])
        if ctx.occurred_at > self.clock() + timedelta(minutes=5):
            raise InvalidFields("occurred_at is in the future",
                                errors=[{"field": "occurred_at", "problem": "is in the future"}])
        return ctx.occurred_at, True

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
        if self._erased_since_cached(case):  # another process erased its subject: read it again
            self.forget_case(case.id)
            case = self.load(case.id, version=version)
            if self._erased_since_cached(case):  # plaintext stored before sealing existed (docs/PRIVACY.md)
                self._legacy_plain.add(case.id)
        return case

    def _erased_since_cached(self, case: Case) -> bool:
        """Whether ``case`` still shows personal values whose key was destroyed."""
        paths = self.sealer.personal(case.case_type)
        if paths is None or case.id in self._legacy_plain:
            return False
        shown = [case.customer.get(k) for k in paths.customer] + [case.fields.get(k) for k in paths.fields]
        if all(v is None or v == ERASED for v in shown):
            return False
        return not self.subject_keys.alive(subject_of(case.customer, case.id))

    def forget_case(self, case_id: UUID) -> None:
        """Drop this process's cached copies of a case (after its subject was erased)."""
        cache = getattr(self.repository, "cache", None)
        if cache is not None:
            try:
                cache.get(case_id, evict=True)
            except KeyError:
                pass
        if self._committed is not None:
            self._committed.forget(case_id)

    def erase_customer(self, actor: Actor, customer_id: Any, reason: Any,
                       ctx: CommandContext = CommandContext()) -> Any:
        """Destroy a customer's key and record the erasure (``domain.erasing``)."""
        from domain.erasing import erase_customer

        return erase_customer(self, actor, customer_id, reason, ctx)

    def erase_by_retention(self, case_ids: Any, now: datetime | None = None) -> list[Any]:
        """Erase the subjects of closed cases past their type's ``[retention]`` (``domain.erasing``)."""
        from domain.erasing import erase_by_retention

        return erase_by_retention(self, case_ids, now or self.clock())

    def erase_case(self, actor: Actor, case_id: Any, reason: Any, ctx: CommandContext = CommandContext()) -> Any:
        """Destroy the key of a case without a customer id (its own data subject)."""
        from domain.erasing import erase_case

        return erase_case(self, actor, case_id, reason, ctx)

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

    def open(self, actor: Actor, case_type: str, title: Any, customer: Any, fields: Any = None,
             channel: Any = None, ctx: CommandContext = CommandContext(),
             idempotency: tuple[str, str] | None = None,
             attach: Callable[[Case, dict[str, Any]], list[Any]] | None = None) -> CommandResult:
        """Open a case: a number from its series, the case, and the idempotency record, in one save
        (``attach`` adds aggregates of the caller's, such as a schedule's run, to the same save)."""
        ct = self.registry.get(case_type)
        at, imported = self._now(actor, ctx)

        def once(_fresh: bool) -> CommandResult:
            keyed = Keyed.load(self, actor.id, idempotency)
            replay = self._replay(keyed)
            if replay is not None:
                return replay
            meta = typed(event_meta(actor, at, ctx, imported=imported), ct)
            series = self._series(ct, at, meta)
            case = Case.open(case_type=ct, actor=actor, number=self._allocate(series, ct, at, meta), title=title,
                             customer=customer, fields=fields, channel=channel, links=[], at=at,
                             calendar=self.calendar, meta=meta, holder=self.directory.holder)
            check_requirements(ct, case.context(), self._unique_key)  # cross-case rules (domain.model.uniqueness)
            keys = plan_keys(ct, case, None, self._unique_key, meta)
            extra = attach(case, meta) if attach is not None else []
            return self._saved(case, [series, *keys, *extra], keyed, 201, meta)

        # this process's openers of one number series queue (domain/storage/locks.py)
        with self._writers(("series", series_key(ct.number_prefix, at, self.calendar.timezone, ct.number_format))):
            return retrying(once, give_up=lambda: VersionConflict("could not allocate a case number; try again"))

    def open_case(self, *args: Any, **kwargs: Any) -> Case:
        """``open``, returning only the case."""
        return self.open(*args, **kwargs).case

    def _allocate(self, series: NumberSeries, ct: CaseType, at: datetime, meta: dict[str, Any]) -> str:
        """The next number of ``series``, written by the type's ``number_format``."""
        return series.allocate(meta, lambda serial: render_number(ct.number_format, ct.number_prefix, at,
                                                                  self.calendar.timezone, serial))

    def _series(self, ct: CaseType, at: datetime, meta: dict[str, Any]) -> NumberSeries:
        key = series_key(ct.number_prefix, at, self.calendar.timezone, ct.number_format)
        try:
            return self.load(NumberSeries.create_id(key))
        except AggregateNotFoundError:
            return NumberSeries(key=key, meta=meta)

    def take_action(self, actor: Actor, case_id: UUID | str, action: str, data: Any = None, *,
                    expected_version: int | None = None, ctx: CommandContext = CommandContext(),
                    idempotency: tuple[str, str] | None = None) -> CommandResult:
        """Load the case, decide the action (and what the cross-case policies do), save it all."""
        if data is not None and not isinstance(data, Mapping):
            raise InvalidFields(f"{action}: expected an object of fields", errors=[])
        at, imported = self._now(actor, ctx)

        def once(fresh: bool) -> CommandResult:
            keyed = Keyed.load(self, actor.id, idempotency)
            replay = self._replay(keyed)
            if replay is not None:
                return replay
            case, copied = self._case_for_command(case_id, fresh)
            if expected_version is not None and case.version != expected_version:
                if copied:
                    raise Stale  # the copy may be behind: compare with the stored case
                raise VersionConflict(f"case is at version {case.version}, not {expected_version}",
                                      current_version=case.version)
            meta = typed(event_meta(actor, at, ctx, imported=imported), self.registry.get(case.case_type))
            try:
                others = self._decide(case, actor, action, data, at, meta, ctx)
            except DomainError:
                if copied:
                    raise Stale from None  # refused on a copy that may be behind: decide on the stored case
                raise
            return self._saved(case, others, keyed, 200, meta)

        def moved_on() -> VersionConflict:
            current = self.get_case(case_id).version
            return VersionConflict(f"case moved on to version {current}", current_version=current)

        def forget() -> None:
            if self._committed is not None:
                self._committed.forget(case_id if isinstance(case_id, UUID) else UUID(str(case_id)))

        with self._writers(("case", str(case_id))):  # this process's writers of the case queue
            return retrying(once, fresh=self._committed is None, after_conflict=forget,
                            on_conflict=moved_on if expected_version is not None else None,
                            give_up=lambda: VersionConflict("too many concurrent writes on this case; try again",
                                                            current_version=self.get_case(case_id).version))

    def act(self, *args: Any, **kwargs: Any) -> Case:
        """``take_action``, returning only the case."""
        return self.take_action(*args, **kwargs).case

    def _case_for_command(self, case_id: UUID | str, fresh: bool) -> tuple[Case, bool]:
        """The case to decide on: this process's committed copy (no read), or the stored case;
        and whether it is a copy."""
        kept = None if fresh or self._committed is None else self._committed.checkout(case_id)
        if kept is not None and self._erased_since_cached(kept):
            self.forget_case(kept.id)
            kept = None
        return (kept, True) if kept is not None else (self.get_case(case_id), False)

    def _decide(self, case: Case, actor: Actor, action: str, data: Any, at: datetime, meta: dict[str, Any],
                ctx: CommandContext) -> list[Any]:
        """The action on ``case``; the other aggregates the cross-case policies changed."""
        ct = self.registry.get(case.case_type)
        previous = case.status
        before = (previous, copy.deepcopy(case.context())) if ct.unique else None
        case.take(case_type=ct, action=action, data=data, actor=actor, at=at, calendar=self.calendar,
                  meta=meta, known_staff=self.staff_exists, holder=self.directory.holder)
        keys = plan_keys(ct, case, before, self._unique_key, meta) if ct.unique else []
        cause = CommandContext(ctx.correlation_id, f"{case.id}:{case.version}")
        return [*keys, *self._policies(case, ct, action, previous, at, cause, actor=actor)]

    # ----------------------------------------------------------- schedules
    def run_schedules(self, now: datetime | None = None) -> list[str]:
        """Open the recurring cases that are due (``domain.scheduling``); their numbers."""
        from domain.scheduling import run_schedules

        return run_schedules(self, now)

    def _load_unique_key(self, key_id: UUID) -> UniqueKey | None:
        try:
            found = self.load(key_id)
        except AggregateNotFoundError:
            return None
        return found if isinstance(found, UniqueKey) else None

    def _saved(self, case: Case, others: list[Any], keyed: Keyed | None, status: int,
               meta: dict[str, Any]) -> CommandResult:
        """Save the case, what else the command changed and its idempotency record, in one transaction."""
        records = [] if keyed is None else keyed.records(self.clock(), target_id=str(case.id), version=case.version,
                                                         status=status, meta=meta)
        recordings = self.save(case, *others, *records)
        return CommandResult(case=case, position=position_of(recordings))

    def _policies(self, case: Case, ct: Any, action: str, previous: str, at: datetime,
                  cause: CommandContext, actor: Actor = POLICY) -> list[Any]:
        """Aggregates changed by cross-case policies, saved with the case (``domain.cross_case``)."""
        return cross_case_effects(self, case, ct, action, previous, at, cause, actor)

    def import_case(self, actor: Actor, body: Any, ctx: CommandContext = CommandContext(),
                    idempotency: tuple[str, str] | None = None) -> CommandResult:
        """A legacy case with its whole history, in one transaction (``domain.importing``)."""
        from domain.importing import import_case

        return import_case(self, actor, body, ctx, idempotency)

    # --------------------------------------------------------- idempotency
    def _replay(self, keyed: Keyed | None) -> CommandResult | None:
        """The recorded outcome of a request sent again with the same Idempotency-Key inside its
        retention window, if any (``domain.keyed``)."""
        record = None if keyed is None else keyed.replayed(self.clock(), self.idempotency_retention)
        if record is None:
            return None
        case = self.get_case(record.case_id, version=record.case_version)
        return CommandResult(case=case, position=None, replayed_status=record.status)

    # ----------------------------------------------------------------- SLA
    def record_breaches(self, case_id: UUID | str, now: datetime | None = None) -> list[str]:
        """One SLA pass over one case (``domain.breaching``): the clocks recorded as breached."""
        from domain.breaching import record_breaches

        return record_breaches(self, case_id, now)

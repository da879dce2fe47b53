"""The read-model projection: the library's ``Projection``, processing batches.

A ``ReadModel`` is an ``eventsourcing.projection.Projection`` whose view is a
versioned tracking recorder (``projections.views``). Besides the library's
one-event ``process_event(domain_event, tracking)`` it has ``process``,
which applies a batch of events in memory (a ``Batch``) and commits the
rows and the tracking position of the batch's last notification in one
transaction, conditional on the position the batch started from. Events a
read model does not care about still move its position.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import structlog
from eventsourcing.persistence import Tracking
from eventsourcing.projection import Projection

from domain.model.errors import UnknownCaseType
from domain.model.kpis import KpiSpec
from domain.model.registry import CaseTypeRegistry
from projections.events import Event, from_domain_event
from projections.views import ReadModelView, Table

log = structlog.get_logger("casetrail.projections")
_REPORTED: set[tuple[str, str | None]] = set()  # (case type, version) already reported by this process


@dataclass(frozen=True)
class Context:
    """What projections need besides events: case-type facts and the calendar's zone."""

    registry: CaseTypeRegistry
    zone: ZoneInfo
    phone_hash: Callable[[Any], str | None] | None = None  # keyed hash of a phone (domain.storage.sealing)

    @classmethod
    def of(cls, app: Any) -> Context:
        sealer = getattr(app, "sealer", None)
        return cls(registry=app.registry, zone=app.calendar.zone,
                   phone_hash=sealer.phone_hash if sealer is not None else None)

    def closed_states(self, case_type: str) -> tuple[str, ...]:
        try:
            return self.registry.get(case_type).closed_states
        except UnknownCaseType:  # a type this process does not load: said loudly, nothing counts as closed
            self.check_version(case_type, None)
            return ()

    def kpis(self, case_type: str) -> KpiSpec:
        """What the type's ``[kpis]`` says the staff KPIs count (nothing for a type this process does not load)."""
        try:
            return self.registry.get(case_type).kpis
        except UnknownCaseType:
            return KpiSpec()

    def check_version(self, case_type: str, digest: str | None) -> None:
        """Say loudly (once per type and version) when an event was decided by a case type this
        process does not know, or by another version of it than the one it loaded."""
        try:
            loaded = self.registry.get(case_type).digest
        except UnknownCaseType:
            if (case_type, None) in _REPORTED:
                return
            _REPORTED.add((case_type, None))
            log.error("events of a case type this process does not load; its read models may be wrong: "
                      "load the same CASETRAIL_CASE_TYPES in every process", case_type=case_type)
            return
        if digest is not None and digest != loaded and (case_type, digest) not in _REPORTED:
            _REPORTED.add((case_type, digest))
            log.warning("events decided by another version of a case type than this process loads",
                        case_type=case_type, event_version=digest, loaded_version=loaded)


class Batch:
    """Rows changed by a batch of events, written by ``write(cursor)``."""

    @abstractmethod
    def apply(self, event: Event) -> None: ...

    @abstractmethod
    def write(self, cursor: Any) -> None: ...


class ReadModel(Projection[ReadModelView]):
    name: ClassVar[str] = ""
    tables: ClassVar[tuple[Table, ...]] = ()
    prefixes: ClassVar[tuple[str, ...]] = ("Case.",)

    def __init__(self, view: ReadModelView, context: Context) -> None:
        super().__init__(view)
        self.context = context
        self.position = view.position()
        self._wanted: dict[str, bool] = {}  # event type -> wants

    @property
    def version(self) -> int:
        return self.view.version

    def wants(self, event: Event) -> bool:
        return event.type.startswith(self.prefixes)

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:  # the library's interface
        event = from_domain_event(domain_event, tracking.notification_id)
        self.process([event], tracking.notification_id)

    def prepare(self, events: Sequence[Event]) -> Batch:
        """A batch of the ``events`` after this position that this read model wants."""
        wanted, position = self._wanted, self.position
        out = []
        for e in events:
            if e.position > position:
                want = wanted.get(e.type)
                if want is None:  # by type (``wants`` looks at the type only): once per type
                    want = wanted[e.type] = self.wants(e)
                if want:
                    out.append(e)
        return self.batch(out)

    def process(self, events: Sequence[Event], last: int) -> None:
        """Apply ``events`` (those after this position, up to ``last``) and commit."""
        self.view.commit(self.prepare(events).write, last, after=self.position)
        self.position = last

    def refresh_position(self) -> int:
        self.position = self.view.position()
        return self.position

    @abstractmethod
    def batch(self, events: Sequence[Event]) -> Batch:
        """A batch with ``events`` applied (reading what it needs first)."""


def chunks(items: Sequence[Any], size: int = 500) -> list[Sequence[Any]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def placeholders(n: int) -> str:
    return ", ".join("?" * n)

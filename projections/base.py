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
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from eventsourcing.persistence import Tracking
from eventsourcing.projection import Projection

from domain.model.registry import CaseTypeRegistry
from projections.events import Event, from_domain_event
from projections.views import ReadModelView, Table


@dataclass(frozen=True)
class Context:
    """What projections need besides events: case-type facts and the calendar's zone."""

    registry: CaseTypeRegistry
    zone: ZoneInfo

    @classmethod
    def of(cls, app: Any) -> Context:
        return cls(registry=app.registry, zone=app.calendar.zone)

    def closed_states(self, case_type: str) -> tuple[str, ...]:
        try:
            return self.registry.get(case_type).closed_states
        except Exception:  # a type no longer defined: nothing counts as closed
            return ()


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
        return self.batch([e for e in events if e.position > self.position and self.wants(e)])

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

"""The application base every casetrail store shares: msgpack bodies, hash-chained events.

``ChainedApplication`` is the eventsourcing ``Application`` with the
msgpack transcoder, the hash-chaining mapper (``domain.storage.chain``),
tables created under the schema lock, aggregates loaded with their chain
head (``project_with_head``), and a ``save`` that continues each
aggregate's chain and returns the library's recordings. The cases
(``domain.application.CaseTrail``) and the access ledger
(``domain.audit.access.AccessLedger``) are both built on it.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import structlog
from eventsourcing.application import Application, ProcessingEvent
from eventsourcing.domain import BaseAggregate
from eventsourcing.persistence import Mapper, PersistenceError, Recording, Transcoder

from domain.storage.chain import ChainedMapper, project_with_head
from domain.storage.schema import SchemaLocked
from domain.storage.sealing import subject_of
from domain.storage.transcoder import MsgpackTranscoder

log = structlog.get_logger("casetrail.storage")


class _Collected(ProcessingEvent[UUID]):
    """The library's processing event, collecting from aggregates by class: the library tests each
    object against runtime-checkable protocols, which costs more than the rest of collecting."""

    def collect_events(self, *objs: Any, **kwargs: Any) -> None:
        for obj in objs:
            if isinstance(obj, BaseAggregate):
                self.events.extend(obj.collect_events())
                self.aggregates[obj.id] = obj
            elif obj is not None:
                super().collect_events(obj)
        self.saved_kwargs.update(kwargs)


class ChainedApplication(SchemaLocked, Application[UUID]):
    def construct_transcoder(self) -> Transcoder:
        return MsgpackTranscoder()

    def construct_mapper(self) -> Mapper[UUID]:
        return self.factory.mapper(transcoder=self.construct_transcoder(), mapper_class=ChainedMapper)

    def load(self, aggregate_id: UUID, version: int | None = None) -> Any:
        return self.repository.get(aggregate_id, version=version, projector_func=project_with_head)

    def save(self, *objs: Any, **kwargs: Any) -> list[Recording[UUID]]:  # type: ignore[override]
        """Save aggregates in one transaction, continuing each one's hash chain."""
        aggregates = [o for o in objs if o is not None]
        heads = {a.id: getattr(a, "head_hash", None) for a in aggregates}
        subjects = {a.id: (a.case_type, subject_of(a.customer, a.id)) for a in aggregates
                    if isinstance(getattr(a, "case_type", None), str)
                    and isinstance(getattr(a, "customer", None), dict)}
        assert isinstance(self.mapper, ChainedMapper)
        collected = _Collected()
        collected.collect_events(*aggregates, **kwargs)
        with self.mapper.chaining(heads, subjects):  # what Application.save does, with _Collected
            recordings = self._record(collected)
            for a in aggregates:
                a.head_hash = heads.get(a.id)
            self._take_snapshots(collected)
            self._notify(recordings)
        return recordings

    def _take_snapshots(self, processing_event: ProcessingEvent[UUID]) -> None:
        """Snapshot what was just saved from memory: the library loads the aggregate again (its
        last snapshot and up to an interval of events) to take one, on the command's time."""
        if not (self.snapshots and self.snapshotting_intervals):
            return
        for event in processing_event.events:
            aggregate = processing_event.aggregates.get(event.originator_id)
            interval = self.snapshotting_intervals.get(type(aggregate)) if aggregate is not None else None
            if aggregate is None or interval is None or event.originator_version % interval:
                continue
            if aggregate.version != event.originator_version:  # a later event of the same save: load it
                self.take_snapshot(event.originator_id, event.originator_version,
                                   self.snapshotting_projectors.get(type(aggregate), project_with_head))
                continue
            snapshot_class = getattr(type(aggregate), "Snapshot", type(self).snapshot_class)
            try:
                self.snapshots.put([snapshot_class.take(aggregate)])
            except PersistenceError as e:  # snapshots only speed up loading: never fail the save
                log.warning("snapshot not taken", aggregate_id=str(aggregate.id), version=aggregate.version,
                            error=str(e))


def position_of(recordings: list[Recording[UUID]]) -> int | None:
    """The notification position of a save (the highest of its recordings)."""
    return max((r.notification.id for r in recordings), default=None)

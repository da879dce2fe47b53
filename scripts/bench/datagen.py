"""Deterministic benchmark data, generated through the real CaseTrail application.

``generate(app_class, url, events=N, seed=S)`` fills a fresh database with
about ``N`` stored events: a seeded mix of the five case types following the
stories in ``stories``, with a fake clock advancing a few seconds per step,
an occasional SLA pass (breaches and escalations), and every policy the case
types declare (return visits, converted inquiries, outcomes reported back).

Commands run through ``CaseTrail.act`` / ``open_case`` unchanged (validation,
policies, number series, metadata). Only persistence is batched, so that a
million events take minutes rather than an hour: ``bulk(app_class)`` makes a
subclass whose ``save`` encodes each command's events at once with the
application's own mapper (msgpack, hash chain) and buffers them, and whose
``load`` serves the aggregates it holds; the buffer goes to the database
through the library's recorder (``insert_events``) every few thousand
events. The stored events are the ones the application would have written
(same encoding, same chain, same order); only their library ``timestamp``
is the wall clock's. Snapshots are taken when a save crosses a snapshotting
interval (at the aggregate's version after the save).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

import psycopg
from eventsourcing.application import AggregateNotFoundError
from psycopg import sql

from domain.application import CaseTrail
from domain.model.errors import DomainError
from domain.storage.chain import ChainedMapper
from domain.storage.database import env_for_url
from scripts.bench import roster, stories

FLUSH_EVERY = 4000


class BulkMixin:
    """Batches persistence of a CaseTrail (sub)class; see the module docstring."""

    def init_bulk(self) -> None:
        self._held: dict[UUID, Any] = {}
        self._evicted: set[UUID] = set()
        self._buffer: list[Any] = []
        self._snap_buffer: list[Any] = []
        self.events_written = 0

    def save(self, *objs: Any, **kwargs: Any) -> list[Any]:
        aggregates = [o for o in objs if o is not None]
        chained = isinstance(self.mapper, ChainedMapper)  # type: ignore[attr-defined]
        heads = {a.id: getattr(a, "head_hash", None) for a in aggregates}
        collected = [(a, a.collect_events()) for a in aggregates]
        if chained:
            with self.mapper.chaining(heads):  # type: ignore[attr-defined]
                stored = [self.mapper.to_stored_event(e) for _, evs in collected for e in evs]  # type: ignore[attr-defined]
        else:
            stored = [self.mapper.to_stored_event(e) for _, evs in collected for e in evs]  # type: ignore[attr-defined]
        self._buffer += stored
        self.events_written += len(stored)
        intervals = getattr(self, "snapshotting_intervals", {}) if self.snapshots else {}  # type: ignore[attr-defined]
        for a, evs in collected:
            if chained:
                a.head_hash = heads.get(a.id)
            self._held[a.id] = a
            interval = intervals.get(type(a))
            if interval and evs and a.version // interval > (a.version - len(evs)) // interval:
                snapshot = type(a).Snapshot.take(a)
                self._snap_buffer.append(self.mapper.to_stored_event(snapshot))  # type: ignore[attr-defined]
        if len(self._buffer) >= FLUSH_EVERY:
            self.flush()
        return []

    def flush(self) -> None:
        if self._buffer:
            self.recorder.insert_events(self._buffer)  # type: ignore[attr-defined]
            self._buffer = []
        if self._snap_buffer:
            self.snapshots.recorder.insert_events(self._snap_buffer)  # type: ignore[attr-defined]
            self._snap_buffer = []

    def load(self, aggregate_id: UUID, version: int | None = None) -> Any:
        if version is None:
            held = self._held.get(aggregate_id)
            if held is not None:
                return held
            if aggregate_id not in self._evicted:
                raise AggregateNotFoundError(aggregate_id)
        self.flush()
        return super().load(aggregate_id, version)  # type: ignore[misc]

    def evict(self, aggregate_id: UUID) -> None:
        if self._held.pop(aggregate_id, None) is not None:
            self._evicted.add(aggregate_id)

    def discard_unsaved(self) -> None:
        """After a refused command: forget aggregates holding unsaved changes."""
        for aggregate_id, a in list(self._held.items()):
            if a.pending_events:
                self.evict(aggregate_id)


def bulk(app_class: type[CaseTrail]) -> type[CaseTrail]:
    # Same application name: the library derives table names and env prefixes from it.
    return type(f"Bulk{app_class.__name__}", (BulkMixin, app_class), {"name": app_class.name})


@dataclass
class Dataset:
    url: str
    events: int
    commands: int = 0
    refused: int = 0
    opened: Counter[str] = field(default_factory=Counter)
    actions: Counter[str] = field(default_factory=Counter)
    case_ids: list[str] = field(default_factory=list)
    last_time: Any = None

    def summary(self) -> dict[str, Any]:
        return {"events": self.events, "commands": self.commands, "refused": self.refused,
                "cases_by_type": dict(sorted(self.opened.items())), "cases": len(self.case_ids)}


class Generator:
    """Drives one application through the stories; deterministic for a seed."""

    def __init__(self, app: Any, seed: int, active_target: int = 400) -> None:
        self.app = app
        self.rng = random.Random(seed)
        self.now = roster.START
        self.active: list[UUID] = []
        self.memo: dict[UUID, dict[str, Any]] = {}
        self.active_target = active_target
        self.actors: dict[str, Any] = {}

    def clock(self) -> Any:
        return self.now

    def register_staff(self) -> None:
        for staff_id, (dept, roles) in roster.STAFF.items():
            self.app.register_staff(staff_id, staff_id.title(), dept, roles)

    def actor(self, staff_id: str) -> Any:
        if staff_id not in self.actors:
            self.actors[staff_id] = self.app.get_staff(staff_id).as_actor()
        return self.actors[staff_id]

    def run(self, target_events: int, dataset: Dataset) -> None:
        while self.app.events_written < target_events:
            self.now += timedelta(seconds=self.rng.uniform(0, 60))
            x = self.rng.random()
            if x < 0.02 and self.active:
                self.app.record_breaches(self.rng.choice(self.active), self.now)
            elif len(self.active) < 20 or x < 0.12 or (len(self.active) < self.active_target and x < 0.2):
                self.open_one(dataset)
            else:
                self.step_one(dataset)
            dataset.commands += 1
        self.app.flush()
        dataset.events = self.app.events_written
        dataset.last_time = self.now

    def open_one(self, dataset: Dataset) -> None:
        o = stories.opening(self.rng, stories.pick_type(self.rng))
        case = self.app.open_case(self.actor(o.by), o.case_type, o.title, o.customer, o.fields, o.channel)
        self._track(case)
        dataset.opened[o.case_type] += 1
        dataset.case_ids.append(str(case.id))

    def _track(self, case: Any) -> None:
        self.memo[case.id] = {}
        self.active.append(case.id)

    def step_one(self, dataset: Dataset) -> None:
        for _ in range(6):
            index = self.rng.randrange(len(self.active))
            case_id = self.active[index]
            memo = self.memo[case_id]
            if memo.get("awaiting") in self.memo:
                continue  # its linked return visit is still open
            case = self.app.get_case(case_id)
            step = stories.next_step(self.rng, case, memo, self.now)
            if step == stories.WAIT:
                continue
            if step == stories.DONE:
                self._finish(index)
                return
            assert isinstance(step, stories.Step)
            links = len(case.links)
            try:
                case = self.app.act(self.actor(step.by), case_id, step.action, step.data)
            except DomainError:
                dataset.refused += 1
                self.app.discard_unsaved()
                self._finish(index)
                return
            dataset.actions[step.action] += 1
            for link in case.links[links:]:
                linked = UUID(link["case_id"])
                if link["rel"] != "origin" and linked not in self.memo:
                    self._track(self.app.get_case(linked))
                    dataset.opened[self.app.get_case(linked).case_type] += 1
                    dataset.case_ids.append(link["case_id"])
                    memo["awaiting"] = linked
                    memo["visited"] = True
            return
        self.open_one(dataset)

    def _finish(self, index: int) -> None:
        case_id = self.active[index]
        self.active[index] = self.active[-1]
        self.active.pop()
        self.memo.pop(case_id, None)
        self.app.evict(case_id)


def bulk_app(app_class: type[CaseTrail], url: str, clock: Any, env: dict[str, str] | None = None) -> Any:
    app = bulk(app_class)({**env_for_url(url), **(env or {})}, clock=clock)
    app.init_bulk()  # type: ignore[attr-defined]
    return app


def generate(url: str, events: int, seed: int = 20261116, app_class: type[CaseTrail] = CaseTrail,
             env: dict[str, str] | None = None) -> Dataset:
    """Fill the (fresh) database at ``url`` with about ``events`` stored events."""
    holder: dict[str, Generator] = {}
    with unsynced(url):
        app = bulk_app(app_class, url, clock=lambda: holder["g"].now, env=env)
        gen = Generator(app, seed)
        holder["g"] = gen
        gen.register_staff()
        dataset = Dataset(url=url, events=0)
        try:
            gen.run(events, dataset)
        finally:
            app.close()
    return dataset


@contextmanager
def unsynced(url: str) -> Iterator[None]:
    """While the generator fills a PostgreSQL database, its commits do not wait for the WAL
    to reach the disk (``synchronous_commit = off`` on that database only; the server keeps
    fsync and full-page writes). Generating is not measured; without this, the fsync of each
    subject key's own transaction made the 1M-event and 1M-case data sets take most of an
    hour. The setting is reset before anything is measured: every measurement opens new
    connections, which commit durably again."""
    if not url.startswith(("postgres://", "postgresql://")):
        yield
        return
    database = urlsplit(url).path.lstrip("/")

    def set_to(clause: str) -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(sql.SQL("ALTER DATABASE {} " + clause).format(sql.Identifier(database)))

    set_to("SET synchronous_commit = off")
    try:
        yield
    finally:
        set_to("RESET synchronous_commit")


def verify_sample(url: str, dataset: Dataset, sample: int = 50, seed: int = 7) -> int:
    """Read back ``sample`` generated cases with a plain CaseTrail: each decodes,
    replays to its stored version, and its hash chain links up. Returns the count."""
    from domain.storage.chain import genesis_hash

    app = CaseTrail(env_for_url(url))
    try:
        rng = random.Random(seed)
        ids = rng.sample(dataset.case_ids, min(sample, len(dataset.case_ids)))
        for case_id in ids:
            history = app.case_history(case_id)
            case = app.get_case(case_id)
            if case.version != len(history):
                raise AssertionError(f"case {case_id}: version {case.version} != {len(history)} events")
            prev = genesis_hash(case.id)
            for entry in history:
                if entry["prev_hash"] != prev:
                    raise AssertionError(f"case {case_id}: chain broken at version {entry['version']}")
                prev = entry["hash"]
            if case.head_hash != prev:
                raise AssertionError(f"case {case_id}: head_hash is not the last event's hash")
        return len(ids)
    finally:
        app.close()

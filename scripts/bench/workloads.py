"""In-process workloads: one action on an existing case (W1-W3, N1) and A1.

``HotCases`` opens a set of cases (complaints being investigated, draft
order approvals, open return visits, accepted repair orders) on top of the
generated data and gives, for each, an action its holder can repeat
(``log_contact``, ``record_deposit``, ``reschedule``, ``schedule``).
``run_commands`` times a batch of such commands through ``CaseTrail.act``,
on one thread or on ``threads`` threads each acting on its own case.
``PlainCaseTrail`` is the same application on the eventsourcing library's
plain defaults (JSON transcoder, plain ``Mapper``, no aggregate cache, no
snapshots) for N1. ``long_case`` and ``time_versions`` measure A1.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import Mapper, Transcoder

from domain.application import CaseTrail
from domain.storage.database import env_for_url
from scripts.bench import roster


class PlainCaseTrail(CaseTrail):
    """CaseTrail's use cases on the library defaults (the N1 reference)."""

    name = "CaseTrail"
    snapshotting_intervals: dict[type, int] = {}
    snapshotting_projectors: dict[type, Any] = {}

    def construct_transcoder(self) -> Transcoder:
        return Application.construct_transcoder(self)  # JSONTranscoder with UUID/Decimal/datetime

    def construct_mapper(self) -> Mapper[UUID]:
        return Application.construct_mapper(self)

    def save(self, *objs: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        return Application.save(self, *objs, **kwargs)

    def load(self, aggregate_id: UUID, version: int | None = None) -> Any:
        return self.repository.get(aggregate_id, version=version)


def plain_env(url: str) -> dict[str, str]:
    env = env_for_url(url)
    env.pop("AGGREGATE_CACHE_MAXSIZE", None)
    env.pop("APPLICATION_RECORDER_TOPIC", None)  # the library's own recorder
    env["IS_SNAPSHOTTING_ENABLED"] = "n"
    return env


def casetrail_app(url: str, clock: Callable[[], Any], **env: str) -> CaseTrail:
    """The application as deployed (``CaseTrail.from_url``), with a fake clock."""
    app = CaseTrail.from_url(url, clock=clock)
    if env:
        app.close()
        base = {**env_for_url(url), "AGGREGATE_CACHE_MAXSIZE": "5000", **env}
        app = CaseTrail(base, clock=clock)
    return app


class FakeClock:
    """Advances one second per reading: every command has its own time."""

    def __init__(self, start: Any) -> None:
        self.now = start
        self.lock = threading.Lock()

    def __call__(self) -> Any:
        with self.lock:
            self.now += timedelta(seconds=1)
            return self.now


@dataclass(frozen=True)
class Command:
    by: str
    case_id: UUID
    action: str
    data: dict[str, Any]


class HotCases:
    """Cases each accepting a repeatable action by a fixed staff member."""

    KINDS = ("complaint", "order_approval", "return_visit", "repair_order")

    def __init__(self, app: CaseTrail, count: int, seed: int = 99) -> None:
        self.app = app
        self.rng = random.Random(seed)
        self.commands: list[Command] = []
        self.actors = {s: app.get_staff(s).as_actor() for s in roster.STAFF}
        for i in range(count):
            self.commands.append(self._open(self.KINDS[i % len(self.KINDS)], i))

    def _act(self, case_id: UUID, action: str, by: str, data: dict[str, Any]) -> None:
        self.app.act(self.actors[by], case_id, action, data)

    def _open(self, kind: str, i: int) -> Command:
        app, rng = self.app, self.rng
        agent, tech = roster.AGENTS[i % len(roster.AGENTS)], roster.TECHNICIANS[i % len(roster.TECHNICIANS)]
        if kind == "complaint":
            case = app.open_case(self.actors[agent], kind, "热点投诉", roster.consumer(rng), {"severity": "general"})
            self._act(case.id, "assign", roster.SUPERVISORS[0], {"assignee": agent})
            self._act(case.id, "start_investigation", agent, {})
            return Command(agent, case.id, "log_contact", {"channel": "phone", "summary": roster.text(rng, 1)})
        if kind == "order_approval":
            sales = roster.SALES[i % len(roster.SALES)]
            case = app.open_case(self.actors[sales], kind, "热点订单", dict(roster.business(rng), is_new=False),
                                 {"amount": "30000.00", "payment_terms": "credit"})
            return Command(sales, case.id, "record_deposit", {"amount": "10.00"})
        if kind == "return_visit":
            case = app.open_case(self.actors[agent], kind, "热点回访", roster.consumer(rng), {"campaign": "bench"})
            at = (roster.START + timedelta(days=400)).isoformat()
            return Command(agent, case.id, "reschedule", {"at": at})
        case = app.open_case(self.actors[agent], kind, "热点工单", roster.consumer(rng, address=True),
                             {"device": "空调"})
        self._act(case.id, "accept", tech, {})
        start = (roster.START + timedelta(days=400)).replace(minute=0)
        return Command(tech, case.id, "schedule", {"window_start": start.isoformat(),
                                                   "window_end": (start + timedelta(hours=2)).isoformat()})


def run_commands(app: CaseTrail, hot: HotCases, count: int, threads: int = 1) -> float:
    """Commands per second: ``count`` commands round-robin over the hot cases
    (one thread), or ``count`` per thread with thread ``i`` on hot case ``i``."""
    actors = hot.actors
    cmds = hot.commands
    if threads == 1:
        start = time.perf_counter()
        for i in range(count):
            c = cmds[i % len(cmds)]
            app.act(actors[c.by], c.case_id, c.action, c.data)
        return count / (time.perf_counter() - start)
    if len(cmds) < threads:
        raise ValueError(f"{threads} threads need {threads} hot cases")
    barrier = threading.Barrier(threads + 1)
    errors: list[BaseException] = []

    def worker(c: Command) -> None:
        barrier.wait()
        try:
            for _ in range(count):
                app.act(actors[c.by], c.case_id, c.action, c.data)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    pool = [threading.Thread(target=worker, args=(cmds[i],)) for i in range(threads)]
    for t in pool:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in pool:
        t.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise errors[0]
    return count * threads / elapsed


def long_case(app: CaseTrail, events: int) -> UUID:
    """A complaint with exactly ``events`` stored events (log_contact repeated)."""
    hot = HotCases(app, 1)
    c = hot.commands[0]
    remaining = events - app.get_case(c.case_id).version
    for _ in range(remaining):
        app.act(hot.actors[c.by], c.case_id, c.action, c.data)
    assert app.get_case(c.case_id).version == events
    return c.case_id


def time_versions(app: CaseTrail, case_id: UUID, versions: list[int]) -> float:
    """Mean seconds of ``get_case(id, version=n)`` over ``versions``."""
    start = time.perf_counter()
    for n in versions:
        case = app.get_case(case_id, version=n)
        assert case.version == n
    return (time.perf_counter() - start) / len(versions)

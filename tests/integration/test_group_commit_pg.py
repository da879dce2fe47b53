"""Group commit on PostgreSQL: writers share statements, a tailing reader never passes a later commit.

Eight threads of one application act on eight cases at once while a reader
tails the notification log. Every command is recorded once, in its case's
chain; some statements carried several commands (the group commit worked);
and every id the reader sees is above every id it saw before — no id below
one already read ever commits later, so a projection that resumes from its
last position loses nothing. A command conflicting inside a group (a stale
copy) is refused alone and decided again; its companions are unaffected.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from domain.application import CaseTrail
from domain.storage.recorder import OneTripRecorder
from tests.support import World, complaint_to

pytestmark = pytest.mark.postgres
THREADS, ACTIONS = 8, 30


def test_writers_share_commits_and_a_tailing_reader_never_passes_one(pg_url: str) -> None:
    world = World(pg_url)
    app = CaseTrail.from_url(pg_url, clock=lambda: world.now)
    recorder = app.recorder
    assert isinstance(recorder, OneTripRecorder) and recorder._group is not None  # noqa: SLF001
    agent = world.actor("agent")
    cases = [complaint_to(world, "investigating").id for _ in range(THREADS)]
    versions = {c: world.case(c).version for c in cases}
    start = recorder.max_notification_id() or 0
    statements, commands = recorder._group.statements, recorder._group.commands  # noqa: SLF001
    done = threading.Event()
    seen: list[int] = []
    passed: list[str] = []
    errors: list[str] = []

    def tail() -> None:
        last = start
        while True:
            finished = done.is_set()
            for n in recorder.select_notifications(last, 500, inclusive_of_start=False):
                if seen and n.id <= max(seen):
                    passed.append(f"{n.id} committed after {max(seen)} was read")
                seen.append(n.id)
                last = n.id
            if finished:
                return

    def writer(case_id: Any) -> None:
        try:
            for i in range(ACTIONS):
                app.act(agent, case_id, "log_contact", {"channel": "phone", "summary": f"s{i}"})
        except Exception as e:  # noqa: BLE001 - any refusal fails the test
            errors.append(repr(e))

    reader = threading.Thread(target=tail)
    reader.start()
    writers = [threading.Thread(target=writer, args=(c,)) for c in cases]
    for t in writers:
        t.start()
    for t in writers:
        t.join(timeout=300)
    done.set()
    reader.join(timeout=60)
    assert not errors and not passed
    stored = [n.id for n in recorder.select_notifications(start, 10_000, inclusive_of_start=False)]
    assert sorted(seen) == seen == stored and len(stored) == THREADS * ACTIONS
    for case_id in cases:
        history = world.app.case_history(case_id)
        assert [h["version"] for h in history] == list(range(1, versions[case_id] + ACTIONS + 1))
    grouped = recorder._group  # noqa: SLF001
    assert grouped.commands - commands == THREADS * ACTIONS
    assert grouped.statements - statements < THREADS * ACTIONS  # some statements carried several commands
    app.close()


def test_a_stale_command_in_a_group_is_refused_alone(pg_url: str) -> None:
    world = World(pg_url)
    first = CaseTrail.from_url(pg_url, clock=lambda: world.now)
    second = CaseTrail.from_url(pg_url, clock=lambda: world.now)
    agent = world.actor("agent")
    hot = complaint_to(world, "investigating").id
    others = [complaint_to(world, "investigating").id for _ in range(6)]
    base = {c: world.case(c).version for c in [hot, *others]}
    first.act(agent, hot, "log_contact", {"channel": "phone", "summary": "warm the copy"})
    second.act(agent, hot, "log_contact", {"channel": "phone", "summary": "another process moves it on"})
    barrier = threading.Barrier(len(others) + 1)
    errors: list[str] = []

    def run(case_id: Any, summary: str) -> None:
        barrier.wait()
        try:
            first.act(agent, case_id, "log_contact", {"channel": "phone", "summary": summary})
        except Exception as e:  # noqa: BLE001
            errors.append(repr(e))

    threads = [threading.Thread(target=run, args=(hot, "on a stale copy"))]
    threads += [threading.Thread(target=run, args=(c, "fresh")) for c in others]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors  # the stale one was decided again on the stored case
    said = ("warm the copy", "another process moves it on", "on a stale copy")
    history = world.app.case_history(hot)[base[hot]:]
    assert [next(s for s in said if s in str(h["data"])) for h in history] == list(said)
    for c in others:
        assert len(world.app.case_history(c)) == base[c] + 1
    first.close()
    second.close()

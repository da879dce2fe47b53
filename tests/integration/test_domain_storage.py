"""The domain on real storage: SQLite file and a real PostgreSQL server.

Same tests on both (``database_url``): replay after restart, msgpack bodies,
optimistic concurrency (retry vs. 409), unique numbers under concurrent
opens, hash chains across processes, idempotency, nothing written on refusal.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import msgpack
import pytest

from domain.model.errors import IdempotencyMismatch, InvalidFields, VersionConflict
from domain.storage.chain import genesis_hash, record_hash
from tests.support import World, complaint_to


def all_stored(world: World) -> list:
    return list(world.app.recorder.select_notifications(start=1, limit=100000))


def test_lifecycle_survives_restart(database_url: str) -> None:
    world = World(database_url)
    case = complaint_to(world, "replied")
    visit = world.linked(case, "return_visit")
    world.act(visit, "record_outcome", "agent", {"result": "unsatisfied"})
    view = world.case(case.id).view(None, None)
    assert view["status"] == "investigating"
    fresh = World.__new__(World)
    fresh.now = world.now
    from domain.application import CaseTrail
    from domain.storage.database import env_for_url

    fresh.app = CaseTrail(env_for_url(database_url), clock=lambda: world.now)
    assert fresh.app.get_case(case.id).view(None, None) == view
    assert fresh.app.get_case(case.id, version=3).status == "investigating"
    assert [h["version"] for h in fresh.app.case_history(case.id)] == list(range(1, view["version"] + 1))


def test_stored_bodies_are_msgpack_and_chained(database_url: str) -> None:
    world = World(database_url)
    complaint_to(world, "investigating")
    by_aggregate: dict = {}
    for n in all_stored(world):
        assert not n.state.startswith(b"{")
        state = msgpack.unpackb(n.state, raw=False, strict_map_key=False, ext_hook=lambda c, d: d)
        by_aggregate.setdefault(n.originator_id, []).append((n, state))
    assert len(by_aggregate) >= 12 + 2  # staff, series, the case
    for originator_id, events in by_aggregate.items():
        expected = genesis_hash(originator_id)
        for version, (n, state) in enumerate(sorted(events, key=lambda e: e[0].originator_version), start=1):
            assert n.originator_version == version
            assert state["prev_hash"] == expected
            # every event: who, with which roles, when, imported?, correlation and causation; case
            # events (and what a case command writes with them) also the case type's version
            base = {"actor", "roles", "occurred_at", "imported", "correlation_id", "causation_id"}
            assert set(state["meta"]) in (base, base | {"case_type_version"}), state["meta"]
            if n.topic.startswith("domain.model.case:"):
                assert "case_type_version" in state["meta"]
            expected = record_hash(n.topic, n.state)


def test_unconditional_write_retries_conditional_write_conflicts(database_url: str) -> None:
    one, two = World(database_url), World.__new__(World)
    from domain.application import CaseTrail
    from domain.storage.database import env_for_url

    two.now = one.now
    two.app = CaseTrail(env_for_url(database_url), clock=lambda: one.now)
    case = one.open("complaint")
    two.app.get_case(case.id)  # warm the second process's cache at version 1
    one.act(case, "classify", "agent", {"severity": "major"})  # -> versions 2 (+3 escalation)
    moved = one.case(case.id).version
    # the second process acts on its stale view: unconditional -> reload and retry
    after = two.act(case.id, "log_contact", "agent", {"channel": "phone", "summary": "hello"})
    assert after.version == moved + 1
    with pytest.raises(VersionConflict) as e:
        two.act(case.id, "log_contact", "agent", {"channel": "phone", "summary": "again"}, expected_version=1)
    assert e.value.extra["current_version"] == moved + 1
    assert one.case(case.id).version == moved + 1


def test_concurrent_actions_on_one_case_lose_nothing(database_url: str) -> None:
    world = World(database_url)
    case = world.open("complaint")
    barrier = threading.Barrier(8)

    def contact(i: int) -> int:
        barrier.wait()
        return world.act(case.id, "log_contact", "agent", {"channel": "phone", "summary": f"call {i}"}).version

    with ThreadPoolExecutor(8) as pool:
        versions = list(pool.map(contact, range(8)))
    assert sorted(versions) == list(range(2, 10))
    summaries = sorted(h["data"]["data"]["summary"] for h in world.app.case_history(case.id)[1:])
    assert summaries == sorted(f"call {i}" for i in range(8))


def test_numbers_stay_unique_under_concurrent_opens(database_url: str) -> None:
    world = World(database_url)
    barrier = threading.Barrier(6)

    def open_one(i: int) -> str:
        barrier.wait()
        return world.open("complaint", title=f"case {i}").number

    with ThreadPoolExecutor(6) as pool:
        numbers = list(pool.map(open_one, range(6)))
    assert sorted(numbers) == [f"TS-202611-{n:04d}" for n in range(1, 7)]


def test_idempotent_retry_records_once(database_url: str) -> None:
    world = World(database_url)
    case = world.open("complaint")
    actor = world.actor("agent")
    data = {"channel": "phone", "summary": "hello"}
    first = world.app.act(actor, case.id, "log_contact", data, idempotency=("key-1", "fp-a"))
    again = world.app.act(actor, case.id, "log_contact", data, idempotency=("key-1", "fp-a"))
    assert first.version == again.version == 2
    assert world.stored_count(case) == 2
    with pytest.raises(IdempotencyMismatch):
        world.app.act(actor, case.id, "log_contact", {"channel": "sms", "summary": "x"},
                      idempotency=("key-1", "fp-b"))
    assert world.stored_count(case) == 2


def test_refused_command_writes_nothing(database_url: str) -> None:
    world = World(database_url)
    case = world.open("complaint")
    before = world.app.recorder.max_notification_id()
    with pytest.raises(InvalidFields):
        world.act(case, "assign", "supervisor", {"assignee": "agent", "extra": 1})
    assert world.app.recorder.max_notification_id() == before

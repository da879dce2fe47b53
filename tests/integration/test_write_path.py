"""The optimised write path keeps its guarantees, on SQLite and PostgreSQL.

- Commands decide on the copy of the case this process committed last (no
  read); when another process wrote in between, the save fails on the
  version and the command is decided again on the stored case: no lost
  update, no false 409, no false refusal, an unbroken hash chain.
- Snapshots (every 100 events of a case) load the same case as a full
  replay, with the right chain head, so the next command continues the chain.
- PostgreSQL's one-round-trip recorder keeps ids unique and ordered.
"""

from __future__ import annotations

from typing import Any

import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent

from domain.application import CaseTrail
from domain.model.errors import ActionNotAllowed, VersionConflict
from domain.storage.chain import genesis_hash
from domain.storage.database import env_for_url
from tests.support import CUSTOMER, World, complaint_to

CONTACT = {"channel": "phone", "summary": "called back"}


def deployed(world: World, url: str) -> CaseTrail:
    """A second 'process': the application as deployed (aggregate cache on)."""
    return CaseTrail.from_url(url, clock=lambda: world.now)


def assert_chain(app: CaseTrail, case_id: Any) -> list[dict[str, Any]]:
    history = app.case_history(case_id)
    assert [h["version"] for h in history] == list(range(1, len(history) + 1))
    prev = genesis_hash(case_id)
    for entry in history:
        assert entry["prev_hash"] == prev, entry["version"]
        prev = entry["hash"]
    return history


def test_commands_from_two_processes_never_decide_on_a_stale_copy(database_url: str) -> None:
    world = World(database_url)
    one, two = deployed(world, database_url), deployed(world, database_url)
    agent, supervisor = world.actor("agent"), world.actor("supervisor")
    case = complaint_to(world, "investigating")
    one.act(agent, case.id, "log_contact", CONTACT)          # one keeps a copy at version 4
    two.act(agent, case.id, "log_contact", CONTACT)          # ... which is now behind
    after = one.act(agent, case.id, "log_contact", CONTACT)  # conflict on the copy, retried fresh
    assert after.version == 6
    two.act(agent, case.id, "log_contact", CONTACT)
    # expected_version is checked against the stored case, not the stale copy: no false 409
    assert one.act(agent, case.id, "log_contact", CONTACT, expected_version=7).version == 8
    with pytest.raises(VersionConflict):
        one.act(agent, case.id, "log_contact", CONTACT, expected_version=7)
    # a refusal on the stale copy is decided again on the stored case
    two.act(agent, case.id, "propose_resolution", {"resolution": "refund"})
    approved = one.act(supervisor, case.id, "approve_resolution", {})
    assert approved.status == "resolution_approved"
    with pytest.raises(ActionNotAllowed):
        one.act(supervisor, case.id, "approve_resolution", {})
    history = assert_chain(world.app, case.id)
    assert len(history) == world.app.get_case(case.id).version == approved.version
    fresh = CaseTrail(env_for_url(database_url))
    assert fresh.get_case(case.id).view(None, None) == one.get_case(case.id).view(None, None)
    for app in (one, two, fresh):
        app.close()


def test_committed_copies_are_private(database_url: str) -> None:
    world = World(database_url)
    app = deployed(world, database_url)
    case = complaint_to(world, "investigating")
    returned = app.act(world.actor("agent"), case.id, "log_contact", CONTACT)
    returned.status = "closed"  # a caller scribbling on what it got back
    returned.fields["category"] = "scribbled"
    again = app.act(world.actor("agent"), case.id, "log_contact", CONTACT)
    assert again.status == "investigating" and "category" not in again.fields
    app.close()


def test_snapshots_load_the_same_case_and_continue_the_chain(database_url: str) -> None:
    world = World(database_url)
    app = deployed(world, database_url)
    agent = world.actor("agent")
    case = complaint_to(world, "investigating")
    while app.get_case(case.id).version < 200:
        world.advance(minutes=1)
        app.act(agent, case.id, "log_contact", CONTACT)
    assert app.snapshots is not None
    snaps = [s.originator_version for s in app.snapshots.get(case.id)]
    assert snaps == [100, 200]
    full = CaseTrail({**env_for_url(database_url), "IS_SNAPSHOTTING_ENABLED": "n"})
    assert full.snapshots is None
    history = assert_chain(world.app, case.id)
    for version in (99, 100, 101, 150, 200):
        from_snapshot = app.get_case(case.id, version=version)
        replayed = full.get_case(case.id, version=version)
        assert from_snapshot.view(None, None) == replayed.view(None, None)
        assert from_snapshot.head_hash == replayed.head_hash == history[version - 1]["hash"]
    # a new process loads from the snapshot at the head (no events after it) and continues the chain
    restarted = deployed(world, database_url)
    assert restarted.get_case(case.id).head_hash == history[-1]["hash"]
    restarted.act(agent, case.id, "log_contact", CONTACT)
    assert_chain(world.app, case.id)
    for a in (app, full, restarted):
        a.close()


@pytest.mark.postgres
def test_one_trip_recorder_keeps_ids_unique_and_ordered(pg_url: str) -> None:
    from domain.storage.recorder import OneTripRecorder

    world = World(pg_url)
    recorder = world.app.recorder
    assert isinstance(recorder, OneTripRecorder)
    before = recorder.max_notification_id() or 0
    # the case and its number series: several events in one call
    result = world.app.open(world.actor("agent"), "complaint", "Case", CUSTOMER, {})
    case = result.case
    notifications = recorder.select_notifications(before, 10, inclusive_of_start=False)
    ids = [n.id for n in notifications]
    assert len(ids) >= 2 and ids == list(range(before + 1, before + 1 + len(ids)))
    assert result.position == ids[-1] and not result.replayed
    stored = recorder.select_events(case.id)
    duplicate = StoredEvent(case.id, 1, stored[0].topic, stored[0].state)
    with pytest.raises(IntegrityError):
        recorder.insert_events([duplicate])
    with pytest.raises(IntegrityError):  # all or nothing
        recorder.insert_events([StoredEvent(case.id, 2, stored[0].topic, b"x"), duplicate])
    assert len(recorder.select_events(case.id)) == 1
    assert recorder.max_notification_id() == ids[-1]
    world.act(complaint_to(world, "assigned"), "start_investigation", "agent")

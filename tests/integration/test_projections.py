"""Read models on SQLite and PostgreSQL: incremental = replay, lists and cursors, status,
resumable rebuild, the SLA check command (exactly once, deterministic)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from click.testing import CliRunner

from domain.application import CaseTrail
from projections.case_state import encode_cursor
from projections.catalog import ALL_PROJECTIONS, PROJECTIONS
from projections.generator import Generator
from projections.maintenance import checksums, rebuild, status
from projections.queries import ReadModels
from projections.runner import Worker
from projections.views import Store
from projections.workers import start_background
from scripts.cli import cli
from tests.support import World, complaint_to


# ----------------------------------------------------------------- helpers
def catch_up(app: CaseTrail, batch_size: int = 500) -> None:
    store = Store.for_app(app)
    try:
        Worker(app, store, batch_size=batch_size).run_once()
    finally:
        store.close()


def active_checksums(store: Store) -> dict[str, dict[str, str]]:
    pointers = store.pointers()
    return {name: checksums(store, name, pointers[name][0]) for name in PROJECTIONS}


def replay_checksums(app: CaseTrail, store: Store) -> dict[str, dict[str, str]]:
    """Checksums of a from-scratch replay (a rebuild into new tables, not switched)."""
    result = rebuild(app, store, switch=False)
    return {name: checksums(store, name, version) for name, version in result.versions.items()}


def head(app: CaseTrail) -> int:
    return app.recorder.max_notification_id() or 0


# ------------------------------------------------------------------- tests
def test_incremental_read_models_equal_a_replay(database_url: str) -> None:
    app = CaseTrail.from_url(database_url)
    generator = Generator(app, seed=7)
    store = Store.for_app(app)
    first = Worker(app, store, batch_size=7)
    second = Worker(app, Store.for_app(app), batch_size=11)  # a second worker on the same read models
    first.sync_versions()
    for _ in range(6):
        generator.run(150)
        first.pump.step()  # part of the way
        second.run_once()  # all the way: the first worker's next commit finds the position moved
        generator.run(20)
        first.run_once()
    generator.run(100)
    first.run_once()
    assert {m.name: m.position for m in first.models.values()} == {n: head(app) for n in ALL_PROJECTIONS}
    assert active_checksums(store) == replay_checksums(app, store)
    second.store.close()
    store.close()


def _cases(world: World) -> list[Any]:
    cases = []
    for i in range(12):
        world.advance(minutes=10)
        customer = {"id": f"C-{i % 3}", "name": "n", "tier": "regular"}
        if i % 4 == 3:
            cases.append(world.open("inquiry", customer=customer))
        else:
            case = world.open("complaint", customer=customer)
            if i % 2 == 0:
                case = world.act(case, "assign", "supervisor", {"assignee": "agent" if i % 3 else "agent2"})
            cases.append(case)
    return cases


def test_case_list_filters_and_keyset_pagination(database_url: str) -> None:
    world = World(database_url)
    cases = _cases(world)
    catch_up(world.app)
    models = ReadModels(database_url)
    now = world.now
    everything, cursor = models.list_cases(now=now, limit=500)
    assert cursor is None and len(everything) == 12
    keys = [(c["opened_at"], c["id"]) for c in everything]
    assert keys == sorted(keys, reverse=True)
    paged, cursor = [], None
    while True:
        page, cursor = models.list_cases(now=now, limit=5, cursor=cursor)
        paged += page
        if cursor is None:
            break
    assert [c["id"] for c in paged] == [c["id"] for c in everything]
    assigned, _ = models.list_cases(now=now, status="assigned", assignee="agent")
    assert {c["id"] for c in assigned} == {str(c.id) for c in cases
                                           if c.status == "assigned" and c.assignee == "agent"}
    assert len(models.list_cases(now=now, type="inquiry")[0]) == 3
    assert len(models.list_cases(now=now, customer_id="C-1")[0]) == 4
    assert len(models.list_cases(now=now, department="cs")[0]) == 12
    middle = everything[6]["opened_at"]
    older, _ = models.list_cases(now=now, opened_to=middle)
    newer, _ = models.list_cases(now=now, opened_from=middle)
    assert len(older) + len(newer) == 12 and all(c["opened_at"] < middle for c in older)
    first_item = everything[0]
    assert set(first_item) == {"id", "number", "type", "status", "title", "assignee", "department",
                               "customer_id", "opened_at", "updated_at", "next_due_at", "overdue", "version"}
    # two days later every open complaint/inquiry has a clock past due: most overdue first
    later = now + timedelta(days=2)
    overdue, cursor = models.list_cases(now=later, overdue=True, limit=4)
    rest: list[dict[str, Any]] = []
    while cursor:
        page, cursor = models.list_cases(now=later, overdue=True, limit=4, cursor=cursor)
        rest += page
    due = [(c["next_due_at"], c["id"]) for c in overdue + rest]
    assert len(due) == 12 and due == sorted(due) and all(c["overdue"] for c in overdue + rest)
    assert models.list_cases(now=later, overdue=False)[0] == []
    assert len(models.list_cases(now=now, overdue=False)[0]) == 12
    models.close()


def test_bad_cursor_and_bad_arguments(database_url: str) -> None:
    world = World(database_url)
    _cases(world)
    catch_up(world.app)
    models = ReadModels(database_url)
    _, cursor = models.list_cases(now=world.now, limit=2)
    _, overdue_cursor = models.list_cases(now=world.now + timedelta(days=3), overdue=True, limit=2)
    for bad in ["zzz", "bm90IGpzb24", encode_cursor("opened", [1]), overdue_cursor]:
        with pytest.raises(ValueError, match="invalid cursor"):
            models.list_cases(now=world.now, cursor=bad)
    with pytest.raises(ValueError, match="invalid cursor"):
        models.audit_events(cursor=cursor)
    with pytest.raises(ValueError, match="limit"):
        models.list_cases(now=world.now, limit=501)
    with pytest.raises(ValueError, match="opened_from"):
        models.list_cases(now=world.now, opened_from="yesterday")
    with pytest.raises(ValueError, match="month"):
        models.department_report("cs", "2026-13")
    with pytest.raises(ValueError, match="from"):
        models.staff_performance("agent", "2026-11-31", "2026-12-01")
    models.close()


def test_audit_history_rows_and_pagination(database_url: str) -> None:
    world = World(database_url)
    case = complaint_to(world, "replied")
    catch_up(world.app)
    models = ReadModels(database_url)
    rows, cursor = models.audit_events(case_id=str(case.id), limit=3)
    while cursor:
        page, cursor = models.audit_events(case_id=str(case.id), limit=3, cursor=cursor)
        rows += page
    history = world.app.case_history(case.id)
    assert [r["version"] for r in rows] == [h["version"] for h in history]
    assert all(r["case_number"] == case.number for r in rows)
    assign = next(r for r in rows if r["event_type"] == "Case.ActionTaken")
    assert assign["summary"] == f"supervisor: assign on {case.number} (registered → assigned); assignee ∅ → agent"
    assert assign["changes"] == {"assignee": [None, "agent"], "status": ["registered", "assigned"]}
    assert assign["roles"] == ["supervisor"] and assign["actor"] == "supervisor"
    by_agent, _ = models.audit_events(actor="agent", limit=500)
    assert {r["actor"] for r in by_agent} == {"agent"} and len(by_agent) == 4
    staff, _ = models.audit_events(actor="system:admin", limit=500)
    assert {r["kind"] for r in staff} == {"staff"}
    assert models.audit_events(time_from=world.now + timedelta(seconds=1))[0] == []
    models.close()


def test_status_positions_and_wait_for(database_url: str) -> None:
    world = World(database_url)
    complaint_to(world, "assigned")
    app = world.app
    store = Store.for_app(app)
    before = {r["name"]: r for r in status(app, store)}
    assert all(r["lag_events"] == head(app) for r in before.values())
    catch_up(app)
    models = ReadModels(database_url)
    assert models.positions() == {name: head(app) for name in PROJECTIONS}
    assert models.wait_for(head(app), 0.1)
    assert not models.wait_for(head(app) + 1, 0.2)
    after = status(app, store)
    assert [r["name"] for r in after] == [*PROJECTIONS, "webhooks"]  # the outbox, once a worker has run it
    assert [(r["version"], r["lag_events"], r["lag_seconds"]) for r in after] == [(1, 0, 0.0)] * 4
    models.close()
    store.close()


def test_rebuild_is_interruptible_and_resumes(database_url: str) -> None:
    app = CaseTrail.from_url(database_url)
    Generator(app, seed=3).run(700)
    catch_up(app)
    store = Store.for_app(app)
    expected = active_checksums(store)
    stop = threading.Event()
    calls = []

    def progress(position: int, _head: int) -> None:
        calls.append(position)
        if len(calls) == 3:
            stop.set()

    first = rebuild(app, store, batch_size=100, stop=stop, progress=progress)
    assert first.interrupted and 0 < first.position < head(app) and not first.switched
    assert {n: v for n, (v, _) in store.pointers().items() if n in PROJECTIONS} == {n: 1 for n in PROJECTIONS}
    second = rebuild(app, store, batch_size=100)
    assert second.versions == first.versions == {n: 2 for n in PROJECTIONS}
    assert second.events == head(app) - first.position  # continued where the first stopped
    assert sorted(second.switched) == sorted(PROJECTIONS)
    assert store.pointers() == {**{n: (2, None) for n in PROJECTIONS}, "webhooks": (1, None)}  # never rebuilt
    assert active_checksums(store) == expected
    third = rebuild(app, store, ["case_state"])
    assert third.versions == {"case_state": 3} and store.versions_present("case_state") == {2, 3}
    store.close()


def test_sla_check_records_each_breach_once(database_url: str) -> None:
    world = World(database_url)
    first = world.open("complaint")
    world.advance(hours=1)
    second = complaint_to(world, "assigned")
    world.act(second, "log_contact", "agent", {"channel": "phone", "summary": "called"})  # first response met
    runner = CliRunner()
    env = {"CASETRAIL_DATABASE_URL": database_url}
    now = "2026-11-18T09:00:00+08:00"
    result = runner.invoke(cli, ["sla", "check", "--now", now], env=env)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        f"{first.number}\tfirst_response\tdue 2026-11-17T10:00:00+08:00\tescalated to supervisor",
        f"{first.number}\tresolution\tdue 2026-11-17T10:00:00+08:00\tescalated to dept_head",
        f"{second.number}\tresolution\tdue 2026-11-17T11:00:00+08:00\tescalated to dept_head",
        f"3 breach(es) recorded at {datetime.fromisoformat(now).isoformat()}",
    ]
    again = runner.invoke(cli, ["sla", "check", "--now", now], env=env)
    assert again.output.splitlines() == [f"0 breach(es) recorded at {datetime.fromisoformat(now).isoformat()}"]
    history = world.app.case_history(first.id)
    breaches = [h for h in history if h["type"] == "DeadlineBreached"]
    # dated by the server clock (never ahead of it), each naming the due time it missed
    assert [(h["data"]["clock"], h["data"]["due_at"], h["actor"]) for h in breaches] == [
        ("first_response", "2026-11-17T10:00:00+08:00", "system:sla-monitor"),
        ("resolution", "2026-11-17T10:00:00+08:00", "system:sla-monitor")]
    assert all(datetime.fromisoformat(h["occurred_at"]) >= datetime.fromisoformat(now) for h in breaches)
    bad = runner.invoke(cli, ["sla", "check", "--now", "2026-11-18"], env=env)
    assert bad.exit_code != 0 and "--now" in bad.output
    catch_up(world.app)
    models = ReadModels(database_url)
    overdue, _ = models.list_cases(now=datetime.fromisoformat(now), overdue=True)
    assert {c["number"] for c in overdue} == {first.number, second.number}
    models.close()


def test_projections_cli_status_and_rebuild(database_url: str) -> None:
    world = World(database_url)
    complaint_to(world, "replied")
    runner = CliRunner()
    env = {"CASETRAIL_DATABASE_URL": database_url}
    rebuilt = runner.invoke(cli, ["projections", "rebuild", "--quiet"], env=env)
    assert rebuilt.exit_code == 0, rebuilt.output
    assert "switched case_state, staff_performance, audit_history" in rebuilt.output
    shown = runner.invoke(cli, ["projections", "status"], env=env)
    lines = shown.output.splitlines()
    assert lines[0].split()[:3] == ["projection", "version", "position"]
    assert [line.split()[:2] for line in lines[1:]] == [[n, "v2"] for n in PROJECTIONS]
    unknown = runner.invoke(cli, ["projections", "rebuild", "nope"], env=env)
    assert unknown.exit_code != 0 and "unknown projection" in unknown.output


def test_background_workers_run_the_sla_monitor(database_url: str) -> None:
    world = World(database_url)
    world.now = datetime.now(UTC) - timedelta(days=3)  # the monitor uses the real clock
    case = world.open("complaint")
    stop = start_background(database_url, sla_interval=0.1, poll_seconds=0.05)
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and len(_breaches(world, case)) < 2:
            time.sleep(0.05)
        time.sleep(0.5)  # several more passes: nothing is recorded twice
    finally:
        stop()
    assert _breaches(world, case) == ["first_response", "resolution"]


def _breaches(world: World, case: Any) -> list[str]:
    return [h["data"]["clock"] for h in world.app.case_history(case.id) if h["type"] == "DeadlineBreached"]


def test_read_models_set_up_by_many_threads_at_once(database_url: str) -> None:
    """Eight threads opening the same read model on a database that has none
    yet (as a server's request threads and its worker do on first start) all
    succeed: on SQLite the library's migration row used to make all but one
    fail with "Failed to record tracking for __migration__ 1"."""
    CaseTrail.from_url(database_url).close()
    errors: list[str] = []
    for name in PROJECTIONS:  # each one a first set-up of its tables
        barrier = threading.Barrier(8)

        def open_view(name: str = name, barrier: threading.Barrier = barrier) -> None:
            models = ReadModels(database_url)
            barrier.wait()
            try:
                models.view(name)
            except Exception as e:  # noqa: BLE001 - any failure fails the test
                errors.append(f"{name}: {e!r}")
            finally:
                models.close()

        threads = [threading.Thread(target=open_view) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == []

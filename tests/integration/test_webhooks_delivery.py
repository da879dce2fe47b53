"""Webhook deliveries (issue 19) on SQLite and PostgreSQL, to a real local HTTP receiver.

The outbox projection and the dispatcher run as ``casetrail serve`` and ``projections run``
run them (``start_background``) or one pass at a time; the receiver checks every signature.
Waiting is for a condition, never a timed assertion."""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from click.testing import CliRunner

from api.events import feed_page
from projections.maintenance import rebuild
from projections.views import Store
from projections.webhook_dispatch import Dispatcher, Settings
from projections.webhook_outbox import outbox_tables
from projections.workers import start_background
from scripts.cli import cli
from tests.api_support import ApiWorld
from tests.integration.test_projections import catch_up
from tests.webhook_receiver import Receiver

SECRET = "a-shared-secret-of-some-length"
FAST = Settings(attempts=2, wait_initial=0.01, wait_max=0.05, round_pause=0.05, round_pause_max=0.2,
                disable_after=3, timeout=2.0, poll=0.05, lanes=2)
FAST_ENV = {"CASETRAIL_WEBHOOK_ATTEMPTS": "2", "CASETRAIL_WEBHOOK_WAIT_INITIAL": "0.01",
            "CASETRAIL_WEBHOOK_WAIT_MAX": "0.05", "CASETRAIL_WEBHOOK_ROUND_PAUSE": "0.05",
            "CASETRAIL_WEBHOOK_ROUND_PAUSE_MAX": "0.2", "CASETRAIL_WEBHOOK_POLL": "0.05",
            "CASETRAIL_CHECKPOINT_INTERVAL": "0"}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver(SECRET).start()
    yield r
    r.stop()


def until(condition: Callable[[], Any], seconds: float = 60.0, step: Callable[[], None] | None = None) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if step:
            step()
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not reached")


def subscribe(world: ApiWorld, url: str, events: list[str]) -> str:
    return str(world.call("POST", "/v1/webhooks", "admin", {"url": url, "events": events, "secret": SECRET},
                          status=201)["id"])


def some_events(world: ApiWorld, n: int) -> list[str]:
    ids = []
    for i in range(n):
        case = world.open("complaint", title=f"Case {i}")
        world.act(case, "assign", "supervisor", {"assignee": "agent"})
        ids.append(str(case.id))
    return ids


def pass_once(world: ApiWorld, settings: Settings = FAST) -> None:
    catch_up(world.app)
    store = Store.for_app(world.app)
    dispatcher = Dispatcher(world.app, store, settings)
    try:
        dispatcher.dispatch_once()
    finally:
        dispatcher.close()
        store.close()


def log_of(world: ApiWorld, sid: str) -> list[dict[str, Any]]:
    return world.call("GET", f"/v1/webhooks/{sid}/deliveries?limit=500", "admin", status=200)["items"]


def expected_positions(world: ApiWorld, types: set[str], after: int) -> list[int]:
    return [e["position"] for e in feed_page(world.app, after, 500) if e["type"] in types]


def test_receiver_stopped_and_started_again(world: ApiWorld, receiver: Receiver, database_url: str,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in FAST_ENV.items():
        monkeypatch.setenv(k, v)
    before = world.app.recorder.max_notification_id() or 0
    some_events(world, 1)  # before the subscription: never sent
    sid = subscribe(world, receiver.url, ["Opened", "ActionTaken"])
    start = world.app.recorder.max_notification_id() or 0
    stop = start_background(database_url, sla_interval=0, poll_seconds=0.05)
    try:
        some_events(world, 2)
        until(lambda: len(receiver.deliveries()) >= 4)
        receiver.stop()
        some_events(world, 3)  # happen while the receiver is down
        until(lambda: any(a["error"] for d in log_of(world, sid) for a in d["attempts"]))
        receiver.start()
        want = expected_positions(world, {"Opened", "ActionTaken"}, start)
        until(lambda: {r.body["position"] for r in receiver.deliveries()} >= set(want))
        until(lambda: all(d["status"] == "delivered" for d in log_of(world, sid)))
    finally:
        stop()
    got = receiver.deliveries()
    assert all(r.signed for r in got)
    assert {r.body["position"] for r in got} == set(want) and len(want) == 10
    assert min(want) > start > before
    by_id: dict[str, set[int]] = defaultdict(set)
    for r in got:
        by_id[r.delivery].add(r.body["position"])
        assert r.event == r.body["type"]
    assert all(len(p) == 1 for p in by_id.values())  # a duplicate only ever under the same delivery id
    assert len(by_id) == len(want)
    feed = {e["position"]: e for e in feed_page(world.app, start, 500)}
    assert all(r.body == feed[r.body["position"]] for r in got)  # the document of GET /v1/events
    first: dict[str, list[int]] = defaultdict(list)
    for r in got:
        if r.body["position"] not in first[r.body["case_id"]]:
            first[r.body["case_id"]].append(r.body["position"])
    assert all(p == sorted(p) for p in first.values())  # in order per case
    failed = [a for d in log_of(world, sid) for a in d["attempts"] if a["error"]]
    assert failed and all(a["status_code"] is None and a["duration_ms"] >= 0 for a in failed)


def test_failing_receiver_disables_then_reenable(world: ApiWorld, receiver: Receiver) -> None:
    sid = subscribe(world, receiver.url, ["Opened"])
    some_events(world, 4)
    receiver.fail = True
    view = until(lambda: (v := world.call("GET", f"/v1/webhooks/{sid}", "admin", status=200))["status"] == "disabled"
                 and v, step=lambda: pass_once(world))
    assert view["disabled_reason"].startswith("3 deliveries in a row failed") and "HTTP 500" in view["disabled_reason"]
    assert view["status_since"] and view["failures_in_a_row"] >= 3
    log = log_of(world, sid)
    assert [d["status"] for d in log] == ["pending"] * 4
    attempts = [a for d in log for a in d["attempts"]]
    assert len(attempts) == 3 * FAST.attempts and {a["status_code"] for a in attempts} == {500}
    assert {d["failed_rounds"] for d in log} == {0, 3}  # the oldest one failed; the others waited behind it
    pass_once(world)  # disabled: nothing is tried
    assert len([a for d in log_of(world, sid) for a in d["attempts"]]) == len(attempts)
    receiver.fail = False
    again = world.call("PATCH", f"/v1/webhooks/{sid}", "admin", {"status": "active"}, status=200)
    assert again["status"] == "active" and again["disabled_reason"] is None and again["failures_in_a_row"] == 0
    until(lambda: len(receiver.deliveries()) == 4, step=lambda: pass_once(world))
    assert all(d["status"] == "delivered" for d in log_of(world, sid))
    events = [type(e).__name__ for e in world.app.repository.event_store.get(UUID(sid))]
    assert events == ["Subscribed", "Reenabled"]


def test_denied_at_delivery_time(world: ApiWorld, receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    sid = subscribe(world, receiver.url.replace("127.0.0.1", "localhost"), ["Opened"])
    some_events(world, 1)
    monkeypatch.setenv("CASETRAIL_WEBHOOK_DENY", "127.0.0.0/8,::1/128")
    pass_once(world)
    attempts = [a for d in log_of(world, sid) for a in d["attempts"]]
    assert attempts and all("denies" in a["error"] for a in attempts)
    assert receiver.deliveries() == []


def test_delete_stops_deliveries(world: ApiWorld, receiver: Receiver) -> None:
    sid = subscribe(world, receiver.url, ["Opened", "ActionTaken"])
    some_events(world, 2)
    catch_up(world.app)
    assert [d["status"] for d in log_of(world, sid)] == ["pending"] * 4
    world.call("DELETE", f"/v1/webhooks/{sid}", "admin", status=None)
    some_events(world, 1)
    pass_once(world)
    assert receiver.deliveries() == []
    store = Store.for_app(world.app)
    try:
        rows = store.read(f"SELECT status FROM {outbox_tables(store)['webhook_deliveries']}")
    finally:
        store.close()
    assert [r["status"] for r in rows] == ["cancelled"] * 4


def test_rebuild_does_not_send_again(world: ApiWorld, receiver: Receiver, database_url: str) -> None:
    subscribe(world, receiver.url, ["Opened"])
    some_events(world, 3)
    until(lambda: len(receiver.deliveries()) == 3, step=lambda: pass_once(world))
    store = Store.for_app(world.app)
    try:
        result = rebuild(world.app, store)
        assert "webhooks" not in result.versions and result.switched
        with pytest.raises(ValueError, match="never rebuilt"):
            rebuild(world.app, store, ["webhooks"])
        assert store.pointers()["webhooks"] == (1, None)
    finally:
        store.close()
    pass_once(world)
    assert len(receiver.deliveries()) == 3
    env = {"CASETRAIL_DATABASE_URL": database_url}
    shown = CliRunner().invoke(cli, ["projections", "status", "--json"], env=env)
    rows = {r["name"]: r for r in json.loads(shown.output)}
    assert rows["webhooks"]["version"] == 1 and rows["webhooks"]["lag_events"] == 0 and "rebuilding" not in rows[
        "webhooks"]
    cli_run = CliRunner().invoke(cli, ["projections", "rebuild", "webhooks", "--quiet"], env=env)
    assert cli_run.exit_code == 2 and "never rebuilt" in cli_run.output


def test_one_dispatcher_per_subscription_at_a_time(world: ApiWorld, receiver: Receiver) -> None:
    sid = subscribe(world, receiver.url, ["Opened"])
    some_events(world, 2)
    catch_up(world.app)
    store = Store.for_app(world.app)
    first, second = Dispatcher(world.app, store, FAST), Dispatcher(world.app, store, FAST)
    try:
        assert first.table.lease(sid, first.owner, 60)  # the first is sending this subscription's deliveries
        second.dispatch_once()
        assert receiver.deliveries() == []  # the second leaves them alone
        first.table.release(sid, first.owner)
        second.dispatch_once()
        assert len(receiver.deliveries()) == 2
    finally:
        first.close()
        second.close()
        store.close()


def test_the_delivery_log_pages(world: ApiWorld, receiver: Receiver) -> None:
    sid = subscribe(world, receiver.url, ["Opened", "ActionTaken"])
    some_events(world, 2)
    until(lambda: len(receiver.deliveries()) == 4, step=lambda: pass_once(world))
    page = world.call("GET", f"/v1/webhooks/{sid}/deliveries?limit=3", "admin", status=200)
    assert len(page["items"]) == 3 and page["next_cursor"]
    rest = world.call("GET", f"/v1/webhooks/{sid}/deliveries?limit=3&cursor={page['next_cursor']}", "admin",
                      status=200)
    assert len(rest["items"]) == 1 and rest["next_cursor"] is None
    positions = [d["position"] for d in page["items"] + rest["items"]]
    assert positions == sorted(positions, reverse=True) and len(set(positions)) == 4
    assert all(d["status"] == "delivered" and d["delivered_at"] and len(d["attempts"]) == 1
               and d["attempts"][0]["status_code"] == 204 for d in page["items"] + rest["items"])


def test_an_erasure_before_sending_is_honoured(world: ApiWorld, receiver: Receiver) -> None:
    subscribe(world, receiver.url, ["Opened"])
    world.open("complaint", customer={"id": "C-77", "name": "赵云", "phone": "13900001111", "tier": "member"})
    catch_up(world.app)  # in the outbox: no personal value there, the document is read when sent
    world.app.erase_customer(world.actor("admin"), "C-77", "asked to be forgotten")
    until(lambda: receiver.deliveries(), step=lambda: pass_once(world))
    body = receiver.deliveries()[0].body
    assert body["data"]["customer"]["name"] == "[erased]" and "13900001111" not in str(body)


def test_old_deliveries_are_forgotten(world: ApiWorld, receiver: Receiver) -> None:
    sid = subscribe(world, receiver.url, ["Opened"])
    some_events(world, 2)
    until(lambda: len(receiver.deliveries()) == 2, step=lambda: pass_once(world))
    store = Store.for_app(world.app)
    dispatcher = Dispatcher(world.app, store, FAST)
    try:
        assert dispatcher.prune() == 0  # delivered just now: kept
        assert dispatcher.prune(datetime.now(UTC) + timedelta(days=31)) == 2
    finally:
        dispatcher.close()
        store.close()
    assert log_of(world, sid) == []
    assert world.app.subject_keys._rows("SELECT COUNT(*) AS n FROM casetrail_webhook_attempts", ())[0]["n"] == 0

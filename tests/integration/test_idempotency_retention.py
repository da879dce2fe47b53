"""Idempotency records expire after ``CASETRAIL_IDEMPOTENCY_RETENTION`` (default 7 days), on both databases.

Inside the window the guarantee is unchanged (same key + same request: the
original answer, nothing new recorded; same key + another request: 422).
After it the key may be used again: a new request is recorded as a new
window on the same record. The application's clock is the test's
(``tests.support.World``), so the window is crossed without waiting.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

import pytest

from domain.application import CaseTrail
from domain.keyed import Keyed
from domain.model.idempotency import IdempotencyRecord, retention_of
from domain.model.topics import topics
from domain.storage.database import StorageConfigError
from tests.api_support import ApiWorld
from tests.support import CUSTOMER

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def open_with_key(world: ApiWorld, key: str, title: str, by: str = "agent") -> Any:
    body = {"type": "complaint", "title": title, "customer": CUSTOMER}
    return world.client.post("/v1/cases", json=body, headers={**world.headers(by), "Idempotency-Key": key})


def events_of(world: ApiWorld, cls: Any) -> int:
    return len(world.app.recorder.select_notifications(1, 10_000, topics=topics(cls)))


def test_inside_the_window_nothing_changes_after_it_the_key_is_free(world: ApiWorld) -> None:
    first = open_with_key(world, "k-1", "first")
    assert first.status_code == 201
    world.advance(days=7, seconds=-1)  # the last second of the window
    again = open_with_key(world, "k-1", "first")
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    other = open_with_key(world, "k-1", "another body")
    assert other.status_code == 422 and other.json()["type"].endswith("idempotency-key-reused")
    assert events_of(world, IdempotencyRecord.Recorded) == 1

    world.advance(seconds=1)  # the window has passed: the key may be used for a new request
    reused = open_with_key(world, "k-1", "another body")
    assert reused.status_code == 201 and "Idempotent-Replayed" not in reused.headers
    assert reused.json()["id"] != first.json()["id"] and reused.json()["title"] == "another body"
    assert events_of(world, IdempotencyRecord.Renewed) == 1  # a new window on the same record
    # ... and the new window has the guarantee again
    world.advance(days=3)
    replayed = open_with_key(world, "k-1", "another body")
    assert replayed.headers.get("Idempotent-Replayed") == "true" and replayed.json()["id"] == reused.json()["id"]
    assert open_with_key(world, "k-1", "first").status_code == 422
    # the same request after its window is a new request too
    world.advance(days=7)
    assert open_with_key(world, "k-1", "another body").json()["id"] != reused.json()["id"]
    assert events_of(world, IdempotencyRecord.Renewed) == 2
    # another caller's key of the same name was never bound
    assert open_with_key(world, "k-1", "first", by="agent2").status_code == 201


def test_actions_keep_their_answer_for_the_window_then_the_key_is_free(world: ApiWorld) -> None:
    case = world.open_view("complaint")
    path = f"/v1/cases/{case['id']}/actions/log_contact"
    headers = {**world.headers("agent"), "Idempotency-Key": "contact-1"}
    body = {"channel": "phone", "summary": "called"}
    done = world.client.post(path, json=body, headers=headers)
    assert done.status_code == 200
    world.advance(days=6)
    assert world.client.post(path, json=body, headers=headers).json()["version"] == done.json()["version"]
    assert world.client.post(path, json={**body, "summary": "x"}, headers=headers).status_code == 422
    world.advance(days=1)
    again = world.client.post(path, json={**body, "summary": "called again"}, headers=headers)
    assert again.status_code == 200 and again.json()["version"] == done.json()["version"] + 1
    assert len(world.history(case)) == 3  # opened, two contacts


def test_the_retention_is_configurable(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CASETRAIL_IDEMPOTENCY_RETENTION", "1h")
    world = ApiWorld(database_url)
    try:
        assert world.app.idempotency_retention == timedelta(hours=1)
        first = open_with_key(world, "k", "a")
        world.advance(minutes=59)
        assert open_with_key(world, "k", "b").status_code == 422
        world.advance(minutes=1)
        assert open_with_key(world, "k", "b").json()["id"] != first.json()["id"]
    finally:
        world.close()
    monkeypatch.setenv("CASETRAIL_IDEMPOTENCY_RETENTION", "never")
    with CaseTrail.from_url(database_url) as app:
        assert app.idempotency_retention is None
    for bad in ("0d", "3wd", "soon", "-1h"):
        monkeypatch.setenv("CASETRAIL_IDEMPOTENCY_RETENTION", bad)
        with pytest.raises(StorageConfigError, match="CASETRAIL_IDEMPOTENCY_RETENTION"):
            CaseTrail.from_url(database_url)


def test_retention_notation_and_records_from_before_windows() -> None:
    assert retention_of(None) == retention_of("") == timedelta(days=7)
    assert retention_of("30m") == timedelta(minutes=30) and retention_of("NEVER") is None
    # a record stored before windows existed has no recorded_at: its window starts when it was created
    legacy = IdempotencyRecord(actor_id="a", key="k", request="r", status=201, case_id="c", case_version=1, meta={})
    assert legacy.recorded_at is None and legacy.started == legacy.created_on
    assert legacy.current(legacy.created_on + timedelta(days=6), timedelta(days=7))
    assert not legacy.current(legacy.created_on + timedelta(days=7), timedelta(days=7))
    assert legacy.current(legacy.created_on + timedelta(days=7000), None)


def test_a_record_written_by_a_concurrent_request_is_replayed_not_renewed(world: ApiWorld,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The one read of the key's record, before deciding, missed a record another request saved
    meanwhile (as two processes racing would): the save fails on the record's id, the command is
    decided again, reads the record and replays it."""
    first = open_with_key(world, "race", "first")
    original = Keyed.load.__func__  # type: ignore[attr-defined]
    missed: list[bool] = []

    def late(cls: type[Keyed], app: Any, actor_id: str, idempotency: Any) -> Keyed | None:
        keyed = original(cls, app, actor_id, idempotency)
        if not missed and keyed is not None:
            missed.append(True)
            return dataclasses.replace(keyed, record=None)  # the other request had not committed yet
        return keyed

    monkeypatch.setattr(Keyed, "load", classmethod(late))
    again = open_with_key(world, "race", "first")
    assert missed and again.headers.get("Idempotent-Replayed") == "true" and again.json()["id"] == first.json()["id"]
    missed.clear()
    assert open_with_key(world, "race", "other").status_code == 422
    assert events_of(world, IdempotencyRecord.Renewed) == 0
    assert events_of(world, IdempotencyRecord.Recorded) == 1


def test_webhook_subscription_keys_take_part_in_the_window(world: ApiWorld) -> None:
    """A subscription's Idempotency-Key is an Idempotency-Key like any other: bound for the window,
    free after it (a new subscription, a Renewed record)."""
    hook = {"url": "http://192.168.1.9/hook", "events": ["Opened"], "secret": "s3cret-s3cret-s3cret"}
    headers = {**world.headers("admin"), "Idempotency-Key": "sub"}
    first = world.client.post("/v1/webhooks", json=hook, headers=headers)
    assert first.status_code == 201, first.text
    world.advance(days=7, seconds=-1)
    again = world.client.post("/v1/webhooks", json=hook, headers=headers)
    assert again.headers.get("Idempotent-Replayed") == "true" and again.json()["id"] == first.json()["id"]
    other = {**hook, "events": ["Escalated"]}
    assert world.client.post("/v1/webhooks", json=other, headers=headers).status_code == 422

    world.advance(seconds=1)
    reused = world.client.post("/v1/webhooks", json=other, headers=headers)
    assert reused.status_code == 201 and "Idempotent-Replayed" not in reused.headers
    assert reused.json()["id"] != first.json()["id"] and reused.json()["events"] == ["Escalated"]
    assert events_of(world, IdempotencyRecord.Renewed) == 1
    replayed = world.client.post("/v1/webhooks", json=other, headers=headers)
    assert replayed.headers.get("Idempotent-Replayed") == "true" and replayed.json()["id"] == reused.json()["id"]
    assert len(world.call("GET", "/v1/webhooks", "admin", status=200)["items"]) == 2


def test_a_keyed_command_reads_its_key_record_once(world: ApiWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    """Replay check and record share one read of the key's record (it was read twice)."""
    case = world.open_view("complaint")
    record_id = IdempotencyRecord.create_id("agent", "once")
    loads: list[Any] = []
    load = world.app.load

    def counted(aggregate_id: Any, *args: Any, **kwargs: Any) -> Any:
        loads.append(aggregate_id)
        return load(aggregate_id, *args, **kwargs)

    monkeypatch.setattr(world.app, "load", counted)
    headers = {**world.headers("agent"), "Idempotency-Key": "once"}
    r = world.client.post(f"/v1/cases/{case['id']}/actions/log_contact", json={"channel": "phone", "summary": "called"}, headers=headers)
    assert r.status_code == 200, r.text
    assert loads.count(record_id) == 1
    world.advance(days=8)  # expired: renewed, again after one read
    r = world.client.post(f"/v1/cases/{case['id']}/actions/log_contact", json={"channel": "phone", "summary": "again"}, headers=headers)
    assert r.status_code == 200 and "Idempotent-Replayed" not in r.headers
    assert loads.count(record_id) == 2 and events_of(world, IdempotencyRecord.Renewed) == 1

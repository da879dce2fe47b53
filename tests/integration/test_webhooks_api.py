"""``/v1/webhooks`` (issue 19) on SQLite and PostgreSQL: admins only, every bad body a 422
naming each problem, the deny list, the audit trail, and no secret in the event store."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest

from domain.model.idempotency import IdempotencyRecord, fingerprint
from domain.model.webhooks import Subscription
from domain.storage.webhook_table import TABLE
from tests.api_support import ApiWorld
from tests.integration.test_projections import catch_up

SECRET = "s3cret-s3cret-s3cret"
GOOD = {"url": "http://127.0.0.1:9/hook", "events": ["Escalated", "Opened"], "secret": SECRET}


def post(world: ApiWorld, body: Any, by: str = "admin") -> Any:
    return world.client.post("/v1/webhooks", json=body, headers=world.headers(by))


def test_subscribe_list_show_delete(world: ApiWorld) -> None:
    created = post(world, GOOD)
    assert created.status_code == 201, created.text
    view = created.json()
    assert created.headers["Location"] == f"/v1/webhooks/{view['id']}" and "X-Casetrail-Position" in created.headers
    assert view["url"] == GOOD["url"] and view["events"] == ["Escalated", "Opened"]
    assert view["status"] == "active" and view["created_by"] == "admin" and "secret" not in view
    listed = world.call("GET", "/v1/webhooks", "admin", status=200)
    assert [w["id"] for w in listed["items"]] == [view["id"]] and listed["next_cursor"] is None
    assert world.call("GET", f"/v1/webhooks/{view['id']}", "admin", status=200)["id"] == view["id"]
    assert SECRET not in str(listed)
    # before any worker ran: an empty delivery log, not an error
    assert world.call("GET", f"/v1/webhooks/{view['id']}/deliveries", "admin", status=200) == {
        "items": [], "next_cursor": None}

    # the secret is neither in the event store nor in plain text in its own table
    stored = world.app.recorder.select_notifications(start=1, limit=10_000)
    assert not any(SECRET.encode() in bytes(n.state) for n in stored)
    rows = world.app.subject_keys._rows(f"SELECT secret FROM {TABLE}", ())
    assert rows and all(SECRET not in str(dict(r)) for r in rows)

    removed = world.client.delete(f"/v1/webhooks/{view['id']}", headers=world.headers("admin"))
    assert removed.status_code == 204, removed.text
    assert world.call("GET", "/v1/webhooks", "admin", status=200)["items"] == []
    world.call("GET", f"/v1/webhooks/{view['id']}", "admin", status=404)
    assert world.client.delete(f"/v1/webhooks/{view['id']}", headers=world.headers("admin")).status_code == 404

    # the audit trail: who subscribed and who removed it
    sub = world.app.repository.get(UUID(view["id"]))
    assert isinstance(sub, Subscription) and sub.deleted
    events = [type(e).__name__ for e in world.app.repository.event_store.get(sub.id)]
    assert events == ["Subscribed", "Unsubscribed"]
    assert all(e.meta["actor"] == "admin" for e in world.app.repository.event_store.get(sub.id))
    catch_up(world.app)
    audit = world.call("GET", "/v1/audit/events?limit=500", "reviewer", status=200)["items"]
    rows = [(r["event_type"], r["actor"]) for r in audit if r["kind"] == "webhook"]
    assert rows == [("Subscription.Subscribed", "admin"), ("Subscription.Unsubscribed", "admin")]
    verified = world.call("GET", "/v1/audit/verify", "reviewer", status=200)  # hash-chained like every aggregate
    assert verified["ok"] is True, verified


def test_only_admins(world: ApiWorld) -> None:
    head = world.app.recorder.max_notification_id()
    for by in ("agent", "supervisor", "reviewer"):
        assert post(world, GOOD, by).status_code == 403
        assert world.client.get("/v1/webhooks", headers=world.headers(by)).status_code == 403
    assert world.client.get("/v1/webhooks").status_code == 401
    sub = post(world, GOOD).json()
    for method in ("GET", "DELETE"):
        r = world.client.request(method, f"/v1/webhooks/{sub['id']}", headers=world.headers("agent"))
        assert r.status_code == 403
    r = world.client.get(f"/v1/webhooks/{sub['id']}/deliveries", headers=world.headers("reviewer"))
    assert r.status_code == 403
    r = world.client.patch(f"/v1/webhooks/{sub['id']}", json={"status": "active"}, headers=world.headers("agent"))
    assert r.status_code == 403
    assert world.app.recorder.max_notification_id() == head + 1  # only the admin's subscription


@pytest.mark.parametrize(("body", "fields"), [
    ({**GOOD, "extra": 1}, ["extra"]),
    ({"events": ["Opened"], "secret": SECRET}, ["url"]),
    ({**GOOD, "url": "ftp://example.com/x"}, ["url"]),
    ({**GOOD, "url": "http:///nohost"}, ["url"]),
    ({**GOOD, "url": "http://user:pw@example.com/"}, ["url"]),
    ({**GOOD, "url": 7}, ["url"]),
    ({**GOOD, "events": []}, ["events"]),
    ({**GOOD, "events": ["Opened", "Nope"]}, ["events[1]"]),
    ({**GOOD, "events": ["Opened", "Opened"]}, ["events"]),
    ({**GOOD, "secret": "short"}, ["secret"]),
    ({**GOOD, "secret": "x" * 300}, ["secret"]),
    ({"url": "gopher://x", "events": "Opened", "secret": 1}, ["url", "events", "secret"]),
    ([1, 2], [""]),
])
def test_bad_bodies_are_422_naming_every_field(world: ApiWorld, body: Any, fields: list[str]) -> None:
    head = world.app.recorder.max_notification_id()
    r = post(world, body)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert sorted({e["field"] for e in r.json()["errors"]}) == sorted(fields)
    assert world.app.recorder.max_notification_id() == head
    assert world.call("GET", "/v1/webhooks", "admin", status=200)["items"] == []


def test_malformed_requests(world: ApiWorld) -> None:
    h = world.headers("admin")
    assert world.client.post("/v1/webhooks", content=b"{not json", headers={**h, "Content-Type": "application/json"}
                             ).status_code == 400
    assert world.client.post("/v1/webhooks", content=b"x", headers={**h, "Content-Type": "text/plain"}
                             ).status_code == 415
    assert world.client.get("/v1/webhooks?x=1", headers=h).status_code == 400
    assert world.client.get("/v1/webhooks/not-a-uuid", headers=h).status_code == 404
    assert world.client.get(f"/v1/webhooks/{UUID(int=1)}/deliveries", headers=h).status_code == 404
    sub = post(world, GOOD).json()
    assert world.client.get(f"/v1/webhooks/{sub['id']}/deliveries?cursor=abc", headers=h).status_code == 400
    assert world.client.get(f"/v1/webhooks/{sub['id']}/deliveries?limit=0", headers=h).status_code == 400
    for bad in ({}, {"status": "disabled"}, {"status": "active", "url": "x"}, ["active"]):
        r = world.client.patch(f"/v1/webhooks/{sub['id']}", json=bad, headers=h)
        assert r.status_code == 422, (bad, r.text)
    ok = world.client.patch(f"/v1/webhooks/{sub['id']}", json={"status": "active"}, headers=h)
    assert ok.status_code == 200 and ok.json()["status"] == "active"


def test_deny_list(world: ApiWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    assert post(world, {**GOOD, "url": "http://localhost:9/"}).status_code == 201  # allowed by default
    monkeypatch.setenv("CASETRAIL_WEBHOOK_DENY", "127.0.0.0/8, ::1/128, 10.0.0.0/8")
    for url in ("http://127.0.0.1:9/", "http://localhost:9/", "http://[::1]:9/", "https://10.1.2.3/x"):
        r = post(world, {**GOOD, "url": url})
        assert r.status_code == 422, (url, r.text)
        assert r.json()["errors"][0]["field"] == "url" and "CASETRAIL_WEBHOOK_DENY" in r.json()["detail"]
    assert post(world, {**GOOD, "url": "http://192.168.1.9/"}).status_code == 201  # not denied
    assert len(world.call("GET", "/v1/webhooks", "admin", status=200)["items"]) == 2


def test_idempotency_key(world: ApiWorld) -> None:
    h = {**world.headers("admin"), "Idempotency-Key": "sub-1"}
    first = world.client.post("/v1/webhooks", json=GOOD, headers=h)
    again = world.client.post("/v1/webhooks", json=GOOD, headers=h)
    assert first.status_code == again.status_code == 201, again.text
    assert again.json()["id"] == first.json()["id"] and again.headers["Idempotent-Replayed"] == "true"
    other = world.client.post("/v1/webhooks", json={**GOOD, "events": ["Opened"]}, headers=h)
    assert other.status_code == 422 and other.json()["type"].endswith("idempotency-key-reused")
    assert len(world.call("GET", "/v1/webhooks", "admin", status=200)["items"]) == 1
    other_secret = world.client.post("/v1/webhooks", json={**GOOD, "secret": SECRET + "!"}, headers=h)
    assert other_secret.status_code == 422  # the secret counts, though only its keyed hash is recorded
    record = IdempotencyRecord.create_id("admin", "sub-1")
    fingerprint = world.app.repository.get(record).request
    assert fingerprint != fingerprint_of(GOOD)  # not the plain body's hash: no offline guessing of the secret


def fingerprint_of(body: dict[str, Any]) -> str:
    from api.negotiation import canonical

    return fingerprint("POST", "/v1/webhooks", canonical(body))

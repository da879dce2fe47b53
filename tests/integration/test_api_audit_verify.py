"""GET /v1/audit/verify over HTTP (in-process) on SQLite and PostgreSQL: roles, a clean
store, a tampered store naming case and version, and the merged GET/POST /v1/cases route."""

from __future__ import annotations

import warnings

import psycopg
import pytest

from api.app import create_app
from domain.storage.database import is_postgres
from tests.support import World, complaint_to

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient


def test_audit_verify_endpoint(database_url: str, tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CASETRAIL_SIGNING_KEY", str(tmp_path / "signing.pem"))
    world = World(database_url)
    case = complaint_to(world, "investigating")
    tokens = {who: world.app.issue_token(who) for who in ("reviewer", "agent")}
    with TestClient(create_app(world.app, configure_logs=False)) as client:
        def get(who: str, **params: str):
            return client.get("/v1/audit/verify", params=params,
                              headers={"Authorization": f"Bearer {tokens[who]}"})

        assert client.get("/v1/audit/verify").status_code == 401
        assert get("agent").status_code == 403
        clean = get("reviewer").json()
        assert clean["ok"] is True and clean["events_checked"] > 0 and clean["problems"] == []
        assert get("reviewer", case_id=str(case.id)).json()["cases_checked"] == 1
        assert get("reviewer", bogus="1").status_code == 400
        # tamper: delete a middle event of the case
        if is_postgres(database_url):
            with psycopg.connect(database_url, autocommit=True) as conn:
                conn.execute("DELETE FROM casetrail_events WHERE originator_id=%s AND originator_version=2",
                             (case.id,))
        else:
            import sqlite3

            path = database_url[len("sqlite:///"):]
            with sqlite3.connect(path) as conn:
                conn.execute("DELETE FROM stored_events WHERE originator_id=? AND originator_version=2",
                             (case.id.hex,))
        report = get("reviewer").json()
        assert report["ok"] is False
        assert {"case_id": str(case.id), "version": 2, "kind": "missing"} in [
            {k: p[k] for k in ("case_id", "version", "kind")} for p in report["problems"]]
        put = client.put("/v1/cases", headers={"Authorization": f"Bearer {tokens['agent']}"})
        assert put.status_code == 405 and "GET" in put.headers["allow"] and "POST" in put.headers["allow"]


def test_reads_of_lists_and_the_feed_are_recorded_and_the_public_key_is_published(
        sqlite_url: str, tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    from domain.audit.ledger import checkpoint
    from domain.audit.signing import signer_for

    monkeypatch.setenv("CASETRAIL_SIGNING_KEY", str(tmp_path / "signing.pem"))
    world = World(sqlite_url)
    complaint_to(world, "assigned")
    token = world.app.issue_token("reviewer")
    auth = {"Authorization": f"Bearer {token}"}
    with TestClient(create_app(world.app, configure_logs=False)) as client:
        assert client.get("/v1/audit/public-key").status_code == 404  # no key made yet
        signer = signer_for()
        checkpoint(world.app, signer)
        published = client.get("/v1/audit/public-key").json()
        assert published["pem"] == signer.public_pem() and published["key_id"] == signer.key_id
        pem = client.get("/v1/audit/public-key", headers={"Accept": "application/x-pem-file"})
        assert pem.text == signer.public_pem()
        chain = client.get("/v1/audit/checkpoints", headers=auth).json()
        assert [c["seq"] for c in chain["items"]] == [1] and chain["items"][0]["scheme"] == "ed25519"
        assert client.get("/v1/audit/checkpoints", headers={
            "Authorization": f"Bearer {world.app.issue_token('agent')}"}).status_code == 403
        assert client.get("/v1/cases", params={"status": "assigned"}, headers=auth).status_code == 200
        assert client.get("/v1/events", headers=auth).status_code == 200
    ledger = world.app.access_ledger
    assert [(r["actor"], r["what"], r["detail"]) for r in ledger.reads_of("case-list:reviewer")] == [
        ("reviewer", "cases", {"status": "assigned"})]
    assert [(r["actor"], r["what"]) for r in ledger.reads_of("event-feed:reviewer")] == [("reviewer", "events")]
    assert [r["what"] for r in ledger.reads_of("audit-checkpoints")] == ["audit-checkpoints"]

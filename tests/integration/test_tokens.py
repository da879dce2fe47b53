"""Tokens on both databases: ``casetrail token issue/list/revoke`` and what an expired or revoked token gets.

The commands run in-process through ``scripts.cli.main`` (click's ``CliRunner``
isolation captures stdout and stderr; the exit code is the one ``main``
gives). Expiry is checked with the application's fake clock (``tests.support.World``).
"""

from __future__ import annotations

import json
import re
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from click.testing import CliRunner

from api.app import create_app
from domain import tokens
from domain.application import CaseTrail
from domain.model.errors import TokenNotFound
from domain.model.staff import token_hash, token_id_of
from scripts.cli import main
from tests.support import World

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

TOKEN_LINE = re.compile(r"^ct_[A-Za-z0-9_\-]{20,}\n$")
TOKEN_ID = re.compile(r"^tk_[0-9a-f]{12}$")


@dataclass
class Ran:
    code: int
    stdout: str
    stderr: str


def casetrail(url: str, *args: str, input: str | None = None, monkeypatch: pytest.MonkeyPatch) -> Ran:
    """``casetrail ARGS`` in this process, as the installed script runs it (``scripts.cli.main``)."""
    runner = CliRunner()
    code = 0
    with runner.isolation(input=input, env={"CASETRAIL_DATABASE_URL": url}) as (out, err, _):
        monkeypatch.setattr(sys, "argv", ["casetrail", *args])
        try:
            main()
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
        stdout, stderr = out.getvalue().decode(), err.getvalue().decode()
    return Ran(code, stdout, stderr)


@pytest.fixture
def db(database_url: str) -> Iterator[str]:
    app = CaseTrail.from_url(database_url)
    app.register_staff("zhang", "张三", "cs", ["agent"])
    app.register_staff("li", "李四", "cs", ["supervisor"])
    app.close()
    yield database_url


def test_issue_prints_the_token_alone_on_stdout_and_its_id_on_stderr(db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    ran = casetrail(db, "token", "issue", "zhang", "--expires", "90d", monkeypatch=monkeypatch)
    assert ran.code == 0 and TOKEN_LINE.match(ran.stdout), (ran.stdout, ran.stderr)
    token = ran.stdout.strip()
    assert f"token id {token_id_of(token_hash(token))}" in ran.stderr and token not in ran.stderr
    legacy = casetrail(db, "token", "issue", "li", "--ttl-days", "3", monkeypatch=monkeypatch)  # the old spelling
    assert legacy.code == 0 and TOKEN_LINE.match(legacy.stdout)
    forever = casetrail(db, "token", "issue", "li", monkeypatch=monkeypatch)
    assert forever.code == 0 and TOKEN_LINE.match(forever.stdout)

    with CaseTrail.from_url(db) as app:
        now = app.clock()
        rows = {row["token_id"]: row for row in (t.listing(now) for t in tokens.tokens(app))}
    first = rows[token_id_of(token_hash(token))]
    assert first["staff_id"] == "zhang" and first["status"] == "active"
    lifetime = datetime.fromisoformat(first["expires_at"]) - datetime.fromisoformat(first["created_at"])
    assert lifetime == timedelta(days=90)
    second = rows[token_id_of(token_hash(legacy.stdout.strip()))]
    assert datetime.fromisoformat(second["expires_at"]) - datetime.fromisoformat(second["created_at"]) == \
        timedelta(days=3)
    assert rows[token_id_of(token_hash(forever.stdout.strip()))]["expires_at"] is None


def test_list_shows_ids_owners_times_and_status_never_the_token(db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    issued = {who: casetrail(db, "token", "issue", who, monkeypatch=monkeypatch).stdout.strip()
              for who in ("zhang", "li")}
    # a token that expired a year ago (issued by an application whose clock says 2025)
    past = datetime(2025, 1, 1, 9, 0, tzinfo=timezone(timedelta(hours=8)))
    with CaseTrail.from_url(db, clock=lambda: past) as app:
        old = app.issue_token("zhang", ttl=timedelta(days=1))
    revoked_id = token_id_of(token_hash(issued["li"]))
    assert casetrail(db, "token", "revoke", revoked_id, monkeypatch=monkeypatch).code == 0

    listed = casetrail(db, "token", "list", monkeypatch=monkeypatch)
    assert listed.code == 0, listed.stderr
    lines = [line.split("\t") for line in listed.stdout.splitlines()]
    assert all(len(cols) == 5 and TOKEN_ID.match(cols[0]) for cols in lines), lines
    status = {cols[0]: (cols[1], cols[4]) for cols in lines}
    assert status == {token_id_of(token_hash(issued["zhang"])): ("zhang", "active"),
                      revoked_id: ("li", "revoked"),
                      token_id_of(token_hash(old)): ("zhang", "expired")}
    expired = next(cols for cols in lines if cols[0] == token_id_of(token_hash(old)))
    assert datetime.fromisoformat(expired[2]) == past and datetime.fromisoformat(expired[3]) == past + timedelta(days=1)
    assert next(cols for cols in lines if cols[1] == "li")[3] == "never"
    for secret in (*issued.values(), old):
        assert secret not in listed.stdout and token_hash(secret) not in listed.stdout

    mine = casetrail(db, "token", "list", "zhang", "--json", monkeypatch=monkeypatch)
    rows = json.loads(mine.stdout)
    assert {r["staff_id"] for r in rows} == {"zhang"} and len(rows) == 2
    assert set(rows[0]) == {"token_id", "staff_id", "created_at", "expires_at", "status"}
    assert casetrail(db, "token", "list", "li", monkeypatch=monkeypatch).stdout.count("\n") == 1


def test_revoke_by_id_or_by_the_token_and_unknown_ids_fail_clearly(db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    a, b, c = (casetrail(db, "token", "issue", "zhang", monkeypatch=monkeypatch).stdout.strip() for _ in range(3))
    with CaseTrail.from_url(db) as app:
        app.authenticate(a)
        by_id = casetrail(db, "token", "revoke", token_id_of(token_hash(a)), monkeypatch=monkeypatch)
        assert by_id.code == 0 and by_id.stderr.strip() == f"revoked {token_id_of(token_hash(a))}"
        again = casetrail(db, "token", "revoke", token_id_of(token_hash(a)), monkeypatch=monkeypatch)
        assert again.code == 0  # revoking twice is harmless
        assert casetrail(db, "token", "revoke", b, monkeypatch=monkeypatch).code == 0  # the old form: the token
        assert casetrail(db, "token", "revoke", "-", input=c + "\n", monkeypatch=monkeypatch).code == 0  # stdin
        for token in (a, b, c):
            with pytest.raises(Exception, match="was revoked"):
                app.authenticate(token)
        revocations = [n for n in app.recorder.select_notifications(1, 1000)
                       if n.topic.endswith("ApiToken.Revoked")]
        assert len(revocations) == 3  # once each

    for args, message in ((("token", "revoke", "tk_000000000000"), "no token has the id 'tk_000000000000'"),
                          (("token", "revoke", "nonsense"), "no token has the id 'nonsense'"),
                          (("token", "revoke", "ct_unknown"), "unknown token"),
                          (("token", "list", "nobody"), "unknown staff member 'nobody'"),
                          (("token", "issue", "nobody"), "unknown staff member 'nobody'"),
                          (("token", "issue", "zhang", "--expires", "2wd"), "give minutes, hours or days"),
                          (("token", "issue", "zhang", "--expires", "0d"), "more than 0"),
                          (("token", "issue", "zhang", "--expires", "10d", "--ttl-days", "3"), "not both")):
        ran = casetrail(db, *args, monkeypatch=monkeypatch)
        assert ran.code == 2 and message in ran.stderr and ran.stdout == "", (args, ran)
        assert len(ran.stderr.strip().splitlines()) == 1, ran.stderr


def test_token_ids_are_found_and_unknown_ones_refused(database_url: str) -> None:
    world = World(database_url)
    token = world.app.issue_token("agent")
    assert tokens.find(world.app, token_id_of(token_hash(token))).staff_id == "agent"
    with pytest.raises(TokenNotFound):
        tokens.find(world.app, "tk_" + "0" * 12)
    world.app.close()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_an_expired_token_is_a_401_that_says_it_expired(database_url: str) -> None:
    world = World(database_url)
    short = world.app.issue_token("agent", ttl=timedelta(hours=1))
    other = world.app.issue_token("agent")
    with TestClient(create_app(world.app, configure_logs=False)) as client:
        assert client.get("/v1/case-types", headers=bearer(short)).status_code == 200
        world.advance(hours=1)
        r = client.get("/v1/case-types", headers=bearer(short))
        assert r.status_code == 401 and r.headers["content-type"].startswith("application/problem+json")
        problem: dict[str, Any] = r.json()
        assert problem["type"].endswith("token-expired") and "expired" in problem["detail"]
        assert problem["token_id"] == token_id_of(token_hash(short)) and short not in r.text
        assert r.headers["WWW-Authenticate"].startswith("Bearer")
        assert client.get("/v1/case-types", headers=bearer(other)).status_code == 200
        tokens.revoke(world.app, token_id_of(token_hash(other)))
        r = client.get("/v1/case-types", headers=bearer(other))
        assert r.status_code == 401 and "revoked" in r.json()["detail"]
        r = client.get("/v1/case-types", headers=bearer("ct_" + "x" * 40))
        assert r.status_code == 401 and r.json()["detail"] == "unknown token"
    world.app.close()


def test_revoking_by_id_ends_a_console_session(database_url: str) -> None:
    world = World(database_url)
    token = world.app.issue_token("reviewer")
    with TestClient(create_app(world.app, configure_logs=False)) as client:
        r = client.post("/console/login", data={"token": token, "next": "/console/cases"}, follow_redirects=False)
        assert r.status_code in (302, 303), r.text
        assert client.get("/console/cases", follow_redirects=False).status_code == 200
        tokens.revoke(world.app, token_id_of(token_hash(token)))
        r = client.get("/console/cases", follow_redirects=False)
        assert r.status_code in (302, 303) and "/console/login" in r.headers["location"]
    world.app.close()


def test_the_audit_log_names_the_token_by_its_id_never_its_hash(database_url: str) -> None:
    from projections.queries import ReadModels
    from projections.runner import Worker
    from projections.views import Store

    world = World(database_url)
    token = world.app.issue_token("agent", ttl=timedelta(days=90))
    tokens.revoke(world.app, token_id_of(token_hash(token)))
    store = Store.for_app(world.app)
    try:
        Worker(world.app, store).run_once()
    finally:
        store.close()
    models = ReadModels(database_url)
    try:
        rows, _ = models.audit_events(actor="system:admin", limit=500)
    finally:
        models.close()
    token_rows = [r for r in rows if r["kind"] == "token"]
    issued = next(r for r in token_rows if r["event_type"] == "ApiToken.Issued")
    assert issued["summary"].startswith(f"system:admin issued a token {token_id_of(token_hash(token))} for staff agent")
    revoked = next(r for r in token_rows if r["event_type"] == "ApiToken.Revoked")
    assert revoked["summary"] == f"system:admin revoked the token {token_id_of(token_hash(token))}"
    text = json.dumps(token_rows, default=str)
    assert token_hash(token) not in text and token not in text
    world.app.close()

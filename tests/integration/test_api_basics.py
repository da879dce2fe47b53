"""The API's plumbing in-process: redaction, negotiation, positions, token expiry,
the last-resort 500, readiness, and the route table / OpenAPI agreement."""

from __future__ import annotations

import io
import json
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import structlog
from starlette.requests import Request
from starlette.routing import Route

from api.app import SECTIONS, create_app
from api.logging import configure_logging, redact, redact_text
from api.negotiation import wants_event_stream, wants_msgpack
from api.openapi import merge_paths
from domain.application import CaseTrail

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

CUSTOMER = {"id": "C-1", "name": "王先生", "phone": "13800138000", "tier": "member"}


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 16, 2, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def world(database_url: str) -> Iterator[tuple[CaseTrail, Clock, dict[str, str]]]:
    clock = Clock()
    app = CaseTrail.from_url(database_url, clock=clock)
    for staff_id, roles in {"agent": ["agent"], "supervisor": ["supervisor"]}.items():
        app.register_staff(staff_id, staff_id, "cs", roles)
    tokens = {"agent": app.issue_token("agent"), "supervisor": app.issue_token("supervisor"),
              "short": app.issue_token("agent", ttl=timedelta(days=1))}
    yield app, clock, tokens
    app.close()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# ------------------------------------------------------------------ redaction
@pytest.mark.parametrize("secret", ["13800138000", "+8613912345678", "86-13912345678", "11010519491231002X",
                                    "11010519491231002x", "110105194912310021", "ct_k5FOYBXectJV-HNeak",
                                    "Bearer abc.def", "1380013800011010519491231002X"])
def test_redaction_removes_personal_data_and_tokens(secret: str) -> None:
    out = redact_text(f"before {secret} after")
    assert out.startswith("before ") and out.endswith(" after")
    assert secret not in out and secret[3:11] not in out


def test_redaction_keeps_ids_and_walks_nested_values() -> None:
    keep = "case 1858b4ec-eadb-56dc-ae7f-916f9b6b2704 v12 position 318 took 12.5 ms"
    assert redact_text(keep) == keep
    event = {"event": "x", "data": {"phone": 13800138000, "list": ["ct_abcdef", ("11010519491231002X",)]},
             "_record": object()}
    out = redact(None, "info", dict(event))
    text = json.dumps({k: v for k, v in out.items() if k != "_record"})
    assert "13800138000" not in text and "ct_abcdef" not in text and "11010519491231002X" not in text
    assert out["_record"] is event["_record"]


def test_configured_logging_is_json_and_redacted() -> None:
    stream = io.StringIO()
    configure_logging(stream)
    try:
        structlog.get_logger("t").info("hello", phone="13800138000", note="token ct_secret123 here")
        try:
            raise ValueError("boom with 11010519491231002X")
        except ValueError:
            structlog.get_logger("t").exception("failed")
    finally:
        configure_logging()
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert lines[0]["event"] == "hello" and lines[0]["phone"] == "[phone redacted]"
    assert "ct_secret123" not in stream.getvalue() and "11010519491231002X" not in stream.getvalue()
    assert "Traceback" in lines[1]["exception"]


# --------------------------------------------------------------- negotiation
def _request(accept: str) -> Request:
    return Request({"type": "http", "headers": [(b"accept", accept.encode())]})


@pytest.mark.parametrize("accept, msgpack", [
    ("application/msgpack", True), ("application/json", False), ("*/*", False), ("", False),
    ("application/json;q=0.5, application/msgpack", True), ("application/msgpack;q=0.1, application/json", False),
    ("application/x-msgpack", True), ("text/html", False), ("application/msgpack;q=nan", False)])
def test_accept_header_picks_msgpack_only_when_preferred(accept: str, msgpack: bool) -> None:
    assert wants_msgpack(_request(accept)) is msgpack


def test_event_stream_is_recognised() -> None:
    assert wants_event_stream(_request("text/event-stream"))
    assert not wants_event_stream(_request("text/event-stream;q=0, application/json"))


# ------------------------------------------------------ positions and tokens
def test_write_position_is_the_last_notification_of_the_command(world: Any) -> None:
    app, _, tokens = world
    with TestClient(create_app(app, configure_logs=False)) as client:
        r = client.post("/v1/cases", headers=bearer(tokens["agent"]),
                        json={"type": "complaint", "title": "t", "customer": CUSTOMER})
        assert int(r.headers["x-casetrail-position"]) == app.recorder.max_notification_id()
        cid = r.json()["id"]
        steps = [("supervisor", "assign", {"assignee": "agent"}), ("agent", "start_investigation", {}),
                 ("agent", "propose_resolution", {"resolution": "r"}), ("supervisor", "approve_resolution", {}),
                 ("agent", "reply_customer", {"reply": "done"})]  # the reply also opens a return visit
        for by, action, body in steps:
            r = client.post(f"/v1/cases/{cid}/actions/{action}", headers=bearer(tokens[by]), json=body)
            assert r.status_code == 200, r.text
            assert int(r.headers["x-casetrail-position"]) == app.recorder.max_notification_id()
        assert any(link["rel"] == "return_visit" for link in r.json()["links"])


def test_expired_and_revoked_tokens_are_refused(world: Any) -> None:
    app, clock, tokens = world
    with TestClient(create_app(app, configure_logs=False)) as client:
        assert client.get("/v1/case-types", headers=bearer(tokens["short"])).status_code == 200
        clock.now += timedelta(days=1, seconds=1)
        r = client.get("/v1/case-types", headers=bearer(tokens["short"]))
        assert r.status_code == 401 and r.headers["content-type"] == "application/problem+json"
        app.revoke_token(tokens["agent"])
        assert client.get("/v1/case-types", headers=bearer(tokens["agent"])).status_code == 401
        assert client.get("/v1/case-types", headers=bearer(tokens["supervisor"])).status_code == 200


# --------------------------------------------------------- failures and health
async def explode(request: Request) -> Any:
    raise RuntimeError("secret ct_abcdefgh 13800138000 in a bug")


class Broken:
    """An extra section whose handler fails the way a bug would."""

    routes = [Route("/boom", explode, methods=["GET"])]
    paths: dict[str, Any] = {}


def test_unexpected_errors_are_a_bare_500_problem(world: Any, capsys: pytest.CaptureFixture[str]) -> None:
    app, _, _ = world
    with TestClient(create_app(app, extra_sections=[Broken]), raise_server_exceptions=False) as client:
        r = client.get("/boom", headers={"X-Request-ID": "boom-1"})
    assert r.status_code == 500 and r.headers["content-type"] == "application/problem+json"
    assert r.json() == {"type": "https://casetrail.invalid/problems/internal-error", "title": "Internal server error",
                        "status": 500, "detail": r.json()["detail"], "request_id": "boom-1"}
    assert "secret" not in r.text and "Traceback" not in r.text
    out = capsys.readouterr()
    logged = out.out + out.err
    assert "RuntimeError" in logged and "boom-1" in logged
    assert "ct_abcdefgh" not in logged and "13800138000" not in logged
    configure_logging()


def test_readiness_fails_when_the_database_does(world: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    app, _, _ = world
    with TestClient(create_app(app, configure_logs=False)) as client:
        assert client.get("/readyz").status_code == 200

        def down() -> int:
            raise OSError("connection refused")

        monkeypatch.setattr(app.recorder, "max_notification_id", down)
        r = client.get("/readyz")
        assert r.status_code == 503 and r.json()["status"] == 503
        assert client.get("/healthz").status_code == 200


# -------------------------------------------------------------- route table
def test_every_route_is_described_and_described_once() -> None:
    described = merge_paths(*(s.paths for s in SECTIONS))
    for section in SECTIONS:
        for route in section.routes:
            for method in route.methods - {"HEAD"}:
                assert method.lower() in described[route.path], (route.path, method)
    with pytest.raises(ValueError, match="described twice"):
        merge_paths({"/x": {"get": {}}}, {"/x": {"get": {}}})
    assert merge_paths({"/x": {"get": {}}}, {"/x": {"post": {}}}) == {"/x": {"get": {}, "post": {}}}

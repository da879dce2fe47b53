"""End to end: every refusal is a problem document with the right status,
never a 500 and never a stack trace."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest

from tests.e2e.conftest import CUSTOMER, Server

PROBLEM_KEYS = {"type", "title", "status", "detail"}


def problem(r: httpx.Response, status: int) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    doc = r.json()
    assert PROBLEM_KEYS <= set(doc) and doc["status"] == status
    assert "Traceback" not in r.text and 'File "' not in r.text
    return doc


def test_authentication_problems(server: Server) -> None:
    anonymous = httpx.Client(base_url=server.url)
    for path in ("/v1/case-types", "/v1/events", f"/v1/cases/{uuid.uuid4()}"):
        doc = problem(anonymous.get(path), 401)
        assert "Authorization" in doc["detail"]
    r = anonymous.get("/v1/case-types", headers={"Authorization": "Bearer ct_not-a-real-token"})
    problem(r, 401)
    assert r.headers["www-authenticate"].startswith("Bearer")
    problem(anonymous.get("/v1/case-types", headers={"Authorization": "Basic dXNlcjpwYXNz"}), 401)
    problem(anonymous.post("/v1/cases", json={"type": "complaint"}), 401)
    anonymous.close()


def test_client_mistakes_get_4xx_problems(server: Server) -> None:
    agent = server["agent"]
    case = server.open_case()
    cid = case["id"]
    # 400: malformed bodies, headers, parameters
    for raw in (b"{not json", b'{"type": "complaint",}', b"\xff\xfe", b"[" * 5000 + b"]" * 5000,
                ("[" * 40 + "1" + "]" * 40).encode(),
                b'{"title": NaN}'):
        problem(agent.post("/v1/cases", content=raw, headers={"Content-Type": "application/json"}), 400)
    problem(agent.get("/v1/cases/not-a-uuid"), 404)  # shaped like a case number: an unknown case
    problem(agent.get("/v1/cases/not a uuid!"), 400)
    problem(agent.get(f"/v1/cases/{cid}", params={"version": "abc"}), 400)
    problem(agent.get(f"/v1/cases/{cid}", params={"version": "0"}), 400)
    problem(agent.get(f"/v1/cases/{cid}", params={"as_of": "yesterday"}), 400)
    problem(agent.get(f"/v1/cases/{cid}", params={"as_of": "2026-11-23T10:00:00"}), 400)  # no offset
    problem(agent.get(f"/v1/cases/{cid}", params={"versions": "1"}), 400)  # unknown parameter
    problem(agent.get("/v1/events", params={"after": "-1"}), 400)
    problem(agent.get("/v1/events", params={"limit": "100000"}), 400)
    problem(agent.post(f"/v1/cases/{cid}/actions/classify", json={}, headers={"If-Match": "banana"}), 400)
    problem(agent.post("/v1/cases", json={"type": "complaint", "title": "x", "customer": CUSTOMER},
                       headers={"Idempotency-Key": "bad key"}), 400)
    # 404: unknown things
    problem(agent.get(f"/v1/cases/{uuid.uuid4()}"), 404)
    problem(agent.get(f"/v1/cases/{uuid.uuid4()}/history"), 404)
    problem(agent.post(f"/v1/cases/{uuid.uuid4()}/actions/classify", json={}), 404)
    problem(agent.get(f"/v1/cases/{cid}", params={"version": "99"}), 404)
    problem(agent.get(f"/v1/cases/{cid}", params={"as_of": "2000-01-01T00:00:00+08:00"}), 404)
    problem(agent.get(f"/v1/cases/{cid}", params={"as_of": "2000-01-01T00:00:00Z", "version": "1"}), 404)
    assert agent.get(f"/v1/cases/{cid}", params={"as_of": "2999-01-01T00:00:00Z", "version": "1"}).status_code == 200
    doc = problem(agent.post(f"/v1/cases/{cid}/actions/fly_to_the_moon", json={}), 404)
    assert "classify" in doc["actions"]
    problem(agent.get("/v1/case-types/no_such_type"), 404)
    problem(agent.get("/v1/no/such/path"), 404)
    # 405
    r = agent.delete(f"/v1/cases/{cid}")
    problem(r, 405)
    assert "GET" in r.headers["allow"]
    # 409: a stale condition
    doc = problem(agent.post(f"/v1/cases/{cid}/actions/classify", json={"category": "valid"},
                             headers={"If-Match": '"7"'}), 409)
    assert doc["current_version"] == 1
    doc = problem(agent.post(f"/v1/cases/{cid}/actions/classify",
                             json={"category": "valid", "expected_version": 0}), 409)
    assert doc["current_version"] == 1
    doc = problem(agent.post(f"/v1/cases/{cid}/actions/classify", json={"expected_version": 1},
                             headers={"If-Match": '"2"'}), 409)  # two conditions that cannot both hold
    assert doc["current_version"] == 1
    # 413: over 1 MiB, declared or streamed
    big = json.dumps({"type": "complaint", "title": "x" * (1024 * 1024)}).encode()
    problem(agent.post("/v1/cases", content=big, headers={"Content-Type": "application/json"}), 413)

    def chunks():
        for _ in range(20):
            yield b" " * 100_000

    problem(agent.post("/v1/cases", content=chunks(), headers={"Content-Type": "application/json"}), 413)
    # 415: a body in a media type the API does not speak
    problem(agent.post("/v1/cases", content=b"type=complaint",
                       headers={"Content-Type": "application/x-www-form-urlencoded"}), 415)
    # 422: well-formed but wrong
    doc = problem(agent.post("/v1/cases", json={"type": "complaint", "title": "x", "customer": CUSTOMER,
                                                "colour": "red"}), 422)
    assert doc["errors"][0]["field"] == "colour"
    problem(agent.post("/v1/cases", json=["a list"]), 422)
    problem(agent.post("/v1/cases", json={"type": "spaceship", "title": "x", "customer": CUSTOMER}), 422)
    problem(agent.post("/v1/cases", json={"type": "complaint", "title": 42, "customer": CUSTOMER}), 422)
    problem(agent.post("/v1/cases", json={"type": "complaint", "title": "x", "customer": {"id": 1}}), 422)
    problem(agent.post("/v1/cases", json={"type": 7}), 422)
    problem(agent.post("/v1/cases", json={"type": "complaint", "title": "'; DROP TABLE stored_events; --",
                                          "customer": CUSTOMER, "fields": {"severity": "apocalyptic"}}), 422)
    problem(agent.post(f"/v1/cases/{cid}/actions/classify", json={"category": "valid", "colour": "red"}), 422)
    problem(agent.post(f"/v1/cases/{cid}/actions/classify", json={"expected_version": "one"}), 422)
    problem(agent.post(f"/v1/cases/{cid}/actions/classify", json=[1, 2]), 422)
    doc = problem(agent.post(f"/v1/cases/{cid}/actions/propose_resolution", json={"resolution": "x"}), 422)
    assert doc["allowed_actions"] == ["classify", "log_contact"]
    # 403: a role that may not, and an importer-only field from an agent
    problem(agent.post(f"/v1/cases/{cid}/actions/assign", json={"assignee": "agent"}), 403)
    problem(agent.post("/v1/cases", json={"type": "complaint", "title": "x", "customer": CUSTOMER,
                                          "occurred_at": "2026-01-01T00:00:00+08:00"}), 403)
    # unicode everywhere is fine
    r = agent.post("/v1/cases", json={"type": "complaint", "title": "投诉 🚚 \u202e ñ", "customer": CUSTOMER})
    assert r.status_code == 201 and r.json()["title"] == "投诉 🚚 \u202e ñ"
    # nothing of the above changed the case
    assert agent.get(f"/v1/cases/{cid}").json()["version"] == 1


@pytest.mark.parametrize("accept", ["application/msgpack", "application/json"])
def test_problem_documents_follow_accept(server: Server, accept: str) -> None:
    r = server["agent"].get(f"/v1/cases/{uuid.uuid4()}", headers={"Accept": accept})
    assert r.status_code == 404
    expected = "application/problem+msgpack" if "msgpack" in accept else "application/problem+json"
    assert r.headers["content-type"] == expected


def test_importer_may_backdate(server: Server) -> None:
    r = server["importer"].post("/v1/cases", json={"type": "inquiry", "title": "旧系统导入", "customer": CUSTOMER,
                                                    "occurred_at": "2025-03-01T09:30:00+08:00"})
    assert r.status_code == 201, r.text
    case = r.json()
    assert case["opened_at"].startswith("2025-03-01T09:30:00")
    r = server["importer"].post(f"/v1/cases/{case['id']}/actions/answer",
                                json={"answer": "已答复", "occurred_at": "2025-03-01T10:00:00Z"})
    assert r.status_code == 200, r.text
    history = server["reviewer"].get(f"/v1/cases/{case['id']}/history").json()["items"]
    assert [e["imported"] for e in history] == [True, True]
    problem(server["importer"].post("/v1/cases", json={"type": "inquiry", "title": "x", "customer": CUSTOMER,
                                                        "occurred_at": "March"}), 422)

"""The access log line of an action names its actor and its case, on both databases, whether the
action is taken or refused: the handler authenticates and acts in one trip to the thread pool
(``api.threads``), and what it binds there reaches the line the middleware writes."""

from __future__ import annotations

import io
import json
from typing import Any

from api.logging import configure_logging
from tests.api_support import ApiWorld


def access_lines(world: ApiWorld, calls: Any) -> list[dict[str, Any]]:
    stream = io.StringIO()
    configure_logging(stream)
    try:
        calls()
    finally:
        configure_logging()
    return [line for line in map(json.loads, stream.getvalue().splitlines()) if line.get("event") == "request"]


def test_taken_and_refused_actions_are_logged_with_actor_and_case(world: ApiWorld) -> None:
    case = world.open_view("complaint")
    path = f"/v1/cases/{case['id']}/actions/log_contact"

    def calls() -> None:
        world.client.post(path, json={"channel": "phone", "summary": "called"}, headers=world.headers("agent"))
        world.client.post(path, json={"channel": "pigeon"}, headers=world.headers("agent"))  # 422
        world.client.post(path, json={"channel": "phone", "summary": "x"}, headers=world.headers("reviewer"))  # 403
        world.client.post(path, json={}, headers={"Authorization": "Bearer ct_nobody"})  # 401

    taken, refused, forbidden, unknown = access_lines(world, calls)
    assert taken["status"] == 200 and taken["actor"] == "agent" and taken["case_id"] == case["id"]
    assert refused["status"] == 422 and refused["actor"] == "agent" and refused["case_id"] == case["id"]
    assert forbidden["status"] == 403 and forbidden["actor"] == "reviewer"
    assert unknown["status"] == 401 and "actor" not in unknown
    assert all(line["route"] == "/v1/cases/{case_id}/actions/{action}" for line in (taken, refused, unknown))


def test_an_unauthenticated_action_with_a_body_too_large_is_refused_as_unauthenticated(world: ApiWorld) -> None:
    case = world.open_view("complaint")
    path = f"/v1/cases/{case['id']}/actions/log_contact"
    big = {"Content-Type": "application/json", "Content-Length": str(10**9)}
    assert world.client.post(path, content=b"{}", headers=big).status_code == 401
    r = world.client.post(path, content=b"{}", headers={**big, **world.headers("agent")})
    assert r.status_code == 413, r.text

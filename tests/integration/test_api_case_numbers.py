"""Case numbers in every ``/v1/cases/{id}`` route (API.md second edition), on both databases.

A case is fetched, its history read and an action taken by its number
(``TS-202611-0001``) exactly as by its id; an unknown number is a 404 like an
unknown id; a path that is neither is a 400 problem.
"""

from __future__ import annotations

from tests.api_support import ApiWorld


def test_a_case_by_its_number(world: ApiWorld) -> None:
    case = world.open_view("complaint")
    number = case["number"]
    assert number == "TS-202611-0001"
    by_number = world.call("GET", f"/v1/cases/{number}", "reviewer", status=200)
    assert by_number["id"] == case["id"]
    assert world.call("GET", f"/v1/cases/{number}/history", "reviewer", status=200)["items"][0]["version"] == 1
    moved = world.call("POST", f"/v1/cases/{number}/actions/assign", "supervisor", {"assignee": "agent"}, status=200)
    assert moved["status"] == "assigned" and moved["id"] == case["id"]
    missing = world.call("GET", "/v1/cases/TS-202611-0999", "reviewer", status=404)
    assert missing["type"].endswith("/not-found")
    bad = world.call("GET", "/v1/cases/TS_2026!", "reviewer", status=400)
    assert "neither a case id" in bad["detail"]


def test_if_none_match_with_the_current_etag_is_a_304(world: ApiWorld) -> None:
    case = world.open_view("complaint")
    headers = world.headers("reviewer")
    first = world.client.get(f"/v1/cases/{case['number']}", headers=headers)
    etag = first.headers["etag"]
    assert etag == '"1"'
    same = world.client.get(f"/v1/cases/{case['number']}", headers={**headers, "If-None-Match": etag})
    assert same.status_code == 304 and same.content == b"" and same.headers["etag"] == etag
    weak = world.client.get(f"/v1/cases/{case['id']}", headers={**headers, "If-None-Match": f'"7", W/{etag}'})
    assert weak.status_code == 304
    world.do(case, "assign", "supervisor", assignee="agent")
    moved = world.client.get(f"/v1/cases/{case['number']}", headers={**headers, "If-None-Match": etag})
    assert moved.status_code == 200 and moved.headers["etag"] == '"2"' and moved.json()["status"] == "assigned"

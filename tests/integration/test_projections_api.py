"""The read-model endpoints over HTTP (Starlette test client), with the background workers."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from api import read_models
from api.app import SECTIONS, create_app
from projections.workers import start_background
from tests.support import World, complaint_to


@pytest.fixture
def client(database_url: str) -> Any:
    world = World(database_url)
    complaint_to(world, "replied")
    tokens = {s: world.app.issue_token(s) for s in ("agent", "agent2", "supervisor", "reviewer")}
    stop = start_background(database_url, sla_interval=0, poll_seconds=0.05)
    extra = [] if read_models in SECTIONS else [read_models]  # until api/app.py lists it
    app = create_app(world.app, extra_sections=extra, configure_logs=False)
    with TestClient(app) as http:
        http.tokens = tokens  # type: ignore[attr-defined]
        yield http
    stop()


def get(http: Any, who: str, path: str) -> Any:
    return http.get(path, headers={"Authorization": f"Bearer {http.tokens[who]}"})


def test_case_list_waits_for_a_write_and_pages(client: Any) -> None:
    posted = client.post("/v1/cases", headers={"Authorization": f"Bearer {client.tokens['agent']}"},
                         json={"type": "inquiry", "title": "where is my order", "customer": {"id": "C-9", "name": "n"}})
    assert posted.status_code == 201
    position = int(posted.headers["X-Casetrail-Position"])
    first = get(client, "agent", f"/v1/cases?limit=1&min_position={position}")
    assert first.status_code == 200 and int(first.headers["X-Casetrail-Position"]) >= position
    page = first.json()
    assert page["items"][0]["id"] == posted.json()["id"] and page["next_cursor"]
    rest = get(client, "agent", f"/v1/cases?limit=500&cursor={page['next_cursor']}").json()
    assert len(rest["items"]) == 2 and rest["next_cursor"] is None  # the complaint and its return visit
    # the fake clock of World is in the past: its first-response clock is overdue by now
    only = get(client, "agent", "/v1/cases?type=inquiry&customer_id=C-9&overdue=true").json()
    assert [c["number"] for c in only["items"]] == [posted.json()["number"]]
    assert get(client, "agent", "/v1/cases?opened_from=2026-11-16&opened_to=2026-11-16T10:00:00+08:00").json()[
        "items"] == []
    # outside the documented schema: 400; well-formed but meaningless: 422
    for bad, status in (("limit=501", 400), ("limit=", 400), ("overdue=maybe", 400), ("opened_from=soon", 400),
                        ("colour=red", 400), ("type=a&type=b", 400), ("cursor=zzz", 422)):
        answer = get(client, "agent", f"/v1/cases?{bad}")
        assert answer.status_code == status, bad
        assert answer.headers["content-type"].startswith("application/problem+json")
    assert client.get("/v1/cases").status_code == 401


def test_reports_and_who_may_read_them(client: Any) -> None:
    month = "from=2026-11-01&to=2026-11-30"
    own = get(client, "agent", f"/v1/staff/agent/performance?{month}&min_position=1")
    assert own.status_code == 200 and own.json()["cases"]["assigned"] == 1
    assert get(client, "agent2", f"/v1/staff/agent/performance?{month}").status_code == 403
    weekly = get(client, "supervisor", f"/v1/staff/agent/performance?{month}&by=week").json()
    assert [p["period"] for p in weekly["periods"]] == ["2026-W47"]
    for bad in ("from=2026-11-01", "from=2026-11-31&to=2026-12-01", f"{month}&by=year"):
        assert get(client, "agent", f"/v1/staff/agent/performance?{bad}").status_code == 400, bad
    assert get(client, "agent", "/v1/staff/agent/performance?from=2026-11-30&to=2026-11-01").status_code == 422
    report = get(client, "supervisor", "/v1/reports/departments/cs?month=2026-11")
    assert report.status_code == 200 and report.json()["complaints_handled"] == 1
    assert get(client, "agent", "/v1/reports/departments/cs?month=2026-11").status_code == 403
    assert get(client, "supervisor", "/v1/reports/departments/cs?month=11-2026").status_code == 400
    audit = get(client, "reviewer", "/v1/audit/events?actor=supervisor&limit=1")
    assert audit.status_code == 200 and audit.json()["next_cursor"]
    more = get(client, "reviewer", f"/v1/audit/events?actor=supervisor&cursor={audit.json()['next_cursor']}").json()
    assert [i["summary"].split(" on ")[0] for i in audit.json()["items"] + more["items"]] == [
        "supervisor: assign", "supervisor: approve_resolution"] and more["next_cursor"] is None
    assert get(client, "agent", "/v1/audit/events").status_code == 403
    assert get(client, "reviewer", "/v1/audit/events?from=2026-13-01").status_code == 400


def test_openapi_describes_the_read_endpoints(client: Any) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert set(paths["/v1/cases"]) == {"get", "post"}
    for path in ("/v1/staff/{staff_id}/performance", "/v1/reports/departments/{department}", "/v1/audit/events"):
        assert set(paths[path]) == {"get"}

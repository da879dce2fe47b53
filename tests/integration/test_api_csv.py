"""CSV answers (``Accept: text/csv``) of the case list, the audit log and the reports, on both databases.

The same rows and columns as the JSON answer, UTF-8 with a byte-order mark, a
file name in ``Content-Disposition``, the next page of a list in ``Link``, and
406 when ``Accept`` names nothing the endpoint gives.
"""

from __future__ import annotations

import csv
import io
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from starlette.testclient import TestClient

from api.app import create_app
from projections.workers import start_background
from tests.support import World, complaint_to

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
CSV = {"Accept": "text/csv"}


@pytest.fixture
def client(database_url: str) -> Any:
    world = World(database_url)
    complaint_to(world, "replied", customer={"id": "C-1", "name": "王先生", "phone": "13800138000", "tier": "vip"})
    world.open("inquiry", title="=HYPERLINK(\"http://x\")", customer={"id": "C-2", "name": "李女士"})
    tokens = {s: world.app.issue_token(s) for s in ("agent", "supervisor", "reviewer")}
    stop = start_background(database_url, sla_interval=0, poll_seconds=0.05)
    with TestClient(create_app(world.app, configure_logs=False)) as http:
        http.tokens = tokens  # type: ignore[attr-defined]
        position = world.app.recorder.max_notification_id()
        assert get(http, "agent", f"/v1/cases?min_position={position}").status_code == 200
        yield http
    stop()


def get(http: Any, who: str, path: str, headers: dict[str, str] | None = None) -> Any:
    return http.get(path, headers={"Authorization": f"Bearer {http.tokens[who]}", **(headers or {})})


def rows(response: Any) -> list[dict[str, str]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.content.startswith(b"\xef\xbb\xbf")  # the BOM: spreadsheets read the Chinese text
    text = response.content.decode("utf-8-sig")
    assert "\r\n" in text
    return list(csv.DictReader(io.StringIO(text)))


def test_the_case_list_as_csv_is_the_json_page(client: Any) -> None:
    as_json = get(client, "agent", "/v1/cases?limit=2").json()
    answer = get(client, "agent", "/v1/cases?limit=2", CSV)
    table = rows(answer)
    assert answer.headers["content-disposition"] == 'attachment; filename="cases.csv"'
    assert [r["number"] for r in table] == [c["number"] for c in as_json["items"]]
    first = as_json["items"][0]
    for column in ("id", "type", "status", "title", "assignee", "department", "opened_at", "version", "overdue"):
        value = first.get(column)
        expected = "" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
        assert table[0][column] == ("'" + expected if expected.startswith("=") else expected), column
    assert table[0]["title"] == "'=HYPERLINK(\"http://x\")"  # never a formula in a spreadsheet
    # the next page: the Link header carries the JSON answer's next cursor and the same query
    link = answer.headers["link"]
    assert link.endswith('>; rel="next"')
    query = parse_qs(urlparse(link[1:link.index(">")]).query)
    assert query == {"limit": ["2"], "cursor": [as_json["next_cursor"]]}
    last = get(client, "agent", link[1:link.index(">")], CSV)
    assert [r["number"] for r in rows(last)] == [
        c["number"] for c in get(client, "agent", f"/v1/cases?limit=2&cursor={as_json['next_cursor']}").json()["items"]]
    assert "link" not in last.headers  # the last page
    # JSON stays the default, and wins a tie
    assert get(client, "agent", "/v1/cases", {"Accept": "text/csv, application/json"}).headers[
        "content-type"].startswith("application/json")
    assert get(client, "agent", "/v1/cases", {"Accept": "text/csv, application/json;q=0.5"}).headers[
        "content-type"].startswith("text/csv")


def test_the_audit_log_as_csv_flattens_lists_and_changes(client: Any) -> None:
    as_json = get(client, "reviewer", "/v1/audit/events?actor=supervisor").json()["items"]
    answer = get(client, "reviewer", "/v1/audit/events?actor=supervisor", CSV)
    table = rows(answer)
    assert answer.headers["content-disposition"] == 'attachment; filename="audit-events.csv"'
    assert [r["summary"] for r in table] == [e["summary"] for e in as_json]
    assert [r["roles"] for r in table] == ["; ".join(e["roles"]) for e in as_json]
    assert list(table[0]) == ["position", "aggregate_id", "kind", "case_id", "case_number", "version", "event_type",
                              "actor", "roles", "occurred_at", "imported", "summary", "changes"]
    assert table[0]["imported"] == "false" and table[0]["changes"].startswith("{")


def test_reports_as_csv_one_row_each_and_one_per_period(client: Any) -> None:
    month = "from=2026-11-01&to=2026-11-30"
    as_json = get(client, "supervisor", f"/v1/staff/agent/performance?{month}&by=week").json()
    answer = get(client, "supervisor", f"/v1/staff/agent/performance?{month}&by=week", CSV)
    table = rows(answer)
    assert answer.headers["content-disposition"] == 'attachment; filename="performance-agent-2026-11-01-2026-11-30.csv"'
    assert [r["period"] for r in table] == ["all", *(p["period"] for p in as_json["periods"])]
    assert table[0]["cases.assigned"] == str(as_json["cases"]["assigned"]) == "1"
    assert table[0]["first_response.count"] == str(as_json["first_response"]["count"])
    assert table[1]["cases.assigned"] == str(as_json["periods"][0]["cases"]["assigned"])
    report = get(client, "supervisor", "/v1/reports/departments/cs?month=2026-11").json()
    answer = get(client, "supervisor", "/v1/reports/departments/cs?month=2026-11", CSV)
    (row,) = rows(answer)
    assert answer.headers["content-disposition"] == 'attachment; filename="department-cs-2026-11.csv"'
    assert row["complaints_handled"] == str(report["complaints_handled"]) == "1"
    assert row["handling_rate_met"] == {True: "true", False: "false", None: ""}[report["handling_rate_met"]]


def test_unsupported_types_are_406_and_refusals_stay_problems(client: Any) -> None:
    answer = get(client, "agent", "/v1/cases", {"Accept": "application/xml"})
    assert answer.status_code == 406 and answer.headers["content-type"].startswith("application/problem+json")
    assert "text/csv" in answer.json()["supported"]
    assert get(client, "agent", "/v1/cases", {"Accept": "text/html,*/*;q=0.8"}).headers[
        "content-type"].startswith("application/json")  # a browser
    refused = get(client, "agent", "/v1/audit/events", CSV)  # not the agent's to read
    assert refused.status_code == 403 and refused.headers["content-type"].startswith("application/problem+json")
    assert get(client, "agent", "/v1/cases?limit=0", CSV).status_code == 400


def test_openapi_states_the_csv_media_type(client: Any) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/v1/cases", "/v1/audit/events", "/v1/staff/{staff_id}/performance",
                 "/v1/reports/departments/{department}"):
        ok = paths[path]["get"]["responses"]["200"]
        assert "text/csv" in ok["content"] and "Content-Disposition" in ok["headers"], path
        assert "406" in paths[path]["get"]["responses"]

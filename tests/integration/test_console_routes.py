"""The reviewer console's routes without a browser (Starlette's TestClient), on SQLite and PostgreSQL.

Sign-in (a token for a signed, http-only, SameSite=Lax cookie that holds no
token), every page refused without a session, read-only (no route but
sign-in/out takes anything but GET; browsing changes no case), every page
view in the access ledger, the search filters and their CSV, replay, diff,
the verification badge and the evidence exports, roles and the language switch.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest

from api.console import routes as console_routes
from projections.runner import Worker
from projections.views import Store
from tests.api_support import ApiWorld

PAGES = ["/console/cases", "/console/cases.csv", "/console/audit", "/console/reports", "/console/inbox"]
CASE_PARTS = ["", "/state?version=1", "/diff?from=1&to=2", "/verify", "/evidence.json", "/evidence.html"]
OTHER = {"id": "C-2", "name": "赵女士", "phone": "13900139000", "tier": "vip"}


def catch_up(w: ApiWorld) -> None:
    Worker(w.app, Store.for_app(w.app)).run_once()


def sign_in(w: ApiWorld, who: str = "reviewer") -> Any:
    r = w.client.post("/console/login", data={"token": w.tokens[who], "next": "/console/cases"},
                      follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/console/cases", r.text
    return r


def worked_case(w: ApiWorld) -> dict[str, Any]:
    """A complaint at version 5: classified, assigned to agent2, investigating, waiting (clock paused)."""
    case = w.open_view("complaint", title="包裹破损")
    w.do(case, "classify", "agent", category="valid", severity="general")
    w.do(case, "assign", "supervisor", assignee="agent2")
    w.do(case, "start_investigation", "agent2")
    return w.do(case, "wait_for_customer", "agent2", reason="photos")


def test_without_a_session_every_page_goes_to_the_sign_in_form(world: ApiWorld) -> None:
    case = worked_case(world)
    for path in [*PAGES, *(f"/console/cases/{case['number']}{p}" for p in CASE_PARTS)]:
        r = world.client.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/console/login?next=/console/"), path
    r = world.client.get(f"/console/cases/{case['number']}/verify", headers={"HX-Request": "true"},
                         follow_redirects=False)
    assert r.status_code == 401 and r.headers["HX-Redirect"] == "/console/login"
    # an API bearer token is not a console session
    r = world.client.get("/console/cases", headers=world.headers("reviewer"), follow_redirects=False)
    assert r.status_code == 303
    assert world.client.get("/console/login").status_code == 200
    assert world.client.get("/console/static/vendor/htmx.min.js").status_code == 200
    assert world.client.get("/console", follow_redirects=False).headers["location"] == "/console/cases"


def test_sign_in_sets_a_signed_http_only_same_site_cookie_without_the_token(world: ApiWorld) -> None:
    r = world.client.post("/console/login", data={"token": "ct_not-a-token"}, follow_redirects=False)
    assert r.status_code == 401 and "令牌无效" in r.text and "set-cookie" not in r.headers
    r = sign_in(world)
    cookie = r.headers["set-cookie"]
    assert cookie.startswith("casetrail_console=")
    assert "httponly" in cookie.lower() and "samesite=lax" in cookie.lower() and "path=/console" in cookie
    assert world.tokens["reviewer"] not in cookie
    assert world.tokens["reviewer"].encode() not in __import__("base64").b64decode(
        cookie.split("=", 1)[1].split(".", 1)[0] + "==")
    page = world.client.get("/console/cases")
    assert page.status_code == 200 and "reviewer" in page.text
    # a forged cookie is no session
    world.client.cookies.set("casetrail_console", "eyJzdGFmZiI6ICJhZG1pbiJ9.aaaa.bbbb", path="/console")
    assert world.client.get("/console/cases", follow_redirects=False).status_code == 303


def test_a_revoked_token_ends_the_session_and_sign_out_ends_it_too(world: ApiWorld) -> None:
    sign_in(world)
    assert world.client.get("/console/cases", follow_redirects=False).status_code == 200
    world.app.revoke_token(world.tokens["reviewer"])
    assert world.client.get("/console/cases", follow_redirects=False).status_code == 303
    sign_in(world, "dept_head")
    r = world.client.post("/console/logout", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/console/login"
    assert world.client.get("/console/cases", follow_redirects=False).status_code == 303


def test_the_console_is_read_only(world: ApiWorld) -> None:
    case = worked_case(world)
    catch_up(world)
    sign_in(world)
    writable = {(r.path, m) for r in console_routes if getattr(r, "methods", None) for m in r.methods} - {
        (r.path, "GET") for r in console_routes} - {(r.path, "HEAD") for r in console_routes}
    assert writable == {("/login", "POST"), ("/logout", "POST")}
    before = world.history(case)
    for path in [*PAGES, *(f"/console/cases/{case['number']}{p}" for p in CASE_PARTS)]:
        assert world.client.get(path).status_code == 200, path
        for method in ("POST", "PUT", "DELETE", "PATCH"):
            assert world.client.request(method, path.split("?")[0]).status_code == 405, (method, path)
    after = world.history(case)
    assert [e["hash"] for e in after] == [e["hash"] for e in before]
    assert world.show(case)["version"] == case["version"]


def test_every_page_view_goes_to_the_access_ledger(world: ApiWorld) -> None:
    case = worked_case(world)
    catch_up(world)
    sign_in(world)
    for part in CASE_PARTS:
        assert world.client.get(f"/console/cases/{case['number']}{part}").status_code == 200
    reads = world.app.access_ledger.reads_of(case["id"])
    assert [r["what"] for r in reads] == ["console-case", "console-replay", "console-diff", "export", "export"]
    assert {r["actor"] for r in reads} == {"reviewer"} and all(r["roles"] == ["reviewer"] for r in reads)
    assert [r["what"] for r in world.app.access_ledger.reads_of("audit-verify")] == [case["id"]]
    for path in PAGES:
        assert world.client.get(path + "?q=王").status_code == 200
    listed = [r["what"] for r in world.app.access_ledger.reads_of("case-list:reviewer")]
    assert listed == ["console-cases", "console-cases-csv", "console-inbox"]
    assert listed and world.app.access_ledger.reads_of("case-list:reviewer")[0]["detail"]["q"] == "王"
    assert [r["what"] for r in world.app.access_ledger.reads_of("audit-events")] == ["console-audit"]
    assert [r["what"] for r in world.app.access_ledger.reads_of("reports:reviewer")] == ["console-reports"]
    # the audit page shows the ledger: who read what
    page = world.client.get("/console/audit").text
    assert "console-case" in page and "console-diff" in page
    assert f'<a href="/console/cases/{case["number"]}">{case["number"]}</a></td><td>console-case' in page
    # reading the ledger leaves it writable (its logs are loaded with their chain heads)
    for path in ("/console/audit", f"/console/cases/{case['number']}", "/console/audit?case=" + case["number"]):
        assert world.client.get(path).status_code == 200, path
    assert world.app.access_ledger.reads_of(case["id"])[-1]["what"] == "console-case"


def test_search_filters_sort_and_a_csv_of_exactly_the_filtered_rows(world: ApiWorld) -> None:
    first = worked_case(world)
    second = world.open_view("complaint", title="发票错误", customer=OTHER)
    third = world.open_view("inquiry", title="咨询", customer=OTHER) if "inquiry" in world.app.registry.names() \
        else world.open_view("complaint", title="咨询", customer=OTHER)
    catch_up(world)
    sign_in(world)

    def numbers(query: str) -> list[str]:
        r = world.client.get(f"/console/cases?{query}")
        assert r.status_code == 200
        return [n for n in (first["number"], second["number"], third["number"]) if f'data-number="{n}"' in r.text]

    def csv_numbers(query: str) -> list[str]:
        r = world.client.get(f"/console/cases.csv?{query}")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
        assert r.content.startswith("\ufeff".encode())
        return [row["number"] for row in csv.DictReader(io.StringIO(r.content.decode("utf-8-sig")))]

    assert set(numbers("")) == {first["number"], second["number"], third["number"]}
    assert set(numbers("q=13900139")) == {second["number"], third["number"]}
    assert numbers("q=王先生") == [first["number"]]
    assert numbers(f"q={first['number']}") == [first["number"]]
    assert numbers("staff=agent2") == [first["number"]]
    assert numbers("status=investigating") == [first["number"]]
    assert set(numbers("status=investigating,registered&type=complaint")) == {first["number"], second["number"]}
    assert numbers("q=赵&type=complaint") == [second["number"]]
    assert numbers("opened_from=2026-11-16&opened_to=2026-11-16") != []
    assert numbers("opened_from=2026-11-17") == []
    assert numbers("escalated_to=agent2") == []
    for query in ("", "q=13900139", "staff=agent2", "q=赵&type=complaint", "opened_from=2026-11-17"):
        assert sorted(csv_numbers(query)) == sorted(numbers(query)), query
    ordered = csv_numbers("sort=number")
    assert ordered == sorted(ordered) and csv_numbers("sort=-number") == ordered[::-1]
    rows = list(csv.DictReader(io.StringIO(world.client.get("/console/cases.csv?q=王先生").content.decode("utf-8-sig"))))
    assert rows[0]["customer_name"] == "王先生" and rows[0]["status"] == "investigating"


def test_case_page_replay_diff_badge_and_evidence(world: ApiWorld) -> None:
    case = worked_case(world)
    catch_up(world)
    sign_in(world)
    number = case["number"]
    page = world.client.get(f"/console/cases/{number}").text
    assert page.count('class="event') == 5 and 'data-badge="paused"' in page
    assert "wait_for_customer" in page and "agent2" in page and "status" in page
    v1 = world.client.get(f"/console/cases/{number}/state?version=1").text
    assert 'data-status="registered"' in v1 and 'data-version="1"' in v1
    replay = world.client.get(f"/console/cases/{number}?version=3").text
    assert 'id="state-status">assigned<' in replay
    as_of = world.client.get(f"/console/cases/{number}/state?as_of=2026-11-16T10:00:00").text
    assert 'data-version="5"' in as_of  # the fake clock never moved: every event happened then
    before = world.client.get(f"/console/cases/{number}/state?as_of=2026-11-15T10:00:00")
    assert before.status_code == 200 and 'id="state-none"' in before.text
    diff = world.client.get(f"/console/cases/{number}/diff?from=1&to=3").text
    assert 'data-path="status"' in diff and "registered" in diff and "assigned" in diff
    assert 'data-path="assignee"' in diff and "agent2" in diff
    badge = world.client.get(f"/console/cases/{number}/verify").text
    assert 'data-ok="true"' in badge and 'id="recheck"' in badge
    bundle = json.loads(world.client.get(f"/console/cases/{number}/evidence.json").content)
    assert bundle["aggregate_id"] == case["id"] and len(bundle["events"]) == 5
    from domain.audit.bundle import verify_bundle
    assert verify_bundle(bundle).ok
    html = world.client.get(f"/console/cases/{number}/evidence.html")
    assert html.status_code == 200 and "Evidence report" in html.text and number in html.text
    assert world.client.get("/console/cases/TS-000000-0000").status_code == 404


def test_roles_and_the_language_switch(world: ApiWorld) -> None:
    sign_in(world, "agent")
    assert world.client.get("/console/audit").status_code == 403
    reports = world.client.get("/console/reports").text
    assert 'id="chart-department"' not in reports  # an agent sees its own KPIs only
    r = world.client.get("/console/cases?q=abc&lang=en")
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and r.headers["x-frame-options"] == "DENY"
    assert 'href="?q=abc&amp;lang=zh"' in r.text  # the switch keeps the query
    english = world.client.get("/console/cases?lang=en").text
    assert "Cases" in english and "Export CSV" in english
    assert "Escalation inbox" in world.client.get("/console/inbox").text  # kept in the session
    assert "导出 CSV" in world.client.get("/console/cases?lang=zh").text
    world.client.post("/console/logout")
    sign_in(world, "reviewer")
    page = world.client.get("/console/reports").text
    assert 'id="chart-staff"' in page or 'id="chart-department"' in page


def test_imported_and_system_events_are_marked_in_the_timeline(world: ApiWorld) -> None:
    from datetime import timedelta

    opened = world.now - timedelta(days=30)
    body = {"case": {"type": "complaint", "title": "legacy", "customer": {"id": "C-7", "name": "老李"},
                     "fields": {"severity": "general"}, "occurred_at": opened.isoformat()},
            "actions": [{"action": "assign", "actor": "张主管", "occurred_at": (opened + timedelta(days=4)).isoformat(),
                         "data": {"assignee": "agent"}}]}
    case = world.call("POST", "/v1/import/cases", "importer", body, status=201)
    history = world.history(case)
    catch_up(world)
    sign_in(world)
    page = world.client.get(f"/console/cases/{case['number']}").text
    assert page.count('class="event') == len(history)
    assert page.count(" imported\"") + page.count(" imported ") >= len(history)
    breaches = [e for e in history if e["type"] == "DeadlineBreached"]
    assert breaches and page.count('class="event system') >= len(breaches)
    assert "张主管" in page
    assert 'data-badge="overdue"' in page
    # the escalations reached the supervisor and the department head: their inboxes list the case
    for who in ("supervisor", "dept_head"):
        world.client.post("/console/logout")
        sign_in(world, who)
        inbox = world.client.get("/console/inbox").text
        assert f'data-number="{case["number"]}"' in inbox, who
        assert f'data-number="{case["number"]}"' in world.client.get(f"/console/cases?escalated_to={who}").text
    world.client.post("/console/logout")
    sign_in(world, "agent2")
    assert f'data-number="{case["number"]}"' not in world.client.get("/console/inbox").text


def test_templates_and_static_files_are_package_data() -> None:
    """The wheel carries every template and static file (pyproject's package-data patterns)."""
    import fnmatch
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    patterns = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"][
        "api.console"]
    folder = root / "api" / "console"
    files = [p.relative_to(folder).as_posix() for p in folder.rglob("*")
             if p.is_file() and p.suffix != ".pyc" and "__pycache__" not in p.parts and p.suffix != ".py"]
    assert "static/vendor/htmx.min.js" in files and "static/vendor/echarts.min.js" in files
    assert "static/vendor/htmx.LICENSE" in files and "static/vendor/echarts.LICENSE" in files
    assert [f for f in files if not any(fnmatch.fnmatch(f, pat) for pat in patterns)] == []


def test_the_audit_log_pages_with_its_cursor(world: ApiWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    import api.console.reviews as reviews

    for _ in range(3):
        world.open_view("complaint")
    catch_up(world)
    sign_in(world)
    monkeypatch.setattr(reviews, "PAGE", 2)
    first = world.client.get("/console/audit?actor=agent")
    assert first.text.count('class="audit-row') == 2 and 'id="audit-more"' in first.text
    link = first.text.split('id="audit-more" href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    second = world.client.get("/console/audit" + link)
    assert second.status_code == 200 and second.text.count('class="audit-row') >= 1
    assert world.client.get("/console/audit?cursor=nonsense").status_code == 200


def test_the_session_secret_never_creates_the_signing_key(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from api.console.session import SECRET_ENV, session_secret
    from domain.audit.signing import signer_for

    url = f"sqlite:///{tmp_path}/x.db"
    monkeypatch.setenv("CASETRAIL_SIGNING_KEY", str(tmp_path / "key.pem"))
    monkeypatch.delenv(SECRET_ENV, raising=False)

    class App:
        env = {"SQLITE_DBNAME": f"{tmp_path}/x.db"}

    random_one = session_secret(App())
    assert not (tmp_path / "key.pem").exists() and random_one != session_secret(App())
    signer_for(url=url)
    derived = session_secret(App())
    assert derived == session_secret(App()) and len(derived) == 64
    assert session_secret(App(), {SECRET_ENV: "configured"}) == "configured"


def test_the_badge_turns_red_when_an_event_was_rewritten(world: ApiWorld, database_url: str) -> None:
    from uuid import UUID

    from tests.integration.test_audit_tamper import Tamper

    case = worked_case(world)
    catch_up(world)
    sign_in(world)
    assert 'data-ok="true"' in world.client.get(f"/console/cases/{case['number']}/verify").text
    tamper = Tamper(database_url)
    try:
        aid = UUID(case["id"])
        _, version, topic, state = tamper.rows(aid)[1]
        assert b"valid" in state
        tamper.set_row(aid, version, topic, state.replace(b"valid", b"vaxid", 1))
    finally:
        tamper.conn.close()
    badge = world.client.get(f"/console/cases/{case['number']}/verify").text
    assert 'data-ok="false"' in badge and "校验失败" in badge and "v2" in badge

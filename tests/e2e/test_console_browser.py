"""The reviewer console in a real browser: headless Debian chromium driven by Playwright.

Against a real ``casetrail serve`` (``serving``) on SQLite and PostgreSQL: a
reviewer signs in with a token, searches, opens a case, reads its timeline,
moves the replay slider and sees the state change, compares two versions,
sees the verification badge and re-checks it, downloads the evidence bundle
(which verifies offline), and looks at a report chart.

The browser is Debian's (``/usr/bin/chromium``, ``scripts/ensure_chromium.sh``,
run by ``make test``); Playwright never downloads one. Without it the tests
skip, except under ``CI=true``, where a missing browser is a failure.
Screenshots go to the test's folder, and to ``docs/console/`` when
``CASETRAIL_SCREENSHOTS`` names that folder (how the README's were made).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from domain.application import CaseTrail
from domain.audit.bundle import verify_bundle
from projections.runner import Worker
from projections.views import Store
from tests.e2e.conftest import CUSTOMER, Server, run_cli, serving

OTHER = {"id": "C-9", "name": "赵女士", "phone": "13900139000", "tier": "vip"}
STEPS = [("classify", "agent", {"category": "valid", "severity": "general"}),
         ("assign", "supervisor", {"assignee": "agent2"}),
         ("start_investigation", "agent2", {}),
         ("log_contact", "agent2", {"channel": "phone", "summary": "已致电客户"}),
         ("wait_for_customer", "agent2", {"reason": "等待照片"})]


def _seed(srv: Server) -> dict[str, Any]:
    case = srv.open_case(title="包裹破损", customer=CUSTOMER)
    for action, who, data in STEPS:
        r = srv[who].post(f"/v1/cases/{case['id']}/actions/{action}", json=data)
        assert r.status_code == 200, r.text
        case = r.json()
    srv.open_case(title="发票错误", customer=OTHER)
    app = CaseTrail.from_url(srv.database_url)
    try:
        Worker(app, Store.for_app(app)).run_once()  # the server runs --no-workers: bring the read models up
    finally:
        app.close()
    checkpoint = run_cli(srv.database_url, "audit", "checkpoint")
    assert checkpoint.returncode == 0, checkpoint.stderr
    return case


@pytest.fixture
def console(database_url: str, tmp_path: Path) -> Iterator[tuple[Server, dict[str, Any]]]:
    with serving(database_url, tmp_path) as srv:
        yield srv, _seed(srv)


def _shot(page: Any, tmp_path: Path, name: str) -> None:
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    folder = os.environ.get("CASETRAIL_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(folder) / path.name)


def test_a_reviewer_finds_reads_replays_compares_verifies_exports_and_reports(
        browser: Any, console: tuple[Server, dict[str, Any]], tmp_path: Path) -> None:
    srv, case = console
    number, versions = case["number"], case["version"]
    context = browser.new_context(accept_downloads=True, viewport={"width": 1280, "height": 900}, locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        # sign-in: any console page sends the browser to the form first
        page.goto(f"{srv.url}/console/cases")
        assert "/console/login" in page.url
        _shot(page, tmp_path, "login")
        page.fill("#token", "ct_wrong")
        page.click("#sign-in")
        assert page.locator("#login-error").is_visible()
        page.fill("#token", srv.tokens["reviewer"])
        page.click("#sign-in")
        page.wait_for_url("**/console/cases")
        assert "reviewer" in page.locator("#who").inner_text()
        cookie = next(c for c in context.cookies() if c["name"] == "casetrail_console")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
        assert page.evaluate("document.cookie") == ""  # http-only: no script sees it

        # search by phone: only the matching case is listed
        page.fill("#f-q", "13800138000")
        page.click("#search")
        page.wait_for_url("**q=13800138000**")
        rows = page.locator("tr.case-row")
        assert rows.count() == 1 and rows.first.get_attribute("data-number") == number
        page.fill("#f-q", "")
        page.click("#search")
        page.wait_for_load_state()
        assert page.locator("tr.case-row").count() == 2
        _shot(page, tmp_path, "cases")

        # the CSV of the filtered view
        page.fill("#f-q", "赵女士")
        page.click("#search")
        page.wait_for_url("**q=**")
        with page.expect_download() as csv_download:
            page.click("#export-csv")
        text = Path(csv_download.value.path()).read_text(encoding="utf-8-sig")
        assert len(text.strip().splitlines()) == 2 and "赵女士" in text and number not in text

        # the case's timeline: every event, actor and roles, changes, short hashes
        page.goto(f"{srv.url}/console/cases?q={number}")
        page.click(f"a[href='/console/cases/{number}']")
        page.wait_for_url(f"**/console/cases/{number}")
        events = page.locator("#timeline tr.event")
        assert events.count() == versions
        history = srv["reviewer"].get(f"/v1/cases/{case['id']}/history").json()["items"]
        assert [events.nth(i).locator("code").last.inner_text() for i in range(versions)] == \
            [e["hash"][:12] for e in history]
        assert "wait_for_customer" in events.nth(versions - 1).inner_text()
        assert "agent2" in events.nth(versions - 1).inner_text()
        assert page.locator(".clock [data-badge='paused']").count() >= 1

        # the badge: verified and covered by the checkpoint; a click re-checks
        page.wait_for_selector("#verify-badge[data-ok='true']")
        assert "#1" in page.locator("#covered").inner_text()
        with page.expect_response(lambda r: r.url.endswith(f"/cases/{number}/verify")) as again:
            page.click("#recheck")
        assert again.value.status == 200
        page.wait_for_selector("#verify-badge[data-ok='true']")
        _shot(page, tmp_path, "case")

        # replay: the slider back to version 1 shows the case as it was opened
        assert page.locator("#state-status").inner_text() == "investigating"
        slider = page.locator("#replay-slider")
        slider.focus()
        slider.press("Home")
        page.wait_for_selector("#state-inner[data-version='1']")
        assert page.locator("#state-status").inner_text() == "registered"
        assert page.locator("#replay-label").inner_text() == "1"
        slider.press("ArrowRight")
        slider.press("ArrowRight")
        page.wait_for_selector("#state-inner[data-version='3']")
        assert page.locator("#state-status").inner_text() == "assigned"
        assert page.locator("#state-assignee").inner_text() == "agent2"

        # the time picker: long before the case, then today's end (its latest version)
        page.fill("#as-of", "2000-01-01T00:00:00")
        page.click("#as-of-show")
        page.wait_for_selector("#state-none")
        page.fill("#as-of", "2999-12-31T23:59:59")
        page.click("#as-of-show")
        page.wait_for_selector(f"#state-inner[data-version='{versions}']")
        assert page.locator("#state-status").inner_text() == "investigating"

        # diff of versions 1 and 3
        page.fill("#diff-from", "1")
        page.fill("#diff-to", "3")
        page.click("#diff-go")
        page.wait_for_selector("#diff-inner[data-to='3']")
        status_row = page.locator("tr.diff-row[data-path='status']")
        assert status_row.locator(".old").inner_text() == "registered"
        assert status_row.locator(".new").inner_text() == "assigned"
        assert page.locator("tr.diff-row[data-path='assignee'] .new").inner_text() == "agent2"

        # evidence: the bundle downloads and verifies offline; the printable report opens
        with page.expect_download() as bundle_download:
            page.click("#export-json")
        bundle = json.loads(Path(bundle_download.value.path()).read_text(encoding="utf-8"))
        assert bundle["aggregate_id"] == case["id"] and len(bundle["events"]) == versions
        report = verify_bundle(bundle)
        assert report.ok, report
        with context.expect_page() as printable:
            page.click("#export-html")
        printable.value.wait_for_load_state()
        assert number in printable.value.content()
        printable.value.close()

        # reports: the department chart is drawn (ECharts' canvas)
        page.goto(f"{srv.url}/console/reports?department=cs&staff=agent2")
        page.wait_for_selector("#chart-staff[data-rendered='true'] canvas")
        page.wait_for_selector("#chart-department[data-rendered='true'] canvas")
        _shot(page, tmp_path, "reports")

        # the audit page shows this reviewer's reads in the access ledger
        page.goto(f"{srv.url}/console/audit?case={number}")
        ledger = page.locator("#access-rows").inner_text()
        assert "console-case" in ledger and "export" in ledger and "reviewer" in ledger
        _shot(page, tmp_path, "audit")

        # English, then sign out
        page.click("#lang-switch")
        page.wait_for_url("**lang=en**")
        assert "Access ledger" in page.content()
        page.click("#sign-out")
        page.wait_for_url("**/console/login")
        page.goto(f"{srv.url}/console/cases")
        assert "/console/login" in page.url

        # a session that ends under an open page: its next partial request goes to the sign-in form
        page.fill("#token", srv.tokens["reviewer"])
        page.click("#sign-in")
        page.wait_for_url("**/console/cases")
        page.goto(f"{srv.url}/console/cases/{number}")
        page.wait_for_selector("#verify-badge")
        context.clear_cookies()
        page.click("#recheck")
        page.wait_for_url("**/console/login")
    finally:
        context.close()

"""End-to-end fixtures: a real ``casetrail serve`` process on SQLite or PostgreSQL.

``server`` (through ``serving``, usable on its own) registers one staff member per role (in-process, before the
server starts), issues their tokens, starts ``casetrail serve --no-workers``
on a free port with ``CASETRAIL_DATABASE_URL`` set, waits for ``/readyz``
and yields a ``Server`` with an httpx client per staff member. The
process's stdout and stderr go to a file the tests can read (``log_text``).
``outage_pg`` is a PostgreSQL server a test module may stop and start.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from domain.application import CaseTrail
from scripts import processes
from scripts.processes import free_port, wait_ready  # noqa: F401  (used by the e2e modules)
from tests.pg import DURABLE_SERVER_OPTIONS, PostgresNotInstalledError, ThrowawayPostgres
from tests.support import ROLE_STAFF

ROOT = Path(__file__).resolve().parents[2]
CASETRAIL = str(Path(sys.executable).parent / "casetrail")
STAFF = ROLE_STAFF  # one staff member per role (tests/support.py)
CUSTOMER = {"id": "C-1", "name": "王先生", "phone": "13800138000", "tier": "member"}


def cli_env(url: str) -> dict[str, str]:
    return {**os.environ, "CASETRAIL_DATABASE_URL": url, "PYTHONUNBUFFERED": "1"}


def run_cli(url: str, *args: str, input: str | None = None, env: dict[str, str] | None = None,
            cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """``casetrail ARGS`` on ``url`` (``env`` adds to its environment), in ``cwd``."""
    return subprocess.run([CASETRAIL, *args], env={**cli_env(url), **(env or {})}, cwd=cwd, capture_output=True,
                          text=True, input=input, timeout=60)


@dataclass
class Server:
    url: str
    database_url: str
    log_path: Path
    tokens: dict[str, str]
    process: subprocess.Popen[bytes]
    clients: dict[str, httpx.Client] = field(default_factory=dict)

    def client(self, staff_id: str | None = None, **headers: str) -> httpx.Client:
        auth = {"Authorization": f"Bearer {self.tokens[staff_id]}"} if staff_id else {}
        c = httpx.Client(base_url=self.url, headers={**auth, **headers}, timeout=30)
        self.clients[f"{staff_id}:{len(self.clients)}"] = c
        return c

    def __getitem__(self, staff_id: str) -> httpx.Client:
        if staff_id not in self.clients:
            self.clients[staff_id] = httpx.Client(
                base_url=self.url, headers={"Authorization": f"Bearer {self.tokens[staff_id]}"}, timeout=30)
        return self.clients[staff_id]

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def log_once(self, marker: str, within: float = 10.0) -> str:
        """The log once it holds ``marker``: a request is logged after its response is sent,
        so the line for the last request may land a moment after the client has its answer."""
        deadline = time.monotonic() + within
        while marker not in (text := self.log_text()) and time.monotonic() < deadline:
            time.sleep(0.05)
        return text

    def open_case(self, case_type: str = "complaint", by: str = "agent", **body: Any) -> dict[str, Any]:
        payload = {"type": case_type, "title": "包裹破损", "customer": CUSTOMER, **body}
        r = self[by].post("/v1/cases", json=payload)
        assert r.status_code == 201, r.text
        return r.json()


@contextmanager
def serving(database_url: str, tmp_path: Path, served_url: str | None = None,
            env: dict[str, str] | None = None,
            preexec_fn: Callable[[], None] | None = None) -> Iterator[Server]:
    """``casetrail serve --no-workers`` on ``served_url`` (default: the database),
    with one staff member per role registered (and their tokens issued) first;
    ``env`` adds to the server's environment (limits such as CASETRAIL_HEADER_TIMEOUT);
    ``preexec_fn`` runs in the server's process before it starts (e.g. to lower its fd limit)."""
    app = CaseTrail.from_url(database_url)
    for staff_id, (department, roles) in STAFF.items():
        app.register_staff(staff_id, staff_id.replace("_", " ").title(), department, roles)
    tokens = {staff_id: app.issue_token(staff_id) for staff_id in STAFF}
    app.close()
    log_path = tmp_path / "server.log"
    with processes.serving(served_url or database_url, log_path, env=env, cwd=ROOT, ready_timeout=30,
                           preexec_fn=preexec_fn) as (url, process):
        srv = Server(url=url, database_url=database_url, log_path=log_path, tokens=tokens, process=process)
        try:
            yield srv
        finally:
            for c in srv.clients.values():
                c.close()


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[Server]:
    with serving(database_url, tmp_path) as srv:
        yield srv


CHROMIUM = os.environ.get("CASETRAIL_CHROMIUM", "/usr/bin/chromium")


def _missing(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's chromium driven by Playwright (never a downloaded browser); missing under CI=true fails."""
    if not os.access(CHROMIUM, os.X_OK):
        _missing(f"no browser at {CHROMIUM}: run scripts/ensure_chromium.sh (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright is not installed (the test extra)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                              args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"])
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="module")
def outage_pg() -> Iterator[ThrowawayPostgres]:
    """A production-durable PostgreSQL server of the module's own, for tests that
    stop and start it (the shared ``pg_server`` stays up)."""
    pg = ThrowawayPostgres(options=DURABLE_SERVER_OPTIONS)
    try:
        pg.start()
    except PostgresNotInstalledError as e:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(str(e), pytrace=False)
        pytest.skip(str(e))
    try:
        yield pg
    finally:
        pg.stop()

"""Webhooks through a real ``casetrail serve`` (workers in-process) on SQLite and PostgreSQL:
a real local receiver gets every event, signed; events recorded while it is down, and across a
kill -9 of the server, arrive once it is back (duplicates only under the same delivery id);
the server log never holds the secret."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from domain.application import CaseTrail
from scripts import processes
from tests.e2e.conftest import CUSTOMER, ROOT, STAFF
from tests.webhook_receiver import Receiver

SECRET = "e2e-shared-secret-0123456789"
ENV = {"CASETRAIL_WEBHOOK_ATTEMPTS": "2", "CASETRAIL_WEBHOOK_WAIT_INITIAL": "0.05",
       "CASETRAIL_WEBHOOK_WAIT_MAX": "0.2", "CASETRAIL_WEBHOOK_ROUND_PAUSE": "0.2",
       "CASETRAIL_WEBHOOK_ROUND_PAUSE_MAX": "0.5", "CASETRAIL_WEBHOOK_POLL": "0.1",
       "CASETRAIL_SLA_INTERVAL": "0", "CASETRAIL_CHECKPOINT_INTERVAL": "0"}


def until(condition: Callable[[], Any], seconds: float = 90.0) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("condition not reached")


@pytest.fixture
def tokens(database_url: str) -> dict[str, str]:
    app = CaseTrail.from_url(database_url)
    for staff_id, (department, roles) in STAFF.items():
        app.register_staff(staff_id, staff_id.title(), department, roles)
    out = {s: app.issue_token(s) for s in ("admin", "agent")}
    app.close()
    return out


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver(SECRET).start()
    yield r
    r.stop()


def test_deliveries_survive_a_stopped_receiver_and_a_killed_server(
        database_url: str, tmp_path: Path, tokens: dict[str, str], receiver: Receiver) -> None:
    log = tmp_path / "server.log"

    def client(base: str, who: str) -> httpx.Client:
        return httpx.Client(base_url=base, headers={"Authorization": f"Bearer {tokens[who]}"}, timeout=30)

    def open_case(c: httpx.Client, title: str) -> str:
        r = c.post("/v1/cases", json={"type": "complaint", "title": title, "customer": CUSTOMER})
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    opened: list[str] = []
    with processes.serving(database_url, log, args=(), env=ENV, cwd=ROOT, ready_timeout=60) as (base, process):
        with client(base, "admin") as admin, client(base, "agent") as agent:
            r = admin.post("/v1/webhooks", json={"url": receiver.url, "events": ["Opened"], "secret": SECRET})
            assert r.status_code == 201, r.text
            sid = r.json()["id"]
            opened.append(open_case(agent, "first"))
            until(lambda: len(receiver.deliveries()) == 1)
            receiver.stop()
            opened += [open_case(agent, "while down 1"), open_case(agent, "while down 2")]

            def pending() -> list[dict[str, Any]]:
                items = admin.get(f"/v1/webhooks/{sid}/deliveries").json()["items"]
                return [d for d in items if d["status"] == "pending"]

            until(lambda: len(pending()) == 2)  # in the outbox, committed with its position
        os.kill(process.pid, signal.SIGKILL)
        process.wait(30)
    receiver.start()
    with processes.serving(database_url, log, args=(), env=ENV, cwd=ROOT, ready_timeout=60, append=True) as (base, _):
        with client(base, "agent") as agent:
            opened.append(open_case(agent, "after the restart"))
            until(lambda: {r.body["case_id"] for r in receiver.deliveries()} == set(opened))
    got = receiver.deliveries()
    assert all(r.signed and r.event == "Opened" for r in got)
    assert len({r.delivery for r in got}) == len(opened)  # any duplicate came under the same delivery id
    assert all(len({r.body["case_id"] for r in got if r.delivery == d}) == 1 for d in {r.delivery for r in got})
    assert SECRET not in log.read_text(encoding="utf-8", errors="replace")

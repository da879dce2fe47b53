"""A server killed with SIGKILL under write load loses no acknowledged write.

On SQLite and PostgreSQL, several client threads open complaints and log
contacts on them (each request with a unique marker and ``Idempotency-Key``)
while the test kills ``casetrail serve`` with SIGKILL, three times, starting
it again on the same database each time. After each kill, an in-process
``CaseTrail`` checks that every write the server answered with 2xx is in the
event store at the version the answer gave, exactly once, and that the
audit finds every hash chain intact. Requests cut off by the kill may or may
not have been recorded; each is sent again, with its ``Idempotency-Key``, to
the restarted server: it must succeed (a replay when it had been recorded)
and leave its marker in the history exactly once. Finally ``casetrail
audit verify`` exits 0.
"""

from __future__ import annotations

import random
import signal
import subprocess
import threading
import time
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from domain.application import CaseTrail
from domain.audit.verification import verify
from scripts import processes
from tests.e2e.conftest import CUSTOMER, ROOT, Server, run_cli

WRITERS = 6
KILLS = 3
LOAD_SECONDS = (1.0, 2.5)  # each round kills the server after a (seeded) random time in this range
MAX_REQUESTS = 1000  # per writer per round: the load is bounded in count as well as in time
MIN_ACKS = 20  # acknowledged writes per round before the kill


@dataclass
class Write:
    """One write request: what was sent, and what (if anything) the server answered."""

    kind: str  # "open" or "act"
    marker: str
    by: str
    case_id: str | None = None  # the case acted on (or, once answered, opened)
    version: int | None = None  # the version the answer gave
    replayed: bool = False

    @property
    def key(self) -> str:
        return self.marker

    def request(self) -> tuple[str, dict[str, Any]]:
        if self.kind == "open":
            return "/v1/cases", {"type": "complaint", "title": self.marker, "customer": CUSTOMER}
        return f"/v1/cases/{self.case_id}/actions/log_contact", {"channel": "phone", "summary": self.marker}

    def send(self, client: httpx.Client) -> httpx.Response:
        path, body = self.request()
        return client.post(path, json=body, headers={"Idempotency-Key": self.key})

    def answered(self, r: httpx.Response) -> None:
        body = r.json()
        assert r.headers["etag"] == f'"{body["version"]}"'
        self.case_id, self.version = body["id"], body["version"]
        self.replayed = r.headers.get("idempotent-replayed") == "true"


@dataclass
class Load:
    url: str
    tokens: dict[str, str]
    round_: int
    cases: dict[int, list[str]]  # writer -> its cases (from earlier rounds too)
    acked: list[Write] = field(default_factory=list)
    cut_off: list[Write] = field(default_factory=list)
    refused: list[tuple[int, str]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def writer(self, w: int) -> None:
        by = "agent" if w % 2 else "agent2"
        rng = random.Random(f"{self.round_}-{w}")
        mine = self.cases.setdefault(w, [])
        with httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {self.tokens[by]}"},
                          timeout=30) as client:
            for n in range(MAX_REQUESTS):
                if self.stop.is_set():
                    return
                marker = f"r{self.round_}-w{w}-n{n}"
                write = (Write("open", marker, by) if not mine or rng.random() < 0.3
                         else Write("act", marker, by, case_id=rng.choice(mine)))
                try:
                    r = write.send(client)
                except httpx.TransportError:
                    self.cut_off.append(write)  # the server died with this request in flight
                    return
                if r.status_code in (200, 201):
                    write.answered(r)
                    self.acked.append(write)
                    if write.kind == "open":
                        mine.append(write.case_id)  # type: ignore[arg-type]
                else:
                    self.refused.append((r.status_code, r.text[:300]))


def serving(database_url: str, log_path: Path) -> Any:
    """A server whose log goes on from one round to the next."""
    return processes.serving(database_url, log_path, cwd=ROOT, append=True, ready_timeout=30)


def kill_under_load(url: str, process: subprocess.Popen[bytes], load: Load) -> None:
    threads = [threading.Thread(target=load.writer, args=(w,)) for w in range(WRITERS)]
    for t in threads:
        t.start()
    start = time.monotonic()
    deadline = start + random.Random(load.round_).uniform(*LOAD_SECONDS)
    while any(t.is_alive() for t in threads) and time.monotonic() < start + 30:
        if time.monotonic() >= deadline and len(load.acked) >= MIN_ACKS:  # a slow machine loads longer
            break
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)  # mid-load: no shutdown, no flush, no goodbye
    process.wait(timeout=20)
    load.stop.set()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a writer hung after the kill"


def markers(app: CaseTrail, case_id: str) -> dict[str, list[int]]:
    """Each marker in the case's history, with the versions whose event carries it."""
    found: dict[str, list[int]] = {}
    for e in app.case_history(case_id):
        data = e["data"]
        if e["type"] == "Opened":
            found.setdefault(data["title"], []).append(e["version"])
        elif e["type"] == "ActionTaken":
            found.setdefault(data["data"]["summary"], []).append(e["version"])
    return found


def check_store(database_url: str, writes: list[Write]) -> None:
    """Every acknowledged write is stored once at its version; every chain verifies."""
    app = CaseTrail.from_url(database_url)
    try:
        by_case: dict[str, list[Write]] = {}
        for write in writes:
            by_case.setdefault(write.case_id, []).append(write)  # type: ignore[arg-type]
        for case_id, case_writes in by_case.items():
            found = markers(app, case_id)
            for write in case_writes:
                assert found.get(write.marker) == [write.version], (write, found.get(write.marker))
        report = verify(app)
        assert report.ok, report.as_dict()["problems"]
        assert report.events_checked >= len(writes)
    finally:
        app.close()


def retry_cut_off(url: str, tokens: dict[str, str], cut_off: list[Write]) -> Counter[str]:
    """Send each cut-off request again with its Idempotency-Key: recorded once either way."""
    outcome: Counter[str] = Counter()
    for write in cut_off:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {tokens[write.by]}"},
                          timeout=30) as client:
            r = write.send(client)
            assert r.status_code in (200, 201), r.text
            write.answered(r)
            again = write.send(client)  # and once more: now it is certainly a replay
            assert again.status_code == r.status_code and again.headers.get("idempotent-replayed") == "true"
            assert again.json()["version"] == write.version and again.json()["id"] == write.case_id
        outcome["replayed" if write.replayed else "applied"] += 1
    return outcome


def test_acknowledged_writes_survive_sigkill(server: Server) -> None:
    url, process = server.url, server.process
    cases: dict[int, list[str]] = {}
    acknowledged: list[Write] = []
    figures = []
    with ExitStack() as servers:  # the restarted servers, each killed in its round (or at the end)
        for round_ in range(KILLS):
            load = Load(url, server.tokens, round_, cases)
            started = time.monotonic()
            kill_under_load(url, process, load)
            assert not load.refused, load.refused[:5]  # nothing but 2xx until the kill
            assert load.acked, "no write was acknowledged before the kill"
            acknowledged += load.acked
            check_store(server.database_url, acknowledged)
            # start again on the same database and retry what the kill cut off
            url, process = servers.enter_context(serving(server.database_url, server.log_path))
            outcome = retry_cut_off(url, server.tokens, load.cut_off)
            acknowledged += load.cut_off
            figures.append(f"round {round_}: {len(load.acked)} acknowledged "
                           f"({sum(w.kind == 'open' for w in load.acked)} opens), {len(load.cut_off)} cut off "
                           f"(after restart: {dict(outcome)}), {time.monotonic() - started:.1f}s")
        for write in acknowledged[:: max(1, len(acknowledged) // 20)]:  # the last server shows them too
            r = httpx.get(f"{url}/v1/cases/{write.case_id}", params={"version": write.version},
                          headers={"Authorization": f"Bearer {server.tokens['agent']}"})
            assert r.status_code == 200, r.text
    check_store(server.database_url, acknowledged)
    result = run_cli(server.database_url, "audit", "verify")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("OK:"), result.stdout
    assert "unhandled error" not in server.log_text()
    print("\n" + "\n".join(figures))

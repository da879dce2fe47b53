"""The database goes away under load and comes back: 503s meanwhile, recovery by itself, nothing lost.

- PostgreSQL (a dedicated throwaway server with production durability, never
  the shared one) stopped under load with ``pg_ctl stop -m fast`` and with
  ``-m immediate`` (a crash) for a few seconds, then started again on the same
  data and port. Client threads open cases and log contacts (each write with a
  unique marker), read a case, list cases (read model), ask ``/readyz``; an
  event stream is open throughout. While it is down every failure is a 503
  problem with ``Retry-After`` within the client's time-out (a read may be a
  200 if served from memory), ``/healthz`` stays 200, a new event stream is a
  503. The same server process serves 2xx again once the database is back;
  the open stream resumes without a gap. Every 2xx write is stored exactly
  once at its version, no marker twice, ``audit verify`` passes, and the log
  has no traceback and no 500.
- Restarted while idle: the first requests afterwards succeed (no connection
  the old server closed is handed out).
- A committed write whose answer is lost with its connection (a TCP proxy cuts
  it right after forwarding the statement): the retry finds the rows there and
  answers 2xx; the case is opened (the contact logged) once, not twice.
- SQLite: a write that cannot get the lock within the busy time-out (another
  connection holds it) is a 503 problem; reads go on; writes succeed again once
  the lock is released.
Figures (requests, statuses per phase, time to recover) are printed (-s).
"""

from __future__ import annotations

import random
import socket
import sqlite3
import threading
import time
from collections import Counter
from contextlib import closing, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.events import feed_page
from domain.application import CaseTrail
from domain.audit.verification import verify
from tests.e2e.conftest import CUSTOMER, run_cli, serving
from tests.pg import ThrowawayPostgres

CLIENTS = 4
CLIENT_TIMEOUT = 15.0  # no request may take longer, outage or not
DOWN_SECONDS = 3.0
MAX_REQUESTS = 2000  # per client: the load is bounded in count as well as in time
OPS = ("open", "act", "get", "list", "act", "readyz", "healthz")
PROBLEM = "application/problem+json"


def unavailable(r: httpx.Response) -> bool:
    """A 503 problem document with Retry-After."""
    return (r.status_code == 503 and r.headers["content-type"].startswith(PROBLEM)
            and r.json()["status"] == 503 and r.headers.get("retry-after", "").isdigit())


def assert_clean_log(log: str) -> None:
    """503s are one warning line each: no traceback, no unhandled error, no 500."""
    assert "Traceback" not in log and "unhandled error" not in log, log[-3000:]
    assert '"status": 500' not in log


@dataclass
class Result:
    op: str
    started: float
    ended: float
    status: int | str  # the HTTP status, or the transport error's name
    problem_ok: bool = True  # a 503 was a well-formed problem with Retry-After


@dataclass
class Load:
    url: str
    tokens: dict[str, str]
    results: list[Result] = field(default_factory=list)
    acked: list[tuple[str, int, str]] = field(default_factory=list)  # case id, version, marker
    stop: threading.Event = field(default_factory=threading.Event)

    def client(self, w: int) -> None:
        by = ("agent", "agent2")[w % 2]
        rng = random.Random(w)
        mine: list[str] = []
        with httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {self.tokens[by]}"},
                          timeout=CLIENT_TIMEOUT) as c:
            for n in range(MAX_REQUESTS):
                if self.stop.is_set():
                    return
                op = OPS[n % len(OPS)] if mine else "open"
                marker = f"outage-w{w}-n{n}"
                started = time.monotonic()
                try:
                    r = self.send(c, op, marker, rng.choice(mine) if mine else "")
                except httpx.HTTPError as e:
                    self.results.append(Result(op, started, time.monotonic(), type(e).__name__))
                    continue
                ok = r.status_code != 503 or unavailable(r)
                result = Result(op, started, time.monotonic(), r.status_code, ok)
                if op in ("open", "act") and r.status_code in (200, 201):
                    body = r.json()
                    self.acked.append((body["id"], body["version"], marker))
                    if op == "open":
                        mine.append(body["id"])
                self.results.append(result)
                time.sleep(0.01)

    @staticmethod
    def send(c: httpx.Client, op: str, marker: str, case_id: str) -> httpx.Response:
        if op == "open":
            return c.post("/v1/cases", json={"type": "complaint", "title": marker, "customer": CUSTOMER})
        if op == "act":
            return c.post(f"/v1/cases/{case_id}/actions/log_contact", json={"channel": "phone", "summary": marker})
        path = {"get": f"/v1/cases/{case_id}", "list": "/v1/cases", "readyz": "/readyz", "healthz": "/healthz"}[op]
        return c.get(path)


def read_stream(url: str, token: str, ids: list[int], outcome: dict[str, Any], stop: threading.Event) -> None:
    """One event stream, open through the outage: the positions it delivers."""
    headers = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
    try:
        with httpx.stream("GET", f"{url}/v1/events", params={"max_duration": 300}, headers=headers,
                          timeout=httpx.Timeout(CLIENT_TIMEOUT, read=60)) as r:
            outcome["status"] = r.status_code
            for line in r.iter_lines():
                if line.startswith("id: "):
                    ids.append(int(line[4:]))
                if stop.is_set():
                    break
        outcome["ended"] = "by the client"
    except httpx.HTTPError as e:
        outcome["ended"] = f"{type(e).__name__}: {e}"


def stored_markers(app: CaseTrail) -> tuple[Counter[str], dict[str, tuple[str, int]], list[int]]:
    """Every case event's marker (title or contact summary): how often, where; and all positions."""
    counts: Counter[str] = Counter()
    where: dict[str, tuple[str, int]] = {}
    positions: list[int] = []
    after = 0
    while page := feed_page(app, after, 500):
        for e in page:
            positions.append(e["position"])
            data = e["data"]
            marker = data.get("title") if e["type"] == "Opened" else (data.get("data") or {}).get("summary")
            if isinstance(marker, str) and marker.startswith("outage-"):
                counts[marker] += 1
                where[marker] = (e["case_id"], e["version"])
        after = page[-1]["position"]
    return counts, where, positions


def wait_until(what: str, check: Any, seconds: float = 30.0) -> float:
    """Poll ``check()`` until it is true; return when it first was (monotonic)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return time.monotonic()
        time.sleep(0.05)
    raise AssertionError(f"not within {seconds}s: {what}")


@pytest.mark.postgres
@pytest.mark.parametrize("mode", ["fast", "immediate"])  # a clean shutdown, and a crash (recovery from WAL)
def test_postgres_outage_under_load(outage_pg: ThrowawayPostgres, tmp_path: Path, mode: str) -> None:
    url = outage_pg.create_database("outage")
    with serving(url, tmp_path) as server:
        load = Load(server.url, server.tokens)
        ids: list[int] = []
        stream: dict[str, Any] = {}
        stream_stop = threading.Event()
        reader = threading.Thread(target=read_stream, args=(server.url, server.tokens["supervisor"], ids, stream,
                                                            stream_stop))
        reader.start()
        agent = server["agent"]
        threads = [threading.Thread(target=load.client, args=(w,)) for w in range(CLIENTS)]
        for t in threads:
            t.start()
        try:
            wait_until("20 acknowledged writes before the outage", lambda: len(load.acked) >= 20)
            stopping = time.monotonic()
            outage_pg.pause(mode)
            down = time.monotonic()
            assert unavailable(r := agent.get("/readyz")), r.text
            assert unavailable(r := agent.get("/v1/cases")), r.text
            assert unavailable(r := agent.get("/v1/events", headers={"Accept": "text/event-stream"})), r.text
            assert agent.get("/healthz").status_code == 200
            time.sleep(max(0.0, down + DOWN_SECONDS - time.monotonic()))
            starting = time.monotonic()
            outage_pg.resume()
            up = time.monotonic()
            recovered = wait_until("2xx again from the same server", lambda: (
                agent.post("/v1/cases", json={"type": "complaint", "title": "probe after the outage",
                                              "customer": CUSTOMER}).status_code == 201
                and agent.get("/v1/cases").status_code == 200 and agent.get("/readyz").status_code == 200))
            position = int(agent.get("/readyz").json()["position"])
            wait_until("the open event stream delivers what was written after the outage",
                       lambda: bool(ids) and ids[-1] >= position, seconds=20)
            time.sleep(1.5)  # more load on the recovered server
        finally:
            load.stop.set()
            stream_stop.set()
            for t in threads:
                t.join(timeout=60)
            if stream.get("status") == 200:
                agent.post("/v1/cases", json={"type": "complaint", "title": "wake the stream", "customer": CUSTOMER})
            reader.join(timeout=30)
        assert not any(t.is_alive() for t in threads + [reader]), "a client hung"
        assert server.process.poll() is None, "the server process died"

        results = load.results
        outage = [r for r in results if r.started >= down and r.ended <= starting]
        before = [r for r in results if r.ended < stopping]
        after = [r for r in results if r.started >= recovered]
        assert outage and before and after, (len(outage), len(before), len(after))
        # no status but 2xx and 503 (well-formed) anywhere, and no request beyond the client's time-out
        assert {r.status for r in results} <= {200, 201, 503}, Counter(r.status for r in results)
        assert all(r.problem_ok for r in results)
        assert all(r.status in (200, 201) for r in before + after), Counter((r.op, r.status) for r in before + after)
        # while it is down: writes and /readyz 503, reads 503 (or 200 if ever served from memory), /healthz 200
        expected = {"open": {503}, "act": {503}, "readyz": {503}, "get": {200, 503}, "list": {200, 503},
                    "healthz": {200}}
        assert all(r.status in expected[r.op] for r in outage), Counter((r.op, r.status) for r in outage)
        # the stream stayed open through the outage and skipped or repeated nothing
        assert stream["status"] == 200 and stream["ended"] == "by the client", stream
        assert ids == sorted(set(ids)), "the stream repeated or reordered events"

        with closing(CaseTrail.from_url(url)) as app:
            counts, where, positions = stored_markers(app)
            assert ids == [p for p in positions if ids[0] <= p <= ids[-1]], "the stream skipped events"
            for case_id, version, marker in load.acked:
                assert counts[marker] == 1 and where[marker] == (case_id, version), (marker, counts[marker])
            assert max(counts.values()) == 1, [m for m, n in counts.items() if n > 1]
            report = verify(app)
            assert report.ok, report.as_dict()["problems"]
        result = run_cli(url, "audit", "verify")
        assert result.returncode == 0 and result.stdout.startswith("OK:"), result.stdout + result.stderr
        log = server.log_text()
        assert_clean_log(log)
        assert '"database unavailable"' in log

    between = [r for r in results if r.ended >= stopping and r.started < recovered
               and not (r.started >= down and r.ended <= starting)]
    phases = {"before": before, "stopping/starting": between, "outage": outage, "recovered": after}
    print(f"\nPostgreSQL outage (stop -m {mode}): {len(results)} requests, {len(load.acked)} writes acknowledged; "
          + "; ".join(f"{name}: {dict(Counter(r.status for r in rs))}" for name, rs in phases.items())
          + f"; slowest request in the outage {max(r.ended - r.started for r in outage):.2f}s"
          + f" (of all: {max(r.ended - r.started for r in results):.2f}s)"
          + f"; stop took {down - stopping:.2f}s, down {starting - down:.1f}s, start took {up - starting:.2f}s"
          + f", 2xx again {recovered - up:.2f}s after the start; stream delivered {len(ids)} events")


@pytest.mark.postgres
def test_postgres_restart_while_idle_first_requests_succeed(outage_pg: ThrowawayPostgres, tmp_path: Path) -> None:
    """Connections the old server closed are not handed out after a restart (no request in between)."""
    url = outage_pg.create_database("idle")
    with serving(url, tmp_path) as server:
        agent = server["agent"]
        case = server.open_case(title="outage-idle-1")
        paths = ["/readyz", f"/v1/cases/{case['id']}", "/v1/cases", "/v1/events"]
        for _ in range(3):  # several pooled connections in each pool
            assert all(agent.get(path).status_code == 200 for path in paths)
        outage_pg.pause("fast")
        outage_pg.resume()
        assert [agent.get(path).status_code for path in paths] == [200] * len(paths)
        r = agent.post(f"/v1/cases/{case['id']}/actions/log_contact", json={"channel": "phone", "summary": "x"})
        assert r.status_code == 200, r.text
        assert_clean_log(server.log_text())


class CuttingProxy:
    """A TCP proxy to PostgreSQL that can lose one answer: the first message from the
    casetrail server holding ``marker`` (raw, or hex as in a ``bytea[]`` in text form)
    is forwarded, the answer swallowed and the connection cut, as when the network
    fails between commit and reply."""

    def __init__(self, port: int) -> None:
        self.target = port
        self.marker: bytes | None = None
        self.cuts = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.target))
            muted = threading.Event()
            threading.Thread(target=self.pump, args=(client, server, muted, True), daemon=True).start()
            threading.Thread(target=self.pump, args=(server, client, muted, False), daemon=True).start()

    def pump(self, src: socket.socket, dst: socket.socket, muted: threading.Event, upstream: bool) -> None:
        try:
            while data := src.recv(65536):
                marker = self.marker if upstream else None
                if marker is not None and (marker in data or marker.hex().encode() in data):
                    self.marker = None
                    muted.set()  # the answer to this must never arrive
                    self.cuts += 1
                    dst.sendall(data)
                    time.sleep(0.5)  # the server commits and answers into the void
                    break
                if not muted.is_set():
                    dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            with suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()


@pytest.mark.postgres
def test_lost_answer_to_a_committed_write_is_not_written_twice(outage_pg: ThrowawayPostgres,
                                                               tmp_path: Path) -> None:
    url = outage_pg.create_database("lostanswer")
    proxy = CuttingProxy(outage_pg.port)  # type: ignore[arg-type]
    via_proxy = url.replace(f":{outage_pg.port}/", f":{proxy.port}/")
    with serving(url, tmp_path, served_url=via_proxy) as server:
        agent = server["agent"]
        proxy.marker = b"outage-lost-open"
        r = agent.post("/v1/cases", json={"type": "complaint", "title": "outage-lost-open", "customer": CUSTOMER})
        assert r.status_code == 201, r.text
        opened = r.json()
        proxy.marker = b"outage-lost-contact"
        r = agent.post(f"/v1/cases/{opened['id']}/actions/log_contact",
                       json={"channel": "phone", "summary": "outage-lost-contact"})
        assert r.status_code == 200, r.text
        assert r.json()["version"] == opened["version"] + 1
        assert proxy.cuts == 2, "the proxy did not cut the writes' connections"
        log = server.log_text()
        assert log.count("write confirmed after its answer was lost") == 2, log[-3000:]
        assert_clean_log(log)
    with closing(CaseTrail.from_url(url)) as app:
        counts, where, _ = stored_markers(app)
        assert counts == {"outage-lost-open": 1, "outage-lost-contact": 1}, counts
        assert where["outage-lost-open"] == (opened["id"], 1)
        assert where["outage-lost-contact"] == (opened["id"], opened["version"] + 1)
        assert verify(app).ok


def test_sqlite_write_lock_timeout_is_a_503(tmp_path: Path) -> None:
    path = tmp_path / "casetrail.db"
    url = f"sqlite:///{path}?lock_timeout=1"
    with serving(url, tmp_path) as server:
        agent = server["agent"]
        case = server.open_case(title="outage-sqlite-1")
        holder = sqlite3.connect(path, isolation_level=None, timeout=10)
        try:
            holder.execute("BEGIN IMMEDIATE")  # another writer holds the lock past the busy time-out
            r = agent.post("/v1/cases", json={"type": "complaint", "title": "outage-sqlite-2", "customer": CUSTOMER})
            assert unavailable(r), r.text
            r = agent.post(f"/v1/cases/{case['id']}/actions/log_contact",
                           json={"channel": "phone", "summary": "outage-sqlite-3"})
            assert unavailable(r), r.text
            assert agent.get(f"/v1/cases/{case['id']}").status_code == 200  # readers go on
            assert agent.get("/readyz").status_code == 200
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        r = agent.post(f"/v1/cases/{case['id']}/actions/log_contact", json={"channel": "phone",
                                                                           "summary": "outage-sqlite-4"})
        assert r.status_code == 200 and r.json()["version"] == 2, r.text
        log = server.log_text()
        assert_clean_log(log)
        assert log.count('"database unavailable"') == 2, log[-3000:]
    with closing(CaseTrail.from_url(url)) as app:
        counts, _, _ = stored_markers(app)
        assert counts == {"outage-sqlite-1": 1, "outage-sqlite-4": 1}, counts

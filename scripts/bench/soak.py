"""The soak behind ``casetrail soak``: mixed load against a real server for minutes, watching errors and memory.

The QUALITY.md soak bar: 10 minutes of mixed load, no error, server RSS
growth under 10%. The command starts a throwaway PostgreSQL
(``scripts.throwaway_pg``) or a SQLite file (``--database``), or uses
``--database-url`` (a fresh database), registers the benchmark's staff
(``scripts.bench.roster``) with a token each, starts ``casetrail serve``
(projection workers and SLA pass in the server process) and runs
``--threads`` clients for ``--duration`` seconds. Each client opens cases of
every type and drives them along their workflows (``scripts.bench.stories``,
following linked return visits), reads cases, histories, versions, lists,
staff KPIs, department reports, audit events and ``/v1/events`` pages, and
now and then sends a stale ``If-Match`` (a 409, expected).

Errors: any 5xx, connection error, or status other than the one expected
for the request (actions the workflow refused, 403/422, are also counted
apart: they mean the client's story and the workflow disagree).
The server's RSS (``/proc/<pid>/status``) is sampled every few seconds.
Writes ``bench/results/soak-<database>-<UTC time>.json`` and prints a
summary; exits 1 unless there were no errors and RSS grew less than
``--max-growth`` % from the end of the warm-up (half the run, at most 5
minutes: the server's bounded case caches fill first) to the end.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, deque
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import click
import httpx

from scripts import processes
from scripts.bench import roster, stories

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUT = ROOT / "bench" / "results"
CASETRAIL = str(Path(sys.executable).parent / "casetrail")
EXTRA_STAFF = {"rev01": ("compliance", ["reviewer"]), "adm01": ("it", ["admin"])}
# operation: weight in the mix
MIX = {"act": 40, "open": 8, "conflict": 2, "case": 12, "version": 4, "history": 6, "list": 10, "staff": 4,
       "department": 2, "events": 8, "audit": 2, "case_types": 2}
EXPECTED = {"open": 201, "conflict": 409}  # every other operation expects 200
MAX_ACTIVE = 40  # cases a client drives at once
# The server keeps up to 5000 cases in each of its caches (CaseTrail.from_url): RSS climbs until they
# are full, about 3 minutes into this load (160 s in a 240 s trial), then stays flat. Growth
# counts from the end of the warm-up.
WARMUP_S = 180.0


def rss_kb(pid: int) -> int | None:
    """Resident set size of ``pid`` in KiB: /proc/<pid>/status VmRSS, else psutil when installed."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        return next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
    except (OSError, StopIteration):
        pass
    try:
        import psutil  # type: ignore[import-not-found]

        return int(psutil.Process(pid).memory_info().rss // 1024)
    except Exception:  # not installed, or the process is gone
        return None


def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


class Tally:
    """What every client saw, under one lock."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.by_op: dict[str, Counter[str]] = {}
        self.latencies: list[float] = []
        self.errors = 0
        self.refused = 0
        self.samples: list[str] = []

    def record(self, op: str, status: int | str, seconds: float, ok: bool, refused: bool, note: str = "") -> None:
        with self.lock:
            self.by_op.setdefault(op, Counter())[str(status)] += 1
            self.latencies.append(seconds)
            if not ok:
                self.errors += 1
                self.refused += refused
                if len(self.samples) < 20:
                    self.samples.append(f"{op} -> {status}: {note[:300]}")


class Client:
    """One load thread: its own connection, its own cases."""

    def __init__(self, url: str, tokens: dict[str, str], tally: Tally, seed: int, deadline: float) -> None:
        self.http = httpx.Client(base_url=url, timeout=30)
        self.tokens, self.tally, self.deadline = tokens, tally, deadline
        self.rng = random.Random(seed)
        self.active: dict[str, dict[str, Any]] = {}  # case id -> {"view", "memo"}
        self.known: deque[str] = deque(maxlen=500)
        self.after = 0
        self.agents = roster.AGENTS

    def call(self, op: str, method: str, path: str, by: str, **kwargs: Any) -> httpx.Response | None:
        expect = EXPECTED.get(op, 200)
        headers = {"Authorization": f"Bearer {self.tokens[by]}", **kwargs.pop("headers", {})}
        started = time.perf_counter()
        try:
            r = self.http.request(method, path, headers=headers, **kwargs)
        except httpx.HTTPError as e:
            self.tally.record(op, type(e).__name__, time.perf_counter() - started, False, False, str(e))
            return None
        refused = op == "act" and r.status_code in (403, 422)
        self.tally.record(op, r.status_code, time.perf_counter() - started, r.status_code == expect, refused,
                          f"{method} {path}: {r.text}")
        return r if r.status_code == expect else None

    def run(self) -> None:
        ops, weights = list(MIX), list(MIX.values())
        try:
            while time.monotonic() < self.deadline:
                getattr(self, "op_" + self.rng.choices(ops, weights)[0])()
        finally:
            self.http.close()

    # ------------------------------------------------------------- writes
    def track(self, view: dict[str, Any], linked: bool = False) -> None:
        self.known.append(view["id"])
        if view["id"] not in self.active and (linked or len(self.active) < MAX_ACTIVE):
            self.active[view["id"]] = {"view": view, "memo": {}}

    def op_open(self) -> None:
        o = stories.opening(self.rng, stories.pick_type(self.rng))
        body = {"type": o.case_type, "title": o.title, "customer": o.customer, "fields": o.fields}
        if o.channel:
            body["channel"] = o.channel
        r = self.call("open", "POST", "/v1/cases", o.by, json=body)
        if r is not None:
            self.track(r.json())

    def op_act(self) -> None:
        ready = [cid for cid, c in self.active.items() if c["memo"].get("awaiting") not in self.active]
        if len(self.active) < 5 or not ready:
            return self.op_open()
        case_id = self.rng.choice(ready)
        entry = self.active[case_id]
        if entry["memo"].pop("awaiting", None) is not None:  # its linked case ended: see what it changed
            fresh = self.call("case", "GET", f"/v1/cases/{case_id}", self.rng.choice(self.agents))
            if fresh is None:
                return None
            entry["view"] = fresh.json()
        view = entry["view"]
        case = SimpleNamespace(id=view["id"], case_type=view["type"], status=view["status"], fields=view["fields"],
                               assignee=view["assignee"], counters=view["counters"], approvals=view["approvals"],
                               links=view["links"])
        step = stories.next_step(self.rng, case, entry["memo"], datetime.now(timezone(timedelta(hours=8))))
        if step == stories.WAIT:
            return None
        if step == stories.DONE or not isinstance(step, stories.Step) or step.by not in self.tokens:
            del self.active[case_id]  # its story has ended (a case awaiting it may go on)
            return None
        r = self.call("act", "POST", f"/v1/cases/{case_id}/actions/{step.action}", step.by, json=step.data)
        if r is None:
            del self.active[case_id]  # refused by the workflow: leave the case as it is
            return None
        new = r.json()
        entry["view"] = new
        for link in new["links"][len(view["links"]):]:
            if link["rel"] != "origin" and link["case_id"] not in self.active:
                linked = self.call("case", "GET", f"/v1/cases/{link['case_id']}", self.rng.choice(self.agents))
                if linked is not None:
                    self.track(linked.json(), linked=True)
                    entry["memo"]["awaiting"], entry["memo"]["visited"] = link["case_id"], True
        return None

    def op_conflict(self) -> None:
        if not self.active:
            return self.op_open()
        view = self.active[self.rng.choice(list(self.active))]["view"]
        self.call("conflict", "POST", f"/v1/cases/{view['id']}/actions/log_contact", self.rng.choice(self.agents),
                  json={"channel": "phone", "summary": "stale"}, headers={"If-Match": f'"{view["version"] - 1}"'})
        return None

    # -------------------------------------------------------------- reads
    def some_case(self) -> str | None:
        return self.rng.choice(self.known) if self.known else None

    def op_case(self) -> None:
        if (cid := self.some_case()) is not None:
            self.call("case", "GET", f"/v1/cases/{cid}", self.rng.choice(self.agents))

    def op_version(self) -> None:
        if (cid := self.some_case()) is not None:
            self.call("version", "GET", f"/v1/cases/{cid}", self.rng.choice(self.agents), params={"version": 1})

    def op_history(self) -> None:
        if (cid := self.some_case()) is not None:
            by = "rev01" if self.rng.random() < 0.2 else self.rng.choice(self.agents)
            self.call("history", "GET", f"/v1/cases/{cid}/history", by)

    def op_list(self) -> None:
        params = self.rng.choice([{}, {"type": "complaint"}, {"status": "registered"}, {"overdue": "true"},
                                  {"department": "cs", "limit": 20}, {"assignee": self.rng.choice(self.agents)}])
        self.call("list", "GET", "/v1/cases", self.rng.choice(self.agents), params=params)

    def op_staff(self) -> None:
        today = datetime.now(UTC).date()
        self.call("staff", "GET", f"/v1/staff/{self.rng.choice(self.agents)}/performance", "sup01",
                  params={"from": str(today - timedelta(days=30)), "to": str(today + timedelta(days=1))})

    def op_department(self) -> None:
        self.call("department", "GET", "/v1/reports/departments/cs", "gm01",
                  params={"month": datetime.now(UTC).strftime("%Y-%m")})

    def op_events(self) -> None:
        r = self.call("events", "GET", "/v1/events", self.rng.choice(self.agents),
                      params={"after": self.after, "limit": 50})
        if r is not None:
            self.after = r.json()["last_position"] if self.rng.random() < 0.9 else 0

    def op_audit(self) -> None:
        self.call("audit", "GET", "/v1/audit/events", "gm01", params={"limit": 20})

    def op_case_types(self) -> None:
        self.call("case_types", "GET", "/v1/case-types", self.rng.choice(self.agents))


# ------------------------------------------------------------ the run
def register(url: str) -> dict[str, str]:
    from domain.application import CaseTrail

    app = CaseTrail.from_url(url)
    try:
        staff = {**roster.STAFF, **EXTRA_STAFF}
        for staff_id, (department, roles) in staff.items():
            app.register_staff(staff_id, staff_id, department, roles)
        return {staff_id: app.issue_token(staff_id) for staff_id in staff}
    finally:
        app.close()


def start_server(url: str, port: int, log_path: Path) -> subprocess.Popen[bytes]:
    # The server runs as recommended for production (docs/OPERATIONS.md): at most 2 glibc malloc
    # arenas, else its ~40 request threads fragment memory into per-thread arenas and RSS creeps.
    env = {"MALLOC_ARENA_MAX": "2", **os.environ, "CASETRAIL_DATABASE_URL": url, "PYTHONUNBUFFERED": "1"}
    process = processes.start(["serve", "--port", str(port)], log_path, env=env, cwd=ROOT)
    try:
        processes.wait_ready(f"http://127.0.0.1:{port}", process, log_path)
    except processes.ServerNotReady as e:
        processes.stop(process, grace=1)
        raise click.ClickException(str(e)) from None
    return process


def soak(url: str, database: str, duration: float, threads: int, sample_every: float, max_growth: float,
         workdir: Path, warmup: float | None = None) -> dict[str, Any]:
    tokens = register(url)
    port = processes.free_port()
    log_path = workdir / "server.log"
    server = start_server(url, port, log_path)
    tally = Tally()
    rss: list[tuple[float, int]] = []
    stop = threading.Event()
    started, started_at = time.monotonic(), datetime.now(UTC).isoformat()

    def sample() -> None:
        while True:
            kb = rss_kb(server.pid)
            if kb is not None:
                rss.append((round(time.monotonic() - started, 1), kb))
            if stop.wait(sample_every):
                return

    sampler = threading.Thread(target=sample, name="soak-rss", daemon=True)
    sampler.start()
    deadline = started + duration
    clients = [Client(f"http://127.0.0.1:{port}", tokens, tally, seed, deadline) for seed in range(threads)]
    workers = [threading.Thread(target=c.run, name=f"soak-{i}") for i, c in enumerate(clients)]
    try:
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        elapsed = time.monotonic() - started
        stop.set()
        sampler.join()
        alive = server.poll() is None
    finally:
        stop.set()
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    log = log_path.read_text(encoding="utf-8", errors="replace")
    unhandled = log.count('"unhandled error"')
    warmup = min(duration / 2, WARMUP_S) if warmup is None else min(warmup, duration)
    warm = next((kb for t, kb in rss if t >= warmup), rss[-1][1] if rss else None)
    end = rss[-1][1] if rss else None
    growth = round((end - warm) / warm * 100, 2) if warm and end else None
    statuses: Counter[str] = Counter()
    for counts in tally.by_op.values():
        statuses.update(counts)
    requests = sum(statuses.values())
    errors = tally.errors + (0 if alive else 1)
    passed = errors == 0 and unhandled == 0 and growth is not None and growth < max_growth
    ms = [s * 1000 for s in tally.latencies]
    return {
        "kind": "soak", "database": database, "started_at": started_at,
        "duration_s": round(elapsed, 1), "threads": threads, "cpus": os.cpu_count(),
        "malloc_arena_max": os.environ.get("MALLOC_ARENA_MAX", "2"),
        "requests": requests, "by_status": dict(sorted(statuses.items())),
        "by_operation": {op: dict(sorted(c.items())) for op, c in sorted(tally.by_op.items())},
        "errors": errors, "error_samples": tally.samples, "server_alive_at_end": alive,
        "unhandled_errors_in_log": unhandled, "conflicts_409": statuses.get("409", 0),
        "refused_by_workflow": tally.refused, "throughput_rps": round(requests / elapsed, 1),
        "latency_ms": ({f"p{p}": round(percentile(ms, p) or 0, 2) for p in (50, 95, 99)}
                       | {"max": round(max(ms or [0]), 2)}),
        "rss_kb": {"warmup_end_s": round(warmup, 1), "at_warmup_end": warm, "at_end": end,
                   "max": max((kb for _, kb in rss), default=None), "growth_pct": growth, "samples": rss},
        "max_growth_pct": max_growth, "passed": passed,
    }


def summary(report: dict[str, Any]) -> str:
    r, lat, rss = report, report["latency_ms"], report["rss_kb"]
    lines = [
        f"soak on {r['database']}: {r['duration_s']} s, {r['threads']} clients, {r['requests']} requests "
        f"({r['throughput_rps']}/s)",
        "  by status: " + ", ".join(f"{k}={v}" for k, v in r["by_status"].items()),
        f"  errors: {r['errors']} (5xx, connection errors, unexpected statuses, of which actions the workflow "
        f"refused: {r['refused_by_workflow']}); 409 conflicts (expected): {r['conflicts_409']}",
        f"  latency ms: p50 {lat['p50']}, p95 {lat['p95']}, p99 {lat['p99']}, max {lat['max']}",
        f"  server RSS: {rss['at_warmup_end']} KiB at {rss['warmup_end_s']} s, {rss['at_end']} KiB at the end "
        f"(growth {rss['growth_pct']}%, limit {r['max_growth_pct']}%), max {rss['max']} KiB",
        *[f"  error: {s}" for s in r["error_samples"][:5]],
        f"  {'PASS' if r['passed'] else 'FAIL'}",
    ]
    return "\n".join(lines)


def run(database: str, database_url: str | None, duration: float, threads: int, sample_every: float,
        warmup: float | None, max_growth: float, out_dir: Path | None) -> int:
    """The whole soak: a database, a server, the load; writes the report and prints its summary."""
    from scripts.throwaway_pg import ThrowawayPostgres

    if database_url:
        database = "postgres" if database_url.startswith("postgres") else "sqlite"
    with tempfile.TemporaryDirectory(prefix="casetrail-soak-") as tmp, ExitStack() as stack:
        workdir = Path(tmp)
        if database_url:
            url = database_url
        elif database == "sqlite":
            url = f"sqlite:///{workdir}/soak.db"
        else:
            url = stack.enter_context(ThrowawayPostgres()).create_database("soak")
        report = soak(url, database, duration, threads, sample_every, max_growth, workdir, warmup)
    out_dir = out_dir or DEFAULT_OUT
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = out_dir / f"soak-{database}-{stamp}.json"
    path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    click.echo(summary(report))
    click.echo(f"  report: {path}")
    return 0 if report["passed"] else 1

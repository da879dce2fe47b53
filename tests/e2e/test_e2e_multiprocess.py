"""Production layout on PostgreSQL (only): two API processes, one projection worker, one database.

- Processes started at the same instant on an EMPTY database all come up
  (concurrent ``CREATE ... IF NOT EXISTS`` used to fail with "tuple
  concurrently updated" or a unique violation on ``pg_type``; fixed by
  ``domain/schema.py``'s advisory lock).
- ``cluster``: two ``serve --no-workers`` and a ``projections run`` (SLA pass
  every second, signed audit checkpoints every 2 s) started at once. Threads
  drive every case type through BOTH servers, alternating, with cross-case
  policies (return visits, their outcomes, converted inquiries); then both
  servers list every case with the event store's status and version, and
  every read-model table equals (by checksum) a clean rebuild.
- The worker is SIGKILLed during more load; new ones resume: nothing missing,
  nothing applied twice, ``projections status`` caught up.
"""

from __future__ import annotations

import itertools
import json
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from domain.application import CaseTrail
from domain.audit.ledger import read_ledger
from projections.catalog import PROJECTIONS
from projections.maintenance import drop_versions
from projections.views import ACTIVE, Store
from scripts import processes
from tests.e2e.conftest import ROOT, cli_env, free_port, run_cli, wait_ready
from tests.integration.test_projections import active_checksums, head, replay_checksums

pytestmark = pytest.mark.postgres
STAFF = {"agent1": ("cs", ["agent"]), "agent2": ("cs", ["agent"]), "supervisor": ("cs", ["supervisor"]),
         "technician": ("service", ["technician"]), "sales": ("sales", ["agent"]),
         "sales_manager": ("sales", ["sales_manager"]), "general_manager": ("office", ["general_manager"]),
         "importer": ("it", ["importer"]), "reviewer": ("compliance", ["reviewer"])}
ENV = {"CASETRAIL_CHECKPOINT_INTERVAL": "2",
       "CASETRAIL_PROJECTION_BATCH": "20"}

# What `casetrail serve` and `casetrail projections run` create when they start (and on first use).
STARTUP = """
import sys, time
from pathlib import Path
from domain.audit.access import AccessLedger
from domain.application import CaseTrail
from projections.base import Context
from projections.catalog import PROJECTIONS, open_model
from projections.views import Store
url, ready, go = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
ready.touch()
while not go.exists():
    time.sleep(0.002)
app = CaseTrail.from_url(url)
AccessLedger.for_app(app)
store = Store.for_app(app)
for name in PROJECTIONS:
    open_model(store, name, store.claim_initial(name), Context.of(app))
"""


def test_processes_starting_at_once_on_an_empty_database_all_come_up(pg_server: Any, tmp_path: Path) -> None:
    for attempt in range(2):
        url = pg_server.create_database()
        go = tmp_path / f"go{attempt}"
        ready = [tmp_path / f"ready{attempt}-{i}" for i in range(8)]
        procs = [subprocess.Popen([sys.executable, "-c", STARTUP, url, str(r), str(go)], cwd=ROOT,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for r in ready]
        while not all(r.exists() for r in ready) and all(p.poll() is None for p in procs):
            time.sleep(0.01)
        go.touch()  # all imported: they create the schema at the same instant
        outputs = [p.communicate(timeout=120)[0] for p in procs]
        failed = [out[-800:] for p, out in zip(procs, outputs) if p.returncode != 0]
        assert failed == [], failed
        store = Store.for_url(url)  # the whole schema is there
        tables = {r["t"] for r in store.read("SELECT tablename AS t FROM pg_tables WHERE schemaname = 'public'")}
        assert {"casetrail_events", "casetrail_snapshots", "accessledger_events", ACTIVE} <= tables
        assert {t.name(1) for cls in PROJECTIONS.values() for t in cls.tables} <= tables
        assert store.pointers() == {name: (1, None) for name in PROJECTIONS}
        assert {store.view(n, 1, cls.tables, setup=False).position() for n, cls in PROJECTIONS.items()} == {0}
        store.close()


# --------------------------------------------------------------- the cluster
def spawn(args: list[str], url: str, log: Path) -> subprocess.Popen[bytes]:
    return processes.start(args, log, env={**cli_env(url), **ENV}, cwd=ROOT, append=True)


class Cluster:
    """Two ``serve --no-workers`` and a ``projections run``, all started at once on an empty database."""

    def __init__(self, url: str, tmp: Path) -> None:
        self.url, self.tmp, self.worker_log = url, tmp, tmp / "worker.log"
        ports = [free_port(), free_port()]
        self.servers = [f"http://127.0.0.1:{p}" for p in ports]
        self.processes = [spawn(["serve", "--no-workers", "--port", str(p)], url, tmp / f"server{p}.log")
                          for p in ports]
        self.start_worker()
        self.app: CaseTrail | Any = None
        self.tokens: dict[str, str] = {}

    def start_worker(self) -> None:
        self.worker = spawn(["projections", "run", "--sla-interval", "1"], self.url, self.worker_log)
        self.processes.append(self.worker)

    def client(self, server: int, staff_id: str) -> httpx.Client:
        return httpx.Client(base_url=self.servers[server], timeout=30,
                            headers={"Authorization": f"Bearer {self.tokens[staff_id]}"})

    def read_models_at(self, position: int, deadline: float = 60) -> float:
        """Seconds until both servers' case list has processed ``position``."""
        started = time.monotonic()
        for server in (0, 1):
            with self.client(server, "reviewer") as c:
                while True:
                    r = c.get("/v1/cases", params={"min_position": position, "limit": 1})
                    assert r.status_code == 200, r.text
                    if int(r.headers["x-casetrail-position"]) >= position:
                        break
                    assert time.monotonic() - started < deadline, self.worker_log.read_text()[-3000:]
        return time.monotonic() - started


@pytest.fixture
def cluster(pg_url: str, tmp_path: Path) -> Iterator[Cluster]:
    c = Cluster(pg_url, tmp_path)
    try:
        for url, proc in zip(c.servers, c.processes):
            wait_ready(url, proc, tmp_path / f"server{url.rsplit(':', 1)[1]}.log", timeout=60)
        c.app = CaseTrail.from_url(pg_url)
        for staff_id, (department, roles) in STAFF.items():
            c.app.register_staff(staff_id, staff_id.title(), department, roles)
        c.tokens = {staff_id: c.app.issue_token(staff_id) for staff_id in STAFF}
        yield c
    finally:
        for p in c.processes:
            p.terminate()
        for p in c.processes:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
        if c.app is not None:
            c.app.close()


# ------------------------------------------------------------------ the load
class Driver:
    """HTTP calls through both servers, alternating; counts answers per server."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.counts: Counter[tuple[int, int]] = Counter()
        self.max_position = 0
        self.lock = threading.Lock()
        self.local = threading.local()
        self.numbers = itertools.count(1)

    def call(self, staff_id: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        clients = self.local.__dict__.setdefault("clients", {})
        for attempt in range(5):  # a 503 (database busy) is retried, as a client would; nothing else
            server = self.local.n = (getattr(self.local, "n", 0) + 1) % 2
            if (server, staff_id) not in clients:
                clients[(server, staff_id)] = self.cluster.client(server, staff_id)
            r = clients[(server, staff_id)].post(path, json=body)
            with self.lock:
                self.counts[(server, r.status_code)] += 1
                if r.status_code in (200, 201):
                    self.max_position = max(self.max_position, int(r.headers["x-casetrail-position"]))
            if r.status_code != 503:
                break
            time.sleep(0.1 * (attempt + 1))
        assert r.status_code in (200, 201), f"{staff_id} {path}: {r.status_code} {r.text}"
        return r.json()

    def open(self, staff_id: str, **body: Any) -> dict[str, Any]:
        return self.call(staff_id, "/v1/cases", body)

    def act(self, staff_id: str, case: dict[str, Any] | str, action: str, **data: Any) -> dict[str, Any]:
        case_id = case if isinstance(case, str) else case["id"]
        return self.call(staff_id, f"/v1/cases/{case_id}/actions/{action}", data)

    def close(self) -> None:
        for c in self.local.__dict__.pop("clients", {}).values():
            c.close()


def linked(case: dict[str, Any], rel: str) -> str:
    return next(x["case_id"] for x in case["links"] if x["rel"] == rel)


def customer(i: int) -> dict[str, Any]:
    return {"id": f"C-{i}", "name": f"客户{i}", "phone": "13800138000", "tier": ["regular", "member", "vip"][i % 3]}


def complaint(d: Driver, i: int) -> None:
    case = d.open("agent1", type="complaint", title=f"投诉 {i}", customer=customer(i))
    d.act("agent1", case, "classify", category="valid", severity="general")
    if i // 4 % 6 == 5:
        d.act("supervisor", case, "reject", reason="客诉不成立")
        return
    for by, action, data in [("supervisor", "assign", {"assignee": "agent1"}), ("agent1", "start_investigation", {}),
                             ("agent1", "log_contact", {"channel": "phone", "summary": "已致电"}),
                             ("agent1", "propose_resolution", {"resolution": "退款"}),
                             ("supervisor", "approve_resolution", {})]:
        d.act(by, case, action, **data)
    replied = d.act("agent1", case, "reply_customer", reply="已退款")  # opens the return visit
    outcome = "unsatisfied" if i // 4 % 4 == 3 else "satisfied"  # unsatisfied reopens the complaint
    d.act("agent2", linked(replied, "return_visit"), "record_outcome", result=outcome, score=4)
    if outcome == "satisfied":
        d.act("supervisor", case, "close")


def inquiry(d: Driver, i: int) -> None:
    case = d.open("agent2", type="inquiry", title=f"咨询 {i}", customer=customer(i))
    if i // 4 % 3 == 2:
        converted = d.act("agent2", case, "convert", reason="其实是投诉")  # opens a linked complaint
        d.act("agent1", linked(converted, "complaint"), "classify", category="valid", severity="general")
        return
    d.act("agent2", case, "answer", answer="如此这般")
    d.act("agent2", case, "close")


def repair(d: Driver, i: int) -> None:
    case = d.open("agent1", type="repair_order", title=f"维修 {i}", customer=customer(i),
                  fields={"device": "空调", "fault": "不制冷"})
    start = datetime.now(UTC) + timedelta(hours=2)
    window = {"window_start": start.isoformat(), "window_end": (start + timedelta(hours=1)).isoformat()}
    for action, data in [("accept", {}), ("schedule", window), ("arrive", {})]:
        d.act("technician", case, action, **data)
    done = d.act("technician", case, "complete", notes="换了压缩机")  # opens the return visit
    d.act("agent2", linked(done, "return_visit"), "record_outcome", result="satisfied", score=5)
    d.act("agent1", case, "close")


def order(d: Driver, i: int) -> None:
    amount = "80000.00" if i // 4 % 2 else "30000.00"  # two approvals, or one
    case = d.open("sales", type="order_approval", title=f"订单 {i}", customer={"id": f"K-{i}", "name": "李记"},
                  fields={"amount": amount, "payment_terms": "credit"})
    d.act("sales", case, "submit")
    for approver in ["sales_manager", "general_manager"][:1 + i // 4 % 2]:
        d.act(approver, case, "approve", comment="同意")
    for action in ("ship", "deliver"):
        d.act("sales", case, action)


SCRIPTS: list[Callable[[Driver, int], None]] = [complaint, inquiry, repair, order]


def drive(d: Driver, threads: int, cases: int = 0, until: threading.Event | None = None) -> list[BaseException]:
    """Run the scripts in ``threads`` threads: ``cases`` cases in all, or until ``until`` is set; the errors."""
    budget, errors = itertools.count(), []

    def run() -> None:
        try:
            while not (until.is_set() if until else next(budget) >= cases):
                i = next(d.numbers)  # one number per case, across threads: the script and its variant
                SCRIPTS[i % len(SCRIPTS)](d, i)
        except BaseException as e:  # noqa: BLE001 - reported by the test
            errors.append(e)
        finally:
            d.close()

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return errors


# ---------------------------------------------------------------- checks
def check_lists(c: Cluster) -> int:
    """Both servers list every case with the event store's status and version; the count."""
    ids, position = [], 0
    while notes := c.app.recorder.select_notifications(start=position, limit=1000, inclusive_of_start=False):
        ids += [n.originator_id for n in notes if n.topic.endswith(":Case.Opened")]
        position = notes[-1].id
    truth = {str(cid): (case.status, case.version) for cid in ids for case in [c.app.get_case(cid)]}
    for server in (0, 1):
        with c.client(server, "reviewer") as client:
            listed: dict[str, tuple[str, int]] = {}
            params: dict[str, Any] = {"limit": 500}
            while True:
                page = client.get("/v1/cases", params=params).json()
                listed.update({x["id"]: (x["status"], x["version"]) for x in page["items"]})
                if not page["next_cursor"]:
                    break
                params["cursor"] = page["next_cursor"]
        assert listed == truth
    return len(truth)


def clean_replay(c: Cluster, store: Store) -> dict[str, dict[str, str]]:
    """Checksums of a rebuild from event 1 into fresh tables (dropping an earlier replay's)."""
    store.execute([(f"UPDATE {ACTIVE} SET building = NULL", ())])
    for name, (active, _) in store.pointers().items():
        drop_versions(store, name, keep={active})
    return replay_checksums(c.app, store)


def assert_status_caught_up(c: Cluster, deadline: float = 30) -> None:
    """``casetrail projections status`` shows every read model at the head (v1, no lag)."""
    ends = time.monotonic() + deadline
    while True:
        out = run_cli(c.url, "projections", "status", "--json")
        assert out.returncode == 0, out.stderr
        rows = json.loads(out.stdout)
        if all(r["lag_events"] == 0 and r["position"] == r["head"] and r["version"] == 1 for r in rows):
            return
        assert time.monotonic() < ends, rows
        time.sleep(0.2)


def assert_clean_logs(c: Cluster) -> None:
    """No error, warning or traceback in the workers' and servers' logs."""
    for log in [c.worker_log, *sorted(c.tmp.glob("server*.log"))]:
        bad = [line for line in log.read_text().splitlines()
               if "Traceback" in line or '"level": "error"' in line or '"level": "warning"' in line]
        assert bad == [], (log.name, bad[:5])


def report(name: str, d: Driver, **figures: Any) -> None:
    per_server = {s: {code: n for (srv, code), n in sorted(d.counts.items()) if srv == s} for s in (0, 1)}
    print(f"\n[{name}] requests per server (status: count): {per_server}; "
          + ", ".join(f"{k}={v}" for k, v in figures.items()))


# ------------------------------------------------------------------ tests
def test_two_api_processes_and_a_worker_keep_read_models_complete(cluster: Cluster) -> None:
    c, d = cluster, Driver(cluster)
    # A backdated inquiry: its first-response clock is long past due, for the worker's SLA pass.
    ten_days_ago = (datetime.now(UTC) - timedelta(days=10)).isoformat()
    late = d.open("importer", type="inquiry", title="旧系统导入", customer=customer(0), occurred_at=ten_days_ago)
    started = time.monotonic()
    assert drive(d, threads=4, cases=64) == []
    load_seconds = time.monotonic() - started
    served = [d.counts[(s, 200)] + d.counts[(s, 201)] for s in (0, 1)]
    assert min(served) > sum(served) / 3 and sum(served) > 300, d.counts

    # The SLA pass (in the worker, not in the API processes) records the breach once.
    with c.client(1, "reviewer") as client:
        ends = time.monotonic() + 30
        while "DeadlineBreached" not in (kinds := [e["type"] for e in client.get(
                f"/v1/cases/{late['id']}/history").json()["items"]]) and time.monotonic() < ends:
            time.sleep(0.2)
    assert kinds.count("DeadlineBreached") == 1 and kinds.count("Escalated") == 1, kinds

    catch_up = c.read_models_at(head(c.app))
    cases = check_lists(c)
    assert cases > 64 + 25  # the opened cases plus return visits and converted complaints
    store = Store.for_app(c.app)
    assert active_checksums(store) == clean_replay(c, store)
    store.close()
    assert_status_caught_up(c)

    # Signed audit checkpoints by the worker; both API processes verify the chains against them.
    ends = time.monotonic() + 20
    while (ledger := read_ledger(c.app)) is None or ledger.last is None or ledger.last["position"] < d.max_position:
        assert time.monotonic() < ends, c.worker_log.read_text()[-3000:]
        time.sleep(0.2)
    for server in (0, 1):
        with c.client(server, "reviewer") as client:
            verified = client.get("/v1/audit/verify").json()
        assert verified["ok"] is True and verified["cases_checked"] == cases, verified
    assert_clean_logs(c)
    d.close()
    report("two servers", d, events=head(c.app), cases=cases, load_s=round(load_seconds, 1),
           catch_up_s=round(catch_up, 2), checkpoint_seq=ledger.last["seq"])


def test_killed_worker_resumes_without_losing_or_repeating_events(cluster: Cluster) -> None:
    c, d = cluster, Driver(cluster)
    assert drive(d, threads=2, cases=8) == []
    c.read_models_at(head(c.app))
    store = Store.for_app(c.app)

    def position() -> int:
        return min(store.view(n, 1, cls.tables, setup=False).position() for n, cls in PROJECTIONS.items())

    # Load until told to stop; SIGKILL the worker twice while it is busy with it, starting a new one each time.
    failures: list[BaseException] = []
    stop = threading.Event()
    load = threading.Thread(target=lambda: failures.extend(drive(d, 4, until=stop)))
    load.start()
    kills: list[tuple[int, int]] = []  # (read models' position, log head) when killed
    try:
        for _ in range(2):
            before, ends = position(), time.monotonic() + 60
            while position() < before + 60 and time.monotonic() < ends and not failures:
                time.sleep(0.01)
            assert c.worker is not None and c.worker.poll() is None and not failures, failures
            c.worker.send_signal(signal.SIGKILL)
            assert c.worker.wait() == -signal.SIGKILL
            kills.append((position(), head(c.app)))
            assert kills[-1][0] > before, (kills, before)
            time.sleep(0.3)  # writes go on with no worker
            c.start_worker()
        ends = time.monotonic() + 60  # the new worker resumes while the load goes on
        while position() <= kills[-1][0] and time.monotonic() < ends:
            time.sleep(0.01)
    finally:
        stop.set()
        load.join()
    assert failures == []
    total_head = head(c.app)
    catch_up = c.read_models_at(total_head)
    cases = check_lists(c)
    assert active_checksums(store) == clean_replay(c, store)
    assert_status_caught_up(c)
    store.close()
    assert_clean_logs(c)
    report("kill -9", d, events=total_head, cases=cases, kills=kills, catch_up_s=round(catch_up, 2))

"""PostgreSQL goes away under a running ``casetrail projections run`` and comes back: the worker recovers by itself.

PostgreSQL only (the outage is a server stopped and started again). A dedicated
throwaway PostgreSQL with production durability (never the shared one) runs
one worker process (``projections run --sla-interval 1``, signed audit
checkpoints every second, so the SLA and checkpoint threads run through the
outage too). Cases are written in-process until ``projections status`` shows no
lag; the server is stopped (``pg_ctl stop -m fast``, and ``-m immediate``: a
crash) for about four seconds and started again on the same data; more cases
are written. Then the SAME worker process, never restarted:

- catches up by itself (``projections status --json``: every read model at
  the head, no lag) within a bounded time,
- holds read models equal (by checksum) to a clean rebuild from event 1,
- signs a new audit checkpoint covering the writes made after the outage
  (signature checked with the key),
- follows the log by LISTEN/NOTIFY again (a session of the worker is
  listening on the new server, and a write made later reaches the read models),
- logged the outage quietly: no traceback at all, at most two warning lines
  per thread (each naming the database as unavailable), no error line, and
  for each thread that warned an info line when it had the database back.

Figures (outage length, catch-up time, log line counts) are printed (-s).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import psycopg
import pytest

from domain.application import CaseTrail
from domain.audit.ledger import read_ledger
from domain.audit.verification import verify
from projections.maintenance import status
from projections.views import Store
from tests.e2e.conftest import CASETRAIL, CUSTOMER, ROOT, cli_env, run_cli
from tests.integration.test_projections import active_checksums, head, replay_checksums
from tests.pg import ThrowawayPostgres

pytestmark = pytest.mark.postgres
ENV = {"CASETRAIL_CHECKPOINT_INTERVAL": "1"}  # signed with the key file made on first start
DOWN_SECONDS = 4.0
CATCH_UP_DEADLINE = 30.0  # the bound on "by itself": generous for a loaded 2-core machine
# The worker's threads, by the words their log lines start with.
THREADS = ("projection worker", "SLA pass", "audit checkpoint", "webhook dispatcher")


def checkpointed(app: CaseTrail, position: int) -> bool:
    """A signed checkpoint covers ``position``."""
    ledger = read_ledger(app)
    return ledger is not None and ledger.last is not None and ledger.last["position"] >= position


def wait_until(what: str, check: Callable[[], Any], seconds: float, log: Path | None = None) -> float:
    """Poll ``check()`` until it is true; when it first was (monotonic)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return time.monotonic()
        time.sleep(0.1)
    raise AssertionError(f"not within {seconds}s: {what}\n" + (log.read_text()[-4000:] if log else ""))


def write_cases(app: CaseTrail, tag: str, n: int) -> int:
    """``n`` complaints opened and each given a contact; the log head afterwards."""
    agent = app.get_staff("agent").as_actor()
    for i in range(n):
        case = app.open_case(agent, "complaint", f"{tag} {i}", CUSTOMER)
        app.act(agent, case.id, "log_contact", {"channel": "phone", "summary": f"{tag} contact {i}"})
    return head(app)


def caught_up(app: CaseTrail, store: Store, position: int) -> bool:
    """Every read model's active version at ``position`` or beyond, none lagging (as ``projections status``)."""
    rows = status(app, store)
    return all(r["position"] is not None and r["position"] >= position and r["lag_events"] == 0 for r in rows)


def status_cli(url: str) -> list[dict[str, Any]]:
    out = run_cli(url, "projections", "status", "--json")
    assert out.returncode == 0, out.stdout + out.stderr
    rows: list[dict[str, Any]] = json.loads(out.stdout)
    return rows


def listeners(url: str) -> int:
    """Sessions on the database whose last statement was a LISTEN (the worker's subscription)."""
    with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
        row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                           "AND query ILIKE 'LISTEN %%'").fetchone()
    return int(row[0]) if row else 0


def parse(text: str) -> list[dict[str, Any]]:
    """The log's lines: JSON objects as they are, anything else as {"level": "raw", "event": line}."""
    out = []
    for line in text.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            entry = None
        out.append(entry if isinstance(entry, dict) else {"level": "raw", "event": line})
    return out


def thread_of(entry: dict[str, Any]) -> str:
    """Which background thread wrote a log entry (its structured ``worker`` field)."""
    return entry.get("worker") if entry.get("worker") in THREADS else "other"


@pytest.mark.parametrize("mode", ["fast", "immediate"])  # a clean shutdown, and a crash (recovery from WAL)
def test_worker_rides_out_a_postgres_outage(outage_pg: ThrowawayPostgres, tmp_path: Path, mode: str) -> None:
    url = outage_pg.create_database("worker_outage")
    app = CaseTrail.from_url(url)
    app.register_staff("agent", "Agent", "cs", ["agent"])
    log_path = tmp_path / "worker.log"
    with log_path.open("wb") as out:
        worker = subprocess.Popen([CASETRAIL, "projections", "run", "--sla-interval", "1"],
                                  env={**cli_env(url), **ENV}, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    try:
        before = write_cases(app, "before", 5)
        with closing(Store.for_app(app)) as store:
            wait_until("the worker at the head before the outage", lambda: caught_up(app, store, before),
                       CATCH_UP_DEADLINE, log_path)
        wait_until("a signed checkpoint before the outage", lambda: checkpointed(app, before),
                   CATCH_UP_DEADLINE, log_path)
        rows = status_cli(url)
        assert all(r["lag_events"] == 0 and r["position"] == r["head"] for r in rows), rows
        seq_before = read_ledger(app).last["seq"]  # type: ignore[union-attr]
        assert listeners(url) >= 1
        app.close()  # its connections die with the server; a fresh application afterwards

        offset = log_path.stat().st_size
        stopping = time.monotonic()
        outage_pg.pause(mode)
        down = time.monotonic()
        time.sleep(max(0.0, down + DOWN_SECONDS - time.monotonic()))
        outage_pg.resume()
        up = time.monotonic()

        app = CaseTrail.from_url(url)
        after = write_cases(app, "after", 5)
        written = time.monotonic()
        with closing(Store.for_app(app)) as store:
            recovered = wait_until("the same worker at the head after the outage",
                                   lambda: caught_up(app, store, after), CATCH_UP_DEADLINE, log_path)
        assert worker.poll() is None, "the worker process ended"
        rows = status_cli(url)
        assert all(r["lag_events"] == 0 and r["position"] == r["head"] and r["version"] == 1 for r in rows), rows

        # It follows the log by LISTEN/NOTIFY again: a session listens on the new server, a later write arrives.
        wait_until("a LISTEN session of the worker on the restarted server", lambda: listeners(url) >= 1, 15,
                   log_path)
        later = write_cases(app, "later", 1)
        with closing(Store.for_app(app)) as store:
            wait_until("a write after recovery reaches the read models", lambda: caught_up(app, store, later),
                       CATCH_UP_DEADLINE, log_path)

        # A new signed checkpoint covers the writes made after the outage.
        wait_until("a signed checkpoint covering the writes after the outage", lambda: checkpointed(app, later),
                   CATCH_UP_DEADLINE, log_path)
        ledger = read_ledger(app)
        assert ledger is not None and ledger.last is not None and ledger.last["seq"] > seq_before
        from domain.audit.signing import public_key_for

        report = verify(app, public_key=public_key_for(), witness=os.environ["CASETRAIL_WITNESS"])
        assert report.ok and report.checkpoint is not None, report.as_dict()
        assert report.checkpoint["signature_ok"] is True and report.checkpoint["seq"] == ledger.last["seq"]
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=15)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
    assert worker.returncode == 0, log_path.read_text()[-3000:]

    # The worker's read models equal a clean rebuild (the worker has stopped: nothing moves meanwhile).
    with closing(Store.for_app(app)) as store:
        assert active_checksums(store) == replay_checksums(app, store)
    app.close()

    text = log_path.read_text()
    during = parse(text.encode()[offset:].decode(errors="replace"))
    levels = Counter(e.get("level") for e in during)
    warnings = [e for e in during if e.get("level") == "warning"]
    per_thread = Counter(thread_of(e) for e in warnings)
    print(f"\nworker outage (stop -m {mode}): stop took {down - stopping:.2f}s, down {up - down:.1f}s "
          f"(until started again); caught up "
          f"{recovered - up:.2f}s after the start ({recovered - written:.2f}s after the new writes); "
          f"log since the stop: {len(during)} lines {dict(levels)}, warnings per thread {dict(per_thread)}, "
          f"tracebacks in the whole log: {text.count('Traceback')}; checkpoint seq {seq_before} -> "
          f"{ledger.last['seq']}")
    assert text.count("Traceback") == 0, text[-4000:]
    assert not [e for e in during if e.get("level") in ("error", "critical", "exception", "raw")], during
    assert warnings, "the outage went unreported"
    assert all("database unavailable" in str(e.get("event")) for e in warnings), warnings
    assert set(per_thread) <= set(THREADS) and max(per_thread.values()) <= 2, per_thread
    back = {thread_of(e) for e in during if e.get("level") == "info" and "available again" in str(e.get("event"))}
    assert back == set(per_thread), during  # each thread that warned said when the database was back


"""Crash safety and rebuild while serving, on SQLite and PostgreSQL.

- ``casetrail projections run`` is killed with SIGKILL at random points of
  its work, more than 20 times, while events keep arriving; after a restart
  every read-model table equals (by checksum) a clean replay.
- A rebuild under live writes, with the background workers running and
  readers reading all along: readers never see an empty read model or an
  error, and after the switch nothing is lost.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

from domain.application import CaseTrail
from projections.catalog import PROJECTIONS
from projections.generator import Generator
from projections.maintenance import rebuild
from projections.queries import ReadModels
from projections.views import Store
from projections.workers import start_background
from tests.integration.test_projections import active_checksums, head, replay_checksums

ROOT = Path(__file__).resolve().parents[2]


def _worker(url: str, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "CASETRAIL_DATABASE_URL": url, "CASETRAIL_PROJECTION_BATCH": "10"}
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "scripts.cli", "projections", "run", "--sla-interval", "0"],
                                cwd=ROOT, env=env, stdout=out, stderr=out)


def _lowest(models: ReadModels) -> int:
    return min(models.positions().values())


def test_kill_9_projection_worker_at_random_points(database_url: str, tmp_path: Path) -> None:
    app = CaseTrail.from_url(database_url)
    generator = Generator(app, seed=11)
    generator.run(800)
    models = ReadModels(database_url)
    rnd = random.Random(2026)
    log = tmp_path / "worker.log"
    mid_work_kills = rounds = 0
    while mid_work_kills < 22 and rounds < 40:
        rounds += 1
        generator.run(rnd.randint(150, 250))
        before = _lowest(models)
        worker = _worker(database_url, log)
        deadline = time.monotonic() + 20
        while _lowest(models) <= before and time.monotonic() < deadline and worker.poll() is None:
            time.sleep(0.005)
        time.sleep(rnd.uniform(0.0, 0.04))  # somewhere in the middle of its batches
        worker.kill()
        worker.wait()
        if worker.returncode == -signal.SIGKILL and before < _lowest(models) < head(app):
            mid_work_kills += 1
    assert mid_work_kills >= 22, log.read_text()[-3000:]
    worker = _worker(database_url, log)
    assert models.wait_for(head(app), 30), log.read_text()[-3000:]
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(20) == 0, log.read_text()[-3000:]
    store = Store.for_app(app)
    assert active_checksums(store) == replay_checksums(app, store)
    store.close()
    models.close()


def _event_counts(app: CaseTrail) -> Counter[str]:
    counts: Counter[str] = Counter()
    position = 0
    while notes := app.recorder.select_notifications(start=position, limit=1000, inclusive_of_start=False):
        counts.update(n.topic.rsplit(".", 1)[-1] if ":Case." in n.topic or ":Staff." in n.topic else "other"
                      for n in notes)
        position = notes[-1].id
    return counts


def test_rebuild_under_live_writes_loses_nothing(database_url: str) -> None:
    app = CaseTrail.from_url(database_url)
    generator = Generator(app, seed=5)
    generator.run(2500)
    stop_workers = start_background(database_url, sla_interval=0)
    models = ReadModels(database_url)
    assert models.wait_for(head(app), 30)
    done = threading.Event()
    failures: list[str] = []
    reads = Counter[str]()

    def write() -> None:
        while not done.is_set():
            generator.run(40)

    def read() -> None:
        readers = ReadModels(database_url)
        while not done.is_set():
            try:
                cases, _ = readers.list_cases(now=generator.now, limit=5)
                audit, _ = readers.audit_events(limit=5)
                report = readers.department_report("cs", "2026-11")
                if not cases or not audit or not report["complaints_received"]:
                    failures.append(f"empty read: {len(cases)} cases, {len(audit)} audit rows, {report}")
                reads["ok"] += 1
            except Exception as e:  # noqa: BLE001 - any error is a failure of the test
                failures.append(repr(e))
        readers.close()

    threads = [threading.Thread(target=write), threading.Thread(target=read)]
    for t in threads:
        t.start()
    rebuilder = CaseTrail.from_url(database_url)
    store = Store.for_app(rebuilder)
    result = rebuild(rebuilder, store, batch_size=25)
    time.sleep(0.5)  # writes go on after the switch
    done.set()
    for t in threads:
        t.join()
    assert sorted(result.switched) == sorted(PROJECTIONS)
    assert models.wait_for(head(app), 30)
    stop_workers()
    assert failures == [] and reads["ok"] > 10
    assert store.pointers() == {**{name: (2, None) for name in PROJECTIONS}, "webhooks": (1, None)}  # never rebuilt
    counts = _event_counts(app)
    tables = {r["n"] for r in store.read("SELECT COUNT(*) AS n FROM rm_case_state_v2")}
    assert tables == {counts["Opened"]}
    audited = store.read("SELECT COUNT(*) AS n FROM rm_audit_events_v2")[0]["n"]
    assert audited == sum(n for topic, n in counts.items() if topic != "other")
    assert active_checksums(store) == replay_checksums(rebuilder, store)
    store.close()
    models.close()

"""The webhook outbox survives kill -9 (SQLite and PostgreSQL): ``casetrail projections run webhooks``
is killed at random points of its work while events keep arriving; after a restart the outbox holds
exactly one delivery per (subscription, matching event after it subscribed), none lost, none doubled."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from domain.application import CaseTrail
from domain.model.actor import Actor
from domain.model.webhooks import EVENT_TYPES
from domain.webhooks import subscribe
from projections.events import decode
from projections.generator import Generator
from projections.views import Store
from projections.webhook_outbox import NAME, WebhookOutbox, delivery_id, outbox_tables
from tests.integration.test_projections import head
from tests.webhook_receiver import free_port

ROOT = Path(__file__).resolve().parents[2]
ADMIN = Actor("root", ("admin",))


def _worker(url: str, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "CASETRAIL_DATABASE_URL": url, "CASETRAIL_PROJECTION_BATCH": "10",
           "CASETRAIL_CHECKPOINT_INTERVAL": "0", "CASETRAIL_WEBHOOK_ROUND_PAUSE": "3600"}
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "scripts.cli", "projections", "run", NAME,
                                 "--sla-interval", "0"], cwd=ROOT, env=env, stdout=out, stderr=out)


def expected(app: CaseTrail, subscriptions: dict[str, int]) -> set[str]:
    """Delivery ids the log calls for: every case event after each subscription's own event."""
    out: set[str] = set()
    position = 0
    while notes := app.recorder.select_notifications(start=position, limit=500, inclusive_of_start=False):
        for n in notes:
            e = decode(app.mapper, n)
            if e is not None and e.type.startswith("Case."):
                out |= {delivery_id(sid, e.position) for sid, since in subscriptions.items() if e.position > since}
        position = notes[-1].id
    return out


def test_kill_9_outbox_worker_at_random_points(database_url: str, tmp_path: Path) -> None:
    app = CaseTrail.from_url(database_url)
    generator = Generator(app, seed=19)
    generator.run(100)
    url = f"http://127.0.0.1:{free_port()}/nobody-listens"  # deliveries fail: the outbox is what is tested
    subscriptions = {}
    for _ in range(2):
        view = subscribe(app, ADMIN, {"url": url, "events": list(EVENT_TYPES), "secret": "0123456789abcdef"})
        subscriptions[view["id"]] = view["position"]
        generator.run(50)
    store = Store.for_app(app)
    outbox = store.view(NAME, store.claim_initial(NAME), WebhookOutbox.tables)
    rnd = random.Random(7)
    log = tmp_path / "worker.log"
    kills = rounds = 0
    while kills < 10 and rounds < 30:
        rounds += 1
        generator.run(rnd.randint(100, 200))
        before = outbox.position()
        worker = _worker(database_url, log)
        deadline = time.monotonic() + 20
        while outbox.position() <= before and time.monotonic() < deadline and worker.poll() is None:
            time.sleep(0.005)
        time.sleep(rnd.uniform(0.0, 0.04))
        worker.kill()
        worker.wait()
        if worker.returncode == -signal.SIGKILL and before < outbox.position() < head(app):
            kills += 1
    assert kills >= 10, log.read_text()[-3000:]
    worker = _worker(database_url, log)
    deadline = time.monotonic() + 60
    while outbox.position() < head(app) and time.monotonic() < deadline:
        time.sleep(0.05)
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(30) == 0, log.read_text()[-3000:]
    rows = store.read(f"SELECT delivery_id FROM {outbox_tables(store)['webhook_deliveries']}")
    ids = [r["delivery_id"] for r in rows]
    assert len(ids) == len(set(ids))
    assert set(ids) == expected(app, subscriptions) and len(ids) > 500
    store.close()
    app.close()

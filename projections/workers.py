"""Background workers inside a server process: every projection plus the SLA monitor.

``start_background(url)`` (called by ``casetrail serve`` unless
``--no-workers``) starts, in daemon threads, one ``Worker`` keeping all read
models current, a periodic SLA pass and periodic signed audit checkpoints
(``CASETRAIL_CHECKPOINT_INTERVAL``, on by default; the signing key is made on
first start) and, with the webhook outbox, its dispatcher
(``projections.webhook_dispatch``), on a ``CaseTrail`` and read-model connection
pool of their own; it returns a function that stops them and closes their connections.
``casetrail projections run`` uses ``run_until_stopped``.
Each thread rides out a database outage by itself (``projections.runner.OutageLog``:
one warning when the database goes, one info line when it is back, no traceback).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable

import structlog

from domain.application import CaseTrail
from domain.audit.ledger import CheckpointRefused, maybe_checkpoint
from domain.audit.signing import Signer, signer_for
from domain.audit.witness import Witness, witness_path
from projections.runner import BATCH_SIZE, POLL_SECONDS, OutageLog, Worker
from projections.sla import run_periodically
from projections.views import Store
from projections.webhook_dispatch import Dispatcher
from projections.webhook_outbox import WebhookOutbox

log = structlog.get_logger("casetrail.projections")


def _sla_seconds() -> float:
    """``CASETRAIL_SLA_INTERVAL``, read when the workers start (default 60 s)."""
    return float(os.environ.get("CASETRAIL_SLA_INTERVAL", "60"))


def _batch_size() -> int:
    return int(os.environ.get("CASETRAIL_PROJECTION_BATCH", str(BATCH_SIZE)))


def start_background(url: str, *, names: Iterable[str] | None = None, sla_interval: float | None = None,
                     poll_seconds: float = POLL_SECONDS) -> Callable[[], None]:
    """Start the projection workers and the periodic SLA pass; return ``stop()``."""
    stop_event = threading.Event()
    app = CaseTrail.from_url(url)  # one application and one read-model pool for both threads
    store = Store.for_app(app)
    worker = Worker(app, store, names, batch_size=_batch_size(), poll_seconds=poll_seconds, stop=stop_event)
    threads = [threading.Thread(target=worker.run, name="casetrail-projections", daemon=True)]
    interval = _sla_seconds() if sla_interval is None else sla_interval
    if interval > 0:
        threads.append(threading.Thread(
            target=run_periodically, args=(app, store, stop_event, interval),
            kwargs={"catch_up": "case_state" not in worker.names}, name="casetrail-sla", daemon=True))
    every = float(os.environ.get("CASETRAIL_CHECKPOINT_INTERVAL", "300"))
    if every > 0:  # by default: the key pair is made on first start
        signer, witness = signer_for(url=url), Witness(witness_path(url=url))
        log.info("audit checkpoints", key_id=signer.key_id, key_file=signer.path, witness=witness.path,
                 every_seconds=every)
        threads.append(threading.Thread(target=_checkpoint_periodically, args=(app, stop_event, every, signer,
                                                                               witness),
                                        name="casetrail-checkpoint", daemon=True))
    dispatcher = None
    if WebhookOutbox.name in worker.names:  # the outbox's deliveries, sent from a thread of their own
        dispatcher = Dispatcher(app, store, stop=stop_event)
        threads.append(threading.Thread(target=dispatcher.run, name="casetrail-webhooks", daemon=True))
    for t in threads:
        t.start()
    stopped = threading.Lock()

    def stop(timeout: float = 10.0) -> None:
        if not stopped.acquire(blocking=False):
            return
        stop_event.set()
        for t in threads:
            t.join(timeout)
        for closing in (*((dispatcher.close,) if dispatcher else ()), store.close, app.close):
            try:
                closing()
            except Exception:  # closing is best effort at shutdown
                log.debug("error closing connections", exc_info=True)

    return stop


def _checkpoint_periodically(app: CaseTrail, stop_event: threading.Event, every: float, signer: Signer,
                             witness: Witness) -> None:
    """Sign a checkpoint of all case heads every ``every`` seconds when something changed
    (the first one at once), appending each to the witness."""
    wait = min(every, 5.0)
    outage = OutageLog("audit checkpoint")
    while not stop_event.wait(wait):
        try:
            digest = maybe_checkpoint(app, signer, every, witness=witness)
            outage.succeeded()
            if digest:
                log.info("audit checkpoint", seq=digest.get("seq"), root=digest.get("root"),
                         heads=digest.get("count"))
        except CheckpointRefused as e:
            log.error("audit checkpoint refused; run `casetrail audit verify --witness`", kind=e.kind,
                      problems=len(e.extra.get("problems", [])))
        except Exception as e:  # a database outage must not end the worker (nor anything else)
            outage.failed(e, wait)


def run_until_stopped(url: str, names: Iterable[str] | None, stop_event: threading.Event, *,
                      sla_interval: float | None = None) -> None:
    """Run the workers (and the SLA pass) in this thread until ``stop_event`` is set."""
    stop = start_background(url, names=names, sla_interval=sla_interval)
    try:
        stop_event.wait()
    finally:
        stop()

"""Several processes writing one hot case at once (as several ``casetrail
serve`` processes would): every unconditional write is recorded exactly
once, none is refused. Within a process writers of a case queue on a lock;
between processes they race on the store's version check, and a command
that loses is decided again after a random, growing pause, for up to
``RETRY_SECONDS`` (a fixed count of 20 immediate retries used to refuse
about 1 in 100 valid writes here)."""

from __future__ import annotations

import multiprocessing
import threading
from typing import Any

from domain.application import CaseTrail
from tests.support import CUSTOMER

PROCESSES, THREADS, ACTIONS = 4, 8, 25


def _writer(url: str, case_id: str, tag: int, results: Any) -> None:
    app = CaseTrail.from_url(url)
    actor = app.get_staff("agent").as_actor()
    refused: list[str] = []

    def run(thread: int) -> None:
        for i in range(ACTIONS):
            try:
                app.act(actor, case_id, "log_contact", {"channel": "phone", "summary": f"{tag}-{thread}-{i}"})
            except Exception as e:  # any refusal is a failure of the test
                refused.append(f"{type(e).__name__}: {e}")

    threads = [threading.Thread(target=run, args=(t,)) for t in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    app.close()
    results.put(refused)


def test_processes_racing_on_one_case_lose_nothing(database_url: str) -> None:
    app = CaseTrail.from_url(database_url)
    actor = app.register_staff("agent", "Agent", "cs", ["agent"]).as_actor()
    case = app.open_case(actor, "complaint", "hot case", CUSTOMER, {})
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    procs = [ctx.Process(target=_writer, args=(database_url, str(case.id), p, results)) for p in range(PROCESSES)]
    for p in procs:
        p.start()
    refused = [r for _ in procs for r in results.get(timeout=300)]
    for p in procs:
        p.join(timeout=60)
    assert refused == []
    history = app.case_history(case.id)
    summaries = [h["data"]["data"]["summary"] for h in history[1:]]
    expected = {f"{p}-{t}-{i}" for p in range(PROCESSES) for t in range(THREADS) for i in range(ACTIONS)}
    assert len(summaries) == len(expected) and set(summaries) == expected  # each once
    assert [h["version"] for h in history] == list(range(1, len(expected) + 2))
    app.close()

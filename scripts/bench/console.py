"""C1: the reviewer console's timeline page of a 1,000-event case against ``GET /v1/cases/{id}/history``.

On a SQLite file, in process (Starlette's test client, as the same reviewer
for both: both reads are recorded in the access ledger): a complaint with
1,000 events, the case_state read model caught up so the page finds the
case by its number; per repetition the median of several requests of each,
after one warm-up. The figure is the page's time over the history
endpoint's (lower is better; the goal is at most 3).
"""

from __future__ import annotations

import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from typing import Any

from scripts.bench.report import Figure

EVENTS = 1000
SAMPLES = 5


def _median(call: Callable[[], Any]) -> float:
    call()
    times = []
    for _ in range(SAMPLES):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(repeats: int, figs: dict[str, Figure], log: Callable[[str], None], events: int = EVENTS) -> None:
    from api.app import create_app
    from domain.application import CaseTrail
    from projections.runner import Worker
    from projections.views import Store

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient

    with tempfile.TemporaryDirectory(prefix="casetrail-bench-c1-") as tmp:
        app = CaseTrail.from_url(f"sqlite:///{tmp}/casetrail.db")
        try:
            app.register_staff("agent", "Agent", "cs", ["agent"])
            app.register_staff("reviewer", "Reviewer", "compliance", ["reviewer"])
            agent = app.get_staff("agent").as_actor()
            case = app.open_case(agent, "complaint", "C1", {"id": "C-1", "name": "王"}, {})
            for i in range(events - 1):
                app.act(agent, case.id, "log_contact", {"channel": "phone", "summary": f"第 {i} 次联系"})
            Worker(app, Store.for_app(app)).run_once()
            token = app.issue_token("reviewer")
            with TestClient(create_app(app, configure_logs=False)) as client:
                assert client.post("/console/login", data={"token": token}, follow_redirects=False).status_code == 303
                page = lambda: client.get(f"/console/cases/{case.number}")  # noqa: E731
                history = lambda: client.get(f"/v1/cases/{case.id}/history",  # noqa: E731
                                             headers={"Authorization": f"Bearer {token}"})
                assert page().status_code == 200 and history().status_code == 200
                c1 = figs["C1"] = Figure("C1", "ms", baseline_unit="ms",
                                         baseline_what=f"GET /v1/cases/{{id}}/history of the same {events}-event case",
                                         ratio_of="console page time / history time (lower is better)")
                for rep in range(repeats):
                    console, api = _median(page), _median(history)
                    c1.add(1000 * console, 1000 * api, console / api)
                    log(f"rep {rep + 1}: C1 console {1000 * console:.0f} ms vs history {1000 * api:.0f} ms")
        finally:
            app.close()

"""C1 (QUALITY.md): the console's timeline page of a 1,000-event case within 3× ``GET /v1/cases/{id}/history``.

Both through the same in-process application (TestClient), on SQLite and
PostgreSQL, as the same reviewer (both reads are recorded in the access
ledger); the median of several timed requests each, after one warm-up.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import pytest

from tests.api_support import ApiWorld

EVENTS = 1000
RUNS = 5
BOUND = 3.0


def _median(call: Callable[[], object]) -> float:
    call()
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


@pytest.mark.slow
def test_timeline_page_of_a_1000_event_case_within_3x_the_history_endpoint(database_url: str) -> None:
    w = ApiWorld(database_url)
    try:
        case = w.open("complaint")
        actor = w.actor("agent")
        for i in range(EVENTS - 1):
            w.app.act(actor, case.id, "log_contact", {"channel": "phone", "summary": f"第 {i} 次联系"})
        r = w.client.post("/console/login", data={"token": w.tokens["reviewer"]}, follow_redirects=False)
        assert r.status_code == 303
        page_path = f"/console/cases/{case.number}"

        def page() -> object:
            r = w.client.get(page_path)
            assert r.status_code == 200 and r.text.count('class="event') == EVENTS
            return r

        def history() -> object:
            r = w.client.get(f"/v1/cases/{case.id}/history", headers=w.headers("reviewer"))
            assert r.status_code == 200 and len(r.json()["items"]) == EVENTS
            return r

        from projections.runner import Worker
        from projections.views import Store
        Worker(w.app, Store.for_app(w.app)).run_once()  # the case page finds the number in case_state
        console, api = _median(page), _median(history)
        print(f"C1: console timeline {console * 1000:.0f} ms, history {api * 1000:.0f} ms, "
              f"ratio {console / api:.2f}")
        assert console <= BOUND * api, (console, api)
    finally:
        w.close()

"""The console's timeline of a 1,000-event case shows every event the history endpoint gives, on both
databases. How fast it is against that endpoint (C1 in QUALITY.md) is measured by the benchmark suite
(``casetrail bench``, scripts/bench/console.py), never by a timed assertion here.
"""

from __future__ import annotations

import pytest

from tests.api_support import ApiWorld

EVENTS = 1000


@pytest.mark.slow
def test_the_timeline_of_a_1000_event_case_shows_every_event(database_url: str) -> None:
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
        shown, listed = page(), history()
        assert shown is not None and listed is not None
    finally:
        w.close()

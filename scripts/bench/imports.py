"""I1: bulk import of legacy cases over HTTP (``POST /v1/import/cases``), in events/s.

Each request imports one complaint with 20 actions (assign, start the
investigation, 18 logged contacts), all within an hour of its opening so that
no deadline falls due inside it: 21 events per case. ``IMPORT_CLIENTS``
clients post such bodies, each its own copy, to the server W4 runs
(``casetrail serve --workers 2``) for the repetition's seconds. The value is
events/s (cases/s times the events one import records, read from the first
response's ``version``); the baseline is the same run's W1 (commands/s, one
event per command).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx

from scripts.bench import http_load, roster

IMPORTER = "importer01"
IMPORT_CLIENTS = 4
ACTIONS = 20


def register_importer(app: Any) -> str:
    """The importer (role ``importer``) and a token for it."""
    try:
        app.get_staff(IMPORTER)
    except Exception:  # noqa: BLE001 - not registered yet
        app.register_staff(IMPORTER, "Importer", "it", ["importer"])
    return str(app.issue_token(IMPORTER))


def body(i: int) -> dict[str, Any]:
    """One legacy complaint with ``ACTIONS`` actions (its own title and customer)."""
    opened = roster.START + timedelta(days=1, minutes=i)
    agent = roster.AGENTS[i % len(roster.AGENTS)]
    at = [(opened + timedelta(minutes=1 + k)).isoformat() for k in range(ACTIONS)]
    actions: list[dict[str, Any]] = [
        {"action": "assign", "actor": roster.SUPERVISORS[0], "occurred_at": at[0], "data": {"assignee": agent}},
        {"action": "start_investigation", "actor": agent, "occurred_at": at[1], "data": {}},
    ]
    actions += [{"action": "log_contact", "actor": agent, "occurred_at": at[k],
                 "data": {"channel": "phone", "summary": f"legacy contact {k}"}} for k in range(2, ACTIONS)]
    return {"case": {"type": "complaint", "title": f"legacy complaint {i}",
                     "customer": {"id": f"L-{i}", "name": "老客户"}, "fields": {"severity": "general"},
                     "occurred_at": opened.isoformat()},
            "actions": actions}


def events_per_import(base_url: str, token: str) -> int:
    """Import one case; the events it recorded (its version)."""
    response = httpx.post(base_url + "/v1/import/cases", json=body(10_000), timeout=60,
                          headers={"Authorization": f"Bearer {token}"})
    if response.status_code != 201:
        raise RuntimeError(f"import refused: {response.status_code} {response.text[:300]}")
    return int(response.json()["version"])


def drive(base_url: str, token: str, seconds: float, events: int) -> dict[str, float]:
    """Events/s of ``IMPORT_CLIENTS`` clients importing for ``seconds``."""
    jobs = [(token, "/v1/import/cases", body(i)) for i in range(IMPORT_CLIENTS)]
    result = http_load.drive(base_url, jobs, seconds)
    return {**result, "events_rate": result["rate"] * events}

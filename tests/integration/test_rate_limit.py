"""Per-token rate limiting (``CASETRAIL_RATE_LIMIT``), through the API on both databases.

Over the limit a token gets a 429 problem with ``Retry-After``; after waiting
that long it passes again; other tokens, the health endpoints and an
importer's bulk import are not limited; unset or ``off`` turns it off.
(The limiter counts in real time, so the test waits the ``Retry-After`` it
was given: what it checks is the answer after the wait, not how long anything took.)
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta

import pytest

from api.rate_limit import RateLimit, RateLimitConfigError
from tests.api_support import ApiWorld
from tests.support import CUSTOMER

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

LIMIT = "3 per 5 seconds"  # a window long enough that a slow machine still makes 4 calls within it


@pytest.fixture
def world(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[ApiWorld]:
    monkeypatch.setenv("CASETRAIL_RATE_LIMIT", LIMIT)
    w = ApiWorld(database_url)
    yield w
    w.close()


def get(world: ApiWorld, by: str, path: str = "/v1/case-types") -> int:
    return world.client.get(path, headers=world.headers(by)).status_code


def test_a_burst_over_the_limit_gets_429_with_retry_after_then_passes_after_waiting(world: ApiWorld) -> None:
    answers = [world.client.get("/v1/case-types", headers=world.headers("agent")) for _ in range(4)]
    codes = [r.status_code for r in answers]
    assert codes == [200, 200, 200, 429], codes
    refused = next(r for r in answers if r.status_code == 429)
    assert refused.headers["content-type"].startswith("application/problem+json")
    problem = refused.json()
    assert problem["type"].endswith("rate-limited") and problem["status"] == 429
    wait = int(refused.headers["Retry-After"])
    assert 1 <= wait <= 5 and problem["retry_after"] == wait
    assert world.tokens["agent"] not in refused.text
    # another token of the same person, and other people, have limits of their own
    assert get(world, "supervisor") == 200
    second = world.app.issue_token("agent")
    assert world.client.get("/v1/case-types", headers={"Authorization": f"Bearer {second}"}).status_code == 200
    # health endpoints are never limited
    for path in ("/healthz", "/readyz", "/openapi.json"):
        assert world.client.get(path, headers=world.headers("agent")).status_code == 200, path
    # writes count too
    r = world.client.post("/v1/cases", json={"type": "complaint", "title": "x", "customer": CUSTOMER},
                          headers=world.headers("agent"))
    assert r.status_code == 429 and "Retry-After" in r.headers
    time.sleep(wait + 0.1)
    assert get(world, "agent") == 200


def test_an_importer_bulk_import_is_not_limited(world: ApiWorld) -> None:
    opened = (world.now - timedelta(days=3)).isoformat()
    for n in range(8):  # more than the limit allows, back to back
        body = {"case": {"type": "inquiry", "title": f"legacy {n}", "customer": CUSTOMER, "occurred_at": opened},
                "actions": [{"action": "answer", "occurred_at": opened, "data": {"answer": "hours"}}]}
        r = world.client.post("/v1/import/cases", json=body, headers=world.headers("importer"))
        assert r.status_code == 201, (n, r.text)
    # the importer's other requests are limited like anyone's
    codes = [get(world, "importer") for _ in range(4)]
    assert codes == [200, 200, 200, 429], codes


def test_off_by_default_and_a_bad_setting_is_refused(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CASETRAIL_RATE_LIMIT", raising=False)
    w = ApiWorld(database_url)
    try:
        assert all(get(w, "agent") == 200 for _ in range(30))
    finally:
        w.close()
    for off in ("", "off", "OFF"):
        assert RateLimit.parse(off) is None
    limit = RateLimit.parse("50/second;burst=100")
    assert limit is not None and [str(i) for i in limit.items] == ["100 per 2 second"]
    for bad in ("fast", "50/parsec", "50/second;burst=10", "burst=5", "0/second", "50/second;burst=x"):
        with pytest.raises(RateLimitConfigError):
            RateLimit.parse(bad)
    monkeypatch.setenv("CASETRAIL_RATE_LIMIT", "fast")
    with pytest.raises(RateLimitConfigError, match="CASETRAIL_RATE_LIMIT"):
        RateLimit.from_env()


@pytest.mark.parametrize("name, value", [("CASETRAIL_RATE_LIMIT", "fast"),
                                         ("CASETRAIL_IDEMPOTENCY_RETENTION", "soon")])
def test_serve_refuses_a_bad_setting_in_one_line(sqlite_url: str, monkeypatch: pytest.MonkeyPatch,
                                                 name: str, value: str) -> None:
    import sys

    from click.testing import CliRunner

    from scripts.cli import main

    monkeypatch.setenv(name, value)
    monkeypatch.setattr(sys, "argv", ["casetrail", "serve", "--port", "0", "--no-workers"])
    with CliRunner().isolation(env={"CASETRAIL_DATABASE_URL": sqlite_url}) as (_out, err, _):
        with pytest.raises(SystemExit) as exited:
            main()
        stderr = err.getvalue().decode()
    assert exited.value.code == 2 and stderr.strip().startswith(f"Error: {name}:"), stderr
    assert len(stderr.strip().splitlines()) == 1

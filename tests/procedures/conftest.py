"""The procedure library's life tests: an ``ApiWorld`` with the library's staff, on both databases.

``world`` is an ``ApiWorld`` (tests/api_support.py) on SQLite and on the
throwaway PostgreSQL (the ``database_url`` fixture), with one staff member
per built-in role plus ``LIBRARY_STAFF`` (finance director, cashier,
project manager, quality manager, the sales department's head and two
salespeople). The library's opt-in schedules are turned on.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.api_support import ApiWorld
from tests.support import LIBRARY_STAFF


@pytest.fixture(autouse=True)
def shipped_schedules_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """The library's schedules are opt-in (``CASETRAIL_SCHEDULES``): its tests turn them all on."""
    monkeypatch.setenv("CASETRAIL_SCHEDULES", "all")


@pytest.fixture
def world(database_url: str) -> Iterator[ApiWorld]:
    w = ApiWorld(database_url, extra_staff=LIBRARY_STAFF)
    try:
        yield w
    finally:
        w.close()

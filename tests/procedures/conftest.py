"""The procedure library's life tests: an ``ApiWorld`` with the library's staff, on both databases.

``world`` is an ``ApiWorld`` (tests/api_support.py) on SQLite and on the
throwaway PostgreSQL (the ``database_url`` fixture), with one staff member
per built-in role plus ``LIBRARY_STAFF`` (finance director, cashier,
project manager, quality manager, the sales department's head and two
salespeople).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.api_support import ApiWorld
from tests.support import LIBRARY_STAFF


@pytest.fixture
def world(database_url: str) -> Iterator[ApiWorld]:
    w = ApiWorld(database_url, extra_staff=LIBRARY_STAFF)
    try:
        yield w
    finally:
        w.close()

"""Fixtures of the integration tests.

``world``: an ``ApiWorld`` (``tests.api_support``: a settable clock, one
staff member per role, a test client with a token each) on each database.
``w`` is the same world by a shorter name. A module that needs another kind
of world defines its own ``world``, which takes precedence over this one.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.api_support import ApiWorld


@pytest.fixture
def world(database_url: str) -> Iterator[ApiWorld]:
    w = ApiWorld(database_url)
    try:
        yield w
    finally:
        w.close()


@pytest.fixture
def w(world: ApiWorld) -> ApiWorld:
    """The same world by the short name the rules modules' tests use."""
    return world

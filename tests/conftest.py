"""Shared pytest fixtures: database URLs for SQLite and a throwaway PostgreSQL.

- ``pg_server`` (session): a private PostgreSQL server started from
  tests/pg.py (one per pytest-xdist worker), stopped and deleted at the end.
- ``pg_url``: a fresh, empty PostgreSQL database for each test.
- ``sqlite_url``: ``sqlite:///<tmp_path>/casetrail.db`` for each test.
- ``database_url``: runs the test twice, ids ``sqlite`` and ``postgres``
  (the latter marked ``postgres``).

When PostgreSQL is not installed, PostgreSQL tests are skipped, except under
CI (``CI=true``) where they fail: CI must prove both back ends.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.pg import PostgresNotInstalledError, PostgresStartError, ThrowawayPostgres


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


@pytest.fixture(scope="session")
def pg_server() -> Iterator[ThrowawayPostgres]:
    server = ThrowawayPostgres()
    try:
        server.start()
    except PostgresNotInstalledError as e:
        message = f"{e} (CI=true: PostgreSQL tests must run in CI)"
        if _in_ci():
            pytest.fail(message, pytrace=False)
        pytest.skip(str(e))
    except PostgresStartError as e:
        # The message already includes the server log.
        print(str(e))
        pytest.fail(f"could not start throwaway PostgreSQL:\n{e}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_url(pg_server: ThrowawayPostgres) -> str:
    return pg_server.create_database()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/casetrail.db"


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    ]
)
def database_url(request: pytest.FixtureRequest) -> str:
    if request.param == "postgres":
        return str(request.getfixturevalue("pg_url"))
    return str(request.getfixturevalue("sqlite_url"))


@pytest.fixture(autouse=True)
def signing_key_outside_the_checkout(tmp_path_factory: pytest.TempPathFactory,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Checkpoints are on by default and make a key pair and a witness file on first use:
    keep both in a temporary folder (not the working directory) unless a test says otherwise."""
    folder = tmp_path_factory.mktemp("signing")
    monkeypatch.setenv("CASETRAIL_SIGNING_KEY", str(folder / "casetrail-signing-key.pem"))
    monkeypatch.setenv("CASETRAIL_WITNESS", str(folder / "casetrail-witness.jsonl"))
    monkeypatch.setenv("CASETRAIL_MASTER_KEY_FILE", str(folder / "casetrail-master-key"))

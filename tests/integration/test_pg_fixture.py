"""The test database fixtures themselves: throwaway PostgreSQL and SQLite URLs."""

from __future__ import annotations

import os
import sqlite3
from urllib.parse import urlparse

import psycopg
import pytest

from tests.pg import ThrowawayPostgres, find_pg_bin_dir


@pytest.mark.postgres
def test_pg_url_is_a_fresh_database(pg_url: str, pg_server: ThrowawayPostgres) -> None:
    assert pg_url.startswith(f"postgresql://postgres@127.0.0.1:{pg_server.port}/")
    with psycopg.connect(pg_url) as conn:
        version = conn.execute("select version()").fetchone()
        assert version is not None and version[0].startswith("PostgreSQL")
        tables = conn.execute(
            "select count(*) from information_schema.tables where table_schema = 'public'"
        ).fetchone()
        assert tables == (0,)
        conn.execute("create table probe (id int primary key)")
        fsync = conn.execute("show fsync").fetchone()
        assert fsync == ("off",)


@pytest.mark.postgres
def test_each_test_gets_its_own_database(pg_server: ThrowawayPostgres) -> None:
    first, second = pg_server.create_database(), pg_server.create_database()
    assert first != second
    with psycopg.connect(first) as conn:
        conn.execute("create table probe (id int primary key)")
    with psycopg.connect(second) as conn:
        row = conn.execute("select to_regclass('probe')").fetchone()
        assert row == (None,)


def test_database_url(database_url: str) -> None:
    scheme = urlparse(database_url).scheme
    if scheme == "sqlite":
        path = database_url.removeprefix("sqlite:///")
        with sqlite3.connect(path) as conn:
            assert conn.execute("select 1").fetchone() == (1,)
    else:
        assert scheme == "postgresql"
        with psycopg.connect(database_url) as conn:
            assert conn.execute("select 1").fetchone() == (1,)


@pytest.mark.postgres
def test_standalone_server_outside_pytest() -> None:
    """tests/pg.py works without fixtures (the benchmark suite uses it so)."""
    if find_pg_bin_dir() is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("PostgreSQL not installed (CI=true)", pytrace=False)
        pytest.skip("PostgreSQL not installed")
    with ThrowawayPostgres() as server:
        base_dir = server.base_dir
        assert base_dir is not None and base_dir.exists()
        with psycopg.connect(server.create_database()) as conn:
            assert conn.execute("select current_user").fetchone() == ("postgres",)
    assert not base_dir.exists()

"""``CASETRAIL_DATABASE_URL`` parsing: what each URL becomes in the library's
settings, and every malformed URL refused with a message naming the problem."""

from __future__ import annotations

import pytest

from domain.storage.database import StorageConfigError, env_for_url


def test_postgresql_url_options() -> None:
    env = env_for_url("postgresql://ct:p%40ss@db.example:6432/cases?pool_size=8&max_overflow=4"
                      "&connect_timeout=3&schema=tenant_a")
    assert (env["POSTGRES_HOST"], env["POSTGRES_PORT"], env["POSTGRES_DBNAME"]) == ("db.example", "6432", "cases")
    assert (env["POSTGRES_USER"], env["POSTGRES_PASSWORD"]) == ("ct", "p@ss")
    assert (env["POSTGRES_POOL_SIZE"], env["POSTGRES_MAX_OVERFLOW"], env["POSTGRES_CONNECT_TIMEOUT"]) == ("8", "4", "3")
    assert env["POSTGRES_SCHEMA"] == "tenant_a"
    defaults = env_for_url("postgres://ct@db/cases")
    assert (defaults["POSTGRES_PORT"], defaults["POSTGRES_POOL_SIZE"], defaults["POSTGRES_CONNECT_TIMEOUT"]) == \
        ("5432", "5", "2")


def test_sqlite_url_options() -> None:
    assert env_for_url("sqlite:////var/lib/ct.db")["SQLITE_DBNAME"] == "/var/lib/ct.db"
    assert env_for_url("sqlite:///rel.db?lock_timeout=5")["SQLITE_LOCK_TIMEOUT"] == "5"
    assert env_for_url("sqlite:///rel.db")["SQLITE_LOCK_TIMEOUT"] == "30"


@pytest.mark.parametrize("url,needle", [
    ("mysql://db/x", "unsupported CASETRAIL_DATABASE_URL"),
    ("postgresql://db", "needs a database name"),
    ("postgresql://db/x?pool_size=abc", "pool_size must be a whole number"),
    ("postgresql://db/x?max_overflow=-1", "max_overflow must be a whole number"),
    ("postgresql://db/x?connect_timeout=0", "connect_timeout must be a whole number >= 1"),
    ("postgresql://db/x?pool_size=99999999999", "pool_size must be a whole number"),
    ("postgresql://db/x?poolsize=3", "unknown database URL option(s) ['poolsize']"),
    ("sqlite:///x.db?lock_timeout=soon", "lock_timeout must be a whole number"),
    ("sqlite:///x.db?journal=wal", "unknown database URL option(s) ['journal']"),
])
def test_malformed_urls_are_refused(url: str, needle: str) -> None:
    with pytest.raises(StorageConfigError) as e:
        env_for_url(url)
    assert needle in str(e.value)

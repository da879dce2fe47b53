"""Creating tables on PostgreSQL one process at a time (the start-up race).

Every process creates the tables it needs when it starts (``CREATE_TABLE``:
the library's ``CREATE TYPE`` / ``CREATE TABLE IF NOT EXISTS`` / ``CREATE OR
REPLACE FUNCTION``, and the read models' tables). ``IF NOT EXISTS`` is not
safe against itself: two sessions creating the same table, type or index at
the same moment collide in the catalog (``duplicate key value violates
unique constraint "pg_type_typname_nsp_index"``), and two replacing the same
function fail with ``tuple concurrently updated``. So several API processes
and a projection worker started together on an empty database used to die.

``schema_lock(datastore)`` serialises that work with a session-level
PostgreSQL advisory lock on a fixed key, taken on a connection of its own
(not one of the pool's, so a pool of one connection cannot deadlock) and
held while the tables are created; the next process then finds them and its
statements do nothing. Advisory locks are per database. Nested use in one
thread takes the lock once. On SQLite (whose writes are serialised anyway)
it does nothing. ``SchemaLocked`` makes an application create its recorders
under the lock.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from eventsourcing.persistence import OperationalError
from eventsourcing.postgres import PostgresDatastore

SCHEMA_LOCK_KEY = 0x6361_7365_7472_6C31  # "casetrl1": one key for all of casetrail's DDL
LOCK_WAIT_SECONDS = 120
_held = threading.local()


def _connection_kwargs(datastore: PostgresDatastore) -> tuple[str, dict[str, Any]]:
    pool = datastore.pool
    kwargs = dict(pool.kwargs or {})
    kwargs.pop("row_factory", None)
    kwargs.setdefault("connect_timeout", 10)
    password_func = getattr(pool, "get_password_func", None)
    if password_func:
        kwargs["password"] = password_func()
    return pool.conninfo, kwargs


@contextmanager
def schema_lock(datastore: Any) -> Iterator[None]:
    """Hold casetrail's schema lock on ``datastore``'s database (PostgreSQL only)."""
    if not isinstance(datastore, PostgresDatastore):
        yield
        return
    conninfo, kwargs = _connection_kwargs(datastore)
    key = (conninfo, kwargs.get("host"), str(kwargs.get("port")), kwargs.get("dbname"))
    held: set[Any] = _held.__dict__.setdefault("keys", set())
    if key in held:  # this thread has it already
        yield
        return
    try:
        conn = psycopg.connect(conninfo, autocommit=True, **kwargs)
    except psycopg.Error as e:
        raise OperationalError(f"schema lock: cannot connect: {e}") from e
    try:
        try:
            conn.execute(f"SET lock_timeout = '{LOCK_WAIT_SECONDS}s'")
            conn.execute("SELECT pg_advisory_lock(%s)", (SCHEMA_LOCK_KEY,))
        except psycopg.Error as e:
            raise OperationalError(f"schema lock not obtained within {LOCK_WAIT_SECONDS} s: {e}") from e
        held.add(key)
        try:
            yield
        finally:
            held.discard(key)
            try:
                conn.execute("SELECT pg_advisory_unlock(%s)", (SCHEMA_LOCK_KEY,))
            except psycopg.Error:
                pass  # closing the session below releases it anyway
    finally:
        conn.close()


class SchemaLocked:
    """Application mixin: the events and snapshots recorders create their tables
    under ``schema_lock`` (put it before ``Application`` in the bases)."""

    factory: Any

    def construct_recorder(self) -> Any:
        with schema_lock(getattr(self.factory, "datastore", None)):
            return super().construct_recorder()  # type: ignore[misc]

    def construct_snapshot_store(self) -> Any:
        with schema_lock(getattr(self.factory, "datastore", None)):
            return super().construct_snapshot_store()  # type: ignore[misc]

"""PostgreSQL connections that ride out an outage: fail fast while the database is down, recover by themselves.

The library's PostgreSQL datastore hands out connections from a psycopg
pool. As it comes, an outage (the server stopped, or restarted) goes badly:

- every database call waits for the pool's time-out, and the library retries
  each call ten times: a request hangs for most of a minute, then fails;
- after a restart the pool hands out connections the old server closed, so
  requests keep failing for a while although the database is back;
- the pool retries a failed reconnection with a back-off that grows to
  minutes, so it may notice late that the database is back.

``Factory`` (``PERSISTENCE_MODULE``, set by ``domain.storage.database.env_for_url``)
is the library's PostgreSQL factory with an ``OutagePool``:

- an idle connection whose socket has something to say (the server's
  goodbye, or end of file) is pinged before it is handed out, and dropped if
  it does not answer; a healthy one costs no round trip;
- once a connection attempt has failed, and until one succeeds, a caller who
  would have to wait for a new connection gets ``DatabaseUnavailable`` at
  once (a ``PersistenceError`` the library does not retry), except that one
  caller a second waits (at most ``PROBE_SECONDS``) for the pool to connect:
  that is how the pool notices the database is back;
- a failed reconnection gives up after ``RECONNECT_SECONDS`` (instead of
  five minutes of growing back-off), so the next caller starts a fresh one;
- opening a connection times out (``connect_timeout``) instead of hanging a
  pool worker on an unreachable host.

``UNAVAILABLE`` lists the errors that mean "the database is down, unreachable
or busy" (``DatabaseUnavailable``, the library's ``OperationalError`` and
``InterfaceError``, psycopg's own ``OperationalError``): the API answers them
with a 503 problem document (``api.problems``), the projection workers log one
warning line (``unavailable_reason``) and retry; neither is a bug, so neither
shows a traceback.
"""

from __future__ import annotations

import select
from time import monotonic
from typing import Any

import psycopg
from eventsourcing.persistence import InterfaceError, OperationalError, PersistenceError
from eventsourcing.postgres import ConnectionPool, PostgresFactory
from eventsourcing.utils import Environment, EnvType

TOPIC = "domain.storage.pgstore:Factory"
PROBE_SECONDS = 1.0       # while the database is down: how often, and how long, a caller waits for it
RECONNECT_SECONDS = 3.0   # a failed reconnection gives up after this, so the next caller starts afresh


class DatabaseUnavailable(PersistenceError):
    """The database could not be reached a moment ago; the caller should try again shortly."""


# The database is down, unreachable or busy (a PostgreSQL outage, SQLite's "database is
# locked", an I/O error): try again shortly. Shared by the API (503) and the workers (a warning).
UNAVAILABLE: tuple[type[Exception], ...] = (OperationalError, InterfaceError, DatabaseUnavailable,
                                            psycopg.OperationalError)


def unavailable_reason(error: BaseException) -> str:
    """``ErrorType: first line of the message`` (cut at 200 characters), for a one-line log entry."""
    first = (str(error).strip().splitlines() or [""])[0][:200]
    return f"{type(error).__name__}: {first}" if first else type(error).__name__


def closed_by_server(conn: Any) -> bool:
    """Whether an idle pooled connection is dead (checked without a round trip when it is not)."""
    if conn.closed:
        return True
    try:
        poller = select.poll()
        poller.register(conn.pgconn.socket, select.POLLIN)
        if not poller.poll(0):
            return False  # nothing to read: the usual case
        conn.execute("")  # a notice, or the server's goodbye: ask
        return False
    except (psycopg.Error, OSError, ValueError):
        return True


class OutagePool(ConnectionPool):  # type: ignore[type-arg]
    """The library's pool, failing fast while connection attempts fail (see the module docstring)."""

    _down = False        # the last connection attempt failed
    _failure = ""        # why, for the error message
    _next_probe = 0.0

    def _connect(self, timeout: float | None = None) -> Any:
        try:
            conn = super()._connect(timeout=timeout)
        except Exception as e:
            if "too many clients" in str(e):  # the server is up, only full: callers wait as usual
                raise
            self._failure = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
            self._down = True
            self._next_probe = max(self._next_probe, monotonic() + PROBE_SECONDS)
            raise
        self._down = False
        return conn

    def _wait_allowed(self, timeout: float) -> float:
        """How long this caller may wait for a connection; raises at once while the database is down."""
        if not self._down or self.get_stats().get("pool_available", 0):
            return timeout
        now = monotonic()
        if now < self._next_probe:
            raise DatabaseUnavailable(f"the database is unreachable ({self._failure})")
        self._next_probe = now + PROBE_SECONDS
        return min(timeout, PROBE_SECONDS)

    def getconn(self, timeout: float | None = None) -> Any:
        deadline = monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            try:
                conn = super().getconn(timeout=self._wait_allowed(max(deadline - monotonic(), 0.001)))
            except psycopg.OperationalError:  # PoolTimeout: the next probe in a second, not at once
                if self._down:
                    self._next_probe = monotonic() + PROBE_SECONDS
                raise
            if not closed_by_server(conn):
                return conn
            conn.close()
            self.putconn(conn)  # a closed connection is discarded and replaced by the pool


class Factory(PostgresFactory):
    """The library's PostgreSQL factory, its datastore's pool an ``OutagePool``."""

    def __init__(self, env: Environment | EnvType | None):
        super().__init__(env)
        pool = self.datastore.pool
        if type(pool) is not ConnectionPool:  # pragma: no cover - a library upgrade changed the pool
            raise TypeError(f"unexpected connection pool {type(pool)!r}")
        # The pool is not open yet (no threads, no connections): give it our behaviour.
        pool.__class__ = OutagePool
        pool.reconnect_timeout = RECONNECT_SECONDS
        if isinstance(pool.kwargs, dict):
            pool.kwargs.setdefault("connect_timeout", max(1, round(pool.timeout)))

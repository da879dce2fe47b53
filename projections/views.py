"""Materialised views: the library's tracking recorders, extended with read-model tables.

A read model is a set of versioned tables (``rm_<table>_v<N>``) and its own
tracking table (``rm_<projection>_v<N>_tracking``). ``SQLiteView`` and
``PostgresView`` subclass the library's ``SQLiteTrackingRecorder`` and
``PostgresTrackingRecorder``: ``commit`` writes a batch of read-model rows
and records the new tracking position (the library's ``_insert_tracking``)
in ONE transaction, after checking, with the tracking row locked, that the
position is still the one the batch was computed from. So a crash half-way
leaves nothing, and a second worker on the same projection can never apply
an event twice (its commit fails with ``PositionMoved`` and it re-reads).

SQL is written once with ``?`` parameters and ``{INT}``/``{KEY}``/``{TS}``/
``{REAL}`` type slots; a ``Dialect`` fills in the few differences. The
pointer table ``rm_active`` names the version of each projection that serves
reads, and the one a rebuild is filling (``building``).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from eventsourcing.persistence import InfrastructureFactory, PersistenceError, Tracking
from eventsourcing.postgres import PostgresDatastore, PostgresTrackingRecorder
from eventsourcing.sqlite import SQLiteDatastore, SQLiteTrackingRecorder
from eventsourcing.utils import Environment
from psycopg.sql import SQL

from domain.storage.database import env_for_url
from domain.storage.schema import schema_lock


def _retrying(create: Callable[[], None]) -> None:
    """Run ``create`` (table creation), trying again when another process or
    thread created the same tables at the same moment: on SQLite, where
    ``schema_lock`` does nothing, the library's migration row says so."""
    for attempt in range(5):
        try:
            create()
            return
        except PersistenceError:
            if attempt == 4:
                raise
            time.sleep(0.05 * (attempt + 1))


APP_NAME = "CaseTrail"  # the upstream application whose log is tracked
ACTIVE = "rm_active"
SQLITE_CACHE_KIB = 16 * 1024
POOL = {"POSTGRES_POOL_SIZE": "2", "POSTGRES_MAX_OVERFLOW": "10"}  # read models need few connections


@dataclass(frozen=True)
class Dialect:
    name: str
    int_type: str
    key_type: str
    real_type: str
    for_update: str

    def sql(self, text: str) -> str:
        """Statement text for this back end (``?`` parameters become ``%s``)."""
        return text if self.name == "sqlite" else text.replace("?", "%s")

    def ddl(self, text: str, **names: str) -> str:
        return text.format(INT=self.int_type, KEY=self.key_type, TS=self.key_type, REAL=self.real_type, **names)


SQLITE = Dialect("sqlite", "INTEGER", "TEXT", "REAL", "")
POSTGRES = Dialect("postgres", "BIGINT", 'TEXT COLLATE "C"', "DOUBLE PRECISION", " FOR UPDATE")


@dataclass(frozen=True)
class Table:
    """A read-model table: ``rm_<key>_v<N>``, its columns, primary key and indexes."""

    key: str
    columns: str
    indexes: tuple[tuple[str, str], ...] = ()  # (suffix, "col, col [WHERE ...]")

    def name(self, version: int) -> str:
        return f"rm_{self.key}_v{version}"


class PositionMoved(RuntimeError):
    """The tracking position changed under a batch (another worker got there first)."""

    def __init__(self, expected: int, found: int | None) -> None:
        super().__init__(f"tracking position is {found}, not {expected}")
        self.found = found


def tracking_table(projection: str, version: int) -> str:
    return f"rm_{projection}_v{version}_tracking"


def _rows(cursor: Any) -> list[dict[str, Any]]:
    return [r if isinstance(r, dict) else dict(r) for r in cursor.fetchall()]


class ReadModelView:
    """What both back ends' views share: tables, batch commit with tracking, reads."""

    dialect: Dialect
    datastore: Any

    def _init_view(self, projection: str, version: int, tables: Sequence[Table], indexes: bool) -> None:
        self.projection_name = projection
        self.version = version
        self.table_specs = tuple(tables)
        self.tables = {t.key: t.name(version) for t in tables}
        self.tracking_table_name = tracking_table(projection, version)
        self.with_indexes = indexes

    # ----------------------------------------------------------------- DDL
    def table_statements(self) -> list[str]:
        out = [self.dialect.ddl(f"CREATE TABLE IF NOT EXISTS {self.tables[t.key]} ({t.columns})")
               for t in self.table_specs]
        return out + (self.index_statements() if self.with_indexes else [])

    def index_statements(self) -> list[str]:
        out = []
        for t in self.table_specs:
            name = self.tables[t.key]
            for suffix, cols in t.indexes:
                columns, _, where = cols.partition(" WHERE ")
                stmt = f"CREATE INDEX IF NOT EXISTS {name}_{suffix} ON {name} ({columns})"
                out.append(stmt + (f" WHERE {where}" if where else ""))
        return out

    def setup(self) -> None:
        """Create the tables (and the tracking row at position 0) if missing."""
        # One process at a time (domain/schema.py): concurrent CREATE TABLE IF NOT
        # EXISTS of the same table collide in PostgreSQL's catalog.
        with schema_lock(self.datastore):
            _retrying(self.create_table)  # the library's: tracking table plus our statements
        with self.datastore.transaction(commit=True) as c:
            c.execute(self.dialect.sql(
                f"INSERT INTO {self.tracking_table_name} (application_name, notification_id) "
                f"VALUES (?, 0) ON CONFLICT (application_name) DO NOTHING"), (APP_NAME,))

    def create_indexes(self) -> None:
        for stmt in self.index_statements():  # one transaction each: SQLite's write lock is released between
            with self.datastore.transaction(commit=True) as c:
                c.execute(stmt)

    def drop(self) -> None:
        with self.datastore.transaction(commit=True) as c:
            for name in [*self.tables.values(), self.tracking_table_name]:
                c.execute(f"DROP TABLE IF EXISTS {name}")

    # -------------------------------------------------------------- access
    def position(self) -> int:
        return self.max_tracking_id(APP_NAME) or 0  # type: ignore[attr-defined]

    def read(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(self.dialect.sql(sql), tuple(params))
            return _rows(c)

    def commit(self, write: Callable[[Any], None], last: int, after: int | None) -> None:
        """Run ``write(cursor)`` and move tracking to ``last``, atomically.

        With ``after``, first lock the tracking row and check it still says
        ``after`` (else ``PositionMoved``, and nothing is written)."""
        with self._transaction() as c:
            if after is not None:
                found = self._claim(c)
                if found != after:
                    raise PositionMoved(after, found)
            write(c)
            self._insert_tracking(c, Tracking(APP_NAME, last))  # type: ignore[attr-defined]

    def _transaction(self) -> Any:
        return self.datastore.transaction(commit=True)

    def _claim(self, c: Any) -> int | None:
        t = self.tracking_table_name
        if self.dialect is SQLITE:
            # A write first, so the transaction holds SQLite's write lock
            # before it reads the position (no stale snapshot).
            c.execute(f"UPDATE {t} SET notification_id = notification_id WHERE application_name = ?", (APP_NAME,))
        c.execute(self.dialect.sql(
            f"SELECT notification_id FROM {t} WHERE application_name = ?{self.dialect.for_update}"), (APP_NAME,))
        row = c.fetchone()
        return None if row is None else int(row["notification_id"])

    def executemany(self, c: Any, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            c.executemany(self.dialect.sql(sql), rows)

    def insert_rows(self, c: Any, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Plain inserts of new rows (no conflicts possible: tracking makes them once-only)."""
        self.executemany(c, f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                         rows)

    def upsert_rows(self, c: Any, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]],
                    conflict: str) -> None:
        """Insert rows (at most one per key), ``conflict`` saying what to do with existing
        ones: ``ON CONFLICT (key) DO UPDATE SET ...``."""
        self.executemany(c, f"INSERT INTO {table} ({', '.join(columns)}) "
                            f"VALUES ({', '.join('?' * len(columns))}) {conflict}", rows)


def commit_together(parts: Sequence[tuple[ReadModelView, Callable[[Any], None], int]], last: int) -> None:
    """Several views' batches (one database) and their tracking, in ONE transaction:
    ``parts`` is ``(view, write, after)`` as for ``ReadModelView.commit``."""
    with parts[0][0]._transaction() as c:
        for view, write, after in parts:
            found = view._claim(c)
            if found != after:
                raise PositionMoved(after, found)
            write(c)
            view._insert_tracking(c, Tracking(APP_NAME, last))  # type: ignore[attr-defined]


class SQLiteView(ReadModelView, SQLiteTrackingRecorder):
    dialect = SQLITE

    def __init__(self, datastore: SQLiteDatastore, *, projection: str, version: int,
                 tables: Sequence[Table], indexes: bool = True) -> None:
        if not datastore.single_row_tracking:
            raise ValueError("read models need the library's single-row tracking")
        self._init_view(projection, version, tables, indexes)
        super().__init__(datastore)
        t = self.tracking_table_name
        self.insert_tracking_statement = (
            f"INSERT INTO {t} VALUES (:application_name, :notification_id) "
            f"ON CONFLICT (application_name) DO UPDATE SET notification_id = :notification_id "
            f"WHERE {t}.notification_id < :notification_id RETURNING notification_id")
        self.select_max_tracking_id_statement = f"SELECT MAX(notification_id) FROM {t} WHERE application_name=?"

    def construct_create_table_statements(self) -> list[str]:
        return [
            f"CREATE TABLE IF NOT EXISTS {self.tracking_table_name} (application_name TEXT, "
            "notification_id INTEGER, PRIMARY KEY (application_name)) WITHOUT ROWID",
            *self.table_statements(),
        ]


class PostgresView(ReadModelView, PostgresTrackingRecorder):
    dialect = POSTGRES

    def insert_rows(self, c: Any, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        if rows:  # COPY: several times faster than INSERTs for a rebuild's many rows
            with c.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)

    def upsert_rows(self, c: Any, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]],
                    conflict: str) -> None:
        if len(rows) < 20:
            super().upsert_rows(c, table, columns, rows, conflict)
            return
        # COPY into a session-local staging table, then one INSERT ... SELECT ... ON CONFLICT.
        stage = f"{table}_stage"
        c.execute(f"CREATE TEMP TABLE IF NOT EXISTS {stage} (LIKE {table} INCLUDING DEFAULTS) "
                  "ON COMMIT DELETE ROWS")
        self.insert_rows(c, stage, columns, rows)
        cols = ", ".join(columns)
        c.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {stage} {conflict}")

    @contextmanager
    def _transaction(self) -> Iterator[Any]:
        # Losing the last read-model commits in a crash is harmless (rows and
        # tracking go together; the worker redoes them): no wait for the WAL flush.
        with self.datastore.transaction(commit=True) as c:
            c.execute("SET LOCAL synchronous_commit TO OFF")
            yield c

    def __init__(self, datastore: PostgresDatastore, *, projection: str, version: int,
                 tables: Sequence[Table], indexes: bool = True) -> None:
        self._init_view(projection, version, tables, indexes)
        super().__init__(datastore, tracking_table_name=self.tracking_table_name)
        self.sql_create_statements.extend(SQL(s) for s in self.table_statements())  # type: ignore[arg-type]


class Store:
    """One database as the read models use it: the library's datastore, the
    dialect, views by (projection, version), and the ``rm_active`` pointers."""

    def __init__(self, factory: Any, *, owned: bool) -> None:
        self.factory = factory
        self.datastore = factory.datastore
        self.dialect = SQLITE if isinstance(self.datastore, SQLiteDatastore) else POSTGRES
        self._owned = owned
        if self.dialect is SQLITE:
            _configure_sqlite_pool(self.datastore.pool)
        self._ensure_pointer_table()

    @classmethod
    def for_url(cls, url: str) -> Store:
        return cls(InfrastructureFactory.construct(Environment(env={**env_for_url(url), **POOL})), owned=True)

    @classmethod
    def for_app(cls, app: Any) -> Store:
        """The application's database, with a (small) connection pool of its own."""
        env = app.env
        return cls(InfrastructureFactory.construct(Environment(env.name, {**env, **POOL})), owned=True)

    def close(self) -> None:
        if self._owned:
            self.factory.close()

    def view(self, projection: str, version: int, tables: Sequence[Table], *, indexes: bool = True,
             setup: bool = True) -> ReadModelView:
        cls = SQLiteView if self.dialect is SQLITE else PostgresView
        view = cls(self.datastore, projection=projection, version=version, tables=tables, indexes=indexes)
        if setup:
            view.setup()
        return view

    # ------------------------------------------------------------ reading
    def read(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(self.dialect.sql(sql), tuple(params))
            return _rows(c)

    def execute(self, statements: Iterable[tuple[str, Sequence[Any]]]) -> None:
        with self.datastore.transaction(commit=True) as c:
            for sql, params in statements:
                c.execute(self.dialect.sql(sql), tuple(params))

    # ----------------------------------------------------------- pointers
    def _ensure_pointer_table(self) -> None:
        ddl = self.dialect.ddl(f"CREATE TABLE IF NOT EXISTS {ACTIVE} (projection {{KEY}} PRIMARY KEY, "
                               "version {INT} NOT NULL, building {INT}, switched_at {TS})")
        with schema_lock(self.datastore):  # see ReadModelView.setup
            _retrying(lambda: self.execute([(ddl, ())]))

    def pointers(self) -> dict[str, tuple[int, int | None]]:
        """projection -> (active version, version being rebuilt or None)."""
        return {r["projection"]: (int(r["version"]), None if r["building"] is None else int(r["building"]))
                for r in self.read(f"SELECT projection, version, building FROM {ACTIVE}")}

    def claim_initial(self, projection: str) -> int:
        """The active version, making version 1 active if there is none."""
        self.execute([(f"INSERT INTO {ACTIVE} (projection, version, building, switched_at) "
                       "VALUES (?, 1, NULL, ?) ON CONFLICT (projection) DO NOTHING", (projection, _now()))])
        return self.pointers()[projection][0]

    def start_building(self, projection: str) -> tuple[int, bool]:
        """The version a rebuild fills, and whether it continues an unfinished one."""
        active = self.claim_initial(projection)
        with self.datastore.transaction(commit=True) as c:
            c.execute(self.dialect.sql(f"UPDATE {ACTIVE} SET building = ? WHERE projection = ? AND building IS NULL"),
                      (active + 1, projection))
            started = bool(getattr(c, "sqlite_cursor", c).rowcount)
        building = self.pointers()[projection][1]
        assert building is not None
        return building, not started

    def switch(self, projection: str, version: int) -> bool:
        """Make ``version`` (the one being built) serve reads; False if it is not the one."""
        with self.datastore.transaction(commit=True) as c:
            c.execute(self.dialect.sql(
                f"UPDATE {ACTIVE} SET version = ?, building = NULL, switched_at = ? "
                "WHERE projection = ? AND building = ?"), (version, _now(), projection, version))
            return bool(getattr(c, "sqlite_cursor", c).rowcount)

    def versions_present(self, projection: str) -> set[int]:
        """Versions of ``projection`` whose tracking table exists."""
        if self.dialect is SQLITE:
            names = [r["name"] for r in self.read("SELECT name FROM sqlite_master WHERE type = 'table'")]
        else:
            names = [r["name"] for r in self.read(
                "SELECT tablename AS name FROM pg_tables WHERE schemaname = current_schema()")]
        pattern = re.compile(rf"^rm_{re.escape(projection)}_v(\d+)_tracking$")
        return {int(m.group(1)) for m in map(pattern.match, names) if m}


def _configure_sqlite_pool(pool: Any) -> None:
    """Settings for every connection of a read-model store's own SQLite pool.

    synchronous=NORMAL: read-model commits may be lost on power failure without
    harm (rows and tracking go together, WAL stays consistent, the worker redoes
    them), so no fsync per commit. A larger page cache for big rebuilds. secure_delete: the
    space of deleted and overwritten rows is zeroed (personal values blanked on erasure)."""
    create = pool._create_connection

    def configured() -> Any:
        conn = create()
        conn._sqlite_conn.execute("PRAGMA synchronous=NORMAL")
        conn._sqlite_conn.execute("PRAGMA secure_delete=ON")  # blanked personal values leave no trace (issue 21)
        conn._sqlite_conn.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
        return conn

    pool._create_connection = configured


def _now() -> str:
    return datetime.now(UTC).isoformat()


def table_names(tables: Sequence[Table], version: int) -> Mapping[str, str]:
    return {t.key: t.name(version) for t in tables}

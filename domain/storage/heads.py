"""Read one stored event per aggregate, many aggregates per query.

``select_heads(recorder, versions)`` returns ``{originator_id: (version,
topic, state)}`` for the stored event of each ``originator_id`` at the
given version (absent when there is none). On the library's PostgreSQL and
SQLite recorders it asks for up to ``CHUNK`` aggregates in one statement
(``(originator_id, originator_version) IN (...)``, the primary key); on any
other recorder it falls back to one ``select_events`` per aggregate. Used by
the incremental verify (``domain.audit.verification``) to check every signed
head without one round trip each.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID

from eventsourcing.postgres import PostgresAggregateRecorder
from eventsourcing.sqlite import SQLiteAggregateRecorder
from psycopg.sql import SQL, Identifier

CHUNK = 500
Head = tuple[int, str, bytes]


def select_heads(recorder: Any, versions: Mapping[UUID, int]) -> dict[UUID, Head]:
    items = list(versions.items())
    out: dict[UUID, Head] = {}
    for i in range(0, len(items), CHUNK):
        chunk = items[i:i + CHUNK]
        if isinstance(recorder, PostgresAggregateRecorder):
            out.update(_postgres(recorder, chunk))
        elif isinstance(recorder, SQLiteAggregateRecorder):
            out.update(_sqlite(recorder, chunk))
        else:
            for oid, version in chunk:
                rows = recorder.select_events(oid, gt=version - 1, lte=version)
                if rows and rows[0].originator_version == version:
                    out[oid] = (version, rows[0].topic, bytes(rows[0].state))
    return out


def _postgres(recorder: PostgresAggregateRecorder, chunk: list[tuple[UUID, int]]) -> dict[UUID, Head]:
    statement = SQL(
        "SELECT originator_id, originator_version, topic, state FROM {schema}.{table} "
        "WHERE (originator_id, originator_version) IN (SELECT * FROM unnest(%s::uuid[], %s::bigint[]))"
    ).format(schema=Identifier(recorder.datastore.schema), table=Identifier(recorder.events_table_name))
    with recorder.datastore.get_connection() as conn, conn.cursor() as curs:
        curs.execute(statement, ([oid for oid, _v in chunk], [v for _oid, v in chunk]))
        return {UUID(str(r["originator_id"])): (int(r["originator_version"]), str(r["topic"]), bytes(r["state"]))
                for r in curs.fetchall()}


def _sqlite(recorder: SQLiteAggregateRecorder, chunk: list[tuple[UUID, int]]) -> dict[UUID, Head]:
    values = ",".join("(?,?)" for _ in chunk)
    params: list[Any] = []
    for oid, version in chunk:
        params += [oid.hex, version]
    statement = (f"SELECT originator_id, originator_version, topic, state FROM {recorder.events_table_name} "
                 f"WHERE (originator_id, originator_version) IN (VALUES {values})")
    with recorder.datastore.transaction(commit=False) as c:
        c.execute(statement, params)
        return {UUID(str(r["originator_id"])): (int(r["originator_version"]), str(r["topic"]), bytes(r["state"]))
                for r in c.fetchall()}

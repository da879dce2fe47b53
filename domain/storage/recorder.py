"""PostgreSQL events recorder: a command's events in one round trip, same guarantees.

The library's ``PostgresApplicationRecorder`` writes a command's events as
a pipelined transaction (BEGIN; SET LOCAL lock_timeout; LOCK TABLE ... IN
EXCLUSIVE MODE; NOTIFY; INSERT ... RETURNING; then COMMIT): two round trips
and, measured, about a third of a millisecond of client-side work per
command. ``OneTripRecorder`` does exactly that work in one server-side
function called in autocommit mode: one statement, one round trip (with
scalar parameters when, as for most commands, there is one event). The
function takes the same EXCLUSIVE table lock (notification ids are still
committed in the order they are issued, so a reader tailing the log never
passes an id that commits later), notifies the same channel, inserts the
rows (from four typed arrays) and returns their notification ids; the
statement's implicit transaction commits before it returns. A duplicate
(originator_id, originator_version) raises the library's ``IntegrityError``
as before. Same table, same rows: everything that reads the events table is
unaffected.

A lost connection is retried (as the library does), but a retry never
records a command twice: when the connection failed after the statement
went out, the statement may have committed and only its answer been lost;
the retry then finds its own rows already there (byte for byte) and returns
their notification ids instead of reporting a conflict, which would have
made the application decide the command again (a second case, or the same
action twice).

Commands a process saves at the same moment share one statement, one lock
and one commit (``domain.storage.group_commit``); a group that fails is
written again command by command, so each gets its own answer.
``CASETRAIL_GROUP_COMMIT=off`` writes every command on its own.

Selected with the library's ``APPLICATION_RECORDER_TOPIC`` setting
(``domain.storage.database.env_for_url``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any

import structlog
from eventsourcing.persistence import IntegrityError, InterfaceError, OperationalError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Identifier

from domain.storage.group_commit import GroupCommit

TOPIC = "domain.storage.recorder:OneTripRecorder"
ATTEMPTS, WAIT_SECONDS = 10, 0.2  # as the library's own retry of a write
log = structlog.get_logger("casetrail.storage")


class OneTripRecorder(PostgresApplicationRecorder):
    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events") -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        self.insert_function_name = f"{events_table_name}_insert"
        self.check_identifier_length(self.insert_function_name + "_one")
        names = {
            "schema": Identifier(datastore.schema),
            "table": Identifier(events_table_name),
            "many": Identifier(self.insert_function_name),
            "one": Identifier(self.insert_function_name + "_one"),
            "channel": Identifier(self.channel_name),
            "lock_timeout": SQL(str(int(datastore.lock_timeout))),
        }
        body = (
            "RETURNS SETOF bigint LANGUAGE plpgsql AS $BODY$ "
            "BEGIN "
            "  SET LOCAL lock_timeout = '{lock_timeout}s'; "
            "  LOCK TABLE {schema}.{table} IN EXCLUSIVE MODE; "
            "  NOTIFY {channel}; "
            "  RETURN QUERY INSERT INTO {schema}.{table} (originator_id, originator_version, topic, state) "
            "    {rows} RETURNING notification_id; "
            "END; $BODY$"
        )
        self.sql_create_statements.append(SQL(
            "CREATE OR REPLACE FUNCTION {schema}.{many}(ids uuid[], versions bigint[], topics text[], "
            "states bytea[]) " + body
        ).format(rows=SQL("SELECT * FROM unnest(ids, versions, topics, states)"), **names))
        self.sql_create_statements.append(SQL(
            "CREATE OR REPLACE FUNCTION {schema}.{one}(id uuid, version bigint, topic text, state bytea) " + body
        ).format(rows=SQL("VALUES (id, version, topic, state)"), **names))
        # rendered once: a composed statement is rendered again on every execute
        self.insert_many = SQL(
            "SELECT t.notification_id FROM {schema}.{many}"
            "(%s::uuid[], %s::bigint[], %s::text[], %s::bytea[]) AS t(notification_id)"
        ).format(**names).as_string(None)
        self.insert_one = SQL(
            "SELECT t.notification_id FROM {schema}.{one}(%s, %s, %s, %s) AS t(notification_id)"
        ).format(**names).as_string(None)
        grouped = os.environ.get("CASETRAIL_GROUP_COMMIT", "on").lower() not in ("off", "0", "no", "false")
        self._group: GroupCommit[StoredEvent] | None = GroupCommit(self._insert, self._insert_alone) \
            if grouped else None
        self.select_recorded = SQL(
            "SELECT notification_id, topic, state FROM {schema}.{table} "
            "WHERE originator_id = %s AND originator_version = %s"
        ).format(**names)

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        """Insert, retrying a lost connection; a retry never records the events twice.

        When a connection fails after the statement went out, it may have
        committed (the answer was lost). The retry then meets its own rows
        (``IntegrityError``): if every one of them is there, byte for byte,
        the first attempt did commit, and their notification ids are the
        answer. Anything else is a real conflict."""
        if kwargs.get("tracking") is not None:  # process applications: the library's way
            return super().insert_events(stored_events, **kwargs)
        if not stored_events:
            return []
        if self._group is not None:
            return self._group.submit(stored_events)
        return self._insert_alone(stored_events, False)

    def _insert_alone(self, stored_events: Sequence[StoredEvent], uncertain: bool) -> list[int]:
        """One command's events, retrying a lost connection; ``uncertain``: an earlier attempt
        (a group holding them) may have committed."""
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return self._insert(stored_events)
            except IntegrityError:
                recorded = self._recorded(stored_events) if uncertain else None
                if recorded is None:
                    raise
                log.warning("write confirmed after its answer was lost", events=len(stored_events))
                return recorded
            except (InterfaceError, OperationalError):
                if attempt == ATTEMPTS:
                    raise
                uncertain = True
                time.sleep(WAIT_SECONDS)
        raise AssertionError("unreachable")  # pragma: no cover

    def _insert(self, stored_events: Sequence[StoredEvent]) -> list[int]:
        if len(stored_events) == 1:
            e = stored_events[0]
            statement, params = self.insert_one, (e.originator_id, e.originator_version, e.topic, e.state)
        else:
            statement, params = self.insert_many, (
                [e.originator_id for e in stored_events],
                [e.originator_version for e in stored_events],
                [e.topic for e in stored_events],
                [e.state for e in stored_events],
            )
        with self.datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as curs:
            curs.execute(statement, params, prepare=True)
            return [row[0] for row in curs.fetchall()]

    def _recorded(self, stored_events: Sequence[StoredEvent]) -> list[int] | None:
        """The notification ids of exactly these events, if all are stored as given; else None."""
        ids = []
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            for e in stored_events:
                curs.execute(self.select_recorded, (e.originator_id, e.originator_version))
                row = curs.fetchone()
                if row is None or row["topic"] != e.topic or bytes(row["state"]) != bytes(e.state):
                    return None
                ids.append(row["notification_id"])
        return ids

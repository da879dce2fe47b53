"""The access ledger: who read what (reviewers' reads of a case's history,
exports, verifications), kept apart from the cases so that reading never
changes a case's version.

``AccessLedger`` is a separate eventsourcing Application named
``AccessLedger`` with its own tables in the same database: PostgreSQL
``accessledger_events``, SQLite ``access_events`` (the library's SQLite
factory always names the application table ``stored_events``, so a recorder
subclass supplies the name). Its events are msgpack and hash-chained like the
cases', so ``domain.audit.verification.verify(ledger)`` checks them too. One ``AccessLog``
aggregate per subject (a case id, or a name such as ``audit-events``)
records each ``Read``: actor, roles, what was read, details, and the usual
event metadata.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate, event
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteDatastore

from domain.model.actor import Actor, CommandContext, event_meta, stable_id
from domain.model.errors import InvalidFields, VersionConflict
from domain.model.moments import utc_now
from domain.model.topics import register_moved
from domain.storage.chained import ChainedApplication
from domain.storage.database import database_url, env_for_url
from domain.storage.history import case_history, jsonable
from domain.storage.retry import retrying

SQLITE_TABLE = "access_events"
SHARED_KEYS = ("PERSISTENCE_MODULE", "CREATE_TABLE", "AGGREGATE_CACHE_MAXSIZE")
SHARED_PREFIXES = ("SQLITE_", "POSTGRES_")


class AccessSQLiteRecorder(SQLiteApplicationRecorder):
    """The library's SQLite application recorder on the ``access_events`` table."""

    def __init__(self, datastore: SQLiteDatastore, events_table_name: str = SQLITE_TABLE) -> None:
        super().__init__(datastore, events_table_name)


class AccessLog(Aggregate):
    """Every read of one subject."""

    @staticmethod
    def create_id(subject: str) -> UUID:
        return stable_id("access-log", subject)

    @event("Started")
    def __init__(self, subject: str) -> None:
        self.subject = subject
        self.reads = 0
        self.head_hash: str | None = None

    @event("Read")
    def read(self, actor: str, roles: list[str], what: str, detail: dict[str, Any], meta: dict[str, Any]) -> None:
        self.reads += 1


class AccessLedger(ChainedApplication):
    """A separate application (own tables) recording who read what, stored and chained
    like the cases (``ChainedApplication``)."""

    name = "AccessLedger"

    def __init__(self, env: Mapping[str, str] | None = None, *, clock: Callable[[], datetime] = utc_now) -> None:
        self.clock = clock
        env = dict(env or {})
        module = env.get("PERSISTENCE_MODULE") or os.environ.get(f"{self.name.upper()}_PERSISTENCE_MODULE") \
            or os.environ.get("PERSISTENCE_MODULE")
        if module == "eventsourcing.sqlite":
            env["APPLICATION_RECORDER_TOPIC"] = f"{__name__}:{AccessSQLiteRecorder.__qualname__}"
        super().__init__(env)

    @classmethod
    def from_url(cls, url: str | None = None, **kwargs: Any) -> AccessLedger:
        return cls(env_for_url(url or database_url()), **kwargs)

    @classmethod
    def for_app(cls, app: Application[UUID]) -> AccessLedger:
        """The access ledger in the same database as ``app``, on its clock."""
        env = {k: v for k, v in app.env.items() if k in SHARED_KEYS or k.startswith(SHARED_PREFIXES)}
        return cls(env, clock=getattr(app, "clock", utc_now))

    def record_read(self, actor: Actor, subject: str, what: str, detail: Mapping[str, Any] | None = None,
                    ctx: CommandContext = CommandContext()) -> int:
        """Record that ``actor`` read ``what`` of ``subject`` (e.g. a case id);
        returns the access log's new version."""
        if not isinstance(what, str) or not what or len(what) > 64:
            raise InvalidFields("what: must be a short name such as 'history' or 'export'",
                                errors=[{"field": "what", "problem": "1-64 characters"}])
        subject = str(subject)

        def once(_fresh: bool) -> int:
            try:
                log = self.load(AccessLog.create_id(subject))
            except AggregateNotFoundError:
                log = AccessLog(subject=subject)
            log.read(actor=actor.id, roles=list(actor.roles), what=what, detail=jsonable(dict(detail or {})),
                     meta=event_meta(actor, self.clock(), ctx))
            self.save(log)  # a concurrent read of the same subject recorded first: decided again
            return int(log.version)

        return retrying(once, give_up=lambda: VersionConflict(f"could not record the read of {subject}; try again"))

    def reads_of(self, subject: str) -> list[dict[str, Any]]:
        """Every recorded read of ``subject``, oldest first."""
        stored = self.recorder.select_events(AccessLog.create_id(str(subject)))
        return [_read_entry(e) for e in case_history(self.mapper, stored) if e["type"] == "Read"]


def _read_entry(entry: dict[str, Any]) -> dict[str, Any]:
    data = entry["data"]
    return {"at": entry["occurred_at"], "actor": data.get("actor"), "roles": data.get("roles"),
            "what": data.get("what"), "detail": data.get("detail"), "correlation_id": entry["correlation_id"],
            "hash": entry["hash"]}


def record_read(app: Any, actor: Actor, subject: Any, what: str,
                detail: Mapping[str, Any] | None = None, ctx: CommandContext = CommandContext()) -> int:
    """Record a read through the access ledger of ``app`` (``CaseTrail.access_ledger``)."""
    ledger: AccessLedger = app.access_ledger
    return ledger.record_read(actor, str(subject), what, detail, ctx)


# Events stored before the domain became packages name this module by its old path.
register_moved(__name__)

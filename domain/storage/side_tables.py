"""Small tables of casetrail's own beside the events table (subject keys, webhooks), on both databases.

``SideTable`` creates its tables under the schema lock (``domain.storage.schema``)
and runs statements written with ``?`` placeholders on SQLite and PostgreSQL
alike: ``_rows`` reads (rows as dicts), ``_write`` writes in a transaction of
its own and returns the row count.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from domain.storage.schema import schema_lock


class SideTable:
    def __init__(self, datastore: Any, ddl: Sequence[str]) -> None:
        self.datastore = datastore
        self.sqlite = not type(datastore).__name__.startswith("Postgres")
        with schema_lock(datastore):
            with datastore.transaction(commit=True) as c:
                for statement in ddl:
                    c.execute(statement)

    def _sql(self, text: str) -> str:
        return text if self.sqlite else text.replace("?", "%s")

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(self._sql(sql), tuple(params))
            return [dict(r) for r in c.fetchall()]

    def _write(self, sql: str, params: Sequence[Any]) -> int:
        with self.datastore.transaction(commit=True) as c:
            c.execute(self._sql(sql), tuple(params))
            return int(getattr(c, "sqlite_cursor", c).rowcount)

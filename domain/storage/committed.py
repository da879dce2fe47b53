"""Committed cases: private copies of the cases this process saved last.

``CaseTrail.act`` decides a command on a copy of the case as this process
last committed it, so a command costs no read. The copy may be behind when
another process wrote the case since; then the save fails on the version
(the event store's optimistic check, a unique (id, version) key), so nothing
is ever recorded on a stale state, and ``act`` forgets the copy and decides
again on a fresh load. Copies are kept and handed out as deep copies
(``domain.model.copying``): what a caller does with a case never reaches them.
"""

from __future__ import annotations

from contextlib import suppress
from copy import deepcopy
from typing import Any
from uuid import UUID

from eventsourcing.application import LRUCache


class CommittedCases:
    def __init__(self, maxsize: int) -> None:
        self._cache: LRUCache[UUID, Any] = LRUCache(maxsize=maxsize)

    def remember(self, case: Any) -> None:
        """Keep a copy of a just-committed case (unless a newer one is kept already)."""
        try:
            kept = self._cache.get(case.id)
        except KeyError:
            kept = None
        if kept is None or kept.version < case.version:
            self._cache.put(case.id, deepcopy(case))

    def checkout(self, case_id: UUID | str) -> Any | None:
        """A copy to decide a command on, or None when no copy is kept."""
        try:
            cid = case_id if isinstance(case_id, UUID) else UUID(str(case_id))
            kept = self._cache.get(cid)
        except (KeyError, ValueError, TypeError):
            return None
        return None if kept is None else deepcopy(kept)

    def forget(self, case_id: UUID) -> None:
        with suppress(KeyError):
            self._cache.get(case_id, evict=True)

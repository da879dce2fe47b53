"""Group commit: the commands a process saves at the same moment share one transaction.

Every write to the events table takes its EXCLUSIVE lock and holds it through
the commit (``domain.storage.recorder``: readers tailing the log must never
pass a notification id that commits later). Writers therefore serialise on
the lock, and each pays its own round trip and its own commit (an fsync).
``GroupCommit`` lets them share those: the first writer to arrive becomes the
leader and writes its events; the writers that arrive while it is writing
queue up, and the next leader (the first of them) writes all their events in
one statement — one lock, one commit for the whole group — and hands each
writer its own notification ids. A lone writer goes straight through; nobody
waits for company.

A group is all or nothing like a single command, so one command's conflict
(a duplicate ``(originator_id, originator_version)``: it decided on a stale
copy) would refuse its companions too. When a group's statement fails, each
of its commands is written again on its own, so each gets exactly the
answer it would have had alone: its ids, its conflict, or its error.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
Batch = Sequence[T]


class _Slot(Generic[T]):
    __slots__ = ("items", "ids", "error", "done", "lead")

    def __init__(self, items: Batch[T]) -> None:
        self.items = items
        self.ids: list[int] | None = None
        self.error: BaseException | None = None
        self.done = threading.Event()
        self.lead = False  # woken to lead the next group rather than with an answer


class GroupCommit(Generic[T]):
    """``submit(items)`` writes ``items`` (one command's events) with whatever else is waiting.

    ``write_group(items)`` writes the concatenation of several commands' items in one
    transaction, returning their ids in order; ``write_alone(items, after_failed_group)``
    writes one command's items, and is told when a group holding them failed (the group
    may have committed before its answer was lost)."""

    def __init__(self, write_group: Callable[[Batch[T]], list[int]],
                 write_alone: Callable[[Batch[T], bool], list[int]], max_group: int = 64) -> None:
        self._write_group = write_group
        self._write_alone = write_alone
        self._max_group = max_group
        self._lock = threading.Lock()
        self._queue: list[_Slot[T]] = []
        self._leading = False
        self.statements = 0  # writes issued (groups and lone commands), for tests and metrics
        self.commands = 0  # commands written

    def submit(self, items: Batch[T]) -> list[int]:
        slot: _Slot[T] = _Slot(items)
        with self._lock:
            if self._leading:
                self._queue.append(slot)
                group: list[_Slot[T]] | None = None
            else:
                self._leading = True
                group = [slot]
        if group is None:
            slot.done.wait()
            if not slot.lead:
                return self._answer(slot)
            with self._lock:  # promoted: lead the group that queued behind the last one
                group, self._queue = self._queue[:self._max_group], self._queue[self._max_group:]
        try:
            self._write(group)
        finally:
            self._hand_over()
        return self._answer(slot)

    def _hand_over(self) -> None:
        with self._lock:
            if not self._queue:
                self._leading = False
                return
            nxt = self._queue[0]
        nxt.lead = True
        nxt.done.set()

    def _write(self, group: list[_Slot[T]]) -> None:
        if len(group) == 1:
            self._alone(group[0], after_failed_group=False)
            return
        items = [item for s in group for item in s.items]
        self.statements += 1
        try:
            ids = self._write_group(items)
        except Exception:  # noqa: BLE001 - each command is written again and gets its own answer
            for s in group:
                self._alone(s, after_failed_group=True)
            return
        except BaseException as e:  # interrupted: nobody may be left waiting
            for s in group:
                s.error, s.lead = e, False
                s.done.set()
            raise
        self.commands += len(group)
        at = 0
        for s in group:
            s.ids, at = ids[at:at + len(s.items)], at + len(s.items)
            s.lead = False
            s.done.set()

    def _alone(self, slot: _Slot[T], after_failed_group: bool) -> None:
        self.statements += 1
        try:
            slot.ids = self._write_alone(slot.items, after_failed_group)
            self.commands += 1
        except BaseException as e:  # noqa: BLE001 - handed to the writer it belongs to
            slot.error = e
        slot.lead = False
        slot.done.set()

    @staticmethod
    def _answer(slot: _Slot[T]) -> list[int]:
        if slot.error is not None:
            raise slot.error
        assert slot.ids is not None
        return slot.ids

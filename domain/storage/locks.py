"""Per-key locks: this process's writers of one aggregate take turns.

Two threads of one process writing the same case (or allocating numbers
from the same series) would both decide on the same version and all but
one would fail the event store's version check and decide again: with the
server's 40 worker threads on one hot case, a command could lose that race
more times than ``CaseTrail`` retries and be refused although nothing was
wrong with it. Taking a lock per aggregate first makes such writers queue
in the process instead; the store's version check still settles races with
other processes (and those are retried as before). A lock lives only while
some thread holds it or waits for it.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Hashable


class KeyedLocks:
    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: weakref.WeakValueDictionary[Hashable, threading.Lock] = weakref.WeakValueDictionary()

    def __call__(self, key: Hashable) -> threading.Lock:
        """The lock for ``key`` (the same object for as long as anyone holds a reference to it)."""
        with self._guard:
            lock = self._locks.get(key)
            if lock is None:
                lock = threading.Lock()
                self._locks[key] = lock
            return lock

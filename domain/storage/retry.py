"""Writing under optimistic concurrency: decide, save, and decide again when another writer won.

A command is decided on the state it loaded and saved with the version it
expects; when another process saved first, the save fails with the
library's ``IntegrityError`` and nothing is recorded. ``retrying`` runs
one attempt (``once(fresh)``) until it saves: after a lost race it waits
a random, growing while (``backoff``: at most 50 ms, so competitors do
not collide again in step) and tries again, for up to ``RETRY_SECONDS``.
An attempt that decided on a cached copy which may be behind raises
``Stale`` and is decided again at once on the stored state (``fresh``).
A conditional command (an ``If-Match`` version) is not retried after a
lost race: ``on_conflict`` says what to raise instead.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

from eventsourcing.persistence import IntegrityError

T = TypeVar("T")
# A command that keeps losing write races to other processes is tried again
# (after a random, growing pause) for up to RETRY_SECONDS, then refused (409).
RETRY_SECONDS, MAX_ATTEMPTS = 5.0, 500


class Stale(Exception):
    """The attempt decided on a copy that may be behind: decide again on the stored state."""


def attempts() -> Iterator[int]:
    deadline = time.monotonic() + RETRY_SECONDS
    for attempt in range(MAX_ATTEMPTS):
        yield attempt
        if time.monotonic() > deadline:
            return


def backoff(attempt: int) -> None:
    """After losing a write race to another process: wait a random, growing while (at most 50 ms)."""
    time.sleep(random.uniform(0, min(0.05, 0.001 * 2 ** attempt)))


def retrying(once: Callable[[bool], T], *, give_up: Callable[[], Exception], fresh: bool = False,
             on_conflict: Callable[[], Exception] | None = None,
             after_conflict: Callable[[], None] | None = None) -> T:
    """``once(fresh)`` until it returns; ``give_up()`` is raised when the attempts run out.

    ``after_conflict`` runs after every lost race (e.g. to forget a cached copy);
    ``on_conflict``, when given, is raised instead of retrying a lost race."""
    for attempt in attempts():
        try:
            return once(fresh)
        except Stale:
            fresh = True
        except IntegrityError:
            fresh = True
            if after_conflict is not None:
                after_conflict()
            if on_conflict is not None:
                raise on_conflict() from None
            backoff(attempt)
    raise give_up()

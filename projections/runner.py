"""Feeding read models from the event log: the pump, the worker loop, catch-up.

``Pump`` reads the application's notification log in batches (up to
``batch_size`` notifications, decoded once) and hands each batch to every
read model that has not seen it; each commits its rows and tracking in one
transaction. ``Worker`` keeps the *active* version of some read models up
to date until stopped: it catches up by polling ``select_notifications``;
then, on SQLite (no subscriptions in the library), it keeps polling; on
PostgreSQL it follows the library's LISTEN/NOTIFY subscription
(``recorder.subscribe``), draining whatever has arrived into batches. It
notices when a rebuild switches a read model to a new version and moves to
it. Errors are retried with back-off; a second worker on the same read model
is harmless (the losing commit sees ``PositionMoved``).

A database that is unavailable (``domain.storage.pgstore.UNAVAILABLE``: an outage, a
restart) is not a bug: ``OutageLog`` reports it as one warning line per
thread (error type and first line of the message; a reminder each
``REMIND_SECONDS`` while it lasts), one info line when the database is back,
and the retry delay stays short (at most ``UNAVAILABLE_MAX_DELAY``) so the
worker catches up within seconds of the database coming back. Unexpected
errors keep their tracebacks and a back-off up to ``MAX_DELAY``. After an
outage the LISTEN/NOTIFY subscription is opened again on a new connection.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import structlog
from eventsourcing.persistence import Notification

from domain.storage.keys import scrub_sqlite_wal
from domain.storage.pgstore import UNAVAILABLE, unavailable_reason
from projections.base import Context, ReadModel
from projections.catalog import open_model, resolve
from projections.events import Event, decode
from projections.views import POSTGRES, PositionMoved, Store, commit_together

log = structlog.get_logger("casetrail.projections")
BATCH_SIZE = 500
POLL_SECONDS = 0.25
VERSION_CHECK_SECONDS = 1.0
FIRST_DELAY = 0.5            # the first retry after an error; doubled after each failure in a row
MAX_DELAY = 30.0             # ... up to this for unexpected errors
UNAVAILABLE_MAX_DELAY = 2.0  # ... and up to this while the database is unavailable: back soon after it is
REMIND_SECONDS = 60.0        # while the database stays unavailable, one more warning this often


class OutageLog:
    """How a background thread reports failures: a database that is unavailable as one
    warning when it goes (a reminder every ``REMIND_SECONDS`` while it stays away) and one
    info line when it is back; anything else as an error with its traceback."""

    def __init__(self, what: str, logger: Any = log) -> None:
        self.what = what
        self.log = logger.bind(worker=what)
        self.since: float | None = None  # when the database was first found unavailable
        self._warned = 0.0

    def failed(self, error: BaseException, retry_in: float) -> None:
        if not isinstance(error, UNAVAILABLE):
            self.log.error("failed; retrying", retry_in_s=round(retry_in, 1), exc_info=error)
            return
        now = time.monotonic()
        if self.since is None:
            self.since = self._warned = now
            self.log.warning("database unavailable; retrying until it is back", reason=unavailable_reason(error))
        elif now - self._warned >= REMIND_SECONDS:
            self._warned = now
            self.log.warning("database unavailable (still)", seconds=round(now - self.since),
                             reason=unavailable_reason(error))

    def succeeded(self) -> None:
        """The database answered: say so once if it had been unavailable."""
        if self.since is not None:
            self.log.info("database available again", seconds=round(time.monotonic() - self.since, 1))
            self.since = None


def retry_delay(error: BaseException, delay: float) -> float:
    """The delay before the next attempt (``delay`` capped for ``error``'s kind)."""
    return min(delay, UNAVAILABLE_MAX_DELAY if isinstance(error, UNAVAILABLE) else MAX_DELAY)


class Pump:
    """Batches of the log, decoded once, for several read models at their own positions."""

    def __init__(self, app: Any, models: Sequence[ReadModel], batch_size: int = BATCH_SIZE) -> None:
        self.app = app
        self.models = list(models)
        self.batch_size = batch_size

    @property
    def position(self) -> int:
        return min((m.position for m in self.models), default=0)

    def read(self, after: int) -> tuple[Sequence[Notification], list[Event]]:
        """The next batch of notifications after ``after``, and their decoded events."""
        notes = self.app.recorder.select_notifications(start=after, limit=self.batch_size, inclusive_of_start=False)
        return notes, [e for e in (decode(self.app.mapper, n) for n in notes) if e is not None]

    def step(self) -> int:
        """Process the next batch; the number of notifications read (0: caught up)."""
        notes, events = self.read(self.position)
        if notes:
            self.feed(notes, events)
        return len(notes)

    def catch_up(self, stop: threading.Event | None = None, on_batch: Callable[[int], None] | None = None) -> None:
        """Process batches until one comes back short (caught up) or ``stop`` is set."""
        while not (stop and stop.is_set()):
            n = self.step()
            if on_batch:
                on_batch(n)
            if n < self.batch_size:
                return

    def feed(self, notes: Sequence[Notification], events: list[Event] | None = None) -> None:
        last = notes[-1].id
        if events is None:
            events = [e for e in (decode(self.app.mapper, n) for n in notes) if e is not None]
        pending = [m for m in self.models if m.position < last]
        if len({id(m.view.datastore) for m in pending}) == 1 and len(pending) > 1:
            try:  # one transaction for all: fewer commits
                commit_together([(m.view, m.prepare(events).write, m.position) for m in pending], last)
            except Exception:
                log.debug("joint commit failed; committing read models one by one", exc_info=True)
            else:
                for m in pending:
                    m.position = last
                if any(e.type == "Erasure.Erased" for e in events):
                    scrub_sqlite_wal(pending[0].view.datastore)  # blanked rows' old page images (SQLite)
                return
        failure: Exception | None = None
        for model in pending:
            try:
                model.process(events, last)
            except PositionMoved:
                model.refresh_position()  # another worker got there first: carry on from there
            except UNAVAILABLE:
                raise  # the database went away: no use trying the others; the caller reports it once
            except Exception as e:  # keep the others going; the caller retries this one
                log.exception("read model failed", read_model=model.name, version=model.version,
                              position=model.position)
                failure = failure or e
        if failure:
            raise failure


class Worker:
    """Keeps the active versions of read models current until ``stop`` is set."""

    def __init__(self, app: Any, store: Store, names: Iterable[str] | None = None, *,
                 batch_size: int = BATCH_SIZE, poll_seconds: float = POLL_SECONDS,
                 stop: threading.Event | None = None) -> None:
        self.app = app
        self.store = store
        self.names = resolve(names, outboxes=True)
        self.context = Context.of(app)
        self.batch_size = batch_size
        self.poll_seconds = poll_seconds
        self.stop_event = stop or threading.Event()
        self.models: dict[str, ReadModel] = {}
        self.pump = Pump(app, [], batch_size)
        self._checked = 0.0

    def stop(self) -> None:
        self.stop_event.set()

    def sync_versions(self) -> bool:
        """Follow ``rm_active``; True if some read model changed version."""
        self._checked = time.monotonic()
        pointers = self.store.pointers()
        changed = False
        for name in self.names:
            version = pointers[name][0] if name in pointers else self.store.claim_initial(name)
            model = self.models.get(name)
            if model is None or model.version != version:
                if model is not None:
                    log.info("read model switched", read_model=name, old_version=model.version, version=version)
                self.models[name] = open_model(self.store, name, version, self.context)
                changed = True
        self.pump.models = list(self.models.values())
        return changed

    def run(self) -> None:
        """Process until stopped, retrying after errors with back-off (short while the database is away)."""
        delay = FIRST_DELAY
        outage = OutageLog("projection worker")
        while not self.stop_event.is_set():
            try:
                self.sync_versions()
                self.pump.catch_up(self.stop_event)
                outage.succeeded()
                if self.store.dialect is POSTGRES:
                    self.follow()
                else:
                    self.stop_event.wait(self.poll_seconds)
                delay = FIRST_DELAY
            except Exception as e:
                delay = retry_delay(e, delay)
                outage.failed(e, delay)
                self.stop_event.wait(delay)
                delay = retry_delay(e, delay * 2)

    def run_once(self) -> None:
        """Catch up once (all read models to the current head) and return."""
        self.sync_versions()
        self.pump.catch_up(self.stop_event)

    def follow(self) -> None:
        """Follow the library's LISTEN/NOTIFY subscription until stopped or a version switch;
        raises what ended the subscription (the database went away, say) for ``run`` to report."""
        inbox: queue.Queue[Notification | None] = queue.Queue(maxsize=4 * self.batch_size)
        subscription = self.app.recorder.subscribe(gt=self.pump.position)
        failure: list[BaseException] = []

        def forward() -> None:
            try:
                for n in subscription:
                    while not self.stop_event.is_set():
                        try:
                            inbox.put(n, timeout=0.2)
                            break
                        except queue.Full:
                            continue
            except Exception as e:  # reported by run(), once per outage when the database went away
                failure.append(e)
            finally:
                inbox.put(None)

        with subscription:
            thread = threading.Thread(target=forward, name="casetrail-subscription", daemon=True)
            thread.start()
            try:
                self._drain(inbox)
            finally:
                subscription.stop()
                while thread.is_alive():
                    try:
                        inbox.get(timeout=0.1)
                    except queue.Empty:
                        pass
                thread.join()
        if failure and not self.stop_event.is_set():
            raise failure[0]

    def _drain(self, inbox: queue.Queue[Notification | None]) -> None:
        while not self.stop_event.is_set():
            try:
                first = inbox.get(timeout=0.2)
            except queue.Empty:
                first = ...  # type: ignore[assignment]
            if first is None:
                return  # the subscription ended (an error was logged): start again
            batch = [] if first is ... else [first]
            while batch and len(batch) < self.batch_size:
                try:
                    item = inbox.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self.pump.feed(batch)
                    return
                batch.append(item)
            if batch:
                self.pump.feed(batch)
            if time.monotonic() - self._checked > VERSION_CHECK_SECONDS and self.sync_versions():
                return  # a version switch: catch up the new version by polling, then follow again

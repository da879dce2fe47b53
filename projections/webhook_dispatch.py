"""The webhook dispatcher: sends the outbox's pending deliveries, signed, at least once.

For each subscription with due ``pending`` deliveries (``projections.webhook_outbox``)
one lane at a time (a lease in ``casetrail_webhooks``, so a second dispatcher on
the same database does not send the same delivery at the same moment) sends them
in log order: a POST of the event document (as ``GET /v1/events`` shows it, read
from the event store at sending time) with ``X-Casetrail-Signature: sha256=<hex
HMAC-SHA256 of the exact body with the secret>``, ``X-Casetrail-Delivery`` (the
delivery id, the same for every attempt) and ``X-Casetrail-Event``. A 2xx answer
delivers it. Otherwise a *round* of up to ``attempts`` tries with growing, jittered
pauses (tenacity's ``wait_exponential_jitter``) runs; every attempt is logged
(time, status code or error, duration). A round that fails counts one failed
delivery, the delivery waits ``round_pause`` (doubling, jittered) before its next
round and later deliveries of that subscription wait behind it (order is kept);
after ``disable_after`` failed deliveries in a row the subscription is
``disabled`` (reason, since) until an admin re-enables it. Pending deliveries
stay in the outbox meanwhile: nothing is lost. The host is resolved and checked
against ``CASETRAIL_WEBHOOK_DENY`` before each attempt, and the connection goes
to the address that was checked.

Runs in a thread of its own (``projections.workers.start_background``), never on
the HTTP event loop. Settings: ``CASETRAIL_WEBHOOK_*`` (``Settings.from_env``). Once an
hour, deliveries delivered more than ``keep_days`` ago are forgotten with their attempts.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import random
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import structlog
from tenacity import (
    RetryError,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_when_event_set,
    wait_exponential_jitter,
)

from domain.storage.history import feed_entry
from domain.storage.webhook_table import ACTIVE, WebhookTable, now_text
from domain.webhooks import DeniedAddress, check_destination, deny_networks, webhook_table
from projections.runner import OutageLog
from projections.views import Store
from projections.webhook_outbox import DELIVERED, PENDING, outbox_tables

log = structlog.get_logger("casetrail.webhooks")
PRUNE_SECONDS = 3600.0  # how often old delivered deliveries are forgotten


def _env(name: str, default: float) -> float:
    return float(os.environ.get(f"CASETRAIL_WEBHOOK_{name}", str(default)))


@dataclass(frozen=True)
class Settings:
    attempts: int = 5             # CASETRAIL_WEBHOOK_ATTEMPTS: tries in one round
    wait_initial: float = 1.0     # CASETRAIL_WEBHOOK_WAIT_INITIAL: first pause between tries (s), doubling
    wait_max: float = 30.0        # CASETRAIL_WEBHOOK_WAIT_MAX: longest pause between tries (s)
    round_pause: float = 60.0     # CASETRAIL_WEBHOOK_ROUND_PAUSE: before a failed delivery's next round (s), doubling
    round_pause_max: float = 3600.0
    disable_after: int = 10       # CASETRAIL_WEBHOOK_DISABLE_AFTER: failed deliveries in a row
    timeout: float = 5.0          # CASETRAIL_WEBHOOK_TIMEOUT: connect/read/write timeout (s)
    poll: float = 0.5             # CASETRAIL_WEBHOOK_POLL: how often the outbox is looked at (s)
    lanes: int = 4                # CASETRAIL_WEBHOOK_LANES: subscriptions served at the same time
    keep_days: float = 30.0       # CASETRAIL_WEBHOOK_KEEP_DAYS: delivered deliveries (and attempts) kept this long

    @classmethod
    def from_env(cls) -> Settings:
        d = cls()
        return cls(attempts=max(1, int(_env("ATTEMPTS", d.attempts))),
                   wait_initial=_env("WAIT_INITIAL", d.wait_initial),
                   wait_max=_env("WAIT_MAX", d.wait_max), round_pause=_env("ROUND_PAUSE", d.round_pause),
                   round_pause_max=_env("ROUND_PAUSE_MAX", d.round_pause_max),
                   disable_after=max(1, int(_env("DISABLE_AFTER", d.disable_after))),
                   timeout=_env("TIMEOUT", d.timeout), poll=_env("POLL", d.poll),
                   lanes=max(1, int(_env("LANES", d.lanes))), keep_days=_env("KEEP_DAYS", d.keep_days))


def signature(secret: str, body: bytes) -> str:
    """The ``X-Casetrail-Signature`` header value of ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class AttemptFailed(Exception):
    """One attempt did not deliver (``status`` when the receiver answered)."""

    def __init__(self, error: str, status: int | None = None) -> None:
        super().__init__(error)
        self.status = status


def pinned(url: str, address: str | None) -> tuple[str, dict[str, str], dict[str, Any]]:
    """``url`` aimed at the checked ``address`` (the Host header and TLS name kept), so a
    second DNS answer cannot send the request elsewhere."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if address is None or host.strip("[]") == address:
        return url, {}, {}
    ip = f"[{address}]" if ":" in address else address
    netloc = ip + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc)), {"Host": parts.netloc}, {"sni_hostname": host}


class Dispatcher:
    """Sends the outbox of one database until ``stop`` is set (``run``), or once (``dispatch_once``)."""

    def __init__(self, app: Any, store: Store, settings: Settings | None = None,
                 stop: threading.Event | None = None) -> None:
        self.app = app
        self.store = store
        self.settings = settings or Settings.from_env()
        self.stop_event = stop or threading.Event()
        self.table: WebhookTable = webhook_table(app)
        self.owner = f"{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.client = httpx.Client(timeout=self.settings.timeout, follow_redirects=False,
                                   headers={"User-Agent": "casetrail-webhooks"})
        self._busy: set[str] = set()
        self._pruned = 0.0
        self._lock = threading.Lock()

    def close(self) -> None:
        self.client.close()

    # ------------------------------------------------------------- the loop
    def run(self) -> None:
        outage = OutageLog("webhook dispatcher")
        with ThreadPoolExecutor(self.settings.lanes, thread_name_prefix="casetrail-webhook") as pool:
            while not self.stop_event.is_set():
                try:
                    if time.monotonic() - self._pruned >= PRUNE_SECONDS:
                        self.prune()
                        self._pruned = time.monotonic()
                    for sid in self.due():
                        with self._lock:
                            if sid in self._busy:
                                continue
                            self._busy.add(sid)
                        pool.submit(self._lane, sid)
                    outage.succeeded()
                except Exception as e:  # an outage must not end the dispatcher
                    outage.failed(e, self.settings.poll)
                self.stop_event.wait(self.settings.poll)

    def _lane(self, sid: str) -> None:
        try:
            self.drain(sid)
        except Exception as e:
            OutageLog("webhook dispatcher").failed(e, self.settings.poll)
        finally:
            with self._lock:
                self._busy.discard(sid)

    def dispatch_once(self) -> None:
        """Every due delivery, in this thread (tests, one-off runs)."""
        for sid in self.due():
            self.drain(sid)

    def prune(self, now: datetime | None = None) -> int:
        """Forget deliveries delivered more than ``keep_days`` ago, with their attempts; how many."""
        cutoff = ((now or datetime.now(UTC)) - timedelta(days=self.settings.keep_days)).isoformat(
            timespec="microseconds")
        table = outbox_tables(self.store)["webhook_deliveries"]
        old = [r["delivery_id"] for r in self.store.read(
            f"SELECT delivery_id FROM {table} WHERE status = ? AND delivered_at < ? LIMIT 1000", [DELIVERED, cutoff])]
        if old:
            self.table.forget(old)
            marks = ", ".join("?" * len(old))
            self.store.execute([(f"DELETE FROM {table} WHERE delivery_id IN ({marks})", old)])
        return len(old)

    def due(self) -> list[str]:
        """Active subscriptions with pending deliveries whose time has come."""
        tables = outbox_tables(self.store)
        rows = self.store.read(
            f"SELECT DISTINCT d.subscription_id AS sid FROM {tables['webhook_deliveries']} d "
            f"JOIN {tables['webhook_targets']} t ON t.subscription_id = d.subscription_id "
            "WHERE d.status = ? AND d.next_at <= ? AND t.active = 1", [PENDING, _now_ms()])
        health = self.table.health([r["sid"] for r in rows])
        return [r["sid"] for r in rows if health.get(r["sid"], {}).get("status") == ACTIVE]

    # -------------------------------------------------------- one subscription
    def drain(self, sid: str) -> None:
        """Send ``sid``'s due deliveries in order until none is left or one fails its round."""
        lease = self.settings.timeout * self.settings.attempts + self.settings.wait_max * self.settings.attempts + 30
        if not self.table.lease(sid, self.owner, lease):
            return
        try:
            secret = self.table.secret(sid)
            tables = outbox_tables(self.store)
            target = self.store.read(f"SELECT url FROM {tables['webhook_targets']} WHERE subscription_id = ? "
                                     "AND active = 1", [sid])
            if secret is None or not target:
                return
            while not self.stop_event.is_set():
                rows = self.store.read(
                    f"SELECT delivery_id, position, event_type, rounds, next_at FROM {tables['webhook_deliveries']} "
                    "WHERE subscription_id = ? AND status = ? ORDER BY position LIMIT 50", [sid, PENDING])
                if not rows or rows[0]["next_at"] > _now_ms():
                    return
                for row in rows:
                    if row["next_at"] > _now_ms() or not self._deliver(sid, target[0]["url"], secret, row):
                        return  # later deliveries wait behind this one
                    if not self.table.lease(sid, self.owner, lease):
                        return  # deleted, disabled or taken over meanwhile
        finally:
            self.table.release(sid, self.owner)

    def _document(self, position: int) -> bytes:
        notes = self.app.recorder.select_notifications(start=position, limit=1)
        if not notes or notes[0].id != position:
            raise LookupError(f"no event at position {position}")
        entry = feed_entry(self.app.mapper, notes[0])
        return json.dumps(entry, ensure_ascii=False, separators=(",", ":"), default=str).encode()

    def _deliver(self, sid: str, url: str, secret: str, row: dict[str, Any]) -> bool:
        """One round for one delivery; True when it was delivered."""
        delivery, kind = row["delivery_id"], row["event_type"]
        body = self._document(int(row["position"]))
        headers = {"Content-Type": "application/json", "X-Casetrail-Signature": signature(secret, body),
                   "X-Casetrail-Delivery": delivery, "X-Casetrail-Event": kind}
        s = self.settings
        retrying = Retrying(stop=stop_after_attempt(s.attempts) | stop_when_event_set(self.stop_event),
                            wait=wait_exponential_jitter(multiplier=s.wait_initial, max=s.wait_max,
                                                         jitter=s.wait_initial),
                            retry=retry_if_exception_type(AttemptFailed), sleep=self._sleep, reraise=False)
        try:
            retrying(self._attempt, sid, delivery, url, body, headers)
        except RetryError as e:
            error = e.last_attempt.exception()
            self._round_failed(sid, row, str(error))
            return False
        self._mark(delivery, status=DELIVERED, delivered_at=now_text())
        self.table.delivered(sid)
        log.info("webhook delivered", subscription=sid, delivery=delivery, event_type=kind)
        return True

    def _sleep(self, seconds: float) -> None:
        self.stop_event.wait(seconds)

    def _attempt(self, sid: str, delivery: str, url: str, body: bytes, headers: dict[str, str]) -> None:
        started, at = time.perf_counter(), now_text()
        status: int | None = None
        error: str | None = None
        try:
            addresses = check_destination(url, deny_networks())
            target, extra, extensions = pinned(url, addresses[0] if addresses else None)
            response = self.client.post(target, content=body, headers={**headers, **extra}, extensions=extensions)
            status = response.status_code
            if not 200 <= status < 300:
                error = f"HTTP {status}"
        except DeniedAddress as e:
            error = str(e)
        except httpx.HTTPError as e:
            error = f"{type(e).__name__}: {str(e)[:200] or 'no answer'}"
        duration = int((time.perf_counter() - started) * 1_000_000)
        self.table.log_attempt(sid, delivery, at, status, error, duration)
        if error is not None:
            raise AttemptFailed(error, status)

    def _round_failed(self, sid: str, row: dict[str, Any], error: str) -> None:
        s = self.settings
        rounds = int(row["rounds"]) + 1
        pause = min(s.round_pause * 2 ** (rounds - 1), s.round_pause_max)
        pause += random.uniform(0, pause / 4)
        self._mark(row["delivery_id"], rounds=rounds, next_at=_now_ms() + int(pause * 1000), last_error=error[:500])
        reason = f"{s.disable_after} deliveries in a row failed; the last: {error[:200]}"
        if self.table.failed(sid, s.disable_after, reason):
            log.warning("webhook subscription disabled", subscription=sid, reason=reason)
        else:
            log.info("webhook delivery failed; trying again later", subscription=sid, delivery=row["delivery_id"],
                     rounds=rounds, retry_in_s=round(pause, 1), error=error[:200])

    def _mark(self, delivery: str, **values: Any) -> None:
        table = outbox_tables(self.store)["webhook_deliveries"]
        sets = ", ".join(f"{k} = ?" for k in values)
        self.store.execute([(f"UPDATE {table} SET {sets} WHERE delivery_id = ?", (*values.values(), delivery))])


def _now_ms() -> int:
    return int(time.time() * 1000)

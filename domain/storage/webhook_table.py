"""The webhooks' own tables: sealed secrets, delivery health, the attempt log.

``casetrail_webhooks`` has one row per subscription (written when it is made,
before its ``Subscribed`` event): the secret sealed (AES-GCM) with the
deployment's master key (``domain.storage.keys``), the subscription id as
associated data, so it is never in the event store and never in plain text in
the database; the delivery health the dispatcher keeps (``status`` ``active`` or
``disabled`` with ``reason`` and ``since``, ``failures`` in a row) and its lease
(one dispatcher per subscription at a time). Deleting a subscription blanks its
secret and marks it ``deleted``. ``casetrail_webhook_attempts`` logs every
delivery attempt: time, HTTP status or error, duration. Same SQL on SQLite and
PostgreSQL, in the application's database.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from domain.storage.side_tables import SideTable

TABLE, ATTEMPTS = "casetrail_webhooks", "casetrail_webhook_attempts"
DDL = (
    f"CREATE TABLE IF NOT EXISTS {TABLE} (id TEXT PRIMARY KEY, secret TEXT, created_at TEXT NOT NULL, "
    "status TEXT NOT NULL, reason TEXT, since TEXT, failures INTEGER NOT NULL DEFAULT 0, "
    "lease_owner TEXT, lease_until BIGINT)",
    f"CREATE TABLE IF NOT EXISTS {ATTEMPTS} (subscription_id TEXT NOT NULL, delivery_id TEXT NOT NULL, "
    "attempt INTEGER NOT NULL, at TEXT NOT NULL, status_code INTEGER, error TEXT, duration_us BIGINT NOT NULL, "
    "PRIMARY KEY (delivery_id, attempt))",
    f"CREATE INDEX IF NOT EXISTS {ATTEMPTS}_sub ON {ATTEMPTS} (subscription_id, delivery_id)",
)
ACTIVE, DISABLED, DELETED = "active", "disabled", "deleted"


def now_text() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _ms() -> int:
    return int(datetime.now(UTC).timestamp() * 1000)


class WebhookTable(SideTable):
    """The webhook tables of one database (``datastore``), secrets sealed with ``master``."""

    def __init__(self, datastore: Any, master: bytes) -> None:
        super().__init__(datastore, DDL)
        self._aead = AESGCM(master)
        self._master = master

    def _seal(self, subscription: str, secret: str) -> str:
        nonce = os.urandom(12)
        return base64.b64encode(nonce + self._aead.encrypt(nonce, secret.encode(), f"webhook:{subscription}".encode())
                                ).decode("ascii")

    def blind(self, secret: str) -> str:
        """A keyed hash of a secret (HMAC with the master key): what an idempotency fingerprint
        may hold instead of the secret, which no offline guess can test."""
        return hmac.new(self._master, b"webhook-secret:" + secret.encode(), hashlib.sha256).hexdigest()

    # -------------------------------------------------------- subscriptions
    def add(self, subscription: str, secret: str) -> None:
        self._write(f"INSERT INTO {TABLE} (id, secret, created_at, status, failures) VALUES (?, ?, ?, ?, 0)",
                    (subscription, self._seal(subscription, secret), now_text(), ACTIVE))

    def secret(self, subscription: str) -> str | None:
        """The subscription's secret (None once deleted, or when it does not open with this master key)."""
        rows = self._rows(f"SELECT secret FROM {TABLE} WHERE id = ?", (subscription,))
        if not rows or rows[0]["secret"] is None:
            return None
        blob = base64.b64decode(rows[0]["secret"])
        try:
            return self._aead.decrypt(blob[:12], blob[12:], f"webhook:{subscription}".encode()).decode()
        except InvalidTag:
            return None

    def health(self, ids: Sequence[str] | None = None) -> dict[str, dict[str, Any]]:
        """id -> {status, reason, since, failures} (every row, or those of ``ids``)."""
        rows = self._rows(f"SELECT id, status, reason, since, failures FROM {TABLE}")
        wanted = None if ids is None else set(ids)
        return {r["id"]: {k: r[k] for k in ("status", "reason", "since", "failures")}
                for r in rows if wanted is None or r["id"] in wanted}

    def delete(self, subscription: str) -> None:
        self._write(f"UPDATE {TABLE} SET secret = NULL, status = ?, since = ?, reason = NULL WHERE id = ?",
                    (DELETED, now_text(), subscription))

    def enable(self, subscription: str) -> bool:
        """A disabled subscription back to ``active``, no failures counted; False if it was not disabled."""
        return self._write(f"UPDATE {TABLE} SET status = ?, reason = NULL, since = ?, failures = 0 "
                           "WHERE id = ? AND status = ?", (ACTIVE, now_text(), subscription, DISABLED)) == 1

    # ------------------------------------------------------------ dispatcher
    def lease(self, subscription: str, owner: str, seconds: float) -> bool:
        """Claim the subscription's deliveries for ``seconds`` (one dispatcher at a time)."""
        now = _ms()
        return self._write(
            f"UPDATE {TABLE} SET lease_owner = ?, lease_until = ? WHERE id = ? AND status = ? "
            "AND (lease_until IS NULL OR lease_until < ? OR lease_owner = ?)",
            (owner, now + int(seconds * 1000), subscription, ACTIVE, now, owner)) == 1

    def release(self, subscription: str, owner: str) -> None:
        self._write(f"UPDATE {TABLE} SET lease_until = NULL WHERE id = ? AND lease_owner = ?", (subscription, owner))

    def delivered(self, subscription: str) -> None:
        self._write(f"UPDATE {TABLE} SET failures = 0 WHERE id = ? AND failures <> 0", (subscription,))

    def failed(self, subscription: str, disable_after: int, reason: str) -> bool:
        """Count one failed delivery; disable the subscription at ``disable_after`` in a row. True if disabled."""
        with self.datastore.transaction(commit=True) as c:
            c.execute(self._sql(f"UPDATE {TABLE} SET failures = failures + 1 WHERE id = ? AND status = ?"),
                      (subscription, ACTIVE))
            c.execute(self._sql(f"UPDATE {TABLE} SET status = ?, reason = ?, since = ? "
                                "WHERE id = ? AND status = ? AND failures >= ?"),
                      (DISABLED, reason, now_text(), subscription, ACTIVE, disable_after))
            return int(getattr(c, "sqlite_cursor", c).rowcount) == 1

    def log_attempt(self, subscription: str, delivery: str, at: str, status_code: int | None, error: str | None,
                    duration_us: int) -> None:
        with self.datastore.transaction(commit=True) as c:
            c.execute(self._sql(f"SELECT COUNT(*) AS n FROM {ATTEMPTS} WHERE delivery_id = ?"), (delivery,))
            n = int(dict(c.fetchone())["n"])
            c.execute(self._sql(f"INSERT INTO {ATTEMPTS} (subscription_id, delivery_id, attempt, at, status_code, "
                                "error, duration_us) VALUES (?, ?, ?, ?, ?, ?, ?)"),
                      (subscription, delivery, n + 1, at, status_code, error, duration_us))

    def forget(self, deliveries: Sequence[str]) -> None:
        """Drop the attempts of ``deliveries`` (old ones, pruned from the outbox)."""
        if deliveries:
            marks = ", ".join("?" * len(deliveries))
            self._write(f"DELETE FROM {ATTEMPTS} WHERE delivery_id IN ({marks})", tuple(deliveries))

    def attempts(self, subscription: str, deliveries: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        """delivery id -> its attempts, oldest first."""
        out: dict[str, list[dict[str, Any]]] = {d: [] for d in deliveries}
        if not deliveries:
            return out
        marks = ", ".join("?" * len(deliveries))
        for r in self._rows(f"SELECT delivery_id, attempt, at, status_code, error, duration_us FROM {ATTEMPTS} "
                            f"WHERE subscription_id = ? AND delivery_id IN ({marks}) ORDER BY delivery_id, attempt",
                            (subscription, *deliveries)):
            out[r["delivery_id"]].append({
                "attempt": int(r["attempt"]), "at": r["at"], "status_code": r["status_code"], "error": r["error"],
                "duration_ms": round(int(r["duration_us"]) / 1000, 3)})
        return out

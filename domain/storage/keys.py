"""Data subjects' keys: one AES-256 key per customer (or per case without a customer).

Personal values in stored events are sealed with their data subject's key
(``domain.storage.sealing``). The keys live in a table of their own,
``casetrail_subject_keys`` (subject, key_id, wrapped key, created_at), in the
same database as the events, each key wrapped (AES-GCM, the subject as
associated data) by the deployment's master key:

- ``CASETRAIL_MASTER_KEY``: base64 of 32 bytes; else
- the file ``CASETRAIL_MASTER_KEY_FILE`` names; else ``casetrail-master-key``
  next to the SQLite database (the working directory for PostgreSQL), made on
  first use (mode 0600), as the signing key is (``domain.audit.signing``).

``casetrail_subject_cases`` lists the cases of each subject (written when a
case's first event is sealed), so erasure can name them without a read model.
Destroying a key deletes its row: the wrapped key is gone, and with it every
value sealed under it. Keys are cached per process for ``KEY_TTL`` seconds,
so another process notices an erasure within that time.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eventsourcing.sqlite import SQLiteDatastore

from domain.storage.database import StorageConfigError, database_url, sqlite_file
from domain.storage.side_tables import SideTable

MASTER_ENV, MASTER_FILE_ENV, MASTER_FILE = "CASETRAIL_MASTER_KEY", "CASETRAIL_MASTER_KEY_FILE", "casetrail-master-key"
KEY_TTL = float(os.environ.get("CASETRAIL_KEY_CACHE_SECONDS", "5"))
KEYS_TABLE, CASES_TABLE = "casetrail_subject_keys", "casetrail_subject_cases"
DDL = (
    f"CREATE TABLE IF NOT EXISTS {KEYS_TABLE} (subject TEXT PRIMARY KEY, key_id TEXT NOT NULL UNIQUE, "
    "wrapped TEXT NOT NULL, created_at TEXT NOT NULL)",
    f"CREATE TABLE IF NOT EXISTS {CASES_TABLE} (subject TEXT NOT NULL, case_id TEXT NOT NULL, "
    "PRIMARY KEY (subject, case_id))",
)


class MasterKeyError(StorageConfigError):
    """The master key is missing, unreadable or not 32 bytes."""


def master_key_path(environ: Mapping[str, str] | None = None, url: str | None = None) -> str:
    env = os.environ if environ is None else environ
    configured = env.get(MASTER_FILE_ENV)
    if configured:
        return configured
    path = sqlite_file(url or database_url(env))
    folder = os.path.dirname(os.path.abspath(path)) if path and path != ":memory:" else os.getcwd()
    return str(Path(folder) / MASTER_FILE)


def _decoded(text: str, where: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise MasterKeyError(f"{where} is not base64") from None
    if len(key) != 32:
        raise MasterKeyError(f"{where} must be 32 bytes (base64), not {len(key)}")
    return key


def master_key(environ: Mapping[str, str] | None = None, url: str | None = None, *, create: bool = True) -> bytes:
    """The deployment's master key (see the module docstring), made on first use."""
    env = os.environ if environ is None else environ
    if env.get(MASTER_ENV):
        return _decoded(env[MASTER_ENV], MASTER_ENV)
    path = master_key_path(env, url)
    if not os.path.exists(path):
        if not create:
            raise MasterKeyError(f"no master key: set {MASTER_ENV} or create {path}")
        folder = os.path.dirname(os.path.abspath(path))
        os.makedirs(folder, exist_ok=True)
        tmp = os.path.join(folder, f".{os.path.basename(path)}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as f:
                f.write(base64.b64encode(secrets.token_bytes(32)).decode("ascii") + "\n")
                f.flush()
                os.fsync(f.fileno())
            try:
                os.link(tmp, path)  # another process made it first: use theirs
            except FileExistsError:
                pass
        finally:
            os.unlink(tmp)
    try:
        return _decoded(Path(path).read_text(), path)
    except OSError as e:
        raise MasterKeyError(f"cannot read the master key {path}: {e}") from None


def url_of(env: Mapping[str, str]) -> str:
    """A URL naming an application's database (for the key file's default folder)."""
    path = env.get("SQLITE_DBNAME", "")
    if env.get("PERSISTENCE_MODULE") == "eventsourcing.sqlite" and path and not path.startswith("file:"):
        return f"sqlite:///{path}"
    return database_url()


def scrub_sqlite_wal(datastore: Any) -> None:
    """Copy a SQLite database's write-ahead log into the file and empty it, so the old page
    images (with rows just deleted or overwritten) do not stay in the ``-wal`` file. Best effort:
    a reader holding an old snapshot may keep it from truncating; the next call finishes it."""
    if not isinstance(datastore, SQLiteDatastore):
        return
    with datastore.get_connection(commit=True) as conn:
        try:
            conn._sqlite_conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error:
            pass


class _MemoryStore:
    """The key tables of an application without a database (the library's in-memory ``popo``
    persistence, used by unit tests): a private in-memory SQLite database."""

    def __init__(self) -> None:
        self._conn = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
        self._conn.row_factory = sqlite3.Row
        self._lock = threading.Lock()

    @contextmanager
    def transaction(self, *, commit: bool) -> Iterator[Any]:
        with self._lock:
            yield self._conn.cursor()


class SubjectKeys(SideTable):
    """The subject-key table of one database (the application's datastore)."""

    def __init__(self, datastore: Any, master: bytes) -> None:
        super().__init__(_MemoryStore() if datastore is None else datastore, DDL)
        self._master = AESGCM(master)
        self.master = master
        self._lock = threading.Lock()
        self._by_subject: dict[str, tuple[float, str, bytes]] = {}
        self._by_id: dict[str, tuple[float, bytes | None]] = {}
        self._cases: set[tuple[str, str]] = set()
        self._alive: dict[str, tuple[float, bool]] = {}

    def _unwrap(self, subject: str, wrapped: str) -> bytes:
        blob = base64.b64decode(wrapped)
        try:
            return self._master.decrypt(blob[:12], blob[12:], subject.encode())
        except InvalidTag:
            raise MasterKeyError("a subject key does not open with this master key (wrong CASETRAIL_MASTER_KEY?)") \
                from None

    def key_for(self, subject: str, case_id: str | None = None) -> tuple[str, bytes]:
        """The subject's (key id, key), made when it has none; remembers the case as the subject's."""
        now = time.monotonic()
        cached = self._by_subject.get(subject)
        if cached is None or now - cached[0] > KEY_TTL:
            found = self._rows(f"SELECT key_id, wrapped FROM {KEYS_TABLE} WHERE subject = ?", (subject,))
            if not found:
                key, key_id = AESGCM.generate_key(bit_length=256), secrets.token_hex(8)
                nonce = secrets.token_bytes(12)
                wrapped = base64.b64encode(nonce + self._master.encrypt(nonce, key, subject.encode())).decode()
                with self.datastore.transaction(commit=True) as c:
                    c.execute(self._sql(f"INSERT INTO {KEYS_TABLE} (subject, key_id, wrapped, created_at) "
                                        "VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING"),
                              (subject, key_id, wrapped, datetime.now(UTC).isoformat()))
                found = self._rows(f"SELECT key_id, wrapped FROM {KEYS_TABLE} WHERE subject = ?", (subject,))
            row = found[0]
            key_id, key = row["key_id"], self._unwrap(subject, row["wrapped"])
            cached = (now, key_id, key)
            with self._lock:
                self._by_subject[subject] = cached
                self._by_id[key_id] = (now, key)
                self._alive[subject] = (now, True)  # the same read answers `alive`
        if case_id is not None and (subject, case_id) not in self._cases:
            with self.datastore.transaction(commit=True) as c:
                c.execute(self._sql(f"INSERT INTO {CASES_TABLE} (subject, case_id) VALUES (?, ?) "
                                    "ON CONFLICT DO NOTHING"), (subject, case_id))
            self._cases.add((subject, case_id))
        return cached[1], cached[2]

    def key(self, key_id: str) -> bytes | None:
        """The key of ``key_id``, or None when it was destroyed."""
        now = time.monotonic()
        cached = self._by_id.get(key_id)
        if cached is not None and now - cached[0] <= KEY_TTL:
            return cached[1]
        rows = self._rows(f"SELECT subject, wrapped FROM {KEYS_TABLE} WHERE key_id = ?", (key_id,))
        key = self._unwrap(rows[0]["subject"], rows[0]["wrapped"]) if rows else None
        with self._lock:
            self._by_id[key_id] = (now, key)
        return key

    def preload(self, key_ids: Iterable[str], chunk: int = 500) -> None:
        """Read the keys of ``key_ids`` not cached (fresh) in one query per ``chunk`` ids:
        what ``key`` then answers from the cache (a destroyed key is cached as None, as
        ``key`` does). A read model's batch calls this once instead of ``key`` once per case."""
        now = time.monotonic()
        wanted = sorted({k for k in key_ids
                         if (c := self._by_id.get(k)) is None or now - c[0] > KEY_TTL})
        for i in range(0, len(wanted), chunk):
            ids = wanted[i:i + chunk]
            rows = self._rows(f"SELECT key_id, subject, wrapped FROM {KEYS_TABLE} WHERE key_id IN "
                              f"({', '.join('?' * len(ids))})", tuple(ids))
            found = {r["key_id"]: self._unwrap(r["subject"], r["wrapped"]) for r in rows}
            with self._lock:
                for key_id in ids:
                    self._by_id[key_id] = (now, found.get(key_id))

    def current_key_id(self, subject: str) -> str | None:
        """The id of the subject's key as stored now (no cache), None when it has none."""
        rows = self._rows(f"SELECT key_id FROM {KEYS_TABLE} WHERE subject = ?", (subject,))
        return str(rows[0]["key_id"]) if rows else None

    def alive(self, subject: str) -> bool:
        """Whether the subject has a key (as known within the last ``KEY_TTL`` seconds)."""
        now = time.monotonic()
        cached = self._alive.get(subject)
        if cached is None or now - cached[0] > KEY_TTL:
            keyed = self._by_subject.get(subject)
            if keyed is not None and now - keyed[0] <= KEY_TTL:
                return True
            cached = (now, self.current_key_id(subject) is not None)
            with self._lock:
                self._alive[subject] = cached
        return cached[1]

    def cases(self, subject: str) -> list[str]:
        rows = self._rows(f"SELECT case_id FROM {CASES_TABLE} WHERE subject = ? ORDER BY case_id", (subject,))
        return [r["case_id"] for r in rows]

    def destroy(self, subject: str) -> bool:
        """Delete the subject's key (nothing can open its sealed values after this); False if it had none."""
        had = self.current_key_id(subject) is not None
        with self.datastore.transaction(commit=True) as c:
            if self.sqlite:
                c.execute("PRAGMA secure_delete=ON")  # the freed row is overwritten with zeros
            c.execute(self._sql(f"DELETE FROM {KEYS_TABLE} WHERE subject = ?"), (subject,))
        self.forget(subject)
        scrub_sqlite_wal(self.datastore)
        return had

    def forget(self, subject: str | None = None) -> None:
        """Drop cached keys (all of them, or one subject's)."""
        with self._lock:
            if subject is None:
                self._by_subject.clear()
                self._by_id.clear()
                self._alive.clear()
                return
            self._alive.pop(subject, None)
            cached = self._by_subject.pop(subject, None)
            if cached is not None:
                self._by_id.pop(cached[1], None)

"""Baselines measured in the same run: what each casetrail figure is compared with.

- ``pgbench_inserts``: ``pgbench`` running single-row INSERT transactions into
  a table of the events table's shape (originator_id uuid, originator_version,
  topic text, state bytea, notification_id bigserial with its unique index),
  with a state of the average stored size of the generated events;
- ``psycopg_inserts`` (W0): a plain Python psycopg loop of the same single-row
  INSERT transactions (prepared, autocommit), one client: the floor a Python
  client reaches;
- ``sqlite_inserts``: raw ``sqlite3`` single-row INSERT transactions into a
  file database in WAL mode with the library's ``synchronous`` setting;
- ``raw_case_read``: reading one aggregate's stored rows (``select_events``);
- ``scan_decode``: reading every stored event in notification order and
  msgpack-decoding its state (the ceiling for a Python consumer).
"""

from __future__ import annotations

import re
import shutil
import sqlite3
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import psycopg

from domain.storage.transcoder import MsgpackTranscoder

TABLE = "bench_baseline_events"
TOPIC = "domain.model.case:Case.ActionTaken"


class BaselineError(RuntimeError):
    pass


def pgbench_binary() -> str:
    found = shutil.which("pgbench")
    if not found:
        raise BaselineError("pgbench not found on PATH (install postgresql-client / postgresql-contrib)")
    return found


def prepare_pg_table(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {TABLE}")
        conn.execute(
            f"CREATE TABLE {TABLE} (originator_id uuid NOT NULL, originator_version bigint NOT NULL, "
            "topic text, state bytea, notification_id bigserial, "
            "PRIMARY KEY (originator_id, originator_version))"
        )
        conn.execute(f"CREATE UNIQUE INDEX {TABLE}_notification_id_idx ON {TABLE} (notification_id ASC)")


def pgbench_inserts(url: str, *, clients: int, seconds: float, state_size: int) -> float:
    """Transactions per second of ``pgbench -c clients -j clients`` single-row inserts."""
    parsed = urlparse(url)
    pg_topic = " || chr(58) || ".join(f"'{part}'" for part in TOPIC.split(":"))
    state_hex = (bytes(range(256)) * (state_size // 256 + 1))[:state_size].hex()
    script = (
        "\\set v random(1, 2000000000)\n"
        f"INSERT INTO {TABLE} (originator_id, originator_version, topic, state) "
        # (pgbench would read the topic's ":Case" as a variable: build it with chr(58))
        f"VALUES (gen_random_uuid(), :v, {pg_topic}, '\\x{state_hex}'::bytea);\n"
    )
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as f:
        f.write(script)
        path = f.name
    try:
        cmd = [
            pgbench_binary(), "-n", "-M", "prepared", "-f", path, "-c", str(clients), "-j", str(clients),
            "-T", str(max(1, round(seconds))), "-h", parsed.hostname or "127.0.0.1",
            "-p", str(parsed.port or 5432), "-U", parsed.username or "postgres", parsed.path.lstrip("/"),
        ]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
    finally:
        Path(path).unlink(missing_ok=True)
    match = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", out.stdout)
    if out.returncode != 0 or not match:
        raise BaselineError(f"pgbench failed ({out.returncode}): {out.stdout[-400:]} {out.stderr[-400:]}")
    return float(match.group(1))


def psycopg_inserts(url: str, *, seconds: float, state_size: int) -> float:
    """Transactions per second of a plain psycopg loop: one prepared single-row INSERT per
    transaction (autocommit), one connection, into the pgbench table."""
    state = (bytes(range(256)) * (state_size // 256 + 1))[:state_size]
    sql = (f"INSERT INTO {TABLE} (originator_id, originator_version, topic, state) "
           "VALUES (%s, %s, %s, %s)")
    with psycopg.connect(url, autocommit=True, prepare_threshold=0) as conn:
        cursor = conn.cursor()
        n = 0
        start = time.perf_counter()
        deadline = start + seconds
        while True:
            cursor.execute(sql, (uuid.uuid4(), n + 1, TOPIC, state), prepare=True)
            n += 1
            if n % 50 == 0 and time.perf_counter() >= deadline:
                break
        return n / (time.perf_counter() - start)


def sqlite_inserts(path: Path, *, seconds: float, synchronous: str, state_size: int) -> float:
    """Single-row INSERT transactions per second on a WAL file database."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={synchronous}")
        conn.execute(
            "CREATE TABLE stored_events (originator_id TEXT, originator_version INTEGER, topic TEXT, "
            "state BLOB, PRIMARY KEY (originator_id, originator_version))"
        )
        state = (bytes(range(256)) * (state_size // 256 + 1))[:state_size]
        n = 0
        start = time.perf_counter()
        deadline = start + seconds
        while True:
            conn.execute("BEGIN")
            conn.execute("INSERT INTO stored_events VALUES (?,?,?,?)", (uuid.uuid4().hex, n + 1, TOPIC, state))
            conn.execute("COMMIT")
            n += 1
            if n % 50 == 0 and time.perf_counter() >= deadline:
                break
        return n / (time.perf_counter() - start)
    finally:
        conn.close()


def raw_case_read(app: Any, case_id: Any, repeats: int) -> float:
    """Median seconds to read one case's stored rows through the recorder."""
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        rows = app.recorder.select_events(case_id)
        times.append(time.perf_counter() - t)
        assert rows
    times.sort()
    return times[len(times) // 2]


def scan_decode(app: Any, page: int = 2000) -> tuple[int, float]:
    """(events, seconds) to read every stored event and msgpack-decode its state."""
    decode = MsgpackTranscoder().decode
    start = time.perf_counter()
    count = 0
    position = 0
    while True:
        rows = app.recorder.select_notifications(position, page, inclusive_of_start=False)
        for row in rows:
            decode(row.state)
        count += len(rows)
        if len(rows) < page:
            break
        position = rows[-1].id
    return count, time.perf_counter() - start


def average_state_size(app: Any, sample: int = 2000) -> int:
    rows = app.recorder.select_notifications(0, sample)
    return int(sum(len(r.state) for r in rows) / max(1, len(rows))) or 400

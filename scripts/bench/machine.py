"""What the benchmark ran on: commit, cores, RAM, CPU model, database versions and durability."""

from __future__ import annotations

import os
import platform
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import psycopg

REPO = Path(__file__).resolve().parents[2]


def commit() -> str:
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True,
                             timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return (sha or "unknown") + ("+dirty" if dirty else "")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def ram_gb() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return 0.0


def postgres_settings(url: str) -> dict[str, str]:
    with psycopg.connect(url, autocommit=True) as conn:
        out = {}
        for name in ("server_version", "fsync", "synchronous_commit", "full_page_writes", "wal_sync_method",
                     "shared_buffers"):
            row = conn.execute(f"SHOW {name}").fetchone()
            out[name] = str(row[0]) if row else "?"
        return out


def sqlite_synchronous(app: Any) -> str:
    """The synchronous setting of the library's own SQLite connections."""
    names = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}
    with app.recorder.datastore.get_connection(commit=False) as conn:
        cursor = conn.cursor()
        cursor.execute("PRAGMA synchronous")
        value = cursor.fetchone()[0]
    return names.get(int(value), str(value))


def describe(pg_url: str | None, sqlite_sync: str | None) -> dict[str, Any]:
    info: dict[str, Any] = {
        "cores": os.cpu_count(),
        "ram_gb": ram_gb(),
        "cpu_model": cpu_model(),
        "python": platform.python_version(),
        "sqlite_version": sqlite3.sqlite_version,
        "sqlite_synchronous": sqlite_sync,
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }
    if pg_url:
        s = postgres_settings(pg_url)
        info["postgres_version"] = s.pop("server_version")
        info["postgres_settings"] = ", ".join(f"{k}={v}" for k, v in s.items())
        info["fsync"] = s["fsync"]
        info["synchronous_commit"] = s["synchronous_commit"]
    return info

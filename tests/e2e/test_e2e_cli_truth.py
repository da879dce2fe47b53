"""End to end: the command line tells the truth about the database it was pointed at.

Commands that read an existing database (``audit verify/export/checkpoint``,
``projections status/rebuild``, ``sla check``, ``staff list/update/deactivate``,
``token issue/revoke``) refuse a SQLite file that does not exist, absolute or
relative to the working directory (exit 2, "no database at", no traceback)
and do not create it; on PostgreSQL a database that does not exist is a
database error (exit 3). ``audit export`` to a missing folder is a one-line
error that writes nothing, and ``-o -`` prints a bundle that ``audit
verify-bundle`` accepts. ``sla check --now`` later than the clock is
refused and records nothing, while a past ``--now`` records the breaches due.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from domain.application import CaseTrail
from tests.e2e.conftest import run_cli
from tests.pg import ThrowawayPostgres
from tests.support import World

SOME_CASE = "0b7e3a53-6a4f-4c5e-9d8e-2f1f0f6f5a10"
READERS = [  # every command that needs an existing database
    ["audit", "verify"], ["audit", "checkpoint"], ["audit", "export", SOME_CASE, "-o", "bundle.json"],
    ["projections", "status", "--json"], ["projections", "rebuild"], ["sla", "check"], ["staff", "list"],
    ["staff", "update", "agent", "--role", "agent"], ["staff", "deactivate", "agent"], ["token", "issue", "agent"],
    ["token", "revoke", "ct_whatever"],
]
KEY: dict[str, str] = {}  # checkpoints need no configuration (the key pair is made on first use)


def run_all(url: str, cwd: Path, commands: list[list[str]] = READERS) -> list[tuple[list[str], int, str, str]]:
    def one(args: list[str]) -> tuple[list[str], int, str, str]:
        done = run_cli(url, *args, env=KEY, cwd=cwd)
        return args, done.returncode, done.stdout, done.stderr

    with ThreadPoolExecutor(4) as pool:
        return list(pool.map(one, commands))


@pytest.mark.parametrize("form", ["absolute", "relative"])
def test_readers_refuse_a_missing_sqlite_file_and_create_nothing(tmp_path: Path, form: str) -> None:
    work = tmp_path / "work"
    work.mkdir()
    url = f"sqlite:///{work}/casetrail.db" if form == "absolute" else "sqlite:///casetrail.db"
    # every command with the absolute path; a relative one is resolved the same way for all, so two suffice
    commands = READERS if form == "absolute" else [["staff", "list"], ["audit", "export", SOME_CASE, "-o", "-"]]
    for args, code, out, err in run_all(url, work, commands):
        assert code == 2, (args, code, err)
        assert err.startswith("Error: no database at ") and str(work / "casetrail.db") in err, (args, err)
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, (args, err)
        assert out == "", (args, out)
    assert list(work.iterdir()) == []  # no database, no -wal/-shm, no bundle


@pytest.mark.postgres
def test_readers_on_a_missing_postgres_database_exit_3(pg_server: ThrowawayPostgres, tmp_path: Path) -> None:
    url = pg_server.database_url("casetrail_no_such_database")
    for args, code, out, err in run_all(url, tmp_path):
        assert code == 3, (args, code, err)
        assert err.startswith("error: the database cannot be used") and "Traceback" not in err, (args, err)
        assert len(err.strip().splitlines()) == 1 and out == "", (args, err)
    assert list(tmp_path.iterdir()) == []


def past_case(url: str) -> str:
    """A complaint opened a month ago (its deadlines are long due), on ``url``; its id."""
    world = World(url)
    world.now = datetime.now(UTC) - timedelta(days=30)
    case_id = str(world.open("complaint", title="逾期").id)
    world.app.close()
    return case_id


def recorded(url: str) -> int:
    app = CaseTrail.from_url(url)
    try:
        return int(app.recorder.max_notification_id() or 0)
    finally:
        app.close()


def test_export_to_a_missing_folder_or_to_stdout(database_url: str, tmp_path: Path) -> None:
    case_id = past_case(database_url)
    missing = tmp_path / "no" / "such" / "folder" / "bundle.json"
    done = run_cli(database_url, "audit", "export", case_id, "-o", str(missing))
    assert done.returncode == 2, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "does not exist" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""
    assert not (tmp_path / "no").exists()

    out = run_cli(database_url, "audit", "export", case_id, "-o", "-")
    assert out.returncode == 0, out.stderr
    assert "wrote standard output" in out.stderr
    bundle = json.loads(out.stdout)  # stdout is the bundle and nothing else
    assert bundle["aggregate_id"] == case_id and bundle["events"], bundle
    path = tmp_path / "bundle.json"
    path.write_text(out.stdout, encoding="utf-8")
    checked = run_cli(database_url, "audit", "verify-bundle", str(path))
    assert checked.returncode == 0 and checked.stdout.startswith("OK: "), checked.stdout + checked.stderr
    assert not [name for name in os.listdir(tmp_path) if ".tmp-" in name]  # no half-written leftovers


def test_sla_check_refuses_a_future_now_and_records_nothing(database_url: str) -> None:
    past_case(database_url)
    before = recorded(database_url)
    for ahead in (timedelta(hours=1), timedelta(days=60)):
        future = (datetime.now(UTC) + ahead).isoformat()
        done = run_cli(database_url, "sla", "check", "--now", future)
        assert done.returncode == 2, done.stdout + done.stderr
        assert "later than the server clock" in done.stderr and "Traceback" not in done.stderr, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr  # one line, no usage text
        assert done.stdout == ""
        assert recorded(database_url) == before

    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    done = run_cli(database_url, "sla", "check", "--now", past)
    assert done.returncode == 0, done.stderr
    assert not done.stdout.startswith("0 breach"), done.stdout  # a month-old complaint has breaches due
    assert recorded(database_url) > before
    again = run_cli(database_url, "sla", "check", "--now", past)
    assert again.returncode == 0 and again.stdout.startswith("0 breach(es) recorded"), again.stdout  # once

"""Tamper evidence on the real database (SQLite file and PostgreSQL).

A checkpoint is signed first; then stored events are changed behind the
application's back with plain SQL (one byte of a body, a deleted middle
event, two swapped events, a deleted last event, a deleted case). Every time,
``verify`` names the right case, version and kind, over the whole store and
for the one case; after the damage is undone the store verifies clean again.
The ``casetrail audit verify`` command exits 1 naming case and version.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
import pytest
from click.testing import CliRunner

from domain.audit.bundle import decode_prev_hash
from domain.audit.signing import Signer
from domain.audit.verification import checkpoint, verify
from domain.model.case import Case
from scripts.cli import cli
from tests.support import World, complaint_to

KEY = Signer.from_seed(b"\x11" * 32)  # signs the checkpoints; verify with its public key
Row = tuple[int, int, str, bytes]  # notification id, version, topic, state


class Tamper:
    """Plain SQL on the library's events table, as an attacker with DB access would."""

    def __init__(self, url: str) -> None:
        self.sqlite = url.startswith("sqlite")
        if self.sqlite:
            self.conn: Any = sqlite3.connect(url[len("sqlite:///"):], isolation_level=None)
            self.table, self.nid, self.mark = "stored_events", "rowid", "?"
        else:
            self.conn = psycopg.connect(url, autocommit=True)
            self.table, self.nid, self.mark = "casetrail_events", "notification_id", "%s"

    def _id(self, aid: UUID) -> Any:
        return aid.hex if self.sqlite else aid

    def _sql(self, sql: str, *params: Any) -> list[Any]:
        cur = self.conn.execute(sql.replace("?", self.mark).format(t=self.table, nid=self.nid), params)
        return cur.fetchall() if cur.description else []

    def rows(self, aid: UUID) -> list[Row]:
        return [(r[0], r[1], r[2], bytes(r[3])) for r in self._sql(
            "SELECT {nid}, originator_version, topic, state FROM {t} WHERE originator_id = ? "
            "ORDER BY originator_version", self._id(aid))]

    def set_row(self, aid: UUID, version: int, topic: str, state: bytes) -> None:
        self._sql("UPDATE {t} SET topic = ?, state = ? WHERE originator_id = ? AND originator_version = ?",
                  topic, state, self._id(aid), version)

    def delete(self, aid: UUID, version: int | None = None) -> None:
        if version is None:
            self._sql("DELETE FROM {t} WHERE originator_id = ?", self._id(aid))
        else:
            self._sql("DELETE FROM {t} WHERE originator_id = ? AND originator_version = ?", self._id(aid), version)

    def restore(self, aid: UUID, rows: list[Row]) -> None:
        """Put the rows back exactly (same notification ids)."""
        self.delete(aid)
        for nid, version, topic, state in rows:
            self._sql("INSERT INTO {t} ({nid}, originator_id, originator_version, topic, state) "
                      "VALUES (?, ?, ?, ?, ?)", nid, self._id(aid), version, topic, state)


@pytest.fixture
def store(database_url: str) -> Iterator[tuple[World, Tamper, list[Case]]]:
    world = World(database_url)
    replied = complaint_to(world, "replied")          # + a linked return visit
    investigating = complaint_to(world, "investigating")
    for i in range(3):
        world.advance(minutes=5)
        world.act(investigating, "log_contact", "agent", {"channel": "phone", "summary": f"call {i}"})
    inquiry = world.open("inquiry", fields={"description": "opening hours?"})
    world.act(inquiry, "answer", "agent", {"answer": "9 to 5"})
    cases = [world.case(c.id) for c in (replied, investigating, inquiry)]
    checkpoint(world.app, KEY)
    tamper = Tamper(database_url)
    try:
        yield world, tamper, cases
    finally:
        tamper.conn.close()


def found(world: World, case_id: UUID | None = None) -> set[tuple[str, int, str]]:
    report = verify(world.app, case_id, public_key=KEY)
    assert report.ok == (not report.problems)
    return {(p.case_id, p.version, p.kind) for p in report.problems}


def assert_reported(world: World, case: Case, expected: set[tuple[int, str]], allowed: set[tuple[int, str]] = set()
                    ) -> None:
    """``expected`` all reported, nothing else but ``allowed``, both store-wide and for the case."""
    for scope in (None, case.id):
        got = {(v, k) for cid, v, k in found(world, scope) if cid == str(case.id)}
        others = {p for p in found(world, scope) if p[0] != str(case.id)}
        assert not others, (scope, others)
        assert expected <= got <= expected | allowed, (scope, got)


def flip(state: bytes, offset: int) -> bytes:
    bad = bytearray(state)
    bad[offset] ^= 0x01
    return bytes(bad)


def test_untouched_store_verifies_clean(store: tuple[World, Tamper, list[Case]]) -> None:
    world, _tamper, cases = store
    report = verify(world.app, public_key=KEY)
    assert report.ok and report.problems == []
    data = report.as_dict()
    assert data["cases_checked"] == 4  # three cases and the linked return visit
    assert data["events_checked"] == world.app.recorder.max_notification_id()
    assert data["checkpoint"]["signature_ok"] is True and data["checkpoint"]["root_ok"] is True
    for case in cases:
        single = verify(world.app, case.id, public_key=KEY).as_dict()
        assert single["ok"] and single["events_checked"] == case.version


def test_one_changed_byte_is_altered_at_its_version(store: tuple[World, Tamper, list[Case]]) -> None:
    world, tamper, cases = store
    for case in cases:
        rows = tamper.rows(case.id)
        last = rows[-1][1]
        for nid, version, topic, state in (rows[0], rows[len(rows) // 2], rows[-1]):
            prev_at = state.find(decode_prev_hash(state).encode())  # inside the prev_hash itself
            for offset in (len(state) // 3, len(state) // 2, prev_at + 7, len(state) - 1):
                tamper.set_row(case.id, version, topic, flip(state, offset))
                if version < last:
                    assert_reported(world, case, {(version, "altered")})
                else:  # the newest event: the signed head catches it
                    assert_reported(world, case, {(version, "head_mismatch")}, {(version, "altered")})
                tamper.set_row(case.id, version, topic, state)
    assert found(world) == set()


def test_deleted_middle_event_is_missing(store: tuple[World, Tamper, list[Case]]) -> None:
    world, tamper, cases = store
    for case in cases:
        rows = tamper.rows(case.id)
        for row in rows[1:-1]:
            tamper.delete(case.id, row[1])
            assert_reported(world, case, {(row[1], "missing")})
            tamper.restore(case.id, rows)
    assert found(world) == set()


def test_swapped_events_are_reordered(store: tuple[World, Tamper, list[Case]]) -> None:
    world, tamper, cases = store
    for case in cases:
        rows = tamper.rows(case.id)
        n = len(rows)
        for a, b, whole_rows in [(1, 2, True), (2, 3, False), (n - 1, n, False), (1, n, True), (2, n, True)]:
            if a >= b or b > n:
                continue
            (_, va, ta, sa), (_, vb, tb, sb) = rows[a - 1], rows[b - 1]
            tamper.set_row(case.id, va, tb if whole_rows else ta, sb)
            tamper.set_row(case.id, vb, ta if whole_rows else tb, sa)
            assert_reported(world, case, {(a, "reordered"), (b, "reordered")}, {(n, "head_mismatch")})
            tamper.restore(case.id, rows)
    assert found(world) == set()


def test_deleted_last_event_is_truncated(store: tuple[World, Tamper, list[Case]]) -> None:
    world, tamper, cases = store
    for case in cases:
        rows = tamper.rows(case.id)
        tamper.delete(case.id, rows[-1][1])
        assert_reported(world, case, {(rows[-1][1], "truncated")})
        tamper.delete(case.id, rows[-2][1])
        assert_reported(world, case, {(rows[-2][1], "truncated")} if len(rows) > 2 else {(1, "case_missing")})
        tamper.restore(case.id, rows)
    assert found(world) == set()


def test_deleted_case_is_case_missing(store: tuple[World, Tamper, list[Case]]) -> None:
    world, tamper, cases = store
    for case in cases:
        rows = tamper.rows(case.id)
        tamper.delete(case.id)
        assert_reported(world, case, {(1, "case_missing")})
        tamper.restore(case.id, rows)
    assert found(world) == set()


def test_other_aggregates_are_chained_and_checkpointed_too(store: tuple[World, Tamper, list[Case]]) -> None:
    world, tamper, _cases = store
    staff_id = world.app.get_staff("supervisor").id
    rows = tamper.rows(staff_id)
    _nid, version, topic, state = rows[0]
    tamper.set_row(staff_id, version, topic, flip(state, len(state) // 2))
    assert found(world) == {(str(staff_id), 1, "head_mismatch")}
    tamper.delete(staff_id)
    assert found(world) == {(str(staff_id), 1, "case_missing")}
    tamper.restore(staff_id, rows)
    assert found(world) == set()


def test_forged_snapshot_is_reported(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Loading starts from the latest snapshot, which is not chained: verify
    replays the events and compares."""
    monkeypatch.setenv("AGGREGATE_CACHE_MAXSIZE", "100")
    world = World(database_url)
    case = world.open("complaint", fields={"description": "original text"})
    for i in range(105):
        world.act(case, "log_contact", "agent", {"channel": "phone", "summary": f"call {i}"})
    assert found(world) == set()
    tamper = Tamper(database_url)
    table = "stored_snapshots" if tamper.sqlite else "casetrail_snapshots"
    try:
        (version, state), = tamper._sql(f"SELECT originator_version, state FROM {table} WHERE originator_id = ?",
                                        tamper._id(case.id))
        forged = bytes(state).replace(b"original text", b"harmless text")
        tamper._sql(f"UPDATE {table} SET state = ? WHERE originator_id = ?", forged, tamper._id(case.id))
        assert found(world) == found(world, case.id) == {(str(case.id), version, "snapshot_mismatch")}
        tamper._sql(f"UPDATE {table} SET state = ? WHERE originator_id = ?", bytes(state), tamper._id(case.id))
        assert found(world) == set()
    finally:
        tamper.conn.close()


def test_cli_verify_exit_codes(store: tuple[World, Tamper, list[Case]], database_url: str, tmp_path: Path,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    world, tamper, cases = store
    key_file = tmp_path / "key-tamper.pem"
    key_file.write_bytes(KEY.private_pem())
    monkeypatch.setenv("CASETRAIL_DATABASE_URL", database_url)
    monkeypatch.setenv("CASETRAIL_SIGNING_KEY", str(key_file))
    runner = CliRunner()
    clean = runner.invoke(cli, ["audit", "verify"])
    assert clean.exit_code == 0, clean.output
    assert clean.output.startswith("OK:") and "signature ok" in clean.output
    case = cases[1]
    rows = tamper.rows(case.id)
    tamper.set_row(case.id, 3, rows[2][2], flip(rows[2][3], 40))
    bad = runner.invoke(cli, ["audit", "verify"])
    assert bad.exit_code == 1
    assert f"case {case.id} version 3: altered" in bad.output
    by_number = runner.invoke(cli, ["audit", "verify", "--case", case.number, "--json"])
    assert by_number.exit_code == 1
    report = json.loads(by_number.output)
    assert report["ok"] is False and report["cases_checked"] == 1
    assert [(p["case_id"], p["version"], p["kind"]) for p in report["problems"]] == [(str(case.id), 3, "altered")]
    assert runner.invoke(cli, ["audit", "verify", "--case", str(cases[0].id)]).exit_code == 0
    # the installed entry point, in its own process
    env = {**os.environ, "CASETRAIL_DATABASE_URL": database_url, "CASETRAIL_SIGNING_KEY": str(key_file)}
    casetrail = Path(sys.executable).with_name("casetrail")
    proc = subprocess.run([str(casetrail), "audit", "verify"], env=env, capture_output=True, text=True)
    assert proc.returncode == 1 and f"case {case.id} version 3" in proc.stdout
    tamper.restore(case.id, rows)
    proc = subprocess.run([str(casetrail), "audit", "verify"], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    other = key_file.with_name("other.pem")
    other.write_bytes(Signer.from_seed(b"\x12" * 32).private_pem())
    wrong_key = subprocess.run([str(casetrail), "audit", "verify"], env={**env, "CASETRAIL_SIGNING_KEY": str(other)},
                               capture_output=True, text=True)
    assert wrong_key.returncode == 1 and "checkpoint_invalid" in wrong_key.stdout

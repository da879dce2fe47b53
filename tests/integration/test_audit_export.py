"""Evidence bundles from the real database and the access ledger (SQLite file
and PostgreSQL): export, offline verification (also through the command
line), reads recorded in a separate application's own tables, and reading
never moving a case's version."""

from __future__ import annotations

import base64
import json
import sqlite3
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner

from domain.audit.access import AccessLedger, record_read
from domain.audit.bundle import verify_bundle
from domain.audit.verification import checkpoint, export_bundle, read_ledger, verify
from scripts.cli import cli
from tests.integration.test_audit_tamper import KEY
from tests.support import World, complaint_to


def tables(url: str) -> set[str]:
    if url.startswith("sqlite"):
        with sqlite3.connect(url[len("sqlite:///"):]) as conn:
            return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    with psycopg.connect(url) as conn:
        return {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}


def test_bundle_from_the_database_verifies_offline(database_url: str) -> None:
    world = World(database_url)
    case = complaint_to(world, "replied")
    other = complaint_to(world, "assigned")
    checkpoint(world.app, KEY)
    world.act(other, "start_investigation", "agent")  # after the checkpoint: not this case
    reviewer = world.actor("reviewer")
    position = world.app.recorder.max_notification_id()
    bundle = export_bundle(world.app, case.id, signer=KEY, actor=reviewer)
    # reading (and exporting) never moves the case or the event store
    assert world.case(case.id).version == case.version
    assert world.app.recorder.max_notification_id() == position
    assert [e["version"] for e in bundle["events"]] == list(range(1, case.version + 1))
    assert bundle["checkpoint"]["leaf"]["version"] == case.version
    assert bundle["checkpoint"]["seq"] == read_ledger(world.app).last["seq"]
    stored = world.app.recorder.select_events(case.id)
    assert [base64.b64decode(e["state"]) for e in bundle["events"]] == [bytes(s.state) for s in stored]
    report = verify_bundle(json.loads(json.dumps(bundle)), public_key=KEY.public_pem())
    assert report.ok and report.covered_version == case.version, report.failures
    assert verify_bundle(bundle, None).ok
    decoded = [e["decoded"] for e in bundle["events"]]
    assert decoded[0]["type"] == "Opened" and decoded[1]["actor"] == "supervisor"
    assert decoded[1]["roles"] == ["supervisor"] and decoded[1]["changes"] is not None
    reads = world.app.access_ledger.reads_of(str(case.id))
    assert [(r["actor"], r["roles"], r["what"]) for r in reads] == [("reviewer", ["reviewer"], "export")]
    assert reads[0]["detail"]["events"] == case.version


def test_export_signs_a_fresh_checkpoint_when_the_head_is_not_covered(database_url: str) -> None:
    world = World(database_url)
    case = complaint_to(world, "investigating")
    checkpoint(world.app, KEY)
    world.act(case, "log_contact", "agent", {"channel": "phone", "summary": "called back"})
    bundle = export_bundle(world.app, case.id, signer=KEY, actor=world.actor("reviewer"))
    assert bundle["checkpoint"]["seq"] == 2 and bundle["checkpoint"]["leaf"]["version"] == case.version + 1
    assert verify_bundle(bundle, public_key=KEY.public_pem()).covered_version == case.version + 1
    assert [c["seq"] for c in bundle["checkpoint_chain"]] == [1, 2]


def test_cli_export_and_verify_bundle(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    world = World(database_url)
    case = complaint_to(world, "resolution_proposed")
    monkeypatch.setenv("CASETRAIL_DATABASE_URL", database_url)
    monkeypatch.setenv("CASETRAIL_SIGNING_KEY", str(tmp_path / "signing.pem"))
    runner = CliRunner()
    path = tmp_path / "evidence.json"
    result = runner.invoke(cli, ["audit", "export", case.number, "-o", str(path), "--as", "reviewer"])
    assert result.exit_code == 0, result.output
    assert "Ed25519-signed" in result.output and f"covers version {case.version}" in result.output
    public = tmp_path / "public.pem"
    public.write_text(runner.invoke(cli, ["audit", "public-key"]).output)
    ok = runner.invoke(cli, ["audit", "verify-bundle", str(path), "--public-key", str(public)])
    assert ok.exit_code == 0 and ok.output.startswith("OK:"), ok.output
    assert runner.invoke(cli, ["audit", "verify-bundle", str(path)]).exit_code == 0
    with monkeypatch.context() as offline:  # no database, no key file: only the PEM
        offline.setenv("CASETRAIL_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/nowhere")
        offline.setenv("CASETRAIL_SIGNING_KEY", str(tmp_path / "absent.pem"))
        assert runner.invoke(cli, ["audit", "verify-bundle", str(path), "--public-key", str(public)]).exit_code == 0
    html = tmp_path / "evidence.html"
    printed = runner.invoke(cli, ["audit", "export", case.number, "-o", str(html), "--format", "html"])
    assert printed.exit_code == 0, printed.output
    text = html.read_text(encoding="utf-8")
    assert text.startswith("<!doctype html>") and case.number in text and "Ed25519" not in text[:0]
    assert "ed25519" in text and "Opened" in text and "verify-bundle" in text
    # one changed byte in one stored body
    bundle = json.loads(path.read_text())
    state = bytearray(base64.b64decode(bundle["events"][2]["state"]))
    state[len(state) // 2] ^= 0x01
    bundle["events"][2]["state"] = base64.b64encode(bytes(state)).decode()
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(bundle))
    failed = runner.invoke(cli, ["audit", "verify-bundle", str(bad), "--json"])
    assert failed.exit_code == 1
    report = json.loads(failed.output)
    assert {(f["what"], f["version"]) for f in report["failures"]} >= {("hash", 3), ("chain", 4)}
    # another public key
    from domain.audit.signing import Signer

    other = tmp_path / "other.pem"
    other.write_text(Signer.from_seed(b"\x15" * 32).public_pem())
    wrong = runner.invoke(cli, ["audit", "verify-bundle", str(path), "--public-key", str(other)])
    assert wrong.exit_code == 1 and "signature" in wrong.output
    garbage = tmp_path / "garbage.json"
    garbage.write_text("not json")
    assert runner.invoke(cli, ["audit", "verify-bundle", str(garbage)]).exit_code == 1
    monkeypatch.delenv("CASETRAIL_AUDIT_KEY", raising=False)
    assert runner.invoke(cli, ["audit", "verify-bundle", "--key-env", str(path)]).exit_code == 2
    missing = runner.invoke(cli, ["audit", "export", "TS-209901-9999", "-o", str(tmp_path / "x.json")])
    assert missing.exit_code != 0 and not (tmp_path / "x.json").exists()
    reads = world.app.access_ledger.reads_of(str(case.id))
    assert [(r["actor"], r["what"]) for r in reads] == [("reviewer", "export"), ("system:cli:" + _user(), "export")]


def _user() -> str:
    import getpass

    return getpass.getuser()


def test_access_ledger_is_a_separate_application(database_url: str) -> None:
    world = World(database_url)
    case = complaint_to(world, "assigned")
    position = world.app.recorder.max_notification_id()
    reviewer = world.actor("reviewer")
    for what in ("history", "case", "history"):
        record_read(world.app, reviewer, case.id, what, {"via": "test"})
    assert world.case(case.id).version == case.version
    assert world.app.recorder.max_notification_id() == position  # nothing in the case store
    names = tables(database_url)
    assert ("access_events" if database_url.startswith("sqlite") else "accessledger_events") in names
    ledger = world.app.access_ledger
    assert ledger is world.app.access_ledger
    assert [r["what"] for r in ledger.reads_of(str(case.id))] == ["history", "case", "history"]
    assert all(r["at"] == world.now.isoformat() and r["detail"] == {"via": "test"} for r in ledger.reads_of(
        str(case.id)))
    # a second process sees the same reads; the access log is chained and verifies
    again = AccessLedger.from_url(database_url)
    assert len(again.reads_of(str(case.id))) == 3
    assert verify(again).ok and verify(again).events_checked == 4
    assert verify(world.app).ok

"""Incremental verify (``verify(..., since_checkpoint=True)``, ``audit verify --incremental``).

After a signed checkpoint over about 200 events and 5 events written after it,
the incremental verify reads only the notifications after the checkpoint's
position (counted on the recorder) and one stored event per signed aggregate;
it detects an event changed after the checkpoint, and a case rewritten and
re-chained up to its head before the checkpoint (the head no longer matches
the signed head). Without a checkpoint it verifies in full, and with a
witness that holds checkpoints, a database without them still fails.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from domain.audit.ledger import checkpoint, ledger_id
from domain.audit.signing import Signer
from domain.audit.verification import verify
from domain.audit.witness import Witness
from domain.model.case import Case
from scripts.cli import cli
from tests.integration.test_audit_insider import forge
from tests.integration.test_audit_tamper import Tamper, flip
from tests.support import World, complaint_to

SIGNER = Signer.from_seed(bytes(range(32)))
PUBLIC = SIGNER.public_key()
Store = tuple[World, Tamper, Case, Case, Witness]


@pytest.fixture
def store(database_url: str, tmp_path: Path) -> Iterator[Store]:
    world = World(database_url)
    old = complaint_to(world, "investigating")
    while (world.app.recorder.max_notification_id() or 0) < 200:
        world.act(old, "log_contact", "agent", {"channel": "phone", "summary": "called"})
    witness = Witness(str(tmp_path / "witness.jsonl"))
    checkpoint(world.app, SIGNER, witness=witness)
    new = complaint_to(world, "assigned")  # 2 events
    for i in range(3):
        world.act(old, "log_contact", "agent", {"channel": "phone", "summary": f"after {i}"})
    tamper = Tamper(database_url)
    try:
        yield world, tamper, world.case(old.id), world.case(new.id), witness
    finally:
        tamper.conn.close()


class Counting:
    """Counts the notifications the recorder returns."""

    def __init__(self, recorder: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        self.rows = 0
        original = recorder.select_notifications

        def select_notifications(*args: Any, **kwargs: Any) -> Any:
            items = original(*args, **kwargs)
            self.rows += len(items)
            return items

        monkeypatch.setattr(recorder, "select_notifications", select_notifications)


def incremental(world: World, witness: Witness | None = None) -> Any:
    return verify(world.app, public_key=PUBLIC, witness=witness.read() if witness else None, since_checkpoint=True)


def test_clean_store_reads_only_the_events_since(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    world, _tamper, _old, _new, witness = store
    full = verify(world.app, public_key=PUBLIC, witness=witness.read())
    assert full.ok and full.mode == "full" and full.events_checked > 200
    counting = Counting(world.app.recorder, monkeypatch)
    report = incremental(world, witness)
    assert report.ok, report.as_dict()
    assert report.mode == "incremental" and report.as_dict()["mode"] == "incremental"
    position = report.since["position"]
    assert position >= 200 and report.since["checkpoint"] == 1
    # the rows after the position only: the new events of 5 actions and the first checkpoint's
    # own 3 ledger events (Started, HeadsRecorded, Checkpointed), nothing before it
    assert counting.rows == (world.app.recorder.max_notification_id() or 0) - position, counting.rows
    assert 5 <= report.events_checked == counting.rows - 3 <= 8, (report.events_checked, counting.rows)
    assert report.cases_checked == 2 and any(w["kind"] == "incremental" for w in report.warnings)


def test_event_changed_after_the_checkpoint(store: Store) -> None:
    world, tamper, old, _new, _witness = store
    rows = tamper.rows(old.id)
    nid, version, topic, state = rows[-2]  # after the checkpoint, and followed by another event
    tamper.set_row(old.id, version, topic, flip(state, len(state) // 2))
    report = incremental(world)
    assert (str(old.id), version, "altered") in {(p.case_id, p.version, p.kind) for p in report.problems}
    tamper.set_row(old.id, version, topic, state)
    assert incremental(world).ok


def test_new_case_changed_after_the_checkpoint(store: Store) -> None:
    world, tamper, _old, new, _witness = store
    _nid, version, topic, state = tamper.rows(new.id)[0]
    tamper.set_row(new.id, version, topic, flip(state, len(state) // 2))
    assert {(str(new.id), 1, "altered")} <= {(p.case_id, p.version, p.kind) for p in incremental(world).problems}


def test_rechained_up_to_the_signed_head(store: Store) -> None:
    world, tamper, old, _new, witness = store
    forge(tamper, old.id, 2, b"agent", b"agenX")  # re-chains every later event, up to the newest
    report = incremental(world, witness)
    assert report.mode == "incremental"
    assert "head_mismatch" in {p.kind for p in report.problems if p.case_id == str(old.id)}


def test_deleted_new_event(store: Store) -> None:
    world, tamper, old, _new, _witness = store
    version = tamper.rows(old.id)[-2][1]
    tamper.delete(old.id, version)
    assert (str(old.id), version, "missing") in {(p.case_id, p.version, p.kind) for p in incremental(world).problems}


def test_without_a_checkpoint_verifies_in_full(database_url: str, tmp_path: Path) -> None:
    world = World(database_url)
    complaint_to(world, "assigned")
    report = verify(world.app, public_key=PUBLIC, since_checkpoint=True)
    assert report.ok and report.mode == "full" and any(w["kind"] == "full_verify" for w in report.warnings)


def test_deleted_ledger_still_fails_closed(store: Store) -> None:
    world, tamper, _old, _new, witness = store
    tamper.delete(ledger_id())
    report = incremental(world, witness)
    assert report.mode == "full" and "checkpoint_missing" in {p.kind for p in report.problems}


def test_cli_incremental(store: Store, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _world, tamper, old, _new, witness = store
    key_file = tmp_path / "signing.pem"
    key_file.write_bytes(SIGNER.private_pem())
    monkeypatch.setenv("CASETRAIL_DATABASE_URL", database_url)
    monkeypatch.setenv("CASETRAIL_SIGNING_KEY", str(key_file))
    args = ["audit", "verify", "--incremental", "--witness", witness.path]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "incremental since checkpoint #1" in result.output
    _nid, version, topic, state = tamper.rows(old.id)[-2]
    tamper.set_row(old.id, version, topic, flip(state, len(state) // 2))
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1, result.output
    assert f"case {old.id} version {version}: altered" in result.output
    assert CliRunner().invoke(cli, ["audit", "verify", "--witness", witness.path]).exit_code == 1


def test_api_incremental(store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import warnings

    from api.app import create_app

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient
    world, tamper, old, _new, witness = store
    key_file = tmp_path / "signing.pem"
    key_file.write_bytes(SIGNER.private_pem())
    monkeypatch.setenv("CASETRAIL_SIGNING_KEY", str(key_file))
    monkeypatch.setenv("CASETRAIL_WITNESS", witness.path)
    token = world.app.issue_token("reviewer")
    with TestClient(create_app(world.app, configure_logs=False)) as client:
        def get(**params: str) -> Any:
            return client.get("/v1/audit/verify", params=params, headers={"Authorization": f"Bearer {token}"})

        assert get(incremental="maybe").status_code == 400
        report = get(incremental="true").json()
        assert report["ok"] is True, report
        assert report["mode"] == "incremental" and report["since"]["checkpoint"] == 1
        assert report["events_checked"] < 10
        assert get().json()["mode"] == "full"
        _nid, version, topic, state = tamper.rows(old.id)[-2]
        tamper.set_row(old.id, version, topic, flip(state, len(state) // 2))
        report = get(incremental="true").json()
        assert report["ok"] is False and report["mode"] == "incremental"
        assert {"case_id": str(old.id), "version": version, "kind": "altered"} in [
            {k: p[k] for k in ("case_id", "version", "kind")} for p in report["problems"]]


def test_in_memory_store_reads_heads_one_by_one() -> None:
    world = World()  # the library's in-memory recorder: select_heads falls back to select_events
    case = complaint_to(world, "investigating")
    checkpoint(world.app, SIGNER)
    world.act(case, "log_contact", "agent", {"channel": "phone", "summary": "after"})
    report = verify(world.app, public_key=PUBLIC, since_checkpoint=True)
    assert report.ok and report.mode == "incremental" and report.events_checked == 1
    assert report.cases_checked == 1

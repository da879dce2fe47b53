"""The insider with write access to the database (SQLite file and PostgreSQL tables).

Each attack is made with plain SQL on the real tables, after checkpoints were
signed (Ed25519) and written to a witness file outside the database; the
verifier holds only the public key and the witness. Every attack must be
detected, naming what differs, and no new checkpoint may be signed over it:

- rewrite an event, re-chain the case, and delete the whole checkpoint ledger;
- roll the ledger back to an older checkpoint (delete the newest);
- edit a checkpoint (its root), or re-sign it with another key;
- strip or null a bundle's checkpoint and signature, or re-chain a bundle;
- rewrite (and re-chain) or delete reads in the access ledger.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgpack
import pytest
from click.testing import CliRunner

from domain.audit.bundle import record_hash, verify_bundle
from domain.audit.ledger import CheckpointRefused, checkpoint, ledger_id, read_ledger
from domain.audit.signing import Signer
from domain.audit.verification import export_bundle, verify
from domain.audit.witness import Witness
from domain.model.case import Case
from scripts.cli import cli
from tests.integration.test_audit_tamper import Tamper
from tests.support import World, complaint_to

SIGNER = Signer.from_seed(bytes(range(32)))
ATTACKER = Signer.from_seed(bytes(range(1, 33)))
PUBLIC = SIGNER.public_key()


class AccessTamper(Tamper):
    """Plain SQL on the access ledger's own table."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.table = "access_events" if self.sqlite else "accessledger_events"


def rechain(rows: list[tuple[int, int, str, bytes]], aid: Any, version: int, old: bytes, new: bytes
            ) -> list[tuple[int, str, bytes]]:
    """Rewrite event ``version`` (``old`` -> ``new`` in its bytes) and recompute every
    later ``prev_hash``: a consistent, forged chain."""
    out, prev = [], None
    for _nid, v, topic, state in rows:
        if v == version:
            state = state.replace(old, new, 1)
            assert old in rows[v - 1][3]
        elif prev is not None:
            body = msgpack.unpackb(state, raw=False, strict_map_key=False)
            body["prev_hash"] = prev
            state = msgpack.packb(body, use_bin_type=True)
        if v >= version:
            out.append((v, topic, state))
            prev = record_hash(topic, state)
    return out


def forge(tamper: Tamper, aid: Any, version: int, old: bytes, new: bytes) -> None:
    for v, topic, state in rechain(tamper.rows(aid), aid, version, old, new):
        tamper.set_row(aid, v, topic, state)


@pytest.fixture
def insider(database_url: str, tmp_path: Path) -> Iterator[tuple[World, Tamper, Case, Witness]]:
    world = World(database_url)
    case = complaint_to(world, "investigating")
    witness = Witness(str(tmp_path / "witness.jsonl"))
    checkpoint(world.app, SIGNER, witness=witness)
    world.act(case, "log_contact", "agent", {"channel": "phone", "summary": "called the customer"})
    world.app.access_ledger.record_read(world.actor("reviewer"), str(case.id), "history")
    world.advance(minutes=5)
    checkpoint(world.app, SIGNER, witness=witness)
    tamper = Tamper(database_url)
    try:
        yield world, tamper, world.case(case.id), witness
    finally:
        tamper.conn.close()


def kinds(world: World, witness: Witness | None, public: Any = PUBLIC) -> set[str]:
    report = verify(world.app, public_key=public, witness=witness.read() if witness else None)
    assert report.ok == (not report.problems)
    return {p.kind for p in report.problems}


def test_clean_store_verifies_with_public_key_and_witness(insider: tuple[World, Tamper, Case, Witness]) -> None:
    world, _tamper, _case, witness = insider
    report = verify(world.app, public_key=PUBLIC, witness=witness.read())
    assert report.ok, report.as_dict()
    assert report.checkpoint["seq"] == 2 and report.checkpoint["signature_ok"] is True
    assert report.witness == {"path": witness.path, "checkpoints": 2, "last_seq": 2}
    assert report.access_events_checked == 2
    records = witness.read().ordered()
    assert [r["seq"] for r in records] == [1, 2] and records[0]["scheme"] == "ed25519"
    assert "heads" not in records[0] and records[1]["prev"] != records[0]["prev"]


def test_rechained_case_and_deleted_ledger(insider: tuple[World, Tamper, Case, Witness]) -> None:
    world, tamper, case, witness = insider
    forge(tamper, case.id, 2, b"agent", b"agenX")  # the assignment now names someone else
    ledger_rows = tamper.rows(ledger_id())
    tamper.delete(ledger_id())
    assert read_ledger(world.app) is None
    assert {"checkpoint_missing", "root_mismatch"} <= kinds(world, witness)
    with pytest.raises(CheckpointRefused, match="checkpoint_missing"):
        checkpoint(world.app, SIGNER, witness=witness)  # never signs the forged store as genuine
    assert read_ledger(world.app) is None
    # deleting the ledger alone (the events untouched) is also a failure: fail closed
    tamper.restore(ledger_id(), ledger_rows)
    assert "head_mismatch" in kinds(world, witness)
    tamper.delete(ledger_id())
    assert "checkpoint_missing" in kinds(world, witness)


def test_ledger_deleted_alone_fails_closed(insider: tuple[World, Tamper, Case, Witness]) -> None:
    world, tamper, _case, witness = insider
    tamper.delete(ledger_id())
    assert kinds(world, witness) == {"checkpoint_missing"}


def test_rolled_back_to_an_older_checkpoint(insider: tuple[World, Tamper, Case, Witness]) -> None:
    world, tamper, case, witness = insider
    rows = tamper.rows(ledger_id())
    newest = [r for r in rows if r[1] > read_ledger(world.app).checkpoints[0]["version"]]
    for _nid, version, _t, _s in newest:
        tamper.delete(ledger_id(), version)
    assert read_ledger(world.app).last["seq"] == 1
    assert "checkpoint_missing" in kinds(world, witness)
    # and a case changed after checkpoint #1, re-chained: the witnessed root #2 disagrees
    forge(tamper, case.id, case.version, b"called the customer", b"customer not called")
    assert {"checkpoint_missing", "root_mismatch"} <= kinds(world, witness)
    with pytest.raises(CheckpointRefused):
        checkpoint(world.app, SIGNER, witness=witness)


def test_edited_or_resigned_checkpoint(insider: tuple[World, Tamper, Case, Witness]) -> None:
    world, tamper, _case, witness = insider
    cp = read_ledger(world.app).last
    rows = {r[1]: r for r in tamper.rows(ledger_id())}
    _nid, version, topic, state = rows[cp["version"]]
    body = msgpack.unpackb(state, raw=False, strict_map_key=False)
    body["position"] = body["position"] - 1
    tamper.set_row(ledger_id(), version, topic, msgpack.packb(body, use_bin_type=True))
    assert {"checkpoint_invalid", "checkpoint_altered"} <= kinds(world, witness)
    assert "checkpoint_invalid" in kinds(world, None)  # the signature alone catches an edit
    # re-signed with the attacker's own key: the published public key does not verify it
    from domain.audit.proofs import checkpoint_message

    body = msgpack.unpackb(state, raw=False, strict_map_key=False)
    body["key_id"] = ATTACKER.key_id
    body["signature"] = ATTACKER.sign(checkpoint_message({**cp, "key_id": ATTACKER.key_id}))
    tamper.set_row(ledger_id(), version, topic, msgpack.packb(body, use_bin_type=True))
    assert {"checkpoint_invalid", "checkpoint_altered"} <= kinds(world, witness)
    with pytest.raises(CheckpointRefused):
        checkpoint(world.app, SIGNER, witness=witness)
    tamper.set_row(ledger_id(), version, topic, state)
    assert kinds(world, witness) == set()


def test_gap_in_checkpoint_sequence(insider: tuple[World, Tamper, Case, Witness]) -> None:
    world, tamper, _case, witness = insider
    world.advance(minutes=5)
    world.open("inquiry")
    checkpoint(world.app, SIGNER, witness=witness)
    second = read_ledger(world.app).checkpoints[1]
    tamper.delete(ledger_id(), second["version"])  # the Checkpointed event of #2 only
    found = kinds(world, None)
    assert "checkpoint_gap" in found or "checkpoint_invalid" in found
    assert "checkpoint_missing" in kinds(world, witness)


def test_stripped_bundle_signatures(insider: tuple[World, Tamper, Case, Witness]) -> None:
    world, _tamper, case, witness = insider
    bundle = json.loads(json.dumps(export_bundle(world.app, case.id, signer=SIGNER, witness=witness,
                                                 actor=world.actor("reviewer"))))
    assert verify_bundle(bundle, public_key=SIGNER.public_pem()).ok
    assert [e["decoded"]["type"] for e in bundle["events"]][:1] == ["Opened"]
    assert bundle["checkpoint_chain"][-1]["seq"] == bundle["checkpoint"]["seq"]
    for strip in (lambda b: b.__setitem__("checkpoint", None),
                  lambda b: b["checkpoint"].__setitem__("signature", None),
                  lambda b: b["checkpoint"].pop("signature"),
                  lambda b: b["checkpoint"].__setitem__("scheme", None),
                  lambda b: (b.__setitem__("checkpoint", None), b.__setitem__("checkpoint_chain", []))):
        stripped = copy.deepcopy(bundle)
        strip(stripped)
        report = verify_bundle(stripped, public_key=SIGNER.public_pem())
        assert not report.ok and "signature" in {f["what"] for f in report.failures}
    # a re-chained bundle (an event rewritten, every later hash recomputed, the head moved)
    forged = copy.deepcopy(bundle)
    rows = [(0, e["version"], e["topic"], base64.b64decode(e["state"])) for e in forged["events"]]
    for v, topic, state in rechain(rows, case.id, 2, b"agent", b"agenX"):
        e = forged["events"][v - 1]
        e.update(state=base64.b64encode(state).decode(), hash=record_hash(topic, state))
    forged["head"]["hash"] = forged["events"][-1]["hash"]
    report = verify_bundle(forged, public_key=SIGNER.public_pem())
    assert not report.ok and {"checkpoint", "decoded"} & {f["what"] for f in report.failures}
    # signed by another key
    assert not verify_bundle(bundle, public_key=ATTACKER.public_pem()).ok
    # the decoded reading must be what the bytes say
    lied = copy.deepcopy(bundle)
    lied["events"][1]["decoded"]["actor"] = "someone-else"
    assert "decoded" in {f["what"] for f in verify_bundle(lied, public_key=SIGNER.public_pem()).failures}


def test_tampered_access_ledger(insider: tuple[World, Tamper, Case, Witness], database_url: str) -> None:
    world, _tamper, case, witness = insider
    access = AccessTamper(database_url)
    try:
        from domain.audit.access import AccessLog

        log = AccessLog.create_id(str(case.id))
        rows = access.rows(log)
        assert len(rows) == 2  # Started, Read (before checkpoint #2)
        forge(access, log, 2, b"reviewer", b"nobody12")  # who read it is rewritten, re-chained
        found = verify(world.app, public_key=PUBLIC, witness=witness.read()).problems
        assert {(p.case_id, p.kind) for p in found} >= {(f"access:{log}", "head_mismatch")}
        with pytest.raises(CheckpointRefused):
            world.app.access_ledger.record_read(world.actor("reviewer"), str(case.id), "history")
            checkpoint(world.app, SIGNER, witness=witness)
        access.restore(log, rows)
        access.delete(log, 3)  # the read just recorded (after the checkpoint)
        assert verify(world.app, public_key=PUBLIC, witness=witness.read()).ok
        access.delete(log)  # every read of the case, gone
        assert "case_missing" in {p.kind for p in verify(world.app, public_key=PUBLIC).problems}
        access.restore(log, rows)
        assert verify(world.app, public_key=PUBLIC, witness=witness.read()).ok
    finally:
        access.conn.close()


def test_cli_fails_closed_with_witness(insider: tuple[World, Tamper, Case, Witness], database_url: str,
                                       tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    world, tamper, case, witness = insider
    key_file = tmp_path / "signing.pem"
    key_file.write_bytes(SIGNER.private_pem())
    public = tmp_path / "public.pem"
    monkeypatch.setenv("CASETRAIL_DATABASE_URL", database_url)
    monkeypatch.setenv("CASETRAIL_SIGNING_KEY", str(key_file))
    monkeypatch.setenv("CASETRAIL_WITNESS", witness.path)
    runner = CliRunner()
    printed = runner.invoke(cli, ["audit", "public-key"])
    assert printed.exit_code == 0 and printed.output.startswith("-----BEGIN PUBLIC KEY-----")
    public.write_text(printed.output)
    args = ["audit", "verify", "--witness", witness.path, "--public-key", str(public)]
    clean = runner.invoke(cli, args)
    assert clean.exit_code == 0, clean.output
    forge(tamper, case.id, 2, b"agent", b"agenX")
    tamper.delete(ledger_id())
    bad = runner.invoke(cli, args)
    assert bad.exit_code == 1 and "checkpoint_missing" in bad.output and "no checkpoint yet" not in bad.output
    refused = runner.invoke(cli, ["audit", "checkpoint"])
    assert refused.exit_code == 1 and "checkpoint_missing" in refused.output
    assert read_ledger(world.app) is None


def test_checkpoints_by_default_with_a_new_key(sqlite_url: str, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    world = World(sqlite_url)
    world.open("inquiry")
    monkeypatch.setenv("CASETRAIL_DATABASE_URL", sqlite_url)
    for name in ("CASETRAIL_SIGNING_KEY", "CASETRAIL_WITNESS", "CASETRAIL_AUDIT_KEY", "CASETRAIL_PUBLIC_KEY"):
        monkeypatch.delenv(name, raising=False)
    result = CliRunner().invoke(cli, ["audit", "checkpoint"])
    assert result.exit_code == 0, result.output
    key_file = tmp_path / "casetrail-signing-key.pem"
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    assert json.loads(result.output)["scheme"] == "ed25519"
    assert (tmp_path / "casetrail-witness.jsonl").read_text().count("\n") == 1
    verified = CliRunner().invoke(cli, ["audit", "verify"])
    assert verified.exit_code == 0 and "signature ok" in verified.output, verified.output

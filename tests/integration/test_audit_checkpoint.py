"""Signed checkpoints on the real database (SQLite file and PostgreSQL): the
digest, the audit ledger (chained like any aggregate), periodic checkpoints,
refusing to sign over a rewritten head, a damaged or foreign-key checkpoint,
and the ``casetrail audit checkpoint`` command."""

from __future__ import annotations

import json
import threading
from datetime import datetime

import pytest
from click.testing import CliRunner

from domain.application import CaseTrail
from domain.audit.bundle import merkle_root, record_hash, sorted_leaves
from domain.audit.ledger import iter_notifications
from domain.audit.proofs import GENESIS_CHECKPOINT, checkpoint_hash, ed25519_valid
from domain.audit.signing import Signer
from domain.audit.verification import (
    AuditKeyMissing,
    ChainBroken,
    checkpoint,
    ledger_id,
    maybe_checkpoint,
    read_ledger,
    verify,
)
from domain.storage.database import env_for_url
from scripts.cli import cli
from tests.integration.test_audit_tamper import KEY, Tamper
from tests.support import World, complaint_to


def independent_heads(app: CaseTrail) -> dict[str, list]:
    """Every aggregate's head, recomputed from the raw log (not the ledger)."""
    heads: dict[str, list] = {}
    own = ledger_id()
    for n in iter_notifications(app.recorder, 1, None):
        if n.originator_id != own:
            heads[str(n.originator_id)] = [n.originator_version, record_hash(n.topic, n.state)]
    return heads


def test_checkpoint_signs_every_head(database_url: str) -> None:
    world = World(database_url)
    case = complaint_to(world, "investigating")
    digest = checkpoint(world.app, KEY)
    assert set(digest) == {"id", "seq", "ledger_id", "version", "root", "count", "signature", "at", "position",
                           "access_position", "prev", "key_id", "scheme"}
    assert digest["scheme"] == "ed25519" and digest["prev"] == GENESIS_CHECKPOINT and digest["key_id"] == KEY.key_id
    heads = independent_heads(world.app)
    assert digest["count"] == len(heads) == 12 + 2  # staff, the case, its number series
    assert digest["root"] == merkle_root(sorted_leaves(heads))
    assert digest["seq"] == digest["id"] == 1 and digest["at"] == world.now.isoformat()
    assert ed25519_valid(KEY.public_key(), digest)
    assert not ed25519_valid(Signer.from_seed(b"\x13" * 32).public_key(), digest)
    assert heads[str(case.id)][0] == case.version
    # the ledger is an aggregate of the same store, chained, but not a leaf of its own tree
    ledger = read_ledger(world.app)
    assert ledger is not None and ledger.last is not None and ledger.last["root"] == digest["root"]
    assert str(ledger_id()) not in ledger.heads
    assert verify(world.app, ledger_id(), public_key=KEY).ok
    # a later checkpoint records only what changed, but signs the root over all heads
    world.act(case, "log_contact", "agent", {"channel": "phone", "summary": "called"})
    second = checkpoint(world.app, KEY)
    assert second["seq"] == 2 and second["count"] == digest["count"] and second["root"] != digest["root"]
    assert second["prev"] == checkpoint_hash(digest)
    assert second["root"] == merkle_root(sorted_leaves(independent_heads(world.app)))
    stored = [e.topic.rsplit(".", 1)[-1] for e in world.app.recorder.select_events(ledger_id())]
    assert stored == ["Started", "HeadsRecorded", "Checkpointed", "HeadsRecorded", "Checkpointed"]
    changed = world.app.mapper.to_domain_event(world.app.recorder.select_events(ledger_id())[3]).heads
    assert list(changed) == [str(case.id)]
    report = verify(world.app, public_key=KEY).as_dict()
    assert report["ok"] and report["checkpoint"]["seq"] == 2 and report["checkpoint"]["signature_ok"]


def test_checkpoint_needs_a_signer_and_the_cli_makes_one(database_url: str, tmp_path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    world = World(database_url)
    with pytest.raises(AuditKeyMissing):
        checkpoint(world.app, None)
    assert maybe_checkpoint(world.app, None, 0) is None
    monkeypatch.setenv("CASETRAIL_DATABASE_URL", database_url)
    monkeypatch.setenv("CASETRAIL_SIGNING_KEY", str(tmp_path / "keys" / "signing.pem"))
    monkeypatch.delenv("CASETRAIL_WITNESS", raising=False)
    monkeypatch.delenv("CASETRAIL_AUDIT_KEY", raising=False)
    result = CliRunner().invoke(cli, ["audit", "checkpoint"])
    assert result.exit_code == 0, result.output
    digest = json.loads(result.output)
    made = Signer.from_seed(b"\x00" * 32)  # any signer: the key on disk is the one that verifies
    assert digest["seq"] == 1 and not ed25519_valid(made.public_key(), digest)
    public = CliRunner().invoke(cli, ["audit", "public-key"]).output
    assert ed25519_valid(public, digest)
    assert (tmp_path / "keys" / "casetrail-witness.jsonl").exists()


def test_maybe_checkpoint_runs_when_due_and_changed(database_url: str) -> None:
    world = World(database_url)
    case = world.open("inquiry")
    first = maybe_checkpoint(world.app, KEY, every_seconds=60)
    assert first is not None and first["seq"] == 1
    world.act(case, "answer", "agent", {"answer": "yes"})
    assert maybe_checkpoint(world.app, KEY, every_seconds=60) is None  # too soon
    world.advance(seconds=61)
    second = maybe_checkpoint(world.app, KEY, every_seconds=60)
    assert second is not None and second["seq"] == 2
    world.advance(seconds=61)
    assert maybe_checkpoint(world.app, KEY, every_seconds=60) is None  # nothing changed
    assert verify(world.app, public_key=KEY).ok


def test_concurrent_checkpoints_keep_one_chain(database_url: str) -> None:
    world = World(database_url)
    complaint_to(world, "assigned")
    apps = [CaseTrail(env_for_url(database_url), clock=lambda: world.now) for _ in range(3)]
    digests: list[dict] = []
    errors: list[BaseException] = []

    def run(app: CaseTrail) -> None:
        try:
            for _ in range(3):
                digests.append(checkpoint(app, KEY))
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(a,)) for a in apps]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(d["seq"] for d in digests) == list(range(1, 10))
    assert verify(world.app, public_key=KEY).ok


def test_refuses_to_sign_over_a_rewritten_head(database_url: str) -> None:
    world = World(database_url)
    case = complaint_to(world, "investigating")
    checkpoint(world.app, KEY)
    tamper = Tamper(database_url)
    try:
        _nid, version, topic, state = tamper.rows(case.id)[-1]
        rewritten = state.replace(b"agent", b"agenX", 1)  # still a readable event, now by someone else
        assert rewritten != state
        tamper.set_row(case.id, version, topic, rewritten)
        # a fresh process continues the chain from the rewritten bytes...
        fresh = CaseTrail(env_for_url(database_url), clock=lambda: world.now)
        fresh.act(world.actor("agent"), case.id, "log_contact", {"channel": "phone", "summary": "x"})
        problems = {(p.case_id, p.version, p.kind) for p in verify(world.app, public_key=KEY).problems}
        assert problems == {(str(case.id), version, "head_mismatch")}
        # ...but no checkpoint will absorb the rewrite
        with pytest.raises(ChainBroken) as refused:
            checkpoint(world.app, KEY)
        assert str(case.id) in str(refused.value) and f"version {version + 1}" in str(refused.value)
        world.advance(minutes=10)
        with pytest.raises(ChainBroken):
            maybe_checkpoint(world.app, KEY, every_seconds=1)
        assert read_ledger(world.app).last["seq"] == 1
    finally:
        tamper.conn.close()


def test_damaged_or_foreign_checkpoint_is_invalid(database_url: str) -> None:
    world = World(database_url)
    complaint_to(world, "assigned")
    checkpoint(world.app, KEY)
    lid = str(ledger_id())
    clean = verify(world.app).as_dict()
    assert clean["ok"] and [w["kind"] for w in clean["warnings"]] == ["no_key", "no_witness"]
    assert clean["checkpoint"]["signature_ok"] is None and clean["checkpoint"]["root_ok"] is True
    other = verify(world.app, public_key=Signer.from_seed(b"\x14" * 32))
    assert [(p.case_id, p.kind) for p in other.problems] == [(lid, "checkpoint_invalid")]
    tamper = Tamper(database_url)
    try:
        rows = tamper.rows(ledger_id())
        _nid, version, topic, state = rows[-1]  # the Checkpointed event: change its root
        root = read_ledger(world.app).last["root"]
        forged = state.replace(root.encode(), ("1" if root[0] == "0" else "0").encode() + root[1:].encode())
        assert forged != state
        tamper.set_row(ledger_id(), version, topic, forged)
        kinds = {(p.case_id, p.version, p.kind) for p in verify(world.app, public_key=KEY).problems}
        assert (lid, version, "checkpoint_invalid") in kinds
        tamper.set_row(ledger_id(), version, topic, state)
        # the recorded heads are bound by the root: change one of them
        _nid, hv, htopic, hstate = rows[1]
        some_head = next(iter(read_ledger(world.app).heads.values()))[1]
        tamper.set_row(ledger_id(), hv, htopic, hstate.replace(some_head.encode(), ("f" * 64).encode()))
        kinds = {(p.case_id, p.kind) for p in verify(world.app, public_key=KEY).problems}
        assert (lid, "checkpoint_invalid") in kinds
        tamper.restore(ledger_id(), rows)
        assert verify(world.app, public_key=KEY).ok
    finally:
        tamper.conn.close()


def test_checkpoint_time_comes_from_the_clock(database_url: str) -> None:
    world = World(database_url)
    digest = checkpoint(world.app, KEY)
    assert datetime.fromisoformat(digest["at"]) == world.now

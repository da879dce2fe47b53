"""Chain classification (``domain.audit.verification.classify_chain``) and the Merkle tree,
on synthetic stored events (no database): every single-byte change of every
event, every deletion, every swap, truncation and whole-aggregate loss is
reported with the right version and kind."""

from __future__ import annotations

import itertools

import msgpack
import pytest

from domain.audit.bundle import (
    EMPTY_ROOT,
    checkpoint_message,
    decode_prev_hash,
    genesis_hash,
    leaf_hash,
    merkle_proof,
    merkle_root,
    record_hash,
    root_from_proof,
    sign_checkpoint,
    signature_valid,
)
from domain.audit.verification import Problem, classify_chain

AID = "1858b4ec-eadb-56dc-ae7f-916f9b6b2704"
OPENED = "domain.model.case:Case.Opened"
TAKEN = "domain.model.case:Case.ActionTaken"


def chain(n: int = 6, aid: str = AID) -> list[tuple[int, str, bytes]]:
    rows, prev = [], genesis_hash(aid)
    for v in range(1, n + 1):
        topic = OPENED if v == 1 else TAKEN
        body = {"action": f"step{v}", "data": {"note": "x" * (v % 3), "n": v}, "meta": {"actor": "agent"},
                "prev_hash": prev}
        state = msgpack.packb(body, use_bin_type=True)
        rows.append((v, topic, state))
        prev = record_hash(topic, state)
    return rows


def classify(rows: list[tuple[int, str, bytes]], signed: tuple[int, str] | None = None,
             aid: str = AID) -> set[tuple[int, str]]:
    problems = classify_chain(aid, [(v, t, s, decode_prev_hash(s)) for v, t, s in rows], signed)
    assert all(isinstance(p, Problem) and p.case_id == aid and p.detail for p in problems)
    return {(p.version, p.kind) for p in problems}


def head(rows: list[tuple[int, str, bytes]]) -> tuple[int, str]:
    v, t, s = rows[-1]
    return v, record_hash(t, s)


def test_untouched_chain_is_clean() -> None:
    rows = chain()
    assert classify(rows) == set()
    assert classify(rows, head(rows)) == set()
    assert classify(rows[:1], head(rows[:1])) == set()


@pytest.mark.parametrize("k", range(1, 7))
def test_every_single_byte_change_is_reported_at_its_version(k: int) -> None:
    rows = chain()
    signed = head(rows)
    v, topic, state = rows[k - 1]
    for offset in range(len(state)):
        bad = bytearray(state)
        bad[offset] ^= 0x01
        tampered = list(rows)
        tampered[k - 1] = (v, topic, bytes(bad))
        found = classify(tampered, signed)
        if k < len(rows):
            assert found == {(k, "altered")}, offset
        else:  # the last event: only the signed head (and its own prev_hash) can tell
            assert found and found <= {(k, "altered"), (k, "head_mismatch")}, offset
            assert (k, "head_mismatch") in found


def test_changed_topic_is_an_alteration() -> None:
    rows = chain()
    rows[2] = (3, "domain.model.case:Case.Escalated", rows[2][2])
    assert classify(rows) == {(3, "altered")}


@pytest.mark.parametrize("k", range(1, 6))
def test_deleted_event_is_missing(k: int) -> None:
    rows = chain()
    assert classify(rows[:k - 1] + rows[k:], head(rows)) == {(k, "missing")}


def test_deleted_run_is_one_gap() -> None:
    rows = chain(8)
    found = classify(rows[:2] + rows[5:])
    assert found == {(3, "missing")}


def test_truncated_tail_needs_the_checkpoint() -> None:
    rows = chain()
    assert classify(rows[:-1]) == set()  # nothing in the chain itself can tell
    assert classify(rows[:-1], head(rows)) == {(6, "truncated")}
    assert classify(rows[:-3], head(rows)) == {(4, "truncated")}


def test_whole_aggregate_missing() -> None:
    assert classify([], (6, "ab" * 32)) == {(1, "case_missing")}


def test_rewritten_head_is_a_head_mismatch() -> None:
    rows = chain()
    v, t, s = rows[3]
    assert classify(rows, (4, record_hash(t, s + b"x"))) == {(4, "head_mismatch")}


def swapped(rows: list[tuple[int, str, bytes]], a: int, b: int, *, topics: bool) -> list[tuple[int, str, bytes]]:
    out = list(rows)
    (va, ta, sa), (vb, tb, sb) = rows[a - 1], rows[b - 1]
    out[a - 1] = (va, tb if topics else ta, sb)
    out[b - 1] = (vb, ta if topics else tb, sa)
    return out


@pytest.mark.parametrize("a,b", list(itertools.combinations(range(1, 7), 2)))
def test_swapped_events_are_reordered(a: int, b: int) -> None:
    rows = chain()
    signed = head(rows)
    for topics in (True, False):
        found = classify(swapped(rows, a, b, topics=topics), signed)
        expected = {(a, "reordered"), (b, "reordered")}
        assert expected <= found, (topics, found)
        assert found - expected <= ({(6, "head_mismatch")} if b == 6 else set()), (topics, found)


def test_event_moved_to_another_version_is_reordered() -> None:
    rows = chain()
    moved = [rows[0], rows[2], rows[1]] + rows[3:]  # three rotations of bodies under fixed versions
    moved = [(v, t, s) for v, (_v, t, s) in zip(range(1, 7), moved)]
    assert classify(moved) == {(2, "reordered"), (3, "reordered")}


def test_renumbered_after_a_deletion_is_still_reported() -> None:
    rows = chain()
    renumbered = [(v, t, s) for v, (_v, t, s) in zip(range(1, 6), rows[:2] + rows[3:])]
    assert classify(renumbered)  # the gap was hidden, the chain still breaks


def test_other_aggregates_chain_does_not_pass() -> None:
    rows = chain(aid="00000000-0000-0000-0000-000000000001")
    assert classify(rows) == {(1, "altered")}


# ----------------------------------------------------------------- Merkle tree
@pytest.mark.parametrize("n", list(range(1, 18)) + [100])
def test_every_inclusion_proof_verifies(n: int) -> None:
    leaves = [leaf_hash(f"id{i:03d}", i + 1, f"{i:064x}") for i in range(n)]
    root = merkle_root(leaves)
    for i, leaf in enumerate(leaves):
        proof = merkle_proof(leaves, i)
        assert root_from_proof(leaf, proof) == root
        assert root_from_proof(leaf_hash(f"id{i:03d}", i + 2, f"{i:064x}"), proof) != root
        if proof:
            wrong = [dict(step) for step in proof]
            wrong[0]["hash"] = "00" * 32
            assert root_from_proof(leaf, wrong) != root


def test_merkle_root_depends_on_every_leaf_and_order() -> None:
    leaves = [leaf_hash(f"id{i}", 1, "ab" * 32) for i in range(5)]
    root = merkle_root(leaves)
    assert merkle_root(leaves[:-1]) != root
    assert merkle_root(list(reversed(leaves))) != root
    assert merkle_root([]) == EMPTY_ROOT
    # a leaf can never pass as an inner node (domain separation)
    assert merkle_root(leaves[:2]) != leaves[0].hex()


def test_checkpoint_signature_covers_every_signed_field() -> None:
    cp = {"ledger_id": AID, "seq": 3, "at": "2026-11-16T10:00:00+08:00", "position": 120, "count": 14,
          "root": "ab" * 32}
    cp["signature"] = sign_checkpoint(b"secret", cp)
    assert signature_valid(b"secret", cp) and signature_valid("secret", cp)
    assert not signature_valid(b"other", cp)
    for name, value in [("ledger_id", "x"), ("seq", 4), ("at", "2026-11-16T10:00:01+08:00"), ("position", 121),
                        ("count", 13), ("root", "ac" * 32)]:
        assert not signature_valid(b"secret", {**cp, name: value}), name
    assert checkpoint_message(cp).startswith(b"casetrail-checkpoint/1\n")


def test_ed25519_checkpoint_covers_every_signed_field_and_links_the_chain() -> None:
    from domain.audit.proofs import GENESIS_CHECKPOINT, chain_problems, checkpoint_hash, ed25519_valid
    from domain.audit.signing import Signer

    signer = Signer.from_seed(b"\x05" * 32)

    def signed(**fields: object) -> dict:
        cp = {"ledger_id": AID, "at": "2026-11-16T10:00:00+08:00", "position": 120, "count": 14,
              "root": "ab" * 32, "access_position": 3, "key_id": signer.key_id, "scheme": "ed25519", **fields}
        return {**cp, "signature": signer.sign(checkpoint_message(cp))}

    first = signed(seq=1, prev=GENESIS_CHECKPOINT)
    second = signed(seq=2, prev=checkpoint_hash(first))
    assert checkpoint_message(first).startswith(b"casetrail-checkpoint/2\n")
    assert ed25519_valid(signer.public_key(), first) and ed25519_valid(signer.public_pem(), second)
    assert not ed25519_valid(Signer.from_seed(b"\x06" * 32).public_key(), first)
    for name, value in [("ledger_id", "x"), ("seq", 4), ("at", "2026-11-16T10:00:01+08:00"), ("position", 121),
                        ("count", 13), ("root", "ac" * 32), ("access_position", 4), ("prev", "0" * 63 + "1"),
                        ("key_id", "0" * 32), ("scheme", "hmac-sha256")]:
        assert not ed25519_valid(signer.public_key(), {**first, name: value}), name
    assert chain_problems([first, second], signer.public_key()) == []
    third = signed(seq=4, prev=checkpoint_hash(second))
    assert [k for _s, k, _d in chain_problems([first, second, third], signer.public_key())] == ["checkpoint_gap"]
    unlinked = signed(seq=2, prev=GENESIS_CHECKPOINT)
    assert [k for _s, k, _d in chain_problems([first, unlinked], signer.public_key())] == ["checkpoint_invalid"]

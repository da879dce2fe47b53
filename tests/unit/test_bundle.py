"""Evidence bundles verified offline (``domain.audit.bundle``): a bundle built from a
chain verifies; a change to any meaningful byte fails, naming what failed;
with the public key a valid Ed25519 signature is required; the verifier needs
nothing but the standard library, msgpack and cryptography. (The ``case``
summary and the export metadata are a reading aid, not evidence: nothing
signs them.)"""

from __future__ import annotations

import base64
import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from domain.audit.bundle import (
    FORMAT,
    dump_bundle,
    genesis_hash,
    load_bundle,
    make_bundle,
    merkle_proof,
    merkle_root,
    record_hash,
    sorted_leaves,
    verify_bundle,
)
from domain.audit.proofs import GENESIS_CHECKPOINT, checkpoint_message, public_record
from domain.audit.signing import Signer
from domain.storage import chain as domain_chain
from tests.unit.test_audit_chain import AID, chain

SIGNER = Signer.from_seed(b"\x07" * 32)
KEY = SIGNER.public_pem()
OTHERS = {f"00000000-0000-0000-0000-00000000000{i}": [i, f"{i:064x}"] for i in range(1, 6)}


def signed(cp: dict[str, Any]) -> dict[str, Any]:
    cp = {**cp, "key_id": SIGNER.key_id, "scheme": "ed25519"}
    return {**cp, "signature": SIGNER.sign(checkpoint_message(cp))}


def bundle_for(n: int = 6, covered: int | None = None) -> dict[str, Any]:
    rows = chain(n)
    covered = covered or n
    v, t, s = rows[covered - 1]
    heads = {**OTHERS, AID: [covered, record_hash(t, s)]}
    first = signed({"ledger_id": "ledger", "seq": 1, "at": "2026-11-16T09:00:00+08:00", "position": 9,
                    "count": 1, "root": "1" * 64, "access_position": 0, "prev": GENESIS_CHECKPOINT})
    from domain.audit.proofs import checkpoint_hash

    cp = signed({"ledger_id": "ledger", "seq": 2, "at": "2026-11-16T10:00:00+08:00", "position": 99,
                 "count": len(heads), "root": merkle_root(sorted_leaves(heads)), "access_position": 3,
                 "prev": checkpoint_hash(first)})
    cp["leaf"] = {"version": covered, "head": heads[AID][1]}
    proof = merkle_proof(sorted_leaves(heads), sorted(heads).index(AID))
    return make_bundle(AID, rows, exported_at="2026-11-17T09:00:00+08:00", exported_by="reviewer",
                       case={"number": "TS-202611-0001"}, checkpoint=cp, proof=proof,
                       chain=[public_record(first), public_record(cp)])


def failures(bundle: Any, key: str | None = KEY) -> set[str]:
    report = verify_bundle(bundle, public_key=key)
    assert report.ok == (not report.failures)
    return {f["what"] for f in report.failures}


def test_hash_functions_are_the_chains() -> None:
    assert genesis_hash(AID) == domain_chain.genesis_hash(AID)
    assert record_hash("a:B.C", b"\x81\x01\x02") == domain_chain.record_hash("a:B.C", b"\x81\x01\x02")


def test_bundle_verifies_with_and_without_key(tmp_path: Path) -> None:
    bundle = bundle_for()
    assert bundle["format"] == FORMAT
    report = verify_bundle(bundle, public_key=KEY)
    assert report.ok and report.events_checked == 6 and report.covered_version == 6 and not report.notes
    unkeyed = verify_bundle(bundle, None)
    assert unkeyed.ok and any("no public key" in n for n in unkeyed.notes)
    dump_bundle(bundle, str(tmp_path / "b.json"))
    assert verify_bundle(load_bundle(str(tmp_path / "b.json")), public_key=KEY).ok
    assert not verify_bundle(bundle, public_key=Signer.from_seed(b"\x08" * 32).public_pem()).ok


def test_events_after_the_checkpoint_are_noted() -> None:
    report = verify_bundle(bundle_for(covered=4), public_key=KEY)
    assert report.ok and report.covered_version == 4
    assert any("5..6" in n for n in report.notes)


def test_every_byte_of_every_stored_body_matters() -> None:
    original = bundle_for()
    for i, row in enumerate(original["events"]):
        state = base64.b64decode(row["state"])
        for offset in range(len(state)):
            bundle = copy.deepcopy(original)
            bad = bytearray(state)
            bad[offset] ^= 0x20
            bundle["events"][i]["state"] = base64.b64encode(bytes(bad)).decode()
            # without the key too: the recorded hashes, the chain and the proof catch it
            assert failures(bundle, None) and failures(bundle), (i, offset)


MUTATIONS = [
    ("topic", lambda b: b["events"][2].__setitem__("topic", "domain.model.case:Case.Escalated"), {"hash"}),
    ("hash", lambda b: b["events"][2].__setitem__("hash", "0" * 64), {"hash"}),
    ("prev_hash", lambda b: b["events"][2].__setitem__("prev_hash", "0" * 64), {"prev_hash"}),
    ("version", lambda b: b["events"][2].__setitem__("version", 4), {"versions"}),
    ("drop middle", lambda b: b["events"].pop(2), {"versions"}),
    ("drop last", lambda b: b["events"].pop(), {"head"}),
    ("swap", lambda b: b["events"].__setitem__(slice(2, 4), [b["events"][3], b["events"][2]]), {"versions"}),
    ("head", lambda b: b["head"].__setitem__("hash", "0" * 64), {"head"}),
    ("aggregate", lambda b: b.__setitem__("aggregate_id", "00000000-0000-0000-0000-000000000009"), {"chain"}),
    ("leaf head", lambda b: b["checkpoint"]["leaf"].__setitem__("head", "0" * 64), {"checkpoint", "proof"}),
    ("leaf version", lambda b: b["checkpoint"]["leaf"].__setitem__("version", 5), {"checkpoint", "proof"}),
    ("proof", lambda b: b["checkpoint"]["proof"][0].__setitem__("hash", "0" * 64), {"proof"}),
    ("proof side", lambda b: b["checkpoint"]["proof"][0].__setitem__(
        "side", "left" if b["checkpoint"]["proof"][0]["side"] == "right" else "right"), {"proof"}),
    ("root", lambda b: b["checkpoint"].__setitem__("root", "0" * 64), {"proof"}),
    ("signature", lambda b: b["checkpoint"].__setitem__("signature", "0" * 64), {"signature"}),
    ("at", lambda b: b["checkpoint"].__setitem__("at", "2026-11-16T10:00:01+08:00"), {"signature"}),
    ("seq", lambda b: b["checkpoint"].__setitem__("seq", 3), {"signature"}),
    ("count", lambda b: b["checkpoint"].__setitem__("count", 7), {"signature"}),
    ("position", lambda b: b["checkpoint"].__setitem__("position", 100), {"signature"}),
    ("prev", lambda b: b["checkpoint"].__setitem__("prev", "0" * 64), {"signature"}),
    ("key_id", lambda b: b["checkpoint"].__setitem__("key_id", "0" * 32), {"signature"}),
    ("chain link", lambda b: b["checkpoint_chain"][0].__setitem__("root", "2" * 64), {"checkpoint_chain"}),
    ("chain cut", lambda b: b["checkpoint_chain"].pop(), {"checkpoint_chain"}),
    ("decoded", lambda b: b["events"][1]["decoded"].__setitem__("actor", "someone else"), {"decoded"}),
    ("null checkpoint", lambda b: b.__setitem__("checkpoint", None), {"signature"}),
    ("null signature", lambda b: b["checkpoint"].__setitem__("signature", None), {"signature"}),
    ("format", lambda b: b.__setitem__("format", "other/1"), {"format"}),
    ("not base64", lambda b: b["events"][1].__setitem__("state", "%%%"), {"event"}),
    ("garbage", lambda b: b.__setitem__("events", 5), {"format"}),
]


@pytest.mark.parametrize("name,mutate,expected", MUTATIONS, ids=[m[0] for m in MUTATIONS])
def test_meaningful_changes_fail_naming_what(name: str, mutate: Any, expected: set[str]) -> None:
    bundle = bundle_for()
    mutate(bundle)
    found = failures(bundle)
    assert expected <= found, found


def test_legacy_bundle_without_hmac_fails_with_the_key() -> None:
    """Format /1 bundles (HMAC): a null bundle_hmac or checkpoint is a failure, not a note."""
    from domain.audit.bundle import LEGACY_FORMAT, bundle_hmac, sign_checkpoint

    legacy = bundle_for()
    legacy["format"] = LEGACY_FORMAT
    cp = {k: legacy["checkpoint"][k] for k in ("ledger_id", "seq", "at", "position", "count", "root", "leaf",
                                                "proof")}
    cp["signature"] = sign_checkpoint(b"k", cp)
    legacy["checkpoint"] = cp
    legacy["bundle_hmac"] = bundle_hmac(b"k", legacy)
    assert verify_bundle(legacy, b"k").ok
    stripped = {**legacy, "checkpoint": None, "bundle_hmac": None}
    assert {f["what"] for f in verify_bundle(stripped, b"k").failures} >= {"signature", "bundle_hmac"}


def test_verifier_imports_nothing_of_the_database_layer(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    dump_bundle(bundle_for(), str(path))
    code = (
        "import sys; from domain.audit.bundle import load_bundle, verify_bundle\n"
        f"r = verify_bundle(load_bundle({str(path)!r}), public_key={KEY!r})\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('eventsourcing', 'sqlite3', '_sqlite3', 'psycopg', 'psycopg_pool', 'domain.application'))\n"
        "print(json.dumps({'ok': r.ok, 'bad': bad}))"
    )
    out = subprocess.run([sys.executable, "-c", "import json\n" + code], capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parents[2], check=True)
    assert json.loads(out.stdout) == {"ok": True, "bad": []}

"""Evidence bundles: the format, the proof primitives, and offline verification.

Owns everything a reviewer needs to check a case's history *without* the
database: the hash of a stored event (``record_hash``, identical to
``domain.storage.chain``'s), the genesis hash, the Merkle tree over aggregate heads
that checkpoints sign (leaves ``H(0x00 | id|version|head)``, nodes
``H(0x01 | left | right)``, sorted by aggregate id, an odd node carried up
unchanged), the checkpoint's HMAC message, and the bundle layout.

This module imports only the standard library and ``msgpack`` (to read the
``prev_hash`` out of each stored body), so ``verify_bundle`` can run on a
machine that has neither the database nor the rest of casetrail: copy this
one file next to the bundle.

Bundle (JSON, ``format`` = ``casetrail-evidence-bundle/1``)::

    {"format", "aggregate_id", "exported_at", "exported_by", "case": {...},
     "events": [{"version", "topic", "state" (base64 of the stored bytes),
                 "hash", "prev_hash"}],
     "head": {"version", "hash"},
     "checkpoint": {"ledger_id", "seq", "at", "position", "count", "root",
                    "signature", "leaf": {"version", "head"},
                    "proof": [{"side": "left"|"right", "hash"}]} | null,
     "bundle_hmac": HMAC-SHA256 over the canonical JSON of the rest | null}
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

FORMAT = "casetrail-evidence-bundle/1"
CHECKPOINT_FORMAT = "casetrail-checkpoint/1"
EMPTY_ROOT = hashlib.sha256(b"").hexdigest()


# ------------------------------------------------------------- event hashes
def genesis_hash(originator_id: Any) -> str:
    """The ``prev_hash`` of version 1 (same as ``domain.storage.chain.genesis_hash``)."""
    return hashlib.sha256(b"casetrail-genesis:" + str(originator_id).encode()).hexdigest()


def record_hash(topic: str, state: bytes) -> str:
    """The hash of one stored event (same as ``domain.storage.chain.record_hash``)."""
    h = hashlib.sha256(topic.encode("utf-8"))
    h.update(b"\n")
    h.update(state)
    return h.hexdigest()


def decode_prev_hash(state: bytes) -> str | None:
    """The ``prev_hash`` written into a stored msgpack body, or None if the
    body cannot be read or has none. Nothing else of the body is interpreted."""
    import msgpack

    try:
        body = msgpack.unpackb(state, raw=False, strict_map_key=False)
    except Exception:  # any corruption: truncated, bad type byte, bad UTF-8...
        return None
    value = body.get("prev_hash") if isinstance(body, dict) else None
    return value if isinstance(value, str) else None


# -------------------------------------------------------------- Merkle tree
def leaf_hash(aggregate_id: str, version: int, head: str) -> bytes:
    return hashlib.sha256(b"\x00" + f"{aggregate_id}|{int(version)}|{head}".encode()).digest()


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _next_level(level: Sequence[bytes]) -> list[bytes]:
    out = [_node(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
    if len(level) % 2:
        out.append(level[-1])
    return out


def sorted_leaves(heads: Mapping[str, Sequence[Any]]) -> list[bytes]:
    """Leaves for ``{aggregate id: (version, head hash)}``, in aggregate-id order."""
    return [leaf_hash(aid, heads[aid][0], heads[aid][1]) for aid in sorted(heads)]


def merkle_root(leaves: Sequence[bytes]) -> str:
    if not leaves:
        return EMPTY_ROOT
    level = list(leaves)
    while len(level) > 1:
        level = _next_level(level)
    return level[0].hex()


def merkle_proof(leaves: Sequence[bytes], index: int) -> list[dict[str, str]]:
    """Sibling hashes from leaf ``index`` up to the root."""
    if not 0 <= index < len(leaves):
        raise IndexError(index)
    proof: list[dict[str, str]] = []
    level = list(leaves)
    while len(level) > 1:
        sibling = index ^ 1
        if sibling < len(level):
            proof.append({"side": "left" if sibling < index else "right", "hash": level[sibling].hex()})
        level = _next_level(level)
        index //= 2
    return proof


def root_from_proof(leaf: bytes, proof: Iterable[Mapping[str, str]]) -> str:
    node = leaf
    for step in proof:
        sibling = bytes.fromhex(step["hash"])
        if step["side"] == "left":
            node = _node(sibling, node)
        elif step["side"] == "right":
            node = _node(node, sibling)
        else:
            raise ValueError(f"proof side must be left or right, not {step['side']!r}")
    return node.hex()


# -------------------------------------------------------------- signatures
SIGNED_FIELDS = ("ledger_id", "seq", "at", "position", "count", "root")


def checkpoint_message(checkpoint: Mapping[str, Any]) -> bytes:
    """The bytes a checkpoint's HMAC covers."""
    parts = [CHECKPOINT_FORMAT] + [str(checkpoint[k]) for k in SIGNED_FIELDS]
    return "\n".join(parts).encode("utf-8")


def as_key(key: str | bytes) -> bytes:
    return key if isinstance(key, bytes) else key.encode("utf-8")


def sign_checkpoint(key: str | bytes, checkpoint: Mapping[str, Any]) -> str:
    return hmac.new(as_key(key), checkpoint_message(checkpoint), hashlib.sha256).hexdigest()


def signature_valid(key: str | bytes, checkpoint: Mapping[str, Any]) -> bool:
    signature = checkpoint.get("signature")
    if not isinstance(signature, str):
        return False
    return hmac.compare_digest(sign_checkpoint(key, checkpoint), signature)


def canonical_json(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def bundle_hmac(key: str | bytes, bundle: Mapping[str, Any]) -> str:
    body = {k: v for k, v in bundle.items() if k != "bundle_hmac"}
    return hmac.new(as_key(key), canonical_json(body), hashlib.sha256).hexdigest()


# ------------------------------------------------------------------ bundles
def make_bundle(
    aggregate_id: str, events: Sequence[tuple[int, str, bytes]], *, exported_at: str, exported_by: str,
    case: Mapping[str, Any] | None = None, checkpoint: Mapping[str, Any] | None = None,
    proof: Sequence[Mapping[str, str]] | None = None, key: str | bytes | None = None,
) -> dict[str, Any]:
    """Lay out a bundle; ``checkpoint`` is the signed digest whose root ``proof``
    links the case's head at ``checkpoint['leaf']`` to."""
    rows = [
        {"version": v, "topic": t, "state": base64.b64encode(s).decode("ascii"),
         "hash": record_hash(t, s), "prev_hash": decode_prev_hash(s)}
        for v, t, s in events
    ]
    cp = None
    if checkpoint is not None:
        cp = {k: checkpoint[k] for k in SIGNED_FIELDS + ("signature", "leaf")}
        cp["proof"] = [dict(step) for step in proof or []]
    bundle: dict[str, Any] = {
        "format": FORMAT, "aggregate_id": aggregate_id, "exported_at": exported_at,
        "exported_by": exported_by, "case": dict(case or {}), "events": rows,
        "head": {"version": rows[-1]["version"], "hash": rows[-1]["hash"]} if rows else None,
        "checkpoint": cp, "bundle_hmac": None,
    }
    if key is not None:
        bundle["bundle_hmac"] = bundle_hmac(key, bundle)
    return bundle


@dataclass
class BundleReport:
    """What ``verify_bundle`` found: ``failures`` name what failed."""

    ok: bool = True
    events_checked: int = 0
    covered_version: int | None = None
    failures: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def fail(self, what: str, detail: str, version: int | None = None) -> None:
        self.ok = False
        self.failures.append({"what": what, "version": version, "detail": detail})

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "events_checked": self.events_checked, "covered_version": self.covered_version,
                "failures": list(self.failures), "notes": list(self.notes)}


def verify_bundle(bundle: Any, key: str | bytes | None = None) -> BundleReport:
    """Check a bundle from its own bytes: every event hash and chain link, the
    Merkle proof of the checkpointed head, and (given ``key``) both HMACs."""
    report = BundleReport()
    try:
        _verify(bundle, key, report)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as e:
        report.fail("format", f"malformed bundle: {type(e).__name__}: {e}")
    return report


def _verify(bundle: Any, key: str | bytes | None, report: BundleReport) -> None:
    if not isinstance(bundle, dict) or bundle.get("format") != FORMAT:
        report.fail("format", f"not a {FORMAT} document")
        return
    aggregate_id = str(bundle["aggregate_id"])
    hashes: dict[int, str] = {}
    previous = genesis_hash(aggregate_id)
    for expected_version, row in enumerate(bundle["events"], start=1):
        version = row["version"]
        if version != expected_version:
            report.fail("versions", f"event #{expected_version} has version {version}", version)
        try:
            state = base64.b64decode(row["state"], validate=True)
        except (binascii.Error, ValueError):
            report.fail("event", "state is not valid base64", version)
            continue
        actual = record_hash(row["topic"], state)
        hashes[version] = actual
        if actual != row["hash"]:
            report.fail("hash", f"stored bytes hash to {actual}, bundle says {row['hash']}", version)
        prev = decode_prev_hash(state)
        if prev is None:
            report.fail("event", "stored body unreadable or without prev_hash", version)
        elif prev != previous:
            report.fail("chain", f"prev_hash {prev} does not match the previous event's hash {previous}", version)
        if row.get("prev_hash") != prev:
            report.fail("prev_hash", "the bundle's prev_hash differs from the one in the stored bytes", version)
        previous = actual
        report.events_checked += 1
    head = bundle.get("head")
    if hashes and (not head or head.get("version") != max(hashes) or head.get("hash") != hashes[max(hashes)]):
        report.fail("head", "head does not name the last event and its hash")
    _verify_checkpoint(bundle, aggregate_id, hashes, key, report)
    if key is None:
        report.notes.append("no key: HMAC signatures not checked (hashes, chain and proof were)")
    elif bundle.get("bundle_hmac") is None:
        report.notes.append("bundle has no bundle_hmac (exported without a key)")
    elif not hmac.compare_digest(bundle_hmac(key, bundle), str(bundle["bundle_hmac"])):
        report.fail("bundle_hmac", "bundle HMAC does not match (bundle changed, or another key)")


def _verify_checkpoint(bundle: Mapping[str, Any], aggregate_id: str, hashes: Mapping[int, str],
                       key: str | bytes | None, report: BundleReport) -> None:
    cp = bundle.get("checkpoint")
    if cp is None:
        report.notes.append("no checkpoint covers this case: chain checked, head not anchored")
        return
    leaf = cp["leaf"]
    version = int(leaf["version"])
    if hashes.get(version) != leaf["head"]:
        report.fail("checkpoint", f"checkpointed head at version {version} is not the hash of that event", version)
    root = root_from_proof(leaf_hash(aggregate_id, version, leaf["head"]), cp["proof"])
    if root != cp["root"]:
        report.fail("proof", f"inclusion proof gives root {root}, checkpoint root is {cp['root']}", version)
    else:
        report.covered_version = version
    if key is not None and not signature_valid(key, cp):
        report.fail("signature", "checkpoint HMAC does not match (checkpoint changed, or another key)")
    later = [v for v in hashes if v > version]
    if later:
        report.notes.append(f"versions {min(later)}..{max(later)} are chained to the checkpointed head "
                            f"but newer than the checkpoint")


def load_bundle(path: str) -> Any:
    with open(path, "rb") as f:
        return json.loads(f.read().decode("utf-8"))


def bundle_text(bundle: Mapping[str, Any]) -> str:
    """The bundle as the JSON text ``dump_bundle`` writes."""
    return json.dumps(bundle, indent=1, ensure_ascii=False, sort_keys=True) + "\n"


def dump_bundle(bundle: Mapping[str, Any], path: str) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.write(bundle_text(bundle))

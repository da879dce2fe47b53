"""Evidence bundles: the format, and offline verification by an auditor alone.

Owns everything a reviewer needs to check a case's history *without* the
database: every event's stored bytes with its hash, chain link and a decoded
reading (type, time, actor, roles, data, changes — re-derived from the bytes
by the verifier, so it cannot say something the bytes do not), the signed
checkpoint that anchors the case's head (Merkle inclusion proof), and the
checkpoint chain up to it. The primitives are in ``domain.audit.proofs``.

This module and ``proofs.py`` import only the standard library, ``msgpack``
and ``cryptography`` (for Ed25519), so ``verify_bundle`` runs on a machine
that has neither the database nor the rest of casetrail: copy the two files
next to the bundle, with the deployment's public key.

Bundle (JSON, ``format`` = ``casetrail-evidence-bundle/2``)::

    {"format", "aggregate_id", "exported_at", "exported_by", "case": {...},
     "events": [{"version", "topic", "state" (base64 of the stored bytes),
                 "hash", "prev_hash", "decoded": {"type", "occurred_at", "actor",
                 "roles", "imported", "data", "changes"}}],
     "head": {"version", "hash"},
     "checkpoint": {"ledger_id", "seq", "at", "position", "count", "root", "prev",
                    "key_id", "scheme", "signature", "leaf": {"version", "head"},
                    "proof": [{"side": "left"|"right", "hash"}]} | null,
     "checkpoint_chain": [checkpoint records, oldest first, ending with "checkpoint"],
     "public_key": {"key_id", "pem"} (informational: verify with your own copy)}

Format ``/1`` bundles (HMAC, ``bundle_hmac``) still verify with the legacy key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from domain.audit.proofs import (  # noqa: F401  (re-exported: the offline toolkit)
    CHECKPOINT_FORMAT,
    ED25519,
    EMPTY_ROOT,
    LEGACY_HMAC,
    SIGNED_FIELDS,
    SIGNED_FIELDS_V2,
    as_key,
    chain_problems,
    checkpoint_message,
    ed25519_valid,
    genesis_hash,
    leaf_hash,
    merkle_proof,
    merkle_root,
    public_record,
    record_hash,
    root_from_proof,
    scheme_of,
    sign_checkpoint,
    signature_valid,
    sorted_leaves,
)

FORMAT = "casetrail-evidence-bundle/2"
LEGACY_FORMAT = "casetrail-evidence-bundle/1"
HIDDEN = {"originator_id", "originator_version", "timestamp", "meta", "prev_hash", "class_version"}


# ------------------------------------------------------------ stored bodies
def _ext(code: int, payload: bytes) -> Any:
    """msgpack extension types of ``domain.storage.transcoder``, as plain JSON values."""
    if code in (1, 7, 8, 9, 11, 64):
        inner = _unpack(payload)
        return inner[0] if code == 11 else ({"$type": inner[0], "value": inner[1]} if code == 64 else inner)
    if code == 2:
        return str(__import__("uuid").UUID(bytes=payload))
    if code == 6:
        return str(int.from_bytes(payload, "big", signed=True))
    return payload.decode("utf-8", errors="replace")  # datetime, date, Decimal, time: their text


def _unpack(data: bytes) -> Any:
    import msgpack

    return msgpack.unpackb(data, raw=False, strict_map_key=False, ext_hook=_ext)


def plain_body(state: bytes) -> dict[str, Any] | None:
    """A stored msgpack body as JSON values, or None if unreadable."""
    try:
        body = _unpack(state)
    except Exception:  # any corruption: truncated, bad type byte, bad UTF-8...
        return None
    return body if isinstance(body, dict) else None


def decode_prev_hash(state: bytes) -> str | None:
    """The ``prev_hash`` written into a stored body, or None if unreadable or absent."""
    body = plain_body(state)
    value = body.get("prev_hash") if body is not None else None
    return value if isinstance(value, str) else None


_PREV_HASH_KEY = b"\xa9prev_hash\xd9\x40"  # msgpack: the key "prev_hash", then a 64-byte str header


def fast_prev_hash(state: bytes) -> str | None:
    """The ``prev_hash`` of a plain msgpack body, read where the encoder writes it (its
    key, a str of 64 bytes: the hex digest); None when it is not found so (the caller
    then decodes the body). Only pass 1 of the full verify reads it this way: a value
    that differs from the decoded one can only make an aggregate a suspect, which pass 2
    classifies from its fully decoded rows."""
    if type(state) is not bytes:
        return None
    at = state.rfind(_PREV_HASH_KEY)
    if at < 0:
        return None
    start = at + len(_PREV_HASH_KEY)
    value = state[start:start + 64]
    if len(value) != 64:
        return None
    try:
        return value.decode("ascii")
    except UnicodeDecodeError:
        return None


def decoded_event(topic: str, state: bytes) -> dict[str, Any] | None:
    """What a person reads of one stored event: derived from its bytes alone."""
    body = plain_body(state)
    if body is None:
        return None
    meta = body.get("meta") if isinstance(body.get("meta"), dict) else {}
    data = {str(k): v for k, v in body.items() if k not in HIDDEN}
    inner = data.get("data") if isinstance(data.get("data"), dict) else {}
    return _json({"type": topic.rsplit(".", 1)[-1].rsplit(":", 1)[-1], "occurred_at": meta.get("occurred_at"),
                  "actor": meta.get("actor"), "roles": list(meta.get("roles") or []),
                  "imported": bool(meta.get("imported", False)), "data": data,
                  "changes": data.get("changes", inner.get("changes"))})


SEALED_MARK = b"\x00ct-sealed1\x00"  # a personal value sealed with its subject's key (domain.storage.sealing)
SEALED = "[personal: sealed]"


def _json(value: Any) -> Any:
    """JSON values only (bytes as base64 text, a sealed personal value as ``SEALED``, keys as text)."""
    if isinstance(value, bytes) and value.startswith(SEALED_MARK):
        return SEALED
    if isinstance(value, dict):
        return {str(k): _json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json(v) for v in value]
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return value


# ------------------------------------------------------------------ bundles
def canonical_json(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def bundle_hmac(key: str | bytes, bundle: Mapping[str, Any]) -> str:
    """Legacy (format /1) whole-bundle HMAC."""
    body = {k: v for k, v in bundle.items() if k != "bundle_hmac"}
    return hmac.new(as_key(key), canonical_json(body), hashlib.sha256).hexdigest()


def make_bundle(
    aggregate_id: str, events: Sequence[tuple[int, str, bytes]], *, exported_at: str, exported_by: str,
    case: Mapping[str, Any] | None = None, checkpoint: Mapping[str, Any] | None = None,
    proof: Sequence[Mapping[str, str]] | None = None, chain: Sequence[Mapping[str, Any]] = (),
    public_key: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Lay out a bundle; ``checkpoint`` is the signed digest whose root ``proof``
    links the case's head at ``checkpoint['leaf']`` to; ``chain`` the checkpoint
    records up to it."""
    rows = [
        {"version": v, "topic": t, "state": base64.b64encode(s).decode("ascii"),
         "hash": record_hash(t, s), "prev_hash": decode_prev_hash(s), "decoded": decoded_event(t, s)}
        for v, t, s in events
    ]
    cp = None
    if checkpoint is not None:
        cp = {**public_record(checkpoint), "leaf": dict(checkpoint["leaf"]),
              "proof": [dict(step) for step in proof or []]}
    return {
        "format": FORMAT, "aggregate_id": aggregate_id, "exported_at": exported_at,
        "exported_by": exported_by, "case": dict(case or {}), "events": rows,
        "head": {"version": rows[-1]["version"], "hash": rows[-1]["hash"]} if rows else None,
        "checkpoint": cp, "checkpoint_chain": [public_record(c) for c in chain],
        "public_key": dict(public_key) if public_key else None,
    }


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


def verify_bundle(bundle: Any, key: str | bytes | None = None, *, public_key: Any = None) -> BundleReport:
    """Check a bundle from its own bytes: every event hash, chain link and decoded
    reading, the Merkle proof of the checkpointed head, the checkpoint chain, and
    the signature. With ``public_key`` (PEM or key) a valid Ed25519 signature is
    required: a missing or null checkpoint or signature fails. ``key`` is the
    legacy HMAC secret for format /1 bundles (then a missing HMAC fails too)."""
    report = BundleReport()
    try:
        _verify(bundle, key, public_key, report)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as e:
        report.fail("format", f"malformed bundle: {type(e).__name__}: {e}")
    return report


def _verify(bundle: Any, key: str | bytes | None, public_key: Any, report: BundleReport) -> None:
    if not isinstance(bundle, dict) or bundle.get("format") not in (FORMAT, LEGACY_FORMAT):
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
        if bundle["format"] == FORMAT and row.get("decoded") != decoded_event(row["topic"], state):
            report.fail("decoded", "the decoded reading is not what the stored bytes say", version)
        previous = actual
        report.events_checked += 1
    head = bundle.get("head")
    if hashes and (not head or head.get("version") != max(hashes) or head.get("hash") != hashes[max(hashes)]):
        report.fail("head", "head does not name the last event and its hash")
    _verify_checkpoint(bundle, aggregate_id, hashes, key, public_key, report)
    if bundle["format"] == LEGACY_FORMAT:
        if key is None:
            report.notes.append("legacy bundle, no key: HMAC signatures not checked (hashes, chain and proof were)")
        elif bundle.get("bundle_hmac") is None:
            report.fail("bundle_hmac", "bundle has no bundle_hmac: an unsigned legacy bundle proves nothing")
        elif not hmac.compare_digest(bundle_hmac(key, bundle), str(bundle["bundle_hmac"])):
            report.fail("bundle_hmac", "bundle HMAC does not match (bundle changed, or another key)")


def _verify_checkpoint(bundle: Mapping[str, Any], aggregate_id: str, hashes: Mapping[int, str],
                       key: str | bytes | None, public_key: Any, report: BundleReport) -> None:
    cp = bundle.get("checkpoint")
    if not isinstance(cp, dict):
        if public_key is not None or key is not None:
            report.fail("signature", "no signed checkpoint: the case's head is not anchored (missing or null)")
        else:
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
    if public_key is not None:
        if scheme_of(cp) != ED25519 or not ed25519_valid(public_key, cp):
            report.fail("signature", "the checkpoint's Ed25519 signature is missing or does not verify with "
                        "the public key (checkpoint changed, stripped, or signed by another key)")
        _verify_chain(bundle, cp, public_key, report)
    elif key is not None:
        if not signature_valid(key, cp):
            report.fail("signature", "checkpoint HMAC missing or does not match (checkpoint changed, or another key)")
    else:
        report.notes.append("no public key: the checkpoint signature was NOT checked (use --public-key)")
    later = [v for v in hashes if v > version]
    if later:
        report.notes.append(f"versions {min(later)}..{max(later)} are chained to the checkpointed head "
                            f"but newer than the checkpoint")


def _verify_chain(bundle: Mapping[str, Any], cp: Mapping[str, Any], public_key: Any, report: BundleReport) -> None:
    chain = bundle.get("checkpoint_chain") or []
    if not chain:
        report.notes.append("no checkpoint chain in the bundle: only the anchoring checkpoint was checked")
        return
    if public_record(chain[-1]) != public_record(cp):
        report.fail("checkpoint_chain", "the chain does not end with the anchoring checkpoint")
    for seq, kind, detail in chain_problems(chain, public_key, first_seq=int(chain[0]["seq"])):
        report.fail("checkpoint_chain", f"#{seq} {kind}: {detail}")


def load_bundle(path: str) -> Any:
    with open(path, "rb") as f:
        return json.loads(f.read().decode("utf-8"))


def bundle_text(bundle: Mapping[str, Any]) -> str:
    """The bundle as the JSON text ``dump_bundle`` writes."""
    return json.dumps(bundle, indent=1, ensure_ascii=False, sort_keys=True) + "\n"


def dump_bundle(bundle: Mapping[str, Any], path: str) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.write(bundle_text(bundle))

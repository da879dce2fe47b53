"""Proof primitives an auditor can run alone: event hashes, the Merkle tree over
aggregate heads, checkpoint messages, Ed25519 signatures and the checkpoint chain.

Imports only the standard library, plus ``cryptography`` for Ed25519 (loaded
when a signature is checked), so this file and ``bundle.py`` are all a
reviewer needs next to an evidence bundle.

- Event hash ``H(topic "\\n" stored bytes)``; genesis hash of version 1.
- Merkle leaves ``H(0x00 | id|version|head)``, nodes ``H(0x01 | left | right)``,
  sorted by aggregate id, an odd node carried up unchanged.
- Checkpoint, scheme ``ed25519`` (format ``casetrail-checkpoint/2``): the
  message is the format name and ``ledger_id, seq, at, position, count, root,
  access_position, prev, key_id`` one per line (``position`` covers the case
  log, ``access_position`` the access ledger's log; the root covers the heads
  of both, access-ledger aggregates named ``access:<id>``); ``prev`` is ``checkpoint_hash`` of the
  checkpoint before (``GENESIS_CHECKPOINT`` for the first); ``key_id`` the
  first 16 bytes (hex) of SHA-256 over the raw public key. Legacy checkpoints
  (scheme ``hmac-sha256``, format ``/1``) have no ``prev`` and can only be
  checked with the shared secret that made them.
- ``chain_problems`` checks a list of checkpoints: sequence numbers 1..n with
  no gap, each ``prev`` linking to the one before, every signature.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

CHECKPOINT_FORMAT = "casetrail-checkpoint/1"  # legacy HMAC checkpoints
CHECKPOINT_FORMAT_V2 = "casetrail-checkpoint/2"
ED25519, LEGACY_HMAC = "ed25519", "hmac-sha256"
EMPTY_ROOT = hashlib.sha256(b"").hexdigest()
GENESIS_CHECKPOINT = "0" * 64
SIGNED_FIELDS = ("ledger_id", "seq", "at", "position", "count", "root")
SIGNED_FIELDS_V2 = SIGNED_FIELDS + ("access_position", "prev", "key_id")
RECORD_FIELDS = SIGNED_FIELDS_V2 + ("scheme", "signature")


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


# --------------------------------------------------------- checkpoint messages
def scheme_of(checkpoint: Mapping[str, Any]) -> str:
    return str(checkpoint.get("scheme") or LEGACY_HMAC)


def checkpoint_message(checkpoint: Mapping[str, Any]) -> bytes:
    """The bytes a checkpoint's signature covers (by its scheme)."""
    if scheme_of(checkpoint) == ED25519:
        parts = [CHECKPOINT_FORMAT_V2] + [str(checkpoint[k]) for k in SIGNED_FIELDS_V2]
    else:
        parts = [CHECKPOINT_FORMAT] + [str(checkpoint[k]) for k in SIGNED_FIELDS]
    return "\n".join(parts).encode("utf-8")


def checkpoint_hash(checkpoint: Mapping[str, Any]) -> str:
    """What the next checkpoint's ``prev`` names: the message and its signature."""
    return hashlib.sha256(checkpoint_message(checkpoint) + b"\n" + str(checkpoint.get("signature")).encode()
                          ).hexdigest()


def public_record(checkpoint: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of a checkpoint that the witness and the bundles carry."""
    return {k: checkpoint.get(k) for k in RECORD_FIELDS}


# ----------------------------------------------------------- legacy HMAC
def as_key(key: str | bytes) -> bytes:
    return key if isinstance(key, bytes) else key.encode("utf-8")


def sign_checkpoint(key: str | bytes, checkpoint: Mapping[str, Any]) -> str:
    """A legacy (format /1) HMAC-SHA256 signature; kept to read old checkpoints."""
    return hmac.new(as_key(key), checkpoint_message({**checkpoint, "scheme": LEGACY_HMAC}), hashlib.sha256
                    ).hexdigest()


def signature_valid(key: str | bytes, checkpoint: Mapping[str, Any]) -> bool:
    """A legacy HMAC signature check."""
    signature = checkpoint.get("signature")
    if not isinstance(signature, str) or scheme_of(checkpoint) != LEGACY_HMAC:
        return False
    return hmac.compare_digest(sign_checkpoint(key, checkpoint), signature)


# --------------------------------------------------------------- Ed25519
def raw_public_key(public_key: Any) -> bytes:
    """The 32 raw bytes of an Ed25519 public key (a key object, PEM bytes/text, or raw bytes)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    if isinstance(public_key, str):
        public_key = public_key.encode("ascii")
    if isinstance(public_key, bytes) and len(public_key) == 32:
        return public_key
    if isinstance(public_key, bytes):
        loaded = serialization.load_pem_public_key(public_key)
        if not isinstance(loaded, Ed25519PublicKey):
            raise ValueError("not an Ed25519 public key")
        public_key = loaded
    if hasattr(public_key, "public_key") and not isinstance(public_key, Ed25519PublicKey):
        public_key = public_key.public_key()  # a private key, or a casetrail Signer
    return bytes(public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))


def key_id(public_key: Any) -> str:
    return hashlib.sha256(raw_public_key(public_key)).hexdigest()[:32]


def ed25519_valid(public_key: Any, checkpoint: Mapping[str, Any]) -> bool:
    """True when ``checkpoint`` is an Ed25519 checkpoint signed by ``public_key``."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    signature = checkpoint.get("signature")
    if scheme_of(checkpoint) != ED25519 or not isinstance(signature, str):
        return False
    try:
        raw = raw_public_key(public_key)
        if checkpoint.get("key_id") != hashlib.sha256(raw).hexdigest()[:32]:
            return False
        Ed25519PublicKey.from_public_bytes(raw).verify(bytes.fromhex(signature), checkpoint_message(checkpoint))
    except (InvalidSignature, ValueError, KeyError, TypeError):
        return False
    return True


def chain_problems(checkpoints: Sequence[Mapping[str, Any]], public_key: Any = None,
                   legacy_key: str | bytes | None = None, *, first_seq: int = 1) -> list[tuple[int, str, str]]:
    """``(seq, kind, detail)`` for every break in a checkpoint chain: ``checkpoint_gap``
    (a sequence number missing), ``checkpoint_invalid`` (a ``prev`` that does not
    link, a signature that does not verify, a legacy checkpoint after a signed one)."""
    out: list[tuple[int, str, str]] = []
    before: Mapping[str, Any] | None = None
    expected = first_seq
    signed_seen = False
    for cp in checkpoints:
        seq = int(cp["seq"])
        if seq != expected:
            span = f"#{expected}" if seq == expected + 1 else f"#{expected}..#{seq - 1}"
            out.append((expected, "checkpoint_gap", f"checkpoint {span} missing (#{seq} follows "
                        f"#{expected - 1})" if seq > expected else f"checkpoint #{seq} out of sequence"))
        expected = seq + 1
        scheme = scheme_of(cp)
        if scheme == ED25519:
            signed_seen = True
            link = checkpoint_hash(before) if before is not None else GENESIS_CHECKPOINT
            if before is not None or seq == 1:
                if cp.get("prev") != link:
                    out.append((seq, "checkpoint_invalid", f"prev {cp.get('prev')} does not name checkpoint "
                                f"#{seq - 1} ({link})"))
            if public_key is not None and not ed25519_valid(public_key, cp):
                out.append((seq, "checkpoint_invalid", "Ed25519 signature does not verify with the published "
                            "public key (altered, or signed by another key)"))
        elif signed_seen:
            out.append((seq, "checkpoint_invalid", "an unsigned legacy checkpoint after Ed25519-signed ones"))
        elif legacy_key is not None and not signature_valid(legacy_key, cp):
            out.append((seq, "checkpoint_invalid", "legacy HMAC signature does not match CASETRAIL_AUDIT_KEY"))
        before = cp
    return out

"""``fast_prev_hash`` (the full verify's pass 1) reads the same ``prev_hash`` as decoding
the stored body, and answers None (decode instead) for anything else."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from decimal import Decimal
from uuid import uuid4

from domain.audit.bundle import decode_prev_hash, fast_prev_hash
from domain.storage.transcoder import MsgpackTranscoder


def body(**extra: object) -> bytes:
    prev = hashlib.sha256(b"x").hexdigest()
    state = {"meta": {"actor": "agent", "occurred_at": datetime(2026, 1, 1, tzinfo=UTC)}, "amount": Decimal("1.5"),
             "case_id": uuid4(), "data": {"summary": "prev_hash is a word here", "blob": b"\xa9prev_hash"},
             "prev_hash": prev, **extra}
    return MsgpackTranscoder().encode(state)


def test_reads_what_decoding_reads() -> None:
    for state in (body(), body(class_version=2), body(tail=["a", {"b": 1}])):
        assert fast_prev_hash(state) == decode_prev_hash(state) is not None


def test_none_when_not_written_as_the_encoder_does() -> None:
    no_hash = MsgpackTranscoder().encode({"a": 1})
    short = MsgpackTranscoder().encode({"prev_hash": "abc"})
    assert fast_prev_hash(no_hash) is None and fast_prev_hash(short) is None
    assert fast_prev_hash(body()[:-10]) is None  # cut inside the hash
    assert fast_prev_hash(memoryview(body())) is None  # type: ignore[arg-type]

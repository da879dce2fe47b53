"""Classifying one aggregate's damage from its own stored events: what changed, where.

``classify_chain(aggregate_id, rows, signed)`` takes the stored events
``(version, topic, bytes, decoded prev_hash)`` and the signed head, and names
each ``Problem`` (aggregate, version, kind): ``missing``, ``reordered``,
``altered``, ``truncated``, ``case_missing``, ``head_mismatch``. Used by
``domain.audit.verification``; no database access here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from domain.audit.proofs import genesis_hash, record_hash

COMPLETENESS = ("missing", "truncated", "case_missing", "log_truncated", "checkpoint_gap", "checkpoint_missing")
_HEX = frozenset("0123456789abcdef")


@dataclass(frozen=True, order=True)
class Problem:
    case_id: str
    version: int
    kind: str
    detail: str = field(compare=False, default="")

    def as_dict(self) -> dict[str, Any]:
        return {"case_id": self.case_id, "version": self.version, "kind": self.kind, "detail": self.detail,
                "class": "completeness" if self.kind in COMPLETENESS else "integrity"}



def classify_chain(aggregate_id: str, rows: Sequence[tuple[int, str, bytes, str | None]],
                   signed: Sequence[Any] | None = None) -> list[Problem]:
    """Problems of one aggregate from its stored events ``(version, topic,
    stored bytes, decoded prev_hash or None)`` and its signed head
    ``(version, hash)`` if a checkpoint covers it."""
    out: list[Problem] = []

    def problem(version: int, kind: str, detail: str) -> None:
        out.append(Problem(aggregate_id, version, kind, detail))

    rows = sorted(rows, key=lambda r: r[0])
    hashes = {v: record_hash(t, s) for v, t, s, _p in rows}
    prevs = {v: p for v, _t, _s, p in rows}
    expected = 1
    for v in hashes:
        if v > expected:
            span = f"version {expected}" if v == expected + 1 else f"versions {expected}..{v - 1}"
            problem(expected, "missing", f"{span} deleted (version {v} follows version {expected - 1})")
        expected = v + 1
    pred, foreign = _predecessors(aggregate_id, rows, hashes)
    for v, p in _misplaced(pred, hashes).items():
        problem(v, "reordered", f"its prev_hash names the event stored at version {pred[v] or 'genesis'}; "
                f"by the chain it belongs at version {p}")
    for v, prev in prevs.items():
        if prev is None:
            problem(v, "altered", "stored body unreadable or without prev_hash")
        elif v in foreign and pred[v] == v - 1:
            problem(v - 1, "altered", f"its topic changed: version {v}'s prev_hash names its body under another")
        elif pred[v] is None and (v == 1 or v - 1 in hashes):
            before = genesis_hash(aggregate_id) if v == 1 else hashes[v - 1]
            if v == 1 or not _looks_like_hash(prev) or _near(prev, before):
                problem(v, "altered", "its prev_hash was changed (matches no event of this aggregate)")
            else:
                problem(v - 1, "altered", f"its bytes changed: it no longer hashes to version {v}'s prev_hash")
    if signed is not None:
        version, head = int(signed[0]), signed[1]
        last = max(hashes, default=0)
        if not hashes:
            problem(1, "case_missing", f"no stored events; the checkpoint signed versions 1..{version}")
        elif last < version:
            problem(last + 1, "truncated", f"head is version {last}; the checkpoint signed version {version}")
        elif version in hashes and hashes[version] != head:
            problem(version, "head_mismatch", f"hashes to {hashes[version]}, the checkpoint signed {head}")
    return sorted(set(out))


def _predecessors(aggregate_id: str, rows: Sequence[tuple[int, str, bytes, str | None]],
                  hashes: dict[int, str]) -> tuple[dict[int, int | None], set[int]]:
    """For each event, the version (0 = genesis) whose hash its prev_hash
    names; and the events that name a body stored under another topic."""
    genesis = genesis_hash(aggregate_id)
    by_hash: dict[str, list[int]] = {}
    for v, h in hashes.items():
        by_hash.setdefault(h, []).append(v)
    topics = {t for _v, t, _s, _p in rows}
    alt: dict[str, list[int]] | None = None
    pred: dict[int, int | None] = {}
    foreign: set[int] = set()
    for v, _t, _s, p in rows:
        if p is None:
            pred[v] = None
            continue
        if p == genesis:
            pred[v] = 0
            continue
        candidates = by_hash.get(p)
        if candidates is None and len(topics) > 1:
            if alt is None:  # a body moved under another row's topic
                alt = {}
                for w, t, s, _q in rows:
                    for other in topics - {t}:
                        alt.setdefault(record_hash(other, s), []).append(w)
            candidates = alt.get(p)
            foreign.add(v)
        if not candidates:
            pred[v] = None
        else:
            pred[v] = v - 1 if v - 1 in candidates else next((c for c in candidates if c != v), None)
    return pred, foreign


def _misplaced(pred: dict[int, int | None], hashes: dict[int, str]) -> dict[int, int]:
    """Events whose position by the chain differs from their stored version
    (an event with an unknown predecessor is trusted to be where it is)."""
    pos: dict[int, int] = {}
    for start in hashes:
        path: list[int] = []
        v = start
        while v not in pos:
            p = pred.get(v)
            if p == 0:
                pos[v] = 1
            elif p is None or p == v or p in path or p not in hashes:
                pos[v] = v
            else:
                path.append(v)
                v = p
        base = pos[v]
        for w in reversed(path):
            base += 1
            pos[w] = base
    return {v: p for v, p in pos.items() if p != v}


def _looks_like_hash(value: str) -> bool:
    return len(value) == 64 and set(value) <= _HEX


def _near(a: str, b: str) -> bool:
    """Two hex hashes differing in a few characters: one was edited, not recomputed."""
    return len(a) == len(b) and sum(x != y for x, y in zip(a, b)) <= 4



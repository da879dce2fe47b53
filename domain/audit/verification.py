"""Audit: verify every hash chain against the stored bytes and the last signed
checkpoint, and export evidence bundles.

``verify(app, case_id=None, key=None)`` streams the notification log in
batches (memory grows with the number of aggregates, not events), checks each
aggregate's versions are 1..n and each ``prev_hash`` is the hash of the
stored event before it, then classifies every aggregate that looks wrong from
its own events (``classify_chain``). Kinds of problem:

- integrity: ``altered`` (bytes changed), ``reordered`` (events swapped);
- completeness: ``missing`` (a version gap), ``truncated`` (head below the
  checkpointed version), ``case_missing`` (a checkpointed aggregate has no
  events), ``head_mismatch`` (the event at the checkpointed version no longer
  hashes to the signed head);
- snapshots: ``snapshot_mismatch`` (a stored snapshot is not the state the
  chained events give at its version; snapshots are not chained themselves);
- the checkpoint itself: ``checkpoint_invalid`` (signature or Merkle root
  wrong, ledger damaged). Without a key, a ``no_key`` warning.

Checkpoints are recorded by ``domain.audit.ledger`` (re-exported here). No HTTP.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from domain.audit.bundle import (
    genesis_hash,
    make_bundle,
    merkle_proof,
    merkle_root,
    record_hash,
    signature_valid,
    sorted_leaves,
)
from domain.audit.ledger import (  # noqa: F401  (re-exported: the audit API)
    AuditKeyMissing,
    ChainBroken,
    LedgerState,
    checkpoint,
    iter_notifications,
    ledger_id,
    maybe_checkpoint,
    read_ledger,
    stored_prev_hash,
)
from domain.model.actor import Actor, CommandContext
from domain.model.case import Case
from domain.model.errors import CaseNotFound
from domain.model.topics import topic_prefixes
from domain.storage.chain import project_with_head

INTEGRITY = ("altered", "reordered", "snapshot_mismatch")
COMPLETENESS = ("missing", "truncated", "case_missing", "head_mismatch")
CASE_TOPICS = topic_prefixes(Case)  # "domain.model.case:Case.", and the path before the move
_HEX = frozenset("0123456789abcdef")


def audit_key(environ: Mapping[str, str] | None = None) -> bytes | None:
    """``CASETRAIL_AUDIT_KEY`` as bytes, or None when unset/empty."""
    value = (os.environ if environ is None else environ).get("CASETRAIL_AUDIT_KEY") or ""
    return value.encode("utf-8") if value else None


@dataclass(frozen=True, order=True)
class Problem:
    case_id: str
    version: int
    kind: str
    detail: str = field(compare=False, default="")

    def as_dict(self) -> dict[str, Any]:
        return {"case_id": self.case_id, "version": self.version, "kind": self.kind, "detail": self.detail}


@dataclass
class VerifyReport:
    cases_checked: int = 0
    aggregates_checked: int = 0
    events_checked: int = 0
    problems: list[Problem] = field(default_factory=list)
    checkpoint: dict[str, Any] | None = None
    warnings: list[dict[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "cases_checked": self.cases_checked, "aggregates_checked": self.aggregates_checked,
                "events_checked": self.events_checked, "problems": [p.as_dict() for p in self.problems],
                "checkpoint": self.checkpoint, "warnings": list(self.warnings)}


# --------------------------------------------------------------- verify
def verify(app: Any, case_id: UUID | str | None = None, key: str | bytes | None = None) -> VerifyReport:
    """Check every chain (or one case's) and the last checkpoint."""
    report = VerifyReport()
    ledger = read_ledger(app)
    problems: list[Problem] = _check_checkpoint(ledger, key, report) if ledger else []
    if key is None:
        report.warnings.append({"kind": "no_key", "detail": "CASETRAIL_AUDIT_KEY not set: checkpoint "
                                "signature not checked (hash chains and Merkle root were)"})
    signed = {UUID(k): v for k, v in ledger.heads.items()} if ledger and ledger.last else {}
    if case_id is None:
        problems += _verify_all(app, signed, report)
    else:
        problems += _verify_one(app, case_id, signed, report)
    report.problems = sorted(set(problems))
    return report


def _check_checkpoint(ledger: LedgerState, key: str | bytes | None, report: VerifyReport) -> list[Problem]:
    lid = ledger.ledger_id
    out = [Problem(lid, v, "checkpoint_invalid", detail) for v, detail in ledger.damaged]
    if ledger.trailing is not None:
        out.append(Problem(lid, ledger.trailing, "checkpoint_invalid",
                           "heads recorded after the last Checkpointed event (its event is gone)"))
    cp = ledger.last
    if cp is None:
        return out
    root = merkle_root(sorted_leaves(ledger.heads))
    root_ok = root == cp["root"] and len(ledger.heads) == cp["count"]
    sig_ok = signature_valid(key, cp) if key is not None else None
    version = ledger.last_version or ledger.version
    if not root_ok:
        out.append(Problem(lid, version, "checkpoint_invalid",
                           f"recorded heads give root {root} over {len(ledger.heads)}, signed {cp['root']} "
                           f"over {cp['count']}"))
    if sig_ok is False:
        out.append(Problem(lid, version, "checkpoint_invalid", "HMAC signature does not match (altered, or "
                           "signed with another CASETRAIL_AUDIT_KEY)"))
    report.checkpoint = {**cp, "id": cp["seq"], "version": version, "root_ok": root_ok, "signature_ok": sig_ok}
    return out


def _verify_all(app: Any, signed: dict[UUID, list[Any]], report: VerifyReport) -> list[Problem]:
    """Pass 1 streams the log keeping (version, hash) per aggregate; pass 2
    re-reads only the aggregates that looked wrong and classifies them."""
    seen: dict[UUID, list[Any]] = {}
    suspects: set[UUID] = set()
    mapper, cases = app.mapper, 0
    stop = app.recorder.max_notification_id() or 0
    for n in iter_notifications(app.recorder, 1, stop):
        oid, version = n.originator_id, n.originator_version
        h = record_hash(n.topic, n.state)
        prev = stored_prev_hash(mapper, n.state)
        last = seen.get(oid)
        if last is None:
            ok = version == 1 and prev == genesis_hash(oid)
            seen[oid] = [version, h]
            cases += n.topic.startswith(CASE_TOPICS)
        else:
            ok = version == last[0] + 1 and prev == last[1]
            last[0], last[1] = version, h
        head = signed.get(oid)
        if not ok or (head is not None and head[0] == version and head[1] != h):
            suspects.add(oid)
        report.events_checked += 1
    problems: list[Problem] = []
    for oid, (version, _h) in signed.items():
        if oid not in seen:
            problems.append(_case_missing(oid, version))
        elif seen[oid][0] < version:
            suspects.add(oid)
    for oid in sorted(suspects, key=str):
        problems += classify_chain(str(oid), _rows(app, oid), signed.get(oid))
    least = min((getattr(app, "snapshotting_intervals", None) or {None: 1}).values())
    for oid in sorted((o for o, (v, _h) in seen.items() if v >= least), key=str):
        problems += check_snapshots(app, oid)
    report.cases_checked, report.aggregates_checked = cases, len(seen)
    return problems


def _verify_one(app: Any, case_id: UUID | str, signed: dict[UUID, list[Any]], report: VerifyReport) -> list[Problem]:
    try:
        oid = case_id if isinstance(case_id, UUID) else UUID(str(case_id))
    except ValueError:
        raise CaseNotFound(f"no case {case_id}") from None
    rows = _rows(app, oid)
    if not rows and oid not in signed:
        raise CaseNotFound(f"no case {case_id}")
    report.cases_checked = report.aggregates_checked = 1
    report.events_checked = len(rows)
    if not rows:
        return [_case_missing(oid, signed[oid][0])]
    return classify_chain(str(oid), rows, signed.get(oid)) + check_snapshots(app, oid)


def check_snapshots(app: Any, oid: UUID) -> list[Problem]:
    """Each stored snapshot of ``oid`` must be the state its events give at that
    version (loading starts from the latest snapshot, so a forged one would
    change what every read returns while the chain still verifies)."""
    store = getattr(app, "snapshots", None)
    snapshots = list(store.recorder.select_events(oid)) if store is not None else []
    if not snapshots:
        return []
    out: list[Problem] = []
    wanted = {s.originator_version: s for s in snapshots}
    aggregate = None
    try:
        for e in app.events.get(oid, lte=max(wanted)):  # the events only, never a snapshot
            aggregate = project_with_head(aggregate, [e])
            stored = wanted.pop(e.originator_version, None)
            if stored is not None and not _same_snapshot(app, stored, aggregate):
                out.append(Problem(str(oid), e.originator_version, "snapshot_mismatch",
                                   "the stored snapshot differs from the state replayed from the chained events"))
    except Exception as e:  # an undecodable event is reported by the chain checks
        first = min(s.originator_version for s in snapshots)
        out.append(Problem(str(oid), first, "snapshot_mismatch", f"could not replay to check snapshots: {e}"))
        return out
    out += [Problem(str(oid), v, "snapshot_mismatch", "snapshot of a version that has no event") for v in wanted]
    return out


def _same_snapshot(app: Any, stored: Any, aggregate: Any) -> bool:
    try:
        snapshot = app.mapper.to_domain_event(stored)
    except Exception:
        return False
    expected = type(snapshot).take(aggregate)
    return (snapshot.topic, app.mapper.transcoder.encode(snapshot.state)) == (
        expected.topic, app.mapper.transcoder.encode(expected.state))


def _case_missing(oid: UUID, version: int) -> Problem:
    return Problem(str(oid), 1, "case_missing", f"no stored events; the checkpoint signed versions 1..{version}")


def _rows(app: Any, oid: UUID) -> list[tuple[int, str, bytes, str | None]]:
    return [(s.originator_version, s.topic, bytes(s.state), stored_prev_hash(app.mapper, s.state))
            for s in app.recorder.select_events(oid)]


# ------------------------------------------------------------- classify
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


# ---------------------------------------------------------------- export
def export_bundle(app: Any, case_id: UUID | str, *, key: str | bytes | None, actor: Actor,
                  ctx: CommandContext = CommandContext(), access: Any = None) -> dict[str, Any]:
    """The case's evidence bundle (see ``domain.audit.bundle``); records the export in
    the access ledger. With a key, first signs a checkpoint if the case's head
    is not covered yet (skipped, with the older checkpoint, if a chain is broken)."""

    case = app.get_case(case_id)
    ledger = read_ledger(app)
    aid = str(case.id)
    covered = ledger is not None and ledger.last is not None and ledger.heads.get(aid, [0])[0] >= case.version
    if key and not covered:
        try:
            checkpoint(app, key)
            ledger = read_ledger(app)
        except ChainBroken:
            pass
    stored = app.recorder.select_events(case.id)
    cp = proof = None
    if ledger is not None and ledger.last is not None and aid in ledger.heads:
        names = sorted(ledger.heads)
        version, head = ledger.heads[aid]
        proof = merkle_proof(sorted_leaves(ledger.heads), names.index(aid))
        cp = {**ledger.last, "leaf": {"version": version, "head": head}}
    now: datetime = app.clock()
    bundle = make_bundle(aid, [(s.originator_version, s.topic, bytes(s.state)) for s in stored],
                         exported_at=now.isoformat(), exported_by=actor.id, checkpoint=cp, proof=proof, key=key,
                         case={"number": case.number, "type": case.case_type, "status": case.status,
                               "version": case.version})
    (access or app.access_ledger).record_read(actor, aid, "export", {
        "events": len(stored), "checkpoint_seq": cp["seq"] if cp else None}, ctx=ctx)
    return bundle

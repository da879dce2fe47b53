"""Audit: verify every hash chain against the stored bytes, the signed
checkpoint chain and the witness, and export evidence bundles.

``verify(app, case_id=None, key=None, public_key=None, witness=None)``
streams the notification log in batches (memory grows with the number of
aggregates, not events), checks each aggregate's versions are 1..n and each
``prev_hash`` is the hash of the stored event before it, then classifies
every aggregate that looks wrong from its own events (``classify_chain``).
The access ledger (who read what) is verified the same way, its problems
named ``access:<id>``. Kinds of problem:

- integrity: ``altered`` (bytes changed), ``reordered`` (events swapped),
  ``head_mismatch`` (the event at the checkpointed version no longer hashes
  to the signed head), ``root_mismatch`` (the events, as of a witnessed
  checkpoint's positions, do not give its signed root);
- completeness: ``missing`` (a version gap), ``truncated`` (head below the
  checkpointed version), ``case_missing`` (a checkpointed aggregate has no
  events), ``log_truncated`` (the log ends before a witnessed position);
  notification-id gaps are listed apart (``gaps``: a deleted event, or on
  PostgreSQL a rolled-back transaction);
- snapshots: ``snapshot_mismatch`` (a stored snapshot is not the state the
  chained events give at its version; snapshots are not chained themselves);
- the checkpoint chain (``domain.audit.checkpoints``): ``checkpoint_invalid``,
  ``checkpoint_gap``, ``checkpoint_missing``, ``checkpoint_altered``,
  ``witness_invalid``. Fails closed: with a witness that holds checkpoints, a
  database without them fails. ``public_key`` checks Ed25519 signatures;
  ``key`` is the legacy HMAC secret of old checkpoints.

``verify(..., since_checkpoint=True)`` (``audit verify --incremental``) is
the incremental verify: the checkpoint chain as above, then only the
notifications after the last checkpoint's positions (each continues its
aggregate's signed head or the new event before it, hash recomputed from the
stored bytes), one stored event per signed aggregate (the one at the signed
version must still hash to the signed head: a re-chained rewrite is found)
and the ledger's own chain; ``report.mode == "incremental"``, ``report.since``
names the checkpoint and positions. An edit inside an old chain that was not
re-chained up to the head, or an aggregate inserted below the position, is
found only by the full verify (the default). Without a trustworthy
checkpoint (none, or the chain does not verify) it verifies in full.

The full scan of a log is ``domain.audit.scan``. Checkpoints are recorded by
``domain.audit.ledger`` (re-exported here). No HTTP.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from domain.audit.checkpoints import chain_findings, unwitnessed
from domain.audit.classify import COMPLETENESS, Problem, classify_chain  # noqa: F401  (re-exported)
from domain.audit.ledger import (  # noqa: F401  (re-exported: the audit API)
    ACCESS,
    AuditKeyMissing,
    ChainBroken,
    CheckpointRefused,
    LedgerState,
    access_store,
    checkpoint,
    iter_notifications,
    ledger_id,
    maybe_checkpoint,
    read_ledger,
    stored_prev_hash,
)
from domain.audit.proofs import ED25519, genesis_hash, merkle_root, record_hash, sorted_leaves
from domain.audit.scan import case_missing, chain_rows, check_snapshots, verify_log  # noqa: F401
from domain.audit.witness import WitnessRecords, read_witness
from domain.model.case import Case
from domain.model.errors import CaseNotFound
from domain.model.topics import topic_prefixes
from domain.storage.heads import select_heads

INTEGRITY = ("altered", "reordered", "snapshot_mismatch", "head_mismatch", "root_mismatch", "checkpoint_invalid",
             "checkpoint_altered", "witness_invalid")
CASE_TOPICS = topic_prefixes(Case)  # "domain.model.case:Case.", and the path before the move


def audit_key(environ: Mapping[str, str] | None = None) -> bytes | None:
    """``CASETRAIL_AUDIT_KEY`` (the legacy HMAC secret of old checkpoints) as bytes, or None."""
    value = (os.environ if environ is None else environ).get("CASETRAIL_AUDIT_KEY") or ""
    return value.encode("utf-8") if value else None


@dataclass
class VerifyReport:
    cases_checked: int = 0
    aggregates_checked: int = 0
    events_checked: int = 0
    problems: list[Problem] = field(default_factory=list)
    checkpoint: dict[str, Any] | None = None
    warnings: list[dict[str, str]] = field(default_factory=list)
    gaps: list[dict[str, Any]] = field(default_factory=list)
    checkpoints: int = 0
    witness: dict[str, Any] | None = None
    access_events_checked: int = 0
    mode: str = "full"
    since: dict[str, Any] | None = None  # incremental: the checkpoint and positions verified from

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "cases_checked": self.cases_checked, "aggregates_checked": self.aggregates_checked,
                "events_checked": self.events_checked, "access_events_checked": self.access_events_checked,
                "problems": [p.as_dict() for p in self.problems], "checkpoint": self.checkpoint,
                "checkpoints": self.checkpoints, "witness": self.witness, "gaps": list(self.gaps),
                "warnings": list(self.warnings), "mode": self.mode, "since": self.since}


# --------------------------------------------------------------- verify
def verify(app: Any, case_id: UUID | str | None = None, key: str | bytes | None = None, *,
           public_key: Any = None, witness: WitnessRecords | str | None = None,
           since_checkpoint: bool = False) -> VerifyReport:
    """Check every chain (or one case's), the access ledger, the checkpoint chain and the witness.

    ``since_checkpoint``: incremental (store-wide only) — verify the checkpoint
    chain, then only the events after the last checkpoint's positions (each must
    continue its aggregate's signed head) and, per signed aggregate, that the
    stored event at the signed version still hashes to the signed head. Falls
    back to the full verify when there is no checkpoint to trust."""
    report = VerifyReport()
    records = read_witness(witness) if isinstance(witness, str) else witness
    ledger = read_ledger(app)
    problems = _check_ledger(ledger, key, public_key, records, report)
    if public_key is None and key is None:
        report.warnings.append({"kind": "no_key", "detail": "no public key: checkpoint signatures not checked "
                                "(hash chains and Merkle root were)"})
    if records is None:
        report.warnings.append({"kind": "no_witness", "detail": "no witness: a deleted or rolled-back checkpoint "
                                "ledger cannot be detected (`--witness PATH`)"})
    signed_all = ledger.heads if ledger and ledger.last else {}
    signed = {UUID(k): v for k, v in signed_all.items() if not k.startswith(ACCESS)}
    witnessed = records.last if records is not None else None
    if case_id is None and since_checkpoint:
        reason = _no_incremental(ledger, problems, public_key, key, records)
        if reason is None:
            assert ledger is not None and ledger.last is not None
            problems += _verify_incremental(app, ledger, report)
            return _finish(report, problems)
        report.warnings.append({"kind": "full_verify", "detail": f"incremental verify not possible ({reason}): "
                                "verified in full"})
    if case_id is None:
        heads_at: dict[str, list[Any]] = {}
        problems += verify_log(app, signed, report, at=_position(witnessed, "position"), heads_at=heads_at)
        access = access_store(app)
        if access is not None:
            access_signed = {UUID(k[len(ACCESS):]): v for k, v in signed_all.items() if k.startswith(ACCESS)}
            sub = VerifyReport()
            access_heads: dict[str, list[Any]] = {}
            found = verify_log(access, access_signed, sub, at=_position(witnessed, "access_position"),
                                heads_at=access_heads)
            problems += [Problem(ACCESS + p.case_id, p.version, p.kind, p.detail) for p in found]
            report.access_events_checked = sub.events_checked
            report.gaps += [{**g, "log": "access"} for g in sub.gaps]
            heads_at.update({ACCESS + k: v for k, v in access_heads.items()})
        if witnessed is not None:
            problems += _check_witnessed_root(app, witnessed, heads_at, ledger)
    else:
        problems += _verify_one(app, case_id, signed, report)
    return _finish(report, problems)


def _finish(report: VerifyReport, problems: list[Problem]) -> VerifyReport:
    if report.gaps:
        report.warnings.append({"kind": "notification_gap", "detail": f"{len(report.gaps)} gap(s) in notification "
                                "ids: deleted events, or rolled-back transactions on PostgreSQL (see gaps)"})
    report.problems = sorted(set(problems))
    return report


# ----------------------------------------------------- incremental verify
def _no_incremental(ledger: LedgerState | None, problems: list[Problem], public_key: Any,
                    key: str | bytes | None, records: WitnessRecords | None) -> str | None:
    """Why the last checkpoint cannot be the base of an incremental verify (None: it can)."""
    if ledger is None or ledger.last is None:
        return "no checkpoint"
    if problems:
        return "the checkpoint chain does not verify"
    if ledger.last.get("position") is None:
        return "the last checkpoint records no position"
    seq = int(ledger.last["seq"])
    if public_key is None and key is None and records is not None and seq not in records.records:
        return f"checkpoint #{seq} is neither signature-checked nor witnessed"
    return None


def _verify_incremental(app: Any, ledger: LedgerState, report: VerifyReport) -> list[Problem]:
    """The events after the last checkpoint continue the signed heads; the signed heads
    are still stored; the ledger's own chain holds."""
    cp = ledger.last
    assert cp is not None
    position, access_position = int(cp["position"]), int(cp.get("access_position") or 0)
    report.mode = "incremental"
    report.since = {"checkpoint": int(cp["seq"]), "position": position, "access_position": access_position}
    own = ledger_id()
    main = {UUID(k): v for k, v in ledger.heads.items() if not k.startswith(ACCESS)}
    problems = _verify_since(app, main, position, report, own=own)
    problems += classify_chain(str(own), chain_rows(app, own))  # the ledger itself: O(checkpoints)
    access = access_store(app)
    if access is not None:
        access_signed = {UUID(k[len(ACCESS):]): v for k, v in ledger.heads.items() if k.startswith(ACCESS)}
        sub = VerifyReport()
        found = _verify_since(access, access_signed, access_position, sub, own=None)
        problems += [Problem(ACCESS + p.case_id, p.version, p.kind, p.detail) for p in found]
        report.access_events_checked = sub.events_checked
        report.gaps += [{**g, "log": "access"} for g in sub.gaps]
    report.warnings.append({"kind": "incremental", "detail": f"incremental: events after position {position} "
                            f"(checkpoint #{cp['seq']}) and each signed head; an edit inside a chain before its "
                            "signed head that was not re-chained is found only by a full verify"})
    return problems


def _verify_since(app: Any, signed: dict[UUID, list[Any]], position: int, report: VerifyReport, *,
                  own: UUID | None) -> list[Problem]:
    """Read the notifications after ``position`` (each continues the signed head or the
    previous new event) and, per signed aggregate, only the event at its signed version."""
    mapper, problems = app.mapper, []
    suspects: set[UUID] = set()
    current: dict[UUID, list[Any]] = {}
    cases = 0
    stop = app.recorder.max_notification_id() or 0
    if stop < position:
        problems.append(Problem(str(own or ledger_id()), stop + 1, "log_truncated", f"the log ends at position "
                                f"{stop}; the last checkpoint covers position {position}"))
    last_id = position
    for n in iter_notifications(app.recorder, position + 1, stop):
        if n.id != last_id + 1:
            report.gaps.append({"from": last_id + 1, "to": n.id - 1})
        last_id = n.id
        oid, version = n.originator_id, n.originator_version
        if oid == own:
            continue  # the ledger's own events: checked as one chain
        h = record_hash(n.topic, n.state)
        prev = stored_prev_hash(mapper, n.state)
        last = current.get(oid) or signed.get(oid)
        if last is None:
            ok = version == 1 and prev == genesis_hash(oid)
            cases += n.topic.startswith(CASE_TOPICS)
        else:
            ok = version == int(last[0]) + 1 and prev == last[1]
        if not ok:
            suspects.add(oid)
        current[oid] = [version, h]
        report.events_checked += 1
    stored = select_heads(app.recorder, {oid: int(v) for oid, (v, _h) in signed.items()})
    for oid, (_version, head) in signed.items():
        row = stored.get(oid)
        if row is None:
            suspects.add(oid)
            continue
        cases += row[1].startswith(CASE_TOPICS)
        if record_hash(row[1], row[2]) != head:
            suspects.add(oid)
    for oid in sorted(suspects, key=str):
        rows = chain_rows(app, oid)
        problems += (classify_chain(str(oid), rows, signed.get(oid)) if rows
                     else [case_missing(oid, int(signed.get(oid, [1])[0]))])
    least = min((getattr(app, "snapshotting_intervals", None) or {None: 1}).values())
    for oid in sorted((o for o, (v, _h) in current.items() if v >= least), key=str):
        problems += check_snapshots(app, oid)
    report.cases_checked, report.aggregates_checked = cases, len(set(signed) | set(current))
    return problems


def _position(record: Mapping[str, Any] | None, name: str) -> int | None:
    if record is None:
        return None
    value = record.get(name)
    return int(value) if value is not None else None


def _check_ledger(ledger: LedgerState | None, key: str | bytes | None, public_key: Any,
                  records: WitnessRecords | None, report: VerifyReport) -> list[Problem]:
    lid = str(ledger_id())
    chain = ledger.checkpoints if ledger else []
    report.checkpoints = len(chain)
    out: list[Problem] = []
    if records is not None:
        report.witness = {"path": records.path, "checkpoints": len(records.records),
                          "last_seq": records.last["seq"] if records.last else None}
        late = unwitnessed(chain, records)
        if late:
            report.warnings.append({"kind": "not_witnessed", "detail": f"checkpoint(s) {late[:10]} are in the "
                                    "database but not (yet) in the witness"})
    out += [Problem(lid, seq, kind, detail) for seq, kind, detail in chain_findings(chain, public_key, key, records)]
    if ledger is None:
        return out
    out += [Problem(lid, v, "checkpoint_invalid", detail) for v, detail in ledger.damaged]
    if ledger.trailing is not None:
        out.append(Problem(lid, ledger.trailing, "checkpoint_invalid",
                           "heads recorded after the last Checkpointed event (its event is gone)"))
    cp = ledger.last
    if cp is None:
        return out
    root = merkle_root(sorted_leaves(ledger.heads))
    root_ok = root == cp["root"] and len(ledger.heads) == cp["count"]
    version = ledger.last_version or ledger.version
    if not root_ok:
        out.append(Problem(lid, version, "checkpoint_invalid",
                           f"recorded heads give root {root} over {len(ledger.heads)}, signed {cp['root']} "
                           f"over {cp['count']}"))
    sig_ok: bool | None = None
    if cp.get("scheme") == ED25519:
        sig_ok = None if public_key is None else not any(p.kind == "checkpoint_invalid" and p.version == cp["seq"]
                                                         and "signature" in p.detail for p in out)
    elif key is not None:
        from domain.audit.proofs import signature_valid
        sig_ok = signature_valid(key, cp)
        if not sig_ok:
            out.append(Problem(lid, version, "checkpoint_invalid", "HMAC signature does not match (altered, or "
                               "signed with another CASETRAIL_AUDIT_KEY)"))
    report.checkpoint = {**cp, "id": cp["seq"], "version": version, "root_ok": root_ok, "signature_ok": sig_ok,
                         "scheme": cp.get("scheme") or "hmac-sha256 (legacy)"}
    return out


def _check_witnessed_root(app: Any, witnessed: Mapping[str, Any], heads_at: dict[str, list[Any]],
                          ledger: LedgerState | None) -> list[Problem]:
    """The events as of the last witnessed checkpoint's positions must give its root."""
    lid, seq = str(ledger_id()), int(witnessed["seq"])
    root = merkle_root(sorted_leaves(heads_at))
    if root == witnessed.get("root") and len(heads_at) == witnessed.get("count"):
        return []
    detail = (f"the stored events up to position {witnessed.get('position')} give root {root} over "
              f"{len(heads_at)} heads; witnessed checkpoint #{seq} signed {witnessed.get('root')} over "
              f"{witnessed.get('count')}")
    out = [Problem(lid, seq, "root_mismatch", detail)]
    if ledger is not None and ledger.last is not None and int(ledger.last["seq"]) == seq \
            and ledger.last.get("root") == witnessed.get("root"):
        for aid in sorted(set(heads_at) | set(ledger.heads)):
            mine, signed = heads_at.get(aid), ledger.heads.get(aid)
            if mine != signed:
                out.append(Problem(aid, int((signed or mine or [1])[0]), "head_mismatch",
                                   f"as of checkpoint #{seq}: stored head {mine}, signed {signed}"))
    return out


def _verify_one(app: Any, case_id: UUID | str, signed: dict[UUID, list[Any]], report: VerifyReport) -> list[Problem]:
    try:
        oid = case_id if isinstance(case_id, UUID) else UUID(str(case_id))
    except ValueError:
        raise CaseNotFound(f"no case {case_id}") from None
    rows = chain_rows(app, oid)
    if not rows and oid not in signed:
        raise CaseNotFound(f"no case {case_id}")
    report.cases_checked = report.aggregates_checked = 1
    report.events_checked = len(rows)
    if not rows:
        return [case_missing(oid, signed[oid][0])]
    return classify_chain(str(oid), rows, signed.get(oid)) + check_snapshots(app, oid)


from domain.audit.export import export_bundle  # noqa: E402,F401  (re-exported: the audit API)

"""The audit ledger: the signed checkpoint chain over every aggregate's chain head.

``AuditLedger`` is an aggregate stored in the same event store as the cases
and hash-chained like them. A checkpoint records, in one transaction,
``HeadsRecorded`` events carrying the heads that changed since the previous
checkpoint (``{aggregate id: [version, head hash]}``, in chunks) and a
``Checkpointed`` event with its sequence number, the Merkle root over *all*
heads so far, their count, the notification position covered, the time, the
hash of the previous checkpoint (``prev``), the signing key's id and an
Ed25519 signature (``domain.audit.signing``) over those
(``domain.audit.proofs.checkpoint_message``). After the commit the
checkpoint is appended to the witness (``domain.audit.witness``). Legacy
checkpoints (HMAC, no ``prev``) still load; the first signed one links to
the last of them. The ledger's own events are chained but never leaves of
its own tree.

``checkpoint`` refuses (``CheckpointRefused``) to sign when the database's
checkpoint chain does not verify with the signer's public key or disagrees
with the witness (deleted, rolled back, edited), and (``ChainBroken``) when a
head does not continue from the previously signed head, so a rewritten
history is never absorbed into a new checkpoint. It scans only the
notifications after the previous checkpoint's position. ``read_ledger`` folds
the ledger from the raw stored events (tolerating damage) for verification.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import IntegrityError, Notification

from domain.audit.bundle import decode_prev_hash
from domain.audit.checkpoints import chain_findings, unwitnessed
from domain.audit.proofs import (
    ED25519,
    GENESIS_CHECKPOINT,
    checkpoint_hash,
    checkpoint_message,
    genesis_hash,
    merkle_root,
    record_hash,
    sorted_leaves,
)
from domain.audit.signing import Signer
from domain.audit.witness import Witness
from domain.model.actor import Actor, CommandContext, event_meta, stable_id
from domain.model.errors import DomainError, VersionConflict
from domain.model.topics import register_moved
from domain.storage.chain import ChainedMapper
from domain.storage.history import event_type

LEDGER_NAME = "casetrail"
CHUNK = 5000
BATCH = 1000
AUDITOR = Actor.system("audit")


class AuditKeyMissing(DomainError):
    status = 503
    kind = "audit-key-missing"
    title = "Signing key not available"


class CheckpointRefused(DomainError):
    """Nothing was signed: the store or the checkpoint chain does not verify."""

    status = 409
    kind = "checkpoint-refused"
    title = "Checkpoint refused"


class ChainBroken(CheckpointRefused):
    """A chain does not continue from its last signed head: nothing was signed."""

    kind = "chain-broken"
    title = "Hash chain broken"


class AuditLedger(Aggregate):
    """The signed checkpoints of one event store."""

    @staticmethod
    def create_id(name: str) -> UUID:
        return stable_id("audit-ledger", name)

    @event("Started")
    def __init__(self, name: str, meta: dict[str, Any]) -> None:
        self.name = name
        self.seq = 0
        self.position = 0
        self.access_position = 0
        self.heads: dict[str, list[Any]] = {}
        self.last: dict[str, Any] | None = None
        self.head_hash: str | None = None

    @event("HeadsRecorded")
    def _heads_recorded(self, heads: dict[str, list[Any]], meta: dict[str, Any]) -> None:
        self.heads.update(heads)

    @event("Checkpointed")
    def _checkpointed(self, seq: int, at: str, position: int, count: int, root: str, signature: str,
                      meta: dict[str, Any], prev: str | None = None, key_id: str | None = None,
                      scheme: str | None = None, access_position: int | None = None) -> None:
        self.seq, self.position = seq, position
        self.access_position = access_position or 0
        self.last = {"ledger_id": str(self.id), "seq": seq, "at": at, "position": position, "count": count,
                     "root": root, "signature": signature, "prev": prev, "key_id": key_id, "scheme": scheme,
                     "access_position": access_position}

    def record(self, delta: dict[str, list[Any]], *, at: str, position: int, access_position: int,
               signer: Signer, meta: dict[str, Any]) -> dict[str, Any]:
        """Record ``delta`` and sign the new root over all heads, linked to the previous checkpoint."""
        names = sorted(delta)
        for i in range(0, len(names), CHUNK):
            self._heads_recorded(heads={k: list(delta[k]) for k in names[i:i + CHUNK]}, meta=meta)
        prev = checkpoint_hash(self.last) if self.last is not None else GENESIS_CHECKPOINT
        digest = {"ledger_id": str(self.id), "seq": self.seq + 1, "at": at, "position": position,
                  "count": len(self.heads), "root": merkle_root(sorted_leaves(self.heads)),
                  "access_position": access_position, "prev": prev,
                  "key_id": signer.key_id, "scheme": ED25519}
        digest["signature"] = signer.sign(checkpoint_message(digest))
        self._checkpointed(meta=meta, **digest_fields(digest))
        return {**digest, "id": digest["seq"], "version": self.version}


DIGEST_FIELDS = ("seq", "at", "position", "count", "root", "signature", "prev", "key_id", "scheme", "access_position")
ACCESS = "access:"  # the access ledger's aggregates among the heads


def digest_fields(digest: dict[str, Any]) -> dict[str, Any]:
    return {k: digest.get(k) for k in DIGEST_FIELDS}


# ---------------------------------------------------------- stored events
def iter_notifications(recorder: Any, start: int, stop: int | None, batch: int = BATCH) -> Iterator[Notification]:
    """Stream the notification log from ``start`` to ``stop`` (inclusive) in batches."""
    position = start
    while stop is None or position <= stop:
        items = recorder.select_notifications(position, batch, stop=stop)
        if not items:
            return
        yield from items
        position = items[-1].id + 1


def stored_prev_hash(mapper: Any, state: bytes) -> str | None:
    """The ``prev_hash`` inside a stored body (after the mapper's cipher and
    compressor, if any), or None if unreadable."""
    try:
        state = ChainedMapper.plain_state(mapper, state)
    except Exception:
        return None
    return decode_prev_hash(state)


def ledger_id() -> UUID:
    return AuditLedger.create_id(LEDGER_NAME)


# ---------------------------------------------------------- checkpoints
def checkpoint(app: Any, signer: Signer | None, *, witness: Witness | str | None = None,
               only_if_changed: bool = False) -> dict[str, Any] | None:
    """Sign and record a checkpoint of all chain heads, then append it to the
    witness; returns the digest ``{"id", "seq", "ledger_id", "version", "root",
    "count", "signature", "at", "position", "prev", "key_id", "scheme"}`` (None
    when ``only_if_changed`` and nothing changed). Raises ``CheckpointRefused``
    when the stored checkpoint chain does not verify or disagrees with the
    witness, ``ChainBroken`` when a head does not continue its signed chain."""
    if signer is None:
        raise AuditKeyMissing("no signing key: checkpoints are signed with CASETRAIL_SIGNING_KEY")
    if isinstance(witness, str):
        witness = Witness(witness)
    for _ in range(10):
        ledger = _load(app)
        _refuse_unless_trusted(app, signer, witness)
        stop = app.recorder.max_notification_id() or 0
        delta = _scan_delta(app, ledger, stop)
        access = access_store(app)
        access_stop = (access.recorder.max_notification_id() or 0) if access is not None else 0
        if access is not None:
            delta.update(_scan_delta(access, ledger, access_stop, prefix=ACCESS, start=ledger.access_position))
        if only_if_changed and not delta and ledger.seq:
            return None
        now: datetime = app.clock()
        meta = event_meta(AUDITOR, now, CommandContext())
        digest = ledger.record(delta, at=now.isoformat(), position=stop, access_position=access_stop,
                               signer=signer, meta=meta)
        try:
            app.save(ledger)
        except IntegrityError:
            continue  # another checkpoint got there first: start again from it
        if witness is not None:
            witness.append({**digest, "ledger_id": str(ledger.id)})
        return digest
    raise VersionConflict("the audit ledger is busy; try the checkpoint again")


def _refuse_unless_trusted(app: Any, signer: Signer, witness: Witness | None) -> None:
    """Refuse to sign over a checkpoint chain that does not verify with this key
    or that the witness contradicts; bring the witness up to date otherwise."""
    state = read_ledger(app)
    chain = state.checkpoints if state else []
    records = witness.read() if witness is not None else None
    findings = [(0, "checkpoint_invalid", f"ledger event {v}: {d}") for v, d in (state.damaged if state else [])]
    findings += chain_findings(chain, signer.public_key(), None, records)
    if state is not None and state.last is not None:
        root = merkle_root(sorted_leaves(state.heads))
        if root != state.last["root"] or len(state.heads) != state.last["count"]:
            findings.append((int(state.last["seq"]), "checkpoint_invalid",
                             "the recorded heads do not give the signed root"))
    if findings:
        seq, kind, detail = findings[0]
        raise CheckpointRefused(f"refusing to checkpoint: {len(findings)} problem(s) with the checkpoint chain, "
                                f"first {kind} at #{seq}: {detail}; run `casetrail audit verify --witness`",
                                problems=[{"seq": s, "kind": k, "detail": d} for s, k, d in findings[:50]])
    if witness is not None and records is not None:
        for seq in unwitnessed([cp for cp in chain if cp.get("scheme") == ED25519], records):
            witness.append(next(cp for cp in chain if int(cp["seq"]) == seq))


def maybe_checkpoint(app: Any, signer: Signer | None, every_seconds: float, *,
                     witness: Witness | str | None = None) -> dict[str, Any] | None:
    """For periodic workers: checkpoint when the last one is older than
    ``every_seconds`` and something changed since. Returns the digest or None
    (also None without a signer). Raises ``CheckpointRefused`` / ``ChainBroken``
    (an alert) when the store or the checkpoint chain does not verify."""
    if signer is None:
        return None
    ledger = _load(app)
    if ledger.last is not None:
        age = (app.clock() - datetime.fromisoformat(ledger.last["at"])).total_seconds()
        if age < every_seconds:
            return None
    return checkpoint(app, signer, witness=witness, only_if_changed=True)


def _load(app: Any) -> AuditLedger:
    try:
        ledger = app.load(ledger_id())
    except AggregateNotFoundError:
        return AuditLedger(name=LEDGER_NAME, meta=event_meta(AUDITOR, app.clock(), CommandContext()))
    assert isinstance(ledger, AuditLedger)
    return ledger


def access_store(app: Any) -> Any:
    """The access ledger beside ``app`` (None for an application without one)."""
    return getattr(app, "access_ledger", None)


def _scan_delta(app: Any, ledger: AuditLedger, stop: int, *, prefix: str = "",
                start: int | None = None) -> dict[str, list[Any]]:
    """New heads since the ledger's position, checking each continues its chain."""
    own = ledger.id
    delta: dict[str, list[Any]] = {}
    broken: list[dict[str, Any]] = []
    for n in iter_notifications(app.recorder, (ledger.position if start is None else start) + 1, stop):
        if n.originator_id == own:
            continue
        aid, version = prefix + str(n.originator_id), n.originator_version
        current = delta.get(aid) or ledger.heads.get(aid)
        prev = stored_prev_hash(app.mapper, n.state)
        if current is None:
            ok = version == 1 and prev == genesis_hash(n.originator_id)
        else:
            ok = version == current[0] + 1 and prev == current[1]
        if not ok:
            broken.append({"case_id": aid, "version": version, "kind": "chain-broken",
                           "detail": f"does not continue from the signed head {current}"})
        delta[aid] = [version, record_hash(n.topic, n.state)]
    if broken:
        first = broken[0]
        raise ChainBroken(f"refusing to checkpoint: {len(broken)} event(s) do not continue their chain, first "
                          f"case {first['case_id']} version {first['version']}; run `casetrail audit verify`",
                          problems=broken[:50])
    return delta


# ------------------------------------------------------- reading the ledger
@dataclass
class LedgerState:
    """The ledger folded from its raw stored events, for verification."""

    ledger_id: str
    version: int = 0
    heads: dict[str, list[Any]] = field(default_factory=dict)
    last: dict[str, Any] | None = None
    last_version: int | None = None
    trailing: int | None = None  # a HeadsRecorded event after the last Checkpointed
    damaged: list[tuple[int, str]] = field(default_factory=list)
    checkpoints: list[dict[str, Any]] = field(default_factory=list)  # the whole chain, oldest first


def read_ledger(app: Any, batch: int = 500) -> LedgerState | None:
    """The latest checkpoint and its heads, or None if there is no ledger."""
    lid = ledger_id()
    state = LedgerState(ledger_id=str(lid))
    decode = app.mapper.transcoder.decode
    after = 0
    while True:
        rows = app.recorder.select_events(lid, gt=after, limit=batch)
        if not rows:
            break
        for stored in rows:
            after = state.version = stored.originator_version
            kind = event_type(stored.topic)
            try:
                body = decode(ChainedMapper.plain_state(app.mapper, stored.state))
                if kind == "HeadsRecorded":
                    state.heads.update({str(k): [int(v[0]), str(v[1])] for k, v in body["heads"].items()})
                    state.trailing = state.trailing or after
                elif kind == "Checkpointed":
                    state.last = {"ledger_id": str(lid), **{k: body.get(k) for k in DIGEST_FIELDS},
                                  "version": after}
                    state.checkpoints.append(state.last)
                    state.last_version, state.trailing = after, None
            except Exception as e:  # damaged ledger event: reported, never fatal
                state.damaged.append((after, f"{kind} unreadable: {type(e).__name__}"))
    return state if state.version else None


# Events stored before the domain became packages name this module by its old path.
register_moved(__name__)

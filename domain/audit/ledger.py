"""The audit ledger: signed checkpoints of every aggregate's chain head.

``AuditLedger`` is an aggregate stored in the same event store as the cases
and hash-chained like them. A checkpoint records, in one transaction,
``HeadsRecorded`` events carrying the heads that changed since the previous
checkpoint (``{aggregate id: [version, head hash]}``, in chunks) and a
``Checkpointed`` event with the Merkle root over *all* heads so far, their
count, the notification position covered, the time, and an HMAC-SHA256
signature (``CASETRAIL_AUDIT_KEY``) over those. The ledger's own events are
chained but never leaves of its own tree.

``checkpoint`` scans only the notifications after the previous checkpoint's
position and refuses (``ChainBroken``) to sign heads whose chain does not
continue from the previously signed head, so a rewritten history is never
absorbed into a new checkpoint. ``read_ledger`` folds the ledger from the raw
stored events (tolerating damage) for verification.
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

from domain.audit.bundle import decode_prev_hash, genesis_hash, merkle_root, record_hash, sign_checkpoint, sorted_leaves
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
    title = "Audit key not configured"


class ChainBroken(DomainError):
    """A chain does not continue from its last signed head: nothing was signed."""

    status = 409
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
        self.heads: dict[str, list[Any]] = {}
        self.last: dict[str, Any] | None = None
        self.head_hash: str | None = None

    @event("HeadsRecorded")
    def _heads_recorded(self, heads: dict[str, list[Any]], meta: dict[str, Any]) -> None:
        self.heads.update(heads)

    @event("Checkpointed")
    def _checkpointed(self, seq: int, at: str, position: int, count: int, root: str, signature: str,
                      meta: dict[str, Any]) -> None:
        self.seq, self.position = seq, position
        self.last = {"ledger_id": str(self.id), "seq": seq, "at": at, "position": position, "count": count,
                     "root": root, "signature": signature}

    def record(self, delta: dict[str, list[Any]], *, at: str, position: int, key: str | bytes,
               meta: dict[str, Any]) -> dict[str, Any]:
        """Record ``delta`` and sign the new root over all heads."""
        names = sorted(delta)
        for i in range(0, len(names), CHUNK):
            self._heads_recorded(heads={k: list(delta[k]) for k in names[i:i + CHUNK]}, meta=meta)
        digest = {"ledger_id": str(self.id), "seq": self.seq + 1, "at": at, "position": position,
                  "count": len(self.heads), "root": merkle_root(sorted_leaves(self.heads))}
        digest["signature"] = sign_checkpoint(key, digest)
        self._checkpointed(meta=meta, **digest_fields(digest))
        return {**digest, "id": digest["seq"], "version": self.version}


def digest_fields(digest: dict[str, Any]) -> dict[str, Any]:
    return {k: digest[k] for k in ("seq", "at", "position", "count", "root", "signature")}


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
def checkpoint(app: Any, key: str | bytes | None, *, only_if_changed: bool = False) -> dict[str, Any] | None:
    """Sign and record a checkpoint of all chain heads; returns the digest
    ``{"id", "seq", "ledger_id", "version", "root", "count", "signature", "at",
    "position"}`` (None when ``only_if_changed`` and nothing changed)."""
    if not key:
        raise AuditKeyMissing("CASETRAIL_AUDIT_KEY is not set: checkpoints are signed with it")
    for _ in range(10):
        ledger = _load(app)
        stop = app.recorder.max_notification_id() or 0
        delta = _scan_delta(app, ledger, stop)
        if only_if_changed and not delta and ledger.seq:
            return None
        now: datetime = app.clock()
        meta = event_meta(AUDITOR, now, CommandContext())
        digest = ledger.record(delta, at=now.isoformat(), position=stop, key=key, meta=meta)
        try:
            app.save(ledger)
        except IntegrityError:
            continue  # another checkpoint got there first: start again from it
        return digest
    raise VersionConflict("the audit ledger is busy; try the checkpoint again")


def maybe_checkpoint(app: Any, key: str | bytes | None, every_seconds: float) -> dict[str, Any] | None:
    """For periodic workers: checkpoint when the last one is older than
    ``every_seconds`` and something changed since. Returns the digest or None
    (also None without a key). Raises ``ChainBroken`` (an alert) if a chain no
    longer continues from its signed head."""
    if not key:
        return None
    ledger = _load(app)
    if ledger.last is not None:
        age = (app.clock() - datetime.fromisoformat(ledger.last["at"])).total_seconds()
        if age < every_seconds:
            return None
    return checkpoint(app, key, only_if_changed=True)


def _load(app: Any) -> AuditLedger:
    try:
        ledger = app.load(ledger_id())
    except AggregateNotFoundError:
        return AuditLedger(name=LEDGER_NAME, meta=event_meta(AUDITOR, app.clock(), CommandContext()))
    assert isinstance(ledger, AuditLedger)
    return ledger


def _scan_delta(app: Any, ledger: AuditLedger, stop: int) -> dict[str, list[Any]]:
    """New heads since the ledger's position, checking each continues its chain."""
    own = ledger.id
    delta: dict[str, list[Any]] = {}
    broken: list[dict[str, Any]] = []
    for n in iter_notifications(app.recorder, ledger.position + 1, stop):
        if n.originator_id == own:
            continue
        aid, version = str(n.originator_id), n.originator_version
        current = delta.get(aid) or ledger.heads.get(aid)
        prev = stored_prev_hash(app.mapper, n.state)
        if current is None:
            ok = version == 1 and prev == genesis_hash(aid)
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
                    state.last = {"ledger_id": str(lid), **{k: body[k] for k in
                                  ("seq", "at", "position", "count", "root", "signature")}}
                    state.last_version, state.trailing = after, None
            except Exception as e:  # damaged ledger event: reported, never fatal
                state.damaged.append((after, f"{kind} unreadable: {type(e).__name__}"))
    return state if state.version else None


# Events stored before the domain became packages name this module by its old path.
register_moved(__name__)

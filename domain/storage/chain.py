"""Hash chains over stored events: tamper evidence written with the events.

Every stored aggregate event carries ``prev_hash``: the hash of the previous
stored event of the same aggregate (for version 1, a genesis hash derived
from the aggregate id). The hash of a stored event covers its stored bytes
exactly as written (topic + state, after any compression or encryption), so
verification needs no keys and notices any changed byte; the chain is
written by the mapper inside the same transaction as the events.

``ChainedMapper`` adds ``prev_hash`` when encoding and attaches the computed
``stored_hash`` to decoded events; with a ``sealer`` (``domain.storage.sealing``)
it seals the personal values of case events and snapshots before encoding
(so the hash covers ciphertext) and opens them when decoding; ``project_with_head`` keeps the
aggregate's ``head_hash`` current so the next save can continue the chain.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any
from uuid import UUID

from eventsourcing.domain import Snapshot
from eventsourcing.persistence import Mapper, StoredEvent
from eventsourcing.utils import get_topic

SNAPSHOT_TOPIC_MARK = "Snapshot"
SEALED_MARK = b"\x00ct-sealed1\x00"  # domain.storage.sealing.MAGIC


def genesis_hash(originator_id: UUID | str) -> str:
    return hashlib.sha256(b"casetrail-genesis:" + str(originator_id).encode()).hexdigest()


def record_hash(topic: str, state: bytes) -> str:
    """The hash of one stored event: its topic and stored bytes."""
    h = hashlib.sha256(topic.encode("utf-8"))
    h.update(b"\n")
    h.update(state)
    return h.hexdigest()


class ChainError(RuntimeError):
    pass


class ChainedMapper(Mapper[UUID]):
    """A Mapper that hash-chains each aggregate's stored events."""

    sealer: Any = None  # a domain.storage.sealing.Sealer (set by the cases' application)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._local = threading.local()

    @contextmanager
    def chaining(self, heads: dict[UUID, str | None],
                 subjects: dict[UUID, tuple[str, str]] | None = None) -> Iterator[dict[UUID, str | None]]:
        """Within this block, encoded events continue the chains in ``heads``
        (aggregate id -> hash of its last stored event), which is updated;
        ``subjects`` gives each case's (type name, data subject) for sealing."""
        self._local.heads = heads
        self._local.subjects = subjects or {}
        try:
            yield heads
        finally:
            self._local.heads = None
            self._local.subjects = {}

    def _snapshot(self, snapshot: Any) -> StoredEvent:
        state = dict(vars(snapshot))
        if self.sealer is not None and isinstance(state.get("state"), dict):
            state["state"] = self.sealer.seal_snapshot(state["state"], str(state["originator_id"]))
        originator_id, version = state.pop("originator_id"), state.pop("originator_version")
        data = self.transcoder.encode(state)
        if self.compressor:
            data = self.compressor.compress(data)
        if self.cipher:
            data = self.cipher.encrypt(data)
        return StoredEvent(originator_id=originator_id, originator_version=version,
                           topic=get_topic(snapshot.__class__), state=data)

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        if isinstance(domain_event, Snapshot) or SNAPSHOT_TOPIC_MARK in type(domain_event).__name__:
            return self._snapshot(domain_event)
        heads = getattr(self._local, "heads", None)
        if heads is None:
            raise ChainError("events must be saved through the application's save()")
        topic = get_topic(domain_event.__class__)
        state = dict(vars(domain_event))
        originator_id = state.pop("originator_id")
        version = state.pop("originator_version")
        state.pop("stored_hash", None)
        prev = heads.get(originator_id)
        if prev is None:
            if version != 1:
                raise ChainError(f"no chain head for {originator_id} before version {version}")
            prev = genesis_hash(originator_id)
        state["prev_hash"] = prev
        if self.sealer is not None:
            case_type, subject = getattr(self._local, "subjects", {}).get(originator_id, (None, None))
            state = self.sealer.seal_event(topic, state, str(originator_id), case_type, subject)
        class_version = getattr(type(domain_event), "class_version", 1)
        if class_version > 1:
            state["class_version"] = class_version
        data = self.transcoder.encode(state)
        if self.compressor:
            data = self.compressor.compress(data)
        if self.cipher:
            data = self.cipher.encrypt(data)
        heads[originator_id] = record_hash(topic, data)
        return StoredEvent(originator_id=originator_id, originator_version=version, topic=topic, state=data)

    def plain_state(self, state: bytes) -> bytes:
        """A stored body as the transcoder wrote it: decrypted and decompressed (if configured)."""
        if self.cipher:
            state = self.cipher.decrypt(state)
        if self.compressor:
            state = self.compressor.decompress(state)
        return bytes(state)

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        event = super().to_domain_event(stored_event)
        snapshot = SNAPSHOT_TOPIC_MARK in stored_event.topic
        if self.sealer is not None and SEALED_MARK in self.plain_state(stored_event.state):
            state = event.__dict__
            case_id = str(stored_event.originator_id)
            if snapshot:
                state["state"] = self.sealer.unseal(state["state"], case_id)
            else:
                object.__setattr__(event, "__dict__", self.sealer.unseal(state, case_id))
        if not snapshot:
            event.__dict__["stored_hash"] = record_hash(stored_event.topic, stored_event.state)
        return event

    def unsealed(self, state: dict[str, Any], originator_id: Any, plain: bytes) -> dict[str, Any]:
        """A decoded event state with its sealed values opened (read models decode this way):
        opened in place, ``state`` being one just decoded for the caller."""
        if self.sealer is None or SEALED_MARK not in plain:
            return state
        return dict(self.sealer.open_in_place(state, str(originator_id)))


def project_with_head(aggregate: Any, events: Iterable[Any]) -> Any:
    """Projector for the repository: mutate, and remember the chain head."""
    last = None
    for e in events:
        aggregate = e.mutate(aggregate)
        last = e
    if aggregate is not None and last is not None:
        stored = last.__dict__.get("stored_hash")
        if stored is not None:
            aggregate.head_hash = stored
    return aggregate

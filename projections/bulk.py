"""Reading the log for a rebuild: large batches, subject keys read in bulk.

A rebuild reads the whole log, so what costs little per event in the live
worker costs a lot in total. ``BulkPump`` is the runner's ``Pump`` with two
changes, both leaving what the read models receive exactly as the live
worker decodes it (``projections.events.decode``):

- batches of ``REBUILD_BATCH`` notifications (ten times the live worker's):
  a tenth of the transactions, and a case touched several times within a
  batch is read and written once;
- before decoding a batch, the subject keys its sealed personal values name
  are read in one query per 500 keys (``SubjectKeys.preload``), instead of
  one query per case the first time ``Sealer`` opens one of its values
  (measured: 40 % of a rebuild's time went to those queries).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import Notification

from domain.storage.sealing import MAGIC
from projections.events import Event, decode
from projections.runner import Pump

REBUILD_BATCH = 5000
_KEY_ID = 8  # bytes of key id after the seal mark (domain.storage.sealing)


def sealed_key_ids(states: Sequence[bytes]) -> set[str]:
    """The key ids of every sealed value in ``states`` (plain msgpack bodies)."""
    found: set[str] = set()
    start, width = len(MAGIC), len(MAGIC) + _KEY_ID
    for state in states:
        at = state.find(MAGIC)
        while at >= 0:
            found.add(state[at + start:at + width].hex())
            at = state.find(MAGIC, at + width)
    return found


def preload_keys(app: Any, notes: Sequence[Notification]) -> None:
    """Read the subject keys ``notes`` need in bulk (nothing when bodies are encrypted or
    compressed as a whole: then decoding reads them one by one, as the live worker does)."""
    mapper = app.mapper
    sealer = getattr(mapper, "sealer", None)
    if sealer is None or mapper.cipher is not None or mapper.compressor is not None:
        return
    ids = sealed_key_ids([n.state for n in notes])
    if ids:
        sealer.keys.preload(ids)


class BulkPump(Pump):
    """The runner's pump reading ``batch_size`` notifications at once, keys preloaded."""

    def read(self, after: int) -> tuple[Sequence[Notification], list[Event]]:
        notes = self.app.recorder.select_notifications(start=after, limit=self.batch_size, inclusive_of_start=False)
        preload_keys(self.app, notes)
        mapper = self.app.mapper
        return notes, [e for e in (decode(mapper, n) for n in notes) if e is not None]

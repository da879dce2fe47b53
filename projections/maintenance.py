"""Operator tasks on read models: rebuild, status, checksums.

``rebuild`` replays the log from event 1 into a NEW version of each read
model's tables (``rm_active.building``) while the active version keeps
serving; it commits every batch with its tracking position, so it can be
interrupted at any point and a second run continues where the first
stopped. Secondary indexes are created once the new tables have caught up
with the log; then each read model is switched in one short transaction
(``rm_active.version``), a worker following ``rm_active`` moves to the new
version, and versions older than the one just replaced are dropped (that
one is kept until the next rebuild, for readers still holding it). The webhook
outbox is never rebuilt (``projections.catalog.OUTBOXES``): a replay would send
every old event again.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from projections.base import Context, ReadModel
from projections.bulk import REBUILD_BATCH, BulkPump
from projections.catalog import ALL_PROJECTIONS, OUTBOXES, PROJECTIONS, open_model, resolve
from projections.events import decode
from projections.views import Store, tracking_table


@dataclass
class RebuildResult:
    versions: dict[str, int]
    position: int
    events: int
    seconds: float
    switched: list[str] = field(default_factory=list)
    interrupted: bool = False


def rebuild(app: Any, store: Store, names: Iterable[str] | None = None, *, batch_size: int = REBUILD_BATCH,
            stop: threading.Event | None = None, progress: Callable[[int, int], None] | None = None,
            switch: bool = True) -> RebuildResult:
    """Rebuild ``names`` (default all) into new tables; switch when caught up.

    ``progress(position, head)`` is called after every batch."""
    chosen = resolve(names)
    context = Context.of(app)
    versions = {}
    for name in chosen:
        versions[name], resumed = store.start_building(name)
        if not resumed:  # a new rebuild: clear leftovers of an abandoned one with that number
            store.view(name, versions[name], PROJECTIONS[name].tables, setup=False).drop()
    models = [open_model(store, name, versions[name], context, indexes=False) for name in chosen]
    pump = BulkPump(app, models, batch_size)
    started, start_position = datetime.now(UTC), pump.position

    def report(_: int) -> None:
        if progress:
            progress(pump.position, app.recorder.max_notification_id() or 0)

    report(0)
    pump.catch_up(stop, report)
    if not (stop and stop.is_set()):
        for model in models:
            model.view.create_indexes()
        pump.catch_up(stop, report)
    result = RebuildResult(versions, pump.position, pump.position - start_position,
                           (datetime.now(UTC) - started).total_seconds(),
                           interrupted=bool(stop and stop.is_set()))
    if result.interrupted or not switch:
        return result
    for model in models:
        previous = store.pointers()[model.name][0]
        if store.switch(model.name, model.version):
            result.switched.append(model.name)
            drop_versions(store, model.name, keep={previous, model.version})
    return result


def drop_versions(store: Store, name: str, keep: set[int]) -> list[int]:
    """Drop the tables of every version of ``name`` not in ``keep``."""
    dropped = []
    for version in sorted(store.versions_present(name) - keep):
        cls = ALL_PROJECTIONS[name]
        store.view(name, version, cls.tables, setup=False).drop()
        dropped.append(version)
    return dropped


def _lag_seconds(app: Any, position: int, now: datetime) -> float:
    notes = app.recorder.select_notifications(start=position, limit=1, inclusive_of_start=False)
    if not notes:
        return 0.0
    e = decode(app.mapper, notes[0])
    if e is None or not e.recorded_at:
        return 0.0
    return max(0.0, round((now - datetime.fromisoformat(e.recorded_at)).total_seconds(), 3))


def status(app: Any, store: Store) -> list[dict[str, Any]]:
    """Position and lag (events and seconds) of each read model's active version,
    and of an unfinished rebuild; and of the webhook outbox once a worker has run it."""
    head = app.recorder.max_notification_id() or 0
    now = datetime.now(UTC)
    pointers = store.pointers()
    out = []
    shown = {**PROJECTIONS, **{n: c for n, c in OUTBOXES.items() if n in pointers}}  # an outbox once it has run
    for name, cls in shown.items():
        active, building = pointers.get(name, (None, None))
        present = store.versions_present(name)
        entry: dict[str, Any] = {"name": name, "version": active, "head": head}
        if active in present:
            position = store.view(name, active, cls.tables, setup=False).position()
            entry.update(position=position, lag_events=max(0, head - position),
                         lag_seconds=_lag_seconds(app, position, now) if position < head else 0.0)
        else:
            entry.update(position=None, lag_events=head, lag_seconds=_lag_seconds(app, 0, now) if head else 0.0)
        if building is not None:
            position = store.view(name, building, cls.tables, setup=False).position() \
                if building in present else 0
            entry["rebuilding"] = {"version": building, "position": position,
                                   "done_pct": round(100.0 * position / head, 1) if head else 100.0}
        out.append(entry)
    return out


def checksums(store: Store, name: str, version: int) -> dict[str, str]:
    """A digest of every table of ``name`` at ``version`` (rows in key order)."""
    out = {}
    for table in ALL_PROJECTIONS[name].tables:
        digest = hashlib.sha256()
        count = 0
        for row in store.read(f"SELECT * FROM {table.name(version)} ORDER BY 1, 2"):
            digest.update(json.dumps(list(row.values()), default=str, ensure_ascii=False).encode())
            digest.update(b"\n")
            count += 1
        out[table.key] = f"{count}:{digest.hexdigest()[:16]}"
    return out


def model_at_active(store: Store, app: Any, name: str) -> ReadModel:
    """The read model ``name`` at its active version (created if missing)."""
    return open_model(store, name, store.claim_initial(name), Context.of(app))


__all__ = ["rebuild", "status", "checksums", "drop_versions", "model_at_active", "tracking_table"]

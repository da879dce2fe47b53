"""The bulk rebuild (``projections.maintenance.rebuild``: ``BulkPump``, large batches,
subject keys read in bulk) writes exactly the rows the live workers write, row for
row, on both databases: with sealed personal values, an erased customer in the
middle of the log, and batches that split cases across them."""

from __future__ import annotations

from typing import Any

import pytest

from domain.application import CaseTrail
from projections.bulk import REBUILD_BATCH, sealed_key_ids
from projections.catalog import PROJECTIONS
from projections.events import decode
from projections.generator import Generator
from projections.maintenance import rebuild
from projections.runner import Worker
from projections.views import Store


def rows(store: Store, name: str, version: int) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table of ``name`` at ``version``, in a total order."""
    out = {}
    for table in PROJECTIONS[name].tables:
        found = store.read(f"SELECT * FROM {table.name(version)}")
        out[table.key] = sorted(found, key=lambda r: [str(v) for v in r.values()])
    return out


@pytest.mark.parametrize("batch_size", [37, REBUILD_BATCH])
def test_bulk_rebuild_equals_the_live_read_models_row_for_row(database_url: str, batch_size: int) -> None:
    app = CaseTrail.from_url(database_url)
    store = Store.for_app(app)
    try:
        generator = Generator(app, seed=23)
        live = Worker(app, store, batch_size=9)
        generator.run(250)
        live.run_once()
        app.register_staff("admin1", "Admin", "it", ["admin"])
        customer = next(e.data["customer"]["id"] for e in map(lambda n: decode(app.mapper, n),
                                                               app.recorder.select_notifications(1, 1000))
                        if e is not None and e.type == "Case.Opened" and (e.data.get("customer") or {}).get("phone"))
        erased = app.erase_customer(app.get_staff("admin1").as_actor(), customer, "consent withdrawn")
        assert erased.cases  # the customer had cases: their sealed values now read "[erased]"
        generator.run(150)
        live.run_once()
        head = app.recorder.max_notification_id()
        app.subject_keys.forget()  # the rebuild reads its keys afresh (and in bulk)
        result = rebuild(app, store, switch=False, batch_size=batch_size)
        assert result.position == head and result.events == head
        pointers = store.pointers()
        for name in PROJECTIONS:
            active, built = pointers[name][0], result.versions[name]
            assert built != active
            expected, got = rows(store, name, active), rows(store, name, built)
            for key in expected:
                assert got[key] == expected[key], (name, key)
        case_rows = rows(store, "case_state", result.versions["case_state"])["case_state"]
        assert len(case_rows) > 20
        audit = rows(store, "audit_history", result.versions["audit_history"])["audit_events"]
        assert any("[erased]" in r["changes"] for r in audit)
    finally:
        store.close()
        app.close()


def test_sealed_key_ids_finds_every_sealed_value_of_a_batch(database_url: str) -> None:
    app = CaseTrail.from_url(database_url)
    try:
        Generator(app, seed=5).run(60)
        notes = app.recorder.select_notifications(1, 1000)
        ids = sealed_key_ids([n.state for n in notes])
        mapper = app.mapper
        opened: set[str] = set()
        original = app.subject_keys.key

        def key(key_id: str) -> bytes | None:
            opened.add(key_id)
            return original(key_id)

        app.subject_keys.key = key  # type: ignore[method-assign]
        for n in notes:
            decode(mapper, n)
        assert opened and opened == ids  # exactly the keys decoding opens
    finally:
        app.close()

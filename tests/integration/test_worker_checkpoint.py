"""The background worker signs audit checkpoints periodically by default (no key configured: one is made)."""

from __future__ import annotations

import time

import pytest

from domain.audit.ledger import read_ledger
from projections.workers import start_background
from tests.support import World, complaint_to


def test_worker_records_checkpoints(sqlite_url: str, tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CASETRAIL_AUDIT_KEY", "CASETRAIL_SIGNING_KEY", "CASETRAIL_WITNESS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CASETRAIL_CHECKPOINT_INTERVAL", "0.5")
    world = World(sqlite_url)
    complaint_to(world, "assigned")
    assert read_ledger(world.app) is None
    stop = start_background(sqlite_url, sla_interval=0)
    try:
        deadline = time.monotonic() + 20
        while read_ledger(world.app) is None and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        stop()
    assert read_ledger(world.app) is not None
    assert (tmp_path / "casetrail-signing-key.pem").exists()
    assert (tmp_path / "casetrail-witness.jsonl").read_text().count("\n") >= 1

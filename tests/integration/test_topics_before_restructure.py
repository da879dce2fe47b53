"""Events stored before the domain became packages still load, verify and project.

``tests/fixtures/before-restructure.db`` was made with the code as it was
at commit 01fb4d1 (``casetrail demo``, an SLA pass, a case opened with an
idempotency key, two snapshots, two signed checkpoints with
``CASETRAIL_AUDIT_KEY=fixture-key-not-secret``, an export recorded in the
access ledger); ``before-restructure.json`` lists every case as that code
loaded it (number, type, status, version, chain head). Its stored topics
name the old module paths (``domain.case:Case.Opened``,
``domain.ledger:...``, ``domain.access:...``). The database is used as it
is on SQLite and, row for row (same topics, same bytes), copied into a
fresh PostgreSQL database.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteDatastore

from api.events import feed_page
from domain.application import CaseTrail
from domain.audit.verification import verify
from domain.model.actor import Actor
from domain.model.case import Case
from domain.model.staff import Staff
from domain.model.topics import topics
from projections.maintenance import rebuild
from projections.queries import ReadModels
from projections.views import Store

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
KEY = b"fixture-key-not-secret"
OLD_MODULES = ("domain.case:", "domain.staff:", "domain.numbering:", "domain.idempotency:", "domain.ledger:")


def manifest() -> dict[str, Any]:
    return json.loads((FIXTURES / "before-restructure.json").read_text(encoding="utf-8"))["cases"]


def fixture_rows() -> list[Any]:
    """Every stored row of the fixture (read from a copy: the committed file is never opened)."""
    source = FIXTURES / "before-restructure.db"
    assert source.stat().st_size > 100_000, "the fixture database is missing (git add -f, *.db is ignored)"
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copy(source, Path(tmp) / "copy.db")
        datastore = SQLiteDatastore(str(Path(tmp) / "copy.db"))
        rows = SQLiteApplicationRecorder(datastore).select_notifications(start=1, limit=100_000)
        datastore.close()
    return rows


@pytest.fixture
def old_store(database_url: str, tmp_path: Path) -> str:
    """``database_url`` holding the fixture's events (SQLite: the file itself, copied)."""
    if database_url.startswith("sqlite"):
        shutil.copy(FIXTURES / "before-restructure.db", tmp_path / "old.db")
        return f"sqlite:///{tmp_path}/old.db"
    app = CaseTrail.from_url(database_url)
    try:
        app.recorder.insert_events(fixture_rows())  # same topics, same bytes, same order
    finally:
        app.close()
    return database_url


def test_the_fixture_holds_old_topics() -> None:
    stored = {n.topic.split(":")[0] + ":" for n in fixture_rows()}
    assert set(OLD_MODULES) <= stored and not any(t.startswith("domain.model.") for t in stored)


def test_every_old_event_decodes_to_the_moved_classes(old_store: str) -> None:
    app = CaseTrail.from_url(old_store)
    try:
        notifications = app.recorder.select_notifications(start=1, limit=100_000)
        assert len(notifications) == len(fixture_rows())
        for n in notifications:
            event = app.mapper.to_domain_event(n)
            assert type(event).__qualname__ == n.topic.split(":", 1)[1]
            assert type(event).__module__.startswith(("domain.model.", "domain.audit.")), n.topic
    finally:
        app.close()


def test_old_cases_load_as_they_did_and_take_new_actions(old_store: str) -> None:
    app = CaseTrail.from_url(old_store)
    try:
        cases = manifest()
        for number, expected in cases.items():
            case = app.get_case(expected["id"])  # two of them from their snapshots
            assert (case.number, case.case_type, case.status, case.version, case.head_hash) == (
                number, expected["type"], expected["status"], expected["version"], expected["head_hash"])
        feed = feed_page(app, 0, 500)  # topic-filtered queries find the old case events
        assert len({item["case_id"] for item in feed}) == len(cases)
        staff = app.recorder.select_notifications(start=1, limit=1000, topics=topics(Staff.Registered))
        assert len(staff) == 12
        open_complaint = next(e for e in cases.values() if e["type"] == "complaint" and e["status"] != "closed")
        agent = app.get_staff("agent1").as_actor()
        after = app.act(agent, open_complaint["id"], "log_contact", {"channel": "phone", "summary": "回访客户"})
        assert after.version == open_complaint["version"] + 1
        newest = app.recorder.select_events(after.id, desc=True, limit=1)[0]
        assert newest.topic == "domain.model.case:Case.ActionTaken"
        assert verify(app, key=KEY).ok  # the chain goes on across the old and the new topics
    finally:
        app.close()


def test_old_store_verifies_and_projects(old_store: str) -> None:
    app = CaseTrail.from_url(old_store)
    try:
        report = verify(app, key=KEY)
        assert report.ok, report.as_dict()
        assert report.cases_checked == len(manifest())
        if old_store.startswith("sqlite"):  # positions are the fixture's own: its checkpoints hold
            assert report.as_dict()["checkpoint"]["signature_ok"] is True
        store = Store.for_app(app)
        result = rebuild(app, store)
        assert not result.interrupted
        models = ReadModels.for_app(app)
        listed: list[dict[str, Any]] = []
        cursor = None
        while True:
            page, cursor = models.list_cases(now=app.clock(), limit=100, cursor=cursor)
            listed += page
            if cursor is None:
                break
        assert {c["number"]: c["status"] for c in listed} == {n: e["status"] for n, e in manifest().items()}
        models.close()
        store.close()
    finally:
        app.close()


def test_old_access_ledger_reads_stay_readable(tmp_path: Path) -> None:
    """SQLite only: the access ledger has tables of its own, which the PostgreSQL copy leaves out."""
    shutil.copy(FIXTURES / "before-restructure.db", tmp_path / "old.db")
    app = CaseTrail.from_url(f"sqlite:///{tmp_path}/old.db")
    try:
        reads = app.access_ledger.reads_of(str(Case.create_id("ZX-202611-0001")))
        assert [r["actor"] for r in reads] == ["reviewer1"]
        app.access_ledger.record_read(Actor.system("test"), "ZX-202611-0001", "history")
    finally:
        app.close()

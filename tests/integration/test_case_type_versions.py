"""Every case event names the version of its case type; a worker that loads another one says so.

The version is the content hash of the definition (``CaseType.digest``).
A projection worker that meets events of a case type it does not load, or
decided by another version than the one it loaded, logs it (once per type
and version) instead of silently guessing.
"""

from __future__ import annotations

from pathlib import Path

import structlog

from domain.application import CaseTrail
from domain.model.registry import CaseTypeRegistry
from projections import base
from projections.maintenance import rebuild
from projections.views import Store
from tests.unit.test_role_catalog import CASH_ADVANCE, folder

# an operator's type of its own (the built-in cash_advance would be known to every worker)
PETTY_CASH = CASH_ADVANCE.replace('name = "cash_advance"', 'name = "petty_cash"')


def folder_at(path: Path, text: str = PETTY_CASH) -> Path:
    path.mkdir(parents=True)
    return folder(path, text)


def write_a_cash_advance(url: str, registry: CaseTypeRegistry) -> None:
    app = CaseTrail.from_url(url, registry=registry)
    try:
        app.register_staff("zhang", "张丽", "cs", ["agent"])
        app.register_staff("li", "李总", "finance", ["cfo"])
        case = app.open_case(app.get_staff("zhang").as_actor(), "petty_cash", "借支", {}, {"amount": "500.00"})
        app.act(app.get_staff("li").as_actor(), case.id, "approve", {})
        stored = app.recorder.select_events(case.id)
        metas = [app.mapper.to_domain_event(e).meta for e in stored]
        assert {m["case_type_version"] for m in metas} == {registry.get("petty_cash").digest}
    finally:
        app.close()


def project_with(url: str, registry: CaseTypeRegistry) -> list[dict[str, object]]:
    base._REPORTED.clear()
    app = CaseTrail.from_url(url, registry=registry)
    store = Store.for_app(app)
    try:
        with structlog.testing.capture_logs() as logs:
            rebuild(app, store)
        return [entry for entry in logs if "case type" in str(entry.get("event"))]
    finally:
        store.close()
        app.close()


def test_a_worker_on_another_version_says_so_once(database_url: str, tmp_path: Path) -> None:
    written = CaseTypeRegistry.load(folder_at(tmp_path / "v1"))
    write_a_cash_advance(database_url, written)
    assert project_with(database_url, written) == []  # the same files: nothing to say
    changed = folder_at(tmp_path / "v2", PETTY_CASH.replace('title = "现金借支"', 'title = "现金借支（新）"'))
    said = project_with(database_url, CaseTypeRegistry.load(changed))
    assert [e["log_level"] for e in said] == ["warning"], said  # once, though several events differ
    assert said[0]["case_type"] == "petty_cash" and said[0]["event_version"] == written.get("petty_cash").digest


def test_a_worker_without_the_type_says_so_loudly(database_url: str, tmp_path: Path) -> None:
    write_a_cash_advance(database_url, CaseTypeRegistry.load(folder(tmp_path, PETTY_CASH)))
    said = project_with(database_url, CaseTypeRegistry.load())
    assert [e["log_level"] for e in said] == ["error"], said
    assert "CASETRAIL_CASE_TYPES" in str(said[0]["event"])

"""Erasing personal data without breaking the proof (issue 21), on SQLite and PostgreSQL.

A customer's complaint (with its return visit) and repair order, and a worker
pass (no customer id: the case is its own data subject, with an ID number),
then erasure of both subjects. Before and after: the KPIs, the department
report, the case counts, every clock, and ``audit verify`` give the same
figures; afterwards every read shows ``[erased]`` and neither the database
file (a ``pg_dump`` on PostgreSQL), nor the read-model tables, nor the log
hold the name, phone, address or ID number.
"""

from __future__ import annotations

import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from domain.application import CaseTrail
from domain.audit.export import export_bundle
from domain.audit.verification import verify
from domain.model.erasure import Erasure
from domain.model.errors import AlreadyErased, CustomerNotFound, DomainError, InvalidFields
from domain.storage.database import sqlite_file
from domain.storage.sealing import ERASED
from projections.queries import ReadModels
from projections.sla import retention_pass
from projections.views import Store
from tests.integration.test_projections import catch_up
from tests.support import World, complaint_to

NAME, PHONE, ADDRESS = "欧阳娜娜", "13912345678", "上海市浦东新区世纪大道88号"
WORKER, ID_NUMBER, WORKER_PHONE = "司马迁", "11010519491231002X", "13700001111"
SECRETS = (NAME, PHONE, PHONE[:-1] + "9", ADDRESS, WORKER, ID_NUMBER, WORKER_PHONE)
ATTACHMENT = {"name": "id.pdf", "media_type": "application/pdf", "size": 10, "sha256": "0" * 64}


def figures(world: World, url: str) -> dict[str, Any]:
    catch_up(world.app)
    models = ReadModels(url)
    try:
        month = ("2026-11-01", "2026-11-30")
        cases, _ = models.list_cases(now=world.now, limit=200)
        return {
            "kpis": {s: models.staff_performance(s, *month) for s in ("agent", "agent2", "supervisor")},
            "report": models.department_report("cs", "2026-11"),
            "count": len(cases),
            "rows": sorted((c["number"], c["status"], c["customer_id"], c["next_due_at"]) for c in cases),
            "clocks": {c["number"]: world.case(c["id"]).view(None, None)["clocks"] for c in cases},
            "verify": verify(world.app).as_dict(),
        }
    finally:
        models.close()


def by_phone(world: World, url: str, phone: str) -> set[str]:
    models = ReadModels(url)
    try:
        cases, _ = models.list_cases(now=world.now, phone_hash=world.app.sealer.phone_hash(phone))
        return {c["number"] for c in cases}
    finally:
        models.close()


def stored_bytes(url: str, pg_server: Any) -> bytes:
    path = sqlite_file(url)
    if path:
        return b"".join(Path(p).read_bytes() for p in (path, path + "-wal") if Path(p).exists())
    dump = Path(pg_server.bin_dir) / "pg_dump"
    result = subprocess.run([str(dump), "--no-owner", url], capture_output=True, check=True, timeout=120)
    return result.stdout


def found(blob: bytes | str, values: tuple[str, ...] = SECRETS) -> list[str]:
    data = blob.encode() if isinstance(blob, str) else blob
    return [v for v in values if v.encode() in data]


def test_erasure_keeps_the_figures_and_leaves_no_personal_data(database_url: str, request: pytest.FixtureRequest,
                                                              capfd: pytest.CaptureFixture[str]) -> None:
    pg_server = request.getfixturevalue("pg_server") if database_url.startswith("postgresql") else None
    world = World(database_url)
    customer = {"id": "C-77", "name": NAME, "phone": PHONE, "tier": "vip"}
    complaint = complaint_to(world, "replied", customer=customer)
    world.advance(hours=1)
    order = world.open("repair_order", customer={**customer, "address": ADDRESS}, fields={"device": "washer"})
    world.act(complaint, "correct_field", "supervisor",  # a personal value in an action's changes
              {"field": "customer.phone", "value": PHONE[:-1] + "9", "reason": "typo"})
    worker = world.open("worker_pass", customer={"name": WORKER, "id_number": ID_NUMBER, "phone": WORKER_PHONE},
                        fields={"kind": "worker", "id_copy": ATTACHMENT, "construction_permit_no": "ZX-1", "unit": "3-1-502",
                                "residence_permit_no": "ZZ-9"})
    opened = world.now
    world.advance(hours=2)
    assert world.case(complaint.id).customer["name"] == NAME  # sealed in storage, open to readers
    assert found(stored_bytes(database_url, pg_server)) == []  # only ciphertext is stored
    before = figures(world, database_url)
    assert before["verify"]["ok"], before["verify"]
    visit = world.linked(complaint, "return_visit")  # opened with the phone before its correction
    assert by_phone(world, database_url, "+86 139-1234-5678") == {visit.number, order.number}
    assert by_phone(world, database_url, PHONE[:-1] + "9") == {complaint.number}

    admin = world.actor("admin")
    result = world.app.erase_customer(admin, "C-77", "consent withdrawn (PIPL Art. 47)")
    assert set(result.cases) >= {str(complaint.id), str(order.id)}
    world.app.erase_case(admin, worker.id, "retention expired")
    after = figures(world, database_url)
    assert by_phone(world, database_url, PHONE) == set()  # the erased customer's phone hashes are gone

    assert after["kpis"] == before["kpis"] and after["report"] == before["report"]
    assert (after["count"], after["rows"], after["clocks"]) == (before["count"], before["rows"], before["clocks"])
    assert after["verify"]["ok"], after["verify"]
    checked = ("cases_checked", "aggregates_checked", "events_checked")
    # the same cases and events verify; the two erasure records (Started, Erased) are added to the proof
    assert [after["verify"][k] for k in checked] == \
        [before["verify"][k] + extra for k, extra in zip(checked, (0, 2, 4), strict=True)]

    # every read shows the fields as erased
    view = world.case(complaint.id).view(None, None)
    assert view["customer"] == {"id": "C-77", "name": ERASED, "phone": ERASED, "tier": "vip"}
    assert world.case(order.id).customer["address"] == ERASED
    assert world.case(worker.id).customer["id_number"] == ERASED
    assert world.app.get_case_as_of(complaint.id, opened).customer["name"] == ERASED
    assert found(repr(world.app.case_history(complaint.id)) + repr(world.app.case_history(worker.id))) == []
    bundle = export_bundle(world.app, complaint.id, actor=world.actor("reviewer"))
    assert found(repr(bundle)) == []
    models = ReadModels(database_url)
    try:
        rows, _ = models.audit_events(limit=500)
        assert found(repr(rows)) == []
        assert any(r["event_type"] == "Erasure.Erased" for r in rows)
        opened_row = next(r for r in rows if r["case_id"] == str(complaint.id) and r["event_type"] == "Case.Opened")
        assert opened_row["changes"]["customer.name"] == [None, ERASED]
    finally:
        models.close()
    # nothing recoverable in the database (the key rows are gone) nor in the log
    assert found(stored_bytes(database_url, pg_server)) == []
    out, err = capfd.readouterr()
    assert found(out + err) == []

    # a second erasure says so; bad input and unknown customers are refused, nothing recorded
    with pytest.raises(AlreadyErased):
        world.app.erase_customer(admin, "C-77", "again")
    with pytest.raises(CustomerNotFound):
        world.app.erase_customer(admin, "C-404", "nobody")
    with pytest.raises(InvalidFields):
        world.app.erase_customer(admin, "C-77", " ")
    assert verify(world.app).ok


def test_a_returning_customer_gets_a_new_key(sqlite_url: str) -> None:
    world = World(sqlite_url)
    first = world.open("complaint", customer={"id": "C-5", "name": NAME, "phone": PHONE})
    world.app.erase_customer(world.actor("admin"), "C-5", "consent withdrawn")
    again = world.open("complaint", customer={"id": "C-5", "name": "新名字", "phone": PHONE})
    assert world.case(first.id).customer["name"] == ERASED
    assert world.case(again.id).customer["name"] == "新名字"
    world.act(first, "classify", "agent", {"category": "valid"})  # an erased case still works
    assert world.case(first.id).customer["name"] == ERASED
    assert verify(world.app).ok


def test_retention_erases_closed_customers_after_their_period(database_url: str) -> None:
    world = World(database_url)
    done = world.open("inquiry", customer={"id": "C-R", "name": NAME, "phone": PHONE})
    world.act(done, "answer", "agent", {"answer": "yes"})
    world.act(done, "close", "agent")
    kept = world.open("inquiry", customer={"id": "C-K", "name": WORKER, "phone": WORKER_PHONE})
    world.act(kept, "answer", "agent", {"answer": "yes"})
    world.act(kept, "close", "agent")
    world.open("complaint", customer={"id": "C-K", "name": WORKER})  # C-K still has an open case
    catch_up(world.app)
    store = Store.for_app(world.app)
    try:
        assert retention_pass(world.app, store, world.now + timedelta(days=3 * 365 - 1)) == []  # not yet
        erased = retention_pass(world.app, store, world.now + timedelta(days=3 * 365 + 1))
        assert [e.subject for e in erased] == ["customer:C-R"]
        assert retention_pass(world.app, store, world.now + timedelta(days=3 * 365 + 2)) == []  # once
    finally:
        store.close()
    assert world.case(done.id).customer["name"] == ERASED
    assert world.case(kept.id).customer["name"] == WORKER
    record = world.app.load(Erasure.create_id("customer:C-R"))
    assert record.erasures[0]["by"] == "system:retention" and "3y" in record.erasures[0]["reason"]
    assert verify(world.app).ok


def test_snapshots_are_sealed_too(sqlite_url: str) -> None:
    world = World(sqlite_url)
    case = world.open("complaint", customer={"id": "C-S", "name": NAME, "phone": PHONE})
    world.act(case, "assign", "supervisor", {"assignee": "agent"})
    for i in range(100):  # a snapshot every 100 events
        world.act(case, "log_contact", "agent", {"channel": "phone", "summary": f"call {i}"})
    assert list(world.app.snapshots.get(case.id)) if world.app.snapshots else False
    assert found(stored_bytes(sqlite_url, None)) == []
    world.app.erase_customer(world.actor("admin"), "C-S", "consent withdrawn")
    fresh = CaseTrail.from_url(sqlite_url)  # a process without cached copies: loads from the snapshot
    try:
        loaded = fresh.get_case(case.id)
        assert loaded.customer["name"] == ERASED and loaded.version == 102
    finally:
        fresh.close()


def test_unique_keys_of_personal_values_hold_a_keyed_hash(sqlite_url: str) -> None:
    world = World(sqlite_url)
    fields = {"kind": "worker", "id_copy": ATTACHMENT, "construction_permit_no": "ZX-1", "unit": "3-1-502",
              "residence_permit_no": "ZZ-9"}
    first = world.open("worker_pass", customer={"name": WORKER, "id_number": ID_NUMBER}, fields=fields)
    with pytest.raises(DomainError, match="already holds a pass"):  # the rule still holds
        world.open("worker_pass", customer={"name": "另一人", "id_number": ID_NUMBER}, fields=fields)
    assert found(stored_bytes(sqlite_url, None), (ID_NUMBER,)) == []
    world.app.erase_case(world.actor("admin"), first.id, "retention expired")
    assert world.case(first.id).customer["id_number"] == ERASED

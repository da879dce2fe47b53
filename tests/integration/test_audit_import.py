"""Import with provenance and corrections, on the real database (SQLite file
and PostgreSQL): an importer's events keep the original time, are flagged
``imported`` and are chained and checkpointed like any other; anyone else
supplying a time is refused with nothing recorded; ``correct_field`` works in
every case type as a new event, never an edit."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from domain.audit.verification import checkpoint, verify
from domain.model.actor import CommandContext
from domain.model.errors import InvalidFields, RoleNotAllowed
from tests.integration.test_audit_tamper import KEY
from tests.support import CUSTOMER, ORDER_CUSTOMER, SHANGHAI, World

ORIGINAL = datetime(2025, 3, 1, 9, 30, tzinfo=SHANGHAI)


def test_importer_keeps_original_times_flagged_and_chained(database_url: str) -> None:
    world = World(database_url)
    importer = world.actor("importer")
    app = world.app
    case = app.open_case(importer, "complaint", "Imported complaint", CUSTOMER, {"description": "from the old system"},
                         ctx=CommandContext(correlation_id="import-1", occurred_at=ORIGINAL))
    assert case.number == "TS-202503-0001"  # numbered by the original month
    steps = [("assign", {"assignee": "agent"}, ORIGINAL + timedelta(hours=1)),
             ("start_investigation", {}, ORIGINAL + timedelta(hours=2)),
             ("log_contact", {"channel": "phone", "summary": "called"}, ORIGINAL + timedelta(hours=3))]
    for action, data, at in steps:
        case = app.act(importer, case.id, action, data, ctx=CommandContext(correlation_id="import-1", occurred_at=at))
    # an import may not go back before the case's last event: nothing recorded
    with pytest.raises(InvalidFields, match="before the case's last event"):
        app.act(importer, case.id, "log_contact", {"channel": "phone", "summary": "too early"},
                ctx=CommandContext(occurred_at=ORIGINAL + timedelta(hours=2, minutes=59)))
    assert app.get_case(case.id).version == 4
    # then ordinary work continues on the same chain
    case = world.act(case, "log_contact", "agent", {"channel": "phone", "summary": "live call"})
    history = app.case_history(case.id)
    assert [h["imported"] for h in history] == [True, True, True, True, False]
    assert [h["occurred_at"] for h in history[:4]] == [t.isoformat() for t in
                                                       [ORIGINAL] + [s[2] for s in steps]]
    assert history[4]["occurred_at"] == world.now.isoformat()
    assert all(h["actor"] == "importer" and h["roles"] == ["importer"] for h in history[:4])
    assert all(h["correlation_id"] == "import-1" for h in history[:4])
    assert all(datetime.fromisoformat(h["recorded_at"]) > ORIGINAL + timedelta(days=30) for h in history)
    for before, after in zip(history, history[1:]):
        assert after["prev_hash"] == before["hash"]
    view = case.view(None, None)
    assert view["opened_at"] == ORIGINAL.isoformat()
    resolution = next(c for c in view["clocks"] if c["name"] == "resolution")
    assert resolution["started_at"] == ORIGINAL.isoformat()
    # replay by the original times
    assert app.get_case_as_of(case.id, ORIGINAL + timedelta(minutes=90)).status == "assigned"
    assert app.get_case_as_of(case.id, ORIGINAL + timedelta(hours=2)).status == "investigating"
    digest = checkpoint(app, KEY)
    assert digest["count"] >= 12 + 2
    report = verify(app, public_key=KEY)
    assert report.ok, report.problems


def test_only_an_importer_may_supply_the_time(database_url: str) -> None:
    world = World(database_url)
    app = world.app
    case = world.open("complaint")
    position = app.recorder.max_notification_id()
    for who in ("agent", "supervisor", "admin", "reviewer"):
        with pytest.raises(RoleNotAllowed) as refused:
            app.open_case(world.actor(who), "complaint", "Backdated", CUSTOMER,
                          ctx=CommandContext(occurred_at=ORIGINAL))
        assert refused.value.extra["allowed_roles"] == ["importer"]
        with pytest.raises(RoleNotAllowed):
            app.act(world.actor(who), case.id, "classify", {"severity": "major"},
                    ctx=CommandContext(occurred_at=ORIGINAL))
    assert app.recorder.max_notification_id() == position  # nothing recorded
    assert world.case(case.id).version == 1
    # an importer without a time is not "imported"
    plain = app.open_case(world.actor("importer"), "inquiry", "Live", CUSTOMER)
    assert app.case_history(plain.id)[0]["imported"] is False


CORRECTIONS = [
    ("complaint", CUSTOMER, {"description": "typo"}, "description", "fixed description", "fixed description"),
    ("complaint", CUSTOMER, {}, "customer.phone", "13900139000", "13900139000"),
    ("inquiry", CUSTOMER, {"description": "typo"}, "fields.description", "fixed", "fixed"),
    ("order_approval", ORDER_CUSTOMER, {"amount": "100.00", "payment_terms": "cash"}, "amount", "120.50", "120.50"),
    ("repair_order", CUSTOMER, {"device": "kettle"}, "device", "toaster", "toaster"),
    ("return_visit", CUSTOMER, {}, "mandatory", "true", True),
]


@pytest.mark.parametrize("case_type,customer,fields,path,value,expected", CORRECTIONS,
                         ids=[f"{c[0]}:{c[3]}" for c in CORRECTIONS])
def test_correct_field_is_a_new_event(database_url: str, case_type: str, customer: dict, fields: dict, path: str,
                                      value: str, expected: object) -> None:
    world = World(database_url)
    case = world.app.open_case(world.actor("importer"), case_type, "Case", customer, fields)
    before = world.case(case.id)
    head, _, name = path.rpartition(".")
    group = "customer" if head == "customer" else "fields"
    old = getattr(before, group).get(name)
    for who in ("agent", "reviewer", "technician"):
        with pytest.raises(RoleNotAllowed):
            world.act(case, "correct_field", who, {"field": path, "value": value, "reason": "typo"})
    with pytest.raises(InvalidFields):
        world.act(case, "correct_field", "supervisor", {"field": "fields.nope", "value": "x", "reason": "typo"})
    with pytest.raises(InvalidFields):  # a reason is required
        world.act(case, "correct_field", "supervisor", {"field": path, "value": value})
    after = world.act(case, "correct_field", "supervisor", {"field": path, "value": value, "reason": "typo"})
    assert after.version == 2 and after.status == before.status
    assert getattr(after, group)[name] == expected
    entry = world.app.case_history(case.id)[-1]
    assert entry["actor"] == "supervisor" and entry["data"]["action"] == "correct_field"
    assert entry["data"]["data"]["reason"] == "typo"
    assert list(entry["data"]["changes"].values()) == [[old, expected]]
    assert getattr(world.app.get_case(case.id, version=1), group).get(name) == old  # history not edited
    assert verify(world.app, case.id).ok

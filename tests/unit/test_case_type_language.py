"""The case-type language's deadlines, approval steps, escalations and load-time checks.

Deadlines from a field and calendar anchors land where the business
calendar says (Asia/Shanghai, Monday-Friday 09:00-18:00): end of the
working day (a weekend date rolls to Monday), 24:00, month end, the Nth of
next month, a time next day or next working day. A chain step may be any of
several roles or be skipped by a condition; an escalation may fire on
entering a state and go to a person. And ``case-types check`` refuses, with
the file and key, an unreachable state, an undeclared target, a ``due``
from a field that is not a date, a breach moving to an unknown state, a
malformed chain step.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from domain.application import CaseTrail
from domain.model.calendar import BusinessCalendar
from domain.model.deadlines import DueRule, due_at, parse_anchor
from domain.model.errors import ApprovalNotAllowed, CaseTypeError
from domain.model.fields import FieldSpec
from domain.model.registry import CaseTypeRegistry
from tests.support import SHANGHAI, STAFF, START, operator_folder

CAL = BusinessCalendar()
FRIDAY_4PM = datetime(2026, 11, 20, 16, 0, tzinfo=SHANGHAI)


@pytest.mark.parametrize("source, value, anchor, expected", [
    ("fields.d", "2026-11-20", "end_of_working_day", "2026-11-20T18:00:00+08:00"),  # a Friday
    ("fields.d", "2026-11-21", "end_of_working_day", "2026-11-23T18:00:00+08:00"),  # Saturday: Monday's end
    ("fields.d", "2026-11-21", "end_of_day", "2026-11-22T00:00:00+08:00"),
    ("fields.t", "2026-11-20T08:30:00+08:00", "14:00 next_day", "2026-11-21T14:00:00+08:00"),
    ("fields.t", "2026-11-20T08:30:00+08:00", "12:00 next_working_day", "2026-11-23T12:00:00+08:00"),
    ("fields.t", "2026-11-20T23:30:00+00:00", "end_of_day", "2026-11-22T00:00:00+08:00"),  # local date: the 21st
    ("fields.d", "2026-12-05", "end_of_month", "2027-01-01T00:00:00+08:00"),
    ("fields.d", "2026-12-05", "day 10 of next_month", "2027-01-10T00:00:00+08:00"),
    ("fields.d", "2027-01-31", "day 10 of next_month 18:00", "2027-02-10T18:00:00+08:00"),
    (None, None, "12:00 next_working_day", "2026-11-23T12:00:00+08:00"),  # from the start: Friday 16:00
    (None, None, "18:00", "2026-11-20T18:00:00+08:00"),
    (None, None, "end_of_working_day", "2026-11-20T18:00:00+08:00"),
    ("fields.t", "2026-11-19T19:00:00+08:00", "end_of_working_day", "2026-11-20T18:00:00+08:00"),  # after hours
    (None, None, "12:00", "2026-11-20T16:00:00+08:00"),  # already past at the start: due at once
    ("fields.d", "2026-11-01", "end_of_day", "2026-11-20T16:00:00+08:00"),
])
def test_anchors_land_on_the_business_calendar(source: str | None, value: str | None, anchor: str,
                                               expected: str) -> None:
    rule = DueRule(source=source, after=None, anchor=parse_anchor(anchor, "x"))
    context = {"fields": {source.split(".")[1]: value}} if source else {}
    assert due_at(rule, FRIDAY_4PM, context, CAL).isoformat() == expected


def test_a_holiday_moves_the_end_of_the_working_day() -> None:
    calendar = BusinessCalendar(holidays=frozenset({datetime(2026, 11, 23).date()}))
    rule = DueRule(source="fields.d", after=None, anchor=parse_anchor("end_of_working_day", "x"))
    assert due_at(rule, START, {"fields": {"d": "2026-11-21"}}, calendar).isoformat() == "2026-11-24T18:00:00+08:00"
    assert due_at(rule, START, {"fields": {}}, calendar) is None  # an empty date: the clock does not start


def test_an_unknown_anchor_names_the_forms() -> None:
    with pytest.raises(CaseTypeError, match="'noonish' is not an anchor; write one of"):
        parse_anchor("noonish", "t.toml: key 'clocks.x.due.at'")
    FieldSpec.from_mapping("d", {"type": "date"}, "x")  # the field type the rule needs exists


BASE = '''
name = "purchase"
title = "采购申请"
number_prefix = "CG"
initial_state = "draft"
states = ["draft", "submitted", "approved", "done"]
closed_states = ["done"]
open_roles = ["employee"]

[fields]
amount = { type = "decimal", required = true }
owner = { type = "staff" }

[actions.submit]
from = ["draft"]
to = "submitted"
opener = true
computes_approvals = true

[actions.approve]
from = ["submitted"]
approval = "grant"
to_when_approved = "approved"

[actions.finish]
from = ["approved"]
to = "done"
roles = ["agent"]

[[approvals.rules]]
chain = [{ any_of = ["sales_manager", "general_manager"] }, { role = "dept_head", skip_when = "fen(fields.amount) < fen('1000.00')" }]
sequential = true

[[escalations]]
on = ["@enter:approved"]
to_staff = "fields.owner"
reason = "approved: buy it"
'''


def registry(tmp_path: Path, text: str) -> CaseTypeRegistry:
    return CaseTypeRegistry.load(operator_folder(tmp_path, {"purchase.toml": text}))


def world(tmp_path: Path, text: str = BASE) -> CaseTrail:
    app = CaseTrail({"PERSISTENCE_MODULE": "eventsourcing.popo"}, registry=registry(tmp_path, text),
                    clock=lambda: START)
    for staff_id, (dept, roles) in STAFF.items():
        app.register_staff(staff_id, staff_id, dept, roles)
    return app


def test_any_of_skip_when_and_an_escalation_to_a_person_on_entering_a_state(tmp_path: Path) -> None:
    app = world(tmp_path)
    actor = lambda s: app.get_staff(s).as_actor()  # noqa: E731
    small = app.open_case(actor("agent"), "purchase", "纸巾", {}, {"amount": "300.00", "owner": "agent2"})
    small = app.act(actor("agent"), small.id, "submit", {})
    assert small.approvals["required"] == ["sales_manager|general_manager"]
    assert small.approvals["skipped"] == ["dept_head"]  # under 1000.00: no department head
    small = app.act(actor("general_manager"), small.id, "approve", {})  # either of the two roles
    assert small.status == "approved"
    assert [(e["to_role"], e["to_staff"]) for e in small.escalations] == [("", "agent2")]

    big = app.open_case(actor("agent"), "purchase", "电脑", {}, {"amount": "5000.00"})
    big = app.act(actor("agent"), big.id, "submit", {})
    assert big.approvals["required"] == ["sales_manager|general_manager", "dept_head"]
    with pytest.raises(ApprovalNotAllowed):
        app.act(actor("dept_head"), big.id, "approve", {})  # sequential: the managers first
    big = app.act(actor("sales_manager"), big.id, "approve", {})
    with pytest.raises(ApprovalNotAllowed):
        app.act(actor("boss"), big.id, "approve", {})  # the any-of step is granted already
    big = app.act(actor("dept_head"), big.id, "approve", {})
    assert big.status == "approved" and big.escalations == []  # no owner: nobody to tell


@pytest.mark.parametrize("mutation, needle", [
    (lambda t: t.replace('states = ["draft", "submitted", "approved", "done"]',
                         'states = ["draft", "submitted", "approved", "done", "limbo"]')
     .replace('closed_states = ["done"]', 'closed_states = ["done", "limbo"]'),
     r"purchase.toml: key 'states': \['limbo'\] cannot be reached"),
    (lambda t: t + '\n[actions.note]\nfrom = ["*open"]\nroles = ["agent"]\nfields.text = { type = "text" }\n'
                   'sets = { text = "memo" }\n',
     r"key 'actions.note.sets.text': 'memo' is not a declared field"),
    (lambda t: t + '\n[actions.note]\nfrom = ["*open"]\nroles = ["agent"]\ncomputes = { "customer.x" = "1" }\n',
     r"key 'actions.note.computes.customer.x': 'customer.x' is not a declared field"),
    (lambda t: t + '\n[clocks.due]\nstart = ["@open"]\ndue = { from = "fields.amount", at = "end_of_day" }\n',
     r"key 'clocks.due'.due.from: 'fields.amount' is not a date or datetime field"),
    (lambda t: t + '\n[clocks.due]\nstart = ["@open"]\nduration = "1d"\non_breach = { to = "lost" }\n',
     r"key 'clocks.due'.on_breach.to: state 'lost' is not in 'states'"),
    (lambda t: t + '\n[clocks.due]\nstart = ["@open"]\nduration = "fields.amount >"\n',
     r"key 'clocks.due'.duration: not a valid expression"),
    (lambda t: t.replace('{ any_of = ["sales_manager", "general_manager"] }', '{ any_of = ["sales_manager"] }'),
     r"chain\[0\].any_of: a list of at least two roles"),
    (lambda t: t.replace('{ role = "dept_head", skip_when', '{ role = "dept_head", of = "boss", skip_when'),
     r"chain\[1\].of: only \"requester\""),
])
def test_check_refuses_with_file_and_key(tmp_path: Path, mutation, needle: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(CaseTypeError, match=needle):
        registry(tmp_path, mutation(BASE))

"""Every validation problem in one refusal (issue 19, API.md second edition), on both databases.

Opening a case (title, channel, customer, fields, unknown keys, occurred_at), an
action's body (its fields, ``expected_version``, ``occurred_at``), a correction
and an import each answer one 422 ``invalid-fields`` problem whose ``errors``
name every invalid member with its path into the body, and record nothing.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.api_support import ApiWorld
from tests.support import CUSTOMER

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def fields_of(problem: dict[str, Any]) -> set[str]:
    assert problem["status"] == 422 and problem["type"].endswith("/invalid-fields"), problem
    return {e["field"] for e in problem["errors"]}


def test_opening_names_title_customer_fields_and_unknown_keys_at_once(w: ApiWorld) -> None:
    head = w.app.recorder.max_notification_id()
    body = {"type": "complaint", "title": "  ", "colour": "red",
            "customer": {"name": 5, "phone": "1" * 600, "tier": "gold", "shoe": 42},
            "fields": {"severity": "apocalyptic", "category": "valid", "made_up": 1}}
    problem = w.call("POST", "/v1/cases", "agent", body, status=422)
    assert fields_of(problem) == {"colour", "title", "customer.id", "customer.name", "customer.phone",
                                  "customer.tier", "customer.shoe", "fields.severity", "fields.made_up"}
    assert w.app.recorder.max_notification_id() == head  # nothing recorded


def test_the_domain_alone_also_reports_every_problem(w: ApiWorld) -> None:
    # nothing the HTTP layer owns is wrong: the domain's own collect-all pass answers
    problem = w.call("POST", "/v1/cases", "agent", {
        "type": "order_approval", "title": "", "customer": {"id": "K-1"},
        "fields": {"amount": "0.001", "payment_terms": "barter"}}, status=422)
    assert fields_of(problem) == {"title", "customer.name", "fields.amount", "fields.payment_terms"}


def test_http_layer_problems_come_with_the_domains(w: ApiWorld) -> None:
    problem = w.call("POST", "/v1/cases", "agent", {
        "type": "complaint", "title": "ok", "channel": 7, "occurred_at": "yesterday",
        "customer": {**CUSTOMER, "tier": "gold"}}, status=422)
    assert fields_of(problem) == {"channel", "occurred_at", "customer.tier"}
    problem = w.call("POST", "/v1/cases", "agent", {"title": "", "customer": {}}, status=422)
    assert fields_of(problem) == {"type"}  # without a type, nothing else can be checked
    problem = w.call("POST", "/v1/cases", "agent", {"type": "no_such_type", "extra": 1}, status=422)
    assert fields_of(problem) == {"type", "extra"}


def test_a_channel_on_a_type_without_one_is_named_with_the_rest(w: ApiWorld) -> None:
    problem = w.call("POST", "/v1/cases", "agent", {
        "type": "order_approval", "title": "x", "channel": "phone", "customer": {"id": "K-1", "name": "李记"},
        "fields": {"payment_terms": "cash"}}, status=422)
    assert fields_of(problem) == {"channel", "fields.amount"}


def test_an_actions_fields_and_its_http_members_in_one_refusal(w: ApiWorld) -> None:
    case = w.open_view("complaint")
    w.do(case, "assign", "supervisor", assignee="agent")
    before = w.show(case)["version"]
    problem = w.do(case, "log_contact", "agent", status=422, expected_version=-1, occurred_at=5,
                   summary=None, colour="red")
    assert fields_of(problem) == {"expected_version", "occurred_at", "channel", "summary", "colour"}
    problem = w.do(case, "log_contact", "agent", status=422, summary=None, colour="red")
    assert fields_of(problem) == {"channel", "summary", "colour"}  # the domain's pass, the same paths
    problem = w.do(case, "extend_deadline", "dept_head", status=422, working_days=9)
    assert fields_of(problem) == {"working_days", "reason"}
    assert w.show(case)["version"] == before


def test_a_correction_names_what_is_wrong(w: ApiWorld) -> None:
    case = w.open_view("complaint")
    problem = w.do(case, "correct_field", "supervisor", status=422, value=3, reason="typo", extra=True)
    assert {"field", "value", "extra"} <= fields_of(problem)
    problem = w.do(case, "correct_field", "supervisor", status=422, field="customer.tier", value="gold",
                   reason="typo")
    assert fields_of(problem) == {"value"}


def test_an_import_names_every_invalid_field_with_its_path(w: ApiWorld) -> None:
    head = w.app.recorder.max_notification_id()
    opened = w.now - timedelta(days=3)
    body = {"case": {"type": "complaint", "title": "", "customer": {"id": "C-7"}, "fields": {"severity": "x"},
                     "occurred_at": opened.isoformat()},
            "actions": [{"action": "assign", "occurred_at": (opened + timedelta(hours=1)).isoformat(),
                         "data": {"assignee": 5}},
                        {"action": "log_contact", "occurred_at": (opened + timedelta(hours=2)).isoformat(),
                         "data": {"channel": "phone", "note": "x"}}]}
    problem = w.call("POST", "/v1/import/cases", "importer", body, status=422)
    assert fields_of(problem) == {"case.title", "case.customer.name", "case.fields.severity",
                                  "actions[0].data.assignee", "actions[1].data.summary", "actions[1].data.note"}
    shape = {"case": {"type": "complaint", "title": "t", "customer": {"id": "C-7", "name": "老李"},
                      "occurred_at": "then", "colour": 1},
             "actions": [{"action": 3, "occurred_at": opened.isoformat(), "data": [1]}, "nope"], "more": 1}
    problem = w.call("POST", "/v1/import/cases", "importer", shape, status=422)
    assert fields_of(problem) == {"more", "case.colour", "case.occurred_at", "actions[0].action",
                                  "actions[0].data", "actions[1]"}
    assert w.app.recorder.max_notification_id() == head

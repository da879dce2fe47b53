"""``check_guards``: every kind of guard honours its ``when`` the same way.

A guard whose ``when`` does not hold is skipped — decided once for every
kind, over the case, except ``data_required``, whose condition is over the
action's data. When the condition holds, each kind refuses as it always did.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from domain.model.errors import ApprovalsMissing, GuardFailed, InvalidFields
from domain.model.guards import check_guards

AT = datetime(2026, 11, 16, 2, 0, tzinfo=UTC)
CASE = {"status": "open", "fields": {"amount": "100.00", "paid": "10.00", "method": "bank_card", "verdict": "bad"},
        "customer": {}, "links": [{"rel": "visit", "case_id": "x"}],
        "approvals": {"required": ["dept_head"], "granted": []}}
REFUSING: list[tuple[dict[str, Any], dict[str, Any], type[Exception]]] = [
    ({"kind": "field_in", "field": "fields.method", "values": ["cash"]}, {}, GuardFailed),
    ({"kind": "linked_outcome_in", "link": "visit", "field": "verdict", "values": ["good"]}, {}, GuardFailed),
    ({"kind": "approvals_complete"}, {}, ApprovalsMissing),
    ({"kind": "min_ratio", "field": "fields.paid", "of": "fields.amount", "ratio": "0.3"}, {}, GuardFailed),
    ({"kind": "in_future", "field": "at"}, {"at": "2026-11-15T10:00:00+08:00"}, GuardFailed),
    ({"kind": "max_span", "start": "from", "end": "to", "max": "2h"},
     {"from": "2026-11-16T10:00:00+08:00", "to": "2026-11-16T15:00:00+08:00"}, GuardFailed),
]


@pytest.mark.parametrize("guard, data, error", REFUSING, ids=[g["kind"] for g, _, _ in REFUSING])
def test_a_guard_refuses_when_its_condition_holds_and_is_skipped_when_not(
        guard: dict[str, Any], data: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        check_guards((guard,), CASE, data, "act", AT)
    with pytest.raises(error):
        check_guards(({**guard, "when": {"fields.method": {"eq": "bank_card"}}},), CASE, data, "act", AT)
    with pytest.raises(error):
        check_guards(({**guard, "when": "fields.method == 'bank_card'"},), CASE, data, "act", AT)
    check_guards(({**guard, "when": {"fields.method": {"eq": "cash"}}},), CASE, data, "act", AT)
    check_guards(({**guard, "when": "fields.method == 'cash'"},), CASE, data, "act", AT)


def test_data_required_reads_its_condition_over_the_action_data() -> None:
    guard = {"kind": "data_required", "field": "improvement", "when": {"result": {"eq": "neutral"}}}
    with pytest.raises(InvalidFields) as e:
        check_guards((guard,), CASE, {"result": "neutral"}, "record_outcome", AT)
    assert e.value.extra["errors"] == [{"field": "improvement", "problem": "record_outcome needs improvement here"}]
    check_guards((guard,), CASE, {"result": "neutral", "improvement": "call earlier"}, "record_outcome", AT)
    check_guards((guard,), CASE, {"result": "satisfied"}, "record_outcome", AT)

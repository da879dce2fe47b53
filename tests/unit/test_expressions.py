"""CEL expressions in case-type files: exact money, conditions, load-time and run-time errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from domain.model.errors import CaseTypeError
from domain.model.expressions import ExpressionFailed, fen, holds, share, yuan
from domain.model.registry import CaseTypeRegistry
from tests.support import World
from tests.unit.test_role_catalog import ROLES_FILE

PURCHASE = """
name = "purchase_request"
title = "采购申请"
number_prefix = "CG"
initial_state = "draft"
states = ["draft", "submitted", "approved", "rejected"]
closed_states = ["approved", "rejected"]
open_roles = ["agent"]

[customer]
is_new = { type = "bool", default = false }

[fields]
amount = { type = "decimal", required = true }
kind = { type = "enum", values = ["cash", "transfer"], required = true }

[actions.submit]
from = ["draft"]
to = "submitted"
roles = ["agent"]
computes_approvals = true
to_when_approved = "approved"

[actions.approve]
from = ["submitted"]
approval = "grant"
to_when_approved = "approved"

[actions.reject]
from = ["submitted"]
to = "rejected"
approval = "reject"

# 「3000元以内的采购款」 may be paid in cash with the cashier's sign-off; more needs the CFO too.
[[approvals.rules]]
when = "fields.kind == 'cash' && fen(fields.amount) <= fen('3000.00')"
chain = ["cashier"]

[[approvals.rules]]
when = "fen(fields.amount) > fen('3000.00') || customer.is_new"
chain = ["cashier", "cfo"]
sequential = true

[[approvals.rules]]
when = "true"
chain = []
"""


def test_money_is_exact() -> None:
    assert fen("20000.01") == 2000001 and fen(3) == 300 and yuan(123450) == "1234.50"
    assert share("1000.00", "0.30") == 30000 and share("0.05", "0.5") == 2  # 2.5 fen -> 2 (half to even)
    assert holds("fen(fields.amount) > fen('20000.00')", {"fields": {"amount": "20000.01"}})
    assert not holds("fen(fields.amount) > fen('20000.00')", {"fields": {"amount": "20000.00"}})
    assert holds("fen(fields.a) + fen(fields.b) == fen('0.30')", {"fields": {"a": "0.10", "b": "0.20"}})


def test_conditions_see_the_case_and_optional_fields_need_has() -> None:
    context = {"fields": {"severity": "major"}, "customer": {"tier": "vip"}, "status": "registered"}
    assert holds("fields.severity in ['major', 'crisis'] && customer.tier == 'vip'", context)
    assert not holds("has(fields.subtype) && fields.subtype == 'help'", context)
    with pytest.raises(ExpressionFailed, match="could not be evaluated"):
        holds("fields.subtype == 'help'", context)  # a rule that cannot be read refuses, never lets through
    with pytest.raises(ExpressionFailed, match="not true or false"):
        holds("fields.severity", context)


def folder(tmp_path: Path, text: str = PURCHASE) -> Path:
    (tmp_path / "purchase_request.toml").write_text(text, encoding="utf-8")
    (tmp_path / "_roles.toml").write_text(ROLES_FILE, encoding="utf-8")
    return tmp_path


def test_a_syntax_error_is_refused_when_the_file_loads(tmp_path: Path) -> None:
    broken = PURCHASE.replace("when = \"true\"", "when = \"fields.amount >>> 3\"")
    with pytest.raises(CaseTypeError, match=r"purchase_request.toml: key 'approvals.rules'.*not a valid expression"):
        CaseTypeRegistry.load(folder(tmp_path, broken))


@pytest.mark.parametrize("kind, amount, is_new, chain", [
    ("cash", "3000.00", False, ["cashier"]),
    ("cash", "3000.01", False, ["cashier", "cfo"]),
    ("transfer", "100.00", False, []),
    ("transfer", "100.00", True, ["cashier", "cfo"]),
])
def test_approval_rules_as_expressions(tmp_path: Path, kind: str, amount: str, is_new: bool,
                                       chain: list[str]) -> None:
    world = World(registry=CaseTypeRegistry.load(folder(tmp_path)))
    agent = world.actor("agent")
    case = world.app.open_case(agent, "purchase_request", "采购", {"is_new": is_new}, {"amount": amount, "kind": kind})
    case = world.app.act(agent, case.id, "submit", {})
    assert case.approvals["required"] == chain
    assert case.status == ("approved" if not chain else "submitted")

"""Roles are data: the built-in catalog, an operator's _roles.toml, and types that name unknown roles."""

from __future__ import annotations

from pathlib import Path

import pytest

from domain.model.actor import ROLES
from domain.model.errors import CaseTypeError, InvalidFields
from domain.model.registry import CaseTypeRegistry, case_type_dirs
from domain.model.staff import check_staff_fields
from tests.support import operator_folder

CASH_ADVANCE = """
name = "cash_advance"
title = "现金借支"
number_prefix = "JZ"
number_format = "{prefix}-{YY}{MM}-{seq:3}"
initial_state = "requested"
states = ["requested", "approved", "paid", "repaid"]
closed_states = ["repaid"]
open_roles = ["agent"]

[fields]
amount = { type = "decimal", required = true }
repay_by = { type = "date" }
id_number = { type = "pattern", pattern = '\\d{17}[\\dXx]' }
receipts = { type = "list", items = { file = { type = "attachment", required = true } } }

[actions.approve]
from = ["requested"]
to = "approved"
roles = ["cfo"]

[actions.pay]
from = ["approved"]
to = "paid"
roles = ["cashier"]

[actions.repay]
from = ["paid"]
to = "repaid"
roles = ["cashier"]
"""
ROLES_FILE = '[roles.cfo]\nlabel = "财务总监"\n\n[roles.cashier]\nlabel = "出纳"\n'


def folder(tmp_path: Path, type_text: str = CASH_ADVANCE, roles: str | None = ROLES_FILE) -> Path:
    return operator_folder(tmp_path, {"cash_advance.toml": type_text, **({"_roles.toml": roles} if roles is not None else {})})


def test_the_built_in_catalog_holds_every_built_in_role() -> None:
    catalog = CaseTypeRegistry.load().roles
    assert set(catalog.names()) == set(ROLES)
    assert {r["name"] for r in catalog.describe() if not r["acts"]} == {"reviewer", "admin"}


def test_an_operator_folder_adds_types_and_roles(tmp_path: Path) -> None:
    registry = CaseTypeRegistry.load(folder(tmp_path))
    assert "cash_advance" in registry.names()
    assert {"cfo", "cashier"} <= set(registry.roles.names())
    check_staff_fields("wang", "王会计", "finance", ["cfo"], registry.roles.names())


@pytest.mark.parametrize("mistake, key", [
    ('open_roles = ["agent"]', "open_roles"),
    ('roles = ["cfo"]', "actions.approve.roles"),
])
def test_a_type_naming_an_unknown_role_is_refused_naming_file_and_key(tmp_path: Path, mistake: str,
                                                                       key: str) -> None:
    text = CASH_ADVANCE.replace(mistake, mistake.replace('"agent"', '"agnet"').replace('"cfo"', '"cfoo"'))
    with pytest.raises(CaseTypeError) as e:
        CaseTypeRegistry.load(folder(tmp_path, text))
    assert "cash_advance.toml" in str(e.value) and f"key '{key}'" in str(e.value)
    assert "unknown role" in str(e.value) and "_roles.toml" in str(e.value)


def test_roles_a_type_needs_must_be_in_the_catalog(tmp_path: Path) -> None:
    with pytest.raises(CaseTypeError, match="unknown role 'cfo'"):
        CaseTypeRegistry.load(folder(tmp_path, roles=None))


@pytest.mark.parametrize("roles_text, problem", [
    ('[roles.agent]\nlabel = "again"\nacts = false\n', "defined already .built in, acts = true"),
    ('[roles."bad name"]\nlabel = "x"\n', "letters, digits"),
    ('[roles.cfo]\ncolour = "red"\n', "expected a table"),
    ('cfo = "x"\n', "unknown keys"),
])
def test_malformed_role_files_are_refused(tmp_path: Path, roles_text: str, problem: str) -> None:
    with pytest.raises(CaseTypeError, match=problem):
        CaseTypeRegistry.load(folder(tmp_path, roles=roles_text))


def test_an_operator_may_relabel_a_built_in_role(tmp_path: Path) -> None:
    # an operator folder written before 出纳 became a built-in role keeps loading; its label wins
    registry = CaseTypeRegistry.load(folder(tmp_path, roles=ROLES_FILE.replace('"出纳"', '"出纳（总部）"')))
    assert {r["name"]: r["label"] for r in registry.roles.describe()}["cashier"] == "出纳（总部）"


def test_staff_roles_come_from_the_catalog() -> None:
    with pytest.raises(InvalidFields, match="unknown roles"):
        check_staff_fields("wang", "王会计", "finance", ["cfo"])  # not a built-in role


def test_case_type_dirs_come_from_the_environment(tmp_path: Path) -> None:
    other = tmp_path / "more"
    other.mkdir()
    assert case_type_dirs({"CASETRAIL_CASE_TYPES": f"{tmp_path}:{other}"}) == [tmp_path, other]
    assert case_type_dirs({}) == []
    with pytest.raises(CaseTypeError, match="is not a folder"):
        case_type_dirs({"CASETRAIL_CASE_TYPES": str(tmp_path / "missing")})

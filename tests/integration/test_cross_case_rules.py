"""Rules across cases: one key held by one case at a time (一户一卡), and cases that need another.

Through the application on both databases: a duplicate is refused naming
the holder, a prerequisite missing is refused, a key is released when its
case leaves the rule's states and moved by a correction, and eight threads
racing for one key leave exactly one holder. Through the API: the 422
``duplicate`` and 422 ``prerequisite-missing`` problem documents.
"""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
import pytest

from domain.application import CaseTrail
from domain.model.registry import CaseTypeRegistry
from domain.model.uniqueness import DuplicateCase, PrerequisiteMissing
from tests.e2e.conftest import serving
from tests.support import operator_folder

MEMBERSHIP = """
name = "membership_card"
title = "会员卡"
number_prefix = "HY"
initial_state = "active"
states = ["active", "cancelled"]
closed_states = ["cancelled"]
open_roles = ["agent"]

[customer]
household_id = { type = "string", required = true }
name = { type = "string" }

[actions.cancel]
from = ["active"]
to = "cancelled"
roles = ["agent"]

[[unique]]
name = "one_per_household"
key = ["customer.household_id"]
message = "一户一卡: this household already holds a membership card"
"""
STORED_VALUE = """
name = "stored_value_card"
title = "储值卡"
number_prefix = "CZ"
initial_state = "active"
states = ["active", "closed"]
closed_states = ["closed"]
open_roles = ["agent"]

[customer]
household_id = { type = "string", required = true }

[actions.close]
from = ["active"]
to = "closed"
roles = ["agent"]

[[requires]]
type = "membership_card"
unique = "one_per_household"
key = ["customer.household_id"]
message = "a stored-value card needs the household's membership card"
"""


def folder(tmp_path: Path) -> Path:
    return operator_folder(tmp_path, {"membership_card.toml": MEMBERSHIP, "stored_value_card.toml": STORED_VALUE})


@pytest.fixture
def app(database_url: str, tmp_path: Path) -> CaseTrail:
    app = CaseTrail.from_url(database_url, registry=CaseTypeRegistry.load(folder(tmp_path)))
    app.register_staff("zhang", "张丽", "cs", ["agent"])
    app.register_staff("sup", "陈静", "cs", ["supervisor"])
    yield app  # type: ignore[misc]
    app.close()


def card(app: CaseTrail, household: str, kind: str = "membership_card") -> object:
    return app.open_case(app.get_staff("zhang").as_actor(), kind, "办卡", {"household_id": household}, {})


def test_one_card_per_household_until_it_is_cancelled(app: CaseTrail) -> None:
    first = card(app, "H-1")
    with pytest.raises(DuplicateCase) as refused:
        card(app, "H-1")
    assert refused.value.extra["other_case"]["number"] == first.number  # type: ignore[attr-defined]
    assert card(app, "H-2").number != first.number  # type: ignore[attr-defined]
    app.act(app.get_staff("zhang").as_actor(), first.id, "cancel", {})  # type: ignore[attr-defined]
    assert card(app, "H-1").status == "active"  # type: ignore[attr-defined]


def test_a_stored_value_card_needs_a_membership_card(app: CaseTrail) -> None:
    with pytest.raises(PrerequisiteMissing, match="needs the household's membership card"):
        card(app, "H-9", "stored_value_card")
    member = card(app, "H-9")
    assert card(app, "H-9", "stored_value_card").status == "active"  # type: ignore[attr-defined]
    app.act(app.get_staff("zhang").as_actor(), member.id, "cancel", {})  # type: ignore[attr-defined]
    with pytest.raises(PrerequisiteMissing):
        card(app, "H-9", "stored_value_card")


def test_a_correction_moves_the_claim(app: CaseTrail) -> None:
    first = card(app, "H-5")
    app.act(app.get_staff("sup").as_actor(), first.id, "correct_field",  # type: ignore[attr-defined]
            {"field": "customer.household_id", "value": "H-6", "reason": "录入错误"})
    assert card(app, "H-5").status == "active"  # type: ignore[attr-defined]  # H-5 is free again
    with pytest.raises(DuplicateCase):
        card(app, "H-6")


def test_racing_openers_leave_one_holder(app: CaseTrail) -> None:
    results: list[str] = []
    barrier = threading.Barrier(8)

    def open_one() -> None:
        barrier.wait()
        try:
            card(app, "H-race")
            results.append("opened")
        except DuplicateCase:
            results.append("duplicate")

    threads = [threading.Thread(target=open_one) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["duplicate"] * 7 + ["opened"]


def test_problem_documents_through_the_api(database_url: str, tmp_path: Path) -> None:
    with serving(database_url, tmp_path, env={"CASETRAIL_CASE_TYPES": str(folder(tmp_path))}) as server:
        def post(kind: str, household: str) -> httpx.Response:
            return server["agent"].post("/v1/cases", json={"type": kind, "title": "办卡",
                                                          "customer": {"household_id": household}})

        first = post("membership_card", "H-1")
        assert first.status_code == 201, first.text
        again = post("membership_card", "H-1")
        assert again.status_code == 422 and again.json()["type"].endswith("/duplicate"), again.text
        assert again.json()["other_case"]["number"] == first.json()["number"]
        missing = post("stored_value_card", "H-2")
        assert missing.status_code == 422 and missing.json()["type"].endswith("/prerequisite-missing")


def test_imports_hold_the_same_keys(app: CaseTrail) -> None:
    app.register_staff("imp", "导入", "it", ["importer"])
    importer = app.get_staff("imp").as_actor()

    def body(household: str) -> dict[str, object]:
        return {"case": {"type": "membership_card", "title": "旧卡", "customer": {"household_id": household},
                         "occurred_at": "2026-11-20T10:00:00+08:00"}, "actions": []}

    imported = app.import_case(importer, body("H-7")).case
    with pytest.raises(DuplicateCase) as refused:
        card(app, "H-7")  # the imported card holds its household's key
    assert refused.value.extra["other_case"]["number"] == imported.number
    with pytest.raises(DuplicateCase):
        app.import_case(importer, body("H-7"))
    with pytest.raises(PrerequisiteMissing):
        app.import_case(importer, {**body("H-8"), "case": {**body("H-8")["case"],  # type: ignore[dict-item]
                                                           "type": "stored_value_card"}})

"""Case-type files: the five built-in types load, and malformed files name file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from domain.model.casetype import BUILTIN_DIR
from domain.model.errors import CaseTypeError
from domain.model.registry import CaseTypeRegistry, load_case_type

MINIMAL = '''
name = "parking"
number_prefix = "PK"
initial_state = "open"
states = ["open", "done"]
closed_states = ["done"]
[actions.finish]
from = ["open"]
to = "done"
roles = ["agent"]
'''


def test_builtin_types_load_with_their_numbers() -> None:
    reg = CaseTypeRegistry.load()
    contract = {"cash_advance", "membership_card", "referral_registration", "quality_complaint",
                "renovation_permit", "shipment_tracking"}  # the procedure library's contract types
    assert {"complaint", "inquiry", "order_approval", "repair_order", "return_visit"} | contract <= set(reg.names())
    complaint = reg.get("complaint")
    assert str(complaint.clocks["first_response"].duration) == "24h"
    assert complaint.clocks["resolution"].duration_by["map"] == {"general": "1wd", "major": "3wd", "crisis": "3wd"}
    assert str(complaint.clocks["resolution"].max_total) == "7wd"
    assert str(complaint.clocks["return_visit"].duration) == "3d"
    assert str(reg.get("repair_order").clocks["appointment_contact"].duration) == "2h"
    assert str(reg.get("return_visit").clocks["return_visit"].duration) == "3d"
    assert str(reg.get("order_approval").clocks["delivery"].duration) == "4d"
    assert "correct_field" in reg.get("inquiry").actions  # merged from _common.toml
    # 001 B§10: complaints handled 100%, return-visit rate at least 50%
    assert complaint.report_targets == {"handling_rate_pct": 100.0, "return_visit_rate_pct": 50.0}
    described = complaint.describe()
    assert described["report_targets"] == complaint.report_targets
    assert described["actions"]["assign"]["roles"] == ["supervisor"]


def test_a_new_procedure_is_a_new_file(tmp_path: Path) -> None:
    (tmp_path / "parking.toml").write_text(MINIMAL)
    reg = CaseTypeRegistry.load(tmp_path)
    assert reg.get("parking").actions["finish"].to == "done"


@pytest.mark.parametrize("mutation,needle", [
    (lambda s: s.replace('initial_state = "open"', 'initial_state = "nowhere"'), "key 'initial_state'"),
    (lambda s: s.replace('to = "done"', 'to = "gone"'), "key 'actions.finish'.to"),
    (lambda s: s.replace('from = ["open"]', 'from = ["limbo"]'), "key 'actions.finish'.from"),
    (lambda s: s + '\ncolour = "red"\n', "unknown keys ['colour']"),
    (lambda s: s.replace('roles = ["agent"]', 'roles = ["agent"]\nwings = 2'), "key 'actions.finish': unknown keys"),
    (lambda s: s + '\n[clocks.x]\nduration = "3 weeks"\nstart = ["@open"]\n', "key 'clocks.x'.duration"),
    (lambda s: s + '\n[clocks.x]\nduration = "3d"\nstart = ["teleport"]\n', "key 'clocks.x'.start"),
    (lambda s: s + '\n[actions.finish.fields.n]\ntype = "complex"\n', "type 'complex'"),
    (lambda s: s + '\n[[approvals.rules]]\nwhen = { amount = { over = 5 } }\nchain = []\n', "unknown operators"),
    (lambda s: s.replace('number_prefix = "PK"', ''), "key 'number_prefix' is required"),
    (lambda s: s + "\n[[[", "not valid TOML"),
    (lambda s: s.replace("[actions.finish]", "[report_targets]\nhandling_rate_pct = 101\n[actions.finish]"),
     "key 'report_targets'.handling_rate_pct must be a percentage"),
    (lambda s: s.replace("[actions.finish]", "[report_targets]\nhappiness_pct = 90\n[actions.finish]"),
     "unknown targets ['happiness_pct']"),
])
def test_malformed_file_names_file_and_key(tmp_path: Path, mutation, needle: str) -> None:
    path = tmp_path / "parking.toml"
    path.write_text(mutation(MINIMAL))
    with pytest.raises(CaseTypeError) as e:
        load_case_type(path)
    assert "parking.toml" in str(e.value) and needle in str(e.value)


def test_follow_up_to_unknown_type_is_refused(tmp_path: Path) -> None:
    (tmp_path / "parking.toml").write_text(MINIMAL + '\n[[follow_ups]]\nafter = "finish"\nopen = "ghost"\n')
    with pytest.raises(CaseTypeError, match="unknown case type 'ghost'"):
        CaseTypeRegistry.load(tmp_path)


def test_every_builtin_file_is_loaded_on_its_own() -> None:
    for path in BUILTIN_DIR.glob("[!_]*.toml"):
        assert load_case_type(path).name == path.stem

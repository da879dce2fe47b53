"""Field types of the case-type language: date, pattern (with the ID-card check), list, attachment."""

from __future__ import annotations

from typing import Any

import pytest

from domain.model.errors import CaseTypeError, InvalidFields
from domain.model.fields import FieldSpec, gb11643_valid, validate_fields

SPECS = {
    "repay_by": FieldSpec.from_mapping("repay_by", {"type": "date", "required": True}, "t.toml"),
    "id_number": FieldSpec.from_mapping("id_number", {"type": "pattern", "pattern": r"\d{17}[\dXx]"}, "t.toml"),
    "lines": FieldSpec.from_mapping("lines", {"type": "list", "max_items": 3, "items": {
        "product": {"type": "string", "required": True}, "amount": {"type": "decimal", "required": True}}},
        "t.toml"),
    "receipt": FieldSpec.from_mapping("receipt", {"type": "attachment"}, "t.toml"),
}
GOOD = {"repay_by": "2026-12-31", "id_number": "11010519491231002X",
        "lines": [{"product": "冰箱", "amount": "1999.5"}],
        "receipt": {"name": "发票.pdf", "media_type": "application/pdf", "size": 10240, "sha256": "ab" * 32}}


def test_valid_values_are_normalised() -> None:
    out = validate_fields(SPECS, GOOD, what="open")
    assert out["repay_by"] == "2026-12-31" and out["lines"] == [{"product": "冰箱", "amount": "1999.50"}]
    assert out["receipt"]["sha256"] == "ab" * 32 and out["id_number"] == "11010519491231002X"


@pytest.mark.parametrize("field, value, problem", [
    ("repay_by", "2026-02-30", "not a calendar date"),
    ("repay_by", "31/12/2026", "must be a date"),
    ("id_number", "110105194912310021", "GB 11643"),  # the right shape, a wrong check digit
    ("id_number", "1101051949", "does not match"),
    ("lines", [{"product": "冰箱"}], "item 0: amount is required"),
    ("lines", [{"product": "a", "amount": "1"}] * 4, "more than 3 items"),
    ("lines", {"product": "a"}, "must be a list"),
    ("receipt", {"name": "a.pdf", "media_type": "pdf", "size": 1, "sha256": "ab" * 32}, "media_type"),
    ("receipt", {"name": "a.pdf", "media_type": "application/pdf", "size": -1, "sha256": "ab" * 32}, "size"),
    ("receipt", {"name": "a.pdf", "media_type": "application/pdf", "size": 1, "sha256": "xyz"}, "sha256"),
    ("receipt", {"name": "a.pdf", "bytes": "..."}, "exactly"),
])
def test_bad_values_name_the_field_and_the_problem(field: str, value: Any, problem: str) -> None:
    with pytest.raises(InvalidFields) as e:
        validate_fields(SPECS, {**GOOD, field: value}, what="open")
    errors = e.value.extra["errors"]
    assert [err["field"] for err in errors] == [field] and problem in errors[0]["problem"], errors


@pytest.mark.parametrize("spec, problem", [
    ({"type": "pattern"}, "needs 'pattern'"),
    ({"type": "pattern", "pattern": "("}, "not a regular expression"),
    ({"type": "list"}, "needs 'items'"),
    ({"type": "list", "items": {"x": {"type": "colour"}}}, "type 'colour'"),
    ({"type": "string", "check": "luhn"}, "'check' must be one of"),
    ({"type": "list", "items": {"x": {"type": "int"}}, "max_items": 0}, "max_items"),
])
def test_bad_field_specs_are_refused(spec: dict[str, Any], problem: str) -> None:
    with pytest.raises(CaseTypeError, match=problem):
        FieldSpec.from_mapping("f", spec, "t.toml")


def test_gb11643_check_digit() -> None:
    assert gb11643_valid("11010519491231002X") and gb11643_valid("11010519491231002x")
    assert not gb11643_valid("110105194912310022") and not gb11643_valid("1101051949123100")

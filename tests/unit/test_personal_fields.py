"""Personal fields (issue 21): ``personal = true`` in a field table, shown by describe()."""

import pytest

from domain.model.errors import CaseTypeError
from domain.model.fields import FieldSpec
from domain.model.registry import CaseTypeRegistry


def test_personal_flag_is_read_and_described() -> None:
    spec = FieldSpec.from_mapping("phone", {"type": "string", "personal": True}, "t")
    assert spec.personal and spec.describe()["personal"] is True
    assert "personal" not in FieldSpec.from_mapping("tier", {"type": "string"}, "t").describe()


def test_personal_flag_must_be_a_boolean() -> None:
    with pytest.raises(CaseTypeError, match="personal"):
        FieldSpec.from_mapping("phone", {"type": "string", "personal": "yes"}, "t")


def test_built_in_customers_are_marked_personal() -> None:
    registry = CaseTypeRegistry.from_env({})
    for name in ("complaint", "inquiry", "repair_order", "return_visit", "order_approval"):
        ct = registry.get(name)
        assert ct.customer["name"].personal and ct.customer["phone"].personal, name
        assert not ct.customer["id"].personal
    assert registry.get("repair_order").customer["address"].personal
    card = registry.get("membership_card").customer
    assert card["household_address"].personal and card["id_number"].personal

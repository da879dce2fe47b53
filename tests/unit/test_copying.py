"""Fast copies of aggregates: equal, independent, deep for any value."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from decimal import Decimal
from uuid import uuid4

from domain.model.copying import PlainCopy, plain_copy
from tests.support import World


class Odd:
    def __init__(self) -> None:
        self.items = [1, 2]


def test_plain_copy_is_deep_and_equal() -> None:
    value = {"a": [1, {"b": "x"}], "t": (1, [2]), "u": uuid4(), "d": Decimal("1.5"),
             "at": datetime.now(UTC), "odd": Odd(), "s": {1, 2}}
    copied = plain_copy(value)
    assert {k: v for k, v in copied.items() if k != "odd"} == {k: v for k, v in value.items() if k != "odd"}
    copied["a"][1]["b"] = "y"
    copied["t"][1].append(3)
    copied["odd"].items.append(3)
    copied["s"].add(3)
    assert value["a"][1]["b"] == "x" and value["t"][1] == [2] and value["odd"].items == [1, 2]
    assert value["s"] == {1, 2}


def test_aggregates_deepcopy_with_plain_copy() -> None:
    world = World()
    case = world.open("complaint")
    assert isinstance(case, PlainCopy)
    twin = copy.deepcopy(case)
    assert type(twin) is type(case) and twin.__dict__ == case.__dict__ and twin.id == case.id
    twin.clocks["resolution"]["state"] = "stopped"
    twin.customer["name"] = "someone else"
    assert case.clocks["resolution"]["state"] == "running" and case.customer["name"] != "someone else"
    staff = world.app.get_staff("agent")
    assert copy.deepcopy(staff).__dict__ == staff.__dict__

"""Case numbers by the case type's ``number_format``: tokens, series periods, refused formats."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.model.case import Case
from domain.model.errors import CaseTypeError
from domain.model.numbering import DEFAULT_FORMAT, NumberFormatError, check_format, render_number, series_key
from domain.model.registry import CaseTypeRegistry
from tests.support import World
from tests.unit.test_role_catalog import CASH_ADVANCE, folder

ZONE = "Asia/Shanghai"
AT = datetime(2026, 11, 30, 17, 0, tzinfo=UTC)  # 2026-12-01 01:00 in Shanghai


@pytest.mark.parametrize("fmt, key, number", [
    (DEFAULT_FORMAT, "TS-202612", "TS-202612-0007"),  # the first edition's numbers, unchanged
    ("{prefix}-{YY}{MM}-{seq:3}", "TS-2612", "TS-2612-007"),  # 003 §4: YYMM + serial
    ("A{YY}{MM}{DD}{seq:3}", "A261201", "A261201007"),  # 002 A15: A + YYMMDD + serial
    ("{prefix}{YYYY}-{seq:5}", "TS2026", "TS2026-00007"),  # a yearly series
    ("{prefix}-{seq}", "TS", "TS-7"),  # one series for ever
])
def test_formats_give_numbers_and_series_in_local_time(fmt: str, key: str, number: str) -> None:
    assert series_key("TS", AT, ZONE, fmt) == key
    assert render_number(fmt, "TS", AT, ZONE, 7) == number


def test_a_series_restarts_with_the_finest_date_token() -> None:
    daily = "A{YY}{MM}{DD}{seq:3}"
    assert series_key("X", AT, ZONE, daily) != series_key("X", AT + timedelta(days=1), ZONE, daily)
    monthly = "{prefix}-{YY}{MM}-{seq:3}"
    assert series_key("X", AT, ZONE, monthly) == series_key("X", AT + timedelta(days=1), ZONE, monthly)


@pytest.mark.parametrize("fmt, problem", [
    ("{prefix}-{YYYY}", "exactly one {seq}"),
    ("{prefix}-{seq}-{seq:2}", "exactly one {seq}"),
    ("{prefix}-{week}-{seq}", "unknown tokens"),
    ("{prefix} {seq}", "only letters, digits"),
    ("", "at most 64"),
])
def test_bad_formats_are_refused(fmt: str, problem: str) -> None:
    with pytest.raises(NumberFormatError, match=problem):
        check_format(fmt)


def test_a_case_type_file_with_a_bad_format_names_file_and_key(tmp_path) -> None:  # type: ignore[no-untyped-def]
    text = CASH_ADVANCE.replace('number_format = "{prefix}-{YY}{MM}-{seq:3}"', 'number_format = "{prefix}"')
    with pytest.raises(CaseTypeError, match=r"cash_advance.toml: key 'number_format': needs exactly one"):
        CaseTypeRegistry.load(folder(tmp_path, text))


def test_cases_of_a_type_are_numbered_by_its_format(tmp_path) -> None:  # type: ignore[no-untyped-def]
    world = World(registry=CaseTypeRegistry.load(folder(tmp_path)))
    first = world.app.open_case(world.actor("agent"), "cash_advance", "借支", {}, {"amount": "100.00"})
    second = world.app.open_case(world.actor("agent"), "cash_advance", "借支", {}, {"amount": "200.00"})
    assert (first.number, second.number) == ("JZ-2611-001", "JZ-2611-002")
    assert first.id == Case.create_id("JZ-2611-001")
    assert world.open("complaint").number.startswith("TS-202611-")  # built-in types keep theirs

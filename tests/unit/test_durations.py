"""Unit tests for domain.model.durations: the duration notation and due times."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.model.calendar import BusinessCalendar
from domain.model.durations import Duration, parse_duration

SH = ZoneInfo("Asia/Shanghai")
CAL = BusinessCalendar()
FRI = date(2024, 3, 1)


def at(d: date, hh: int, mm: int = 0) -> datetime:
    return datetime.combine(d, time(hh, mm), tzinfo=SH)


@pytest.mark.parametrize(
    ("text", "amount", "unit", "working"),
    [
        ("5m", "5", "m", False),
        ("2h", "2", "h", False),
        ("24h", "24", "h", False),
        ("3d", "3", "d", False),
        ("1wd", "1", "wd", True),
        ("2.5wh", "2.5", "wh", True),
        ("0.25d", "0.25", "d", False),
        ("7wd", "7", "wd", True),
    ],
)
def test_parse_valid(text: str, amount: str, unit: str, working: bool) -> None:
    duration = parse_duration(text)
    assert duration == Duration(Decimal(amount), unit)
    assert isinstance(duration.amount, Decimal)
    assert duration.is_working is working
    assert str(duration) == text


@pytest.mark.parametrize(
    "text",
    ["", "5", "m", "5 m", " 5m", "5m\n", "5M", "-1h", "+1h", "1.h", ".5h", "1w", "1wdd",
     "1e3h", "1,5h", "５m", "1 wd", "5min", "2hours", "nan h", "inf d", "1h30m"],
)
def test_parse_rejects(text: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_duration(text)
    message = str(info.value)
    assert repr(text) in message
    for unit in ("m (minutes)", "h (hours)", "d (days", "wh (working hours)", "wd (working days)"):
        assert unit in message


def test_parse_rejects_non_strings() -> None:
    with pytest.raises(ValueError, match="allowed units"):
        parse_duration(5)  # type: ignore[arg-type]


def test_canonical_text() -> None:
    assert str(Duration(Decimal("2.50"), "h")) == "2.5h"
    assert str(Duration(Decimal("1E+2"), "m")) == "100m"
    assert str(Duration(Decimal("0.0"), "wd")) == "0wd"
    assert str(parse_duration("007wd")) == "7wd"
    assert str(Duration(3, "d")) == "3d"  # type: ignore[arg-type]


def test_constructor_validates() -> None:
    with pytest.raises(ValueError, match="allowed units"):
        Duration(Decimal(1), "w")
    with pytest.raises(ValueError, match="non-negative"):
        Duration(Decimal(-1), "h")
    with pytest.raises(ValueError, match="non-negative"):
        Duration(Decimal("NaN"), "h")
    with pytest.raises(TypeError):
        Duration(1.5, "h")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="too long"):
        parse_duration("99999999999d")


def test_to_timedelta() -> None:
    assert parse_duration("5m").to_timedelta() == timedelta(minutes=5)
    assert parse_duration("24h").to_timedelta() == timedelta(days=1)
    assert parse_duration("1.5d").to_timedelta() == timedelta(hours=36)
    with pytest.raises(ValueError, match="working"):
        parse_duration("1wd").to_timedelta()
    assert parse_duration("1wd").to_working_time(CAL) == timedelta(hours=9)
    assert parse_duration("2.5wh").to_working_time(CAL) == timedelta(hours=2, minutes=30)
    with pytest.raises(ValueError, match="wall-clock"):
        parse_duration("1d").to_working_time(CAL)


def test_due_wall_clock_ignores_the_calendar() -> None:
    assert parse_duration("24h").due(at(FRI, 17), CAL) == at(date(2024, 3, 2), 17)
    assert parse_duration("3d").due(at(FRI, 17), CAL) == at(date(2024, 3, 4), 17)
    assert parse_duration("5m").due(at(FRI, 17), CAL) == at(FRI, 17, 5)
    due = parse_duration("2h").due(datetime(2024, 3, 1, 9, tzinfo=UTC), CAL)
    assert due == at(FRI, 19) and due.tzinfo == SH


def test_due_working_units_use_the_calendar() -> None:
    assert parse_duration("1wd").due(at(FRI, 17), CAL) == at(date(2024, 3, 4), 17)
    assert parse_duration("1wd").due(at(date(2024, 3, 2), 10), CAL) == at(date(2024, 3, 4), 18)
    assert parse_duration("2.5wh").due(at(FRI, 17), CAL) == at(date(2024, 3, 4), 10, 30)
    holiday = BusinessCalendar(holidays=frozenset({date(2024, 3, 4)}))
    assert parse_duration("1wd").due(at(FRI, 17), holiday) == at(date(2024, 3, 5), 17)
    short = BusinessCalendar(hours=(time(9), time(12)))
    assert parse_duration("1wd").due(at(FRI, 11), short) == at(date(2024, 3, 4), 11)


def test_due_needs_aware_start() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        parse_duration("2h").due(datetime(2024, 3, 1, 9), CAL)
    with pytest.raises(ValueError, match="timezone-aware"):
        parse_duration("1wd").due(datetime(2024, 3, 1, 9), CAL)


def test_plus() -> None:
    p = parse_duration
    assert p("1wd").plus(p("2wd")) == p("3wd")
    assert p("1.5wh").plus(p("2wh")) == p("3.5wh")
    assert p("1h").plus(p("30m")) == p("90m")
    assert str(p("1d").plus(p("2h"))) == "26h"
    assert p("2d").plus(p("1d")) == p("3d")
    assert p("1wd").plus(p("2wh"), CAL) == p("11wh")
    assert p("2wh").plus(p("0.5wd"), CAL) == p("6.5wh")
    with pytest.raises(ValueError, match="calendar"):
        p("1wd").plus(p("2wh"))
    with pytest.raises(ValueError, match="wall-clock and working"):
        p("1wd").plus(p("1d"))
    with pytest.raises(ValueError, match="wall-clock and working"):
        p("1h").plus(p("1wh"))


# ------------------------------------------------------------ properties

amounts = st.decimals(min_value=0, max_value=400, places=2, allow_nan=False, allow_infinity=False)
wall = st.builds(Duration, amounts, st.sampled_from(["m", "h", "d"]))
working = st.builds(Duration, amounts, st.sampled_from(["wh", "wd"]))
starts = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2035, 12, 31), timezones=st.just(SH)
)


@given(st.one_of(wall, working))
def test_text_round_trip(duration: Duration) -> None:
    assert parse_duration(str(duration)) == duration


@settings(deadline=None)
@given(start=starts, a=working, b=working)
def test_working_plus_matches_consecutive_due(start: datetime, a: Duration, b: Duration) -> None:
    total = a.plus(b, CAL)
    assert total.is_working
    assert total.due(start, CAL) == b.due(a.due(start, CAL), CAL)
    assert CAL.working_time_between(start, total.due(start, CAL)) == total.to_working_time(CAL)


@settings(deadline=None)
@given(start=starts, a=wall, b=wall)
def test_wall_plus_matches_consecutive_due(start: datetime, a: Duration, b: Duration) -> None:
    total = a.plus(b)
    assert not total.is_working
    assert total.to_timedelta() == a.to_timedelta() + b.to_timedelta()
    assert total.due(start, CAL) == b.due(a.due(start, CAL), CAL)

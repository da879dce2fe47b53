"""Unit tests for domain.model.calendar: working days, working-time arithmetic, the loader."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.model.calendar import BusinessCalendar, CalendarError, load_calendar

SH = ZoneInfo("Asia/Shanghai")
DEFAULT = BusinessCalendar()
# 2024-03-01 is a Friday.
FRI, SAT, SUN, MON, TUE, WED, THU = (date(2024, 3, d) for d in (1, 2, 3, 4, 5, 6, 7))


def at(d: date, hh: int, mm: int = 0, tz: ZoneInfo = SH) -> datetime:
    return datetime.combine(d, time(hh, mm), tzinfo=tz)


# ------------------------------------------------------------------ examples


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        (at(FRI, 17), at(MON, 17)),
        (at(SAT, 10), at(MON, 18)),
        (at(WED, 8), at(WED, 18)),
        (at(WED, 20), at(THU, 18)),
        (at(WED, 9), at(WED, 18)),
        (at(WED, 18), at(THU, 18)),
        (at(SUN, 23, 59), at(MON, 18)),
    ],
)
def test_one_working_day_default_calendar(start: datetime, expected: datetime) -> None:
    result = DEFAULT.add_working_days(start, 1)
    assert result == expected
    assert result.tzinfo == SH
    assert result.utcoffset() == timedelta(hours=8)


def test_defaults() -> None:
    assert DEFAULT.timezone == "Asia/Shanghai"
    assert DEFAULT.workweek == frozenset({1, 2, 3, 4, 5})
    assert DEFAULT.hours == (time(9), time(18))
    assert DEFAULT.day_length == timedelta(hours=9)
    assert [DEFAULT.is_working_day(d) for d in (FRI, SAT, SUN, MON)] == [True, False, False, True]


def test_holiday_on_monday_pushes_to_tuesday() -> None:
    cal = BusinessCalendar(holidays=frozenset({MON}))
    assert not cal.is_working_day(MON)
    assert cal.add_working_days(at(FRI, 17), 1) == at(TUE, 17)


def test_make_up_saturday_is_a_working_day() -> None:
    cal = BusinessCalendar(workdays=frozenset({SAT}))
    assert cal.is_working_day(SAT)
    assert not cal.is_working_day(SUN)
    assert cal.add_working_days(at(FRI, 17), 1) == at(SAT, 17)


def test_holiday_wins_over_make_up_day() -> None:
    cal = BusinessCalendar(holidays=frozenset({SAT}), workdays=frozenset({SAT}))
    assert not cal.is_working_day(SAT)


def test_time_running_out_at_end_of_day_gives_that_end() -> None:
    assert DEFAULT.add_working_time(at(WED, 10), timedelta(hours=8)) == at(WED, 18)
    assert DEFAULT.add_working_time(at(FRI, 9), timedelta(hours=18)) == at(MON, 18)
    assert DEFAULT.add_working_days(at(MON, 9), 5) == at(date(2024, 3, 8), 18)


def test_fractional_and_decimal_working_days() -> None:
    assert DEFAULT.add_working_days(at(WED, 9), Decimal("0.5")) == at(WED, 13, 30)
    assert DEFAULT.add_working_days(at(WED, 9), Decimal("1.5")) == at(THU, 13, 30)
    assert DEFAULT.working_days(Decimal("2.5")) == timedelta(hours=22, minutes=30)


def test_zero_delta_returns_start_in_calendar_zone() -> None:
    start = datetime(2024, 3, 2, 2, 0, tzinfo=UTC)  # Saturday 10:00 in Shanghai
    result = DEFAULT.add_working_time(start, timedelta(0))
    assert result == start and result.tzinfo == SH


def test_start_in_other_zone_is_converted() -> None:
    start = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)  # Friday 17:00 in Shanghai
    result = DEFAULT.add_working_days(start, 1)
    assert result == at(MON, 17)
    assert result.tzinfo == SH


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        DEFAULT.add_working_time(datetime(2024, 3, 1, 17), timedelta(hours=1))
    with pytest.raises(ValueError, match="negative"):
        DEFAULT.add_working_time(at(FRI, 17), timedelta(hours=-1))
    with pytest.raises(ValueError):
        DEFAULT.add_working_days(at(FRI, 17), -1)
    with pytest.raises(TypeError):
        DEFAULT.add_working_days(at(FRI, 17), 1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="timezone-aware"):
        DEFAULT.working_time_between(datetime(2024, 3, 1), at(FRI, 17))


# --------------------------------------------------- custom hours and weeks


def test_custom_hours_and_six_day_week() -> None:
    cal = BusinessCalendar(workweek=frozenset({1, 2, 3, 4, 5, 6}), hours=(time(8, 30), time(12)))
    assert cal.day_length == timedelta(hours=3, minutes=30)
    assert cal.add_working_days(at(FRI, 11), 1) == at(SAT, 11)
    assert cal.add_working_days(at(SAT, 11), 1) == at(MON, 11)
    assert cal.add_working_time(at(FRI, 13), timedelta(hours=1)) == at(SAT, 9, 30)


def test_other_time_zone_counts_on_local_wall_clock() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    cal = BusinessCalendar(timezone="Europe/Berlin", hours=(time(9), time(17)))
    # DST starts on Sunday 2024-03-31; working hours are local wall-clock hours.
    start = datetime(2024, 3, 29, 16, tzinfo=berlin)
    result = cal.add_working_days(start, 1)
    assert result == datetime(2024, 4, 1, 16, tzinfo=berlin)
    assert result.utcoffset() == timedelta(hours=2)
    assert cal.working_time_between(start, result) == timedelta(hours=8)


def test_only_make_up_days_in_an_empty_week() -> None:
    cal = BusinessCalendar(workweek=frozenset(), workdays=frozenset({SUN}))
    assert cal.add_working_days(at(FRI, 12), 1) == at(SUN, 18)


def test_calendar_without_working_days_raises() -> None:
    with pytest.raises(CalendarError, match="no working day"):
        BusinessCalendar(workweek=frozenset()).add_working_days(at(FRI, 17), 1)
    all_off = frozenset(date(2024, 3, 4) + timedelta(days=i) for i in range(4 * 366))
    with pytest.raises(CalendarError, match="no working day"):
        BusinessCalendar(holidays=all_off).add_working_days(at(FRI, 17), 1)


def test_long_spans_are_exact_and_fast() -> None:
    start = at(FRI, 17)
    result = DEFAULT.add_working_days(start, 2000)
    assert DEFAULT.working_time_between(start, result) == 2000 * DEFAULT.day_length
    assert result == at(date(2031, 10, 31), 17)  # 400 weeks later, Friday again
    assert _reference_add(DEFAULT, start, 2000 * DEFAULT.day_length) == result


# -------------------------------------------------------- working_time_between


def test_working_time_between_examples() -> None:
    assert DEFAULT.working_time_between(at(FRI, 17), at(MON, 17)) == timedelta(hours=9)
    assert DEFAULT.working_time_between(at(SAT, 10), at(SUN, 10)) == timedelta(0)
    assert DEFAULT.working_time_between(at(MON, 17), at(FRI, 17)) == timedelta(0)
    assert DEFAULT.working_time_between(at(WED, 8), at(WED, 20)) == timedelta(hours=9)
    assert DEFAULT.working_time_between(at(WED, 10), at(WED, 10)) == timedelta(0)
    cal = BusinessCalendar(holidays=frozenset({MON}), workdays=frozenset({SAT}))
    assert cal.working_time_between(at(FRI, 9), at(TUE, 18)) == timedelta(hours=27)


def test_working_time_in_a_whole_year() -> None:
    start, end = at(date(2024, 1, 1), 0), at(date(2025, 1, 1), 0)
    assert DEFAULT.working_time_between(start, end) == 262 * timedelta(hours=9)
    holidays = frozenset({date(2024, 10, 1), date(2024, 10, 2), date(2024, 10, 3)})
    cal = BusinessCalendar(holidays=holidays, workdays=frozenset({date(2024, 10, 12)}))
    assert cal.working_time_between(start, end) == 260 * timedelta(hours=9)


# ------------------------------------------------------------------ loader

GOOD_TOML = """
timezone = "Asia/Shanghai"
workweek = [1, 2, 3, 4, 5]
hours = ["08:30", "17:30"]
holidays = ["2024-10-01", 2024-10-02, "2024-10-03"]
workdays = [2024-10-12]
"""


def write(tmp_path: Path, text: str, name: str = "calendar.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_load_good_file(tmp_path: Path) -> None:
    cal = BusinessCalendar.from_toml(write(tmp_path, GOOD_TOML))
    assert cal.hours == (time(8, 30), time(17, 30))
    assert cal.day_length == timedelta(hours=9)
    assert cal.holidays == {date(2024, 10, 1), date(2024, 10, 2), date(2024, 10, 3)}
    assert cal.workdays == {date(2024, 10, 12)}
    assert cal.is_working_day(date(2024, 10, 12)) and not cal.is_working_day(date(2024, 10, 2))


def test_partial_file_takes_defaults(tmp_path: Path) -> None:
    cal = BusinessCalendar.from_toml(write(tmp_path, 'holidays = ["2024-03-04"]\n'))
    assert cal == BusinessCalendar(holidays=frozenset({MON}))
    assert BusinessCalendar.from_toml(write(tmp_path, "")) == DEFAULT


@pytest.mark.parametrize(
    ("text", "key", "detail"),
    [
        ('hours = ["09:00", "08:00"]', "hours", "end 08:00 is not after start 09:00"),
        ('hours = ["09:00"]', "hours", "expected [start, end]"),
        ('hours = "09:00-18:00"', "hours", "expected [start, end]"),
        ('hours = ["25:00", "26:00"]', "hours", "not a valid time"),
        ('hours = ["nine", "18:00"]', "hours", "not a time of day"),
        ("workweek = [1, 8]", "workweek", "8 is not an ISO weekday"),
        ('workweek = ["Mon"]', "workweek", "not an ISO weekday"),
        ("workweek = [1, 1]", "workweek", "listed twice"),
        ("workweek = 5", "workweek", "expected a list"),
        ('timezone = "Mars/Olympus"', "timezone", "unknown time zone"),
        ("timezone = 8", "timezone", "expected a time zone name"),
        ('holidays = ["2024-02-30"]', "holidays", "not a valid date"),
        ('holidays = ["1/10/2024"]', "holidays", "not a date"),
        ("holidays = [20241001]", "holidays", "not a date"),
        ('holidays = "2024-10-01"', "holidays", "expected a list"),
        ("workdays = [2024-10-12T09:00:00]", "workdays", "not a date"),
        ("weekend = [6, 7]", "weekend", "unknown key"),
    ],
)
def test_malformed_file_names_file_and_key(
    tmp_path: Path, text: str, key: str, detail: str
) -> None:
    path = write(tmp_path, text + "\n")
    with pytest.raises(CalendarError) as info:
        BusinessCalendar.from_toml(path)
    message = str(info.value)
    assert message.startswith(f"{path}: key '{key}': ")
    assert detail in message


def test_example_message_shape() -> None:
    with pytest.raises(CalendarError) as info:
        BusinessCalendar.from_mapping({"hours": ["09:00", "08:00"]}, "calendar.toml")
    assert str(info.value) == "calendar.toml: key 'hours': end 08:00 is not after start 09:00"


def test_invalid_toml_and_missing_file(tmp_path: Path) -> None:
    bad = write(tmp_path, "hours = [\n")
    with pytest.raises(CalendarError, match="invalid TOML") as info:
        BusinessCalendar.from_toml(bad)
    assert str(bad) in str(info.value)
    missing = tmp_path / "nope.toml"
    with pytest.raises(CalendarError, match="cannot read") as info:
        BusinessCalendar.from_toml(missing)
    assert str(missing) in str(info.value)
    binary = tmp_path / "bin.toml"
    binary.write_bytes(b"\xff\xfe")
    with pytest.raises(CalendarError, match="UTF-8"):
        BusinessCalendar.from_toml(binary)


def test_calendar_error_is_value_error() -> None:
    assert issubclass(CalendarError, ValueError)
    with pytest.raises(CalendarError, match="timezone"):
        BusinessCalendar(timezone="Nowhere/Town")
    with pytest.raises(CalendarError, match="hours"):
        BusinessCalendar(hours=(time(18), time(9)))


def test_load_calendar_from_environment(tmp_path: Path) -> None:
    assert load_calendar({}) == DEFAULT
    assert load_calendar({"CASETRAIL_CALENDAR": ""}) == DEFAULT
    path = write(tmp_path, GOOD_TOML)
    assert load_calendar({"CASETRAIL_CALENDAR": str(path)}).hours == (time(8, 30), time(17, 30))
    with pytest.raises(CalendarError, match="cannot read"):
        load_calendar({"CASETRAIL_CALENDAR": str(tmp_path / "missing.toml")})


# ------------------------------------------------------------ properties


def _reference_add(cal: BusinessCalendar, start: datetime, delta: timedelta) -> datetime:
    """Obvious day-by-day implementation to check the optimised one against."""
    local = start.astimezone(cal.zone).replace(tzinfo=None)
    day = local.date()
    while True:
        if cal.is_working_day(day):
            ws, we = (datetime.combine(day, t) for t in cal.hours)
            cur = max(local, ws)
            if cur < we:
                if delta <= we - cur:
                    return (cur + delta).replace(tzinfo=cal.zone)
                delta -= we - cur
        day += timedelta(days=1)
        local = datetime.combine(day, time.min)


ZONES = [SH, ZoneInfo("UTC"), ZoneInfo("America/New_York"), ZoneInfo("Asia/Kolkata")]
starts = st.datetimes(
    min_value=datetime(2000, 1, 1),
    max_value=datetime(2035, 12, 31),
    timezones=st.sampled_from(ZONES),
    allow_imaginary=False,
)
work = st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=120))
# Random calendars may have one short working day a week: keep their spans modest.
short_work = st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=10))
day_set = st.frozensets(
    st.dates(min_value=date(2023, 12, 1), max_value=date(2026, 6, 30)), max_size=60
)


@st.composite
def calendars(draw: st.DrawFn) -> BusinessCalendar:
    begin = draw(st.integers(0, 22 * 60 + 59))
    end = draw(st.integers(begin + 60, 24 * 60 - 1))
    return BusinessCalendar(
        workweek=draw(st.frozensets(st.integers(1, 7), min_size=1)),
        hours=(time(begin // 60, begin % 60), time(end // 60, end % 60)),
        holidays=draw(day_set),
        workdays=draw(day_set),
    )


@settings(deadline=None)
@given(start=starts, d1=work, d2=work)
def test_adding_is_associative_default(start: datetime, d1: timedelta, d2: timedelta) -> None:
    add = DEFAULT.add_working_time
    assert add(add(start, d1), d2) == add(start, d1 + d2)


@settings(deadline=None)
@given(start=starts, d=work)
def test_between_inverts_add_default(start: datetime, d: timedelta) -> None:
    assert DEFAULT.working_time_between(start, DEFAULT.add_working_time(start, d)) == d


@settings(max_examples=200, deadline=None)
@given(
    cal=calendars(),
    start=st.datetimes(
        min_value=datetime(2024, 1, 1), max_value=datetime(2025, 12, 31), timezones=st.just(SH)
    ),
    d1=short_work,
    d2=short_work,
)
def test_properties_on_random_calendars(
    cal: BusinessCalendar, start: datetime, d1: timedelta, d2: timedelta
) -> None:
    add = cal.add_working_time
    end = add(start, d1)
    assert end == _reference_add(cal, start, d1) or d1 == timedelta(0)
    assert add(end, d2) == add(start, d1 + d2)
    assert cal.working_time_between(start, end) == d1
    assert cal.working_time_between(start, add(end, d2)) == d1 + d2


@settings(deadline=None)
@given(cal=calendars(), data=st.data())
def test_between_from_inside_working_hours(cal: BusinessCalendar, data: st.DataObject) -> None:
    day = data.draw(st.dates(min_value=date(2024, 1, 1), max_value=date(2025, 12, 31)))
    while not cal.is_working_day(day):
        day += timedelta(days=1)
    ws, we = (datetime.combine(day, t, tzinfo=cal.zone) for t in cal.hours)
    offset = data.draw(st.timedeltas(min_value=timedelta(0), max_value=we - ws))
    start = ws + offset
    d = data.draw(short_work)
    assert cal.working_time_between(start, cal.add_working_time(start, d)) == d
    # Counting is additive over any split point.
    mid = data.draw(
        st.datetimes(
            min_value=datetime(2023, 12, 1), max_value=datetime(2026, 6, 30), timezones=st.just(SH)
        )
    )
    end = cal.add_working_time(start, d)
    if start <= mid <= end:
        assert cal.working_time_between(start, mid) + cal.working_time_between(mid, end) == d

"""Read-model pieces without a database: times, cursors, statistics, summaries, KPI bookkeeping."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from projections.audit_history import summarize
from projections.case_state import apply_clock, decode_cursor, encode_cursor
from projections.events import Event, canon, decode, local_day, parse_time, seconds_between
from projections.kpi import Deltas, KpiTracker, median, p90, pct, period_of
from projections.views import POSTGRES, SQLITE, Table
from tests.support import World, complaint_to

SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_canonical_times_sort_as_text_and_read_back() -> None:
    assert canon("2026-11-16T10:00:00+08:00") == "2026-11-16T02:00:00.000000Z"
    assert canon(datetime(2026, 11, 16, 2, 0, 0, 5)) == "2026-11-16T02:00:00.000005Z"  # naive is UTC
    assert canon(None) is None
    times = ["2026-11-16T10:00:00+08:00", "2026-11-16T03:00:00+00:00", "2026-11-15T23:00:00-05:00"]
    assert sorted(canon(t) for t in times) == [canon(t) for t in sorted(times, key=datetime.fromisoformat)]
    assert datetime.fromisoformat(canon(times[0])) == datetime.fromisoformat(times[0])  # type: ignore[arg-type]
    assert local_day("2026-11-16T17:00:00.000000Z", SHANGHAI) == "2026-11-17"
    assert seconds_between("2026-11-16T02:00:00.000000Z", "2026-11-16T02:30:00.500000Z") == 1800.5


def test_parse_time() -> None:
    assert parse_time("2026-11-16", SHANGHAI) == datetime(2026, 11, 16, tzinfo=SHANGHAI)
    assert parse_time(date(2026, 11, 16)) == datetime(2026, 11, 16, tzinfo=UTC)
    assert parse_time("2026-11-16T10:00:00Z") == datetime(2026, 11, 16, 10, tzinfo=UTC)
    for bad in ("2026-11-16T10:00:00", "yesterday", 5):
        with pytest.raises(ValueError):
            parse_time(bad)  # type: ignore[arg-type]


def test_cursors_round_trip_and_refuse_anything_else() -> None:
    cursor = encode_cursor("opened", ["2026-11-16T02:00:00.000000Z", "abc"])
    assert "=" not in cursor and decode_cursor(cursor, "opened", 2) == ["2026-11-16T02:00:00.000000Z", "abc"]
    for bad in ("", "!!!", "e30", encode_cursor("due", ["a", "b"]), encode_cursor("opened", ["a"]),
                encode_cursor("opened", [["a"], "b"])):
        with pytest.raises(ValueError, match="invalid cursor"):
            decode_cursor(bad, "opened", 2)


def test_statistics() -> None:
    assert median([]) is None and p90([]) is None and pct(1, 0) is None
    assert median([3.0, 1.0, 2.0]) == 2.0 and median([4.0, 1.0, 2.0, 3.0]) == 2.5
    assert p90([float(i) for i in range(1, 11)]) == 9.0  # nearest rank: ceil(0.9 * 10) = 9th
    assert p90([1.0, 2.0]) == 2.0 and p90([5.0]) == 5.0
    assert pct(2, 3) == 66.7
    assert [period_of("2026-11-23", by) for by in ("day", "week", "month")] == ["2026-11-23", "2026-W48", "2026-11"]
    assert period_of("2027-01-01", "week") == "2026-W53"


def test_clock_bookkeeping_matches_the_domain() -> None:
    clocks: dict[str, list[object]] = {}
    apply_clock(clocks, {"op": "start", "name": "r", "at": "2026-11-16T10:00:00+08:00",
                         "due_at": "2026-11-17T10:00:00+08:00"})
    apply_clock(clocks, {"op": "pause", "name": "r", "at": "2026-11-16T11:00:00+08:00"})
    assert clocks["r"][0] == "paused"
    apply_clock(clocks, {"op": "resume", "name": "r", "at": "2026-11-16T12:00:00+08:00",
                         "due_at": "2026-11-17T11:00:00+08:00"})
    apply_clock(clocks, {"op": "breach", "name": "r"})
    apply_clock(clocks, {"op": "stop", "name": "r", "at": "2026-11-16T13:00:00+08:00"})
    assert clocks["r"] == ["breached", "2026-11-17T03:00:00.000000Z", 1]  # a recorded breach stays one
    apply_clock(clocks, {"op": "stop", "name": "missing", "at": "2026-11-16T13:00:00+08:00"})


def test_sql_is_written_once() -> None:
    table = Table("t", "id {KEY} PRIMARY KEY, n {INT}, x {REAL}, at {TS}",
                  indexes=(("due", "at, id WHERE at IS NOT NULL"),))
    assert SQLITE.ddl(table.columns) == "id TEXT PRIMARY KEY, n INTEGER, x REAL, at TEXT"
    assert POSTGRES.ddl(table.columns) == ('id TEXT COLLATE "C" PRIMARY KEY, n BIGINT, x DOUBLE PRECISION, '
                                           'at TEXT COLLATE "C"')
    assert POSTGRES.sql("a = ? AND b = ?") == "a = %s AND b = %s" and SQLITE.sql("a = ?") == "a = ?"
    assert table.name(3) == "rm_t_v3"


def _events(world: World) -> list[Event]:
    notes = world.app.recorder.select_notifications(start=1, limit=1000)
    return [e for e in (decode(world.app.mapper, n) for n in notes) if e is not None]


def test_summaries_are_one_readable_line() -> None:
    world = World()
    case = complaint_to(world, "assigned")
    events = {e.type: e for e in _events(world) if e.aggregate_id == str(case.id)}
    text, changes = summarize(events["Case.Opened"], case.number)
    assert text == f"agent opened complaint {case.number} “Case” (registered)"
    assert changes["customer.tier"] == [None, "member"]
    text, changes = summarize(events["Case.ActionTaken"], case.number)
    assert text == f"supervisor: assign on {case.number} (registered → assigned); assignee ∅ → agent"
    staff = next(e for e in _events(world) if e.type == "Staff.Registered")
    assert summarize(staff, None)[0] == "system:admin registered staff agent (agent; roles agent)"


def test_kpi_tracker_credits_and_ignores_mirror_visits() -> None:
    world = World()
    case = complaint_to(world, "resolution_proposed")
    world.advance(minutes=30)
    world.act(case, "approve_resolution", "supervisor")
    world.advance(minutes=30)
    world.act(case, "reply_customer", "agent", {"reply": "ok"})
    visit = world.linked(case, "return_visit")
    world.advance(hours=1)
    world.act(visit, "record_outcome", "agent2", {"result": "neutral", "improvement": "sooner"})
    tracker = KpiTracker(SHANGHAI, lambda t: world.app.registry.get(t).closed_states,
                         lambda t: world.app.registry.get(t).kpis)
    out, states = Deltas(), {}
    for e in _events(world):
        if e.type.startswith("Case."):
            state = tracker.apply(states.get(e.aggregate_id), e, out)
            if state is not None:
                states[e.aggregate_id] = state
    assert states[str(visit.id)] == {"mirror_of": str(case.id)}  # the mirror case is counted on its origin only
    agent = out.staff[("agent", "2026-11-16")]
    assert (agent["assigned"], agent["clocks_met"], agent["neutral"]) == (1, 3, 0)
    assert out.staff[("agent", "2026-11-19")] == {"rv_due": 1, "rv_vip_due": 1, "rv_done": 1, "rv_on_time": 1,
                                                  "rv_vip_done": 1}
    assert out.staff[("agent2", "2026-11-16")] == {"neutral": 1}  # the result counts for whoever recorded it
    kinds = {(d[1], d[2], d[5]) for d in out.durations}
    # first response is the first contact with the customer: here the reply, an hour in
    assert kinds == {("first_response", "agent", 3600.0), ("approval", "supervisor", 1800.0)}
    assert dict(out.dept[("cs", "2026-11")]) == {"received": 1, "handled": 1, "visited": 1}
    assert world.now - timedelta(hours=2) == datetime(2026, 11, 16, 10, tzinfo=SHANGHAI)

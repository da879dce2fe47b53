"""Recurring cases: a visit plan for each account manager on the 25th, opened once per occurrence."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from domain.application import CaseTrail
from domain.model.case import Case
from domain.model.errors import CaseTypeError
from domain.model.registry import CaseTypeRegistry
from domain.model.schedules import ScheduleSpec, latest_occurrence
from tests.e2e.conftest import run_cli
from tests.support import operator_folder

SHANGHAI = ZoneInfo("Asia/Shanghai")
VISIT_PLAN = """
name = "visit_plan"
title = "拜访计划"
number_prefix = "BF"
initial_state = "planned"
states = ["planned", "done"]
closed_states = ["done"]
open_roles = ["agent"]

[fields]
owner = { type = "staff" }
kind = { type = "string" }

[actions.finish]
from = ["planned"]
to = "done"
roles = ["agent"]

[[schedules]]
name = "monthly"
every = "month"
day = 25
at = "09:00"
title = "{YYYY}-{MM} 拜访计划"
for_each_role = "agent"
staff_field = "owner"
fields = { kind = "visit_plan" }
"""


def folder(tmp_path: Path, text: str = VISIT_PLAN) -> Path:
    return operator_folder(tmp_path, {"visit_plan.toml": text})


def test_the_latest_occurrence_in_local_time() -> None:
    monthly = ScheduleSpec("m", "month", 25, datetime(2026, 1, 1, 9).time(), "t")
    at = datetime(2026, 12, 25, 1, 30, tzinfo=UTC)  # 09:30 in Shanghai
    assert latest_occurrence(monthly, at, SHANGHAI) == datetime(2026, 12, 25, 9, tzinfo=SHANGHAI)
    before = datetime(2026, 12, 25, 0, 30, tzinfo=UTC)  # 08:30: still November's
    assert latest_occurrence(monthly, before, SHANGHAI) == datetime(2026, 11, 25, 9, tzinfo=SHANGHAI)
    weekly = ScheduleSpec("w", "week", 1, datetime(2026, 1, 1, 9).time(), "t")  # Mondays
    assert latest_occurrence(weekly, at, SHANGHAI) == datetime(2026, 12, 21, 9, tzinfo=SHANGHAI)


@pytest.mark.parametrize("bad, problem", [
    ('every = "month"\nday = 31', "day must be 1 to 28"),
    ('every = "fortnight"', "every must be one of"),
    ('staff_field = "nobody"', "'for_each_role' and 'staff_field' go together"),
])
def test_bad_schedules_are_refused(tmp_path: Path, bad: str, problem: str) -> None:
    key = bad.split(" = ")[0]
    lines = [line for line in VISIT_PLAN.splitlines() if not line.startswith(f"{key} =")
             and not (key == "every" and line.startswith("day ="))]
    if key == "staff_field":
        lines = [line for line in lines if not line.startswith("for_each_role")]
    text = "\n".join(lines).replace('name = "monthly"', f'name = "monthly"\n{bad}')
    with pytest.raises(CaseTypeError, match=problem):
        CaseTypeRegistry.load(folder(tmp_path, text))


def test_one_plan_per_agent_per_month_even_with_two_workers(database_url: str, tmp_path: Path) -> None:
    registry = CaseTypeRegistry.load(folder(tmp_path))
    now = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)  # 10:00 on the 25th in Shanghai
    apps = [CaseTrail.from_url(database_url, registry=registry, clock=lambda: now) for _ in range(2)]
    try:
        for staff_id, roles in (("zhang", ["agent"]), ("wang", ["agent"]), ("chen", ["supervisor"])):
            apps[0].register_staff(staff_id, staff_id, "cs", roles)
        results: list[list[str]] = []
        threads = [threading.Thread(target=lambda a=a: results.append(a.run_schedules())) for a in apps]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        opened = sorted(n for r in results for n in r)
        assert len(opened) == 2, results  # zhang and wang, once each, whichever worker got there
        cases = [apps[0].get_case(Case.create_id(n)) for n in opened]
        assert sorted(c.fields["owner"] for c in cases) == ["wang", "zhang"]
        assert {c.title for c in cases} == {"2026-11 拜访计划"} and {c.fields["kind"] for c in cases} == {"visit_plan"}
        assert apps[1].run_schedules() == []  # the same occurrence again: nothing
        assert len(apps[0].run_schedules(now + timedelta(days=30))) == 2  # December's
    finally:
        for a in apps:
            a.close()


def test_sla_check_opens_due_schedules(database_url: str, tmp_path: Path) -> None:
    env = {"CASETRAIL_CASE_TYPES": str(folder(tmp_path))}
    added = run_cli(database_url, "staff", "add", "zhang", "--name", "张丽", "--department", "cs", "--role", "agent",
                    env=env)
    assert added.returncode == 0, added.stderr
    done = run_cli(database_url, "sla", "check", env=env)
    assert done.returncode == 0, done.stderr
    assert "1 scheduled case(s) opened" in done.stdout and "BF-" in done.stdout
    again = run_cli(database_url, "sla", "check", env=env)
    assert "scheduled" not in again.stdout


def test_an_opt_in_schedule_runs_only_where_turned_on(database_url: str, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A shipped procedure's schedule (``opt_in = true``) opens nothing until the operator names its type in
    ``CASETRAIL_SCHEDULES``; the operator's own schedules run regardless."""
    shipped = VISIT_PLAN.replace('name = "monthly"', 'name = "monthly"\nopt_in = true')
    registry = CaseTypeRegistry.load(folder(tmp_path, shipped))
    now = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
    app = CaseTrail.from_url(database_url, registry=registry, clock=lambda: now)
    try:
        app.register_staff("zhang", "zhang", "cs", ["agent"])
        monkeypatch.delenv("CASETRAIL_SCHEDULES", raising=False)
        assert [n for n in app.run_schedules() if n.startswith("BF-")] == []
        monkeypatch.setenv("CASETRAIL_SCHEDULES", "complaint, other")
        assert [n for n in app.run_schedules() if n.startswith("BF-")] == []
        monkeypatch.setenv("CASETRAIL_SCHEDULES", "complaint,visit_plan")
        assert len([n for n in app.run_schedules() if n.startswith("BF-")]) == 1
    finally:
        app.close()

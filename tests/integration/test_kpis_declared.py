"""A new case type reports without Python: its ``[kpis]`` table names the clocks, actions and outcome
values the staff KPIs count (domain/model/kpis.py), on both databases.

An operator's ``wellness_call`` times its first answer with ``first_contact`` and its visit with
``visit_due``, records outcomes ``good`` / ``ok`` / ``bad`` in ``fields.verdict`` and has its
``sign_off`` counted as an approval: the staff-performance read model counts them all.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from domain.application import CaseTrail
from domain.model.registry import CaseTypeRegistry
from projections.queries import ReadModels
from tests.integration.test_projections import catch_up
from tests.support import START, operator_folder

WELLNESS = """
name = "wellness_call"
title = "关怀回访"
number_prefix = "GH"
initial_state = "open"
states = ["open", "answered", "visited", "signed"]
closed_states = ["signed"]
open_roles = ["agent"]

[fields]
verdict = { type = "enum", values = ["good", "ok", "bad"], set_by_action = true }

[actions.answer]
from = ["open"]
to = "answered"
roles = ["agent"]

[actions.record_visit]
from = ["answered"]
to = "visited"
roles = ["agent"]
fields.verdict = { type = "enum", values = ["good", "ok", "bad"], required = true }
sets = ["verdict"]

[actions.sign_off]
from = ["visited"]
to = "signed"
roles = ["supervisor"]

[clocks.first_contact]
duration = "2h"
start = ["@open"]
stop = ["answer"]

[clocks.visit_due]
duration = "3d"
start = ["answer"]
stop = ["record_visit"]

[kpis]
first_response_clock = "first_contact"
return_visit_clock = "visit_due"
outcome_fields = ["fields.verdict"]
outcomes = { satisfied = ["good"], neutral = ["ok"], unsatisfied = ["bad"] }
approval_actions = ["sign_off"]
"""


def test_a_new_type_reports_by_its_declared_kpis(database_url: str, tmp_path: Path) -> None:
    registry = CaseTypeRegistry.load(operator_folder(tmp_path, {"wellness_call.toml": WELLNESS}))
    now = [START]
    app = CaseTrail.from_url(database_url, registry=registry, clock=lambda: now[0])
    try:
        app.register_staff("agent", "Agent", "cs", ["agent"])
        app.register_staff("supervisor", "Sup", "cs", ["supervisor"])
        agent, sup = app.get_staff("agent").as_actor(), app.get_staff("supervisor").as_actor()
        for verdict in ("good", "bad"):
            case = app.open_case(agent, "wellness_call", "回访", {}, {})
            now[0] += timedelta(minutes=30)
            app.act(agent, case.id, "answer", {})
            now[0] += timedelta(hours=5)
            app.act(agent, case.id, "record_visit", {"verdict": verdict})
            app.act(sup, case.id, "sign_off", {})
        catch_up(app)
        models = ReadModels(database_url)
        try:
            figures = models.staff_performance("agent", "2026-11-01", "2026-11-30")
            assert figures["first_response"]["count"] == 2 and figures["first_response"]["median_seconds"] == 1800.0
            assert figures["return_visits"]["due"] == 2 and figures["return_visits"]["done"] == 2
            assert figures["satisfaction"] == {"satisfied": 1, "neutral": 0, "unsatisfied": 1,
                                               "satisfaction_pct": 50.0}
            assert models.staff_performance("supervisor", "2026-11-01", "2026-11-30")["approvals"]["given"] == 2
        finally:
            models.close()
    finally:
        app.close()

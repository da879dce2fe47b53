"""``POST /v1/import/cases``: a legacy case with its whole history in one request
(CASE-TYPES.md "Imports are atomic"; API.md second edition), on both databases."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from tests.api_support import ApiWorld

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_an_import_is_atomic_and_breaches_fall_at_their_due_time(w: ApiWorld) -> None:
    opened = w.now - timedelta(days=30)  # Saturday 2026-10-17 10:00
    body = {
        "case": {"type": "complaint", "title": "legacy", "customer": {"id": "C-7", "name": "老李"},
                 "fields": {"severity": "general"}, "occurred_at": opened.isoformat()},
        "actions": [
            {"action": "assign", "actor": "张主管", "occurred_at": (opened + timedelta(days=4)).isoformat(),
             "data": {"assignee": "agent"}},
            {"action": "log_contact", "actor": "agent", "occurred_at": (opened + timedelta(days=4)).isoformat(),
             "data": {"channel": "phone", "summary": "called"}},
        ],
    }
    case = w.call("POST", "/v1/import/cases", "importer", body, status=201)
    assert case["status"] == "assigned" and case["assignee"] == "agent"
    history = w.history(case)
    assert all(e["imported"] for e in history)
    breaches = {e["data"]["clock"]: e for e in history if e["type"] == "DeadlineBreached"}
    assert set(breaches) == {"first_response", "resolution"}
    for name, e in breaches.items():
        assert e["occurred_at"] == e["data"]["due_at"]
    times = [datetime.fromisoformat(e["occurred_at"]) for e in history]
    assert times == sorted(times)
    # refused midway: 422 naming the action, nothing recorded
    position = w.app.recorder.max_notification_id()
    bad = dict(body, actions=[*body["actions"], {"action": "close", "occurred_at": (opened + timedelta(days=5))
                                                 .isoformat(), "data": {}}])
    problem = w.call("POST", "/v1/import/cases", "importer", bad, status=422)
    assert problem["action_index"] == 2 and problem["action"] == "close"
    assert w.app.recorder.max_notification_id() == position
    w.call("POST", "/v1/import/cases", "agent", body, status=403)


def test_casetrail_import_reads_json_lines_each_case_atomically(w: ApiWorld, database_url: str, tmp_path) -> None:
    import json

    from click.testing import CliRunner

    from scripts.cli import cli

    def line(title: str, actions: list) -> str:
        return json.dumps({"case": {"type": "inquiry", "title": title, "customer": {"id": "C-9", "name": "老张"},
                                    "occurred_at": "2026-10-12T10:00:00+08:00"}, "actions": actions},
                          ensure_ascii=False)

    answer = {"action": "answer", "actor": "小王", "occurred_at": "2026-10-12T11:00:00+08:00",
              "data": {"answer": "open 9-18"}}
    close = {"action": "close", "occurred_at": "2026-10-12T11:05:00+08:00"}
    path = tmp_path / "legacy.jsonl"
    path.write_text("\n".join([line("good", [answer, close]), line("refused", [close]), "not json", ""]),
                    encoding="utf-8")
    position = w.app.recorder.max_notification_id()
    result = CliRunner().invoke(cli, ["import", str(path), "--as", "importer"],
                                env={"CASETRAIL_DATABASE_URL": database_url})
    assert result.exit_code == 1, result.output
    assert "line 1: ZX-202610-0001" in result.output and "1 case(s) imported, 2 refused" in result.output
    assert "line 2: refused" in result.output and "line 3: not JSON" in result.output
    events = list(w.app.recorder.select_notifications(position + 1, 100))
    case_id = next(iter({e.originator_id for e in events if "Case" in e.topic}))
    history = w.history(case_id)
    assert [e["type"] for e in history] == ["Opened", "ActionTaken", "ActionTaken"]
    assert history[1]["original_actor"] == "小王" and history[1]["actor"] == "importer"
    assert w.show(case_id)["status"] == "closed"

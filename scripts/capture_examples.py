"""Capture the OpenAPI examples (``api/examples.json``) from a real run of the API.

``python -m scripts.capture_examples`` opens a few cases on a throwaway SQLite
database through the HTTP API (in process, Starlette's test client, which needs
the ``test`` extra's httpx), and records for every operation one request (its
path, query and body) and the answer it got, shortened where a list is long.
``api.examples`` attaches them to the served document, so ``/docs`` shows an
example per endpoint that the server really gave. Run it again after changing
an answer's shape; ``tests/integration/test_api_reference.py`` checks that
every operation has one.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

OUT = Path(__file__).resolve().parent.parent / "api" / "examples.json"
CUSTOMER = {"id": "C-1001", "name": "王先生", "phone": "13800138000", "tier": "member"}
STAFF = {"agent": ("cs", ["agent"]), "supervisor": ("cs", ["supervisor"]), "reviewer": ("compliance", ["reviewer"]),
         "importer": ("it", ["importer"]), "admin": ("it", ["admin"])}


def _short(value: Any, key: str = "") -> Any:
    """Lists cut to two items, a case type's actions and clocks to three: enough to show the shape."""
    if isinstance(value, list):
        return [_short(v) for v in value[:2]]
    if isinstance(value, dict):
        items = list(value.items())[:3] if key in ("actions", "clocks") else value.items()
        return {k: _short(v, k) for k, v in items}
    return value


def capture() -> dict[str, Any]:
    from starlette.testclient import TestClient

    from api.app import create_app
    from domain.application import CaseTrail
    from projections.workers import start_background

    folder = tempfile.mkdtemp(prefix="casetrail-examples-")
    os.environ.update({"CASETRAIL_SIGNING_KEY": f"{folder}/key.pem", "CASETRAIL_WITNESS": f"{folder}/witness.jsonl",
                       "CASETRAIL_MASTER_KEY_FILE": f"{folder}/master-key"})
    url = f"sqlite:///{folder}/casetrail.db"
    app = CaseTrail.from_url(url)
    for staff_id, (dept, roles) in STAFF.items():
        app.register_staff(staff_id, staff_id.title(), dept, roles)
    tokens = {s: app.issue_token(s) for s in STAFF}
    stop = start_background(url, sla_interval=0, poll_seconds=0.05)
    examples: dict[str, Any] = {}
    with TestClient(create_app(app, configure_logs=False)) as http:
        def call(op: str, method: str, path: str, by: str | None = "agent", query: dict[str, Any] | None = None,
                 body: Any = None, status: int = 200) -> Any:
            target = path.format(**ids) + (f"?{urlencode(query)}" if query else "")
            headers = {"Authorization": f"Bearer {tokens[by]}"} if by else {}
            r = http.request(method, target, headers=headers, json=body)
            assert r.status_code == status, (op, r.status_code, r.text)
            kind = r.headers.get("content-type", "")
            answer = _short(r.json()) if "json" in kind else r.text[:400]
            examples[op] = {"path": target, "query": query or {}, "body": body, "status": status,
                            "media": kind.split(";")[0], "response": answer}
            return r.json() if "json" in kind else None

        ids: dict[str, str] = {"staff_id": "agent"}
        opened = call("openCase", "POST", "/v1/cases", body={
            "type": "complaint", "title": "快递破损, 要求退换", "channel": "phone", "customer": CUSTOMER,
            "fields": {"severity": "general", "description": "收到时外箱破损, 水壶底座开裂"}}, status=201)
        ids["case_id"] = opened["number"]
        call("takeAction", "POST", "/v1/cases/{case_id}/actions/assign", by="supervisor",
             body={"assignee": "agent", "expected_version": 1})
        call("getCase", "GET", "/v1/cases/{case_id}")
        call("caseHistory", "GET", "/v1/cases/{case_id}/history")
        position = app.recorder.max_notification_id()
        call("listCases", "GET", "/v1/cases", query={"status": "assigned", "limit": 20, "min_position": position})
        call("listCaseTypes", "GET", "/v1/case-types")
        call("getCaseType", "GET", "/v1/case-types/inquiry")
        call("eventFeed", "GET", "/v1/events", by="reviewer", query={"after": 0, "limit": 2})
        call("staffPerformance", "GET", "/v1/staff/agent/performance",
             query={"from": "2026-11-01", "to": "2026-11-30", "min_position": position})
        call("departmentReport", "GET", "/v1/reports/departments/cs", by="supervisor", query={"month": "2026-11"})
        call("auditEvents", "GET", "/v1/audit/events", by="reviewer", query={"limit": 2})
        call("auditVerify", "GET", "/v1/audit/verify", by="reviewer", query={"case_id": opened["id"]})
        call("auditCheckpoints", "GET", "/v1/audit/checkpoints", by="reviewer", query={"limit": 10})
        call("importCase", "POST", "/v1/import/cases", by="importer", body={
            "case": {"type": "inquiry", "title": "营业时间咨询", "customer": {"id": "C-2002", "name": "李女士"},
                     "occurred_at": "2026-10-12T10:00:00+08:00"},
            "actions": [{"action": "answer", "actor": "小王", "occurred_at": "2026-10-12T11:00:00+08:00",
                         "data": {"answer": "每天 9:00-18:00"}}]}, status=201)
        call("eraseCustomer", "POST", "/v1/admin/customers/C-2002/erase", by="admin",
             body={"reason": "客户要求删除个人信息"})
        call("listStaff", "GET", "/v1/staff", by="supervisor", query={"department": "cs"})
        call("showStaff", "GET", "/v1/staff/{staff_id}", by="supervisor")
        hook = call("createWebhook", "POST", "/v1/webhooks", by="admin", status=201, body={
            "url": "https://hooks.example.com/casetrail", "events": ["Escalated", "DeadlineBreached"],
            "secret": "a-long-shared-secret-of-yours"})
        ids["webhook_id"] = hook["id"]
        call("listWebhooks", "GET", "/v1/webhooks", by="admin")
        call("showWebhook", "GET", "/v1/webhooks/{webhook_id}", by="admin")
        call("reenableWebhook", "PATCH", "/v1/webhooks/{webhook_id}", by="admin", body={"status": "active"})
        call("webhookDeliveries", "GET", "/v1/webhooks/{webhook_id}/deliveries", by="admin", query={"limit": 20})
        call("deleteWebhook", "DELETE", "/v1/webhooks/{webhook_id}", by="admin", status=204)
        call("healthz", "GET", "/healthz", by=None)
        call("readyz", "GET", "/readyz", by=None)
        call("metrics", "GET", "/metrics")
        call("auditPublicKey", "GET", "/v1/audit/public-key", by=None)
    stop()
    app.close()
    return examples


if __name__ == "__main__":
    OUT.write_text(json.dumps(capture(), ensure_ascii=False, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {OUT}")

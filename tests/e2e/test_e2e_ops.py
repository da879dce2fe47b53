"""End to end: operations endpoints, the served API description, and what the
server's log shows (and never shows)."""

from __future__ import annotations

import json
import re
import time

import httpx

from api.app import SECTIONS
from tests.e2e.conftest import CUSTOMER, Server, run_cli

ID_CARD = "11010519491231002X"
PHONE = "13800138000"


def gauge(text: str, name: str) -> float:
    """The value of the sample ``name`` (with its labels) in Prometheus text."""
    match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
    assert match, (name, text[-2000:])
    return float(match.group(1))


def test_health_readiness_metrics_and_description(server: Server) -> None:
    assert httpx.get(f"{server.url}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{server.url}/readyz").json()
    assert ready["status"] == "ready" and ready["position"] > 0
    server.open_case()
    assert httpx.get(f"{server.url}/metrics").status_code == 401  # like every endpoint with data
    metrics = server["admin"].get("/metrics")
    assert metrics.status_code == 200 and metrics.headers["content-type"].startswith("text/plain")
    assert re.search(r'casetrail_http_requests_total\{method="POST",route="/v1/cases",status="201"\} 1\.0',
                     metrics.text)
    # read-model lag: this server runs no projection worker, so the read models are behind the log
    head = gauge(metrics.text, "casetrail_notification_position")
    assert head >= ready["position"] + 1
    assert gauge(metrics.text, 'casetrail_projection_lag_events{projection="case_state"}') == \
        head - gauge(metrics.text, 'casetrail_projection_position{projection="case_state"}') > 0
    assert run_cli(server.database_url, "projections", "rebuild", "--quiet").returncode == 0
    caught_up = server["admin"].get("/metrics").text
    for name in ("case_state", "staff_performance", "audit_history"):
        assert gauge(caught_up, f'casetrail_projection_lag_events{{projection="{name}"}}') == 0
        assert gauge(caught_up, f'casetrail_projection_position{{projection="{name}"}}') == head
    spec = httpx.get(f"{server.url}/openapi.json").json()
    assert spec["openapi"].startswith("3.1")
    described = {(path, method) for path, item in spec["paths"].items() for method in item}
    for section in SECTIONS:
        for route in section.routes:
            for method in route.methods - {"HEAD"}:
                assert (route.path, method.lower()) in described, (route.path, method)
    for (path, method) in described:
        op = spec["paths"][path][method]
        assert op["responses"] and op["summary"], (path, method)
    docs = httpx.get(f"{server.url}/docs")
    assert docs.headers["content-type"].startswith("text/html")
    assert '<script src="/docs/swagger-ui-bundle.js">' in docs.text and "https://" not in docs.text
    assert httpx.get(f"{server.url}/docs/swagger-ui-bundle.js").status_code == 200  # package data, installed


def test_the_log_names_requests_but_never_tokens_phones_or_id_cards(server: Server) -> None:
    agent = server["agent"]
    r = agent.post("/v1/cases", headers={"X-Request-ID": "trace-me-1"}, json={
        "type": "complaint", "title": f"客户 {PHONE} 投诉", "customer": {**CUSTOMER, "phone": PHONE},
        "fields": {"description": f"身份证号 {ID_CARD},电话 +86 {PHONE}"}})
    assert r.status_code == 201
    cid = r.json()["id"]
    # mistakes that echo the bad input back to the caller must not echo it into the log
    agent.post("/v1/cases", json={"type": "complaint", "title": "x", "customer": CUSTOMER, PHONE: ID_CARD})
    agent.post(f"/v1/cases/{cid}/actions/classify", json={"category": f"{ID_CARD} {PHONE}"})
    agent.get(f"/v1/cases/{cid}", params={"as_of": f"{PHONE}-{ID_CARD}"})
    agent.get(f"/v1/cases/{PHONE}{ID_CARD}")
    agent.get(f"/v1/case-types/{PHONE}")
    agent.get(f"/v1/nowhere/{PHONE}/{ID_CARD}/{server.tokens['agent']}")
    agent.post("/v1/cases", content=f'{{"title": "{PHONE}'.encode(), headers={"Content-Type": "application/json"})
    httpx.get(f"{server.url}/v1/events", headers={"Authorization": f"Bearer {server.tokens['agent']}x"})
    httpx.get(f"{server.url}/v1/events", headers={"Authorization": f"Bearer {PHONE}"})
    time.sleep(0.3)
    log = server.log_text()
    for token in server.tokens.values():
        assert token not in log
        assert all(token[i:i + 8] not in log for i in range(len(token) - 8))
    assert PHONE not in log and ID_CARD not in log and ID_CARD.lower() not in log
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    access = [x for x in lines if x.get("event") == "request"]
    first = next(x for x in access if x.get("request_id") == "trace-me-1")
    assert first["actor"] == "agent" and first["case_id"] == cid and first["status"] == 201
    assert first["method"] == "POST" and first["route"] == "/v1/cases" and first["duration_ms"] >= 0
    assert any(x["status"] == 401 for x in access)
    assert all("authorization" not in json.dumps(x).lower() for x in access)

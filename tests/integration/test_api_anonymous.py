"""Anonymous access, swept over the whole route table: every endpoint except
the public ones refuses a request without a valid token with a 401 problem
document, and the served OpenAPI document says the same.

The routes come from the application itself (``create_app(...).routes``,
i.e. ``api.app.SECTIONS``), so a new endpoint is covered without touching
this file. Path parameters are filled with real values (an existing case,
an action, a case type, a staff member, a department), and the same request
with a token must not be a 401, so a refusal cannot be a 404 in disguise.

Public by decision: ``/v1/audit/public-key`` (what outside auditors verify with),
``/healthz``, ``/readyz``, ``/openapi.json`` and
``/docs`` and its assets (the interactive reference over the OpenAPI document,
nothing more, so a browser can open it). ``/metrics`` needs a token (an admin's will do).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.routing import Route

from api.app import create_app
from domain.application import CaseTrail

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

PUBLIC = {"/healthz", "/readyz", "/openapi.json", "/docs", "/docs/swagger-ui-bundle.js", "/docs/swagger-ui.css",
          "/docs/casetrail-docs.js", "/v1/audit/public-key"}
CUSTOMER = {"id": "C-1", "name": "王先生", "phone": "13800138000", "tier": "member"}
NO_TOKEN: list[dict[str, str]] = [
    {}, {"Authorization": ""}, {"Authorization": "Bearer"}, {"Authorization": "Bearer "},
    {"Authorization": "Basic YWRtaW46YWRtaW4="}, {"Authorization": "Bearer ct_forged-token"},
    {"Authorization": "bearer " + "x" * 4000}, {"X-Api-Key": "anything"}]


@pytest.fixture
def world(database_url: str) -> Iterator[tuple[CaseTrail, dict[str, str], dict[str, str]]]:
    app = CaseTrail.from_url(database_url)
    app.register_staff("agent", "Agent", "cs", ["agent"])
    app.register_staff("admin", "Admin", "it", ["admin"])
    app.register_staff("gone", "Gone", "cs", ["agent"])
    revoked = app.issue_token("gone")
    app.revoke_token(revoked)
    case = app.open_case(app.get_staff("agent").as_actor(), "complaint", "包裹破损", CUSTOMER)
    values = {"case_id": str(case.id), "action": "classify", "type": "complaint", "staff_id": "agent",
              "department": "cs", "customer_id": "C-1", "webhook_id": "8e3c5a3e-0000-4000-8000-000000000000"}
    tokens = {"agent": app.issue_token("agent"), "admin": app.issue_token("admin"), "revoked": revoked}
    yield app, values, tokens
    app.close()


def url_of(route: Route, values: dict[str, str]) -> str:
    missing = set(route.param_convertors) - set(values)
    assert not missing, f"no test value for path parameters {missing} of {route.path}: add one to `values`"
    return route.path.format(**{name: values[name] for name in route.param_convertors})


def body_of(method: str) -> dict[str, Any] | None:
    return {"type": "complaint", "title": "x", "customer": CUSTOMER} if method in ("POST", "PUT", "PATCH") else None


def test_every_endpoint_but_health_readiness_and_the_description_refuses_anonymous_calls(world: Any) -> None:
    app, values, tokens = world
    from domain.audit.signing import signer_for

    signer_for()  # the key pair a started server has made (the public key is then served)
    refused = served = 0
    with TestClient(create_app(app, configure_logs=False)) as client:
        routes = client.app.routes
        assert all(isinstance(r, Route) and r.methods for r in routes), "a route kind this sweep does not know"
        assert PUBLIC <= {r.path for r in routes}
        for route in routes:
            url = url_of(route, values)
            for method in sorted(route.methods):
                for headers in NO_TOKEN + [{"Authorization": f"Bearer {tokens['revoked']}"}]:
                    r = client.request(method, url, headers=headers, json=body_of(method))
                    where = (method, route.path, headers)
                    if route.path in PUBLIC:
                        assert r.status_code == 200, where
                        served += 1
                        continue
                    assert r.status_code == 401, (where, r.status_code, r.text[:200])
                    assert r.headers["www-authenticate"].startswith("Bearer"), where
                    if method != "HEAD":
                        assert r.headers["content-type"] == "application/problem+json", where
                        assert r.json()["status"] == 401 and r.json()["type"].endswith("/unauthorized"), where
                    refused += 1
                # with a token the same request gets past authentication (200, or 403 for a role)
                for who in ("agent", "admin"):
                    r = client.request(method, url, headers={"Authorization": f"Bearer {tokens[who]}"},
                                       json=body_of(method))
                    assert r.status_code != 401 and r.status_code < 500, (who, method, route.path, r.text[:200])
        metrics = client.get("/metrics", headers={"Authorization": f"Bearer {tokens['admin']}"})
        assert metrics.status_code == 200 and "casetrail_http_requests_total" in metrics.text
        spec = client.get("/openapi.json").json()
    assert refused > 0 and served > 0
    # the published description agrees: exactly the public operations need no token
    public_ops = {path for path, item in spec["paths"].items() for op in item.values() if not op.get("security")}
    assert public_ops == PUBLIC
    described = {(path, method.upper()) for path, item in spec["paths"].items() for method in item}
    assert described == {(r.path, m) for r in routes for m in r.methods - {"HEAD"}}

"""Erasure through a real server (issue 21): nothing of the customer left in the database, the read
models or the server's log, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest

from domain.application import CaseTrail
from domain.storage.sealing import ERASED
from tests.e2e.conftest import Server
from tests.integration.test_erasure import found, stored_bytes
from tests.integration.test_projections import catch_up

NAME, PHONE, ADDRESS = "上官婉儿", "13744445555", "杭州市西湖区龙井路1号"


def project(url: str) -> None:
    app = CaseTrail.from_url(url)
    try:
        catch_up(app)
    finally:
        app.close()


def test_erase_through_the_api(server: Server, request: pytest.FixtureRequest) -> None:
    url = server.database_url
    pg_server = request.getfixturevalue("pg_server") if url.startswith("postgresql") else None
    customer: dict[str, Any] = {"id": "C-E", "name": NAME, "phone": PHONE, "tier": "vip"}
    complaint = server.open_case(customer=customer)
    order = server.open_case("repair_order", customer={**customer, "address": ADDRESS})
    assert server["agent"].get(f"/v1/cases/{complaint['id']}").json()["customer"]["name"] == NAME
    project(url)
    listed = server["agent"].get("/v1/cases", params={"phone": "137 4444 5555"}).json()["items"]
    assert {c["id"] for c in listed} == {complaint["id"], order["id"]}

    r = server["admin"].post("/v1/admin/customers/C-E/erase", json={"reason": "consent withdrawn"})
    assert r.status_code == 200, r.text
    assert set(r.json()["cases"]) == {complaint["id"], order["id"]}
    project(url)

    view = server["agent"].get(f"/v1/cases/{complaint['id']}").json()
    assert view["customer"]["name"] == ERASED and view["customer"]["phone"] == ERASED
    assert server["agent"].get(f"/v1/cases/{order['id']}").json()["customer"]["address"] == ERASED
    history = server["reviewer"].get(f"/v1/cases/{complaint['id']}/history")
    audit = server["reviewer"].get("/v1/audit/events", params={"limit": 200})
    assert history.status_code == audit.status_code == 200, (history.text, audit.text)
    assert "Erasure.Erased" in audit.text
    assert found(history.text + audit.text, (NAME, PHONE, ADDRESS)) == []
    assert server["agent"].get("/v1/cases", params={"phone": PHONE}).json()["items"] == []
    assert server["reviewer"].get("/v1/audit/verify").json()["ok"] is True
    assert found(stored_bytes(url, pg_server), (NAME, PHONE, ADDRESS)) == []
    assert found(server.log_once("erase"), (NAME, PHONE, ADDRESS)) == []

"""Test support for rules tried through the HTTP API: a ``World`` with a client.

``ApiWorld(url)`` is a ``tests.support.World`` on a database URL (settable
clock, one staff member per role, named after it) plus a Starlette test
client with a token per staff member. ``open``/``act`` go through the API and
return the case view (a dict); ``expect`` names the status a call must get.
"""

from __future__ import annotations

import warnings
from typing import Any

from api.app import create_app
from tests.support import CUSTOMER, ORDER_CUSTOMER, World

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient


class ApiWorld(World):
    def __init__(self, url: str, **kwargs: Any) -> None:
        super().__init__(url, **kwargs)
        self.tokens = {staff: self.app.issue_token(staff) for staff in self.staff}
        self.client = TestClient(create_app(self.app, configure_logs=False))

    def headers(self, by: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[by]}"}

    def call(self, method: str, path: str, by: str, body: Any = None, status: int | None = None) -> Any:
        r = self.client.request(method, path, headers=self.headers(by), json=body)
        if status is not None:
            assert r.status_code == status, (r.status_code, r.text)
        return r.json() if r.content else None

    def open_view(self, case_type: str, by: str = "agent", fields: Any = None, customer: Any = None,
                  title: str = "Case", status: int = 201) -> dict[str, Any]:
        if customer is None:
            customer = ORDER_CUSTOMER if case_type == "order_approval" else CUSTOMER
        body = {"type": case_type, "title": title, "customer": customer, "fields": fields or {}}
        return self.call("POST", "/v1/cases", by, body, status)

    def do(self, case: Any, action: str, by: str, status: int = 200, **data: Any) -> dict[str, Any]:
        case_id = case["id"] if isinstance(case, dict) else str(case)
        return self.call("POST", f"/v1/cases/{case_id}/actions/{action}", by, data, status)

    def show(self, case: Any, by: str = "reviewer") -> dict[str, Any]:
        case_id = case["id"] if isinstance(case, dict) else str(case)
        return self.call("GET", f"/v1/cases/{case_id}", by, status=200)

    def history(self, case: Any) -> list[dict[str, Any]]:
        case_id = case["id"] if isinstance(case, dict) else str(case)
        return self.call("GET", f"/v1/cases/{case_id}/history", "reviewer", status=200)["items"]

    def clock(self, case: Any, name: str) -> dict[str, Any]:
        return next(c for c in self.show(case)["clocks"] if c["name"] == name)

    def linked_view(self, case: Any, rel: str) -> dict[str, Any]:
        view = self.show(case)
        return self.show(next(x["case_id"] for x in view["links"] if x["rel"] == rel))

    def close(self) -> None:
        self.client.close()
        self.app.close()

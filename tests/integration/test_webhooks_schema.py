"""The webhook operations of ``/openapi.json`` against the server, with schemathesis, as an admin.

The contract test of the whole API (``test_api_schema.py``) calls them as a staff member without
the admin role (403 for everything); here an admin's token reaches the validation and the domain:
no 5xx, every response as documented, schema-invalid bodies refused with a 4xx, and no
schema-valid request refused with a 400/413/415. Path ids are sometimes real subscriptions."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from api.app import create_app
from domain.application import CaseTrail
from domain.webhooks import subscribe
from tests.schemathesis_support import KNOWN, SWITCH

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

schema = schemathesis.openapi.from_asgi("/openapi.json", SWITCH).include(path_regex="^/v1/webhooks")
schema.config.checks.positive_data_acceptance.expected_statuses = ["2xx", "401", "403", "404", "409", "422"]


@pytest.fixture
def token(database_url: str) -> Iterator[str]:
    app = CaseTrail.from_url(database_url)
    app.register_staff("root", "Root", "it", ["admin"])
    root = app.get_staff("root").as_actor()
    for i in range(2):
        KNOWN["webhook_id"].append(subscribe(app, root, {"url": f"http://127.0.0.1:9/{i}", "events": ["Opened"],
                                           "secret": "0123456789abcdef"})["id"])
    previous = SWITCH.target
    SWITCH.target = create_app(app, configure_logs=False)
    yield app.issue_token("root")
    SWITCH.target = previous
    KNOWN["webhook_id"].clear()
    app.close()


@schema.parametrize()
@settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_the_webhook_operations_keep_their_contract(case: Any, token: str) -> None:
    case.call_and_validate(headers={"Authorization": f"Bearer {token}"})

"""The served OpenAPI document against the server, with schemathesis (in-process, ASGI).

Every operation of ``/openapi.json`` is called with generated data, valid
and invalid, authenticated with a real token, and every response is judged
by **every** check schemathesis has (``--checks all``: ``ALL_CHECKS`` is the
registry of built-in checks, passed explicitly; a test below fails if one is
switched off): no 5xx, every response conforms to its documented status
codes, media types, headers and schemas, schema-valid data is accepted
(``positive_data_acceptance``), schema-invalid data is refused with a 4xx
(``negative_data_rejection``), a missing required header is refused,
unsupported methods answer 405 with ``Allow``, and authentication is not
ignored. Path parameters are sometimes replaced by real case ids and action
names so the calls reach the domain, not only the 404 path.

A schema-valid request may still be refused, for reasons no schema can state
(they depend on data at run time), and only for those: ``DOMAIN_REFUSALS``
lists each problem type the server may give a schema-valid request, with
why; ``domain_refusals_only`` fails on any other 4xx problem type.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import CHECKS, load_all_checks

from api.app import create_app
from domain.application import CaseTrail
from projections.workers import start_background
from tests.schemathesis_support import KNOWN, SWITCH

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

CUSTOMER = {"id": "C-1", "name": "王先生", "phone": "13800138000", "tier": "member"}
def _loaded() -> Any:
    loaded = schemathesis.openapi.from_asgi("/openapi.json", SWITCH)
    # A schema-valid request may still be refused by the domain (see DOMAIN_REFUSALS for which problem
    # types and why); what must never happen to one is a 400/413/415 (the document would lie).
    loaded.config.checks.positive_data_acceptance.expected_statuses = [
        "2xx", "401", "403", "404", "409", "422"]
    # The test sends a real token on every call: schemathesis must not generate (and negate) the bearer
    # header itself, or a "missing token" case would be sent with the token and look accepted. The
    # ignored_auth check still calls every operation without and with a wrong token.
    loaded.config.generation.update(with_security_parameters=False)
    return loaded


schema = _loaded()
# The two case bodies (every case type's fields: a large union) make the coverage phase's boundary
# cases take minutes; that phase is deterministic and the same on both databases, so it runs once, on
# SQLite (test_the_case_bodies_at_their_boundaries); every other phase and check runs on both.
CASE_BODIES = {"method": "POST", "path": ["/v1/cases", "/v1/import/cases"]}
everything_else = schema.exclude(**CASE_BODIES)
case_bodies = _loaded().include(**CASE_BODIES)
case_bodies.config.phases.coverage.enabled = False
case_body_boundaries = _loaded().include(**CASE_BODIES)
case_body_boundaries.config.phases.examples.enabled = False
case_body_boundaries.config.phases.fuzzing.enabled = False
case_body_boundaries.config.phases.stateful.enabled = False
load_all_checks()
ALL_CHECKS = list(CHECKS.get_all())  # --checks all

# Problem types a schema-valid request may get, and why no schema can rule them out.
DOMAIN_REFUSALS = {
    "forbidden": "403: the caller's roles (the token's staff member, run-time data) do not allow this",
    "approval-not-allowed": "403: the caller is not the approver the case waits for",
    "not-found": "404: no case, case type or version with that id/number (run-time data)",
    "unknown-action": "404: the case's type has no such action (the type is known only from the case)",
    "customer-not-found": "404: no personal data held for that customer id",
    "version-conflict": "409: If-Match / expected_version names another version than the case's",
    "already-taken": "409: someone else took the case first",
    "already-erased": "409: the customer's data is erased already",
    "action-not-allowed": "422: the action is not allowed in the case's current state",
    "guard-failed": "422: a precondition of the case type (a guard) does not hold for this case",
    "approvals-missing": "422: required approvals are not granted yet",
    "duplicate-approval": "422: this person approved already",
    "duplicate": "422: another open case already holds this unique key (cross-case rule)",
    "import-refused": "422: an imported action breaks the case type's rules in its turn",
    "idempotency-key-reused": "422: the same Idempotency-Key was used with another body",
    "unknown-staff": "422: a staff id that is not on the roster",
    "invalid-fields": "422: what depends on the case or the roster: an action's fields (the action body's "
                      "schema is the case type's, known only from the case), staff ids in fields, "
                      "cross-field constraints of the case type, a decimal below its minimum, an ID-card "
                      "check digit, occurred_at by a non-importer or after the case's last event",
    "invalid-query": "422: a cursor of another query, `to` before `from`, a phone filter without digits",
}


def domain_refusals_only(ctx: Any, response: Any, case: Any) -> bool | None:
    """A schema-valid request refused with 4xx: only for a reason listed in DOMAIN_REFUSALS."""
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or not 400 <= response.status_code < 500:
        return None
    if response.status_code == 401:
        return None  # the ignored_auth check judges authentication
    try:
        kind = str(response.json().get("type", "")).rsplit("/", 1)[-1]
    except Exception:  # a msgpack problem: judged by the other checks
        return None
    if kind not in DOMAIN_REFUSALS:
        raise AssertionError(f"schema-valid request refused with {response.status_code} {kind!r}: "
                             f"{response.text[:300]}")
    return None


@pytest.fixture
def token(database_url: str) -> Iterator[str]:
    yield from _serving(database_url)


@pytest.fixture
def sqlite_token(sqlite_url: str) -> Iterator[str]:
    yield from _serving(sqlite_url)


def _serving(database_url: str) -> Iterator[str]:
    """The app on ``database_url`` behind SWITCH, with a few cases; a token of a member of every role."""
    app = CaseTrail.from_url(database_url)
    app.register_staff("boss", "Boss", "cs", ["agent", "supervisor", "sales_manager", "technician"])
    boss = app.get_staff("boss").as_actor()
    for case_type, customer, fields in (("complaint", CUSTOMER, {}), ("inquiry", CUSTOMER, {}),
                                        ("repair_order", CUSTOMER, {}), ("return_visit", CUSTOMER, {}),
                                        ("order_approval", {"id": "K", "name": "李记"},
                                         {"amount": "30000.00", "payment_terms": "credit"})):
        KNOWN["case_id"].append(str(app.open_case(boss, case_type, "seed", customer, fields).id))
    previous = SWITCH.target
    SWITCH.target = create_app(app, configure_logs=False)
    # projection workers keep the read models current, so ?min_position waits end at once
    stop_workers = start_background(database_url, sla_interval=0)
    yield app.issue_token("boss")
    stop_workers()
    SWITCH.target = previous
    KNOWN["case_id"].clear()
    app.close()


def _called(case: Any, token: str) -> None:
    # Staff filters name staff of the roster: an unknown staff id is a 400 naming it (API.md), which no
    # schema can state (the roster changes at run time), so the contract is tried with the one registered.
    for name in ("assignee", "escalated_to"):
        if isinstance(case.query, dict) and name in case.query:
            case.query[name] = "boss"
    case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=ALL_CHECKS,
                           additional_checks=[domain_refusals_only])


@everything_else.parametrize()
@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_the_api_keeps_its_published_contract(case: Any, token: str) -> None:
    _called(case, token)


@case_bodies.parametrize()
@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_the_case_bodies_keep_the_contract(case: Any, token: str) -> None:
    _called(case, token)


@case_body_boundaries.parametrize()
@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_the_case_bodies_at_their_boundaries(case: Any, sqlite_token: str) -> None:
    _called(case, sqlite_token)


def test_every_check_schemathesis_has_is_on() -> None:
    names = {check.__name__ for check in ALL_CHECKS}
    assert {"positive_data_acceptance", "negative_data_rejection", "response_schema_conformance",
            "ignored_auth", "missing_required_header", "unsupported_method"} <= names
    for name in names:
        assert schema.config.checks.get_by_name(name=name).enabled, name


class Workflow(schema.as_state_machine()):  # type: ignore[misc]
    """Open a case, then follow the document's links (show it, act on it, read its history), judged by
    every check; the stateful ones (ensure_resource_availability, use_after_free) need these links."""

    token = ""

    def before_call(self, case: Any) -> None:
        for name in ("assignee", "escalated_to"):  # staff of the roster, as in the test above
            if isinstance(case.query, dict) and name in case.query:
                case.query[name] = "boss"

    def get_call_kwargs(self, case: Any) -> dict[str, Any]:
        return {"headers": {"Authorization": f"Bearer {self.token}"}}

    def validate_response(self, response: Any, case: Any, additional_checks: Any = None, **kwargs: Any) -> None:
        case.validate_response(response, checks=ALL_CHECKS, additional_checks=[domain_refusals_only],
                               transport_kwargs=kwargs)


def test_the_links_lead_where_they_say(token: str) -> None:
    Workflow.token = token
    Workflow.run(settings=settings(max_examples=10, stateful_step_count=4, deadline=None, derandomize=True,
                                   suppress_health_check=list(HealthCheck)))

"""Access, table-driven: every case type × every action × every role, through the API.

For each action of each case type a case is driven (through the API) into a
state where the action is allowed, then every role tries it. The expected
answer is computed from the case-type definition as the API publishes it
(``GET /v1/case-types/{type}``): ``roles``, ``roles_by`` (looked up on the
case), the approval chain (``approval = grant/reject``), the assignee rule,
and importers acting on anything. Allowed → 2xx and the action is listed
in the caller's ``allowed_actions``; otherwise → 403 and it is not listed.
A reviewer reads every read endpoint and is refused every write.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from api.app import create_app
from domain.application import CaseTrail

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

ROLES = ["agent", "supervisor", "dept_head", "sales_manager", "general_manager", "technician", "reviewer",
         "importer", "admin"]
ASSIGNEE = {"complaint": "asg", "repair_order": "tech_asg"}  # who becomes the case's assignee
CUSTOMERS = {
    "order_approval": {"id": "K-1", "name": "李记", "is_new": False},
}
DEFAULT_CUSTOMER = {"id": "C-1", "name": "王先生", "phone": "13800138000", "tier": "member"}
FIELDS = {"order_approval": {"amount": "30000.00", "payment_terms": "credit", "product_kind": "custom"}}
WINDOW = {"window_start": "2030-12-02T10:00:00+08:00", "window_end": "2030-12-02T12:00:00+08:00"}


@dataclass(frozen=True)
class Step:
    action: str
    by: str
    data: dict[str, Any] = field(default_factory=dict)
    on: str | None = None  # act on the linked case with this relation


S = Step
# Happy paths through each type; every action appears with valid data (or is reachable from a prefix).
PATHS: dict[str, list[list[Step]]] = {
    "complaint": [
        [S("classify", "agent", {"category": "valid", "severity": "general"}),
         S("assign", "supervisor", {"assignee": "asg"}), S("start_investigation", "asg"),
         S("log_contact", "asg", {"channel": "phone", "summary": "called"}),
         S("wait_for_customer", "asg", {"reason": "photos"}), S("customer_responded", "asg"),
         S("propose_resolution", "asg", {"resolution": "refund"}), S("approve_resolution", "supervisor"),
         S("reply_customer", "asg", {"reply": "refunded"}),
         S("record_outcome", "agent", {"result": "satisfied"}, on="return_visit"),
         S("close", "supervisor"), S("reopen", "supervisor", {"reason": "customer called again"})],
        [S("classify", "agent", {"category": "valid", "severity": "major"}),
         S("assign", "supervisor", {"assignee": "asg"}), S("start_investigation", "asg"),
         S("propose_resolution", "asg", {"resolution": "refund"}),
         S("send_back", "dept_head", {"reason": "not enough"})],
        [S("reject", "supervisor", {"reason": "not a complaint"})],
        [S("extend_deadline", "dept_head", {"working_days": 2, "reason": "waiting for the supplier"})],
        [S("correct_field", "supervisor", {"field": "title", "value": "corrected", "reason": "typo"})],
    ],
    "inquiry": [
        [S("answer", "agent", {"answer": "opening hours"}), S("close", "agent")],
        [S("convert", "agent", {"reason": "customer insists"})],
        [S("correct_field", "supervisor", {"field": "title", "value": "corrected", "reason": "typo"})],
    ],
    "repair_order": [
        [S("accept", "tech_asg"), S("schedule", "tech_asg", WINDOW), S("arrive", "tech_asg"),
         S("quote", "tech_asg", {"amount": "180.00"}), S("approve_quote", "agent"),
         S("complete", "tech_asg", {"notes": "fixed"}), S("record_return_visit", "agent", {"result": "satisfied"}),
         S("close", "agent")],
        [S("accept", "tech_asg"), S("log_contact", "tech_asg", {"channel": "phone", "summary": "called"}),
         S("schedule", "tech_asg", WINDOW), S("arrive", "tech_asg"),
         S("complete", "tech_asg"), S("rework", "agent", {"reason": "still broken"})],
        [S("offer", "agent", {"technician": "tech_asg"})],
        [S("correct_field", "supervisor", {"field": "title", "value": "corrected", "reason": "typo"})],
    ],
    "order_approval": [
        [S("record_deposit", "agent", {"amount": "9000.00"}), S("submit", "agent"),
         S("approve", "sales_manager", {"comment": "ok"}), S("ship", "agent"), S("deliver", "agent")],
        [S("submit", "agent"), S("reject", "sales_manager", {"reason": "credit limit"})],
        [S("correct_field", "supervisor", {"field": "title", "value": "corrected", "reason": "typo"})],
    ],
    "return_visit": [
        [S("reschedule", "agent", {"at": "2026-12-01T10:00:00+08:00"}),
         S("attempt_failed", "agent", {"reason": "no answer"}), S("assign", "supervisor", {"assignee": "agent"}),
         S("record_outcome", "agent", {"result": "neutral", "improvement": "call earlier"})],
        [S("correct_field", "supervisor", {"field": "title", "value": "corrected", "reason": "typo"})],
    ],
}
# A second chain: a big credit order needs the sales manager, then the general manager (sequential).
# Every step of a variant's paths is tried (not only each action's first occurrence).
VARIANTS = {
    "order_approval/sequential": ("order_approval", {"amount": "60000.00", "payment_terms": "credit"}, [
        [S("submit", "agent"), S("approve", "sm2"), S("approve", "gm2"), S("ship", "agent")],
        [S("submit", "agent"), S("approve", "sm2"), S("reject", "general_manager", {"reason": "no"})]]),
    "complaint/crisis": ("complaint", {"severity": "crisis"}, [
        [S("assign", "supervisor", {"assignee": "asg"}), S("start_investigation", "asg"),
         S("propose_resolution", "asg", {"resolution": "refund"}), S("approve_resolution", "general_manager")],
        [S("assign", "supervisor", {"assignee": "asg"}), S("start_investigation", "asg"),
         S("propose_resolution", "asg", {"resolution": "refund"}), S("send_back", "general_manager", {"reason": "x"})]]),
}


class Api:
    def __init__(self, client: TestClient, tokens: dict[str, str], app: CaseTrail) -> None:
        self.client = client
        self.tokens = tokens
        self.app = app

    def call(self, method: str, path: str, by: str, body: Any = None) -> Any:
        return self.client.request(method, path, json=body, headers={"Authorization": f"Bearer {self.tokens[by]}"})

    def open(self, case_type: str, by: str = "agent", fields: dict[str, Any] | None = None) -> Any:
        customer = CUSTOMERS.get(case_type, DEFAULT_CUSTOMER)
        return self.call("POST", "/v1/cases", by, {"type": case_type, "title": "case", "customer": customer,
                                                   "fields": fields if fields is not None else FIELDS.get(case_type, {})})

    def act(self, case_id: str, step: Step) -> Any:
        if step.on:
            view = self.call("GET", f"/v1/cases/{case_id}", "importer").json()
            case_id = next(x["case_id"] for x in view["links"] if x["rel"] == step.on)
        return self.call("POST", f"/v1/cases/{case_id}/actions/{step.action}", step.by, step.data)

    def drive(self, case_type: str, fields: dict[str, Any] | None, steps: list[Step]) -> str:
        r = self.open(case_type, fields=fields)
        assert r.status_code == 201, r.text
        case_id = r.json()["id"]
        for step in steps:
            r = self.act(case_id, step)
            assert r.status_code == 200, (case_type, step, r.text)
        return case_id

    def view(self, case_id: str, by: str) -> dict[str, Any]:
        r = self.call("GET", f"/v1/cases/{case_id}", by)
        assert r.status_code == 200, r.text
        return r.json()


@pytest.fixture
def api(database_url: str) -> Iterator[Api]:
    app = CaseTrail.from_url(database_url)
    staff = {role: [role] for role in ROLES} | {"asg": ["agent"], "tech_asg": ["technician"],
                                                "sm2": ["sales_manager"], "gm2": ["general_manager"],
                                                "boss": ["sales_manager", "general_manager"]}
    for staff_id, roles in staff.items():
        app.register_staff(staff_id, staff_id, "cs", roles)
    tokens = {staff_id: app.issue_token(staff_id) for staff_id in staff}
    with TestClient(create_app(app, configure_logs=False)) as client:
        yield Api(client, tokens, app)
    app.close()


def lookup(view: dict[str, Any], path: str) -> Any:
    value: Any = view
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def permitted_roles(spec: dict[str, Any], view: dict[str, Any]) -> set[str]:
    """Who may take the action now, by the published definition (importers always may)."""
    roles = set(spec["roles"]) | {"importer"}
    if spec.get("roles_by"):
        roles |= set(spec["roles_by"]["map"].get(lookup(view, spec["roles_by"]["field"]), []))
    approvals = view["approvals"]
    if spec.get("approval") == "grant":
        missing = approvals["missing"]
        roles |= set(missing[:1] if approvals["sequential"] else missing)
    elif spec.get("approval") == "reject":
        roles |= set(approvals["required"])
    return roles


def setups(paths: list[list[Step]], every: bool) -> Iterator[tuple[list[Step], Step]]:
    """(steps reaching a state that allows it, the step) for the first (or every) occurrence of each action."""
    seen = set()
    for path in paths:
        for i, step in enumerate(path):
            if (every or step.action not in seen) and not step.on:
                seen.add(step.action)
                yield path[:i], step


def attempt_all_roles(api: Api, case_type: str, fields: dict | None, prefix: list[Step], step: Step,
                      spec: dict[str, Any]) -> list[str]:
    """Try ``step`` as every role (and as the assignee); return a list of mismatches."""
    problems = []
    case_id = api.drive(case_type, fields, prefix)
    view = api.view(case_id, "importer")
    allowed = permitted_roles(spec, view)
    callers = [(role, role in allowed) for role in ROLES]
    assignee = view["assignee"]
    if spec["assignee"] and assignee:
        callers.append((assignee, True))
    for who, expected in sorted(callers, key=lambda c: c[1]):  # refusals first: they change nothing
        if expected:
            case_id = api.drive(case_type, fields, prefix)
        listed = step.action in api.view(case_id, who)["allowed_actions"]
        r = api.act(case_id, Step(step.action, who, step.data))
        ok = r.status_code in (200, 201) if expected else r.status_code == 403
        if not ok or listed != expected:
            problems.append(f"{case_type}.{step.action} by {who}: expected {'2xx' if expected else 403}"
                            f"{' and listed' if expected else ' and not listed'}, got {r.status_code}"
                            f" (listed={listed}): {r.text[:200]}")
    return problems


TYPES = [*PATHS, *VARIANTS]


@pytest.mark.parametrize("type_key", TYPES)
def test_every_role_on_every_action(api: Api, type_key: str) -> None:
    case_type, fields, paths = VARIANTS.get(type_key, (type_key, None, PATHS.get(type_key, [])))
    definition = api.call("GET", f"/v1/case-types/{case_type}", "reviewer").json()
    if type_key in PATHS:
        covered = {step.action for path in paths for step in path if not step.on}
        assert covered == set(definition["actions"]), "every action of the type must be exercised"
    problems: list[str] = []
    for role in ROLES:
        expected = role in definition["open_roles"] or role == "importer"
        r = api.open(case_type, by=role, fields=fields)
        if r.status_code != (201 if expected else 403):
            problems.append(f"{case_type} open by {role}: expected {'201' if expected else 403}, "
                            f"got {r.status_code}: {r.text[:200]}")
    for prefix, step in setups(paths, every=type_key in VARIANTS):
        problems += attempt_all_roles(api, case_type, fields, prefix, step, definition["actions"][step.action])
    assert not problems, "\n".join(problems)


def test_one_person_holding_two_roles_cannot_approve_twice(api: Api) -> None:
    fields = {"amount": "60000.00", "payment_terms": "credit"}
    case_id = api.drive("order_approval", fields, [S("submit", "agent"), S("approve", "boss")])
    r = api.act(case_id, S("approve", "boss"))
    assert r.status_code == 422 and "duplicate-approval" in r.json()["type"], r.text
    assert api.act(case_id, S("approve", "general_manager")).status_code == 200


def test_reviewer_reads_everything_and_writes_nothing(api: Api) -> None:
    case_id = api.drive("complaint", None, PATHS["complaint"][0][:3])
    reads = [f"/v1/cases/{case_id}", f"/v1/cases/{case_id}?version=2", f"/v1/cases/{case_id}/history",
             f"/v1/cases/{case_id}?as_of=2999-01-01T00:00:00Z", "/v1/case-types", "/v1/case-types/complaint",
             "/v1/events", "/v1/events?after=1&limit=2", "/v1/staff", "/v1/staff/agent"]
    for path in reads:
        assert api.call("GET", path, "reviewer").status_code == 200, path
    version = api.view(case_id, "reviewer")["version"]
    for case_type in PATHS:
        assert api.open(case_type, by="reviewer").status_code == 403
    for case_type, paths in PATHS.items():
        for path in paths:
            for step in path:
                r = api.call("POST", f"/v1/cases/{case_id}/actions/{step.action}", "reviewer", step.data)
                assert r.status_code == 403, (step, r.text)
    assert api.view(case_id, "reviewer")["version"] == version  # reads and refusals changed nothing
    reads = api.app.access_ledger.reads_of(case_id)  # ... but the reviewer's reads are on record
    assert [r["what"] for r in reads] == ["case", "case", "history", "case", "case", "case"]
    assert {r["actor"] for r in reads} == {"reviewer"} and reads[1]["detail"] == {"version": 2}

"""Test support: an application with a fake clock and one staff member per role.

``operator_folder`` writes an operator's case-type folder of a few files.
``World`` wraps ``CaseTrail`` (in memory for unit tests, or on a database
URL for integration tests) with a settable clock and staff named after
their roles (``agent``, ``agent2``, ``supervisor``, ``dept_head``, ...).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from domain.application import CaseTrail
from domain.model.actor import Actor
from domain.model.case import Case
from domain.storage.database import env_for_url

SHANGHAI = timezone(timedelta(hours=8))
# Monday 2026-11-16 10:00 Asia/Shanghai
START = datetime(2026, 11, 16, 10, 0, tzinfo=SHANGHAI)

# One staff member per role (the end-to-end tests' roster, tests/e2e/conftest.py), staff id: (department, roles).
ROLE_STAFF = {
    "agent": ("cs", ["agent"]),
    "agent2": ("cs", ["agent"]),
    "supervisor": ("cs", ["supervisor"]),
    "dept_head": ("cs", ["dept_head"]),
    "sales_manager": ("sales", ["sales_manager"]),
    "general_manager": ("office", ["general_manager"]),
    "technician": ("service", ["technician"]),
    "reviewer": ("compliance", ["reviewer"]),
    "importer": ("it", ["importer"]),
    "admin": ("it", ["admin"]),
}
# The in-process world's roster: the agent sits in a department of its own (so the department
# reports of "cs" count the others), plus a second technician and a boss with two roles.
STAFF = {**ROLE_STAFF, "agent": ("agent", ["agent"]), "technician2": ("service", ["technician"]),
         "boss": ("sales", ["sales_manager", "general_manager"])}

CUSTOMER = {"id": "C-1", "name": "王先生", "phone": "13800138000", "tier": "member"}
ORDER_CUSTOMER = {"id": "K-1", "name": "李记", "is_new": False}


# The procedure library's roles (tests/procedures): ``World(url, extra_staff=LIBRARY_STAFF)``.
LIBRARY_STAFF = {
    "finance_director": ("finance", ["finance_director"]),
    "cashier": ("finance", ["cashier"]),
    "project_manager": ("sales", ["project_manager"]),
    "quality_manager": ("quality", ["quality_manager"]),
    "sales_head": ("sales", ["dept_head"]),  # the sales department's head
    "seller": ("sales", ["agent"]),  # a salesperson (an employee of the sales department)
    "seller2": ("sales", ["agent"]),
}


def operator_folder(where: Path, files: Mapping[str, str]) -> Path:
    """An operator's case-type folder ``where/types`` holding ``files`` (file name: TOML text)."""
    path = where / "types"
    path.mkdir(exist_ok=True)
    for name, text in files.items():
        (path / name).write_text(text, encoding="utf-8")
    return path


class World:
    def __init__(self, url: str | None = None, extra_staff: dict[str, tuple[str, list[str]]] | None = None,
                 **kwargs: Any) -> None:
        self.now = START
        env = env_for_url(url) if url else {"PERSISTENCE_MODULE": "eventsourcing.popo"}
        self.app = CaseTrail(env, clock=lambda: self.now, **kwargs)
        self.staff = {**STAFF, **(extra_staff or {})}
        for staff_id, (dept, roles) in self.staff.items():
            self.app.register_staff(staff_id, staff_id.title(), dept, roles)

    def actor(self, staff_id: str) -> Actor:
        return self.app.get_staff(staff_id).as_actor()

    def advance(self, **delta: float) -> None:
        self.now = self.now + timedelta(**delta)

    def open(self, case_type: str, by: str = "agent", title: str = "Case", customer: Any = None,
             fields: Any = None) -> Case:
        if customer is None:
            customer = ORDER_CUSTOMER if case_type == "order_approval" else CUSTOMER
        return self.app.open_case(self.actor(by), case_type, title, customer, fields or {})

    def act(self, case: Case | str, action: str, by: str, data: Any = None, **kwargs: Any) -> Case:
        case_id = case.id if isinstance(case, Case) else case
        return self.app.act(self.actor(by), case_id, action, data or {}, **kwargs)

    def case(self, case_id: Any) -> Case:
        return self.app.get_case(case_id)

    def linked(self, case: Case, rel: str) -> Case:
        case = self.case(case.id)
        link = next(link for link in case.links if link["rel"] == rel)
        return self.case(link["case_id"])

    def clock_state(self, case: Case, name: str) -> str:
        view = self.case(case.id).view(None, None)
        return next(c["state"] for c in view["clocks"] if c["name"] == name)

    def stored_count(self, case: Case) -> int:
        return len(list(self.app.recorder.select_events(case.id)))


def complaint_to(world: World, state: str, severity: str = "general", customer: Any = None) -> Case:
    """Drive a complaint to ``state`` along the main path."""
    case = world.open("complaint", customer=customer, fields={"severity": severity})
    approver = {"general": "supervisor", "major": "dept_head", "crisis": "general_manager"}[severity]
    steps = [
        ("assigned", "assign", "supervisor", {"assignee": "agent"}),
        ("investigating", "start_investigation", "agent", {}),
        ("resolution_proposed", "propose_resolution", "agent", {"resolution": "replace the part"}),
        ("resolution_approved", "approve_resolution", approver, {}),
        ("replied", "reply_customer", "agent", {"reply": "we will replace it"}),
    ]
    for reached, action, by, data in steps:
        if case.status == state:
            break
        case = world.act(case, action, by, data)
        assert case.status == reached
    assert case.status == state
    return case

"""Who is acting, and the metadata every recorded event carries.

``Actor`` is a staff member (or a system process such as the SLA monitor)
with the roles it holds at the moment of the action. ``CommandContext`` holds
the request's correlation and causation ids and an importer's original
time. ``event_meta`` builds the metadata stored on each event: actor id,
roles at that moment, occurred-at, imported flag, correlation/causation ids.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

NAMESPACE = uuid5(NAMESPACE_URL, "https://casetrail.invalid/ids")

# The built-in roles (domain/model/case_types/_roles.toml is the catalog; operators add roles there).
ROLES = (
    "agent", "supervisor", "dept_head", "sales_manager", "general_manager",
    "technician", "reviewer", "importer", "admin",
    "employee", "finance_director", "cashier", "project_manager", "quality_manager",
    "order_printer", "warehouse_clerk",
)
READ_ONLY_ROLES = frozenset({"reviewer", "admin"})  # the built-in roles with acts = false
# Held implicitly by every staff member who may act on cases (not by system processes):
# a procedure any employee may start names it (「员工」: cash advance, referral registration).
EMPLOYEE = "employee"


def stable_id(kind: str, key: str) -> UUID:
    """A deterministic aggregate id (staff by staff id, tokens by hash, ...)."""
    return uuid5(NAMESPACE, f"{kind}:{key}")


@dataclass(frozen=True)
class Actor:
    id: str
    roles: tuple[str, ...]
    department: str = ""
    name: str = ""

    @classmethod
    def system(cls, process: str) -> Actor:
        return cls(id=f"system:{process}", roles=("system",), department="", name=process)

    @property
    def is_system(self) -> bool:
        return "system" in self.roles and self.id.startswith("system:")

    @property
    def is_importer(self) -> bool:
        return "importer" in self.roles

    def has_any(self, roles: Any) -> bool:
        wanted = set(roles)
        if EMPLOYEE in wanted and not self.is_system and self.may_act:
            return True
        return bool(set(self.roles) & wanted)

    @property
    def may_act(self) -> bool:
        return self.is_system or bool(set(self.roles) - READ_ONLY_ROLES)


@dataclass(frozen=True)
class CommandContext:
    correlation_id: str = ""
    causation_id: str = ""
    occurred_at: datetime | None = None  # importer only: the original time
    extra: dict[str, Any] = field(default_factory=dict)


def event_meta(actor: Actor, at: datetime, ctx: CommandContext, *, imported: bool = False) -> dict[str, Any]:
    return {
        "actor": actor.id,
        "roles": list(actor.roles),
        "occurred_at": at.isoformat(),
        "imported": imported,
        "correlation_id": ctx.correlation_id,
        "causation_id": ctx.causation_id,
    }


def typed(meta: dict[str, Any], ct: Any) -> dict[str, Any]:
    """Event metadata that names the version (content hash) of the case type the command was decided by."""
    return {**meta, "case_type_version": ct.digest}


# The actor of what the cross-case policies and the SLA passes do on their own.
POLICY = Actor.system("policy")

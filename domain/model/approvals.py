"""Approval chains: who must approve, computed from the case-type rules.

``compute_chain`` picks the first rule of the case type whose ``when``
matches the case (amount, payment terms, customer) and returns its steps
in order and whether they are sequential. A step of a chain is

- a role: ``"sales_manager"`` (any holder of the role);
- any of several roles: ``{ any_of = ["sales_manager", "general_manager"] }``;
- a role relative to the requester: ``{ role = "dept_head", of = "requester" }``
  (the head *of the requester's department*, 「由部门经理审核确认」);
- any of these with ``skip_when`` (a condition): the step is left out when
  it holds (recorded in ``skipped``).

The steps are recorded on the event that computed them (with the
requester's department resolved), so a later change of the rules or of the
staff directory never changes an existing case. ``ApprovalState`` answers
who may approve or reject now. Separation of duties: whoever opened or
submitted the case never approves it, and one person approves once per
chain (``domain.model.approving``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from domain.model.conditions import check_condition, matches
from domain.model.errors import CaseTypeError

if TYPE_CHECKING:
    from domain.model.casetype import CaseType

STEP_KEYS = {"role", "any_of", "of", "skip_when", "label"}


def check_chain(chain: Any, known_states: Any, where: str) -> None:
    """Validate a rule's ``chain`` when the file loads."""
    if not isinstance(chain, list):
        raise CaseTypeError(f"{where}: 'chain' must be a list of roles or step tables")
    for i, step in enumerate(chain):
        w = f"{where}.chain[{i}]"
        if isinstance(step, str):
            continue
        if not isinstance(step, Mapping) or set(step) - STEP_KEYS or ("role" in step) == ("any_of" in step):
            raise CaseTypeError(f"{w}: a step is a role, or a table with 'role' or 'any_of' "
                                f"(and optionally 'of' = \"requester\", 'skip_when')")
        if "any_of" in step and (not isinstance(step["any_of"], list) or len(step["any_of"]) < 2
                                 or not all(isinstance(r, str) for r in step["any_of"])):
            raise CaseTypeError(f"{w}.any_of: a list of at least two roles")
        if step.get("of") not in (None, "requester"):
            raise CaseTypeError(f"{w}.of: only \"requester\" (the requester's department)")
        if "skip_when" in step:
            check_condition(step["skip_when"], w + ".skip_when")


def step_roles(step: Any) -> list[str]:
    """The roles a chain step (as written in a file) names."""
    if isinstance(step, str):
        return [step]
    return list(step.get("any_of") or [step["role"]])


def _step(step: Any, requester_department: str | None) -> dict[str, Any]:
    roles = step_roles(step)
    name = step.get("label") if isinstance(step, Mapping) and step.get("label") else "|".join(roles)
    out: dict[str, Any] = {"name": name, "roles": roles}
    if isinstance(step, Mapping) and step.get("of") == "requester":
        out["department"] = requester_department or ""
    return out


def compute_chain(case_type: CaseType, context: Mapping[str, Any],
                  requester_department: str | None = None) -> dict[str, Any]:
    for index, rule in enumerate(case_type.approvals):
        if matches(rule.get("when"), context):
            steps, skipped = [], []
            for raw in rule["chain"]:
                step = _step(raw, requester_department)
                if isinstance(raw, Mapping) and "skip_when" in raw and matches(raw["skip_when"], context):
                    skipped.append(step["name"])
                else:
                    steps.append(step)
            plain = all(s["roles"] == [s["name"]] and "department" not in s for s in steps)
            return {
                "required": [s["name"] for s in steps],
                "sequential": bool(rule.get("sequential", False)),
                "rule": index,
                **({} if plain else {"steps": steps}),
                **({"skipped": skipped} if skipped else {}),
            }
    return {"required": [], "sequential": False, "rule": None}


@dataclass(frozen=True)
class ApprovalState:
    required: tuple[str, ...]
    sequential: bool
    granted: tuple[Mapping[str, Any], ...]  # {"role" (the step's name), "by", "at"}
    steps: tuple[Mapping[str, Any], ...] = ()  # {"name", "roles", "department"?}

    @classmethod
    def of(cls, approvals: Mapping[str, Any]) -> ApprovalState:
        required = tuple(approvals.get("required", ()))
        steps = tuple(approvals.get("steps") or ({"name": r, "roles": [r]} for r in required))
        return cls(
            required=required,
            sequential=bool(approvals.get("sequential", False)),
            granted=tuple(approvals.get("granted", ())),
            steps=steps,
        )

    @property
    def granted_roles(self) -> list[str]:
        return [g["role"] for g in self.granted]

    @property
    def missing(self) -> list[str]:
        done = set(self.granted_roles)
        return [r for r in self.required if r not in done]

    @property
    def complete(self) -> bool:
        return not self.missing

    def _open_steps(self) -> list[Mapping[str, Any]]:
        missing = self.missing
        steps = [s for s in self.steps if s["name"] in missing]
        return steps[:1] if self.sequential else steps

    def grantable_roles(self) -> list[str]:
        """Roles that may approve now (the next step only, if sequential)."""
        return list(dict.fromkeys(r for s in self._open_steps() for r in s["roles"]))

    def step_for(self, roles: Any, department: str) -> str | None:
        """The step a staff member with ``roles`` in ``department`` may grant now, if any."""
        for step in self._open_steps():
            if set(roles) & set(step["roles"]) and step.get("department") in (None, department):
                return str(step["name"])
        return None

    def may_reject(self, roles: Any, department: str) -> bool:
        """A required approver (of any step of the chain, granted or not) may reject."""
        return any(set(roles) & set(s["roles"]) and s.get("department") in (None, department) for s in self.steps)

    def describe_open(self) -> list[str]:
        """The open steps for people: ``dept_head (of department sales)``, ``sales_manager|general_manager``."""
        return [s["name"] + (f" (of department {s['department']})" if s.get("department") is not None else "")
                for s in self._open_steps()]

    def has_approved(self, staff_id: str) -> bool:
        return any(g["by"] == staff_id for g in self.granted)

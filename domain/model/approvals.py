"""Approval chains: which roles must approve, computed from the case-type rules.

``compute_chain`` picks the first rule of the case type whose ``when``
matches the case (amount, payment terms, customer), and returns the ordered
chain and whether it is sequential. The chain is recorded on the event that
computed it, so a later change of the rules never changes an existing case.
``ApprovalState`` answers who may approve or reject now.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from domain.model.casetype import CaseType
from domain.model.conditions import matches


def compute_chain(case_type: CaseType, context: Mapping[str, Any]) -> dict[str, Any]:
    for index, rule in enumerate(case_type.approvals):
        if matches(rule.get("when"), context):
            return {
                "required": list(rule["chain"]),
                "sequential": bool(rule.get("sequential", False)),
                "rule": index,
            }
    return {"required": [], "sequential": False, "rule": None}


@dataclass(frozen=True)
class ApprovalState:
    required: tuple[str, ...]
    sequential: bool
    granted: tuple[Mapping[str, Any], ...]  # {"role", "by", "at"}

    @classmethod
    def of(cls, approvals: Mapping[str, Any]) -> ApprovalState:
        return cls(
            required=tuple(approvals.get("required", ())),
            sequential=bool(approvals.get("sequential", False)),
            granted=tuple(approvals.get("granted", ())),
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

    def grantable_roles(self) -> list[str]:
        """Roles that may approve now (the next one only, if sequential)."""
        missing = self.missing
        return missing[:1] if self.sequential else missing

    def has_approved(self, staff_id: str) -> bool:
        return any(g["by"] == staff_id for g in self.granted)

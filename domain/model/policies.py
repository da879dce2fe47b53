"""Cross-case policies, as the case-type files declare them.

- ``follow_ups``: an action (a complaint's ``reply_customer``, a repair
  order's ``complete``, an inquiry's ``convert``) opens a linked case (a
  return visit, a complaint). Mandatory when ``mandatory_when`` matches
  (member and VIP customers), otherwise sampled at ``sample_rate``
  (deterministically, by case id).
- ``report_outcome``: when a linked case ends (a return visit ``done`` or
  ``unreachable``) its origin records the outcome, and ``on_linked_outcome``
  may take a further action there (``reopen`` a complaint, ``rework`` a
  repair order when the customer was unsatisfied).

The application runs these in the same transaction as the triggering action,
with the system actor ``system:policy`` and the triggering event as causation.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from domain.model.case import Case
from domain.model.casetype import CaseType
from domain.model.conditions import lookup, matches


@dataclass(frozen=True)
class FollowUp:
    rule_index: int
    open_type: str
    link: str
    title: str
    customer: dict[str, Any]
    fields: dict[str, Any]
    back_link: str = "origin"  # the relation the new case names this one by


def _sampled(case: Case, rate: Decimal) -> bool:
    if rate >= 1:
        return True
    digest = hashlib.sha256(str(case.id).encode()).digest()
    return Decimal(int.from_bytes(digest[:4], "big")) / Decimal(2**32) < rate


def _resolve(ref: Any, case: Case) -> Any:
    if not isinstance(ref, str):
        return ref
    if ref == "@type":
        return case.case_type
    if ref == "@number":
        return case.number
    if ref == "@id":
        return str(case.id)
    if ref.split(".", 1)[0] in ("fields", "customer", "counters"):
        return lookup(case.context(), ref)
    return ref


def follow_ups_for(case: Case, ct: CaseType, action: str, target_types: Mapping[str, CaseType]) -> list[FollowUp]:
    """The linked cases ``action`` opens, with their titles, customers and fields."""
    out = []
    for index, rule in enumerate(ct.follow_ups):
        if rule.get("after") != action or not matches(rule.get("when"), case.context()):
            continue
        target = target_types[rule["open"]]
        mandatory = matches(rule["mandatory_when"], case.context()) if "mandatory_when" in rule else True
        if not mandatory and not _sampled(case, Decimal(str(rule.get("sample_rate", "1")))):
            continue
        fields = {k: _resolve(v, case) for k, v in (rule.get("fields") or {}).items()}
        if "mandatory" in target.fields:
            fields["mandatory"] = mandatory
        fields = {k: v for k, v in fields.items() if k in target.fields and v is not None}
        customer = {k: v for k, v in case.customer.items() if k in target.customer}
        title = str(rule.get("title", "{title}")).format(
            number=case.number, title=case.title, type=case.case_type
        )[:200]
        out.append(FollowUp(index, rule["open"], rule.get("link", rule["open"]), title, customer, fields,
                            str(rule.get("back_link", "origin"))))
    return out


def outcome_to_report(case: Case, ct: CaseType, previous_status: str) -> str | None:
    """The outcome a just-ended linked case reports to its origin, if any."""
    spec = ct.report_outcome
    if not spec or case.status == previous_status or case.status not in spec.get("states", []):
        return None
    by_state = spec.get("by_state") or {}
    if case.status in by_state:
        return str(by_state[case.status])
    value = lookup(case.context(), spec.get("field", "fields.result"))
    return None if value is None else str(value)


def origin_link(case: Case) -> Mapping[str, Any] | None:
    return next((link for link in case.links if link["rel"] == "origin"), None)


def follow_action_data(ct: CaseType, action: str, reason: str) -> dict[str, Any]:
    """Fields for a policy-triggered action: a reason, if the action takes one."""
    spec = ct.action(action)
    return {"reason": reason} if spec and "reason" in spec.fields else {}

"""Approving a case: who may grant or reject now, and what a grant records.

``check_approver`` enforces separation of duties before an approval action
is decided: whoever opened or submitted the case never approves it, one
person approves once per chain, and only an approver the chain needs now
(``domain.model.approvals.ApprovalState``) may grant or reject. An
importer's grant names its original approver, and is checked the same way.
``plan_approvals`` is what the action records: the chain an action computes
from the case-type rules (with the requester), or the chain with one more
grant.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from domain.model.actor import Actor
from domain.model.approvals import ApprovalState, compute_chain
from domain.model.casetype import ActionSpec, CaseType
from domain.model.errors import ApprovalNotAllowed, DuplicateApproval


def check_approver(approvals: Mapping[str, Any], requesters: set[str], case_type: str, spec: ActionSpec,
                   actor: Actor, who: str) -> None:
    """Refuse a grant or rejection that separation of duties forbids: the requester never
    approves, one person approves once per chain, only a required approver acts now; an
    importer's grant names its original approver (``who``)."""
    state = ApprovalState.of(approvals)
    if spec.approval == "grant" and (actor.is_system or actor.is_importer):
        if not state.missing:
            raise ApprovalNotAllowed("every required approval is granted already", required=list(state.required))
        if actor.is_importer and state.has_approved(who):  # an import names the original approver
            raise DuplicateApproval(f"{who} already approved this case; one person may not approve twice "
                                    "in one chain", granted=list(state.granted))
        return
    if actor.is_system or actor.is_importer:
        return
    if spec.approval == "grant":
        if actor.id in requesters:
            raise ApprovalNotAllowed(
                f"{actor.id} opened or submitted this {case_type} and may not approve it",
                required=list(state.required), missing=state.missing)
        if state.has_approved(actor.id):
            raise DuplicateApproval(
                f"{actor.id} already approved this case; one person may not approve twice in one chain",
                granted=list(state.granted))
        if state.step_for(actor.roles, actor.department) is None:
            raise ApprovalNotAllowed(
                f"approval by {list(actor.roles)} of department {actor.department!r} is not required now; "
                f"the chain needs {state.describe_open()} (required {list(state.required)}, "
                f"granted {state.granted_roles})",
                required=list(state.required), missing=state.missing)
    elif not state.may_reject(actor.roles, actor.department):
        raise ApprovalNotAllowed(f"only a required approver {state.describe_open()} may reject",
                                 required=list(state.required))


def plan_approvals(ct: CaseType, spec: ActionSpec, actor: Actor, at: datetime, context: Mapping[str, Any],
                   approvals: Mapping[str, Any], meta: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
    """The approvals the action records: a chain it computes (``computes_approvals``), the
    chain with one more grant (``approval = "grant"``), or None when it leaves them."""
    if spec.computes_approvals:
        chain = compute_chain(ct, context, actor.department)
        return {**chain, "granted": [], "requested_by": actor.id, "requester_department": actor.department}
    if spec.approval == "grant":
        state = ApprovalState.of(approvals)
        grantable = state.missing[:1] if state.sequential else state.missing
        role = state.step_for(actor.roles, actor.department) or (grantable[0] if grantable else "system")
        who = str(meta.get("original_actor") or actor.id) if meta is not None else actor.id
        granted = list(state.granted) + [{"role": role, "by": who, "at": at.isoformat()}]
        return {**approvals, "granted": granted}
    return None

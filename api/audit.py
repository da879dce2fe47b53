"""GET /v1/audit/verify: recompute hash chains and compare with the last checkpoint.

Readable by reviewers, department heads, general managers and admins; each
call is recorded in the access ledger. The report is ``domain.audit.verification.verify``'s.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api import openapi as oa
from api import params
from api.auth import authenticate
from api.negotiation import render
from api.problems import Problem
from domain.audit.access import record_read
from domain.audit.verification import audit_key, verify
from domain.model.actor import CommandContext

VERIFY_ROLES = {"reviewer", "dept_head", "general_manager", "admin"}


def _verify(request: Request, actor: Any, case_id: str | None) -> dict[str, Any]:
    app = request.app.state.casetrail
    report = verify(app, case_id or None, key=audit_key()).as_dict()
    ctx = CommandContext(correlation_id=getattr(request.state, "request_id", "") or "")
    record_read(app, actor, "audit-verify", case_id or "all", {"ok": str(report["ok"])}, ctx)
    return report


async def audit_verify(request: Request) -> Response:
    actor = await authenticate(request)
    if not set(actor.roles) & VERIFY_ROLES:
        raise Problem(403, f"audit verify is visible to roles {sorted(VERIFY_ROLES)}", kind="forbidden",
                      title="Role not allowed", allowed_roles=sorted(VERIFY_ROLES))
    params.only(request, "case_id")
    case_id = request.query_params.get("case_id")
    if case_id is not None and not (0 < len(case_id) <= 64):
        raise Problem(400, "case_id must be 1-64 characters", kind="bad-request", title="Bad request")
    report = await run_in_threadpool(_verify, request, actor, case_id)
    return render(request, report)


routes = [Route("/v1/audit/verify", audit_verify, methods=["GET"])]

PROBLEM_KIND = {"type": "object", "properties": {
    "case_id": {"type": ["string", "null"]}, "version": {"type": ["integer", "null"]},
    "kind": {"type": "string"}, "detail": {"type": "string"}}, "required": ["case_id", "version", "kind"]}
REPORT = {"type": "object", "required": ["ok", "cases_checked", "events_checked", "problems"], "properties": {
    "ok": {"type": "boolean"}, "cases_checked": {"type": "integer"}, "events_checked": {"type": "integer"},
    "problems": {"type": "array", "items": PROBLEM_KIND},
    "checkpoint": {"type": ["object", "null"]}, "warnings": {"type": "array"}}}

paths = {
    "/v1/audit/verify": {"get": oa.operation(
        "auditVerify", "Verify hash chains and the last signed checkpoint", tag="audit",
        description="Integrity (altered, reordered) and completeness (missing, truncated, case_missing, "
                    "head_mismatch) problems, each naming case and version.",
        parameters=[oa.query("case_id", {"type": "string", "maxLength": 64}, "only this case")],
        responses={"200": {"description": "The verification report", "content": oa.content(REPORT)}},
        problems=[400, 403, 404])},
}

"""The audit endpoints: verify, the checkpoint chain, the public key.

- ``GET /v1/audit/verify``: recompute every hash chain and check the signed
  checkpoint chain (public key: ``CASETRAIL_PUBLIC_KEY`` or the signing key's)
  and the witness (``CASETRAIL_WITNESS`` or the default file, if present);
  the report is ``domain.audit.verification.verify``'s.
- ``GET /v1/audit/checkpoints``: the checkpoint sequence (number, time,
  positions, root, previous checkpoint's hash, key id, signature).
- ``GET /v1/audit/public-key``: the PEM public key that verifies them; public,
  no token needed (``Accept: application/x-pem-file`` gives the bare PEM).

Verify and checkpoints are readable by reviewers, department heads, general
managers and admins; each call is recorded in the access ledger.
"""

from __future__ import annotations

import os
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from api import openapi as oa
from api import params
from api.auth import authenticate
from api.negotiation import render
from api.problems import Problem
from api.threads import in_thread
from domain.audit.access import record_read
from domain.audit.ledger import read_ledger
from domain.audit.proofs import key_id, public_record
from domain.audit.signing import public_key_for, public_pem, url_of
from domain.audit.verification import audit_key, verify
from domain.audit.witness import WITNESS_ENV, witness_path
from domain.model.actor import CommandContext

VERIFY_ROLES = {"reviewer", "dept_head", "general_manager", "admin"}


def _public_key(app: Any) -> Any:
    return public_key_for(url=url_of(app.env))


def _witness(app: Any) -> str | None:
    path = witness_path(url=url_of(app.env))
    return path if os.environ.get(WITNESS_ENV) or os.path.exists(path) else None


def _verify(request: Request, actor: Any, case_id: str | None, incremental: bool = False) -> dict[str, Any]:
    app = request.app.state.casetrail
    report = verify(app, case_id or None, key=audit_key(), public_key=_public_key(app),
                    witness=_witness(app), since_checkpoint=incremental).as_dict()
    ctx = CommandContext(correlation_id=getattr(request.state, "request_id", "") or "")
    record_read(app, actor, "audit-verify", case_id or "all", {"ok": str(report["ok"])}, ctx)
    return report


async def audit_verify(request: Request) -> Response:
    actor = await authenticate(request)
    _require_auditor(actor, "audit verify")
    params.only(request, "case_id", "incremental")
    case_id = request.query_params.get("case_id")
    if case_id is not None and not (0 < len(case_id) <= 64):
        raise Problem(400, "case_id must be 1-64 characters", kind="bad-request", title="Bad request")
    incremental = request.query_params.get("incremental")
    if incremental not in (None, "true", "false"):
        raise Problem(400, f"incremental must be true or false, got {incremental[:40]!r}", kind="bad-request",
                      title="Bad request")
    report = await in_thread(_verify, request, actor, case_id, incremental == "true")
    return render(request, report)


def _require_auditor(actor: Any, what: str) -> None:
    if not set(actor.roles) & VERIFY_ROLES:
        raise Problem(403, f"{what} is visible to roles {sorted(VERIFY_ROLES)}", kind="forbidden",
                      title="Role not allowed", allowed_roles=sorted(VERIFY_ROLES))


def _checkpoints(request: Request, actor: Any, after: int, limit: int) -> dict[str, Any]:
    app = request.app.state.casetrail
    ledger = read_ledger(app)
    chain = [public_record(c) for c in (ledger.checkpoints if ledger else []) if int(c["seq"]) > after]
    ctx = CommandContext(correlation_id=getattr(request.state, "request_id", "") or "")
    record_read(app, actor, "audit-checkpoints", "audit-checkpoints", {"after": str(after)}, ctx)
    page = chain[:limit]
    return {"items": page, "next_after": page[-1]["seq"] if len(chain) > limit else None}


async def audit_checkpoints(request: Request) -> Response:
    actor = await authenticate(request)
    _require_auditor(actor, "the checkpoint chain")
    params.only(request, "after", "limit")
    try:
        after = int(request.query_params.get("after", "0"))
        limit = int(request.query_params.get("limit", "100"))
    except ValueError:
        raise Problem(400, "after and limit must be integers", kind="bad-request", title="Bad request") from None
    if after < 0 or not 1 <= limit <= 1000 or after > 2**62:
        raise Problem(400, "after >= 0 and 1 <= limit <= 1000", kind="bad-request", title="Bad request")
    return render(request, await in_thread(_checkpoints, request, actor, after, limit))


async def audit_public_key(request: Request) -> Response:
    params.only(request)
    key = await in_thread(_public_key, request.app.state.casetrail)
    if key is None:
        raise Problem(404, "no signing key yet: it is made when the server starts its workers or on the first "
                      "`casetrail audit checkpoint` (or set CASETRAIL_PUBLIC_KEY)", kind="not-found",
                      title="No public key")
    pem = public_pem(key)
    if "application/x-pem-file" in request.headers.get("accept", ""):
        return PlainTextResponse(pem, media_type="application/x-pem-file")
    return render(request, {"algorithm": "Ed25519", "key_id": key_id(key), "pem": pem})


routes = [Route("/v1/audit/verify", audit_verify, methods=["GET"]),
          Route("/v1/audit/checkpoints", audit_checkpoints, methods=["GET"]),
          Route("/v1/audit/public-key", audit_public_key, methods=["GET"])]

PROBLEM_KIND = {"type": "object", "properties": {
    "case_id": {"type": ["string", "null"]}, "version": {"type": ["integer", "null"]},
    "kind": {"type": "string"}, "detail": {"type": "string"}}, "required": ["case_id", "version", "kind"]}
REPORT = {"type": "object", "required": ["ok", "cases_checked", "events_checked", "problems"], "properties": {
    "ok": {"type": "boolean"}, "cases_checked": {"type": "integer"}, "events_checked": {"type": "integer"},
    "problems": {"type": "array", "items": PROBLEM_KIND},
    "checkpoint": {"type": ["object", "null"]}, "warnings": {"type": "array"},
    "checkpoints": {"type": "integer"}, "witness": {"type": ["object", "null"]}, "gaps": {"type": "array"},
    "access_events_checked": {"type": "integer"}, "aggregates_checked": {"type": "integer"},
    "mode": {"enum": ["full", "incremental"]}, "since": {"type": ["object", "null"]}}}
CHECKPOINT = {"type": "object", "required": ["seq", "at", "root", "signature"], "properties": {
    "ledger_id": {"type": "string"}, "seq": {"type": "integer"}, "at": {"type": "string"},
    "position": {"type": "integer"}, "access_position": {"type": ["integer", "null"]},
    "count": {"type": "integer"}, "root": {"type": "string"}, "prev": {"type": ["string", "null"]},
    "key_id": {"type": ["string", "null"]}, "scheme": {"type": ["string", "null"]},
    "signature": {"type": "string"}}}
PUBLIC_KEY = {"type": "object", "required": ["algorithm", "key_id", "pem"], "properties": {
    "algorithm": {"type": "string", "enum": ["Ed25519"]}, "key_id": {"type": "string"}, "pem": {"type": "string"}}}

paths = {
    "/v1/audit/verify": {"get": oa.operation(
        "auditVerify", "Verify hash chains and the last signed checkpoint", tag="audit",
        description="Integrity (altered, reordered) and completeness (missing, truncated, case_missing, "
                    "head_mismatch) problems, each naming case and version.",
        parameters=[oa.query("case_id", {"type": "string", "maxLength": 64}, "only this case"),
                    oa.query("incremental", {"enum": ["true", "false"]},
                             "only the events since the last valid checkpoint and each signed head "
                             "(mode incremental); the full verify also finds an old edit that was not re-chained")],
        responses={"200": {"description": "The verification report", "content": oa.content(REPORT)}},
        problems=[400, 403, 404])},
    "/v1/audit/checkpoints": {"get": oa.operation(
        "auditCheckpoints", "The signed checkpoint chain", tag="audit",
        description="Each checkpoint: sequence number, time, notification positions covered, Merkle root over "
                    "every chain head, the previous checkpoint's hash, the key id and the Ed25519 signature "
                    "(legacy HMAC checkpoints: scheme hmac-sha256, no prev).",
        parameters=[oa.query("after", {"type": "integer", "minimum": 0}, "only checkpoints after this number"),
                    oa.query("limit", {"type": "integer", "minimum": 1, "maximum": 1000}, "page size (100)")],
        responses={"200": {"description": "A page of checkpoints", "content": oa.content({
            "type": "object", "required": ["items"], "properties": {
                "items": {"type": "array", "items": CHECKPOINT}, "next_after": {"type": ["integer", "null"]}}})}},
        problems=[400, 403])},
    "/v1/audit/public-key": {"get": oa.operation(
        "auditPublicKey", "The public key that verifies the checkpoints", tag="audit", auth=False,
        description="Ed25519, PEM (SubjectPublicKeyInfo). Accept: application/x-pem-file gives the PEM alone.",
        responses={"200": {"description": "The public key", "content": {
            **oa.content(PUBLIC_KEY), "application/x-pem-file": {"schema": {"type": "string"}}}}},
        problems=[404, 503])},
}

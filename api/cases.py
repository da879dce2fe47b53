"""Case endpoints: open a case, show it (now or as it stood), act on it, its history.

Each handler authenticates, parses and checks what the HTTP layer owns
(body shape, headers, query parameters, path ids), then runs the domain use
case in a worker thread (the application is synchronous) and renders the
case view for the caller. Writes carry ``ETag``, ``X-Casetrail-Position``
and, when an ``Idempotency-Key`` replays an earlier request,
``Idempotent-Replayed: true`` with the original status. A reviewer's reads
of a case or its history are recorded in the access ledger
(``domain.audit.access``), never on the case.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from uuid import UUID

import structlog
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api import openapi as oa
from api import params, validation
from api.auth import authenticate, authenticate_writer, authenticated, bearer_token
from api.negotiation import canonical, parse, read_body, read_raw, render
from api.problems import Problem, bad_request, invalid
from api.threads import in_thread
from domain.application import CaseTrail, CommandResult
from domain.audit.access import record_read
from domain.model.actor import Actor, CommandContext
from domain.model.case import Case
from domain.model.errors import UnknownAction, VersionConflict
from domain.model.idempotency import fingerprint

MAX_VERSION = 2**31 - 1


def casetrail(request: Request) -> CaseTrail:
    return request.app.state.casetrail


CASE_NUMBER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{2,40}$")


def case_id_param(request: Request) -> UUID:
    """The case a ``{case_id}`` path names: its id (a UUID) or its number (``TS-202612-0001``; ids derive
    from numbers, so a number needs no lookup — an unknown one is a 404 like an unknown id)."""
    raw = request.path_params["case_id"]
    try:
        case_id = UUID(raw)
    except ValueError:
        if not CASE_NUMBER.match(raw):
            raise bad_request(f"{raw[:80]!r} is neither a case id (a UUID) nor a case number") from None
        case_id = Case.create_id(raw)
    structlog.contextvars.bind_contextvars(case_id=str(case_id))
    return case_id


def if_match(request: Request) -> int | None:
    raw = request.headers.get("if-match")
    if raw is None or raw.strip() == "*":
        return None
    text = raw.strip()
    if text.startswith("W/"):
        text = text[2:]
    text = text.strip('"')
    version = params.digits(text)
    if version is None or version > MAX_VERSION:
        raise bad_request(f'If-Match must be a case version like "3", got {raw[:40]!r}')
    return version


def command_context(request: Request, occurred_at: Any = None) -> CommandContext:
    return CommandContext(correlation_id=request.state.request_id, occurred_at=occurred_at)


def idempotency(request: Request, body: Any, *extra: Any) -> tuple[str, str] | None:
    key = request.headers.get("idempotency-key")
    if key is None:
        return None
    if not 0 < len(key) <= 255 or not all(33 <= ord(c) <= 126 for c in key):
        raise bad_request("Idempotency-Key must be 1-255 visible ASCII characters")
    return key, fingerprint(request.method, request.url.path, canonical(body), *extra)


def case_headers(case: Case) -> dict[str, str]:
    return {"ETag": f'"{case.version}"'}


def view(app: CaseTrail, case: Case, actor: Actor) -> dict[str, Any]:
    return case.view(app.registry.get(case.case_type), actor)


async def write_response(request: Request, app: CaseTrail, result: CommandResult, actor: Actor, status: int,
                         *, location: bool = False) -> Response:
    case, replayed, position = result.case, result.replayed_status, result.position
    headers = case_headers(case)
    if position is None:
        position = await in_thread(app.recorder.max_notification_id)
    headers["X-Casetrail-Position"] = str(position or 0)
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    if location:
        headers["Location"] = f"/v1/cases/{case.id}"
    return render(request, view(app, case, actor), status=replayed or status, headers=headers)


async def record_review(request: Request, actor: Actor, case_id: UUID, what: str, detail: dict[str, Any]) -> None:
    """A reviewer's read goes to the access ledger (never to the case: reading changes no version)."""
    if "reviewer" not in actor.roles:
        return
    detail = {k: v.isoformat() if isinstance(v, datetime) else v for k, v in detail.items() if v is not None}
    await in_thread(record_read, casetrail(request), actor, case_id, what, detail, command_context(request))


# -------------------------------------------------------------------- handlers
async def open_case(request: Request) -> Response:
    app = casetrail(request)
    actor = await authenticate_writer(request)
    params.only(request)
    body = await read_body(request)
    if not isinstance(body, dict):
        raise invalid("the body must be an object: {\"type\", \"title\", \"customer\", \"fields\", ...}")
    # every problem at once: the HTTP layer's and, when it finds one, the domain's (api.validation)
    occurred_at = await in_thread(validation.check_open, app, body)
    idem = idempotency(request, body)
    result = await in_thread(
        app.open, actor, body["type"], body.get("title"), body.get("customer"), body.get("fields"),
        body.get("channel"), ctx=command_context(request, occurred_at), idempotency=idem)
    structlog.contextvars.bind_contextvars(case_id=str(result.case.id))
    return await write_response(request, app, result, actor, 201, location=True)


async def get_case(request: Request) -> Response:
    app = casetrail(request)
    actor = await authenticate(request)
    case_id = case_id_param(request)
    params.only(request, "as_of", "version")
    as_of = params.time_param(request, "as_of")
    version = params.int_param(request, "version", None, 1, MAX_VERSION)
    if version is not None:
        case = await in_thread(app.get_case, case_id, version)
        if case.version != version:
            raise Problem(404, f"case {case_id} has no version {version}; it is at version {case.version}",
                          kind="not-found", title="Case not found", current_version=case.version)
        if as_of is not None and datetime.fromisoformat(case.updated_at) > as_of:
            raise Problem(404, f"version {version} of case {case_id} was recorded after {as_of.isoformat()}",
                          kind="not-found", title="Case not found")
    elif as_of is not None:
        case = await in_thread(app.get_case_as_of, case_id, as_of)
    else:
        case = await in_thread(app.get_case, case_id)
    await record_review(request, actor, case_id, "case", {"as_of": as_of, "version": version})
    headers = case_headers(case)
    if not_modified(request, headers["ETag"]):  # the caller holds this version already
        return Response(status_code=304, headers=headers)
    return render(request, view(app, case, actor), headers=headers)


def not_modified(request: Request, etag: str) -> bool:
    """``If-None-Match`` names the current ETag (or ``*``; weak tags compare by their value)."""
    raw = request.headers.get("if-none-match")
    if raw is None:
        return False
    tags = {t.strip().removeprefix("W/") for t in raw.split(",")}
    return "*" in tags or etag in tags


async def take_action(request: Request) -> Response:
    """An action on a case, in one trip to the thread pool (``api.threads``): authenticate, check the
    request, decide and save. The body is read first but its problems (413, a broken upload) wait
    for the caller to be known, so an unauthenticated request still gets its 401 first."""
    app = casetrail(request)
    token = bearer_token(request)
    unread: Problem | None = None
    try:
        raw = await read_raw(request)
    except Problem as e:
        raw, unread = b"", e

    def command() -> tuple[Actor, CommandResult]:
        actor = authenticated(request, token, writer=True)
        case_id = case_id_param(request)
        params.only(request)
        action = request.path_params["action"]
        if len(action) > 64:
            raise UnknownAction(f"no action {action[:64]!r}...")
        if unread is not None:
            raise unread
        body = parse(raw, request.headers.get("content-type"))
        if body is None:
            body = {}
        if not isinstance(body, dict):
            raise invalid(f"{action}: the body must be an object of the action's fields")
        data = dict(body)
        errors: list[dict[str, str]] = []
        expected = data.pop("expected_version", None)
        if expected is not None and (isinstance(expected, bool) or not isinstance(expected, int)
                                     or not 0 <= expected <= MAX_VERSION):
            errors.append({"field": "expected_version", "problem": f"must be an integer from 0 to {MAX_VERSION}"})
            expected = None
        occurred_at = validation.time_member(data, "occurred_at", errors)
        data.pop("occurred_at", None)
        if errors:  # with the action's own field problems, in one refusal
            errors += validation.action_problems(app, case_id, action, data)
            raise validation.refusal(f"{action}: invalid fields", errors)
        header_version = if_match(request)
        if header_version is not None and expected is not None and header_version != expected:
            current = app.get_case(case_id).version
            raise VersionConflict(f"If-Match says version {header_version}, expected_version says {expected}; "
                                  f"the case is at version {current}", current_version=current)
        expected = header_version if header_version is not None else expected
        idem = idempotency(request, body, header_version)
        return actor, app.take_action(actor, case_id, action, data, expected_version=expected,
                                      ctx=command_context(request, occurred_at), idempotency=idem)

    actor, result = await in_thread(command)
    return await write_response(request, app, result, actor, 200)


async def case_history(request: Request) -> Response:
    app = casetrail(request)
    actor = await authenticate(request)
    case_id = case_id_param(request)
    params.only(request)
    items = await in_thread(app.case_history, case_id)
    await record_review(request, actor, case_id, "history", {"events": len(items)})
    return render(request, {"case_id": str(case_id), "items": items})


routes = [
    Route("/v1/cases", open_case, methods=["POST"]),
    Route("/v1/cases/{case_id}", get_case, methods=["GET"]),
    Route("/v1/cases/{case_id}/actions/{action}", take_action, methods=["POST"]),
    Route("/v1/cases/{case_id}/history", case_history, methods=["GET"]),
]

# ----------------------------------------------------------------------- OpenAPI
WRITE_HEADERS = {"ETag": oa.ETAG_HEADER, "X-Casetrail-Position": oa.POSITION_HEADER}
CASE_VIEW = oa.content(oa.ref("CaseView"))
# what a client does next with a new case (OpenAPI links; schemathesis's stateful checks follow them)
CASE_LINKS = {name: {"operationId": op, "parameters": {"case_id": "$response.body#/id"},
                     "description": description}
              for name, op, description in (("GetCase", "getCase", "the case, by its id"),
                                            ("TakeAction", "takeAction", "an action on the case"),
                                            ("CaseHistory", "caseHistory", "the case's events"))}

paths = {
    "/v1/cases": {"post": oa.operation(
        "openCase", "Open a case", tag="cases",
        description="Opens a case of any type. `occurred_at` may only be given by an importer.",
        parameters=[oa.IDEMPOTENCY_KEY], body=oa.ref("CaseCreate"),
        responses={"201": {"description": "The new case", "content": CASE_VIEW, "links": CASE_LINKS, "headers": {
            **WRITE_HEADERS, "Location": {"schema": {"type": "string"}, "description": "/v1/cases/{id}"}}},
                   "200": {"description": "An idempotent replay whose original answer was 200",
                           "content": CASE_VIEW, "headers": WRITE_HEADERS}},
        problems=[400, 403, 409, 413, 415, 422])},
    "/v1/cases/{case_id}": {"get": oa.operation(
        "getCase", "Show a case", tag="cases",
        description="The case now, or rebuilt from its events as it stood `as_of` a time or at a `version`. "
                    "With `If-None-Match: \"<version>\"` naming the current ETag: 304 and no body.",
        parameters=[oa.CASE_ID,
                    {"name": "If-None-Match", "in": "header", "required": False, "schema": {"type": "string"},
                     "description": "the ETag the caller holds"},
                    oa.query("as_of", {"type": "string", "format": "date-time"}, "RFC 3339 time"),
                    oa.query("version", {"type": "integer", "minimum": 1, "maximum": MAX_VERSION},
                             "a version of the case (with as_of: 404 unless recorded by then)")],
        responses={"200": {"description": "The case view", "content": CASE_VIEW,
                           "headers": {"ETag": oa.ETAG_HEADER}},
                   "304": {"description": "Not modified: the caller's ETag is the case's current version",
                           "headers": {"ETag": oa.ETAG_HEADER}}},
        problems=[400, 404, 422])},
    "/v1/cases/{case_id}/actions/{action}": {"post": oa.operation(
        "takeAction", "Take an action on a case", tag="cases",
        description="Body: the action's fields. Conditional with `If-Match: \"<version>\"` or "
                    "`expected_version` (409 with `current_version` on mismatch); unconditional actions "
                    "apply to the latest version. Not allowed now → 422 with `allowed_actions`.",
        parameters=[oa.CASE_ID,
                    oa.path_param("action", {"type": "string", "pattern": "^[a-z_]{1,64}$"}, "action name"),
                    oa.header("If-Match", {"type": "string", "pattern": '^"[0-9]{1,9}"$'}, "expected version"),
                    oa.IDEMPOTENCY_KEY],
        body=oa.ref("ActionBody"), body_required=False,
        responses={"200": {"description": "The case after the action", "content": CASE_VIEW,
                           "headers": WRITE_HEADERS}},
        problems=[400, 403, 404, 409, 413, 415, 422])},
    "/v1/cases/{case_id}/history": {"get": oa.operation(
        "caseHistory", "Every event of a case, oldest first, with hashes", tag="cases",
        parameters=[oa.CASE_ID],
        responses={"200": {"description": "The case's history", "content": oa.content(oa.ref("CaseHistory"))}},
        problems=[400, 404, 422])},
}

"""``POST /v1/import/cases``: an importer brings a legacy case with its whole history.

The body is ``{"case": {open body with occurred_at}, "actions": [{"action",
"actor"?, "occurred_at", "data"?}]}``; the domain (``domain.importing``)
applies the case type's rules action by action and records everything in one
transaction, flagged ``imported``: 201 with the case view, or a 422 problem
naming the first action refused (``action_index``, ``action``) with nothing
recorded. Only staff with the ``importer`` role may import.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api import openapi as oa
from api import params
from api.auth import authenticate_writer
from api.cases import casetrail, command_context, idempotency, write_response
from api.negotiation import read_body
from api.problems import invalid
from api.threads import in_thread


async def import_case(request: Request) -> Response:
    app = casetrail(request)
    actor = await authenticate_writer(request, bulk_import=True)  # an importer's bulk import: not rate-limited
    params.only(request)
    body = await read_body(request)
    if not isinstance(body, dict):
        raise invalid('the body must be an object: {"case": {...}, "actions": [...]}')
    idem = idempotency(request, body)
    result = await in_thread(lambda: app.import_case(actor, body, command_context(request), idem))
    return await write_response(request, app, result, actor, 201, location=True)


routes = [Route("/v1/import/cases", import_case, methods=["POST"])]

IMPORT_BODY = {
    "type": "object",
    "properties": {
        "case": {"allOf": [oa.ref("CaseCreate")], "description": "the open body; `occurred_at` is required"},
        "actions": {"type": "array", "maxItems": 1000, "items": {
            "type": "object",
            "properties": {"action": {"type": "string"},
                           "actor": {"type": "string", "maxLength": 100,
                                     "description": "a staff id or a legacy name (recorded as original_actor)"},
                           "occurred_at": {"type": "string", "format": "date-time"},
                           "data": {"type": "object", "description": "the action's fields"}},
            "required": ["action", "occurred_at"], "additionalProperties": False}},
    },
    "required": ["case"],
    "additionalProperties": False,
}

paths = {
    "/v1/import/cases": {"post": oa.operation(
        "importCase", "Import a legacy case with its whole history", tag="cases",
        description="Importer only. The case and its actions, each with its original `occurred_at`, in one "
                    "transaction: the case type's rules are applied action by action (role checks aside), "
                    "clocks that fell due between two actions are recorded as breached at their due time, "
                    "every event is flagged `imported`. 422 names the first action refused "
                    "(`action_index`, `action`, `refusal`) and nothing is recorded.",
        parameters=[oa.IDEMPOTENCY_KEY], body=IMPORT_BODY,
        responses={"201": {"description": "The imported case", "content": oa.content(oa.ref("CaseView")),
                           "headers": {"ETag": oa.ETAG_HEADER, "X-Casetrail-Position": oa.POSITION_HEADER,
                                       "Location": {"schema": {"type": "string"}, "description": "/v1/cases/{id}"}}},
                   "200": {"description": "An idempotent replay", "content": oa.content(oa.ref("CaseView"))}},
        problems=[400, 403, 409, 413, 415, 422])},
}

"""``POST /v1/admin/customers/{id}/erase``: erase a customer's personal data (issue 21).

Admins only (403 otherwise). The body is ``{"reason": "..."}``. The customer's
key is destroyed and an ``Erased`` event recorded (``domain.erasing``): 200 with
``{subject, cases, key_id, position}``; 404 when no personal data is held for
the customer, 409 when it was erased already, 422 for a missing or too long
reason. Nothing is recorded when the answer is a problem.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api import openapi as oa
from api import params
from api.auth import authenticate
from api.cases import casetrail, command_context
from api.negotiation import read_body, render
from api.problems import invalid
from api.threads import in_thread
from domain.model.errors import RoleNotAllowed


async def erase_customer(request: Request) -> Response:
    app = casetrail(request)
    actor = await authenticate(request)
    if "admin" not in actor.roles:
        raise RoleNotAllowed("only an admin may erase a customer's personal data", allowed_roles=["admin"])
    params.only(request)
    body = await read_body(request)
    if not isinstance(body, dict) or set(body) - {"reason"}:
        raise invalid('the body must be {"reason": "..."}',
                      errors=[{"field": "reason", "problem": "the only field of the body"}])
    customer_id = request.path_params["customer_id"]
    result = await in_thread(lambda: app.erase_customer(actor, customer_id, body.get("reason"),
                                                                command_context(request)))
    response = render(request, result.as_dict())
    if result.position is not None:
        response.headers["X-Casetrail-Position"] = str(result.position)
    return response


routes = [Route("/v1/admin/customers/{customer_id}/erase", erase_customer, methods=["POST"])]

ERASURE = {
    "type": "object",
    "properties": {"subject": {"type": "string"}, "cases": {"type": "array", "items": {"type": "string"}},
                   "key_id": {"type": ["string", "null"]}, "position": {"type": ["integer", "null"]}},
}

paths = {
    "/v1/admin/customers/{customer_id}/erase": {"post": oa.operation(
        "eraseCustomer", "Erase a customer's personal data", tag="admin",
        description="Admin only. Destroys the customer's data key, so every personal field of their cases "
                    "reads `[erased]` from now on (case view, history, `as_of`, lists, audit history, exports); "
                    "records an `Erased` event (who, why, when, which cases). Counts, KPIs, clocks and "
                    "`audit verify` are unchanged. 404: no personal data held for the customer; 409: erased "
                    "already.",
        parameters=[oa.path_param("customer_id", {"type": "string", "maxLength": 200}, "the customer's id")],
        body={"type": "object", "properties": {"reason": {"type": "string", "maxLength": 500}},
              "required": ["reason"], "additionalProperties": False},
        responses={"200": {"description": "The erasure", "content": oa.content(ERASURE)}},
        problems=[400, 403, 404, 409, 413, 415, 422])},
}

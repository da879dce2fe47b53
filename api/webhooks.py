"""``/v1/webhooks``: admins subscribe URLs to case event types (issue 19; docs/WEBHOOKS.md).

``POST /v1/webhooks {"url", "events", "secret"}`` → 201 with the subscription
(never the secret); ``GET /v1/webhooks`` lists them with their delivery status
(``active`` / ``disabled`` with ``disabled_reason`` and ``status_since``);
``GET/PATCH/DELETE /v1/webhooks/{webhook_id}`` show one, re-enable a disabled one
(``{"status": "active"}``) or remove it (204; its pending deliveries are
dropped); ``GET /v1/webhooks/{webhook_id}/deliveries`` is the delivery log, newest
first, every attempt with its time, status code or error and duration. Admins
only (403 otherwise); bad bodies are 422 problems naming every invalid field.
The use cases are ``domain.webhooks``; deliveries ``projections.webhook_outbox``
and ``projections.webhook_dispatch``.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api import openapi as oa
from api import params
from api.auth import authenticate
from api.cases import casetrail, command_context, idempotency
from api.negotiation import read_body, render
from api.problems import bad_request, invalid
from api.read_models import read_models
from api.threads import in_thread
from domain import webhooks
from domain.model.errors import RoleNotAllowed
from domain.model.webhooks import EVENT_TYPES, MAX_SECRET, MAX_URL, MIN_SECRET, subscription_id
from projections.webhook_outbox import deliveries

DEFAULT_LIMIT, MAX_LIMIT = 50, 500
MAX_POSITION = 2**62


async def _admin(request: Request) -> Any:
    actor = await authenticate(request)
    if "admin" not in actor.roles:
        raise RoleNotAllowed("only an admin may manage webhooks", allowed_roles=["admin"])
    return actor


async def list_webhooks(request: Request) -> Response:
    actor = await _admin(request)
    params.only(request)
    items = await in_thread(webhooks.list_subscriptions, casetrail(request), actor)
    return render(request, {"items": items, "next_cursor": None})


async def create_webhook(request: Request) -> Response:
    actor = await _admin(request)
    params.only(request)
    body = await read_body(request)
    app = casetrail(request)
    fingerprinted = body  # the secret only as a keyed hash in the idempotency record (an event)
    if isinstance(body, dict) and isinstance(body.get("secret"), str):
        fingerprinted = {**body, "secret": webhooks.webhook_table(app).blind(body["secret"])}
    view = await in_thread(webhooks.subscribe, app, actor, body, command_context(request),
                                   idempotency(request, fingerprinted))
    position, replayed = view.pop("position"), view.pop("replayed")
    response = render(request, view, status=201, headers={"Idempotent-Replayed": "true"} if replayed else None)
    response.headers["Location"] = f"/v1/webhooks/{view['id']}"
    if position is not None:
        response.headers["X-Casetrail-Position"] = str(position)
    return response


async def show_webhook(request: Request) -> Response:
    actor = await _admin(request)
    params.only(request)
    view = await in_thread(webhooks.get_subscription, casetrail(request), actor,
                                   request.path_params["webhook_id"])
    return render(request, view)


async def update_webhook(request: Request) -> Response:
    actor = await _admin(request)
    params.only(request)
    body = await read_body(request)
    if not isinstance(body, dict) or body != {"status": "active"}:
        raise invalid('the body must be {"status": "active"} (re-enable a disabled subscription)',
                      errors=[{"field": k, "problem": 'the only field is "status", and its only value "active"'}
                              for k in (body if isinstance(body, dict) and body else ["status"])])
    view = await in_thread(webhooks.reenable, casetrail(request), actor, request.path_params["webhook_id"],
                                   command_context(request))
    return render(request, view)


async def delete_webhook(request: Request) -> Response:
    actor = await _admin(request)
    params.only(request)
    position = await in_thread(webhooks.unsubscribe, casetrail(request), actor,
                                       request.path_params["webhook_id"], command_context(request))
    headers = {"X-Casetrail-Position": str(position)} if position is not None else {}
    return Response(status_code=204, headers=headers)


def _delivery_log(request: Request, actor: Any, sid: str, limit: int, before: int | None) -> dict[str, Any]:
    app = casetrail(request)
    webhooks.get_subscription(app, actor, sid)  # 404 for an unknown or deleted one
    sid = str(subscription_id(sid))
    rows = deliveries(read_models(request).store, sid, limit=limit + 1, before=before)
    more, rows = len(rows) > limit, rows[:limit]
    attempts = webhooks.webhook_table(app).attempts(sid, [r["delivery_id"] for r in rows])
    items = [{"delivery_id": r["delivery_id"], "position": int(r["position"]), "case_id": r["case_id"],
              "event_type": r["event_type"], "status": r["status"], "failed_rounds": int(r["rounds"]),
              "last_error": r["last_error"], "delivered_at": r["delivered_at"],
              "attempts": attempts.get(r["delivery_id"], [])} for r in rows]
    return {"items": items, "next_cursor": str(items[-1]["position"]) if more and items else None}


async def delivery_log(request: Request) -> Response:
    actor = await _admin(request)
    params.only(request, "limit", "cursor")
    limit = params.int_param(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT) or DEFAULT_LIMIT
    raw = request.query_params.get("cursor")
    before = None
    if raw is not None:
        before = params.digits(raw)
        if before is None or before > MAX_POSITION:
            raise bad_request("invalid cursor: pass back the next_cursor of the previous page")
    page = await in_thread(_delivery_log, request, actor, request.path_params["webhook_id"], limit, before)
    return render(request, page)


routes = [
    Route("/v1/webhooks", list_webhooks, methods=["GET"]),
    Route("/v1/webhooks", create_webhook, methods=["POST"]),
    Route("/v1/webhooks/{webhook_id}", show_webhook, methods=["GET"]),
    Route("/v1/webhooks/{webhook_id}", update_webhook, methods=["PATCH"]),
    Route("/v1/webhooks/{webhook_id}", delete_webhook, methods=["DELETE"]),
    Route("/v1/webhooks/{webhook_id}/deliveries", delivery_log, methods=["GET"]),
]

SUBSCRIPTION: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": {"type": "string", "format": "uuid"}, "url": {"type": "string"},
        "events": {"type": "array", "items": {"type": "string", "enum": list(EVENT_TYPES)}},
        "created_at": {"type": "string"}, "created_by": {"type": ["string", "null"]},
        "status": {"type": "string", "enum": ["active", "disabled"]},
        "disabled_reason": {"type": ["string", "null"]}, "status_since": {"type": ["string", "null"]},
        "failures_in_a_row": {"type": "integer"},
    },
    "required": ["id", "url", "events", "status"],
}
SUBSCRIBE_BODY: dict[str, Any] = {
    "type": "object",
    "properties": {
        "url": {"type": "string", "minLength": 8, "maxLength": MAX_URL, "pattern": "^https?://[^\\s/@#?]+[^\\s#]*$",
                "description": "http or https URL; loopback and private addresses are allowed unless the "
                               "operator denies them (CASETRAIL_WEBHOOK_DENY)"},
        "events": {"type": "array", "minItems": 1, "uniqueItems": True,
                   "items": {"type": "string", "enum": list(EVENT_TYPES)}},
        "secret": {"type": "string", "minLength": MIN_SECRET, "maxLength": MAX_SECRET,
                   "pattern": "^[^\\x00-\\x1f\\x7f]*$",
                   "description": "HMAC-SHA256 key of X-Casetrail-Signature; never shown again"},
    },
    "required": ["url", "events", "secret"],
    "additionalProperties": False,
    "example": {"url": "https://hooks.example.com/casetrail", "events": ["Escalated", "DeadlineBreached"],
                "secret": "a-long-random-shared-secret"},
}
ATTEMPT = {"type": "object", "properties": {
    "attempt": {"type": "integer"}, "at": {"type": "string"}, "status_code": {"type": ["integer", "null"]},
    "error": {"type": ["string", "null"]}, "duration_ms": {"type": "number"}}}
DELIVERY = {"type": "object", "properties": {
    "delivery_id": {"type": "string"}, "position": {"type": "integer"}, "case_id": {"type": "string"},
    "event_type": {"type": "string"}, "status": {"type": "string", "enum": ["pending", "delivered", "cancelled"]},
    "failed_rounds": {"type": "integer"}, "last_error": {"type": ["string", "null"]},
    "delivered_at": {"type": ["string", "null"]}, "attempts": {"type": "array", "items": ATTEMPT}}}
ID = oa.path_param("webhook_id", {"type": "string", "format": "uuid"}, "the subscription's id")
ADMIN = "Admin only. "

paths = {
    "/v1/webhooks": {
        "get": oa.operation(
            "listWebhooks", "Webhook subscriptions", tag="webhooks",
            description=ADMIN + "Every subscription (never its secret) with its delivery status.",
            responses={"200": {"description": "The subscriptions", "content": oa.content(
                {"type": "object", "properties": {"items": {"type": "array", "items": SUBSCRIPTION},
                                                  "next_cursor": {"type": "null"}}})}},
            problems=[400, 403]),
        "post": oa.operation(
            "createWebhook", "Subscribe a URL to case events", tag="webhooks",
            description=ADMIN + "Each matching case event recorded from now on is POSTed to the URL as its "
                        "event document (as `GET /v1/events` shows it), signed `X-Casetrail-Signature: "
                        "sha256=<hex HMAC-SHA256 of the body with the secret>`, with `X-Casetrail-Delivery` and "
                        "`X-Casetrail-Event`; at least once, retried with growing pauses (docs/WEBHOOKS.md). "
                        "With `Idempotency-Key`, a repeated request answers the first one's subscription.",
            body=SUBSCRIBE_BODY,
            responses={"201": {"description": "The subscription", "content": oa.content(SUBSCRIPTION)}},
            problems=[400, 403, 413, 415, 422]),
    },
    "/v1/webhooks/{webhook_id}": {
        "get": oa.operation(
            "showWebhook", "A webhook subscription", tag="webhooks", description=ADMIN, parameters=[ID],
            responses={"200": {"description": "The subscription", "content": oa.content(SUBSCRIPTION)}},
            problems=[400, 403, 404]),
        "patch": oa.operation(
            "reenableWebhook", "Re-enable a disabled subscription", tag="webhooks",
            description=ADMIN + "After repeated failed deliveries a subscription is `disabled`; "
                        '`{"status": "active"}` turns deliveries back on (what is pending is sent, in order).',
            parameters=[ID],
            body={"type": "object", "properties": {"status": {"type": "string", "enum": ["active"]}},
                  "required": ["status"], "additionalProperties": False, "example": {"status": "active"}},
            responses={"200": {"description": "The subscription", "content": oa.content(SUBSCRIPTION)}},
            problems=[400, 403, 404, 413, 415, 422]),
        "delete": oa.operation(
            "deleteWebhook", "Remove a subscription", tag="webhooks",
            description=ADMIN + "No delivery is made from now on; pending ones are dropped.", parameters=[ID],
            responses={"204": {"description": "Removed"}}, problems=[400, 403, 404]),
    },
    "/v1/webhooks/{webhook_id}/deliveries": {"get": oa.operation(
        "webhookDeliveries", "The delivery log of a subscription", tag="webhooks",
        description=ADMIN + "Deliveries newest first, each with every attempt (time, status code or error, "
                    "duration).",
        parameters=[ID, oa.query("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
                                 "page size (default 50)"),
                    oa.query("cursor", {"type": "string", "pattern": "^[0-9]{1,19}$"},
                             "the next_cursor of the previous page")],
        responses={"200": {"description": "A page of deliveries", "content": oa.content(
            {"type": "object", "properties": {"items": {"type": "array", "items": DELIVERY},
                                              "next_cursor": {"type": ["string", "null"]}}})}},
        problems=[400, 403, 404])},
}

"""The event feed for integrations: every case event in commit order.

``GET /v1/events?after=n`` pages through the application's notification
log (case events only: staff, token and bookkeeping events stay inside),
each item shaped like a history entry plus its ``position`` and
``case_id``. With ``Accept: text/event-stream`` the same items stream as
server-sent events (``id:`` is the position, so a reconnect with
``Last-Event-ID`` resumes), polling the log; each connection ends after
``max_duration`` seconds so clients reconnect and tests finish. The
stream checks its token again every ``TOKEN_RECHECK_SECONDS`` and ends
(with an ``unauthorized`` event) once it is revoked or expired or its staff
member is deactivated. Every page and every stream opened is recorded in
the access ledger (subject ``event-feed:<staff id>``). While the
database is down an open stream keeps polling (keep-alives go on) and
resumes where it stopped; a new request gets a 503 problem.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from api import openapi as oa
from api import params
from api.auth import authenticate, bearer_token
from api.logging import get_logger
from api.negotiation import render, wants_event_stream
from api.problems import UNAVAILABLE
from api.threads import in_thread
from domain.application import CaseTrail
from domain.audit.access import record_read
from domain.model.actor import CommandContext
from domain.model.case import Case
from domain.model.errors import AuthenticationFailed
from domain.model.topics import topics
from domain.storage.history import feed_entry

CASE_TOPICS = tuple(sorted(t for c in vars(Case).values() if isinstance(c, type) and issubclass(c, Case.Event)
                           for t in topics(c)))  # with the topics stored before the move
DEFAULT_LIMIT, MAX_LIMIT = 50, 500
MAX_POSITION = 2**62
log = get_logger("casetrail.events")
POLL_SECONDS = 0.5
KEEPALIVE_SECONDS = 15.0
TOKEN_RECHECK_SECONDS = 5.0  # an open stream ends within this long of its token's revocation
UNAUTHORIZED_EVENT = (b'event: unauthorized\ndata: {"detail": "the token was revoked or expired, '
                      b'or its staff member deactivated"}\n\n')
DEFAULT_STREAM_SECONDS, MAX_STREAM_SECONDS = 300.0, 3600.0


def feed_page(app: CaseTrail, after: int, limit: int) -> list[dict[str, Any]]:
    """Up to ``limit`` case events after position ``after``."""
    notifications = app.recorder.select_notifications(start=after + 1, limit=limit, topics=CASE_TOPICS)
    return [feed_entry(app.mapper, n) for n in notifications]


def _record_feed_read(app: CaseTrail, actor: Any, request: Request, after: int, how: str) -> None:
    """The feed read, in the access ledger (one log per reader)."""
    ctx = CommandContext(correlation_id=getattr(request.state, "request_id", "") or "")
    record_read(app, actor, f"event-feed:{actor.id}", "events", {"after": str(after), "as": how}, ctx)


async def event_feed(request: Request) -> Response:
    actor = await authenticate(request)
    token = bearer_token(request)
    app: CaseTrail = request.app.state.casetrail
    params.only(request, "after", "limit", "max_duration")
    after = params.int_param(request, "after", 0, 0, MAX_POSITION) or 0
    limit = params.int_param(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT) or DEFAULT_LIMIT
    seconds = params.seconds_param(request, "max_duration", DEFAULT_STREAM_SECONDS, MAX_STREAM_SECONDS)
    if wants_event_stream(request):
        last_id = params.digits(request.headers.get("last-event-id", "").strip())
        if last_id is not None and last_id <= MAX_POSITION and "after" not in request.query_params:
            after = last_id
        await in_thread(_record_feed_read, app, actor, request, after, "stream")
        return StreamingResponse(stream(app, after, seconds, token), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
    items = await in_thread(feed_page, app, after, limit)
    await in_thread(_record_feed_read, app, actor, request, after, "page")
    return render(request, {"items": items, "last_position": items[-1]["position"] if items else after})


def sse(item: dict[str, Any]) -> bytes:
    data = json.dumps(item, ensure_ascii=False, separators=(",", ":"), default=str)
    return f"id: {item['position']}\nevent: {item['type']}\ndata: {data}\n\n".encode()


def still_valid(app: CaseTrail, token: str) -> bool:
    """Whether the stream's token still authenticates (not revoked or expired, staff still active)."""
    try:
        app.authenticate(token)
        return True
    except AuthenticationFailed:
        return False


async def stream(app: CaseTrail, after: int, seconds: float, token: str) -> AsyncIterator[bytes]:
    deadline = time.monotonic() + seconds
    last_sent = checked = time.monotonic()
    yield b"retry: 2000\n\n"
    waiting = False  # for the database: the stream stays open and resumes where it stopped
    while time.monotonic() < deadline:
        if time.monotonic() - checked >= TOKEN_RECHECK_SECONDS:
            try:
                valid = await in_thread(still_valid, app, token)
            except UNAVAILABLE:
                valid = True  # cannot tell while the database is down; checked again after
            checked = time.monotonic()
            if not valid:
                log.info("event stream ended: its token is no longer valid")
                yield UNAUTHORIZED_EVENT
                return
        try:
            items = await in_thread(feed_page, app, after, 100)
            waiting = False
        except UNAVAILABLE as e:
            if not waiting:
                log.warning("event stream waiting for the database", error=type(e).__name__)
            waiting, items = True, []
        for item in items:
            yield sse(item)
            after = item["position"]
        now = time.monotonic()
        if items:
            last_sent = now
            continue
        if now - last_sent >= KEEPALIVE_SECONDS:
            yield b": keep-alive\n\n"
            last_sent = now
        await anyio.sleep(max(0.0, min(POLL_SECONDS, deadline - now)))


routes = [Route("/v1/events", event_feed, methods=["GET"])]

paths = {
    "/v1/events": {"get": oa.operation(
        "eventFeed", "The case event feed, in commit order", tag="events",
        description="Pages of case events after a position. With `Accept: text/event-stream` the events "
                    "stream as server-sent events (`id:` = position; `Last-Event-ID` resumes) for "
                    "`max_duration` seconds.",
        parameters=[
            oa.query("after", {"type": "integer", "minimum": 0, "maximum": MAX_POSITION},
                     "return events after this position (default 0)"),
            oa.query("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}, "page size (default 50)"),
            oa.query("max_duration", {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_STREAM_SECONDS},
                     "event-stream only: seconds before the server ends the stream (default 300)"),
        ],
        responses={"200": {"description": "A page of events (or an event stream)", "content": {
            **oa.content(oa.ref("EventFeed")),
            "text/event-stream": {"schema": {"type": "string"}}}}},
        problems=[400])},
}

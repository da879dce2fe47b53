"""The request lifecycle around every handler: request id, access log, metrics, last resort.

``RequestLifecycle`` (plain ASGI middleware) takes the caller's
``X-Request-ID`` (when it is a sane token) or makes one, echoes it on the
response, binds it for the logs, times the request, writes one access-log
line (request id, method, route template, status, duration, actor, case
id: never headers, bodies, query strings or path parameters; the raw path
only when no route matched, with any digits in it masked), counts it in the metrics, and turns
any exception that escaped the handlers into a plain 500 problem document
without a stack trace (the trace goes to the log, redacted).
"""

from __future__ import annotations

import re
import time
import uuid

import structlog
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.logging import get_logger, redact_text
from api.metrics import Metrics
from api.negotiation import PROBLEM_JSON, encode
from api.problems import internal_error_document

REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
DIGITS = re.compile(r"\d[\dXxＸｘ]*")  # any Unicode digits: full-width ones too


def request_id_of(headers: Headers) -> str:
    """The caller's ``X-Request-ID`` when it is a sane token that carries no personal data, else a new one."""
    given = headers.get("x-request-id", "")
    if REQUEST_ID.match(given) and redact_text(given) == given:
        return given
    return uuid.uuid4().hex


class RequestLifecycle:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics
        self.log = get_logger("casetrail.access")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = request_id_of(Headers(scope=scope))
        scope.setdefault("state", {})["request_id"] = request_id
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                MutableHeaders(scope=message)["X-Request-ID"] = request_id
            await send(message)

        self.metrics.in_progress.inc()
        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            self.log.exception("unhandled error", method=scope["method"],
                               route=getattr(scope.get("route"), "path", None))
            status = 500
            if not response_started:
                await self._internal_error(request_id, send)
        finally:
            self.metrics.in_progress.dec()
            seconds = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", None)
            self.metrics.observe(scope["method"], route or "unmatched", status, seconds)
            where = ({"route": route} if route else
                     {"route": None, "path": DIGITS.sub("#", redact_text(scope["path"]))[:200]})
            self.log.info("request", method=scope["method"], **where, status=status,
                          duration_ms=round(seconds * 1000, 2))

    @staticmethod
    async def _internal_error(request_id: str, send: Send) -> None:
        body = encode(internal_error_document(request_id), as_msgpack=False)
        await send({"type": "http.response.start", "status": 500, "headers": [
            (b"content-type", PROBLEM_JSON.encode()), (b"content-length", str(len(body)).encode()),
            (b"x-request-id", request_id.encode())]})
        await send({"type": "http.response.body", "body": body})

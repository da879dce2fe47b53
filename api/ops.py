"""Operations endpoints: liveness, readiness, metrics and the API's own description.

- ``/healthz``: the process answers (no database call).
- ``/readyz``: the database answers (reads the highest notification id);
  503 problem when it does not.
- ``/metrics``: Prometheus text format; needs a token like the rest of the
  API (any staff member's: give the scraper an ``admin`` staff member's).
- ``/openapi.json``: the OpenAPI 3.1 document (``api.openapi``).
The others need no token. The interactive reference at ``/docs`` is
``api.reference``'s.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from api import openapi as oa
from api import params
from api.auth import authenticate
from api.logging import get_logger
from api.negotiation import render
from api.problems import RETRY_AFTER_SECONDS, UNAVAILABLE, Problem
from api.read_models import read_models
from api.threads import in_thread
from projections.maintenance import status as projection_status

log = get_logger("casetrail.ops")


async def healthz(request: Request) -> Response:
    params.only(request)
    return render(request, {"status": "ok"})


async def readyz(request: Request) -> Response:
    params.only(request)
    app = request.app.state.casetrail
    try:
        position = await in_thread(app.recorder.max_notification_id)
    except Exception as e:  # any database failure means "not ready"
        log.warning("not ready", error=type(e).__name__)
        raise Problem(503, "the database is not reachable", kind="not-ready", title="Not ready",
                      headers={"Retry-After": str(RETRY_AFTER_SECONDS)}) from None
    request.app.state.metrics.position.set(position or 0)
    return render(request, {"status": "ready", "position": position or 0})


async def metrics(request: Request) -> Response:
    await authenticate(request)
    params.only(request)
    m = request.app.state.metrics
    models = read_models(request)
    try:  # read-model positions and lag; a database outage leaves the last values
        m.observe_projections(await in_thread(projection_status, request.app.state.casetrail,
                                                      models.store))
    except UNAVAILABLE as e:
        log.warning("metrics: projection status unavailable", error=type(e).__name__)
    return Response(m.render(), media_type=m.content_type)


async def openapi_json(request: Request) -> Response:
    params.only(request)
    return JSONResponse(request.app.state.openapi)


routes = [
    Route("/healthz", healthz, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
    Route("/metrics", metrics, methods=["GET"]),
    Route("/openapi.json", openapi_json, methods=["GET"]),
]


def _plain(op_id: str, summary: str, content: dict[str, Any], problems: list[int] | None = None) -> dict[str, Any]:
    return oa.operation(op_id, summary, tag="operations", auth=False, problems=problems or [],
                        responses={"200": {"description": summary, "content": content}})


paths = {
    "/healthz": {"get": _plain("healthz", "The process is alive", oa.content(oa.ref("Health")))},
    "/readyz": {"get": _plain("readyz", "The database is reachable", oa.content(oa.ref("Health")), [503])},
    "/metrics": {"get": oa.operation("metrics", "Prometheus metrics", tag="operations", responses={
        "200": {"description": "Prometheus metrics", "content": {"text/plain": {"schema": {"type": "string"}}}}})},
    "/openapi.json": {"get": _plain("openapi", "This document",
                                    {"application/json": {"schema": {"type": "object"}}})},
}

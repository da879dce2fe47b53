"""Operations endpoints: liveness, readiness, metrics and the API's own description.

- ``/healthz``: the process answers (no database call).
- ``/readyz``: the database answers (reads the highest notification id);
  503 problem when it does not.
- ``/metrics``: Prometheus text format; needs a token like the rest of the
  API (any staff member's: give the scraper an ``admin`` staff member's).
- ``/openapi.json``: the OpenAPI 3.1 document (``api.openapi``).
- ``/docs``: the same document as a self-contained HTML page (no scripts,
  nothing loaded from elsewhere).
The others need no token: ``/docs`` is the OpenAPI document as HTML and
carries nothing ``/openapi.json`` does not (a browser opens it, so it takes
no bearer token).
"""

from __future__ import annotations

import html
import json
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from api import openapi as oa
from api import params
from api.auth import authenticate
from api.logging import get_logger
from api.negotiation import render
from api.problems import RETRY_AFTER_SECONDS, UNAVAILABLE, Problem
from api.read_models import read_models
from projections.maintenance import status as projection_status

log = get_logger("casetrail.ops")


async def healthz(request: Request) -> Response:
    params.only(request)
    return render(request, {"status": "ok"})


async def readyz(request: Request) -> Response:
    params.only(request)
    app = request.app.state.casetrail
    try:
        position = await run_in_threadpool(app.recorder.max_notification_id)
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
        m.observe_projections(await run_in_threadpool(projection_status, request.app.state.casetrail,
                                                      models.store))
    except UNAVAILABLE as e:
        log.warning("metrics: projection status unavailable", error=type(e).__name__)
    return Response(m.render(), media_type=m.content_type)


async def openapi_json(request: Request) -> Response:
    params.only(request)
    return JSONResponse(request.app.state.openapi)


def _schema_html(value: Any) -> str:
    return f"<pre>{html.escape(json.dumps(value, indent=2, ensure_ascii=False))}</pre>"


def docs_page(spec: dict[str, Any]) -> str:
    parts = [f"<h1>{html.escape(spec['info']['title'])} API</h1>",
             f"<p>{html.escape(spec['info'].get('description', ''))}</p>",
             '<p>Machine-readable: <a href="/openapi.json">/openapi.json</a></p>', "<h2>Operations</h2><ul>"]
    ops = [(path, method, op) for path, item in spec["paths"].items() for method, op in item.items()]
    for path, method, op in ops:
        anchor = html.escape(op.get("operationId", f"{method}{path}"))
        parts.append(f'<li><a href="#{anchor}"><code>{method.upper()} {html.escape(path)}</code></a> '
                     f"{html.escape(op.get('summary', ''))}</li>")
    parts.append("</ul>")
    for path, method, op in ops:
        anchor = html.escape(op.get("operationId", f"{method}{path}"))
        parts.append(f'<section id="{anchor}"><h3><code>{method.upper()} {html.escape(path)}</code></h3>')
        parts.append(f"<p><b>{html.escape(op.get('summary', ''))}</b> {html.escape(op.get('description', ''))}</p>")
        if not op.get("security"):
            parts.append("<p>No token needed.</p>")
        if op.get("parameters"):
            parts.append("<h4>Parameters</h4><ul>")
            for p in op["parameters"]:
                parts.append(f"<li><code>{html.escape(p['name'])}</code> ({p['in']}"
                             f"{', required' if p.get('required') else ''}): {html.escape(p.get('description', ''))}"
                             f" <code>{html.escape(json.dumps(p['schema']))}</code></li>")
            parts.append("</ul>")
        if "requestBody" in op:
            parts.append("<h4>Request body</h4>" + _schema_html(op["requestBody"]["content"]["application/json"]))
        parts.append("<h4>Responses</h4><ul>")
        for status, response in op["responses"].items():
            described = response.get("description") or response.get("$ref", "").rsplit("/", 1)[-1]
            parts.append(f"<li><code>{status}</code> {html.escape(described)}</li>")
        parts.append("</ul></section>")
    parts.append("<h2>Schemas</h2>")
    for name, schema in spec["components"]["schemas"].items():
        parts.append(f'<h3 id="schema-{html.escape(name)}">{html.escape(name)}</h3>' + _schema_html(schema))
    style = ("body{font-family:sans-serif;max-width:60em;margin:auto;padding:1em}"
             "pre{background:#f4f4f4;padding:.5em;overflow:auto}section{border-top:1px solid #ccc}")
    return (f"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>casetrail API</title>"
            f"<style>{style}</style></head><body>{''.join(parts)}</body></html>")


async def docs(request: Request) -> Response:
    params.only(request)
    return HTMLResponse(request.app.state.docs_html)


routes = [
    Route("/healthz", healthz, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
    Route("/metrics", metrics, methods=["GET"]),
    Route("/openapi.json", openapi_json, methods=["GET"]),
    Route("/docs", docs, methods=["GET"]),
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
    "/docs": {"get": _plain("docs", "This document as HTML", {"text/html": {"schema": {"type": "string"}}})},
}

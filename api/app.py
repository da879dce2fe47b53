"""The Starlette application: ``create_app`` and the route table.

The route table is explicit: ``SECTIONS`` lists the endpoint modules, each
exposing ``routes`` (Starlette routes) and ``paths`` (their OpenAPI
description), so the served ``/openapi.json`` and the routes cannot drift
apart (a test checks that every route is described). ``create_app`` builds
the ``CaseTrail`` application from ``CASETRAIL_DATABASE_URL`` unless one is
given, configures logging once, and wires the request middleware and the
problem-document exception handlers. The reviewer console (``api.console``)
is mounted as a middleware in front of the route table, under ``/console/``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any, Protocol

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Route

from api import audit, case_types, cases, events, imports, ops, privacy, read_models, reference, staff, webhooks
from api.console import ConsoleMount
from api.logging import configure_logging
from api.metrics import Metrics
from api.middleware import RequestLifecycle
from api.openapi import document
from api.problems import exception_handlers
from api.rate_limit import RateLimit
from api.server import install_quiet_accept_errors
from domain.application import CaseTrail


class Section(Protocol):
    """An endpoint module: its routes and their OpenAPI path items."""

    routes: Sequence[BaseRoute]
    paths: Mapping[str, Mapping[str, Any]]


SECTIONS: tuple[Section, ...] = (
    ops,          # /healthz /readyz /metrics /openapi.json
    reference,    # /docs (Swagger UI over /openapi.json, served offline)
    cases,        # POST /v1/cases, GET /v1/cases/{id}, POST .../actions/{action}, GET .../history
    case_types,   # GET /v1/case-types, GET /v1/case-types/{type}
    events,       # GET /v1/events (JSON pages or text/event-stream)
    read_models,  # GET /v1/cases (list), staff performance, department report, audit events
    audit,        # GET /v1/audit/verify
    imports,      # POST /v1/import/cases
    privacy,      # POST /v1/admin/customers/{id}/erase
    webhooks,     # GET/POST /v1/webhooks, GET/PATCH/DELETE /v1/webhooks/{id}, GET .../deliveries
    staff,        # GET /v1/staff, GET /v1/staff/{id}
)


def merged_routes(routes: Sequence[BaseRoute]) -> list[BaseRoute]:
    """One Route per path: routes sharing a path (GET and POST /v1/cases) are
    merged so that 405 answers carry the full ``Allow`` header."""
    groups: dict[str, list[Route]] = {}
    out: list[BaseRoute] = []
    for route in routes:
        if isinstance(route, Route) and route.methods:
            if route.path not in groups:
                groups[route.path] = []
                out.append(route)
            groups[route.path].append(route)
        else:
            out.append(route)
    merged: list[BaseRoute] = []
    for route in out:
        group = groups.get(getattr(route, "path", ""), [])
        if len(group) > 1:
            handlers = {m: r.endpoint for r in group for m in (r.methods or ())}

            async def endpoint(request: Any, handlers: dict[str, Any] = handlers) -> Any:
                return await handlers[request.method](request)

            merged.append(Route(route.path, endpoint, methods=sorted(handlers), name=route.name))
        else:
            merged.append(route)
    return merged


def create_app(app: CaseTrail | None = None, *, database_url: str | None = None,
               extra_sections: Sequence[Section] = (), configure_logs: bool = True) -> Starlette:
    """The HTTP API over ``app`` (or over a new ``CaseTrail`` on ``database_url`` /
    ``CASETRAIL_DATABASE_URL``; that one is closed when the server shuts down)."""
    if configure_logs:
        configure_logging()
    owned = app is None
    casetrail = app if app is not None else CaseTrail.from_url(database_url)
    sections = (*SECTIONS, *extra_sections)
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        install_quiet_accept_errors()
        try:
            yield
        finally:
            models = getattr(starlette.state, "read_models", None)
            if models is not None:
                models.close()
            if owned:
                casetrail.close()

    starlette = Starlette(
        routes=merged_routes([route for section in sections for route in section.routes]),
        # ConsoleMount: /console/ (the reviewer console) goes to its own application
        middleware=[Middleware(RequestLifecycle, metrics=metrics), Middleware(ConsoleMount)],
        exception_handlers=dict(exception_handlers),
        lifespan=lifespan,
    )
    spec = document([section.paths for section in sections], casetrail.registry)
    starlette.state.casetrail = casetrail
    starlette.state.rate_limit = RateLimit.from_env()  # per token, per process (api/rate_limit.py)
    starlette.state.metrics = metrics
    starlette.state.openapi = spec
    return starlette

"""The reviewer console: server-rendered pages under ``/console/`` (issue 18).

``ConsoleMount`` is an ASGI middleware of the API application
(``api.app.create_app``) that hands every ``/console`` request to the
console's own Starlette application (``build``): its routes, its session
middleware (the signed cookie of ``api.console.session``) and its static
files (``static/``, with htmx and ECharts vendored from the npm registry
in ``static/vendor/``; no CDN). The API's route table and OpenAPI document
stay the API's alone. Every route is a GET but sign-in and sign-out: the
console reads, it never acts on a case.
"""

from __future__ import annotations

import threading
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from api.console import pages, reviews
from api.console.session import COOKIE, MAX_AGE, NotSignedIn, secure_cookie, session_secret
from api.console.web import HERE, page
from api.problems import Problem
from domain.model.errors import DomainError

PREFIX = "/console"

routes = [
    Route("/", pages.home, methods=["GET"]),
    Route("/login", pages.login_form, methods=["GET"]),
    Route("/login", pages.login, methods=["POST"], name="login_post"),
    Route("/logout", pages.logout, methods=["POST"]),
    Route("/cases", pages.cases, methods=["GET"]),
    Route("/cases.csv", pages.cases_csv, methods=["GET"]),
    Route("/cases/{number}", pages.case_page, methods=["GET"]),
    Route("/cases/{number}/state", pages.case_state, methods=["GET"]),
    Route("/cases/{number}/diff", pages.case_diff, methods=["GET"]),
    Route("/cases/{number}/verify", pages.case_verify, methods=["GET"]),
    Route("/cases/{number}/evidence.json", pages.evidence_json, methods=["GET"]),
    Route("/cases/{number}/evidence.html", pages.evidence_html, methods=["GET"]),
    Route("/audit", reviews.audit, methods=["GET"]),
    Route("/reports", reviews.reports, methods=["GET"]),
    Route("/inbox", reviews.inbox, methods=["GET"]),
    Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
]


async def _not_signed_in(request: Request, exc: Exception) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if request.headers.get("hx-request"):  # an htmx part: send the whole page to the sign-in form
        return Response(status_code=401, headers={"HX-Redirect": "/console/login"})
    return RedirectResponse(f"/console/login?next={target}", status_code=303)


async def _refused(request: Request, exc: Exception) -> Response:
    status = getattr(exc, "status", 422)
    message = getattr(exc, "message", None) or getattr(exc, "detail", None) or str(exc)
    key = "not_found" if status == 404 else "forbidden" if status == 403 else None
    return page(request, "error.html", {"status": status, "message": message, "key": key}, status=status)


def build(parent_state: Any) -> Starlette:
    """The console application over the API application's state (``casetrail``, read models)."""
    secret = session_secret(parent_state.casetrail)
    console = Starlette(
        routes=list(routes),
        middleware=[Middleware(SessionMiddleware, secret_key=secret, session_cookie=COOKIE, max_age=MAX_AGE,
                               path=PREFIX, same_site="lax", https_only=secure_cookie())],
        exception_handlers={NotSignedIn: _not_signed_in, DomainError: _refused, Problem: _refused},
    )
    console.state.parent = parent_state
    return console


class ConsoleMount:
    """Sends ``/console`` and ``/console/...`` to the console application (built on first use)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.console: Starlette | None = None
        self.lock = threading.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] in ("http", "websocket") else ""
        if path != PREFIX and not path.startswith(PREFIX + "/"):
            await self.app(scope, receive, send)
            return
        if path == PREFIX:
            await RedirectResponse(PREFIX + "/cases", status_code=308)(scope, receive, send)
            return
        if self.console is None:
            with self.lock:
                if self.console is None:
                    self.console = build(scope["app"].state)
        child = dict(scope)
        # Starlette routes on the path below root_path (as its own Mount does): the path stays whole.
        child["app_root_path"] = scope.get("app_root_path", scope.get("root_path", ""))
        child["root_path"] = scope.get("root_path", "") + PREFIX
        await self.console(child, receive, send)

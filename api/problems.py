"""Problem documents (RFC 9457): every refusal the API gives, as data.

``Problem`` is the API's own exception for client mistakes found before
the domain is asked (bad JSON, wrong header, unknown field, ...).
``problem_from_domain`` maps a ``DomainError`` (which carries its HTTP
``status``, problem ``kind`` and extra members such as ``allowed_actions``
or ``current_version``) to the same shape. The exception handlers here turn
both, Starlette's own ``HTTPException`` (unmatched route, wrong method) and
a database that is down or busy (503 with ``Retry-After``), into
``application/problem+json`` (or msgpack when the client asked for
it). Nothing here ever shows a stack trace.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from api.logging import get_logger
from domain.model.errors import DomainError
from domain.storage.history import jsonable
from domain.storage.pgstore import UNAVAILABLE

PROBLEM_BASE = "https://casetrail.invalid/problems/"
# A problem stays small whatever the request held (a 1 MiB body of unknown
# fields must not come back as 15 MB of errors): long texts and lists are cut.
MAX_DETAIL, MAX_TEXT, MAX_ITEMS = 2000, 500, 50

HTTP_TITLES = {
    400: ("bad-request", "Bad request"),
    401: ("unauthorized", "Authentication required"),
    403: ("forbidden", "Forbidden"),
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    406: ("not-acceptable", "Not acceptable"),
    409: ("conflict", "Conflict"),
    413: ("payload-too-large", "Request body too large"),
    415: ("unsupported-media-type", "Unsupported media type"),
    422: ("unprocessable", "Unprocessable request"),
    429: ("rate-limited", "Too many requests"),
    500: ("internal-error", "Internal server error"),
    503: ("unavailable", "Service unavailable"),
}


class Problem(Exception):
    """A client mistake (or an outage) the API reports as a problem document."""

    def __init__(self, status: int, detail: str, *, kind: str | None = None, title: str | None = None,
                 headers: Mapping[str, str] | None = None, **extra: Any) -> None:
        super().__init__(detail)
        default_kind, default_title = HTTP_TITLES.get(status, ("error", "Error"))
        self.status = status
        self.kind = kind or default_kind
        self.title = title or default_title
        self.detail = detail
        self.headers = dict(headers or {})
        self.extra = extra

    def document(self, request_id: str | None = None) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "type": PROBLEM_BASE + self.kind,
            "title": self.title,
            "status": self.status,
            "detail": self.detail if len(self.detail) <= MAX_DETAIL else self.detail[:MAX_DETAIL] + " …",
        }
        for key, value in self.extra.items():
            if key not in doc:
                if isinstance(value, (list, tuple)) and len(value) > MAX_ITEMS:
                    doc[f"{key}_omitted"] = len(value) - MAX_ITEMS
                doc[key] = _bounded(jsonable(value))
        if request_id:
            doc["request_id"] = request_id
        return doc


def _bounded(value: Any) -> Any:
    if isinstance(value, str):
        return value if len(value) <= MAX_TEXT else value[:MAX_TEXT] + " …"
    if isinstance(value, list):
        return [_bounded(v) for v in value[:MAX_ITEMS]]
    if isinstance(value, dict):
        return {k: _bounded(v) for k, v in value.items()}
    return value


def bad_request(detail: str, **extra: Any) -> Problem:
    return Problem(400, detail, kind="bad-request", **extra)


def invalid(detail: str, errors: list[dict[str, str]] | None = None) -> Problem:
    """A well-formed body whose content is wrong (unknown field, wrong type): 422."""
    return Problem(422, detail, kind="invalid-fields", title="Invalid fields", errors=errors or [])


def problem_from_domain(error: DomainError) -> Problem:
    headers = {"WWW-Authenticate": 'Bearer realm="casetrail"'} if error.status == 401 else None
    return Problem(error.status, error.message, kind=error.kind, title=error.title, headers=headers,
                   **error.extra)


def problem_response(request: Request, problem: Problem) -> Response:
    from api.negotiation import render  # negotiation renders; problems only decide what to say

    request_id = getattr(request.state, "request_id", None)
    headers = dict(problem.headers)
    if problem.status == 401:
        headers.setdefault("WWW-Authenticate", 'Bearer realm="casetrail"')
    return render(request, problem.document(request_id), status=problem.status, headers=headers, problem=True)


async def handle_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Problem)
    return problem_response(request, exc)


async def handle_domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DomainError)
    return problem_response(request, problem_from_domain(exc))


async def handle_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    status = exc.status_code
    detail = {
        404: f"no resource at {request.url.path}",
        405: f"{request.method} is not allowed on {request.url.path}",
    }.get(status, str(exc.detail))
    return problem_response(request, Problem(status, detail, headers=exc.headers or None))


# The database is down, unreachable or busy (PostgreSQL outage, SQLite "database
# is locked" or I/O error): try again later (a write with the same Idempotency-Key:
# one cut off by the outage may or may not have been recorded).
# UNAVAILABLE (domain.storage.pgstore, shared with the projection workers) lists those errors.
RETRY_AFTER_SECONDS = 2


def unavailable(detail: str = "the database is unavailable (unreachable or busy); try again shortly",
                **extra: Any) -> Problem:
    return Problem(503, detail, kind="database-unavailable", title="Database unavailable",
                   headers={"Retry-After": str(RETRY_AFTER_SECONDS)}, **extra)


async def handle_unavailable(request: Request, exc: Exception) -> Response:
    """503 with Retry-After; one warning line in the log (an outage is not a bug: no trace)."""
    get_logger("casetrail.api").warning("database unavailable", error=type(exc).__name__,
                                        reason=(str(exc).strip().splitlines() or [""])[0][:200])
    return problem_response(request, unavailable())


def internal_error_document(request_id: str | None) -> dict[str, Any]:
    """The catch-all 500: says that something failed and which request, nothing more."""
    return Problem(500, "the server failed to handle this request; it has been logged "
                        "under the request id").document(request_id)


exception_handlers = {
    Problem: handle_problem,
    DomainError: handle_domain_error,
    HTTPException: handle_http_exception,
    **{error: handle_unavailable for error in UNAVAILABLE},
}

"""Who is calling: the bearer token of a request, resolved to a domain ``Actor``.

``Authorization: Bearer <token>`` is checked by the application
(``CaseTrail.authenticate``: unknown, revoked or expired tokens and inactive
staff are refused with a 401). What each role may do is the domain's
business; the only rule applied here is the domain's own ``Actor.may_act``
for writes, so that a reviewer (or an admin) gets a 403 on every write
before anything else is looked at. Each authenticated request also counts
against its token's rate limit (``api.rate_limit``: 429 with ``Retry-After``
when over it; off unless ``CASETRAIL_RATE_LIMIT`` is set), except an
importer's bulk import (``bulk_import=True``).
"""

from __future__ import annotations

import structlog
from starlette.requests import Request

from api.problems import Problem
from api.rate_limit import RateLimit
from api.threads import in_thread
from domain.application import CaseTrail
from domain.model.actor import Actor
from domain.model.errors import AuthenticationFailed, RoleNotAllowed


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization")
    if not header:
        raise AuthenticationFailed("missing Authorization header; send 'Authorization: Bearer <token>'")
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationFailed("the Authorization header must be 'Bearer <token>'")
    return token.strip()


def authenticated(request: Request, token: str, *, bulk_import: bool = False, writer: bool = False) -> Actor:
    """The calling staff member (blocking: it reads the token's record), or a 401 problem (429 over
    its rate limit, 403 when ``writer`` and its roles may not act on cases). Runs in a worker
    thread, on its own (``authenticate``) or as the first step of a handler's one trip there
    (``api.threads.in_thread``)."""
    app: CaseTrail = request.app.state.casetrail
    actor = app.authenticate(token)
    request.state.actor = actor
    structlog.contextvars.bind_contextvars(actor=actor.id)
    limit: RateLimit | None = getattr(request.app.state, "rate_limit", None)
    if limit is not None and not (bulk_import and actor.is_importer):
        wait = limit.retry_after(token)
        if wait is not None:
            raise Problem(429, f"this token is over its rate limit ({limit.text}); try again in {wait} s",
                          kind="rate-limited", title="Too many requests", headers={"Retry-After": str(wait)},
                          retry_after=wait)
    if writer and not actor.may_act:
        raise RoleNotAllowed(f"roles {list(actor.roles)} may read but not act on cases")
    return actor


async def authenticate(request: Request, *, bulk_import: bool = False) -> Actor:
    """The calling staff member, or a 401 problem (a 429 one when its token is over its rate limit)."""
    token = bearer_token(request)
    return await in_thread(lambda: authenticated(request, token, bulk_import=bulk_import))


async def authenticate_writer(request: Request, *, bulk_import: bool = False) -> Actor:
    """The calling staff member if its roles may act on cases at all, else a 403 problem."""
    token = bearer_token(request)
    return await in_thread(lambda: authenticated(request, token, bulk_import=bulk_import, writer=True))

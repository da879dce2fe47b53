"""The console's sign-in: an API token exchanged for a signed session cookie.

The cookie (``casetrail_console``, Starlette's ``SessionMiddleware``: signed
with itsdangerous, http-only, ``SameSite=Lax``, path ``/console``, 8 hours)
holds the staff id and the SHA-256 of the token, never the token. Every
request re-checks that token record (``ApiToken.valid``) and the staff
member, so revoking the token, its expiry or deactivating the person ends
the session at once.

The secret is ``CASETRAIL_CONSOLE_SECRET`` when set, else derived from the
checkpoint signing key (``domain.audit.signing.signer_for``, the same key
file every process of a deployment reads), so several API processes agree
without another setting; without either, a random secret of the process.
``CASETRAIL_CONSOLE_SECURE_COOKIE=true`` marks the cookie ``Secure`` (behind HTTPS).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from typing import Any

import structlog
from eventsourcing.application import AggregateNotFoundError
from starlette.requests import Request

from domain.audit.signing import SigningKeyError, signer_for, url_of
from domain.model.actor import Actor
from domain.model.errors import StaffNotFound
from domain.model.staff import ApiToken, token_hash

SECRET_ENV = "CASETRAIL_CONSOLE_SECRET"
SECURE_ENV = "CASETRAIL_CONSOLE_SECURE_COOKIE"
COOKIE = "casetrail_console"
log = structlog.get_logger("casetrail.console")
MAX_AGE = 8 * 3600


class NotSignedIn(Exception):
    """No session, or its token is no longer valid: the console sends the browser to the sign-in page."""


def session_secret(app: Any, environ: Any = None) -> str:
    """The configured secret, else one derived from the signing key; the console never creates that
    key: without one, a random secret of this process (sessions then end with it; a warning says so)."""
    env = os.environ if environ is None else environ
    configured = env.get(SECRET_ENV)
    if configured:
        return str(configured)
    try:
        private = signer_for(url=url_of(app.env), create=False).private_pem()
    except SigningKeyError:
        log.warning("console sessions signed with a secret of this process only: set "
                    f"{SECRET_ENV}, or start the workers once (they make the signing key)")
        return secrets.token_hex(32)
    return hmac.new(private, b"casetrail console session v1", hashlib.sha256).hexdigest()


def secure_cookie(environ: Any = None) -> bool:
    return (os.environ if environ is None else environ).get(SECURE_ENV, "").lower() == "true"


def sign_in(app: Any, request: Request, token: str) -> Actor:
    """Check ``token`` (401 semantics: ``AuthenticationFailed``) and start a session for its staff member."""
    actor: Actor = app.authenticate(token.strip())
    request.session.clear()
    request.session.update({"staff": actor.id, "token": token_hash(token.strip()),
                            "lang": request.session.get("lang", "zh")})
    return actor


def actor_of(app: Any, session: dict[str, Any]) -> Actor:
    """The signed-in staff member, re-checked against the token record now."""
    hashed, staff_id = session.get("token"), session.get("staff")
    if not isinstance(hashed, str) or not isinstance(staff_id, str):
        raise NotSignedIn
    try:
        record = app.load(ApiToken.create_id(hashed))
    except (AggregateNotFoundError, ValueError):
        raise NotSignedIn from None
    if not isinstance(record, ApiToken) or record.staff_id != staff_id or not record.valid(hashed, app.clock()):
        raise NotSignedIn
    try:
        staff = app.get_staff(staff_id)
    except StaffNotFound:
        raise NotSignedIn from None
    if not staff.active:
        raise NotSignedIn
    actor: Actor = staff.as_actor()
    return actor

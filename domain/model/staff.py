"""Staff members and their API tokens, as event-sourced aggregates.

A staff member has one department and one or more roles; every change is an
event. Tokens are never stored: only their SHA-256 hash, which also derives
the token aggregate's id, so authentication is one primary-key read and a
constant-time comparison. Each token also has a short public identifier,
its *token id* (``tk_`` and 12 hex digits derived from the hash, recorded in
the ``Issued`` event; tokens issued before it existed derive the same one),
which lists, logs and ``token revoke`` may show: it cannot be turned back
into the token or its hash. A token is active, expired (``expires_at``
passed) or revoked (``status``).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.model.actor import ROLES, Actor, stable_id
from domain.model.copying import PlainCopy
from domain.model.errors import InvalidFields
from domain.model.topics import register_moved

TOKEN_PREFIX = "ct_"
TOKEN_ID_PREFIX = "tk_"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_id_of(hashed: str) -> str:
    """The public id of the token with this hash (a one-way function of the hash: safe to show)."""
    return TOKEN_ID_PREFIX + hashlib.sha256(f"token-id:{hashed}".encode()).hexdigest()[:12]


def check_staff_fields(staff_id: str, name: str, department: str, roles: list[str],
                       known_roles: Sequence[str] = ROLES) -> None:
    """Refuse a malformed staff record; roles must be in the role catalog (``known_roles``)."""
    problems = []
    if not isinstance(staff_id, str) or not staff_id or len(staff_id) > 64 or not all(
        c.isalnum() or c in "-_." for c in staff_id
    ):
        problems.append({"field": "id", "problem": "must be 1-64 letters, digits, '-', '_' or '.'"})
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        problems.append({"field": "name", "problem": "must be a non-empty string"})
    if not isinstance(department, str) or not department.strip() or len(department) > 64:
        problems.append({"field": "department", "problem": "must be a non-empty string"})
    bad = [r for r in roles if r not in known_roles]
    if not roles or bad:
        problems.append({"field": "roles", "problem": f"unknown roles {bad}; allowed: {list(known_roles)}"})
    if problems:
        raise InvalidFields("; ".join(f"{p['field']} {p['problem']}" for p in problems), errors=problems)


class Staff(PlainCopy, Aggregate):
    """A staff member (员工): department, roles, active flag."""

    @staticmethod
    def create_id(staff_id: str) -> UUID:
        return stable_id("staff", staff_id)

    @event("Registered")
    def __init__(self, staff_id: str, name: str, department: str, roles: list[str], meta: dict[str, Any]):
        self.staff_id = staff_id
        self.name = name
        self.department = department
        self.roles = list(roles)
        self.active = True
        self.head_hash: str | None = None

    @event("Updated")
    def update(self, name: str, department: str, roles: list[str], meta: dict[str, Any]) -> None:
        self.name, self.department, self.roles = name, department, list(roles)

    @event("Deactivated")
    def deactivate(self, meta: dict[str, Any]) -> None:
        self.active = False

    def as_actor(self) -> Actor:
        return Actor(id=self.staff_id, roles=tuple(self.roles), department=self.department, name=self.name)

    def view(self) -> dict[str, Any]:
        return {
            "id": self.staff_id,
            "name": self.name,
            "department": self.department,
            "roles": list(self.roles),
            "active": self.active,
        }


class ApiToken(PlainCopy, Aggregate):
    """A bearer token, identified by (and storing only) its hash."""

    @staticmethod
    def create_id(token_hash: str) -> UUID:
        return stable_id("token", token_hash)

    @event("Issued")
    def __init__(self, token_hash: str, staff_id: str, expires_at: str | None, meta: dict[str, Any],
                 token_id: str | None = None):
        self.token_hash = token_hash
        self.staff_id = staff_id
        self.expires_at = expires_at
        self.token_id = token_id or token_id_of(token_hash)  # tokens issued before ids: derived alike
        self.issued_at: str = meta.get("occurred_at", "")
        self.revoked = False
        self.head_hash: str | None = None

    @event("Revoked")
    def revoke(self, meta: dict[str, Any], token_id: str | None = None) -> None:
        """Refuse the token from now on (``token_id``: named in the event for the audit log)."""
        self.revoked = True

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and datetime.fromisoformat(self.expires_at) <= now

    def status(self, now: datetime) -> str:
        """``revoked``, ``expired`` or ``active``."""
        return "revoked" if self.revoked else "expired" if self.expired(now) else "active"

    def valid(self, presented_hash: str, now: datetime) -> bool:
        if not hmac.compare_digest(self.token_hash, presented_hash):
            return False
        return self.status(now) == "active"

    def listing(self, now: datetime) -> dict[str, Any]:
        """What ``token list`` shows: never the token or its hash."""
        return {"token_id": self.token_id, "staff_id": self.staff_id, "created_at": self.issued_at,
                "expires_at": self.expires_at, "status": self.status(now)}


# Events stored before the domain became packages name this module by its old path.
register_moved(__name__)

"""Staff endpoints: ``GET /v1/staff`` (the staff list) and ``GET /v1/staff/{staff_id}`` (one member).

A member is shown as ``Staff.view()`` has it: id, name, department, roles
and the active flag, never a token or anything about tokens. The data is the
application's ``StaffDirectory`` (``domain/directory.py``: current with the
event log when asked, no read model to wait for).

Who may read (``STAFF_READERS``): admins, reviewers (who read everything)
and the supervising roles of the role catalog: ``supervisor`` (客服主管),
``dept_head``, ``sales_manager``, ``general_manager``, ``finance_director``,
``quality_manager`` and ``project_manager``. Any staff member may read their
own record. Others get a 403 naming the roles.

The list is ordered by staff id and keyset-paginated (``limit``, ``cursor``);
filters: ``department`` (exact), ``role`` (one role of the catalog: an
unknown role is a 400 naming it), ``active=true|false``. An unknown staff id
is a 404.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api import openapi as oa
from api import params
from api.auth import authenticate
from api.negotiation import render
from api.problems import Problem, bad_request
from api.threads import in_thread
from domain.model.actor import Actor

STAFF_READERS = frozenset({"admin", "reviewer", "supervisor", "dept_head", "sales_manager", "general_manager",
                           "finance_director", "quality_manager", "project_manager"})
STAFF_ID = {"type": "string", "minLength": 1, "maxLength": 64, "pattern": "^[A-Za-z0-9._-]+$"}
DEFAULT_LIMIT, MAX_LIMIT = 50, 500


def _require(actor: Actor, own: bool = False) -> None:
    if not own and not set(actor.roles) & STAFF_READERS:
        raise Problem(403, f"staff records are visible to roles {sorted(STAFF_READERS)} (and one's own)",
                      kind="forbidden", title="Role not allowed", allowed_roles=sorted(STAFF_READERS))


def _cursor(raw: str | None) -> str | None:
    """The staff id after which the page starts (the cursor is that id, base64url-encoded)."""
    if raw is None:
        return None
    if len(raw) > 100 or not raw.isascii():
        raise bad_request("cursor must be at most 100 characters: next_cursor of the previous page")
    try:
        after = base64.urlsafe_b64decode(raw.encode("ascii") + b"=" * (-len(raw) % 4)).decode("utf-8")
    except (ValueError, binascii.Error, UnicodeError):
        after = ""
    if not after or len(after) > 64:  # well-formed but not one of ours: 422, like the other lists
        raise Problem(422, "cursor is not one this endpoint gave (use next_cursor of the previous page)",
                      kind="invalid-query", title="Invalid query parameter")
    return after


def _encode(staff_id: str) -> str:
    return base64.urlsafe_b64encode(staff_id.encode()).decode("ascii").rstrip("=")


def _filter(request: Request, name: str) -> str | None:
    value = request.query_params.get(name)
    if value is None or value == "":
        return None
    if len(value) > 64:
        raise bad_request(f"{name} must be at most 64 characters")
    return value


async def list_staff(request: Request) -> Response:
    actor = await authenticate(request)
    _require(actor)
    params.only(request, "department", "role", "active", "limit", "cursor")
    app = request.app.state.casetrail
    department, role = _filter(request, "department"), request.query_params.get("role")
    if role is not None and role not in app.registry.roles.names():
        raise bad_request(f"unknown role {role[:64]!r}; the role catalog has {sorted(app.registry.roles.names())}")
    active = request.query_params.get("active")
    if active not in (None, "true", "false"):
        raise bad_request(f"active must be true or false, got {active[:40]!r}")
    limit = params.int_param(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT) or DEFAULT_LIMIT
    after = _cursor(request.query_params.get("cursor"))
    members = await in_thread(app.directory.members)
    chosen = [m for m in members
              if (after is None or m["id"] > after)
              and (department is None or m["department"] == department)
              and (role is None or role in m["roles"])
              and (active is None or m["active"] == (active == "true"))]
    page = chosen[:limit]
    more = len(chosen) > limit
    return render(request, {"items": page, "next_cursor": _encode(page[-1]["id"]) if more else None})


async def show_staff(request: Request) -> Response:
    actor = await authenticate(request)
    staff_id = request.path_params["staff_id"]
    if len(staff_id) > 64:
        raise bad_request("staff id must be at most 64 characters")
    _require(actor, own=actor.id == staff_id)
    params.only(request)
    members = await in_thread(request.app.state.casetrail.directory.members)
    found = next((m for m in members if m["id"] == staff_id), None)
    if found is None:
        raise Problem(404, f"no staff member {staff_id!r}", kind="unknown-staff", title="Unknown staff member")
    return render(request, found)


routes = [
    Route("/v1/staff", list_staff, methods=["GET"]),
    Route("/v1/staff/{staff_id}", show_staff, methods=["GET"]),
]

MEMBER: dict[str, Any] = {
    "type": "object",
    "properties": {"id": {"type": "string"}, "name": {"type": "string"}, "department": {"type": "string"},
                   "roles": {"type": "array", "items": {"type": "string"}}, "active": {"type": "boolean"}},
    "required": ["id", "name", "department", "roles", "active"],
    "additionalProperties": False,
}
READERS = ("Visible to admins, reviewers and the supervising roles (supervisor, dept_head, sales_manager, "
           "general_manager, finance_director, quality_manager, project_manager).")

paths = {
    "/v1/staff": {"get": oa.operation(
        "listStaff", "List staff members", tag="staff",
        description=f"{READERS} Each member's id, name, department, roles and active flag (never tokens), "
                    "ordered by id, keyset-paginated with `cursor`. `role` must be a role of the catalog "
                    "(else 400).",
        parameters=[oa.query("department", {"type": "string", "maxLength": 64}, "only this department"),
                    oa.query("role", {"type": "string", "maxLength": 64}, "only holders of this role"),
                    oa.query("active", {"enum": ["true", "false"]}, "only (in)active members"),
                    oa.query("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT,
                                       "default": DEFAULT_LIMIT}, "page size"),
                    oa.query("cursor", {"type": "string", "maxLength": 100, "pattern": "^[A-Za-z0-9_-]+$"},
                             "next_cursor of the previous page")],
        responses={"200": {"description": "A page of staff members", "content": oa.content({
            "type": "object", "properties": {"items": {"type": "array", "items": MEMBER},
                                             "next_cursor": oa.nullable({"type": "string"})},
            "required": ["items", "next_cursor"]})}},
        problems=[400, 403, 422])},
    "/v1/staff/{staff_id}": {"get": oa.operation(
        "showStaff", "A staff member", tag="staff",
        description=f"{READERS} Any member may read their own record. Unknown id: 404.",
        parameters=[oa.path_param("staff_id", STAFF_ID, "staff id")],
        responses={"200": {"description": "The staff member", "content": oa.content(MEMBER)}},
        problems=[400, 403, 404])},
}

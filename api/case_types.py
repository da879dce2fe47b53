"""Case-type endpoints: the workflow definitions the server runs, as data.

``GET /v1/case-types`` lists the types; ``GET /v1/case-types/{type}`` shows
one definition (states, actions with from/to states, roles and fields,
clocks), exactly as loaded from the case-type files.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api import openapi as oa
from api import params
from api.auth import authenticate
from api.negotiation import render
from api.problems import Problem
from domain.application import CaseTrail
from domain.model.errors import UnknownCaseType


async def list_case_types(request: Request) -> Response:
    await authenticate(request)
    params.only(request)
    app: CaseTrail = request.app.state.casetrail
    items = [{"name": ct.name, "title": ct.title, "version": ct.version, "number_prefix": ct.number_prefix,
              "href": f"/v1/case-types/{ct.name}"} for ct in app.registry]
    return render(request, {"items": sorted(items, key=lambda x: x["name"]), "next_cursor": None})


async def get_case_type(request: Request) -> Response:
    await authenticate(request)
    params.only(request)
    app: CaseTrail = request.app.state.casetrail
    name = request.path_params["type"]
    try:
        ct = app.registry.get(name)
    except UnknownCaseType as e:
        raise Problem(404, e.message, kind="unknown-case-type", title="Unknown case type", **e.extra) from None
    return render(request, ct.describe())


routes = [
    Route("/v1/case-types", list_case_types, methods=["GET"]),
    Route("/v1/case-types/{type}", get_case_type, methods=["GET"]),
]

paths = {
    "/v1/case-types": {"get": oa.operation(
        "listCaseTypes", "The case types in force", tag="case types",
        responses={"200": {"description": "Every case type", "content": oa.content(oa.ref("CaseTypeList"))}})},
    "/v1/case-types/{type}": {"get": oa.operation(
        "getCaseType", "One workflow definition", tag="case types",
        parameters=[oa.path_param("type", {"type": "string"}, "case type name, e.g. complaint")],
        responses={"200": {"description": "states, actions, clocks", "content": oa.content(oa.ref("CaseType"))}},
        problems=[404])},
}

"""``/docs``: the interactive API reference, Swagger UI over ``/openapi.json``, served offline.

The page and its assets (``api/reference_static/``: Swagger UI vendored from
npm ``swagger-ui-dist`` with its licence, and ``casetrail-docs.js`` that
starts it) are package data, so a plain ``pip install`` serves them; nothing
is loaded from elsewhere, and the page's Content-Security-Policy says so to
the browser. Swagger UI resolves the request and response schemas, renders
the descriptions' markdown, shows each operation's examples and can send a
request with a bearer token ("Authorize"). Like ``/openapi.json``, the
page needs no token: it carries nothing the document does not.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from api import openapi as oa
from api import params

ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "casetrail-docs.js": "text/javascript; charset=utf-8",
}
POLICY = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
          "font-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>casetrail API reference</title>
<link rel="stylesheet" href="/docs/swagger-ui.css">
<link rel="icon" href="data:,">
</head>
<body>
<noscript><p>This reference needs JavaScript; the machine-readable document is
<a href="/openapi.json">/openapi.json</a>.</p></noscript>
<div id="swagger-ui"></div>
<script src="/docs/swagger-ui-bundle.js"></script>
<script src="/docs/casetrail-docs.js"></script>
</body>
</html>
"""


@cache
def asset(name: str) -> bytes:
    return resources.files("api").joinpath("reference_static", name).read_bytes()


async def docs(request: Request) -> Response:
    params.only(request)
    return HTMLResponse(PAGE, headers={"Content-Security-Policy": POLICY, "Cache-Control": "no-cache"})


def _asset_endpoint(name: str):  # type: ignore[no-untyped-def]
    async def endpoint(request: Request) -> Response:
        params.only(request)
        return Response(asset(name), media_type=ASSETS[name],
                        headers={"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"})
    return endpoint


routes = [Route("/docs", docs, methods=["GET"]),
          *(Route(f"/docs/{name}", _asset_endpoint(name), methods=["GET"]) for name in ASSETS)]


def _public(op_id: str, summary: str, media: str) -> dict[str, object]:
    return {"get": oa.operation(op_id, summary, tag="operations", auth=False, problems=[400],
                                responses={"200": {"description": summary,
                                                   "content": {media: {"schema": {"type": "string"}}}}})}


paths = {
    "/docs": _public("docs", "This reference, interactive (Swagger UI)", "text/html"),
    "/docs/swagger-ui-bundle.js": _public("docsScript", "The reference's script (Swagger UI)", "text/javascript"),
    "/docs/swagger-ui.css": _public("docsStyle", "The reference's style sheet (Swagger UI)", "text/css"),
    "/docs/casetrail-docs.js": _public("docsStart", "The script that starts the reference", "text/javascript"),
}

"""What every console page shares: templates, the signed-in reviewer, the language, the ledger.

The console is a Starlette application of its own (``api.console.mount``)
that reads the API application's state (``parent(request)``: the
``CaseTrail`` and the shared read models). ``signed_in`` gives the staff
member of the session or raises ``NotSignedIn`` (the sign-in page follows);
``page`` renders a template with the labels of the session's language;
``record`` writes the page view to the access ledger, like the API's reads.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.templating import Jinja2Templates

from api.console.i18n import normalize, translator
from api.console.session import NotSignedIn, actor_of
from api.read_models import read_models
from api.threads import in_thread
from domain.audit.access import record_read
from domain.model.actor import Actor, CommandContext
from projections.queries import ReadModels

HERE = Path(__file__).parent
ENV = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]),
                  trim_blocks=True, lstrip_blocks=True)
templates = Jinja2Templates(env=ENV)


def local_time(value: Any, zone: Any, seconds: bool = False) -> str:
    """An RFC 3339 time in the calendar's zone, ``YYYY-MM-DD HH:MM[:SS]`` ("" for none)."""
    if not value:
        return ""
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return str(value)
    if moment.tzinfo is not None and zone is not None:
        moment = moment.astimezone(zone)
    return moment.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


ENV.filters["local"] = local_time
ENV.filters["dash"] = lambda value: "–" if value is None else value


def parent(request: Request) -> Any:
    """The API application's state (``casetrail``, ``read_models``)."""
    return request.app.state.parent


def casetrail(request: Request) -> Any:
    return parent(request).casetrail


def models(request: Request) -> ReadModels:
    # api.read_models.read_models keeps one ReadModels on the state it is given: the API's.
    return read_models(SimpleNamespace(app=SimpleNamespace(state=parent(request))))  # type: ignore[arg-type]


def lang(request: Request) -> str:
    asked = request.query_params.get("lang")
    if asked:
        request.session["lang"] = normalize(asked)
    return normalize(request.session.get("lang"))


async def signed_in(request: Request) -> Actor:
    actor = await in_thread(actor_of, casetrail(request), request.session)
    request.state.console_actor = actor
    return actor


def may(actor: Actor, roles: set[str]) -> bool:
    return bool(set(actor.roles) & roles)


# Scripts only from the console's own static files (the vendored htmx and ECharts, console.js);
# styles may be inline (ECharts and the printable evidence report set them); no framing.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                               "img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; "
                               "frame-ancestors 'none'",
    "X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def other_language_url(request: Request, language: str) -> str:
    """This page in the other language (the query kept)."""
    query = [(k, v) for k, v in request.query_params.multi_items() if k != "lang"]
    return "?" + urlencode([*query, ("lang", "en" if language == "zh" else "zh")])


def page(request: Request, name: str, context: dict[str, Any] | None = None, status: int = 200,
         headers: dict[str, str] | None = None) -> HTMLResponse:
    language = lang(request)
    actor = getattr(request.state, "console_actor", None)
    ctx = {"t": translator(language), "lang": language, "actor": actor, "path": request.url.path,
           "zone": casetrail(request).calendar.zone, "other_lang_url": other_language_url(request, language),
           **(context or {})}
    return templates.TemplateResponse(request, name, ctx, status_code=status,
                                      headers={**SECURITY_HEADERS, **(headers or {})})


async def record(request: Request, actor: Actor, subject: Any, what: str, detail: dict[str, Any]) -> None:
    """The page view in the access ledger (who read what, when)."""
    ctx = CommandContext(correlation_id=getattr(request.state, "request_id", "") or "")
    clean = {k: str(v) for k, v in detail.items() if v not in (None, "")}
    await in_thread(record_read, casetrail(request), actor, subject, what, clean, ctx)


__all__ = ["NotSignedIn", "casetrail", "lang", "may", "models", "page", "parent", "record", "signed_in"]

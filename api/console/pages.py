"""Console pages: sign-in and sign-out, case search (with its CSV), the case page and its parts.

The case page (``/console/cases/{number}``, ``?version=N`` or ``?as_of=TIME``
to replay, as API.md says) shows the header, the replay control, the diff
form, the verification badge and the timeline of every event. Its parts are
also served alone for htmx (``.../state``, ``.../diff``, ``.../verify``);
each works as a plain page too. Evidence: ``.../evidence.json`` (the bundle
``casetrail audit export`` writes, anchored in the last signed checkpoint;
the console signs nothing) and ``.../evidence.html`` (printable).
Nothing here changes a case; every view goes to the access ledger.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, quote
from uuid import UUID

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from api.console import history
from api.console.search import PAGE, Search, export_csv, search
from api.console.session import sign_in
from api.console.web import SECURITY_HEADERS, casetrail, lang, models, page, record, signed_in
from api.threads import in_thread
from domain.audit.bundle import bundle_text
from domain.audit.export import export_bundle
from domain.audit.report import bundle_html
from domain.audit.signing import public_key_for, url_of
from domain.model.actor import CommandContext
from domain.model.errors import AuthenticationFailed, CaseNotFound

MAX_FORM = 8192


def _safe_next(target: str | None) -> str:
    return target if target and target.startswith("/console/") and not target.startswith("//") else "/console/cases"


async def login_form(request: Request) -> Response:
    lang(request)
    return page(request, "login.html", {"next": _safe_next(request.query_params.get("next")), "error": None})


async def login(request: Request) -> Response:
    # A urlencoded form of two short fields (no multipart: no python-multipart dependency).
    body = (await request.body())[:MAX_FORM]
    form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
    token, target = form.get("token", ""), _safe_next(form.get("next", ""))
    try:
        await in_thread(sign_in, casetrail(request), request, token)
    except AuthenticationFailed:
        return page(request, "login.html", {"next": target, "error": "bad_token"}, status=401)
    return RedirectResponse(target, status_code=303)


async def logout(request: Request) -> Response:
    language = request.session.get("lang")
    request.session.clear()
    if language:
        request.session["lang"] = language
    return RedirectResponse("/console/login", status_code=303)


async def home(request: Request) -> Response:
    return RedirectResponse("/console/cases", status_code=303)


# ------------------------------------------------------------------ search
async def cases(request: Request) -> Response:
    actor = await signed_in(request)
    s = Search.of(request.query_params)
    try:
        offset = max(0, int(request.query_params.get("offset", "0")))
    except ValueError:
        offset = 0
    rm = models(request)
    rows, count = await in_thread(lambda: search(rm, s, limit=PAGE, offset=offset))
    types = sorted(casetrail(request).registry.names())
    await record(request, actor, f"case-list:{actor.id}", "console-cases", dict(s.filters, sort=s.sort))
    return page(request, "cases.html", {"s": s, "rows": rows, "count": count, "offset": offset, "page": PAGE,
                                        "types": types, "title_key": "cases"})


async def cases_csv(request: Request) -> Response:
    actor = await signed_in(request)
    s = Search.of(request.query_params)
    rm = models(request)
    text = await in_thread(export_csv, rm, s)
    await record(request, actor, f"case-list:{actor.id}", "console-cases-csv", dict(s.filters, sort=s.sort))
    return Response(text.encode("utf-8"), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="cases.csv"', **SECURITY_HEADERS})


# --------------------------------------------------------------- case page
def case_id_for(request: Request, number: str) -> UUID:
    """The case id of a number (the case_state read model), or of a UUID given instead."""
    try:
        return UUID(number)
    except ValueError:
        pass
    view = models(request).view("case_state")
    rows = view.read(f"SELECT id FROM {view.tables['case_state']} WHERE number = ?", [number[:100]])
    if not rows:
        raise CaseNotFound(f"no case {number}")
    return UUID(str(rows[0]["id"]))


def _version(request: Request, name: str = "version") -> int | None:
    raw = request.query_params.get(name) or ""
    return int(raw) if raw.isdigit() and 0 < int(raw) < 2**31 else None


def _as_of(request: Request, zone: Any) -> datetime | None:
    raw = (request.query_params.get("as_of") or "").strip()
    if not raw:
        return None
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=zone)


def _case_context(request: Request, number: str) -> dict[str, Any]:
    """Everything the case page shows (run in a worker thread)."""
    app = casetrail(request)
    case_id = case_id_for(request, number)
    head = app.get_case(case_id)
    version, as_of = _version(request), _as_of(request, app.calendar.zone)
    try:
        shown = history.replayed(app, case_id, version, as_of)
    except CaseNotFound:
        shown = head
    entries = app.case_history(case_id)
    return {"head": head, "number": head.number, "shown": _view(app, shown), "head_view": _view(app, head),
            "timeline": history.timeline(entries), "as_of": as_of, "now": datetime.now(UTC)}


def _view(app: Any, case: Any) -> dict[str, Any]:
    view: dict[str, Any] = case.view(app.registry.get(case.case_type), None)
    view["clock_badges"] = history.clock_badges(view, datetime.now(UTC))
    return view


async def case_page(request: Request) -> Response:
    actor = await signed_in(request)
    number = request.path_params["number"]
    ctx = await in_thread(_case_context, request, number)
    shown = ctx["shown"]
    await record(request, actor, ctx["head"].id, "console-case",
                 {"version": _version(request), "as_of": ctx["as_of"], "shown_version": shown["version"]})
    return page(request, "case.html", {**ctx, "title_key": "cases"})


async def case_state(request: Request) -> Response:
    """The replay part: the case as it stood at ``?version=`` or ``?as_of=``."""
    actor = await signed_in(request)
    number = request.path_params["number"]

    def load() -> tuple[Any, dict[str, Any] | None, datetime | None]:
        app = casetrail(request)
        case_id = case_id_for(request, number)
        as_of = _as_of(request, app.calendar.zone)
        try:
            return case_id, _view(app, history.replayed(app, case_id, _version(request), as_of)), as_of
        except CaseNotFound:  # before it was opened (or a version it never had)
            app.get_case(case_id)
            return case_id, None, as_of

    case_id, shown, as_of = await in_thread(load)
    await record(request, actor, case_id, "console-replay", {"version": _version(request), "as_of": as_of})
    if shown is None:
        return page(request, "_state_none.html", {"as_of": as_of, "number": number})
    return page(request, "_state.html", {"shown": shown, "number": number})


async def case_diff(request: Request) -> Response:
    actor = await signed_in(request)
    number = request.path_params["number"]
    low, high = _version(request, "from") or 1, _version(request, "to")

    def load() -> tuple[Any, list[tuple[str, Any, Any]], int, int]:
        app = casetrail(request)
        case_id = case_id_for(request, number)
        top = high or app.get_case(case_id).version
        a = app.get_case(case_id, version=low).view(None, None)
        b = app.get_case(case_id, version=top).view(None, None)
        return case_id, history.diff(a, b), low, top

    case_id, rows, low, top = await in_thread(load)
    await record(request, actor, case_id, "console-diff", {"from": low, "to": top})
    return page(request, "_diff.html", {"rows": rows, "low": low, "high": top, "number": number})


async def case_verify(request: Request) -> Response:
    actor = await signed_in(request)
    number = request.path_params["number"]

    def check() -> tuple[Any, dict[str, Any]]:
        app = casetrail(request)
        case = app.get_case(case_id_for(request, number))
        return case.id, history.verification(app, case)

    case_id, badge = await in_thread(check)
    await record(request, actor, "audit-verify", str(case_id), {"ok": badge["ok"], "via": "console"})
    return page(request, "_badge.html", {"badge": badge, "number": number,
                                         "checked_at": datetime.now(UTC).isoformat(timespec="seconds")})


def _bundle(request: Request, number: str, actor: Any) -> dict[str, Any]:
    app = casetrail(request)
    ctx = CommandContext(correlation_id=getattr(request.state, "request_id", "") or "")
    return export_bundle(app, case_id_for(request, number), actor=actor, ctx=ctx,
                         public_key=public_key_for(url=url_of(app.env)))


async def evidence_json(request: Request) -> Response:
    actor = await signed_in(request)
    number = request.path_params["number"]
    bundle = await in_thread(_bundle, request, number, actor)
    name = quote(f"evidence-{number}.json")
    return Response(bundle_text(bundle).encode("utf-8"), media_type="application/json",
                    headers={"Content-Disposition": f"attachment; filename*=UTF-8''{name}",
                             **SECURITY_HEADERS})


async def evidence_html(request: Request) -> Response:
    actor = await signed_in(request)
    bundle = await in_thread(_bundle, request, request.path_params["number"], actor)
    return HTMLResponse(bundle_html(bundle), headers=SECURITY_HEADERS)

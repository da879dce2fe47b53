"""Importing a legacy case with its whole history, atomically.

``import_case`` takes one request ``{"case": {open body with occurred_at},
"actions": [{"action", "actor"?, "occurred_at", "data"?}, ...]}`` (the
HTTP ``POST /v1/import/cases`` body and one line of ``casetrail import``),
opens the case at its original time and applies the actions in order, with
every state, field, guard and clock rule of the case type (role checks
aside: the importer acts for the legacy actors, each recorded as the event's
``original_actor``). Before each action, clocks that fell due since the
previous one are recorded as breached at their due time. Every event is
flagged ``imported``. Everything is saved in one transaction, so nothing is
recorded when any action is refused (``ImportRefused`` names it) and the SLA
pass never sees a half-imported case. Imports do not run cross-case
policies (a legacy case brings its own linked cases).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from domain.application import CaseTrail, CommandResult, typed  # noqa: E402  (imported by CaseTrail.import_case)
from domain.model.actor import Actor, CommandContext, event_meta
from domain.model.case import Case
from domain.model.errors import DomainError, InvalidFields, RoleNotAllowed, VersionConflict
from domain.model.moments import parse_time
from domain.model.numbering import series_key
from domain.model.uniqueness import check_requirements, plan_keys
from domain.storage.retry import retrying

CASE_KEYS = ("type", "title", "customer", "fields", "channel", "occurred_at")
ACTION_KEYS = ("action", "actor", "occurred_at", "data")
MAX_ACTIONS = 1000
FUTURE_SLACK = timedelta(minutes=5)


class ImportRefused(DomainError):
    """An imported case or one of its actions broke a rule: nothing was recorded."""

    kind = "import-refused"
    title = "Import refused"


@dataclass(frozen=True)
class ImportedAction:
    action: str
    actor: str | None
    at: datetime
    data: dict[str, Any]


@dataclass(frozen=True)
class ImportRequest:
    case: dict[str, Any]
    at: datetime
    actions: tuple[ImportedAction, ...]


def _time(value: Any, where: str) -> datetime:
    try:
        if not isinstance(value, str):
            raise ValueError("is required: an RFC 3339 time with offset")
        return parse_time(value)
    except ValueError as e:
        raise InvalidFields(f"{where}: {e}", errors=[{"field": where, "problem": str(e)}]) from None


def parse_import(body: Any, now: datetime) -> ImportRequest:
    """Check the shape of an import request (times in order, none in the future)."""
    if not isinstance(body, Mapping) or set(body) - {"case", "actions"} or not isinstance(body.get("case"), Mapping):
        raise InvalidFields('an import is {"case": {...}, "actions": [...]}',
                            errors=[{"field": "case", "problem": "is required: the open body with occurred_at"}])
    case = dict(body["case"])
    unknown = sorted(set(case) - set(CASE_KEYS))
    if unknown:
        raise InvalidFields(f"case: unknown fields {unknown}; allowed: {list(CASE_KEYS)}",
                            errors=[{"field": f"case.{k}", "problem": "unknown field"} for k in unknown])
    opened = _time(case.pop("occurred_at", None), "case.occurred_at")
    raw = body.get("actions", [])
    if not isinstance(raw, list) or len(raw) > MAX_ACTIONS:
        raise InvalidFields(f"actions must be a list of at most {MAX_ACTIONS} actions",
                            errors=[{"field": "actions", "problem": "must be a list"}])
    actions, last = [], opened
    for i, item in enumerate(raw):
        where = f"actions[{i}]"
        if not isinstance(item, Mapping) or set(item) - set(ACTION_KEYS) or not isinstance(item.get("action"), str):
            raise InvalidFields(f"{where} must be {{\"action\", \"actor\"?, \"occurred_at\", \"data\"?}}",
                                errors=[{"field": where, "problem": "malformed action"}])
        actor = item.get("actor")
        if actor is not None and (not isinstance(actor, str) or not 0 < len(actor) <= 100):
            raise InvalidFields(f"{where}.actor must be a staff id or a name (1-100 characters)",
                                errors=[{"field": f"{where}.actor", "problem": "must be a string"}])
        data = item.get("data") or {}
        if not isinstance(data, Mapping):
            raise InvalidFields(f"{where}.data must be an object", errors=[{"field": f"{where}.data",
                                                                            "problem": "must be an object"}])
        at = _time(item.get("occurred_at"), f"{where}.occurred_at")
        if at < last:
            raise InvalidFields(f"{where}.occurred_at is before the previous event",
                                errors=[{"field": f"{where}.occurred_at", "problem": "is before the previous event"}])
        last = at
        actions.append(ImportedAction(item["action"], actor, at, dict(data)))
    if last > now + FUTURE_SLACK:
        raise InvalidFields("an imported event is in the future",
                            errors=[{"field": "occurred_at", "problem": "is in the future"}])
    return ImportRequest(case, opened, tuple(actions))


def import_case(app: CaseTrail, actor: Actor, body: Any, ctx: CommandContext = CommandContext(),
                idempotency: tuple[str, str] | None = None) -> CommandResult:
    """Open and replay one legacy case in one transaction (see the module doc)."""
    if not actor.is_importer:
        raise RoleNotAllowed("importing cases needs the importer role", allowed_roles=["importer"])
    request = parse_import(body, app.clock())
    ct = app.registry.get(request.case.get("type"))  # type: ignore[arg-type]

    def once(_fresh: bool) -> CommandResult:
        replayed = app._replay(actor, idempotency)
        if replayed is not None:
            return replayed
        case, series = _rebuild(app, ct, actor, request, ctx)
        meta = event_meta(actor, app.clock(), ctx)
        check_requirements(ct, case.context(), app._unique_key)  # cross-case rules hold for imports too
        keys = plan_keys(ct, case, None, app._unique_key, typed(meta, ct))
        return app._saved(case, [series, *keys], actor, idempotency, 201, meta)

    key = series_key(ct.number_prefix, request.at, app.calendar.timezone, ct.number_format)
    with app._writers(("series", key)):  # another process taking the number meanwhile: decided again
        return retrying(once, give_up=lambda: VersionConflict("could not allocate a case number for the import; "
                                                              "try again"))


def _rebuild(app: CaseTrail, ct: Any, actor: Actor, request: ImportRequest, ctx: CommandContext) -> tuple[Case, Any]:
    c = request.case
    meta = typed(event_meta(actor, request.at, ctx, imported=True), ct)
    series = app._series(ct, request.at, meta)
    number = app._allocate(series, ct, request.at, meta)
    case = Case.open(case_type=ct, actor=actor, number=number, title=c.get("title"),
                     customer=c.get("customer"), fields=c.get("fields"), channel=c.get("channel"), links=[],
                     at=request.at, calendar=app.calendar, meta=meta, holder=app.directory.holder)
    for i, item in enumerate(request.actions):
        case.record_breaches(ct, item.at, typed(event_meta(actor, item.at, ctx, imported=True), ct), at_due=True,
                             holder=app.directory.holder, calendar=app.calendar)
        meta = typed(event_meta(actor, item.at, ctx, imported=True), ct)
        if item.actor:
            meta["original_actor"] = item.actor
        try:
            case.take(case_type=ct, action=item.action, data=item.data, actor=actor, at=item.at,
                      calendar=app.calendar, meta=meta, known_staff=app.staff_exists, holder=app.directory.holder)
        except DomainError as e:
            raise ImportRefused(f"actions[{i}] ({item.action} at {item.at.isoformat()}) refused: {e.message}; "
                                "nothing was recorded", action_index=i, action=item.action,
                                refusal=e.kind, **e.extra) from None
    return case, series

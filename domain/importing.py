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
from domain.keyed import Keyed
from domain.model.actor import Actor, CommandContext, event_meta
from domain.model.case import Case
from domain.model.errors import DomainError, InvalidFields, RoleNotAllowed, VersionConflict
from domain.model.fields import validate_fields
from domain.model.moments import parse_time
from domain.model.numbering import series_key
from domain.model.opening import Problems, collect, opening_values, refuse
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


def _time(value: Any, where: str, errors: Problems) -> datetime | None:
    try:
        if not isinstance(value, str):
            raise ValueError("is required: an RFC 3339 time with offset")
        return parse_time(value)
    except ValueError as e:
        errors.append({"field": where, "problem": str(e)})
        return None


def parse_import(body: Any, now: datetime) -> ImportRequest:
    """Check the shape of an import request (times in order, none in the future); one ``InvalidFields``
    names every problem found, each with its path (``case.title``, ``actions[2].occurred_at``)."""
    if not isinstance(body, Mapping) or not isinstance(body.get("case"), Mapping):
        raise InvalidFields('an import is {"case": {...}, "actions": [...]}',
                            errors=[{"field": "case", "problem": "is required: the open body with occurred_at"}])
    errors: Problems = [{"field": k, "problem": "unknown field; allowed: ['case', 'actions']"}
                        for k in sorted(set(body) - {"case", "actions"})]
    case = dict(body["case"])
    errors += [{"field": f"case.{k}", "problem": f"unknown field; allowed: {list(CASE_KEYS)}"}
               for k in sorted(set(case) - set(CASE_KEYS))]
    opened = _time(case.pop("occurred_at", None), "case.occurred_at", errors)
    raw = body.get("actions", [])
    if not isinstance(raw, list) or len(raw) > MAX_ACTIONS:
        errors.append({"field": "actions", "problem": f"must be a list of at most {MAX_ACTIONS} actions"})
        raw = []
    actions, last = [], opened
    for i, item in enumerate(raw):
        where = f"actions[{i}]"
        if not isinstance(item, Mapping):
            errors.append({"field": where, "problem": 'must be {"action", "actor"?, "occurred_at", "data"?}'})
            continue
        errors += [{"field": f"{where}.{k}", "problem": f"unknown field; allowed: {list(ACTION_KEYS)}"}
                   for k in sorted(set(item) - set(ACTION_KEYS), key=str)]
        if not isinstance(item.get("action"), str):
            errors.append({"field": f"{where}.action", "problem": "is required: the name of an action"})
        actor = item.get("actor")
        if actor is not None and (not isinstance(actor, str) or not 0 < len(actor) <= 100):
            errors.append({"field": f"{where}.actor", "problem": "must be a staff id or a name (1-100 characters)"})
        data = item.get("data") or {}
        if not isinstance(data, Mapping):
            errors.append({"field": f"{where}.data", "problem": "must be an object"})
            data = {}
        at = _time(item.get("occurred_at"), f"{where}.occurred_at", errors)
        if at is not None and last is not None and at < last:
            errors.append({"field": f"{where}.occurred_at", "problem": "is before the previous event"})
        last = at or last
        if at is not None:
            actions.append(ImportedAction(str(item.get("action")), actor, at, dict(data)))
    if last is not None and last > now + FUTURE_SLACK:
        errors.append({"field": "occurred_at", "problem": "an imported event is in the future"})
    refuse(errors, "the import is malformed")
    assert opened is not None
    return ImportRequest(case, opened, tuple(actions))


def _field_problems(ct: Any, request: ImportRequest) -> Problems:
    """Every problem of the case's opening values and of each action's fields (state aside: the
    actions' order is checked while they are applied), with paths into the import body."""
    c = request.case
    errors: Problems = [{"field": f"case.{e['field']}", "problem": e["problem"]}
                        for e in opening_values(ct, c.get("title"), c.get("customer"), c.get("fields"),
                                                c.get("channel"))[2]]
    for i, item in enumerate(request.actions):
        spec = ct.actions.get(item.action)
        if spec is not None:  # an unknown action is refused in its turn (action_index), like a state refusal
            collect(errors, f"actions[{i}].data", lambda s=spec, d=item.data: validate_fields(s.fields, d, what="data"))
    return errors


def import_case(app: CaseTrail, actor: Actor, body: Any, ctx: CommandContext = CommandContext(),
                idempotency: tuple[str, str] | None = None) -> CommandResult:
    """Open and replay one legacy case in one transaction (see the module doc)."""
    if not actor.is_importer:
        raise RoleNotAllowed("importing cases needs the importer role", allowed_roles=["importer"])
    request = parse_import(body, app.clock())
    ct = app.registry.get(request.case.get("type"))  # type: ignore[arg-type]
    refuse(_field_problems(ct, request), "the import is invalid")  # every invalid field before any rule

    def once(_fresh: bool) -> CommandResult:
        keyed = Keyed.load(app, actor.id, idempotency)
        replayed = app._replay(keyed)
        if replayed is not None:
            return replayed
        case, series = _rebuild(app, ct, actor, request, ctx)
        meta = event_meta(actor, app.clock(), ctx)
        check_requirements(ct, case.context(), app._unique_key)  # cross-case rules hold for imports too
        keys = plan_keys(ct, case, None, app._unique_key, typed(meta, ct))
        return app._saved(case, [series, *keys], keyed, 201, meta)

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

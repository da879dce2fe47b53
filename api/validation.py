"""Request bodies checked as a whole: one 422 problem naming every invalid field.

The HTTP layer owns a few members of a body (unknown top-level keys, the
case ``type``, ``channel``'s shape, ``occurred_at``, ``expected_version``);
the domain owns the rest (title, customer, case fields, an action's fields:
``domain.model.opening``, ``domain.model.fields``). When the HTTP layer
finds a problem, it also asks the domain's checks (pure, nothing is
recorded) so that the one refusal lists both, each ``errors`` entry with a
path into the body: ``title``, ``customer.phone``, ``fields.amount``,
``channel``, ``occurred_at``; for an action, its field names as sent
(``note``, ``expected_version``). With no problem of its own, the HTTP layer
lets the domain refuse (it collects every problem the same way).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from api import params
from api.problems import Problem
from domain.application import CaseTrail
from domain.model.errors import DomainError
from domain.model.fields import parse_time, validate_fields
from domain.model.opening import Problems, collect, opening_values

CREATE_KEYS = ("type", "title", "customer", "fields", "channel", "occurred_at")
MAX_CHANNEL = 500


def refusal(detail: str, errors: Problems) -> Problem:
    summary = "; ".join(f"{e['field']} {e['problem']}" for e in errors)
    return Problem(422, f"{detail}: {summary}", kind="invalid-fields", title="Invalid fields", errors=errors)


def time_member(body: dict[str, Any], name: str, errors: Problems, path: str | None = None) -> Any:
    """``body[name]`` as an RFC 3339 time (None when absent); a problem goes to ``errors``."""
    raw = body.get(name)
    if raw is None:
        return None
    try:
        if not isinstance(raw, str):
            raise ValueError("must be an RFC 3339 time with offset")
        return parse_time(params.rfc3339(raw))
    except ValueError as e:
        errors.append({"field": path or name, "problem": str(e)})
        return None


def check_open(app: CaseTrail, body: dict[str, Any]) -> Any:
    """The opening body's ``occurred_at``; a 422 naming every problem when the HTTP layer finds one."""
    errors: Problems = [{"field": k, "problem": f"unknown field; allowed: {list(CREATE_KEYS)}"}
                        for k in sorted(set(body) - set(CREATE_KEYS))]
    case_type = body.get("type")
    if not isinstance(case_type, str):
        errors.append({"field": "type", "problem": "is required: the name of a case type (GET /v1/case-types)"})
    channel = body.get("channel")
    if channel is not None and (not isinstance(channel, str) or len(channel) > MAX_CHANNEL):
        errors.append({"field": "channel", "problem": f"must be a string of at most {MAX_CHANNEL} characters"})
    occurred_at = time_member(body, "occurred_at", errors)
    if not errors:
        return occurred_at  # the domain checks (and refuses with) everything else
    if isinstance(case_type, str):
        if case_type in app.registry.names():
            ct = app.registry.get(case_type)
            given_channel = channel if isinstance(channel, str) else None
            errors.extend(opening_values(ct, body.get("title"), body.get("customer"), body.get("fields"),
                                         given_channel)[2])
        else:
            errors.append({"field": "type", "problem": f"unknown case type; known: {sorted(app.registry.names())}"})
    raise refusal("the case cannot be opened", errors)


def action_problems(app: CaseTrail, case_id: UUID, action: str, data: Any) -> Problems:
    """The domain's problems with an action's fields (none when the case or action is unknown)."""
    try:
        case = app.get_case(case_id)
        spec = app.registry.get(case.case_type).actions.get(action)
    except DomainError:
        return []
    if spec is None:
        return []
    errors: Problems = []
    collect(errors, "", lambda: validate_fields(spec.fields, data, what=action))
    return errors

"""What opening a case checks about its input, every problem at once.

``opening_values`` checks a title, a customer, the case fields and a channel
against a case type and returns the normalised customer and fields with the
list of every problem found, each with a path into the opening body
(``title``, ``customer.phone``, ``fields.amount``, ``channel``), so one
refusal names every invalid field instead of one layer at a time.
``collect`` runs any ``validate_fields`` call that way under a path prefix
(``actions[2].data`` for an import). Pure: no storage, no HTTP.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from domain.model.casetype import CaseType
from domain.model.errors import InvalidFields
from domain.model.fields import validate_fields

Problems = list[dict[str, str]]
MAX_TITLE = 200


def collect(errors: Problems, prefix: str, check: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """``check()``'s values; its ``InvalidFields`` problems are added to ``errors`` under ``prefix``."""
    try:
        return check()
    except InvalidFields as e:
        found = e.extra.get("errors") or [{"field": "", "problem": "must be an object of fields"}]
        for problem in found:
            field = str(problem.get("field", ""))
            path = f"{prefix}.{field}" if prefix and field else (prefix or field)
            errors.append({"field": path, "problem": str(problem.get("problem", ""))})
        return {}


def refuse(errors: Problems, what: str = "invalid fields") -> None:
    """Raise one ``InvalidFields`` naming every problem in ``errors`` (nothing when there is none)."""
    if errors:
        summary = "; ".join(f"{e['field']} {e['problem']}" for e in errors)
        raise InvalidFields(f"{what}: {summary}", errors=errors)


def opening_values(case_type: CaseType, title: Any, customer: Any, fields: Any,
                   channel: Any) -> tuple[dict[str, Any], dict[str, Any], Problems]:
    """The normalised customer and fields of a new case, and every problem of the input."""
    errors: Problems = []
    if not isinstance(title, str) or not title.strip() or len(title) > MAX_TITLE:
        errors.append({"field": "title", "problem": f"must be a non-empty string of at most {MAX_TITLE} characters"})
    customer_v = collect(errors, "customer",
                         lambda: validate_fields(case_type.customer, customer, what="customer"))
    fields_in = dict(fields or {}) if isinstance(fields, Mapping) else fields
    if channel is not None:
        if "channel" not in case_type.fields:
            errors.append({"field": "channel", "problem": f"unknown field: a {case_type.name} has no channel"})
        elif isinstance(fields_in, dict) and fields_in.setdefault("channel", channel) != channel:
            errors.append({"field": "channel", "problem": "differs from fields.channel"})
    given = {k: v for k, v in case_type.fields.items() if not v.set_by_action}
    fields_v = collect(errors, "fields", lambda: validate_fields(given, fields_in, what="fields"))
    return customer_v, fields_v, errors

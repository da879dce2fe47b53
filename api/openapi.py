"""The OpenAPI 3.1 document served at ``/openapi.json``, written by hand.

Each endpoint module (``api.cases``, ``api.case_types``, ``api.events``,
``api.ops``, and the read-model modules added later) owns the description of
its own operations next to its ``routes``, as a ``paths`` mapping
``{path: {method: operation}}`` built with the helpers here. ``document``
merges those mappings (several modules may describe different methods of
one path, e.g. ``POST /v1/cases`` and ``GET /v1/cases``) with the shared
component schemas, some of which are derived from the case-type files
(``CaseCreate`` lists every type's customer and case fields).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from copy import deepcopy
from typing import Any

from api import examples
from domain.model.fields import FieldSpec
from domain.model.registry import CaseTypeRegistry

Schema = dict[str, Any]
Paths = Mapping[str, Mapping[str, Any]]

PROBLEM_STATUSES = {
    400: "Malformed request (bad JSON or msgpack, bad header or query parameter)",
    401: "Missing, unknown, expired or revoked token",
    403: "The caller's roles do not allow this",
    404: "No such case, case type, action or version",
    406: "None of the media types in `Accept` can be given (see `supported`)",
    409: "Version conflict (see `current_version`) or already taken",
    413: "Request body over 1 MiB",
    415: "Unsupported Content-Type",
    422: "Well-formed but refused: unknown or invalid fields, action not allowed now "
         "(see `allowed_actions`), guard failed, idempotency key reused",
    429: "This token is over its rate limit (`CASETRAIL_RATE_LIMIT`): try again after `Retry-After` seconds",
    503: "The database is unreachable or busy: try again after `Retry-After` seconds "
         "(a write with the same `Idempotency-Key`: it may have been recorded)",
}


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: Schema) -> Schema:
    return {"anyOf": [schema, {"type": "null"}]}


def content(schema: Schema, *, msgpack: bool = True) -> dict[str, Any]:
    out = {"application/json": {"schema": schema}}
    if msgpack:
        out["application/msgpack"] = {"schema": schema}
    return out


def problem_responses(*statuses: int) -> dict[str, Any]:
    return {str(s): {"$ref": f"#/components/responses/Problem{s}"} for s in statuses}


def operation(
    op_id: str, summary: str, *, tag: str, description: str = "", parameters: Iterable[Schema] = (),
    body: Schema | None = None, body_required: bool = True, responses: Mapping[str, Any],
    problems: Iterable[int] = (), auth: bool = True,
) -> dict[str, Any]:
    """One operation; every authenticated one may also answer 401, 429 (rate limit), 503 (database down)
    and 500."""
    op: dict[str, Any] = {"operationId": op_id, "summary": summary, "tags": [tag]}
    if description:
        op["description"] = description
    params = list(parameters)
    if params:
        op["parameters"] = params
    if body is not None:
        op["requestBody"] = {"required": body_required, "content": content(body)}
    all_problems = sorted(set(problems) | ({401, 429, 503} if auth else set()))
    op["responses"] = {**responses, **problem_responses(*all_problems),
                       "500": {"$ref": "#/components/responses/Problem500"}}
    op["security"] = [{"bearer": []}] if auth else []
    return op


def query(name: str, schema: Schema, description: str, *, required: bool = False) -> Schema:
    return {"name": name, "in": "query", "required": required, "schema": schema, "description": description}


def path_param(name: str, schema: Schema, description: str) -> Schema:
    return {"name": name, "in": "path", "required": True, "schema": schema, "description": description}


def header(name: str, schema: Schema, description: str) -> Schema:
    return {"name": name, "in": "header", "required": False, "schema": schema, "description": description}


IDEMPOTENCY_KEY = header("Idempotency-Key", {"type": "string", "minLength": 1, "maxLength": 255,
                                             "pattern": "^[\\x21-\\x7e]+$"},
                         "A retry with the same key and body returns the original response and records "
                         "nothing new; the same key with another body is refused (422).")
CASE_ID = path_param("case_id", {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9-]{2,40}$"},
                     "The case id (a UUID) or its number (TS-202612-0001)")
POSITION_HEADER = {"description": "Notification position of the write (wait for it with ?min_position=)",
                   "schema": {"type": "integer"}}
ETAG_HEADER = {"description": 'The case version, quoted: "<version>"', "schema": {"type": "string"}}


# --------------------------------------------------------------------- schemas
def _field_schema(spec: FieldSpec) -> Schema:
    if spec.type == "enum":
        return {"enum": list(spec.values)}
    if spec.type == "bool":
        return {"type": "boolean"}
    if spec.type == "int":
        out: Schema = {"type": "integer"}
        if spec.min is not None:
            out["minimum"] = int(spec.min)
        if spec.max is not None:
            out["maximum"] = int(spec.max)
        return out
    if spec.type == "decimal":
        whole: Schema = {"type": "integer", "minimum": -(10**13) + 1, "maximum": 10**13 - 1}
        if spec.min is not None:
            whole["minimum"] = max(whole["minimum"], math.ceil(spec.min))
        if spec.max is not None:
            whole["maximum"] = min(whole["maximum"], math.floor(spec.max))
        bounds = "".join([f", at least {spec.min}" if spec.min is not None else "",
                          f", at most {spec.max}" if spec.max is not None else ""])
        return {"anyOf": [{"type": "string", "pattern": DECIMAL}, whole],
                "description": f"yuan: a decimal string with at most 2 places (\"20000.00\") or an integer{bounds}"}
    if spec.type == "datetime":
        return {"type": "string", "format": "date-time"}
    if spec.type == "date":
        return {"type": "string", "format": "date", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"}
    if spec.type == "pattern":
        checked = " whose last character is its GB 11643 check digit" if spec.check == "gb11643" else ""
        return {"type": "string", "maxLength": spec.max_length or 500, "pattern": f"^(?:{spec.pattern})$",
                **({"description": f"an ID-card number{checked}"} if checked else {})}
    if spec.type == "attachment":
        return ATTACHMENT
    if spec.type == "list" and spec.items is not None:
        return {"type": "array", "maxItems": spec.max_items, "items": _object(spec.items)}
    out = {"type": "string", "maxLength": spec.max_length or (20000 if spec.type == "text" else 500)}
    if spec.required:
        out["pattern"] = "\\S"  # not empty, not only spaces
    return out


DECIMAL = "^-?[0-9]{1,13}(?:\\.[0-9]{1,2})?$"
ATTACHMENT: Schema = {
    "type": "object", "description": "an attachment by reference (the bytes are not sent)",
    "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[^/\\\\]+$"},
                   "media_type": {"type": "string", "pattern": "^[a-z0-9][a-z0-9!#$&^_.+-]{0,62}/"
                                                               "[a-z0-9][a-z0-9!#$&^_.+-]{0,62}$"},
                   "size": {"type": "integer", "minimum": 0, "maximum": 10**12},
                   "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"}},
    "required": ["name", "media_type", "size", "sha256"], "additionalProperties": False,
}


def _property(spec: FieldSpec) -> Schema:
    schema = {**_field_schema(spec), **({"description": spec.doc} if spec.doc else {})}
    return schema if spec.required else nullable(schema)  # null means "not given"


def _object(specs: Mapping[str, FieldSpec]) -> Schema:
    return {
        "type": "object",
        "properties": {name: _property(s) for name, s in specs.items()},
        "required": [name for name, s in specs.items() if s.required],
        "additionalProperties": False,
    }


def case_create_schema(registry: CaseTypeRegistry) -> Schema:
    variants = []
    for ct in registry:
        variants.append({
            "type": "object",
            "title": ct.name,
            "properties": {
                "type": {"const": ct.name},
                "title": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": "\\S"},
                "customer": _object(ct.customer),
                "fields": nullable(_object(ct.fields)),
                **({"channel": nullable({"type": "string", "maxLength": 500})} if "channel" in ct.fields else {}),
                "occurred_at": nullable({"type": "string", "format": "date-time",
                                         "description": "importer only: the original time"}),
            },
            "required": ["type", "title", "customer"],
            "additionalProperties": False,
        })
    return {"oneOf": variants, "discriminator": {"propertyName": "type"}}


STRINGS = {"type": "array", "items": {"type": "string"}}
TIME = {"type": "string", "format": "date-time"}

SCHEMAS: dict[str, Schema] = {
    "Problem": {
        "type": "object",
        "description": "RFC 9457 problem document; extra members depend on the problem",
        "properties": {
            "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
            "detail": {"type": "string"}, "request_id": {"type": "string"},
            "allowed_actions": STRINGS, "allowed_roles": STRINGS, "current_version": {"type": "integer"},
            "errors": {"type": "array", "items": {"type": "object", "properties": {
                "field": {"type": "string"}, "problem": {"type": "string"}}}},
        },
        "required": ["type", "title", "status", "detail"],
        "additionalProperties": True,
    },
    "Clock": {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "state": {"enum": ["running", "paused", "met", "breached"]},
            "started_at": nullable(TIME), "due_at": nullable(TIME), "duration": nullable({"type": "string"}),
            "policy_version": nullable({"type": "integer"}), "paused_at": nullable(TIME),
            "stopped_at": nullable(TIME),
        },
        "required": ["name", "state", "started_at", "due_at"],
    },
    "CaseView": {
        "type": "object",
        "properties": {
            "id": {"type": "string", "format": "uuid"}, "number": {"type": "string"},
            "type": {"type": "string"}, "status": {"type": "string"}, "version": {"type": "integer", "minimum": 1},
            "title": {"type": "string"}, "customer": {"type": "object"},
            "assignee": nullable({"type": "string"}), "department": {"type": "string"},
            "fields": {"type": "object"}, "counters": {"type": "object"},
            "opened_at": TIME, "updated_at": TIME,
            "clocks": {"type": "array", "items": ref("Clock")},
            "approvals": {"type": "object", "properties": {
                "required": STRINGS, "granted": {"type": "array", "items": {"type": "object"}},
                "missing": STRINGS, "sequential": {"type": "boolean"}},
                "required": ["required", "granted"]},
            "links": {"type": "array", "items": {"type": "object", "properties": {
                "rel": {"type": "string"}, "case_id": {"type": "string", "format": "uuid"},
                "number": {"type": "string"}}, "required": ["rel", "case_id"]}},
            "escalations": {"type": "array", "items": {"type": "object"}},
            "allowed_actions": {**STRINGS, "description": "actions the calling user's roles may take now"},
        },
        "required": ["id", "number", "type", "status", "version", "title", "customer", "assignee",
                     "department", "fields", "opened_at", "updated_at", "clocks", "approvals", "links",
                     "allowed_actions"],
    },
    "ActionBody": {
        "type": "object",
        "description": "The action's fields (see GET /v1/case-types/{type}), plus optionally "
                       "`expected_version` and, for importers, `occurred_at`.",
        "properties": {
            "expected_version": nullable({"type": "integer", "minimum": 0, "maximum": 2**31 - 1}),
            "occurred_at": nullable({"type": "string", "format": "date-time"}),
        },
        "additionalProperties": True,
    },
    "HistoryEntry": {
        "type": "object",
        "properties": {
            "version": {"type": "integer"}, "type": {"type": "string"},
            "occurred_at": nullable(TIME), "recorded_at": nullable(TIME),
            "actor": nullable({"type": "string"}), "roles": STRINGS, "data": {"type": "object"},
            "imported": {"type": "boolean"}, "correlation_id": nullable({"type": "string"}),
            "causation_id": nullable({"type": "string"}),
            "prev_hash": nullable({"type": "string"}), "hash": {"type": "string"},
        },
        "required": ["version", "type", "occurred_at", "recorded_at", "actor", "roles", "data", "imported",
                     "prev_hash", "hash"],
    },
    "CaseHistory": {
        "type": "object",
        "properties": {"case_id": {"type": "string", "format": "uuid"},
                       "items": {"type": "array", "items": ref("HistoryEntry")}},
        "required": ["case_id", "items"],
    },
    "FeedEntry": {
        "allOf": [ref("HistoryEntry"), {
            "type": "object",
            "properties": {"position": {"type": "integer"}, "aggregate_id": {"type": "string", "format": "uuid"},
                           "case_id": {"type": "string", "format": "uuid"}},
            "required": ["position", "aggregate_id", "case_id"],
        }],
    },
    "EventFeed": {
        "type": "object",
        "properties": {"items": {"type": "array", "items": ref("FeedEntry")},
                       "last_position": {"type": "integer", "minimum": 0}},
        "required": ["items", "last_position"],
    },
    "CaseTypeSummary": {
        "type": "object",
        "properties": {"name": {"type": "string"}, "title": {"type": "string"}, "version": {"type": "integer"},
                       "number_prefix": {"type": "string"}, "href": {"type": "string"}},
        "required": ["name", "title", "version"],
    },
    "CaseTypeList": {
        "type": "object",
        "properties": {"items": {"type": "array", "items": ref("CaseTypeSummary")},
                       "next_cursor": {"type": "null"}},
        "required": ["items"],
    },
    "CaseType": {
        "type": "object",
        "properties": {
            "name": {"type": "string"}, "title": {"type": "string"}, "version": {"type": "integer"},
            "number_prefix": {"type": "string"}, "initial_state": {"type": "string"}, "states": STRINGS,
            "closed_states": STRINGS, "open_roles": STRINGS, "customer": {"type": "object"},
            "fields": {"type": "object"}, "actions": {"type": "object", "additionalProperties": {
                "type": "object", "properties": {"from": STRINGS, "to": nullable({"type": "string"}),
                                                 "roles": STRINGS, "fields": {"type": "object"}},
                "required": ["from", "to", "roles", "fields"]}},
            "clocks": {"type": "object"},
        },
        "required": ["name", "states", "initial_state", "actions", "clocks"],
    },
    "Health": {
        "type": "object",
        "properties": {"status": {"type": "string"}, "position": nullable({"type": "integer"})},
        "required": ["status"],
    },
}


def responses_components() -> dict[str, Any]:
    out = {}
    for status, description in {**PROBLEM_STATUSES, 500: "Unexpected server error (no details given)"}.items():
        out[f"Problem{status}"] = {
            "description": description,
            "content": {"application/problem+json": {"schema": ref("Problem")},
                        "application/problem+msgpack": {"schema": ref("Problem")}},
        }
    return out


def merge_paths(*sections: Paths) -> dict[str, dict[str, Any]]:
    """Merge path items; two sections describing the same method of a path is a bug."""
    merged: dict[str, dict[str, Any]] = {}
    for section in sections:
        for path, item in section.items():
            target = merged.setdefault(path, {})
            for method, op in item.items():
                if method in target:
                    raise ValueError(f"OpenAPI: {method.upper()} {path} is described twice")
                target[method] = deepcopy(op)
    return merged


def _one_or_more(names: Iterable[str]) -> str:
    """A pattern for a comma-separated list of ``names`` (empty: no filter)."""
    choice = "|".join(re.escape(n) for n in sorted(set(names)))
    return f"^(?:(?:{choice})(?:,(?:{choice}))*)?$"


def _case_list_values(paths: dict[str, Any], registry: CaseTypeRegistry) -> None:
    """The case list's ``type`` and ``status`` filters take the types and states in force (a value
    outside them is a 400 naming it: the document says so exactly)."""
    operation = paths.get("/v1/cases", {}).get("get")
    if operation is None:
        return
    states = {s for ct in registry for s in ct.states}
    for param in operation.get("parameters", []):
        if param.get("in") == "query" and param["name"] in ("type", "status"):
            names = registry.names() if param["name"] == "type" else states
            param["schema"] = {"type": "string", "maxLength": 2000, "pattern": _one_or_more(names)}
    for param in paths.get("/v1/case-types/{type}", {}).get("get", {}).get("parameters", []):
        if param.get("in") == "path" and param["name"] == "type":  # the types in force (others: 404)
            param["schema"] = {"type": "string", "enum": sorted(registry.names())}


def _staff_roles(paths: dict[str, Any], registry: CaseTypeRegistry) -> None:
    """The staff list's ``role`` filter takes a role of the catalog in force (another is a 400)."""
    for param in paths.get("/v1/staff", {}).get("get", {}).get("parameters", []):
        if param.get("in") == "query" and param["name"] == "role":
            param["schema"] = {"enum": sorted(registry.roles.names())}


def document(sections: Iterable[Paths], registry: CaseTypeRegistry, *,
             extra_schemas: Mapping[str, Schema] | None = None) -> dict[str, Any]:
    schemas = {**deepcopy(SCHEMAS), "CaseCreate": case_create_schema(registry), **dict(extra_schemas or {})}
    paths = merge_paths(*sections)
    _case_list_values(paths, registry)
    _staff_roles(paths, registry)
    examples.attach(paths)  # an example request and answer per operation (api/examples.json)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "casetrail",
            "version": "1",
            "description": "Event-sourced case tracking. JSON by default; send `Content-Type: "
                           "application/msgpack` / `Accept: application/msgpack` for msgpack. Errors are "
                           "RFC 9457 problem documents. Writes on a case are conditional with "
                           "`If-Match: \"<version>\"` or `expected_version`.",
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "responses": responses_components(),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "a token from `casetrail token issue STAFF_ID`"}},
        },
    }

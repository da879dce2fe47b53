"""The case-type file format as a JSON Schema, built from the loader's own key lists.

Editors (VS Code's Even Better TOML, taplo, JetBrains) read a JSON Schema
to complete keys and flag typos while an operator writes a case-type file.
``case_type_schema()`` derives it from what the loader accepts
(``domain.model.casetype`` and ``domain.model.fields``), so the two cannot
drift apart; ``casetrail case-types schema`` prints it and
``docs/case-type.schema.json`` is that output (a test checks they agree).
The schema checks shapes; the loader (``casetrail case-types check``) also
checks meaning (states, roles, actions named elsewhere in the file).
"""

from __future__ import annotations

from typing import Any

from domain.model.casetype import ACTION_KEYS, CLOCK_KEYS, GUARD_KINDS, REPORT_TARGETS, TYPE_KEYS
from domain.model.fields import CHECKS, FIELD_TYPES, SPEC_KEYS
from domain.model.retention import RETENTION_KEYS

SCHEMA_ID = "https://casetrail.invalid/schemas/case-type.schema.json"
STRINGS: dict[str, Any] = {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}
TABLE: dict[str, Any] = {"type": "object"}
WHEN: dict[str, Any] = {"type": ["object", "string"]}  # a table of tests, or a CEL expression


def _closed(properties: dict[str, Any], keys: set[str], required: tuple[str, ...] = ()) -> dict[str, Any]:
    """An object with exactly ``keys`` allowed (those without a shape here are any value)."""
    props = {k: properties.get(k, {}) for k in sorted(keys)}
    return {"type": "object", "properties": props, "required": list(required), "additionalProperties": False}


def field_schema() -> dict[str, Any]:
    props: dict[str, Any] = {
        "type": {"enum": list(FIELD_TYPES)}, "required": {"type": "boolean"}, "values": {"type": "array"},
        "min": {"type": ["string", "number"]}, "max": {"type": ["string", "number"]},
        "max_length": {"type": "integer", "minimum": 1}, "doc": {"type": "string"},
        "pattern": {"type": "string"}, "check": {"enum": list(CHECKS)},
        "items": {"type": "object", "additionalProperties": {"$ref": "#/$defs/field"}},
        "max_items": {"type": "integer", "minimum": 1}, "personal": {"type": "boolean"},
    }
    return _closed(props, SPEC_KEYS, ("type",))


def case_type_schema() -> dict[str, Any]:
    fields = {"type": "object", "additionalProperties": {"$ref": "#/$defs/field"}}
    action_props: dict[str, Any] = {
        "from": STRINGS, "to": {"type": "string"}, "roles": STRINGS, "fields": fields,
        "sets": {"oneOf": [*STRINGS["oneOf"], {"type": "object", "additionalProperties": {"type": "string"}}]},
        "guards": {"type": "array", "items": {"type": "object", "properties": {"kind": {"enum": sorted(GUARD_KINDS)}},
                                              "required": ["kind"]}},
        "doc": {"type": "string"}, "approval": {"enum": ["grant", "reject"]},
        "computes_approvals": {"type": "boolean"},
        "corrects": {"type": "boolean"}, "conflict_when_taken": {"type": "boolean"},
        "assign_actor": {"type": "boolean"},
        "roles_by": TABLE, "to_at_count": TABLE, "opener": {"type": "boolean"},
        "computes": {"type": "object", "additionalProperties": {"type": "string"}},
    }
    clock_props: dict[str, Any] = {
        "duration": {"type": "string"}, "max_total": {"type": "string"}, "start": STRINGS, "stop": STRINGS,
        "pause": STRINGS, "resume": STRINGS, "escalate_to": STRINGS, "duration_by": TABLE, "when": WHEN,
        "doc": {"type": "string"},
        "due": _closed({"from": {"type": "string"}, "after": {"type": "string"}, "at": {"type": "string"}},
                       {"from", "after", "at"}),
        "on_breach": _closed({"to": {"type": "string"}, "escalate": {"type": "boolean"}}, {"to", "escalate"}),
    }
    type_props: dict[str, Any] = {
        "name": {"type": "string", "pattern": "^[a-z][a-z0-9_]*$"}, "title": {"type": "string"},
        "version": {"type": "integer", "minimum": 1}, "number_prefix": {"type": "string"},
        "number_format": {"type": "string"}, "initial_state": {"type": "string"}, "states": STRINGS,
        "closed_states": STRINGS, "open_roles": STRINGS, "department": {"type": "string"},
        "sources": {"type": "string"}, "customer": fields, "fields": fields,
        "actions": {"type": "object", "additionalProperties": {"$ref": "#/$defs/action"}},
        "clocks": {"type": "object", "additionalProperties": {"$ref": "#/$defs/clock"}},
        "approvals": {"type": "object", "properties": {"rules": {"type": "array", "items": TABLE}}},
        "escalations": {"type": "array", "items": TABLE}, "follow_ups": {"type": "array", "items": TABLE},
        "escalation_ladder": STRINGS,
        "report_targets": _closed({k: {"type": "number", "minimum": 0, "maximum": 100} for k in REPORT_TARGETS},
                                  REPORT_TARGETS),
        "retention": _closed({"erase_customer_after": {"type": "string", "pattern": "^[1-9][0-9]{0,3}[yd]$"},
                              "doc": {"type": "string"}}, RETENTION_KEYS, ("erase_customer_after",)),
    }
    schema = _closed(type_props, TYPE_KEYS, ("name", "states", "initial_state", "number_prefix", "actions"))
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID,
        "title": "casetrail case-type file", **schema,
        "$defs": {"field": field_schema(), "action": _closed(action_props, ACTION_KEYS),
                  "clock": _closed(clock_props, CLOCK_KEYS, ("start",))},
    }

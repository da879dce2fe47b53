"""What the schemathesis contract tests share: the app behind the schema, and real ids in paths.

``SWITCH`` is the ASGI app schemathesis loads the document from once (an
in-memory application: the document does not depend on the database); each
test points ``SWITCH.target`` at the app on its own database. ``KNOWN`` holds
ids that exist in the current test's database, by path parameter
(``case_id``, ``webhook_id``) and the action names worth trying; the one
``flatmap_path_parameters`` hook sometimes swaps a generated value for one
of them, so operations reach the domain and not only the 404. Only a value
that is valid already is swapped: a negative case stays negative. The API
speaks msgpack as well as JSON: bodies and answers of that type are
(de)serialized here.
"""

from __future__ import annotations

import re
from typing import Any
from uuid import UUID

import hypothesis.strategies as st
import msgpack
import schemathesis

from api.app import create_app
from domain.application import CaseTrail

KNOWN: dict[str, list[str]] = {
    "case_id": [],
    "webhook_id": [],
    "action": ["classify", "assign", "log_contact", "answer", "accept", "submit", "record_outcome", "correct_field"],
}


class Switch:
    """An ASGI app that forwards to the app of the current test (schemathesis loads the schema once)."""

    def __init__(self, target: Any) -> None:
        self.target = target

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.target(scope, receive, send)


SWITCH = Switch(create_app(CaseTrail({"PERSISTENCE_MODULE": "eventsourcing.popo"}), configure_logs=False))


def valid(name: str, value: Any) -> bool:
    """Whether ``value`` is already a valid ``name`` path parameter (an action name, or a UUID)."""
    if name == "action":
        return isinstance(value, str) and re.fullmatch(r"[a-z_]{1,64}", value) is not None
    try:
        UUID(str(value))
    except ValueError:
        return False
    return True


@schemathesis.hook
def flatmap_path_parameters(context: Any, path_parameters: dict[str, Any]) -> Any:
    options = [st.just(path_parameters)]
    for name, known in KNOWN.items():
        if path_parameters and name in path_parameters and known and valid(name, path_parameters[name]):
            options.append(st.sampled_from(known).map(lambda v, n=name: {**path_parameters, n: v}))
    return st.one_of(*options)


def _packable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _packable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_packable(v) for v in value]
    if isinstance(value, int) and not -(2**63) <= value < 2**64:
        return str(value)  # beyond what msgpack can carry
    return value


@schemathesis.serializer("application/msgpack")
def to_msgpack(ctx: Any, value: Any) -> bytes:
    return msgpack.packb(_packable(value), use_bin_type=True)


@schemathesis.deserializer("application/msgpack", "application/problem+msgpack")
def from_msgpack(ctx: Any, response: Any) -> Any:
    return msgpack.unpackb(response.content, raw=False)

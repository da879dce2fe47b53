"""Stored topics of classes that moved: old events stay decodable and findable.

A stored event names its class by module path (``domain.case:Case.Opened``).
When the domain became packages (``domain/model``, ``domain/audit``), the
aggregates moved; events stored before that still carry the old paths.
Each moved module calls :func:`register_moved` at import, which registers
its old path with the library's ``register_topic`` so that old topics
resolve to the new classes. Queries that filter the notification log by
topic use :func:`topics` (every name a class has been stored under) and
:func:`topic_prefixes`.
"""

from __future__ import annotations

import sys

from eventsourcing.utils import get_topic, register_topic

# new module path -> the old paths its events were stored under
MOVED: dict[str, tuple[str, ...]] = {
    "domain.model.case": ("domain.case",),
    "domain.model.staff": ("domain.staff",),
    "domain.model.numbering": ("domain.numbering",),
    "domain.model.idempotency": ("domain.idempotency",),
    "domain.audit.ledger": ("domain.ledger",),
    "domain.audit.access": ("domain.access",),
}


def register_moved(module_name: str) -> None:
    """Make the old paths of ``module_name`` resolve to it (called by the module itself)."""
    for old in MOVED.get(module_name, ()):
        register_topic(old, sys.modules[module_name])


def module_names(module_name: str) -> tuple[str, ...]:
    """Every module path events of ``module_name`` were stored under, newest first."""
    return (module_name, *MOVED.get(module_name, ()))


def topics(cls: type) -> list[str]:
    """Every topic events of class ``cls`` may be stored under (the current one first)."""
    current = get_topic(cls)
    module, _, qualname = current.partition(":")
    return [f"{name}:{qualname}" for name in module_names(module)]


def topic_prefixes(cls: type) -> tuple[str, ...]:
    """``module:Qualname.`` prefixes of the events of aggregate ``cls``, under every module path."""
    return tuple(f"{t}." for t in topics(cls))

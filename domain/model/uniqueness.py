"""Rules across cases: a key held by one case at a time, and cases that need another one.

A case-type file may declare::

    [[unique]]                      # 一户一卡: one card per household
    name = "one_per_household"
    key = ["customer.household_id"]
    states = ["active", "suspended"]   # held while the case is in these (default: every open state)
    message = "this household already holds a membership card"

    [[requires]]                    # a stored-value card needs a membership card
    type = "membership_card"
    unique = "one_per_household"       # the other type's unique rule...
    key = ["customer.household_id"]    # ...and this case's values for its key
    message = "a stored-value card needs the household's membership card"

Each key value is a ``UniqueKey`` aggregate (id from type, rule and value)
saved in the same transaction as the case, so two cases racing for the same
key cannot both win (optimistic concurrency, like the number series). A
case claims the key when it enters the rule's states, releases it when it
leaves them, and moves its claim when a correction changes the key's value.
A duplicate is a 422 ``duplicate`` problem naming the case that holds the
key; a missing prerequisite a 422 ``prerequisite-missing``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.model.actor import stable_id
from domain.model.conditions import lookup
from domain.model.copying import PlainCopy
from domain.model.errors import CaseTypeError, DomainError

UNIQUE_KEYS = {"name", "key", "states", "message", "doc"}
REQUIRES_KEYS = {"type", "unique", "key", "message", "doc"}


class DuplicateCase(DomainError):
    status = 422
    kind = "duplicate"
    title = "Another case holds this key"


class PrerequisiteMissing(DomainError):
    status = 422
    kind = "prerequisite-missing"
    title = "A case this one needs does not exist"


@dataclass(frozen=True)
class UniqueRule:
    name: str
    key: tuple[str, ...]
    states: tuple[str, ...] | None  # None: every open state
    message: str


@dataclass(frozen=True)
class Requirement:
    type: str
    unique: str
    key: tuple[str, ...]
    message: str


def _paths(value: Any, where: str) -> tuple[str, ...]:
    paths = (value,) if isinstance(value, str) else value
    if not isinstance(paths, (list, tuple)) or not paths or not all(isinstance(p, str) and p for p in paths):
        raise CaseTypeError(f"{where}.key must be a field path or a list of them (e.g. customer.id)")
    return tuple(paths)


def unique_rules(data: Any, states: tuple[str, ...], source: str) -> tuple[UniqueRule, ...]:
    rules = []
    for i, item in enumerate(data or []):
        where = f"{source}: key 'unique[{i}]'"
        if not isinstance(item, Mapping) or set(item) - UNIQUE_KEYS or "name" not in item:
            raise CaseTypeError(f"{where}: a table with 'name' and 'key' ({sorted(UNIQUE_KEYS)})")
        held = item.get("states")
        if held is not None:
            held = (held,) if isinstance(held, str) else tuple(held)
            for s in held:
                if s not in states:
                    raise CaseTypeError(f"{where}.states: {s!r} is not in 'states'")
        rules.append(UniqueRule(str(item["name"]), _paths(item.get("key"), where), held,
                                str(item.get("message", "another case holds this key"))))
    if len({r.name for r in rules}) != len(rules):
        raise CaseTypeError(f"{source}: key 'unique': rule names must differ")
    return tuple(rules)


def requirements(data: Any, source: str) -> tuple[Requirement, ...]:
    out = []
    for i, item in enumerate(data or []):
        where = f"{source}: key 'requires[{i}]'"
        if not isinstance(item, Mapping) or set(item) - REQUIRES_KEYS or not {"type", "unique"} <= set(item):
            raise CaseTypeError(f"{where}: a table with 'type', 'unique' and 'key' ({sorted(REQUIRES_KEYS)})")
        out.append(Requirement(str(item["type"]), str(item["unique"]), _paths(item.get("key"), where),
                               str(item.get("message", f"needs an open {item['type']} case"))))
    return tuple(out)


def key_value(paths: tuple[str, ...], context: Mapping[str, Any]) -> str | None:
    """The key's value for a case (None when any part is missing: such a case holds no key)."""
    parts = [lookup(context, p) for p in paths]
    if any(p is None or p == "" for p in parts):
        return None
    return "\x1f".join(str(p) for p in parts)


def holds_in(rule: UniqueRule, status: str, closed: tuple[str, ...]) -> bool:
    return status in rule.states if rule.states is not None else status not in closed


class UniqueKey(PlainCopy, Aggregate):
    """Which case holds one value of one unique rule of one case type (or none)."""

    @staticmethod
    def create_id(case_type: str, rule: str, value: str) -> UUID:
        return stable_id("unique", f"{case_type}\x1e{rule}\x1e{value}")

    @event("Started")
    def __init__(self, case_type: str, rule: str, value: str, meta: dict[str, Any]) -> None:
        self.case_type, self.rule, self.value = case_type, rule, value
        self.holder: str | None = None
        self.holder_number: str | None = None
        self.head_hash: str | None = None

    @event("Claimed")
    def claim(self, case_id: str, number: str, meta: dict[str, Any]) -> None:
        self.holder, self.holder_number = case_id, number

    @event("Released")
    def release(self, case_id: str, meta: dict[str, Any]) -> None:
        self.holder = self.holder_number = None


Loader = Any  # Callable[[UUID], UniqueKey | None]: the key aggregate, or None when never used


class BlindingLoader:
    """A loader whose ``blind`` replaces a key value made of personal fields by a keyed hash
    (the application's ``Sealer.blind``), so key aggregates never hold personal data."""

    def __init__(self, load: Callable[[UUID], UniqueKey | None], blind: Callable[[str], str],
                 case_type: Callable[[str], Any] | None = None) -> None:
        self.load, self.blind, self.case_type = load, blind, case_type

    def __call__(self, key_id: UUID) -> UniqueKey | None:
        return self.load(key_id)


def _blinded(load: Loader, case_type: Any, paths: tuple[str, ...], value: str | None) -> str | None:
    blind = getattr(load, "blind", None)
    if value is None or blind is None or not _personal(case_type, paths):
        return value
    return str(blind(value))


def _held_by(load: Loader, case_type: Any, need: Any) -> tuple[Any, tuple[str, ...]]:
    """The type and key paths whose marking decides whether a prerequisite's key is blinded: those of
    the other type's unique rule when the loader knows the types, else this type's own key paths."""
    lookup_type = getattr(load, "case_type", None)
    other = lookup_type(need.type) if lookup_type is not None else None
    rule = next((r for r in getattr(other, "unique", ()) if r.name == need.unique), None)
    return (other, tuple(rule.key)) if rule is not None else (case_type, tuple(need.key))


def _personal(case_type: Any, paths: tuple[str, ...]) -> bool:
    for path in paths:
        head, _, name = path.partition(".")
        specs = {"customer": case_type.customer, "fields": case_type.fields}.get(head) or {}
        if name in specs and specs[name].personal:
            return True
    return False


def _key(load: Loader, case_type: str, rule: str, value: str, meta: dict[str, Any]) -> UniqueKey:
    found: UniqueKey | None = load(UniqueKey.create_id(case_type, rule, value))
    return found if found is not None else UniqueKey(case_type=case_type, rule=rule, value=value, meta=meta)


def plan_keys(case_type: Any, case: Any, before: tuple[str, Mapping[str, Any]] | None, load: Loader,
              meta: dict[str, Any]) -> list[UniqueKey]:
    """The key aggregates a command changes: claims for the rules the case now holds under, releases
    for those it left (``before`` is the case's status and context before the command; None on open).
    Raises ``DuplicateCase`` naming the holder when another case holds a key this one needs."""
    changed: list[UniqueKey] = []
    context, closed = case.context(), case_type.closed_states
    for rule in case_type.unique:
        now = key_value(rule.key, context) if holds_in(rule, case.status, closed) else None
        now = _blinded(load, case_type, tuple(rule.key), now)
        was = None
        if before is not None and holds_in(rule, before[0], closed):
            was = _blinded(load, case_type, tuple(rule.key), key_value(rule.key, before[1]))
        if now == was:
            continue
        if was is not None:
            key = _key(load, case_type.name, rule.name, was, meta)
            if key.holder == str(case.id):
                key.release(case_id=str(case.id), meta=meta)
                changed.append(key)
        if now is not None:
            key = _key(load, case_type.name, rule.name, now, meta)
            if key.holder not in (None, str(case.id)):
                raise DuplicateCase(f"{rule.message} (held by case {key.holder_number})", rule=rule.name,
                                    other_case={"id": key.holder, "number": key.holder_number})
            key.claim(case_id=str(case.id), number=case.number, meta=meta)
            changed.append(key)
    return changed


def check_requirements(case_type: Any, context: Mapping[str, Any], load: Loader) -> None:
    """Refuse a case whose prerequisites (a case of another type holding a key) are missing."""
    for need in case_type.requires:
        value = _blinded(load, *_held_by(load, case_type, need), key_value(need.key, context))
        key = load(UniqueKey.create_id(need.type, need.unique, value)) if value is not None else None
        if key is None or key.holder is None:
            raise PrerequisiteMissing(need.message, requires={"type": need.type, "unique": need.unique})

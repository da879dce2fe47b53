"""The role catalog: which roles exist, as data (``_roles.toml`` files).

The built-in roles are in ``domain/model/case_types/_roles.toml``; an
operator's case-type folder may add a ``_roles.toml`` with roles of its own
(``[roles.cfo] label = "财务总监"``). A role defined twice is refused.
Every role a case type names (who may open it, act, approve, be escalated
to) must be in the catalog, and so must every role a staff member is given:
a typo such as ``agnet`` is an error naming the file and the key, not a role
nobody can ever hold. ``acts = false`` marks roles that read but never act
(reviewer, admin).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from domain.model.errors import CaseTypeError

BUILTIN_SOURCE = "domain/model/case_types/_roles.toml"
ROLE_KEYS = {"label", "label_en", "acts", "doc"}


@dataclass(frozen=True)
class Role:
    name: str
    label: str
    label_en: str = ""
    acts: bool = True


@dataclass(frozen=True)
class RoleCatalog:
    roles: Mapping[str, Role]

    @classmethod
    def build(cls, tables: Iterable[tuple[str, Mapping[str, Any]]]) -> RoleCatalog:
        """The catalog from ``(source file name, parsed _roles.toml)`` pairs, in order."""
        roles: dict[str, Role] = {}
        builtin: set[str] = set()
        for index, (source, data) in enumerate(tables):
            unknown = set(data) - {"roles"}
            if unknown:
                raise CaseTypeError(f"{source}: unknown keys {sorted(unknown)} (a role file has [roles.NAME] tables)")
            entries = data.get("roles", {})
            if not isinstance(entries, Mapping):
                raise CaseTypeError(f"{source}: key 'roles' must be a table of [roles.NAME] tables")
            for name, spec in entries.items():
                where = f"{source}: key 'roles.{name}'"
                if not name.isidentifier() or len(name) > 64:
                    raise CaseTypeError(f"{where}: a role name is letters, digits and '_' (at most 64)")
                acts = spec.get("acts", True) if isinstance(spec, Mapping) else True
                if name in roles and not (name in builtin and roles[name].acts == acts):
                    # an operator may re-declare a built-in role (its label wins), never change whether it acts
                    raise CaseTypeError(f"{where}: role {name!r} is defined already"
                                        + (f" (built in, acts = {str(roles[name].acts).lower()})"
                                           if name in builtin else ""))
                builtin.discard(name)
                if not isinstance(spec, Mapping) or set(spec) - ROLE_KEYS:
                    raise CaseTypeError(f"{where}: expected a table with {sorted(ROLE_KEYS)}")
                if not isinstance(spec.get("label", ""), str) or not isinstance(spec.get("acts", True), bool):
                    raise CaseTypeError(f"{where}: 'label' is text and 'acts' is true or false")
                roles[name] = Role(name, str(spec.get("label") or name), str(spec.get("label_en", "")),
                                   bool(spec.get("acts", True)))
                if index == 0 and source.endswith(BUILTIN_SOURCE):
                    builtin.add(name)
        return cls(roles)

    def names(self) -> list[str]:
        return list(self.roles)

    def __contains__(self, name: object) -> bool:
        return name in self.roles

    def unknown(self, names: Iterable[str]) -> list[str]:
        return [n for n in names if n not in self.roles]

    def describe(self) -> list[dict[str, Any]]:
        return [{"name": r.name, "label": r.label, "label_en": r.label_en, "acts": r.acts}
                for r in self.roles.values()]


def roles_named(raw: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Every ``(key, role)`` a case-type file names: who opens, acts, approves, is escalated to."""
    found: list[tuple[str, str]] = [("open_roles", r) for r in _names(raw.get("open_roles", []))]
    for action, spec in (raw.get("actions") or {}).items():
        if not isinstance(spec, Mapping):
            continue
        found += [(f"actions.{action}.roles", r) for r in _names(spec.get("roles", []))]
        by = spec.get("roles_by")
        if isinstance(by, Mapping) and isinstance(by.get("map"), Mapping):
            for value, roles in by["map"].items():
                found += [(f"actions.{action}.roles_by.map.{value}", r) for r in _names(roles)]
    for clock, spec in (raw.get("clocks") or {}).items():
        if isinstance(spec, Mapping) and spec.get("escalate_to"):
            found += [(f"clocks.{clock}.escalate_to", r) for r in _names(spec["escalate_to"])]
    approvals = raw.get("approvals")
    if isinstance(approvals, Mapping):
        for i, rule in enumerate(approvals.get("rules") or []):
            if isinstance(rule, Mapping):
                for step in rule.get("chain") or []:
                    names = step if isinstance(step, str) else (
                        (step.get("any_of") or [step.get("role")]) if isinstance(step, Mapping) else [])
                    found += [(f"approvals.rules[{i}].chain", r) for r in _names(names)]
    for i, rule in enumerate(raw.get("escalations") or []):
        if isinstance(rule, Mapping) and rule.get("to"):
            found += [(f"escalations[{i}].to", r) for r in _names(rule["to"])]
    found += [("escalation_ladder", r) for r in _names(raw.get("escalation_ladder", []))]
    return found


def _names(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []

"""The case types in force: reading the TOML files into a ``CaseTypeRegistry``.

``CaseTypeRegistry.load(*extra_dirs)`` reads every built-in file of
``domain/model/case_types`` (``_common.toml`` is merged into each) plus the
files of extra folders, validates each (``domain.model.casetype.build_case_type``:
errors name the file and the key), checks every role a type names against
the role catalog (``_roles.toml`` files, ``domain.model.roles``) and that
follow-ups open known types. ``from_env`` adds the operator's folders,
``CASETRAIL_CASE_TYPES`` (several separated by ``:``), so every process of a
deployment (API, workers, CLI) loads the same files; ``check`` reports every
problem of every file instead of stopping at the first. A new procedure is a
new file.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from domain.model.casetype import BUILTIN_DIR, CaseType, build_case_type
from domain.model.errors import CaseTypeError, UnknownCaseType
from domain.model.roles import RoleCatalog, roles_named

ENV = "CASETRAIL_CASE_TYPES"
ROLES_FILE = "_roles.toml"


def case_type_dirs(environ: Mapping[str, str] | None = None) -> list[Path]:
    """The operator's case-type folders named by ``CASETRAIL_CASE_TYPES`` (``:``-separated)."""
    value = (os.environ if environ is None else environ).get(ENV, "")
    folders = [Path(p).expanduser() for p in value.split(os.pathsep) if p.strip()]
    for folder in folders:
        if not folder.is_dir():
            raise CaseTypeError(f"{ENV}: {folder} is not a folder")
    return folders


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise CaseTypeError(f"{path.name}: not valid TOML: {e}") from None
    except OSError as e:
        raise CaseTypeError(f"{path}: cannot read: {e.strerror}") from None


def load_case_type(path: Path, common: Mapping[str, Any] | None = None) -> CaseType:
    """Load and validate one case-type file."""
    if common is None:
        common = _read_toml(BUILTIN_DIR / "_common.toml")
    return build_case_type(_read_toml(path), common, path.name)


def role_catalog(folders: Iterable[Path]) -> RoleCatalog:
    """The built-in roles plus each folder's ``_roles.toml``."""
    files = [Path(f) / ROLES_FILE for f in folders if (Path(f) / ROLES_FILE).is_file()]
    return RoleCatalog.build((str(path), _read_toml(path)) for path in files)


def check_roles(ct: CaseType, catalog: RoleCatalog, source: str) -> None:
    """Refuse a role the catalog does not know, naming the key that names it."""
    for key, role in roles_named(ct.raw):
        if role not in catalog:
            raise CaseTypeError(f"{source}: key '{key}': unknown role {role!r} (known roles: "
                                f"{', '.join(catalog.names())}; add it to a {ROLES_FILE})")


def _files(folders: Iterable[Path]) -> Iterator[Path]:
    for folder in folders:
        for path in sorted(Path(folder).glob("*.toml")):
            if not path.name.startswith("_"):
                yield path


def _folders(extra_dirs: Iterable[Path]) -> list[Path]:
    """The built-in folder, then the extra ones, each once (checking the built-in folder itself reads it once)."""
    return list(dict.fromkeys(Path(f).resolve() for f in [BUILTIN_DIR, *extra_dirs]))


class CaseTypeRegistry:
    """The case types in force: the built-in ones plus those of extra folders."""

    def __init__(self, types: Mapping[str, CaseType], roles: RoleCatalog | None = None) -> None:
        self._types = dict(types)
        self.roles = roles if roles is not None else role_catalog([BUILTIN_DIR])
        self._names = sorted(self._types)
        self._states = frozenset(s for ct in self._types.values() for s in ct.states)

    @classmethod
    def load(cls, *extra_dirs: Path) -> CaseTypeRegistry:
        folders = _folders(extra_dirs)
        catalog = role_catalog(folders)
        common = _read_toml(BUILTIN_DIR / "_common.toml")
        types: dict[str, CaseType] = {}
        sources: dict[str, Path] = {}
        for path in _files(folders):
            ct = load_case_type(path, common)
            check_roles(ct, catalog, path.name)
            if ct.name in types and sources[ct.name].parent == path.parent:
                raise CaseTypeError(f"{path.name}: key 'name': {ct.name!r} is defined by {sources[ct.name].name} too")
            types[ct.name], sources[ct.name] = ct, path  # a later folder's file replaces a built-in one
        for ct in types.values():
            for i, need in enumerate(ct.requires):
                other = types.get(need.type)
                if other is None or need.unique not in {r.name for r in other.unique}:
                    raise CaseTypeError(f"{sources[ct.name].name}: key 'requires[{i}]': {need.type!r} has no unique "
                                        f"rule {need.unique!r}")
            for i, f in enumerate(ct.follow_ups):
                if f.get("open") not in types:
                    raise CaseTypeError(
                        f"{sources[ct.name].name}: key 'follow_ups[{i}].open': unknown case type {f.get('open')!r}"
                    )
        return cls(types, catalog)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> CaseTypeRegistry:
        """The built-in types plus those of the folders in ``CASETRAIL_CASE_TYPES``."""
        return cls.load(*case_type_dirs(environ))

    @classmethod
    def check(cls, *extra_dirs: Path) -> list[tuple[Path, str]]:
        """Every problem of the files in ``extra_dirs`` (with the built-ins they rely on):
        ``(file, message)`` pairs, one per file that fails, then the registry's own checks."""
        problems: list[tuple[Path, str]] = []
        folders = _folders(extra_dirs)
        try:
            catalog = role_catalog(folders)
        except CaseTypeError as e:
            return [(Path(str(e).split(":", 1)[0]), str(e))]
        common = _read_toml(BUILTIN_DIR / "_common.toml")
        for path in _files(folders):
            try:
                check_roles(load_case_type(path, common), catalog, path.name)
            except CaseTypeError as e:
                problems.append((path, str(e)))
        if not problems:
            try:
                cls.load(*extra_dirs)
            except CaseTypeError as e:
                problems.append((Path(str(e).split(":", 1)[0]), str(e)))
        return problems

    def get(self, name: str) -> CaseType:
        try:
            return self._types[name]
        except (KeyError, TypeError):
            raise UnknownCaseType(
                f"unknown case type {name!r}; known types: {sorted(self._types)}",
                known=sorted(self._types),
            ) from None

    def names(self) -> list[str]:
        return list(self._names)

    def __contains__(self, name: object) -> bool:
        return name in self._types

    def states(self) -> frozenset[str]:
        """Every state of every type (the case list's status filter)."""
        return self._states

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._types.values())

"""The case types in force: reading the TOML files into a ``CaseTypeRegistry``.

``CaseTypeRegistry.load(*extra_dirs)`` reads every built-in file of
``domain/case_types`` (``_common.toml`` is merged into each) plus the files
of extra folders, validates each (``domain.model.casetype.build_case_type``: errors
name the file and the key) and checks that follow-ups open known types.
A new procedure is a new file.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from domain.model.casetype import BUILTIN_DIR, CaseType, build_case_type
from domain.model.errors import CaseTypeError, UnknownCaseType


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


class CaseTypeRegistry:
    """The case types in force: the built-in ones plus those of extra folders."""

    def __init__(self, types: Mapping[str, CaseType]) -> None:
        self._types = dict(types)

    @classmethod
    def load(cls, *extra_dirs: Path) -> CaseTypeRegistry:
        common = _read_toml(BUILTIN_DIR / "_common.toml")
        types: dict[str, CaseType] = {}
        for folder in (BUILTIN_DIR, *extra_dirs):
            for path in sorted(Path(folder).glob("*.toml")):
                if path.name.startswith("_"):
                    continue
                ct = load_case_type(path, common)
                types[ct.name] = ct
        for ct in types.values():
            for i, f in enumerate(ct.follow_ups):
                if f.get("open") not in types:
                    raise CaseTypeError(
                        f"{ct.name}.toml: key 'follow_ups[{i}].open': unknown case type {f.get('open')!r}"
                    )
        return cls(types)

    def get(self, name: str) -> CaseType:
        try:
            return self._types[name]
        except (KeyError, TypeError):
            raise UnknownCaseType(
                f"unknown case type {name!r}; known types: {sorted(self._types)}",
                known=sorted(self._types),
            ) from None

    def names(self) -> list[str]:
        return sorted(self._types)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._types.values())

"""``casetrail case-types check|list|schema``: validate case-type folders before a deployment loads them.

``check [DIR ...]`` loads the built-in types with the given folders (default:
``CASETRAIL_CASE_TYPES``) exactly as every process will, and prints one line
per problem as ``file:line: message`` (the line of the key the message
names, found in the file's text), then exits 1; clean folders print what
they define and exit 0. ``list`` prints the case types and roles in force;
``schema`` the JSON Schema of the file format.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import click

from domain.model.casetype import BUILTIN_DIR
from domain.model.file_format import case_type_schema
from domain.model.registry import CaseTypeRegistry, case_type_dirs
from scripts.errors import CommandError

KEY_IN_MESSAGE = re.compile(r"key '([^']+)'(?:\.([\w.\[\]]+))?")
HEADER = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(?:#.*)?$")


def locate(text: str, message: str) -> int | None:
    """The line (1-based) of the key a loader message names, e.g. ``key 'actions.assign'.roles``."""
    match = KEY_IN_MESSAGE.search(message)
    if not match:
        return None
    dotted = match.group(1) + (f".{match.group(2)}" if match.group(2) else "")
    parts = [p for p in re.split(r"\.|\[\d+\]", dotted) if p]
    lines = text.splitlines()
    # the longest prefix of the path that is a table header, then the next part as a key below it
    for cut in range(len(parts), 0, -1):
        table = ".".join(parts[:cut])
        for number, line in enumerate(lines, 1):
            header = HEADER.match(line)
            if header and header.group(1) == table:
                rest = parts[cut:]
                if not rest:
                    return number
                for offset, below in enumerate(lines[number:], number + 1):
                    if HEADER.match(below):
                        break
                    if re.match(rf"^\s*{re.escape(rest[0])}\s*[=.]", below):
                        return offset
                return number
    for number, line in enumerate(lines, 1):  # a top-level or dotted key
        if re.match(rf"^\s*{re.escape(parts[0])}\s*[=.]", line):
            return number
    return None


def where(path: Path, message: str) -> str:
    try:
        line = locate(path.read_text(encoding="utf-8"), message)
    except OSError:
        line = None
    return f"{path}:{line}" if line else str(path)


@click.group("case-types")
def case_types() -> None:
    """Case-type files: check an operator's folders, list what is in force."""


@case_types.command("check")
@click.argument("folders", nargs=-1, type=click.Path(exists=True, file_okay=False, path_type=Path))
def check_cmd(folders: tuple[Path, ...]) -> None:
    """Validate FOLDERS (default: CASETRAIL_CASE_TYPES) with the built-in types; exit 1 on any problem."""
    dirs = list(folders) or case_type_dirs()
    problems = CaseTypeRegistry.check(*dirs)
    for path, message in problems:
        file = path if path.is_absolute() or path.exists() else next(
            (d / path.name for d in [*dirs, BUILTIN_DIR] if (d / path.name).exists()), path)
        text = message.split(": ", 1)[1] if message.startswith(f"{path.name}: ") else message
        click.echo(f"{where(file, message)}: {text}")
    if problems:
        raise SystemExit(1)
    registry = CaseTypeRegistry.load(*dirs)
    click.echo(f"OK: {len(registry.names())} case types ({', '.join(registry.names())}); "
               f"{len(registry.roles.names())} roles ({', '.join(registry.roles.names())})")


@case_types.command("schema")
def schema_cmd() -> None:
    """Print the JSON Schema of case-type files (for editors; docs/case-type.schema.json)."""
    click.echo(json.dumps(case_type_schema(), indent=2, ensure_ascii=False))


@case_types.command("list")
def list_cmd() -> None:
    """The case types and roles in force (built-in plus CASETRAIL_CASE_TYPES)."""
    try:
        registry = CaseTypeRegistry.from_env()
    except ValueError as e:
        raise CommandError(str(e)) from None
    for name in registry.names():
        ct = registry.get(name)
        click.echo(f"{name}\t{ct.number_prefix}\tv{ct.version}\t{ct.title}")
    for role in registry.roles.describe():
        click.echo(f"role\t{role['name']}\t{role['label']}\t{'acts' if role['acts'] else 'reads only'}")


commands = [case_types]

"""Commands that need an optional extra (``casetrail[bench]``) import it here, inside the command.

The base install (``pip install casetrail``) carries only what serving,
the projection workers (with the webhook dispatcher, which needs httpx) and
the operator commands need. ``bench`` and ``soak`` drive the API with httpx
(now in the base install too) and are profiled with py-spy; they import
their modules through :func:`load`, which turns a missing package into a
one-line message naming the extra to install (exit 2), not a traceback.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from scripts.errors import CommandError

PROJECT_PACKAGES = ("domain", "projections", "api", "scripts")


class MissingExtra(CommandError):
    pass


def load(module: str, command: str, extra: str = "bench") -> ModuleType:
    """Import ``module`` for ``casetrail COMMAND``; a missing third-party package names the extra."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as e:
        missing = (e.name or "").split(".")[0]
        if not missing or missing in PROJECT_PACKAGES:
            raise
        raise MissingExtra(f"`casetrail {command}` needs the Python package {missing!r}, which the base "
                           f"install does not include: pip install 'casetrail[{extra}]'") from None

"""A mistake in what the operator asked for: one line on stderr and exit 2 (``scripts/cli.py``)."""

from __future__ import annotations

import click


class CommandError(click.ClickException):
    """Shown as ``Error: <message>``; the command exits 2 (database errors exit 3)."""

    exit_code = 2

"""Opening the application for a command: create the database, or insist that it already exists.

Commands that set a deployment up (``serve``, ``staff add``, ``demo``)
may create the embedded SQLite database. Commands that read or check an
existing one (``audit``, ``projections status/rebuild``, ``sla check``,
``staff list/update/deactivate``, ``token``) use :func:`existing_application`:
a SQLite file that does not exist is a mistake in ``CASETRAIL_DATABASE_URL``
or the working directory, so they refuse it (exit 2) instead of creating
an empty database and reporting that all is well.
"""

from __future__ import annotations

import os
from typing import Any

from domain.application import CaseTrail
from domain.storage.database import database_url, sqlite_file
from scripts.errors import CommandError


class NoDatabase(CommandError):
    pass


def require_existing(url: str) -> None:
    """Refuse a SQLite URL whose file does not exist (PostgreSQL reports a missing database itself)."""
    path = sqlite_file(url)
    if path is not None and not os.path.exists(path):
        raise NoDatabase(f"no database at {os.path.abspath(path)} (CASETRAIL_DATABASE_URL={url}); "
                         "set CASETRAIL_DATABASE_URL to the deployment's database, or run the command "
                         "where it lives")


def existing_application(**kwargs: Any) -> CaseTrail:
    """The application on ``CASETRAIL_DATABASE_URL``, which must already exist."""
    url = database_url()
    require_existing(url)
    return CaseTrail.from_url(url, **kwargs)

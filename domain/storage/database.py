"""Where events live: one setting, ``CASETRAIL_DATABASE_URL``.

``sqlite:///./casetrail.db`` (the embedded default; ``?lock_timeout=s``, default
30) or ``postgresql://user:pass@host:port/db`` (production; ``?pool_size=``,
``max_overflow=``, ``connect_timeout=`` (default 2 s), ``schema=``). ``env_for_url``
turns the URL into the eventsourcing library's environment for its own
SQLite or PostgreSQL recorders; nothing here writes SQL.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from urllib.parse import parse_qs, unquote, urlparse

DEFAULT_URL = "sqlite:///./casetrail.db"


class StorageConfigError(ValueError):
    pass


def _check_query(url: str, query: Mapping[str, list[str]], numbers: Mapping[str, int],
                 texts: tuple[str, ...] = ()) -> None:
    """Refuse unknown URL options and options that are not whole numbers >= their minimum."""
    unknown = sorted(set(query) - set(numbers) - set(texts))
    if unknown:
        raise StorageConfigError(f"unknown database URL option(s) {unknown}; known: {sorted([*numbers, *texts])}")
    for name, minimum in numbers.items():
        for value in query.get(name, []):
            if not (value.isascii() and value.isdigit() and len(value) <= 6 and int(value) >= minimum):
                raise StorageConfigError(f"database URL option {name} must be a whole number >= {minimum}, "
                                         f"got {value[:20]!r}")


def database_url(environ: Mapping[str, str] | None = None) -> str:
    env = os.environ if environ is None else environ
    return env.get("CASETRAIL_DATABASE_URL") or DEFAULT_URL


def sqlite_file(url: str) -> str | None:
    """The file a ``sqlite:///`` URL names (relative to the working directory), or None
    for PostgreSQL and in-memory SQLite."""
    if urlparse(url).scheme != "sqlite" or not url.startswith("sqlite:///"):
        return None
    path = unquote(url[len("sqlite:///"):].split("?", 1)[0])
    return None if not path or path == ":memory:" else path


def is_postgres(url: str) -> bool:
    return url.startswith(("postgresql://", "postgres://"))


def env_for_url(url: str) -> dict[str, str]:
    """Library settings (PERSISTENCE_MODULE, SQLITE_*/POSTGRES_*) for ``url``."""
    parsed = urlparse(url)
    if parsed.scheme == "sqlite":
        if not url.startswith("sqlite:///"):
            raise StorageConfigError("sqlite URL must look like sqlite:///relative.db or "
                                     f"sqlite:////abs/path.db: {url!r}")
        path = unquote(url[len("sqlite:///"):].split("?", 1)[0])
        if not path:
            raise StorageConfigError(f"sqlite URL needs a file path: {url!r}")
        memory = path == ":memory:"
        # How long a write waits for another's lock before failing (503): ?lock_timeout=seconds.
        query = parse_qs(url.split("?", 1)[1] if "?" in url else "")
        _check_query(url, query, {"lock_timeout": 1})
        lock_timeout = query.get("lock_timeout", ["30"])[0]
        return {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": "file:casetrail?mode=memory&cache=shared" if memory else path,
            "SQLITE_LOCK_TIMEOUT": lock_timeout,
            "CREATE_TABLE": "y",
        }
    if parsed.scheme in ("postgresql", "postgres"):
        if not parsed.path.strip("/"):
            raise StorageConfigError(f"postgresql URL needs a database name: {url!r}")
        query = parse_qs(parsed.query)
        _check_query(url, query, {"pool_size": 0, "max_overflow": 0, "connect_timeout": 1}, ("schema",))
        env = {
            # The library's factory, its pool failing fast and recovering by itself in an outage.
            "PERSISTENCE_MODULE": "domain.storage.pgstore:Factory",
            "POSTGRES_DBNAME": unquote(parsed.path.lstrip("/")),
            "POSTGRES_HOST": parsed.hostname or "127.0.0.1",
            "POSTGRES_PORT": str(parsed.port or 5432),
            "POSTGRES_USER": unquote(parsed.username or "postgres"),
            "POSTGRES_PASSWORD": unquote(parsed.password or ""),
            "POSTGRES_POOL_SIZE": query.get("pool_size", ["5"])[0],
            "POSTGRES_MAX_OVERFLOW": query.get("max_overflow", ["20"])[0],
            # Seconds to wait for a pooled connection (and to open one): bounds a request's wait in an outage.
            "POSTGRES_CONNECT_TIMEOUT": query.get("connect_timeout", ["2"])[0],
            "POSTGRES_LOCK_TIMEOUT": "5",
            "CREATE_TABLE": "y",
            # The same writes in one round trip (domain/recorder.py).
            "APPLICATION_RECORDER_TOPIC": "domain.storage.recorder:OneTripRecorder",
        }
        if "schema" in query:
            env["POSTGRES_SCHEMA"] = query["schema"][0]
        return env
    raise StorageConfigError(
        f"unsupported CASETRAIL_DATABASE_URL {url!r}: use sqlite:///path or postgresql://user:pass@host:port/db"
    )

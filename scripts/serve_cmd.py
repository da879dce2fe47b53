"""``casetrail serve``: the HTTP API under uvicorn, plus the background workers.

One command, a complete system: unless ``--no-workers`` is given, the
projection workers (``projections.workers.start_background``) run in
background threads of this process; in production run them as separate
``casetrail projections run`` processes and start the API with
``--no-workers``. ``--workers N`` starts N HTTP worker processes.
Connections are guarded by ``api.server`` (read deadlines, a connection
cap, a bounded graceful shutdown).
"""

from __future__ import annotations

import os
from urllib.parse import urlparse

import click

from domain.model.idempotency import retention_of
from domain.storage.database import database_url, env_for_url
from projections.workers import start_background
from scripts.errors import CommandError


class BadLimit(CommandError):
    """A malformed limit in the environment: one line on stderr and exit 2 (not a usage message)."""



def safe_url(url: str) -> str:
    """The database URL without its password, for messages."""
    parsed = urlparse(url)
    if parsed.password:
        return url.replace(f":{parsed.password}@", ":***@", 1)
    return url


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535), help="TCP port.")
@click.option("--workers", "http_workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="HTTP worker processes (uvicorn).")
@click.option("--no-workers", is_flag=True,
              help="Do not run the projection workers in background threads (run "
                   "`casetrail projections run` separately).")
def serve(host: str, port: int, http_workers: int, no_workers: bool) -> None:
    """Serve the HTTP API (reads CASETRAIL_DATABASE_URL)."""
    import uvicorn

    from api.app import create_app
    from api.logging import configure_logging, get_logger
    from api.rate_limit import RateLimit, RateLimitConfigError
    from api.server import LimitError, raise_fd_limit, uvicorn_options

    url = database_url()
    try:
        env_for_url(url)
    except ValueError as e:
        raise CommandError(f"CASETRAIL_DATABASE_URL: {e}") from None
    raise_fd_limit()
    try:
        limits = uvicorn_options()
        RateLimit.from_env()
    except (LimitError, RateLimitConfigError) as e:
        raise BadLimit(str(e)) from None
    try:
        retention_of(os.environ.get("CASETRAIL_IDEMPOTENCY_RETENTION"))
    except ValueError as e:
        raise BadLimit(f"CASETRAIL_IDEMPOTENCY_RETENTION: {e}") from None
    configure_logging()
    log = get_logger("casetrail.serve")
    if http_workers > 1:
        # Fail here, once, with a message (and create the schema) rather than
        # in every worker process, which uvicorn would leave dead behind an
        # open port.
        from domain.application import CaseTrail
        CaseTrail.from_url(url).close()
    stop = None if no_workers else start_background(url)
    log.info("starting", host=host, port=port, http_workers=http_workers, database=safe_url(url),
             background_workers=stop is not None)
    options = dict(host=host, port=port, log_config=None, access_log=False, server_header=False, **limits)
    try:
        if http_workers == 1:
            uvicorn.run(create_app(database_url=url), **options)
        else:
            uvicorn.run("api.app:create_app", factory=True, workers=http_workers, **options)
    finally:
        if stop is not None:
            stop()


commands = [serve]

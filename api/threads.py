"""Blocking work off the event loop, with the log context it binds carried back.

``in_thread(fn, *args, **kwargs)`` runs ``fn(*args, **kwargs)`` in the thread pool (Starlette's
``run_in_threadpool``) and returns its result or raises its exception; every
blocking call of the API goes through it. A
worker thread runs in a copy of the request's context, so what it binds to
the log context there (``structlog.contextvars``: the ``actor`` who
authenticated, the ``case_id`` a path named) would be lost to the access log
line the middleware writes after the handler; ``in_thread`` binds it again
in the request's own context when ``fn`` returns or raises (``fn`` runs in a
context of its own, read back afterwards; no frame of this module is on the
worker thread's stack). A handler that
needs the database for several steps (authenticate, read, decide, save)
makes one trip: each trip wakes a worker thread and waits for it, about 50 µs
of CPU on a loaded server.
"""

from __future__ import annotations

import contextvars
import functools
from collections.abc import Callable
from typing import Any, TypeVar

import structlog
from starlette.concurrency import run_in_threadpool

T = TypeVar("T")


async def in_thread(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    context = contextvars.copy_context()  # fn's own: what it binds is read back from here
    try:
        return await run_in_threadpool(context.run, functools.partial(fn, *args, **kwargs))
    finally:
        bound = context.run(structlog.contextvars.get_contextvars)
        if bound:
            structlog.contextvars.bind_contextvars(**bound)

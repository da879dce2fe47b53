"""How ``casetrail serve`` meets hostile and careless clients: timeouts, a connection cap, quiet accept errors.

uvicorn's HTTP/1.1 protocol (h11) closes idle keep-alive connections but
waits forever for a request that is never finished. ``GuardedProtocol``
adds the two read deadlines a server on a network needs:

- the request head (request line and headers) must arrive within
  ``header_timeout`` seconds of the connection opening, or of the first
  byte of the next request on a kept-alive connection;
- the body must be complete within ``body_timeout`` seconds of the head.

A request that misses either gets a ``408`` problem document (when no
response has started) and its connection is closed. Beyond
``max_connections`` open connections (or as many requests in progress) a
request is answered ``503`` with ``Retry-After`` and a problem document,
without reaching the application.

When the process runs out of file descriptors, asyncio's accept loop
reports every failed ``accept()`` with a traceback; ``QuietAcceptErrors``
turns that into one warning per interval with the number of failures.

``raise_fd_limit`` lifts the soft limit on open files to the hard limit
when the server starts, and the connection cap defaults to what that
limit leaves room for, so a flood is refused with 503s before the process
runs out of descriptors. ``ServerLimits.from_env`` reads the limits from the environment when the
server starts (``CASETRAIL_HEADER_TIMEOUT``, ``CASETRAIL_BODY_TIMEOUT``,
``CASETRAIL_MAX_CONNECTIONS``, ``CASETRAIL_SHUTDOWN_TIMEOUT``), and
``uvicorn_options`` gives what ``uvicorn.run`` needs. Every connection
sends without delay (``no_delay``), whichever way uvicorn bound the socket.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import json
import math
import os
import resource
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from api.logging import get_logger

log = get_logger("casetrail.server")
PROBLEMS = "https://casetrail.invalid/problems/"
RESOURCE_ERRNOS = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}


class LimitError(ValueError):
    """A limit in the environment that is not a positive number."""


@dataclass(frozen=True)
class ServerLimits:
    header_timeout: float = 10.0
    body_timeout: float = 20.0
    keep_alive: int = 5
    max_connections: int = 0  # 0: as many as the file-descriptor limit leaves room for (at most 1000)
    shutdown_timeout: int = 5

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ServerLimits:
        env = os.environ if environ is None else environ
        default = cls()

        def number(name: str, value: float, kind: type = float) -> Any:
            text = env.get(name, "").strip()
            if not text:
                return value
            try:
                parsed = kind(text)
            except ValueError:
                raise LimitError(f"{name} must be a positive number, not {text!r}") from None
            if not math.isfinite(parsed) or parsed <= 0:  # float() also reads "nan", "inf", "1e999"
                raise LimitError(f"{name} must be a positive number, not {text!r}")
            return parsed

        max_connections = number("CASETRAIL_MAX_CONNECTIONS", 0, int) or default_max_connections()
        return cls(
            max_connections=max_connections,
            header_timeout=number("CASETRAIL_HEADER_TIMEOUT", default.header_timeout),
            body_timeout=number("CASETRAIL_BODY_TIMEOUT", default.body_timeout),
            keep_alive=number("CASETRAIL_KEEPALIVE_TIMEOUT", default.keep_alive, int),
            shutdown_timeout=number("CASETRAIL_SHUTDOWN_TIMEOUT", default.shutdown_timeout, int),
        )


def raise_fd_limit() -> int:
    """Raise this process's soft limit on open files to its hard limit; return the soft limit now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            soft = wanted
        except (ValueError, OSError):
            pass
    return soft if soft != resource.RLIM_INFINITY else 1 << 20


def default_max_connections() -> int:
    """Connections to serve at once when not configured: 1000, or fewer when the file-descriptor
    limit would run out first (each connection is one descriptor; database connections, the
    SQLite file and the log need some too), so that refusing with a 503 comes before EMFILE."""
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft == resource.RLIM_INFINITY:
        return 1000
    return max(8, min(1000, soft - 100, soft * 3 // 4))


def raw_problem(status: int, reason: str, kind: str, detail: str, extra_headers: str = "") -> bytes:
    """A complete HTTP/1.1 response carrying a problem document, for writing straight to the socket."""
    body = json.dumps({"type": PROBLEMS + kind, "title": reason, "status": status, "detail": detail}).encode()
    head = (f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/problem+json\r\n"
            f"content-length: {len(body)}\r\n{extra_headers}connection: close\r\n\r\n")
    return head.encode("ascii") + body


TIMEOUT_RESPONSE = raw_problem(408, "Request Timeout", "request-timeout",
                               "the request was not sent completely in time; the connection is closed")


def no_delay(transport: asyncio.BaseTransport) -> None:
    """Send small writes at once (``TCP_NODELAY``).

    asyncio sets it only on sockets whose protocol number is TCP, and
    uvicorn's ``--workers`` mode binds its listening socket with
    ``socket.socket(family)`` (protocol 0), so the connections its worker
    processes accept kept Nagle's algorithm: a response's body, written after
    its head, waited for the client's delayed ACK — 40 ms on every request."""
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:  # the peer is already gone: nothing to send
            pass


class GuardedProtocol(H11Protocol):
    """uvicorn's h11 protocol with read deadlines and a connection cap (see the module docstring)."""

    def __init__(self, config: Any, server_state: Any, app_state: dict[str, Any],
                 _loop: asyncio.AbstractEventLoop | None = None) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.limits = server_limits()
        self.app = self.capped(self.app)
        self._read_deadline: asyncio.TimerHandle | None = None
        self._reading: str | None = None  # "head" or "body": what the deadline is for

    # ------------------------------------------------------------ deadlines
    def _arm(self, what: str, seconds: float) -> None:
        self._disarm()
        self._reading = what
        self._read_deadline = self.loop.call_later(seconds, self._read_timed_out)

    def _disarm(self) -> None:
        if self._read_deadline is not None:
            self._read_deadline.cancel()
        self._read_deadline = None
        self._reading = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        no_delay(transport)
        super().connection_made(transport)
        if len(self.connections) > self.limits.max_connections:
            # Refused before anything is read: a flood of idle connections cannot use up the
            # process's file descriptors.
            refuse_busy_connection(self.limits.max_connections)
            transport.write(busy_response(self.limits.max_connections))
            transport.close()
            return
        self._arm("head", self.limits.header_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._follow()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._follow(idle_is_keep_alive=True)

    def _follow(self, idle_is_keep_alive: bool = False) -> None:
        """Arm or clear the read deadline for where the client now is in its request."""
        if self.transport.is_closing():
            return self._disarm()
        state = self.conn.their_state
        if state is h11.IDLE:
            if idle_is_keep_alive and not self.conn.trailing_data[0]:
                self._disarm()  # nothing of a next request yet: the keep-alive timer runs
            elif self._reading != "head":
                self._arm("head", self.limits.header_timeout)
        elif state is h11.SEND_BODY:
            if self._reading != "body":
                self._arm("body", self.limits.body_timeout)
        else:
            self._disarm()

    def _read_timed_out(self) -> None:
        self._read_deadline = None
        if self.transport.is_closing():
            return
        what = self._reading or "head"
        self._reading = None
        log.info("request read timed out; connection closed", waiting_for=what,
                 seconds=self.limits.header_timeout if what == "head" else self.limits.body_timeout)
        if self.cycle is None or self.cycle.response_complete or not self.cycle.response_started:
            self.transport.write(TIMEOUT_RESPONSE)
        if self.cycle is not None:
            self.cycle.disconnected = True
            self.cycle.message_event.set()
        self.transport.close()

    # -------------------------------------------------------- connection cap
    def capped(self, app: Any) -> Any:
        connections, tasks, limit = self.connections, self.tasks, self.limits.max_connections

        async def guarded_app(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] == "http" and (len(connections) > limit or len(tasks) > limit):
                await send_busy(send, limit)
                return
            await app(scope, receive, send)

        return guarded_app


def busy_response(limit: int) -> bytes:
    return raw_problem(503, "Service Unavailable", "unavailable",
                       f"the server is at its limit of {limit} connections; retry shortly", "retry-after: 1\r\n")


class _BusyWarnings:
    """One warning per 10 s while connections are being refused, with the count."""

    def __init__(self) -> None:
        self.last, self.refused = float("-inf"), 0

    def __call__(self, limit: int) -> None:
        self.refused += 1
        now = time.monotonic()
        if now - self.last >= 10.0:
            log.warning("connection limit reached; refusing with 503", limit=limit, refused=self.refused)
            self.last, self.refused = now, 0


refuse_busy_connection = _BusyWarnings()


async def send_busy(send: Any, limit: int) -> None:
    body = busy_response(limit).split(b"\r\n\r\n", 1)[1]
    refuse_busy_connection(limit)
    await send({"type": "http.response.start", "status": 503, "headers": [
        (b"content-type", b"application/problem+json"), (b"retry-after", b"1"),
        (b"content-length", str(len(body)).encode()), (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


class QuietAcceptErrors:
    """Loop exception handler: running out of descriptors is one warning per ``interval``,
    not a traceback per failed accept."""

    def __init__(self, interval: float = 10.0) -> None:
        self.interval = interval
        self.suppressed = 0
        self.last = float("-inf")

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        out_of_resources = isinstance(exc, OSError) and exc.errno in RESOURCE_ERRNOS
        # asyncio retries a failed accept from a timer; one that fires after the listening
        # socket closed (at shutdown) fails once more: the same trouble, not a new one.
        late_retry = "_start_serving" in str(context.get("message", ""))
        if out_of_resources or late_retry:
            now = time.monotonic()
            if now - self.last >= self.interval:
                log.warning("out of file descriptors or sockets; new connections wait",
                            error=str(exc), failures_since_last_warning=self.suppressed)
                self.last, self.suppressed = now, 0
            else:
                self.suppressed += 1
            return
        loop.default_exception_handler(context)


def install_quiet_accept_errors(interval: float = 10.0) -> None:
    """Use ``QuietAcceptErrors`` on the running loop (called when the app starts)."""
    asyncio.get_running_loop().set_exception_handler(QuietAcceptErrors(interval))


@functools.lru_cache(maxsize=1)
def server_limits() -> ServerLimits:
    """The limits of this process, read from the environment once, when the first connection comes."""
    return ServerLimits.from_env()


def uvicorn_options() -> dict[str, Any]:
    """``uvicorn.run`` keyword arguments: the guarded protocol and the keep-alive and shutdown limits.

    Raises ``LimitError`` for a malformed limit, before the server starts."""
    limits = server_limits()
    # asyncio's loop, never uvloop: libuv drops connections when descriptors run out, where asyncio's
    # accept reports it (one warning per interval, QuietAcceptErrors) and new connections wait
    return {"http": GuardedProtocol, "loop": "asyncio", "timeout_keep_alive": limits.keep_alive,
            "timeout_graceful_shutdown": limits.shutdown_timeout}

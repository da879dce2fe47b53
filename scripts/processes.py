"""Child processes of casetrail, started the same way everywhere: a free port, a server, ready, stopped.

The benchmark (``scripts.bench``), the soak, the throwaway PostgreSQL and
the end-to-end tests all start ``casetrail serve`` (or another command)
as a subprocess with its output in a log file, wait until it answers
``/readyz``, and stop it with SIGTERM (SIGKILL after a grace period).
Only the standard library: the base install can use it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CASETRAIL = str(Path(sys.executable).parent / "casetrail")


class ServerNotReady(RuntimeError):
    """The server exited, or did not answer ``/readyz`` in time (the message holds the end of its log)."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(args: Sequence[str], log_path: Path, *, env: Mapping[str, str] | None = None, cwd: Path | None = None,
          executable: str = CASETRAIL, append: bool = False, preexec_fn: Callable[[], Any] | None = None,
          ) -> subprocess.Popen[bytes]:
    """``casetrail ARGS`` (or ``executable``) in the background, stdout and stderr into ``log_path``."""
    with log_path.open("ab" if append else "wb") as log:
        return subprocess.Popen([executable, *args], env=dict(env) if env is not None else None, cwd=cwd,
                                stdout=log, stderr=subprocess.STDOUT, preexec_fn=preexec_fn)


def answers(url: str, timeout: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - our own loopback server
            return int(response.status) == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def wait_ready(base_url: str, process: subprocess.Popen[bytes], log_path: Path, timeout: float = 60) -> None:
    """Wait until ``base_url/readyz`` answers 200; ``ServerNotReady`` if the process exits or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServerNotReady(f"the server exited ({process.returncode}):\n{tail(log_path)}")
        if answers(f"{base_url}/readyz"):
            return
        time.sleep(0.05)
    raise ServerNotReady(f"the server did not become ready within {timeout:.0f} s:\n{tail(log_path)}")


def stop(process: subprocess.Popen[bytes], grace: float = 10) -> int:
    """SIGTERM, then SIGKILL after ``grace`` seconds; the exit code."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            process.kill()
    return process.wait(timeout=30)


@contextmanager
def serving(database_url: str, log_path: Path, *, args: Sequence[str] = ("--no-workers",),
            env: Mapping[str, str] | None = None, cwd: Path | None = None, executable: str = CASETRAIL,
            ready_timeout: float = 60, append: bool = False,
            preexec_fn: Callable[[], Any] | None = None) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``casetrail serve ARGS`` on a free port over ``database_url``: yields its base URL and process."""
    port = free_port()
    environment = {**os.environ, **(env or {}), "CASETRAIL_DATABASE_URL": database_url, "PYTHONUNBUFFERED": "1"}
    process = start(["serve", *args, "--port", str(port)], log_path, env=environment, cwd=cwd,
                    executable=executable, append=append, preexec_fn=preexec_fn)
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base_url, process, log_path, ready_timeout)
        yield base_url, process
    finally:
        stop(process)


def tail(log_path: Path, size: int = 2000) -> str:
    try:
        return log_path.read_text(encoding="utf-8", errors="replace")[-size:]
    except OSError:
        return ""

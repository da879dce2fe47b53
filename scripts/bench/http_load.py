"""W4: the HTTP API under 16 concurrent clients, each acting on its own case.

``ApiServer`` runs ``casetrail serve --workers 2 --no-workers`` in a subprocess
on the benchmark database (as ``compose.yaml`` runs the API) and waits for
``/readyz``. ``drive`` runs ``clients`` asyncio tasks, each with
its own keep-alive connection and its own hot case, posting the case's
repeatable action for ``seconds``; it returns the rate of 2xx responses and
the latency percentiles. The client is lean (a request encoded once, the
response read by its length) so that it leaves the CPU to the server.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from scripts.processes import serving

REPO = Path(__file__).resolve().parents[2]
COMPOSE_WORKERS = 2  # compose.yaml: casetrail serve --workers 2 --no-workers


def api_available() -> str | None:
    """None when ``api.app.create_app`` exists, else why W4 cannot run."""
    try:
        from api.app import create_app  # noqa: F401
    except Exception as e:  # noqa: BLE001 - any import failure means "not present"
        return f"API not present: importing api.app.create_app failed ({type(e).__name__}: {e})"
    return None


class ApiServer:
    """``casetrail serve --workers N --no-workers`` (as ``compose.yaml`` runs the API: two
    uvicorn worker processes, the projection workers in a process of their own, here none)
    on a free port, its log in a temporary file."""

    def __init__(self, database_url: str, workers: int = COMPOSE_WORKERS) -> None:
        self.database_url = database_url
        self.workers = workers
        self.base_url = ""
        self._serving: Any = None
        self._log = tempfile.NamedTemporaryFile(prefix="casetrail-bench-serve-", suffix=".log", delete=False)
        self._log.close()

    def __enter__(self) -> ApiServer:
        env = {"PYTHONPATH": str(REPO)}
        self._serving = serving(self.database_url, Path(self._log.name), env=env, cwd=REPO,
                                args=("--workers", str(self.workers), "--no-workers", "--host", "127.0.0.1"))
        self.base_url, _process = self._serving.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._serving is not None:
            self._serving.__exit__(*exc)
            self._serving = None
        Path(self._log.name).unlink(missing_ok=True)


def request_bytes(host: str, token: str, path: str, body: dict[str, Any]) -> bytes:
    """One keep-alive ``POST`` of ``body`` as JSON, encoded once for every time it is sent."""
    payload = json.dumps(body, ensure_ascii=False).encode()
    head = (f"POST {path} HTTP/1.1\r\nhost: {host}\r\nauthorization: Bearer {token}\r\n"
            f"content-type: application/json\r\naccept: application/json\r\n"
            f"content-length: {len(payload)}\r\n\r\n")
    return head.encode("latin-1") + payload


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """The status and body of one HTTP/1.1 response with a ``content-length``."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return status, await reader.readexactly(length)


async def _client(base_url: str, token: str, path: str, body: dict[str, Any], deadline: float,
                  latencies: list[float], errors: list[str]) -> None:
    """Post ``body`` to ``path`` over one kept-alive connection until ``deadline``.

    A load generator must not compete with the server for the CPU: an
    ``httpx.AsyncClient`` spent about as much CPU per request as the server
    did (1 ms), on a machine of two cores. This client sends bytes encoded
    once and reads the response by its ``content-length`` (about 50 µs)."""
    url = urlsplit(base_url)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    request = request_bytes(url.netloc, token, path, body)
    try:
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            writer.write(request)
            status, answer = await asyncio.wait_for(read_response(reader), 30)
            elapsed = time.perf_counter() - start
            if status // 100 == 2:
                latencies.append(elapsed)
            else:
                errors.append(f"{status}: {answer[:200].decode(errors='replace')}")
                if len(errors) > 20:
                    return
    finally:
        writer.close()


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def drive(base_url: str, jobs: list[tuple[str, str, dict[str, Any]]], seconds: float) -> dict[str, float]:
    """``jobs``: one (token, path, body) per client. Returns rate and latency percentiles (ms)."""
    latencies: list[float] = []
    errors: list[str] = []

    async def main() -> float:
        start = time.perf_counter()
        deadline = start + seconds
        await asyncio.gather(*(_client(base_url, t, p, b, deadline, latencies, errors) for t, p, b in jobs))
        return time.perf_counter() - start

    elapsed = asyncio.run(main())
    if errors and not latencies:
        raise RuntimeError(f"every request failed, e.g. {errors[0]}")
    if len(errors) > len(latencies) // 100:
        raise RuntimeError(f"{len(errors)} failed requests, e.g. {errors[0]}")
    return {
        "rate": len(latencies) / elapsed,
        "p50_ms": 1000 * percentile(latencies, 50),
        "p99_ms": 1000 * percentile(latencies, 99),
        "requests": float(len(latencies)),
        "errors": float(len(errors)),
    }

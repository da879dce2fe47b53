"""W4: the HTTP API under 16 concurrent clients, each acting on its own case.

``ApiServer`` runs ``uvicorn api.app:create_app --factory`` in a subprocess
on the benchmark database (one process, as ``casetrail serve`` runs it) and
waits for ``/healthz``. ``drive`` runs ``clients`` asyncio tasks, each with
its own ``httpx.AsyncClient`` (one keep-alive connection) and its own hot
case, posting the case's repeatable action for ``seconds``; it returns the
rate of 2xx responses and the latency percentiles.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from scripts.processes import free_port

REPO = Path(__file__).resolve().parents[2]


def api_available() -> str | None:
    """None when ``api.app.create_app`` exists, else why W4 cannot run."""
    try:
        from api.app import create_app  # noqa: F401
    except Exception as e:  # noqa: BLE001 - any import failure means "not present"
        return f"API not present: importing api.app.create_app failed ({type(e).__name__}: {e})"
    return None


class ApiServer:
    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.base_url = f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ApiServer:
        env = {**os.environ, "CASETRAIL_DATABASE_URL": self.database_url, "PYTHONPATH": str(REPO)}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory", "--host", "127.0.0.1",
             "--port", str(self.port), "--log-level", "warning", "--no-access-log"],
            cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                raise RuntimeError(f"API server exited ({self.proc.returncode}): {err[-800:]}")
            try:
                if httpx.get(self.base_url + "/healthz", timeout=1).status_code < 500:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.__exit__(None, None, None)
        raise RuntimeError("API server did not become healthy within 60 s")

    def __exit__(self, *exc: Any) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


async def _client(base_url: str, token: str, path: str, body: dict[str, Any], deadline: float,
                  latencies: list[float], errors: list[str]) -> None:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    async with httpx.AsyncClient(base_url=base_url, headers=headers, limits=limits, timeout=30) as client:
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            response = await client.post(path, json=body)
            elapsed = time.perf_counter() - start
            if response.status_code // 100 == 2:
                latencies.append(elapsed)
            else:
                errors.append(f"{response.status_code}: {response.text[:200]}")
                if len(errors) > 20:
                    return


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

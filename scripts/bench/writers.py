"""W2: concurrent writers spread over processes, as ``casetrail serve --workers N`` runs them.

``WriterProcesses(url, commands, processes, per_client, rounds, clock_start)``
starts ``processes`` child processes once (spawned: each its own interpreter,
as uvicorn's workers are), each with its own ``CaseTrail.from_url``
application and ``len(commands) / processes`` threads, one hot case per
thread. Each round (``run_round``, one per repetition, so that the baseline
runs between them): every thread acts once (the case is loaded and cached),
all wait on one barrier the parent releases, then each thread runs
``per_client`` commands. The rate is all commands over the
span from the first start to the last finish (``time.monotonic`` is the same
clock in every process on Linux). Each process has its own fake clock starting
at ``clock_start`` (a case is only ever written by one thread, so its times
still increase); the latest reading is returned so the caller's clock can
move past it.
"""

from __future__ import annotations

import multiprocessing as mp
import threading
import time
from datetime import timedelta
from typing import Any

from scripts.bench.workloads import Command, FakeClock


def _child(url: str, commands: list[Command], per_client: int, rounds: int, clock_start: Any, barrier: Any,
           results: Any) -> None:
    try:
        from domain.application import CaseTrail
        from scripts.bench import roster

        clock = FakeClock(clock_start)
        app = CaseTrail.from_url(url, clock=clock)
        actors = {s: app.get_staff(s).as_actor() for s in roster.STAFF}
    except BaseException as e:  # noqa: BLE001 - the parent must not wait forever
        barrier.abort()
        results.put({"errors": [f"{type(e).__name__}: {e}"]})
        return
    try:
        for _ in range(rounds):
            for c in commands:  # warm: each case loaded (its committed copy kept) before the clock starts
                app.act(actors[c.by], c.case_id, c.action, c.data)
            spans: list[tuple[float, float]] = []
            errors: list[str] = []
            inner = threading.Barrier(len(commands) + 1)

            def client(c: Command, inner: threading.Barrier, spans: list[tuple[float, float]],
                       errors: list[str]) -> None:
                inner.wait()
                start = time.monotonic()
                try:
                    for _ in range(per_client):
                        app.act(actors[c.by], c.case_id, c.action, c.data)
                except Exception as e:  # noqa: BLE001 - reported to the parent
                    errors.append(f"{type(e).__name__}: {e}")
                spans.append((start, time.monotonic()))

            threads = [threading.Thread(target=client, args=(c, inner, spans, errors)) for c in commands]
            for t in threads:
                t.start()
            barrier.wait()  # the parent starts the round
            cpu = time.process_time()
            inner.wait()
            for t in threads:
                t.join()
            cpu = time.process_time() - cpu
            results.put({"spans": spans, "errors": errors, "clock": clock.now, "cpu": cpu,
                         "commands": per_client * len(commands)})
    except BaseException as e:  # noqa: BLE001
        barrier.abort()
        results.put({"errors": [f"{type(e).__name__}: {e}"]})
    finally:
        app.close()


class WriterProcesses:
    """``len(commands)`` clients over ``processes`` spawned processes, for ``rounds`` rounds:
    ``run_round()`` releases all clients at once and returns the round's figures."""

    def __init__(self, url: str, commands: list[Command], processes: int, per_client: int, rounds: int,
                 clock_start: Any, timeout: float = 600) -> None:
        if processes < 1 or len(commands) < processes:
            raise ValueError("need at least one command per process")
        ctx = mp.get_context("spawn")
        self.processes, self.clients, self.timeout = processes, len(commands), timeout
        self.barrier = ctx.Barrier(processes + 1)
        self.results = ctx.Queue()
        self.children = [ctx.Process(target=_child, args=(url, commands[i::processes], per_client, rounds,
                                                          clock_start + timedelta(seconds=1), self.barrier,
                                                          self.results), daemon=True)
                         for i in range(processes)]

    def __enter__(self) -> WriterProcesses:
        for p in self.children:
            p.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.barrier.abort()
        for p in self.children:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()
                p.join()

    def run_round(self) -> dict[str, Any]:
        """Commands/s of all clients; CPU microseconds per command (the children's process CPU time
        over their commands); the latest fake-clock reading."""
        try:
            self.barrier.wait(timeout=self.timeout)
        except threading.BrokenBarrierError:
            pass  # a child failed: its error is in the queue
        out = [self.results.get(timeout=self.timeout) for _ in self.children]
        errors = [e for r in out for e in r["errors"]]
        if errors:
            raise RuntimeError(f"W2 writers failed: {errors[:3]}")
        spans = [s for r in out for s in r["spans"]]
        total = sum(r["commands"] for r in out)
        elapsed = max(e for _, e in spans) - min(s for s, _ in spans)
        return {"rate": total / elapsed, "cpu_us": 1e6 * sum(r["cpu"] for r in out) / total,
                "clock": max(r["clock"] for r in out), "processes": self.processes, "clients": self.clients}

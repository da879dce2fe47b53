"""One benchmark run: sizes per mode, the order of measurements, the results files.

``run(mode)`` starts a throwaway PostgreSQL (durable by default: fsync,
full_page_writes and synchronous_commit on), generates the data, and
measures every figure with its baseline *interleaved* in each repetition
(baseline, casetrail, baseline, casetrail, ...), so that the machine's load
drifts affect both alike. Modes: ``smoke`` (seconds; for the test),
``quick`` (about 5 minutes), ``full`` (100k-event data sets, 5 repetitions,
the 1M-event rebuild figures when the projections exist).
"""

from __future__ import annotations

import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from scripts.bench import (
    baselines,
    console,
    datagen,
    http_load,
    imports,
    machine,
    readmodels,
    report,
    verify,
    workloads,
    writer_sweep,
    writers,
)
from scripts.bench.report import Figure
from scripts.throwaway_pg import (
    DURABLE_SERVER_OPTIONS,
    SERVER_OPTIONS,
    PostgresNotInstalledError,
    PostgresStartError,
    ThrowawayPostgres,
)

Log = Callable[[str], None]


@dataclass(frozen=True)
class Sizes:
    events: int            # background events in each database
    hot: int               # hot cases (each with a repeatable action)
    w1: int                # commands per W1 repetition (N1 runs half as many)
    w2: int                # commands per thread per W2 repetition
    w3: int                # commands per W3 repetition
    seconds: float         # pgbench / raw sqlite seconds per repetition
    w4_seconds: float
    a1_versions: int       # versions sampled per A1 repetition
    repeats: int
    rebuild: tuple[int, int] | None   # (small, large) events for R1/R2
    q1: tuple[int, int] | None        # (small, large) cases for Q1
    c1_events: int = 1000             # events of the case whose console timeline C1 times


MODES = {
    "smoke": Sizes(2_000, 24, 150, 40, 150, 1, 1.5, 10, 3, None, None, 100),
    "quick": Sizes(10_000, 100, 1_000, 120, 1_000, 2, 3, 30, 3, (10_000, 50_000), (1_000, 10_000)),
    "full": Sizes(100_000, 500, 4_000, 400, 3_000, 5, 10, 100, 5, (100_000, 1_000_000), (10_000, 1_000_000)),
}
A1_EVENTS = 1000
W4_CLIENTS = 16
W2_CLIENTS = 8
W1_CPU_GOAL_US = 250


def _pg_server(durability: str) -> ThrowawayPostgres:
    options = DURABLE_SERVER_OPTIONS if durability == "durable" else SERVER_OPTIONS
    return ThrowawayPostgres(options=options).start()


def _median(xs: list[float]) -> float:
    return statistics.median(xs)


def measure_postgres(server: ThrowawayPostgres, s: Sizes, figs: dict[str, Figure], log: Log) -> dict[str, Any]:
    info: dict[str, Any] = {}
    ct_url, plain_url, base_url = (server.create_database("bench") for _ in range(3))
    info["pg_url"] = ct_url
    t = time.perf_counter()
    data = datagen.generate(ct_url, s.events)
    datagen.generate(plain_url, s.events, app_class=workloads.PlainCaseTrail, env=workloads.plain_env(plain_url))
    log(f"generated {data.events} events ({data.summary()['cases_by_type']}) twice in {time.perf_counter() - t:.1f}s")
    info["dataset"] = data.summary()
    info["verified_cases"] = datagen.verify_sample(ct_url, data, 30)
    baselines.prepare_pg_table(base_url)
    clock = workloads.FakeClock(data.last_time)
    app = workloads.casetrail_app(ct_url, clock)
    plain = workloads.PlainCaseTrail(workloads.plain_env(plain_url), clock=clock)
    state_size = baselines.average_state_size(app)
    info["state_size"] = state_size
    hot, hot_plain = workloads.HotCases(app, s.hot), workloads.HotCases(plain, s.hot)
    workloads.run_commands(app, hot, s.hot * 2)
    workloads.run_commands(plain, hot_plain, s.hot)
    w0 = figs["W0"] = Figure("W0", "transactions/s", baseline_unit="transactions/s",
                             baseline_what="pgbench -c1 -j1 -M prepared, the same INSERT transactions",
                             ratio_of="plain psycopg loop / pgbench -c1 (no goal: the floor a Python client reaches)")
    w1 = figs["W1"] = Figure("W1", "commands/s", baseline_unit="transactions/s", ratio_of="casetrail W1 / W0",
                             baseline_what="W0 in the same repetition: a plain Python psycopg loop of prepared "
                                           "single-row INSERT transactions (autocommit) into a table shaped like "
                                           f"the events table ({state_size}-byte state)")
    figs["N1"] = Figure("N1", "commands/s", baseline_unit="commands/s", ratio_of="casetrail W1 / N1",
                             baseline_what="casetrail W1 in the same repetition (N1's value is the plain app)")
    processes = max(1, min(W2_CLIENTS, os.cpu_count() or 1))
    w2 = figs["W2"] = Figure("W2", "commands/s", baseline_unit="transactions/s",
                             baseline_what="pgbench -c8 -j8 -M prepared, the same INSERT transactions")
    w2.extra.update(clients=W2_CLIENTS, processes=processes,
                    how=f"{W2_CLIENTS} clients (threads) over {processes} processes, each its own "
                        "CaseTrail.from_url, one hot case per client (as serve --workers N runs)")
    have_pgbench = shutil.which("pgbench") is not None

    def pgbench(clients: int) -> float:
        if not have_pgbench:
            return float("nan")
        return baselines.pgbench_inserts(base_url, clients=clients, seconds=s.seconds, state_size=state_size)

    w2_hot = workloads.HotCases(app, W2_CLIENTS, seed=2)  # W2's own cases: only its processes write them
    pool = writers.WriterProcesses(ct_url, w2_hot.commands, processes, s.w2, s.repeats,
                                   clock.now + timedelta(days=1))
    with pool:
        _postgres_reps(s, app, plain, hot, hot_plain, clock, pool, pgbench, base_url, state_size, figs, log)
    # writers that scale: 1-16 writer threads in one process, group commit on and off (scripts.bench.writer_sweep)
    if s.rebuild is not None:  # quick and full runs (the smoke run stays short)
        w2.extra["writer_sweep"] = writer_sweep.sweep(ct_url, clock, max(20, s.w2 // 2), log)
    if not have_pgbench:
        for fig in (w0, w2):
            fig.not_measured = "pgbench not found on PATH (the baseline); rates: " + \
                ", ".join(f"{r:.0f}" for r in fig.runs)
    w1.extra["cpu_us_per_command"] = _median(w1.extra["cpu_us_per_command_runs"])
    w1.extra["cpu_goal_us"] = W1_CPU_GOAL_US
    w1.extra_goal = lambda f: f.extra["cpu_us_per_command"] <= W1_CPU_GOAL_US
    measure_a1(app, s, figs, log)
    if not s.rebuild:  # else V1 runs on the rebuild's large data set (scripts.bench.readmodels)
        try:
            verify.measure(app, s.repeats, lambda n: workloads.run_commands(app, hot, n), verify.NEW_EVENTS, figs,
                           log)
        except Exception as e:  # noqa: BLE001 - recorded in the results
            figs["V1"] = Figure("V1", not_measured=f"failed: {type(e).__name__}: {str(e)[:300]}")
            log(f"V1 {figs['V1'].not_measured}")
    info["app"], info["hot"], info["clock"] = app, hot, clock
    plain.close()
    return info


def _postgres_reps(s: Sizes, app: Any, plain: Any, hot: Any, hot_plain: Any, clock: Any, pool: Any,
                   pgbench: Callable[[int], float], base_url: str, state_size: int, figs: dict[str, Figure],
                   log: Log) -> None:
    """The repetitions of W0, W1, N1 and W2, each figure paired with its baseline."""
    w0, w1, n1, w2 = figs["W0"], figs["W1"], figs["N1"], figs["W2"]
    processes = pool.processes
    for rep in range(s.repeats):
        b1 = pgbench(1)
        b0 = baselines.psycopg_inserts(base_url, seconds=s.seconds, state_size=state_size)
        cpu = time.process_time()
        r1 = workloads.run_commands(app, hot, s.w1)
        cpu_us = 1e6 * (time.process_time() - cpu) / s.w1
        rn = workloads.run_commands(plain, hot_plain, max(1, s.w1 // 2))
        b8 = pgbench(8)
        many = pool.run_round()
        r2 = many["rate"]
        w0.add(b0, b1, b0 / b1)
        w1.add(r1, b0, r1 / b0)
        w1.extra.setdefault("cpu_us_per_command_runs", []).append(round(cpu_us, 1))
        w1.extra.setdefault("ratio_to_pgbench_c1_runs", []).append(round(r1 / b1, 4))
        n1.add(rn, r1, r1 / rn)
        w2.add(r2, b8, r2 / b8)
        w2.extra.setdefault("cpu_us_per_command_runs", []).append(round(many["cpu_us"], 1))
        log(f"rep {rep + 1}: W0 psycopg {b0:.0f}/s vs pgbench -c1 {b1:.0f} | W1 {r1:.0f}/s ({cpu_us:.0f} us CPU) | "
            f"N1 {rn:.0f}/s | W2 {r2:.0f}/s ({processes} processes) vs pgbench -c8 {b8:.0f}")


def measure_a1(app: Any, s: Sizes, figs: dict[str, Figure], log: Log) -> None:
    import random

    case_id = workloads.long_case(app, A1_EVENTS)
    rng = random.Random(1000)
    a1 = figs["A1"] = Figure("A1", "ms", baseline_what=f"recorder.select_events of the case's {A1_EVENTS} rows",
                             ratio_of="get_case(id, version=n) time / raw read time (lower is better)")
    a1.extra["versions"] = f"{s.a1_versions} versions n drawn uniformly from 1..{A1_EVENTS} per run"
    workloads.time_versions(app, case_id, [A1_EVENTS])
    for _ in range(s.repeats):
        raw = baselines.raw_case_read(app, case_id, 7)
        versions = [rng.randint(1, A1_EVENTS) for _ in range(s.a1_versions)]
        t = workloads.time_versions(app, case_id, versions)
        a1.add(1000 * t, 1000 * raw, t / raw)
    log(f"A1 {_median(a1.runs):.2f} ms vs raw read {_median(a1.baseline_runs):.2f} ms")


def measure_sqlite(s: Sizes, figs: dict[str, Figure], log: Log) -> str:
    with tempfile.TemporaryDirectory(prefix="casetrail-bench-") as tmp:
        url = f"sqlite:///{tmp}/casetrail.db"
        data = datagen.generate(url, s.events)
        clock = workloads.FakeClock(data.last_time)
        app = workloads.casetrail_app(url, clock)
        try:
            sync = machine.sqlite_synchronous(app)
            size = baselines.average_state_size(app)
            hot = workloads.HotCases(app, s.hot)
            workloads.run_commands(app, hot, s.hot * 2)
            w3 = figs["W3"] = Figure(
                "W3", "commands/s", baseline_unit="transactions/s",
                baseline_what=f"raw sqlite3 single-row INSERT transactions, WAL, synchronous={sync}")
            w3.extra["synchronous"] = sync
            for rep in range(s.repeats):
                b = baselines.sqlite_inserts(Path(tmp) / "raw.db", seconds=s.seconds, synchronous=sync,
                                             state_size=size)
                r = workloads.run_commands(app, hot, s.w3)
                w3.add(r, b, r / b)
                log(f"rep {rep + 1}: W3 {r:.0f}/s vs raw sqlite3 {b:.0f}/s")
        finally:
            app.close()
    return sync


def measure_http(info: dict[str, Any], s: Sizes, figs: dict[str, Figure], log: Log) -> None:
    w4 = figs["W4"] = Figure("W4", "actions/s", baseline_unit="commands/s",
                             baseline_what="W2 rate (median) of this run: 8 clients over as many processes as "
                                           "cores")
    reason = http_load.api_available()
    if reason:
        w4.not_measured = reason
        figs["I1"] = Figure("I1", not_measured=reason)
        return
    app, hot = info["app"], info["hot"]
    jobs = []
    for c in hot.commands[:W4_CLIENTS]:
        jobs.append((app.issue_token(c.by), f"/v1/cases/{c.case_id}/actions/{c.action}", c.data))
    baseline = _median(figs["W2"].runs) if figs.get("W2") and figs["W2"].runs else None
    p99s: list[float] = []
    importer = imports.register_importer(app)
    with http_load.ApiServer(info["pg_url"]) as server:
        w4.extra["server"] = f"casetrail serve --workers {server.workers} --no-workers (as compose.yaml)"
        http_load.drive(server.base_url, jobs, min(2.0, s.w4_seconds))  # warm-up
        for rep in range(s.repeats):
            r = http_load.drive(server.base_url, jobs, s.w4_seconds)
            w4.add(r["rate"], baseline, r["rate"] / baseline if baseline else None)
            p99s.append(r["p99_ms"])
            w4.extra.setdefault("p50_ms_runs", []).append(round(r["p50_ms"], 2))
            w4.extra.setdefault("p99_ms_runs", []).append(round(r["p99_ms"], 2))
            log(f"rep {rep + 1}: W4 {r['rate']:.0f} actions/s p50 {r['p50_ms']:.1f} ms p99 {r['p99_ms']:.1f} ms")
        _guarded(figs, ("I1",), log, lambda: measure_import(server.base_url, importer, s, figs, log))
    if baseline:
        w4.baseline_runs = [baseline]
    w4.extra["p50_ms"] = round(_median(w4.extra["p50_ms_runs"]), 2)
    w4.extra["p99_ms"] = round(_median(p99s), 2)
    w4.extra["clients"] = W4_CLIENTS
    w4.extra_goal = lambda f: f.extra["p99_ms"] <= 50


def measure_import(base_url: str, token: str, s: Sizes, figs: dict[str, Figure], log: Log) -> None:
    w1 = figs.get("W1")
    baseline = _median(w1.runs) if w1 is not None and w1.runs else None
    i1 = figs["I1"] = Figure("I1", "events/s", baseline_unit="commands/s",
                             baseline_what="W1 in-process rate (median) of this run: one event per command",
                             ratio_of="import events/s / W1 commands/s")
    events = imports.events_per_import(base_url, token)
    i1.extra.update(events_per_import=events, actions_per_import=imports.ACTIONS, clients=imports.IMPORT_CLIENTS,
                    how="POST /v1/import/cases against the W4 server, one complaint with 20 actions per request")
    for rep in range(s.repeats):
        r = imports.drive(base_url, token, s.w4_seconds, events)
        i1.add(r["events_rate"], baseline, r["events_rate"] / baseline if baseline else None)
        i1.extra.setdefault("imports_per_s_runs", []).append(round(r["rate"], 1))
        i1.extra.setdefault("p99_ms_runs", []).append(round(r["p99_ms"], 1))
        log(f"rep {rep + 1}: I1 {r['events_rate']:.0f} events/s ({r['rate']:.1f} imports/s) "
            f"vs W1 {baseline or 0:.0f}/s")
    if baseline:
        i1.baseline_runs = [baseline]


def _guarded(figs: dict[str, Figure], ids: tuple[str, ...], log: Log, measure: Callable[[], Any]) -> Any:
    """Run one measurement; if it fails, its figures say why (the others still run)."""
    try:
        return measure()
    except Exception as e:  # noqa: BLE001 - recorded in the results
        reason = f"failed: {type(e).__name__}: {str(e)[:300]}"
        log(f"{'/'.join(ids)} {reason}")
        for fid in ids:
            figs[fid] = Figure(fid, not_measured=reason)
        return None


def run(mode: str = "quick", out_dir: Path | None = None, durability: str = "durable",
        log: Log = print, sizes: Sizes | None = None) -> dict[str, Any]:
    s = sizes or MODES[mode]
    figs: dict[str, Figure] = {}
    started = time.perf_counter()
    server = None
    pg_reason = None
    try:
        server = _pg_server(durability)
    except (PostgresNotInstalledError, PostgresStartError) as e:
        pg_reason = f"PostgreSQL unavailable: {str(e)[:200]}"
    try:
        info: dict[str, Any] = {}
        if server is not None:
            log(f"PostgreSQL {server.version} on port {server.port} ({durability})")
            info = _guarded(figs, ("W0", "W1", "W2", "N1", "A1", "V1", "W4", "I1"), log,
                            lambda: measure_postgres(server, s, figs, log)) or {}
        sync = _guarded(figs, ("W3",), log, lambda: measure_sqlite(s, figs, log))
        _guarded(figs, ("C1",), log, lambda: console.measure(s.repeats, figs, log, s.c1_events))  # noqa: B023
        if server is not None:
            if info:
                _guarded(figs, ("W4", "I1"), log, lambda: measure_http(info, s, figs, log))
                info["app"].close()
            _guarded(figs, ("R1", "R2", "Q1"), log, lambda: readmodels.measure(server, s, figs, log))
            if "V1" not in figs:
                figs["V1"] = Figure("V1", not_measured="not run: the rebuild's data set was not generated "
                                                       f"({figs['R1'].not_measured})")
        for fid in ("W0", "W1", "W2", "W4", "N1", "A1", "V1", "I1", "R1", "R2", "Q1"):
            if pg_reason and fid not in figs:
                figs[fid] = Figure(fid, not_measured=pg_reason)
        meta = machine.describe(server.url if server else None, sync)
        meta["postgres_durability"] = durability
    finally:
        if server is not None:
            server.stop()
    run_info = {"mode": mode, "sizes": s.__dict__, "seconds": round(time.perf_counter() - started, 1),
                "dataset": info.get("dataset"), "verified_cases": info.get("verified_cases"),
                "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    data = report.results(machine.commit(), meta, figs, run_info)
    if out_dir is not None:
        report.write_results(data, out_dir)
    return data


def with_overrides(mode: str, **changes: Any) -> Sizes:
    return replace(MODES[mode], **changes)

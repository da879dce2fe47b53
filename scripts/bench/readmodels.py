"""R1, R2 and Q1: the read models (when ``projections`` provides them).

R1: events/s of ``projections.maintenance.rebuild`` (all read models) over
the large data set, against reading + msgpack-decoding the same events.
R2: the rebuild's peak RSS at the large size over that at the small size.
V1 (``scripts.bench.verify``) runs on the same large data set after R1/R2.
Each rebuild runs in a child process (``python -m scripts.bench.readmodels
rebuild URL``) so that its peak RSS (``VmHWM``) is its own.
Q1: p99 of ``ReadModels.list_cases`` (status+assignee, and overdue) on the
large case count over the same queries on the small one. Cases are generated
through the domain up to ``GENERATED_CASES``; a larger count (the full run's
1,000,000) is reached with copies of the generated ``case_state`` rows under
new ids (``replicate_cases``): generating 6.4M events and projecting them
would take most of an hour of a two-core machine, and the queries read only
that table, whose indexes are the ones a live system has.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from scripts.bench import baselines, datagen
from scripts.bench.report import Figure

REPO = Path(__file__).resolve().parents[2]
AVERAGE_EVENTS_PER_CASE = 6.4  # of the generated mix (6.3-6.4 measured)
GENERATED_CASES = 100_000  # Q1: beyond this, copies of the generated cases' rows


def available() -> str | None:
    """None when the read models and a rebuild entry point exist, else the reason."""
    try:
        from projections.maintenance import rebuild  # noqa: F401
        from projections.queries import ReadModels  # noqa: F401
        from projections.views import Store  # noqa: F401
    except Exception as e:  # noqa: BLE001 - any import failure means "not present"
        return f"read models not present: {type(e).__name__}: {e}"
    return None


def rebuild_in_child(url: str) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-m", "scripts.bench.readmodels", "rebuild", url], cwd=REPO,
                         capture_output=True, text=True, timeout=6 * 3600)
    if out.returncode != 0:
        raise RuntimeError(f"rebuild failed: {out.stderr[-1500:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _peak_rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    import resource

    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def _child_rebuild(url: str) -> None:
    from domain.application import CaseTrail
    from projections.maintenance import rebuild
    from projections.views import Store

    app = CaseTrail.from_url(url)
    store = Store.for_app(app)
    start = time.perf_counter()
    result = rebuild(app, store)
    seconds = time.perf_counter() - start
    print(json.dumps({"events": result.events, "seconds": seconds, "rebuild_seconds": result.seconds,
                      "peak_rss_kb": _peak_rss_kb(), "versions": result.versions}))


def measure(server: Any, s: Any, figs: dict[str, Figure], log: Callable[[str], None]) -> None:
    reason = available()
    for fid in ("R1", "R2", "Q1"):
        figs[fid] = Figure(fid, not_measured=reason)
    if reason:
        return
    if s.rebuild:
        try:
            measure_rebuild(server, s, figs, log)
        except Exception as e:  # noqa: BLE001 - recorded as the reason
            figs["R1"] = Figure("R1", not_measured=f"failed: {type(e).__name__}: {str(e)[:300]}")
            figs["R2"] = Figure("R2", not_measured=figs["R1"].not_measured)
    else:
        figs["R1"].not_measured = figs["R2"].not_measured = "not run in this mode (needs quick or full)"
    if s.q1:
        try:
            measure_q1(server, s, figs, log)
        except Exception as e:  # noqa: BLE001
            figs["Q1"] = Figure("Q1", not_measured=f"failed: {type(e).__name__}: {str(e)[:300]}")
    else:
        figs["Q1"].not_measured = "not run in this mode (needs quick or full)"


def measure_rebuild(server: Any, s: Any, figs: dict[str, Figure], log: Callable[[str], None]) -> None:
    from domain.application import CaseTrail

    small, large = s.rebuild
    urls, sets = {}, {}
    for size in (small, large):
        urls[size] = server.create_database("rebuild")
        t = time.perf_counter()
        sets[size] = datagen.generate(urls[size], size, seed=size)
        log(f"generated {size} events for R1/R2 in {time.perf_counter() - t:.0f}s")
    r1 = figs["R1"] = Figure("R1", "events/s", baseline_what="read every stored event in notification order "
                                                             "and msgpack-decode its state")
    r2 = figs["R2"] = Figure("R2", "ratio", ratio_of="peak RSS at the large size / at the small size")
    r1.extra["events"] = large
    r2.extra["sizes"] = [small, large]
    if large < 1_000_000:
        r1.extra["scaled_down"] = r2.extra["scaled_down"] = f"{large} events instead of 1,000,000"
    app = CaseTrail.from_url(urls[large])
    try:
        for rep in range(s.repeats):
            count, secs = baselines.scan_decode(app)
            base = count / secs
            big = rebuild_in_child(urls[large])
            rate = big["events"] / big["seconds"]
            little = rebuild_in_child(urls[small])
            ratio = big["peak_rss_kb"] / little["peak_rss_kb"]
            r1.add(rate, base, rate / base)
            r2.add(ratio, None, ratio)
            r2.extra.setdefault("peak_rss_mb_runs", []).append(
                [round(little["peak_rss_kb"] / 1024, 1), round(big["peak_rss_kb"] / 1024, 1)])
            log(f"rep {rep + 1}: R1 {rate:.0f} events/s vs scan+decode {base:.0f}/s | "
                f"R2 peak RSS {little['peak_rss_kb'] // 1024} MB -> {big['peak_rss_kb'] // 1024} MB")
            if large >= 1_000_000 and rep >= 2:
                break  # three rebuilds of a million events are enough
    finally:
        app.close()
    measure_v1(urls[large], sets[large], s, figs, log)


def measure_v1(url: str, data: datagen.Dataset, s: Any, figs: dict[str, Figure], log: Callable[[str], None]) -> None:
    """V1 on the rebuild's large data set (1,000,000 events in the full run)."""
    from scripts.bench import verify, workloads

    clock = workloads.FakeClock(data.last_time)
    app = workloads.casetrail_app(url, clock)
    try:
        hot = workloads.HotCases(app, 20)
        verify.measure(app, s.repeats, lambda n: workloads.run_commands(app, hot, n), verify.NEW_EVENTS, figs, log)
    except Exception as e:  # noqa: BLE001 - recorded in the results
        figs["V1"] = Figure("V1", not_measured=f"failed: {type(e).__name__}: {str(e)[:300]}")
        log(f"V1 {figs['V1'].not_measured}")
    finally:
        app.close()


def measure_q1(server: Any, s: Any, figs: dict[str, Figure], log: Callable[[str], None]) -> None:
    from domain.application import CaseTrail
    from projections.queries import ReadModels

    small, large = s.q1
    q1 = figs["Q1"] = Figure("Q1", "ms", baseline_unit="ms", ratio_of="p99 at the large size / at the small size",
                             baseline_what=f"the same queries at about {small} cases")
    q1.extra["cases"] = [small, large]
    q1.extra["queries"] = "200 per size and run: half status+assignee, half overdue; limit 50"
    if large < 1_000_000:
        q1.extra["scaled_down"] = f"{large} cases instead of 1,000,000"
    models = {}
    for cases in (small, large):
        url = server.create_database("q1")
        t = time.perf_counter()
        generated = min(cases, GENERATED_CASES)
        data = datagen.generate(url, int(generated * AVERAGE_EVENTS_PER_CASE), seed=cases)
        info = rebuild_in_child(url)
        log(f"Q1: {len(data.case_ids)} cases ({data.events} events) generated and projected "
            f"in {time.perf_counter() - t:.0f}s (rebuild {info['events'] / info['seconds']:.0f} events/s)")
        q1.extra.setdefault("cases_generated", []).append(len(data.case_ids))
        app = CaseTrail.from_url(url)
        rm = ReadModels.for_app(app)
        if cases > generated:
            rows = replicate_cases(url, rm.view("case_state").tables["case_state"], -(-cases // len(data.case_ids)))
            q1.extra["replicated"] = (f"{len(data.case_ids)} generated cases' case_state rows copied to "
                                      f"{rows} rows under new ids")
            log(f"Q1: case_state copied to {rows} rows")
        models[cases] = (app, rm, data)
    try:
        for _ in range(s.repeats):
            p_small = _query_p99(*models[small], samples=200)
            p_large = _query_p99(*models[large], samples=200)
            q1.add(p_large, p_small, p_large / p_small)
            log(f"Q1 p99 {p_large:.2f} ms at {large} cases vs {p_small:.2f} ms at {small}")
    finally:
        for app, rm, _ in models.values():
            rm.close()
            app.close()


def replicate_cases(url: str, table: str, times: int) -> int:
    """Make ``table`` (``case_state``) ``times`` as large: each row again ``times - 1`` times
    under a new id and number (``<id>~<n>``), the rest of the row as it is; then ANALYZE.
    Returns the row count."""
    import psycopg

    from projections.case_state import COLUMNS

    renamed = {"id": "id || '~' || n", "number": "number || '~' || n"}
    select = ", ".join(renamed.get(c, c) for c in COLUMNS)
    with psycopg.connect(url, autocommit=True) as conn:
        if times > 1:
            conn.execute(f"INSERT INTO {table} ({', '.join(COLUMNS)}) SELECT {select} FROM {table} "
                         f"CROSS JOIN generate_series(1, {int(times) - 1}) AS n")
        conn.execute(f"ANALYZE {table}")
        row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
    return int(row[0]) if row else 0


def _query_p99(app: Any, rm: Any, data: datagen.Dataset, samples: int) -> float:
    from scripts.bench import roster

    rng = random.Random(5)
    statuses = ["assigned", "investigating", "open", "registered", "submitted", "scheduled"]
    times = []
    for i in range(samples):
        start = time.perf_counter()
        if i % 2:
            rm.list_cases(status=rng.choice(statuses), assignee=rng.choice(roster.AGENTS + roster.TECHNICIANS),
                          now=data.last_time, limit=50)
        else:
            rm.list_cases(overdue=True, now=data.last_time, limit=50)
        times.append(1000 * (time.perf_counter() - start))
    times.sort()
    return times[min(len(times) - 1, int(0.99 * len(times)))]


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "rebuild":
        _child_rebuild(sys.argv[2])
    else:
        sys.exit("usage: python -m scripts.bench.readmodels rebuild DATABASE_URL")

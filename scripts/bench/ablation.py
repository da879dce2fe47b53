"""What each write-path optimisation gains: W1 (and A1) with one switched off at a time.

    python -m scripts.bench.ablation [--events N] [--commands N] [--repeats N] [--durability fast]

Every variant gets its own database (same generated data) on one throwaway
PostgreSQL; in each repetition the variants run in a shuffled order, each
right after its own short ``pgbench -c1`` run, and the figure is the median
of those paired ratios, so the comparison holds on a noisy machine. Variants: the application as deployed; without the
one-round-trip recorder (the library's); without committed copies (every
command reads the case, fast-forwarding the library's cache); with
``copy.deepcopy`` instead of ``PlainCopy``; without snapshots; without group
commit (one writer: what the mechanism costs a lone command); without any
aggregate cache; and the plain library defaults (N1). Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import statistics
import time
from collections.abc import Callable, Iterator
from typing import Any

from domain.model.copying import PlainCopy
from domain.storage.database import env_for_url
from scripts.bench import baselines, datagen, workloads
from scripts.throwaway_pg import DURABLE_SERVER_OPTIONS, SERVER_OPTIONS, ThrowawayPostgres


@contextlib.contextmanager
def generic_deepcopy() -> Iterator[None]:
    """Aggregates copied by ``copy.deepcopy``'s generic machinery meanwhile."""
    method = PlainCopy.__dict__["__deepcopy__"]
    del PlainCopy.__deepcopy__  # type: ignore[misc]
    try:
        yield
    finally:
        PlainCopy.__deepcopy__ = method  # type: ignore[method-assign]


def _deployed(url: str, clock: Any) -> Any:
    return workloads.casetrail_app(url, clock)


def _env_app(**changes: str | None) -> Callable[[str, Any], Any]:
    def build(url: str, clock: Any) -> Any:
        env = {**env_for_url(url), "AGGREGATE_CACHE_MAXSIZE": "5000"}
        for key, value in changes.items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        return workloads.CaseTrail(env, clock=clock)
    return build


def _no_committed(url: str, clock: Any) -> Any:
    app = workloads.casetrail_app(url, clock)
    app._committed = None  # noqa: SLF001 - switching the optimisation off for the comparison
    return app


def _no_group_commit(url: str, clock: Any) -> Any:
    """The recorder reads ``CASETRAIL_GROUP_COMMIT`` from the process environment when built."""
    old = os.environ.get("CASETRAIL_GROUP_COMMIT")
    os.environ["CASETRAIL_GROUP_COMMIT"] = "off"
    try:
        return workloads.casetrail_app(url, clock)
    finally:
        if old is None:
            del os.environ["CASETRAIL_GROUP_COMMIT"]
        else:
            os.environ["CASETRAIL_GROUP_COMMIT"] = old


def _plain(url: str, clock: Any) -> Any:
    return workloads.PlainCaseTrail(workloads.plain_env(url), clock=clock)


VARIANTS: dict[str, tuple[Callable[[str, Any], Any], bool]] = {
    # name: (how to build the app, copy aggregates with deepcopy's generic machinery)
    "as deployed": (_deployed, False),
    "- one-trip recorder (library recorder)": (_env_app(APPLICATION_RECORDER_TOPIC=None), False),
    "- committed copies (read + fast-forward per command)": (_no_committed, False),
    "- PlainCopy (copy.deepcopy)": (_deployed, True),
    "- snapshots": (_env_app(IS_SNAPSHOTTING_ENABLED="n"), False),
    "- group commit (a lone writer: its cost)": (_no_group_commit, False),
    "- aggregate cache (and committed copies)": (_env_app(AGGREGATE_CACHE_MAXSIZE=None), False),
    "plain library defaults (N1)": (_plain, False),
}


def run(events: int, commands: int, repeats: int, hot: int, durability: str = "durable",
        log: Callable[[str], None] = print) -> str:
    options = DURABLE_SERVER_OPTIONS if durability == "durable" else SERVER_OPTIONS
    server = ThrowawayPostgres(options=options).start()
    try:
        base_url = server.create_database("ablation")
        baselines.prepare_pg_table(base_url)
        apps: dict[str, tuple[Any, Any, Any, bool]] = {}
        for name, (build, generic) in VARIANTS.items():
            url = server.create_database("ablation")
            plain = build is _plain
            data = datagen.generate(url, events, app_class=workloads.PlainCaseTrail if plain else workloads.CaseTrail,
                                    env=workloads.plain_env(url) if plain else None)
            app = build(url, workloads.FakeClock(data.last_time))
            with generic_deepcopy() if generic else contextlib.nullcontext():
                cases = workloads.HotCases(app, hot)
                workloads.run_commands(app, cases, hot * 2)
                long_case = workloads.long_case(app, 1000)
            apps[name] = (app, cases, long_case, generic)
        w1: dict[str, list[float]] = {n: [] for n in apps}
        a1: dict[str, list[float]] = {n: [] for n in apps}
        cpu: dict[str, list[float]] = {n: [] for n in apps}
        rng = random.Random(3)
        for rep in range(repeats):
            versions = [rng.randint(1, 1000) for _ in range(30)]
            order = list(apps)
            rng.shuffle(order)
            for name in order:
                app, cases, long_case, generic = apps[name]
                pg = baselines.pgbench_inserts(base_url, clients=1, seconds=1, state_size=490)
                with generic_deepcopy() if generic else contextlib.nullcontext():
                    started = time.process_time()
                    rate = workloads.run_commands(app, cases, commands)
                    cpu[name].append(1e6 * (time.process_time() - started) / commands)
                    raw = baselines.raw_case_read(app, long_case, 5)
                    a1[name].append(workloads.time_versions(app, long_case, versions) / raw)
                w1[name].append(rate / pg)
                log(f"rep {rep + 1} pgbench {pg:.0f}/s | {name}: {rate:.0f}/s")
        deployed = statistics.median(w1["as deployed"])
        lines = [f"PostgreSQL {durability}; {events} background events; {commands} commands per run", "",
                 "| variant | W1 ratio to pgbench -c1 (median [min–max]) | deployed / variant "
                 "| client CPU µs/command | A1 ratio |", "|---|---|---|---|---|"]
        for name in apps:
            r = w1[name]
            lines.append(f"| {name} | {statistics.median(r):.3f} [{min(r):.3f}–{max(r):.3f}] | "
                         f"{deployed / statistics.median(r):.2f}x | {statistics.median(cpu[name]):.0f} | "
                         f"{statistics.median(a1[name]):.2f} |")
        for app, *_ in apps.values():
            app.close()
        return "\n".join(lines)
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--commands", type=int, default=1_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--hot", type=int, default=100)
    parser.add_argument("--durability", choices=["durable", "fast"], default="durable")
    args = parser.parse_args()
    print(run(args.events, args.commands, args.repeats, args.hot, args.durability), flush=True)


if __name__ == "__main__":
    main()

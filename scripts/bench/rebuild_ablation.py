"""What each rebuild and verify change gained, measured in one run (R1 and V1 ablation).

    python -m scripts.bench.rebuild_ablation [--events 30000] [--repeats 3] [--url URL]

Starts a throwaway PostgreSQL (durable, as ``casetrail bench``) and generates
``--events`` events (or uses ``--url``), then, per repetition and in a shuffled
order, runs each variant next to its own baseline and prints paired ratios
(median [min-max]) of wall time and of this process's CPU time (steadier on
a shared machine: other people's load changes wall time much more than CPU
time). Variants switch the changes off by putting the previous code back:

- R1, all read models, against scan + msgpack decode: as before (the runner's
  ``Pump``, batches of 500, each subject key read when first needed, the
  sealer walking every leaf); + batches of 5,000; + keys read in bulk per
  batch (``BulkPump``); + the sealer's walk skipping leaves (as deployed);
- V1, full ``audit verify``, against scan + SHA-256: ``prev_hash`` decoded
  from the whole body; read where the encoder writes it (as deployed).

Small changes that cannot be switched off stay on in every variant: the read
models' per-type filter, the audit history's cached role texts, one phone
normalisation per hash, and the verify loop's integer keys.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from scripts.bench import baselines, datagen, verify


@contextmanager
def _patched(obj: Any, name: str, value: Any) -> Iterator[None]:
    old = getattr(obj, name)
    setattr(obj, name, value)
    try:
        yield
    finally:
        setattr(obj, name, old)


def _old_unseal(self: Any, value: Any, case_id: str, loc: tuple[str, ...] = ()) -> Any:
    """``Sealer.unseal`` as it was: a location tuple for every leaf."""
    from domain.storage.sealing import MAGIC

    if isinstance(value, dict):
        return {k: _old_unseal(self, v, case_id, (*loc, str(k))) for k, v in value.items()}
    if isinstance(value, list):
        return [_old_unseal(self, v, case_id, (*loc, str(i))) for i, v in enumerate(value)]
    if isinstance(value, bytes) and value.startswith(MAGIC):
        return self._open(value, case_id, loc)
    return value


def _rebuild_variant(step: int) -> Callable[[Any, Any], int]:
    from domain.storage.sealing import Sealer
    from projections import bulk, maintenance, runner

    def run(app: Any, store: Any) -> int:
        app.subject_keys.forget()
        with _patched(maintenance, "BulkPump", bulk.BulkPump if step >= 2 else runner.Pump), \
                _patched(Sealer, "unseal", Sealer.unseal if step >= 3 else _old_unseal):
            result = maintenance.rebuild(app, store, batch_size=bulk.REBUILD_BATCH if step >= 1 else 500)
        return int(result.events)

    return run


def _verify_variant(fast: bool) -> Callable[[Any, Any], int]:
    from domain.audit import scan

    def run(app: Any, _store: Any) -> int:
        with _patched(scan, "fast_prev_hash", scan.fast_prev_hash if fast else (lambda state: None)):
            return int(scan_verify(app))

    return run


def scan_verify(app: Any) -> int:
    from domain.audit.verification import verify as audit_verify

    report = audit_verify(app)
    if not report.ok:
        raise RuntimeError(f"the store does not verify: {report.problems[:3]}")
    return report.events_checked


VARIANTS: dict[str, tuple[str, Callable[[Any], tuple[int, float]], Callable[[Any, Any], int]]] = {
    "R1 before (Pump, batches of 500)": ("R1", baselines.scan_decode, _rebuild_variant(0)),
    "R1 + batches of 5,000": ("R1", baselines.scan_decode, _rebuild_variant(1)),
    "R1 + subject keys in bulk (BulkPump)": ("R1", baselines.scan_decode, _rebuild_variant(2)),
    "R1 + sealer walk skips leaves (deployed)": ("R1", baselines.scan_decode, _rebuild_variant(3)),
    "V1 before (prev_hash decoded)": ("V1", verify.scan_sha256, _verify_variant(False)),
    "V1 prev_hash read in place (deployed)": ("V1", verify.scan_sha256, _verify_variant(True)),
}


def _timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    out = fn()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def measure(url: str, repeats: int, log: Callable[[str], None] = print) -> dict[str, dict[str, list[float]]]:
    from domain.application import CaseTrail
    from projections.views import Store

    app = CaseTrail.from_url(url)
    store = Store.for_app(app)
    out: dict[str, dict[str, list[float]]] = {name: {"wall": [], "cpu": []} for name in VARIANTS}
    rng = random.Random(3)
    try:
        for rep in range(repeats):
            names = list(VARIANTS)
            rng.shuffle(names)
            for name in names:
                _fid, baseline, variant = VARIANTS[name]
                (count, _s), b_wall, b_cpu = _timed(lambda: baseline(app))  # noqa: B023
                events, v_wall, v_cpu = _timed(lambda: variant(app, store))  # noqa: B023
                out[name]["wall"].append((events / v_wall) / (count / b_wall))
                out[name]["cpu"].append((events / v_cpu) / (count / b_cpu))
                log(f"rep {rep + 1}: {name}: wall {out[name]['wall'][-1]:.3f} cpu {out[name]['cpu'][-1]:.3f}")
    finally:
        store.close()
        app.close()
    return out


def _fmt(xs: list[float]) -> str:
    return f"{statistics.median(xs):.3f} [{min(xs):.3f}-{max(xs):.3f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=30_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--url", help="an existing generated database (else a throwaway PostgreSQL)")
    args = parser.parse_args()
    server = None
    url = args.url
    if url is None:
        from scripts.throwaway_pg import DURABLE_SERVER_OPTIONS, ThrowawayPostgres

        server = ThrowawayPostgres(options=DURABLE_SERVER_OPTIONS).start()
        url = server.create_database("ablation")
        datagen.generate(url, args.events, seed=args.events)
    try:
        out = measure(url, args.repeats)
    finally:
        if server is not None:
            server.stop()
    print("\n| variant | ratio (wall) | ratio (CPU of this process) |\n|---|---|---|")
    for name, runs in out.items():
        print(f"| {name} | {_fmt(runs['wall'])} | {_fmt(runs['cpu'])} |")


if __name__ == "__main__":
    main()

"""V1: ``audit verify`` against a raw scan + SHA-256 of the same rows, and the
incremental verify after a checkpoint.

Each repetition: the baseline reads every stored event in notification order
and SHA-256-hashes its topic and state (what recomputing the chain costs at
the least); the full verify (``domain.audit.verification.verify`` with the
public key) walks the same rows; after a signed checkpoint and ``new`` more
events, the incremental verify (``since_checkpoint=True``) reads only those
plus one event per signed aggregate (batched: its cost is O(new events +
aggregates), the head reads dominating when few events are new). The figure
is the full verify's events/s over the baseline's; ``extra`` has the
incremental verify's seconds, its ratio to the full verify's, the events it
checked and the signed heads it read.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import Any

from scripts.bench.report import Figure

NEW_EVENTS = 100  # events written between the checkpoint and the incremental verify


def scan_sha256(app: Any, page: int = 2000) -> tuple[int, float]:
    """(events, seconds) to read every stored event and SHA-256 its topic and state."""
    start = time.perf_counter()
    count = position = 0
    while True:
        rows = app.recorder.select_notifications(position, page, inclusive_of_start=False)
        for row in rows:
            h = hashlib.sha256(row.topic.encode("utf-8"))
            h.update(b"\n")
            h.update(row.state)
            h.hexdigest()
        count += len(rows)
        if len(rows) < page:
            break
        position = rows[-1].id
    return count, time.perf_counter() - start


def measure(app: Any, repeats: int, write: Callable[[int], Any], new: int, figs: dict[str, Figure],
            log: Callable[[str], None]) -> None:
    """``write(n)`` adds n events (actions on existing cases) between the checkpoint and the incremental verify."""
    from domain.audit.ledger import checkpoint
    from domain.audit.signing import Signer
    from domain.audit.verification import verify

    signer = Signer.generate()
    key = signer.public_key()
    v1 = figs["V1"] = Figure("V1", "events/s", baseline_unit="events/s",
                             baseline_what="read every stored event in notification order and SHA-256 its "
                                           "topic and state (recorder.select_notifications, pages of 2000)")
    for rep in range(repeats):
        count, base_s = scan_sha256(app)
        t = time.perf_counter()
        full = verify(app, public_key=key)
        full_s = time.perf_counter() - t
        if not full.ok:
            raise RuntimeError(f"the benchmark store does not verify: {full.problems[:3]}")
        checkpoint(app, signer)
        write(new)
        t = time.perf_counter()
        inc = verify(app, public_key=key, since_checkpoint=True)
        inc_s = time.perf_counter() - t
        if not inc.ok or inc.mode != "incremental":
            raise RuntimeError(f"incremental verify: mode {inc.mode}, problems {inc.problems[:3]}")
        rate, base = full.events_checked / full_s, count / base_s
        v1.add(rate, base, rate / base)
        v1.extra.setdefault("events_runs", []).append(full.events_checked)
        v1.extra.setdefault("incremental_seconds_runs", []).append(round(inc_s, 4))
        v1.extra.setdefault("incremental_over_full_runs", []).append(round(inc_s / full_s, 4))
        v1.extra.setdefault("incremental_events_runs", []).append(inc.events_checked)
        v1.extra.setdefault("aggregates_runs", []).append(inc.aggregates_checked)
        log(f"rep {rep + 1}: V1 full verify {rate:.0f} events/s ({full.events_checked} events, {full_s:.2f}s) vs "
            f"scan+sha256 {base:.0f}/s | incremental {inc_s * 1000:.0f} ms for {inc.events_checked} new events "
            f"and {inc.aggregates_checked} signed heads ({inc_s / full_s:.3f} x full)")
    events = v1.extra["events_runs"][-1]
    if events < 1_000_000:
        v1.extra["scaled_down"] = f"{events} events instead of 1,000,000"
    v1.extra["new_events_per_incremental"] = new
    runs = v1.extra["incremental_seconds_runs"]
    v1.extra["incremental_seconds"] = sorted(runs)[len(runs) // 2]

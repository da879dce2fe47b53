"""Writers that scale: commands/s of 1, 2, 4, 8 and 16 writer threads in one process, group commit on and off.

Each writer acts on a hot case of its own (``workloads.HotCases``), as W2
does. With group commit (``domain.storage.group_commit``, the default) the
commands that arrive while another is being written share its successor's
statement, table lock and commit; with ``CASETRAIL_GROUP_COMMIT=off`` each
command takes the lock and commits alone, so writers serialise on it. The
sweep reports both, and how many commands a statement carried on average.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from scripts.bench import workloads

WRITERS = (1, 2, 4, 8, 16)


def _app(url: str, clock: Any, group_commit: str) -> Any:
    before = os.environ.get("CASETRAIL_GROUP_COMMIT")
    os.environ["CASETRAIL_GROUP_COMMIT"] = group_commit  # read when the recorder is made
    try:
        return workloads.casetrail_app(url, clock)
    finally:
        if before is None:
            os.environ.pop("CASETRAIL_GROUP_COMMIT", None)
        else:
            os.environ["CASETRAIL_GROUP_COMMIT"] = before


def sweep(url: str, clock: Any, commands_per_writer: int, log: Callable[[str], None]) -> dict[str, Any]:
    """``{"writers": [...], "group_commit": [rates], "each_alone": [rates], "commands_per_statement": x}``."""
    out: dict[str, Any] = {"writers": list(WRITERS)}
    for mode, key in (("on", "group_commit"), ("off", "each_alone")):
        app = _app(url, clock, mode)
        try:
            hot = workloads.HotCases(app, max(WRITERS))
            workloads.run_commands(app, hot, max(WRITERS) * 2)  # warm the committed copies
            group = getattr(app.recorder, "_group", None)
            start = (group.statements, group.commands) if group is not None else (0, 0)
            rates = [round(workloads.run_commands(app, hot, commands_per_writer, threads=n), 1) if n > 1
                     else round(workloads.run_commands(app, hot, commands_per_writer), 1) for n in WRITERS]
            out[key] = rates
            if group is not None:
                statements, commands = group.statements - start[0], group.commands - start[1]
                out["commands_per_statement"] = round(commands / max(statements, 1), 2)
            log(f"writers {list(WRITERS)} group commit {mode}: " + ", ".join(f"{r:.0f}/s" for r in rates))
        finally:
            app.close()
    return out

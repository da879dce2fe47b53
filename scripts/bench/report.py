"""Figures, goals and the results files (``bench/results/latest.json`` and ``.md``).

A ``Figure`` is one row of the QUALITY.md table: its runs (≥ 3), the
baseline's runs measured in the same run, the ratio and whether the goal is
met. The value and baseline are medians; min–max of each are kept. A figure
that could not be measured carries ``not_measured`` (the reason) and
``met: null``. ``write_results`` writes exactly the QUALITY.md shape
(``commit``, ``machine``, ``figures``) plus the run's mode and settings.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FIGURE_IDS = ("W0", "W1", "W2", "W3", "W4", "N1", "R1", "R2", "A1", "Q1", "V1", "I1", "C1")

# id -> (what, goal text, test on the ratio; None: no goal, ``met`` is null)
GOALS: dict[str, tuple[str, str, Callable[[float], bool] | None]] = {
    "W0": ("transactions/s of a plain Python psycopg loop of prepared single-row INSERT transactions "
           "(autocommit), one client, the events table's shape: the floor a Python client reaches",
           "— (a baseline; ratio to pgbench -c1 for information)", None),
    "W1": ("commands/s, one action on an existing case, PostgreSQL, 1 client; CPU us per command in extra",
           "ratio >= 0.5 (x W0) and <= 250 us CPU per command", lambda r: r >= 0.5),
    "W2": ("commands/s, 8 clients on 8 different cases over as many processes as cores, PostgreSQL",
           "ratio >= 0.5", lambda r: r >= 0.5),
    "W3": ("commands/s, one action on an existing case, SQLite file (WAL)", "ratio >= 0.5", lambda r: r >= 0.5),
    "W4": ("HTTP actions/s, 16 concurrent clients, the server as compose runs it (--workers 2), PostgreSQL",
           "ratio >= 0.6 and p99 <= 50 ms", lambda r: r >= 0.6),
    "N1": ("W1 workload on the plain eventsourcing defaults (value: casetrail W1 / N1)", "casetrail >= 2x N1",
           lambda r: r >= 2.0),
    "R1": ("projection rebuild events/s over 1,000,000 events, all read models", "ratio >= 0.3",
           lambda r: r >= 0.3),
    "R2": ("peak RSS of the rebuild at 1M events vs at 100k events", "<= 1.2x", lambda r: r <= 1.2),
    "A1": ("GET /cases/{id}?version=n (app.get_case) for a case with 1,000 events", "<= 3x the raw read",
           lambda r: r <= 3.0),
    "Q1": ("case list query p99 at 1,000,000 cases vs 10,000", "<= 2x", lambda r: r <= 2.0),
    "V1": ("audit verify events/s over 1,000,000 events (full), and the incremental verify after a checkpoint",
           "ratio >= 0.5 (incremental: O(new events), see extra)", lambda r: r >= 0.5),
    "I1": ("bulk import of legacy cases (POST /v1/import/cases, 20 actions each), events/s",
           "ratio >= 0.5 (x W1)", lambda r: r >= 0.5),
    "C1": ("reviewer-console timeline page of a 1,000-event case", "<= 3x GET /v1/cases/{id}/history",
           lambda r: r <= 3.0),
}


def _stats(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


@dataclass
class Figure:
    id: str
    unit: str = ""
    runs: list[float] = field(default_factory=list)
    baseline_runs: list[float] = field(default_factory=list)
    baseline_unit: str = ""
    baseline_what: str = ""
    ratio_runs: list[float] = field(default_factory=list)  # per-repetition ratios, when paired
    ratio_of: str = "value / baseline"
    extra: dict[str, Any] = field(default_factory=dict)
    not_measured: str | None = None
    extra_goal: Callable[[Figure], bool] | None = None

    def add(self, value: float, baseline: float | None = None, ratio: float | None = None) -> None:
        self.runs.append(value)
        if baseline is not None:
            self.baseline_runs.append(baseline)
        if ratio is not None:
            self.ratio_runs.append(ratio)

    def ratio(self) -> float | None:
        if self.ratio_runs:
            return statistics.median(self.ratio_runs)
        if self.runs and self.baseline_runs:
            return statistics.median(self.runs) / statistics.median(self.baseline_runs)
        return None

    def as_dict(self) -> dict[str, Any]:
        what, goal, test = GOALS[self.id]
        if self.not_measured or not self.runs:
            return {"what": what, "value": None, "unit": self.unit, "baseline": None, "ratio": None,
                    "goal": goal, "met": None,
                    "not_measured": self.not_measured or "no runs completed", **self.extra}
        ratio = self.ratio()
        met: bool | None = None
        if test is not None:
            met = bool(ratio is not None and test(ratio))
            if self.extra_goal is not None:
                met = met and self.extra_goal(self)
        value = _stats(self.runs)
        out: dict[str, Any] = {
            "what": what,
            "value": round(value["median"], 4),
            "unit": self.unit,
            "min": round(value["min"], 4),
            "max": round(value["max"], 4),
            "runs": [round(v, 4) for v in self.runs],
            "baseline": None,
            "ratio": None if ratio is None else round(ratio, 4),
            "ratio_of": self.ratio_of,
            "goal": goal,
            "met": met,
        }
        if self.baseline_runs:
            b = _stats(self.baseline_runs)
            out.update({"baseline": round(b["median"], 4), "baseline_unit": self.baseline_unit or self.unit,
                        "baseline_what": self.baseline_what, "baseline_min": round(b["min"], 4),
                        "baseline_max": round(b["max"], 4),
                        "baseline_runs": [round(v, 4) for v in self.baseline_runs]})
        if self.ratio_runs:
            out["ratio_runs"] = [round(v, 4) for v in self.ratio_runs]
        out.update(self.extra)
        return out


def results(commit: str, machine: dict[str, Any], figures: dict[str, Figure],
            run: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"commit": commit, "machine": machine, "figures": {}, "run": run}
    for fid in FIGURE_IDS:
        fig = figures.get(fid) or Figure(fid, not_measured="not run")
        out["figures"][fid] = fig.as_dict()
    return out


def _fmt(x: Any) -> str:
    if x is None:
        return "—"
    if isinstance(x, float):
        return f"{x:,.3g}" if abs(x) < 100 else f"{x:,.0f}"
    return str(x)


def markdown(data: dict[str, Any]) -> str:
    m = data["machine"]
    lines = [
        f"# casetrail bench — {data['run'].get('mode', '?')} run",
        "",
        f"commit `{data['commit']}` · {m.get('cores')} cores · {m.get('ram_gb')} GB RAM · {m.get('cpu_model')}",
        f"PostgreSQL: {m.get('postgres_version')} ({m.get('postgres_settings')}) · "
        f"SQLite {m.get('sqlite_version')} (journal WAL, synchronous={m.get('sqlite_synchronous')})",
        "",
        "Value and baseline: median of the runs [min–max]; ratio: median of paired runs.",
        "",
        "| id | value [min–max] | baseline [min–max] | ratio | goal | met |",
        "|---|---|---|---|---|---|",
    ]
    for fid, f in data["figures"].items():
        if f.get("not_measured"):
            lines.append(f"| {fid} | not measured: {f['not_measured']} | | | {f['goal']} | — |")
            continue
        value = f"{_fmt(f['value'])} {f['unit']} [{_fmt(f.get('min'))}–{_fmt(f.get('max'))}]"
        base = "—"
        if f.get("baseline") is not None:
            base = (f"{_fmt(f['baseline'])} {f.get('baseline_unit', '')} "
                    f"[{_fmt(f.get('baseline_min'))}–{_fmt(f.get('baseline_max'))}]")
        extra = ""
        if fid == "W4" and f.get("p99_ms") is not None:
            extra = f" (p50 {_fmt(f['p50_ms'])} ms, p99 {_fmt(f['p99_ms'])} ms)"
        if fid in ("W1", "W2") and f.get("cpu_us_per_command_runs"):
            extra = f" ({_fmt(statistics.median(f['cpu_us_per_command_runs']))} us CPU/command)"
        if fid == "W2" and f.get("writer_sweep"):
            sweep = f["writer_sweep"]
            extra += (f"; 1–16 writer threads in one process, group commit on: "
                      f"{', '.join(_fmt(r) for r in sweep['group_commit'])}, off: "
                      f"{', '.join(_fmt(r) for r in sweep['each_alone'])} commands/s"
                      f" ({_fmt(sweep.get('commands_per_statement'))} commands per statement)")
        if fid == "V1" and f.get("incremental_seconds") is not None:
            extra = f" (incremental after a checkpoint: {_fmt(f['incremental_seconds'])} s)"
        met = {True: "yes", False: "**no**", None: "—"}[f["met"]]
        lines.append(f"| {fid} | {value}{extra} | {base} | {_fmt(f['ratio'])} | {f['goal']} | {met} |")
    lines += ["", "Baselines: " + "; ".join(
        f"{fid}: {f['baseline_what']}" for fid, f in data["figures"].items() if f.get("baseline_what")), ""]
    return "\n".join(lines)


def write_results(data: dict[str, Any], directory: Path) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    json_path = directory / "latest.json"
    md_path = directory / "latest.md"
    json_path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    md_path.write_text(markdown(data))
    return json_path, md_path


def check_shape(data: dict[str, Any]) -> list[str]:
    """Problems with a results document (empty when it is well-formed)."""
    problems = []
    for key in ("commit", "machine", "figures"):
        if key not in data:
            problems.append(f"missing {key!r}")
    for fid in FIGURE_IDS:
        f = data.get("figures", {}).get(fid)
        if f is None:
            problems.append(f"figure {fid} missing")
            continue
        for key in ("value", "unit", "baseline", "ratio", "goal", "met"):
            if key not in f:
                problems.append(f"{fid}: missing {key!r}")
        if f.get("value") is None:
            if not f.get("not_measured"):
                problems.append(f"{fid}: no value and no not_measured reason")
        elif not isinstance(f["value"], (int, float)):
            problems.append(f"{fid}: value must be a number")
        elif GOALS[fid][2] is None and f.get("met") is not None:
            problems.append(f"{fid}: a figure without a goal has met null")
        elif GOALS[fid][2] is not None and not isinstance(f.get("met"), bool):
            problems.append(f"{fid}: met must be a boolean")
    return problems

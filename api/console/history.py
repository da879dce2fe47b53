"""What the case page shows of a case's history: timeline rows, replay, diff, verification.

Everything is read from the event store, not a read model: the timeline is
``CaseTrail.case_history`` (the stored, hash-chained events), the replayed
state is ``get_case(id, version=)`` / ``get_case_as_of``, the diff compares
two such views, and the badge is ``domain.audit.verification.verify`` of the
case (as ``GET /v1/audit/verify?case_id=`` does) with the checkpoint that
covers its head (``read_ledger``).
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

from domain.audit.ledger import read_ledger
from domain.audit.signing import public_key_for, url_of
from domain.audit.verification import audit_key, verify
from domain.audit.witness import WITNESS_ENV, witness_path

SHORT_HASH = 12
OPENING_KEYS = ("status", "title", "customer", "fields", "assignee", "department")
# What the rules do on their own (deadlines, escalations, cross-case policies), whoever's request set them off.
POLICY_EVENTS = {"DeadlineBreached", "Escalated", "LinkAdded", "LinkedOutcomeRecorded"}


def _is_system(entry: dict[str, Any]) -> bool:
    """A system process's or a rule's event (not a person's action)."""
    actor = str(entry.get("actor") or "")
    return actor.startswith("system:") or "system" in (entry.get("roles") or []) or entry.get("type") in POLICY_EVENTS


def _flat(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, dict) and value:
        for k, v in value.items():
            _flat(f"{prefix}.{k}" if prefix else str(k), v, out)
    else:
        out[prefix] = value


def _changes(entry: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    data = entry.get("data") or {}
    kind = entry.get("type")
    if kind == "ActionTaken":
        rows = [(str(p), c[0], c[1]) for p, c in (data.get("changes") or {}).items()
                if isinstance(c, (list, tuple)) and len(c) == 2]
        if data.get("from_state") != data.get("to_state") and not any(p == "status" for p, _, _ in rows):
            rows.insert(0, ("status", data.get("from_state"), data.get("to_state")))
        for change in data.get("clock_changes") or []:
            rows.append((f"clock.{change.get('name')}", None,
                         " ".join(str(change[k]) for k in ("op", "due_at") if change.get(k))))
        return rows
    if kind == "Opened":
        flat: dict[str, Any] = {}
        for key in OPENING_KEYS:
            if key in data:
                _flat(key, data[key], flat)
        return [(p, None, v) for p, v in flat.items() if v not in (None, {}, [])]
    flat = {}
    _flat("", data, flat)
    return [(p, None, v) for p, v in flat.items() if p]


def timeline(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per stored event, oldest first."""
    rows = []
    for e in history:
        data = e.get("data") or {}
        action = data.get("action") if e.get("type") == "ActionTaken" else None
        rows.append({
            "version": e["version"], "type": e["type"], "action": action or e["type"],
            "occurred_at": e.get("occurred_at"), "recorded_at": e.get("recorded_at"),
            "actor": e.get("actor"), "roles": e.get("roles") or [], "original_actor": e.get("original_actor"),
            "system": _is_system(e), "imported": bool(e.get("imported")),
            "changes": _changes(e), "hash": e.get("hash") or "", "short_hash": (e.get("hash") or "")[:SHORT_HASH],
            "prev_hash": e.get("prev_hash"),
        })
    return rows


def state_rows(view: dict[str, Any]) -> dict[str, Any]:
    """A case view flattened to ``path -> value`` (what the diff compares)."""
    out: dict[str, Any] = {}
    for key in ("status", "title", "assignee", "department", "customer", "fields", "counters", "approvals",
                "links", "escalations"):
        value = view.get(key)
        if isinstance(value, list):
            for i, item in enumerate(value):
                _flat(f"{key}[{i}]", item, out)
        else:
            _flat(key, value, out)
    for clock in view.get("clocks") or []:
        for k in ("state", "due_at", "paused_at", "stopped_at"):
            out[f"clocks.{clock['name']}.{k}"] = clock.get(k)
    return {k: v for k, v in out.items() if v not in ({}, [])}


def diff(old: dict[str, Any], new: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    a, b = state_rows(old), state_rows(new)
    return [(p, a.get(p), b.get(p)) for p in sorted(set(a) | set(b)) if a.get(p) != b.get(p)]


def replayed(app: Any, case_id: Any, version: int | None, as_of: datetime | None) -> Any:
    """The case at ``version``, or as it stood ``as_of``, or now."""
    if version is not None:
        return app.get_case(case_id, version=version)
    if as_of is not None:
        return app.get_case_as_of(case_id, as_of)
    return app.get_case(case_id)


def clock_badges(view: dict[str, Any], now: datetime) -> list[dict[str, Any]]:
    """Each clock with its badge: overdue (running past due, or breached), paused, due, met or stopped."""
    out = []
    for c in view.get("clocks") or []:
        state, due = c.get("state"), c.get("due_at")
        if state == "breached" or (state == "running" and due and datetime.fromisoformat(due) < now):
            badge = "overdue"
        elif state == "paused":
            badge = "paused"
        elif state == "running":
            badge = "running"
        else:
            badge = state or "stopped"
        out.append({**c, "badge": badge})
    return out


def _witness(app: Any) -> str | None:
    path = witness_path(url=url_of(app.env))
    return path if os.environ.get(WITNESS_ENV) or os.path.exists(path) else None


def verification(app: Any, case: Any) -> dict[str, Any]:
    """The case's verification report and the signed checkpoint that covers it (if any)."""
    report = verify(app, str(case.id), key=audit_key(), public_key=public_key_for(url=url_of(app.env)),
                    witness=_witness(app)).as_dict()
    ledger = read_ledger(app)
    covered = None
    if ledger is not None and ledger.last is not None and str(case.id) in ledger.heads:
        version = int(ledger.heads[str(case.id)][0])
        covered = {"seq": ledger.last["seq"], "at": ledger.last["at"], "version": version,
                   "whole": version >= case.version}
    problems = [p for p in report["problems"] if p.get("case_id") in (None, str(case.id))]
    return {"ok": report["ok"], "events_checked": report["events_checked"], "problems": problems,
            "warnings": report["warnings"], "covered": covered}

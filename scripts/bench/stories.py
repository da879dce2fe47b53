"""What happens next to a case: a seeded policy per case type for the data generator.

``opening(rng, case_type)`` gives the arguments to open a case;
``next_step(rng, case, memo, now)`` looks at a case's status (and a small
per-case ``memo`` the generator keeps) and returns the next action with the
staff member taking it, ``WAIT`` when the case waits for a linked case (a
return visit), or ``DONE`` when its story has ended. The paths follow the
case-type files (main path plus the usual detours: send-backs, waits,
reworks, rejections, unsatisfied return visits).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from domain.model.approvals import ApprovalState
from scripts.bench import roster as r

WAIT = "wait"
DONE = "done"

# Share of new cases by type (return visits are mostly opened by policy).
TYPE_MIX = {"complaint": 0.30, "inquiry": 0.25, "repair_order": 0.20, "order_approval": 0.20,
            "return_visit": 0.05}
APPROVER = {"general": r.SUPERVISORS, "major": r.HEADS, "crisis": r.GM}


@dataclass(frozen=True)
class Step:
    action: str
    by: str
    data: dict[str, Any]


@dataclass(frozen=True)
class Opening:
    case_type: str
    by: str
    title: str
    customer: dict[str, Any]
    fields: dict[str, Any]
    channel: str | None


def opening(rng: random.Random, case_type: str) -> Opening:
    channel = rng.choice(r.CHANNELS)
    if case_type == "complaint":
        severity = r.pick(rng, {"general": 0.88, "major": 0.09, "crisis": 0.03})
        return Opening(case_type, rng.choice(r.AGENTS), "投诉: " + r.text(rng, 1)[:60], r.consumer(rng),
                       {"severity": severity, "description": r.text(rng)}, channel)
    if case_type == "inquiry":
        kind = r.pick(rng, {"inquiry": 0.7, "suggestion": 0.2, "challenge": 0.1})
        return Opening(case_type, rng.choice(r.AGENTS), "咨询: " + r.text(rng, 1)[:40], r.consumer(rng),
                       {"kind": kind, "description": r.text(rng, 1)}, channel)
    if case_type == "repair_order":
        device = rng.choice(r.DEVICES)
        return Opening(case_type, rng.choice(r.AGENTS), f"{device}{rng.choice(r.FAULTS)}",
                       r.consumer(rng, address=True),
                       {"device": device, "fault": rng.choice(r.FAULTS), "description": r.text(rng, 1)}, channel)
    if case_type == "order_approval":
        amount = f"{rng.randrange(100_000, 12_000_000) / 100:.2f}"
        terms = r.pick(rng, {"cash": 0.2, "cod": 0.15, "prepay": 0.25, "credit": 0.4})
        kind = "custom" if rng.random() < 0.15 else "standard"
        customer = r.business(rng)
        if customer["is_new"] and terms in ("credit", "cod"):
            terms = "prepay"  # 004 B1: a new customer pays in advance (cod only in 广州)
        return Opening(case_type, rng.choice(r.SALES), f"订单 {rng.randrange(1, 99999):05d}", customer,
                       {"amount": amount, "payment_terms": terms, "product_kind": kind,
                        "description": r.text(rng, 1)}, None)
    return Opening("return_visit", rng.choice(r.AGENTS), "回访 活动", r.consumer(rng),
                   {"campaign": rng.choice(["春节回访", "会员关怀", "夏季保养"])}, None)


def next_step(rng: random.Random, case: Any, memo: dict[str, Any], now: datetime) -> Step | str:
    return _STORIES[case.case_type](rng, case, memo, now)


def _complaint(rng: random.Random, case: Any, memo: dict[str, Any], now: datetime) -> Step | str:
    s = case.status
    x = rng.random()
    if s == "registered":
        if x < 0.03:
            return Step("reject", rng.choice(r.SUPERVISORS), {"reason": "客诉不成立: " + r.text(rng, 1)})
        if "category" not in case.fields and x < 0.25:
            category = "valid" if rng.random() < 0.7 else "communicative"
            data = {"category": category}
            if category == "communicative":
                data["subtype"] = rng.choice(["help", "inquiry", "venting"])
            return Step("classify", rng.choice(r.SUPERVISORS), data)
        return Step("assign", rng.choice(r.SUPERVISORS), {"assignee": rng.choice(r.AGENTS)})
    if s == "assigned":
        return Step("start_investigation", case.assignee, {})
    if s == "investigating":
        if memo.get("waiting"):
            memo["waiting"] = False
            return Step("customer_responded", case.assignee, {})
        if memo.get("contacts", 0) < 3 and x < 0.35:
            memo["contacts"] = memo.get("contacts", 0) + 1
            return Step("log_contact", case.assignee, {"channel": rng.choice(r.CHANNELS), "summary": r.text(rng, 1)})
        if not memo.get("waited") and x < 0.45:
            memo["waiting"] = memo["waited"] = True
            return Step("wait_for_customer", case.assignee, {"reason": "等待客户提供照片"})
        return Step("propose_resolution", case.assignee, {"resolution": r.text(rng, 1)})
    if s == "resolution_proposed":
        approver = rng.choice(APPROVER[case.fields.get("severity", "general")])
        if x < 0.12:
            return Step("send_back", approver, {"reason": "方案不充分，请补充"})
        return Step("approve_resolution", approver, {})
    if s == "resolution_approved":
        return Step("reply_customer", case.assignee or rng.choice(r.AGENTS), {"reply": r.text(rng, 1)})
    if s == "replied":
        return Step("close", rng.choice(r.SUPERVISORS), {})
    return DONE


def _inquiry(rng: random.Random, case: Any, memo: dict[str, Any], now: datetime) -> Step | str:
    x = rng.random()
    if case.status == "registered":
        if x < 0.12:
            return Step("convert", rng.choice(r.AGENTS), {"reason": "客户要求投诉"})
        return Step("answer", rng.choice(r.AGENTS), {"answer": r.text(rng, 1)})
    if case.status == "answered":
        if x < 0.05:
            return Step("convert", rng.choice(r.AGENTS), {"reason": "客户对答复不满"})
        return Step("close", rng.choice(r.AGENTS), {})
    return DONE


def _repair_order(rng: random.Random, case: Any, memo: dict[str, Any], now: datetime) -> Step | str:
    s = case.status
    if s == "open":
        return Step("accept", rng.choice(r.TECHNICIANS), {})
    if s == "accepted" or (s == "scheduled" and not memo.get("scheduled_once")):
        memo["scheduled_once"] = True
        start = (now + timedelta(hours=rng.randrange(2, 48))).replace(minute=0, second=0, microsecond=0)
        return Step("schedule", case.assignee, {"window_start": start.isoformat(),
                                                "window_end": (start + timedelta(hours=2)).isoformat()})
    if s == "scheduled":
        return Step("arrive", case.assignee, {})
    if s == "on_site":
        if not memo.get("quoted") and rng.random() < 0.35:
            memo["quoted"] = True
            return Step("quote", case.assignee, {"amount": f"{rng.randrange(5000, 200000) / 100:.2f}"})
        memo["visited"] = False
        return Step("complete", case.assignee, {"notes": r.text(rng, 1)})
    if s == "quoted":
        return Step("approve_quote", rng.choice(r.AGENTS), {})
    if s == "quote_approved":
        memo["visited"] = False
        return Step("complete", case.assignee, {"notes": r.text(rng, 1)})
    if s == "completed":
        # memo["visited"] is set by the generator when completing opened a
        # linked return visit (which reports the outcome when it ends).
        if not memo.get("visited"):
            memo["visited"] = True
            result = r.pick(rng, {"satisfied": 0.85, "neutral": 0.08, "unsatisfied": 0.07})
            return Step("record_return_visit", rng.choice(r.AGENTS), {"result": result, **_improvement(result)})
        outcome = case.fields.get("return_visit_outcome")
        if outcome in ("satisfied", "neutral", "unreachable"):
            return Step("close", rng.choice(r.AGENTS), {})
        if outcome == "unsatisfied":
            memo["scheduled_once"] = False
            return Step("rework", rng.choice(r.SUPERVISORS), {"reason": "客户不满意，返工"})
        return Step("record_return_visit", rng.choice(r.AGENTS), {"result": "satisfied"})
    return DONE


def _return_visit(rng: random.Random, case: Any, memo: dict[str, Any], now: datetime) -> Step | str:
    if case.status != "open":
        return DONE
    x = rng.random()
    by = rng.choice(r.AGENTS)
    if x < 0.08 and not memo.get("rescheduled"):
        memo["rescheduled"] = True
        return Step("reschedule", by, {"at": (now + timedelta(days=1)).isoformat()})
    if x < 0.18:
        return Step("attempt_failed", by, {"reason": "无人接听"})
    result = r.pick(rng, {"satisfied": 0.75, "neutral": 0.15, "unsatisfied": 0.10})
    return Step("record_outcome", by, {"result": result, "score": {"satisfied": 5, "neutral": 3}.get(result, 1),
                                       "notes": r.text(rng, 1), **_improvement(result)})


def _improvement(result: str) -> dict[str, str]:
    """A neutral outcome (一般) comes with what will be improved."""
    return {"improvement": "回访时间提前"} if result == "neutral" else {}


def _order_approval(rng: random.Random, case: Any, memo: dict[str, Any], now: datetime) -> Step | str:
    s = case.status
    by = rng.choice(r.SALES)
    if s == "draft":
        custom = case.fields.get("product_kind") == "custom"
        if not case.counters.get("deposit") and (custom or rng.random() < 0.3):
            amount = float(case.fields["amount"]) * (0.3 if custom else rng.uniform(0.1, 0.5))
            return Step("record_deposit", by, {"amount": f"{max(amount, 0.01) + 0.01:.2f}"})
        return Step("submit", by, {})
    if s == "submitted":
        state = ApprovalState.of(case.approvals)
        roles = state.grantable_roles()
        if not roles:
            return Step("ship", by, {})
        if rng.random() < 0.06:
            return Step("reject", rng.choice(r.BY_ROLE[state.required[0]]), {"reason": "信用额度不足"})
        return Step("approve", rng.choice(r.BY_ROLE[roles[0]]), {"comment": "同意"})
    if s == "approved":
        return Step("ship", by, {})
    if s == "shipped":
        return Step("deliver", by, {})
    return DONE


_STORIES = {
    "complaint": _complaint, "inquiry": _inquiry, "repair_order": _repair_order,
    "return_visit": _return_visit, "order_approval": _order_approval,
}


def pick_type(rng: random.Random) -> str:
    return r.pick(rng, TYPE_MIX)

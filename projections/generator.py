"""A deterministic generator of realistic case traffic, for tests, rebuild and benchmarks.

Drives the domain (``CaseTrail`` with a fake clock) through a mix of the
built-in case types: complaints (classified, assigned, investigated,
approved, replied, return-visited: satisfied, neutral, unsatisfied or
unreachable, closed), inquiries (answered or converted), repair orders
(accepted, scheduled, completed, visited) and order approvals (credit
chains, shipping, delivery). About 60 cases are in flight at once, one
action per step, the clock moving 1-20 minutes per step; some cases stall
(so clocks breach: the SLA monitor runs every 300 steps). Same seed, same
events.

    python -m projections.generator sqlite:///big.db --events 100000
"""

from __future__ import annotations

import argparse
import random
import sys
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

from domain.application import CaseTrail
from domain.model.actor import Actor
from domain.model.errors import DomainError

SHANGHAI = timezone(timedelta(hours=8))
START = datetime(2026, 11, 2, 9, 0, tzinfo=SHANGHAI)
STAFF = {
    **{f"agent{i}": ("cs", ["agent"]) for i in range(1, 9)},
    "sup1": ("cs", ["supervisor"]), "sup2": ("cs", ["supervisor"]), "head1": ("cs", ["dept_head"]),
    **{f"tech{i}": ("service", ["technician"]) for i in range(1, 5)},
    "sales1": ("sales", ["agent"]), "sales2": ("sales", ["agent"]),
    "salesmgr": ("sales", ["sales_manager"]), "gm": ("office", ["general_manager"]),
}
TIERS = ["regular"] * 6 + ["member"] * 3 + ["vip"]
Step = tuple[str, str, dict[str, Any]]  # (action, staff id, data)


class Generator:
    def __init__(self, app: CaseTrail, seed: int = 1, start: datetime = START) -> None:
        self.app, self.rnd, self.now = app, random.Random(seed), start
        app.clock = lambda: self.now  # type: ignore[method-assign]
        self.actors: dict[str, Actor] = {}

    def actor(self, staff_id: str) -> Actor:
        if staff_id not in self.actors:
            self.actors[staff_id] = self.app.get_staff(staff_id).as_actor()
        return self.actors[staff_id]

    def register_staff(self) -> None:
        for staff_id, (dept, roles) in STAFF.items():
            if not self.app.staff_exists(staff_id):
                self.app.register_staff(staff_id, staff_id.title(), dept, roles)

    def pick(self, prefix: str, n: int) -> str:
        return f"{prefix}{self.rnd.randint(1, n)}"

    def customer(self, order: bool = False) -> dict[str, Any]:
        n = self.rnd.randint(1, 5000)
        if order:
            return {"id": f"K-{n}", "name": f"客户{n}", "is_new": self.rnd.random() < 0.2}
        return {"id": f"C-{n}", "name": f"客户{n}", "phone": f"1380000{n:04d}", "tier": self.rnd.choice(TIERS)}

    # ------------------------------------------------------------- scripts
    def complaint(self) -> Iterator[Step]:
        agent, severity = self.pick("agent", 8), self.rnd.choice(["general"] * 8 + ["major", "crisis"])
        approver = {"general": self.pick("sup", 2), "major": "head1", "crisis": "gm"}[severity]
        if self.rnd.random() < 0.5:
            yield "classify", agent, {"category": self.rnd.choice(["valid", "communicative"])}
        if self.rnd.random() < 0.05:
            yield "reject", self.pick("sup", 2), {"reason": "客诉不成立"}
            return
        yield "assign", self.pick("sup", 2), {"assignee": agent}
        yield "log_contact", agent, {"channel": "phone", "summary": "called the customer"}
        yield "start_investigation", agent, {}
        if self.rnd.random() < 0.1:
            yield "wait_for_customer", agent, {"reason": "waiting for photos"}
            yield "customer_responded", agent, {}
        yield "propose_resolution", agent, {"resolution": "replace the part"}
        if self.rnd.random() < 0.1:
            yield "send_back", approver, {"reason": "more detail"}
            yield "propose_resolution", agent, {"resolution": "refund"}
        yield "approve_resolution", approver, {}
        yield "reply_customer", agent, {"reply": "we will fix it"}
        yield from self.visit("complaint")
        yield "close", self.pick("sup", 2), {}

    def visit(self, origin: str) -> Iterator[Step]:
        roll = self.rnd.random()
        if roll < 0.05:
            for _ in range(3):
                yield "@visit:attempt_failed", self.pick("agent", 8), {"reason": "no answer"}
        elif roll < 0.12:
            return  # never visited
        else:
            result = self.rnd.choice(["satisfied"] * 14 + ["neutral"] * 3 + ["unsatisfied"] * 2)
            data = {"result": result, "score": 3} | ({"improvement": "call back sooner"} if result == "neutral" else {})
            yield "@visit:record_outcome", self.pick("agent", 8), data

    def inquiry(self) -> Iterator[Step]:
        agent = self.pick("agent", 8)
        if self.rnd.random() < 0.05:
            yield "convert", agent, {"reason": "this is a complaint"}
            return
        yield "answer", agent, {"answer": "here is how"}
        yield "close", agent, {}

    def repair_order(self) -> Iterator[Step]:
        tech = self.pick("tech", 4)
        yield "accept", tech, {}
        start = self.now + timedelta(hours=2)
        yield "schedule", tech, {"window_start": start.isoformat(),
                                 "window_end": (start + timedelta(hours=1)).isoformat()}
        yield "arrive", tech, {}
        if self.rnd.random() < 0.3:
            yield "quote", tech, {"amount": "120.00"}
            yield "approve_quote", self.pick("agent", 8), {}
        yield "complete", tech, {"notes": "done"}
        yield from self.visit("repair_order")
        yield "close", self.pick("agent", 8), {}

    def order_approval(self) -> Iterator[Step]:
        sales = self.pick("sales", 2)
        yield "submit", sales, {}
        yield "@approve", "salesmgr", {"comment": "ok"}
        yield "@approve", "gm", {}
        yield "ship", sales, {}
        yield "deliver", sales, {}

    def open(self, case_type: str) -> Any:
        if case_type == "order_approval":
            amount = self.rnd.choice(["8000.00", "30000.00", "80000.00"])
            customer = self.customer(True)
            # 004 B1: a new customer pays cash or in advance
            terms = ["cash", "prepay"] if customer["is_new"] else ["cash", "credit", "credit"]
            fields = {"amount": amount, "payment_terms": self.rnd.choice(terms)}
            return self.app.open_case(self.actor(self.pick("sales", 2)), case_type, "订单", customer, fields)
        fields = {"severity": "general"} if case_type == "complaint" else {}
        return self.app.open_case(self.actor(self.pick("agent", 8)), case_type, f"{case_type} case",
                                  self.customer(), fields)

    # ---------------------------------------------------------------- run
    def run(self, events: int, progress: Callable[[int], None] | None = None) -> int:
        """Record at least ``events`` more events; returns the last notification position."""
        self.register_staff()
        head = lambda: self.app.recorder.max_notification_id() or 0  # noqa: E731
        target = head() + events
        flights: list[tuple[Any, Iterator[Step]]] = []
        kinds = ["complaint"] * 9 + ["inquiry"] * 4 + ["repair_order"] * 4 + ["order_approval"] * 3
        steps = 0
        while head() < target:
            while len(flights) < 60:
                kind = self.rnd.choice(kinds)
                case = self.open(kind)
                flights.append((case.id, getattr(self, kind)()))
            i = self.rnd.randrange(len(flights))
            case_id, script = flights[i]
            self.now += timedelta(minutes=self.rnd.randint(1, 20))
            step = next(script, None)
            if step is None or self.rnd.random() < 0.01:  # done, or stalled for good
                flights.pop(i)
            else:
                self.take(case_id, *step)
            steps += 1
            if steps % 300 == 0:
                for cid, _ in flights:
                    self.app.record_breaches(cid, self.now)
                if progress:
                    progress(head())
        return head()

    def take(self, case_id: Any, action: str, staff_id: str, data: dict[str, Any]) -> None:
        try:
            if action.startswith("@visit:"):
                case = self.app.get_case(case_id)
                link = next((x for x in case.links if x["rel"] == "return_visit"), None)
                if link is None:
                    return
                case_id, action = link["case_id"], action.split(":", 1)[1]
            elif action == "@approve":
                case = self.app.get_case(case_id)
                if self.actor(staff_id).roles[0] not in case.approvals.get("required", []):
                    return
                action = "approve"
            self.app.act(self.actor(staff_id), case_id, action, data)
        except DomainError:
            pass  # a step that no longer applies (the case moved on): skip it


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url")
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    app = CaseTrail.from_url(args.url)
    last = Generator(app, args.seed).run(args.events, lambda n: print(f"\r{n} events", end="", file=sys.stderr))
    print(f"\nlast position {last}", file=sys.stderr)
    app.close()


if __name__ == "__main__":
    main()

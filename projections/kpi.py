"""Staff performance and the department report: exactly how each figure comes from events.

Pure bookkeeping (no I/O): ``KpiTracker.apply`` takes one case's small KPI
state and one of its events and adds to ``Deltas`` (per staff per day
counters, raw durations, per department per month counters). The
``staff_performance`` read model stores the results.

Words used below
  *day* / *month*: the calendar day / month of the event's occurred-at in the
  business calendar's time zone (``CASETRAIL_CALENDAR``, Asia/Shanghai by
  default); an importer's original time counts.
  *responsible staff* of a case: its assignee, or, while it has none, the
  staff member who opened it. Cases opened by a system process without an
  assignee have nobody responsible (their figures reach no staff member but
  still count in department reports).
  *mirror case*: a ``return_visit`` case opened by the policy for an origin
  case (a complaint's reply, a repair order's completion). The origin's
  ``return_visit`` clock mirrors its clock (``follows``) and its outcome is
  recorded on the origin (``LinkedOutcomeRecorded``), so mirror cases are not
  counted themselves: the return visit is counted once, on the origin. The
  SLA monitor records a missed visit's breach on the mirror case only (one
  breach, not two); it counts as the breach of the origin's clock. Return
  visits opened by hand (campaigns) are ordinary cases.
  *outcome event*: a ``LinkedOutcomeRecorded`` with outcome ``satisfied``,
  ``neutral`` or ``unsatisfied``, or an action that sets ``fields.result`` /
  ``fields.return_visit_outcome`` to one of those (a campaign visit's
  ``record_outcome``, a repair order's ``record_return_visit``).

Per staff per day (``staff_daily``)
  assigned        +1 for the new assignee, on each action that sets the assignee
                  (``assign``, a technician's ``accept``).
  resolved        +1 for the responsible staff (before the event) when a case
                  enters one of its type's closed states from an open one;
                  its resolution time (occurred-at minus the case's opening
                  time) is stored as a duration of kind ``resolution``.
  reopened        +1 for the responsible staff on each ``reopen`` (complaint)
                  or ``rework`` (repair order), whoever took it (also the policy).
  clocks_met / clocks_breached
                  every SLA clock counts once, for the staff responsible when it
                  is decided: breached when the SLA monitor records
                  ``DeadlineBreached`` (on that day), else, when it stops, met if
                  it stopped by its due time and breached if later.
                  compliance % = met / (met + breached).
  rv_due / rv_done / rv_on_time
                  a return visit *falls due* when a ``return_visit`` clock starts
                  on a non-mirror case; it counts for the case's responsible
                  staff at that moment, on the day of its due time. It is *done*
                  when an outcome event stops that clock, *on time* if that is by
                  the due time with no breach recorded; done and on-time count on
                  the same due day, so on-time % = rv_on_time / rv_due.
  rv_vip_due / rv_vip_done
                  the same for customers of tier ``member`` or ``vip`` (tier at the
                  start of the clock); coverage % = rv_vip_done / rv_vip_due
                  (unreachable customers and visits never made are not covered).
  satisfied / neutral / unsatisfied
                  the outcome of each done return visit, for the staff member who
                  recorded it (``recorded_by`` of ``LinkedOutcomeRecorded``, or the
                  actor of the outcome action; else the staff the visit was due
                  for), on the day of the outcome.
                  satisfaction % = satisfied / (satisfied + neutral + unsatisfied).
  approvals       +1 for the acting staff on each ``approve_resolution``
                  (complaint) or ``approve`` (order approval chain); its
                  turnaround (from the case entering the state it was approved
                  in, or from the previous approval on the case if later) is
                  stored as a duration of kind ``approval``.
Per technician per day (``staff_service_daily``)
  arrivals / arrivals_on_time
                  +1 for the actor of each repair order ``arrive`` (the action that
                  records ``fields.arrival``); on time when it is ``on_time`` (at
                  least 10 minutes before the window). on-time % = on_time / arrivals.
  rv_scored / rv_score_sum
                  each return-visit score (1-5) reported to a repair order, for the
                  technician holding the order (its assignee), on the day of the
                  outcome; average = rv_score_sum / rv_scored.
Durations (``staff_durations``, one row per event and kind, kept raw so
medians and p90 are computed at query time over any range)
  first_response  when a ``first_response`` clock stops: seconds from its start,
                  credited to the staff who took the stopping action (the
                  responsible staff if a system process stopped it).
  resolution      see resolved.    approval: see approvals.
  Median: the middle value (mean of the two middle ones); p90: nearest rank.

Per department per month (``dept_monthly``; complaints, 001 B§10)
  A complaint belongs to the department and month of its registration
  (the department on the ``Opened`` event), whatever happens later.
  received   complaints registered.
  handled    of those, complaints that reached ``replied`` or ``rejected``
             (客诉不成立); handling rate = handled / received, target 100%.
  visited    of those, complaints with a done return visit (an outcome event
             stopping their ``return_visit`` clock); return-visit rate =
             visited / handled (投诉处理回访宗数 / 总投诉处理宗数), target ≥ 50%.
  satisfied  of the visited, those whose latest return-visit outcome is
             ``satisfied``; satisfaction rate = satisfied / visited.
  valid      complaints whose category is ``valid`` (有效投诉), as last classified.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from domain.model.kpis import KpiSpec
from projections.events import Event, canon, local_day, seconds_between

OUTCOMES = ("satisfied", "neutral", "unsatisfied")
MEMBER_TIERS = ("member", "vip")

SERVICE_COUNTERS = ("arrivals", "arrivals_on_time", "rv_scored", "rv_score_sum")
STAFF_COUNTERS = ("assigned", "resolved", "reopened", "clocks_met", "clocks_breached", "rv_due", "rv_done",
                  "rv_on_time", "rv_vip_due", "rv_vip_done", "satisfied", "neutral", "unsatisfied", "approvals")
DEPT_COUNTERS = ("received", "handled", "visited", "satisfied", "valid")
DURATION_KINDS = ("first_response", "resolution", "approval")

State = dict[str, Any]


@dataclass
class Deltas:
    staff: defaultdict[tuple[str, str], Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    dept: defaultdict[tuple[str, str], Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    durations: list[tuple[int, str, str, str, str, float]] = field(default_factory=list)

    def count(self, staff: str | None, day: str, name: str, n: int = 1) -> None:
        if staff and n:
            self.staff[(staff, day)][name] += n

    def duration(self, e: Event, kind: str, staff: str | None, day: str, seconds: float) -> None:
        if staff:
            self.durations.append((e.position, kind, staff, day, e.aggregate_id, seconds))


def responsible(state: State) -> str | None:
    return state["assignee"] or state["owner"]


class KpiTracker:
    def __init__(self, zone: ZoneInfo, closed_states: Callable[[str], tuple[str, ...]],
                 kpis: Callable[[str], KpiSpec]) -> None:
        self.zone = zone
        self.closed_states = closed_states
        self.kpis = kpis  # the case type's [kpis] (domain.model.kpis): which clocks, actions, fields count

    def day(self, at: str) -> str:
        return local_day(at, self.zone)

    def apply(self, state: State | None, e: Event, out: Deltas) -> State | None:
        """The case's state after ``e`` (None: a mirror case or one never seen opened)."""
        if e.type == "Case.Opened":
            return self._opened(e, out)
        if state is None or "mirror_of" in state:
            return state
        if e.type == "Case.ActionTaken":
            self._action(state, e, out)
        elif e.type == "Case.DeadlineBreached":
            clock = state["clocks"].get(e.data["clock"])
            if clock and clock["on"] and not clock["br"]:
                clock["br"] = 1
                out.count(responsible(state), self.day(e.at), "clocks_breached")
        elif e.type == "Case.LinkedOutcomeRecorded":
            spec = self.kpis(state["type"])
            outcome = spec.outcome(e.data.get("outcome"))
            credit = responsible(state)
            recorder = e.data.get("recorded_by")
            recorder = recorder if recorder and not recorder.startswith("system:") else None
            for change in e.data.get("clock_changes") or ():
                self._clock(state, change, e, out, credit, recorder, outcome)
            score = e.data.get("score")
            if spec.scores_credit_assignee and isinstance(score, int) and state["assignee"]:
                out.count(state["assignee"], self.day(e.at), "rv_scored")
                out.count(state["assignee"], self.day(e.at), "rv_score_sum", score)
        return state

    def _opened(self, e: Event, out: Deltas) -> State | None:
        d = e.data
        spec = self.kpis(d["case_type"])
        origin = next((link.get("case_id") for link in d.get("links") or ()
                       if spec.mirror_when_linked and link.get("rel") == spec.mirror_when_linked), None)
        if origin:
            return {"mirror_of": origin}
        state: State = {
            "type": d["case_type"], "owner": e.staff_actor, "assignee": None, "status": d["status"],
            "since": e.at, "grant": None, "opened": e.at, "tier": (d.get("customer") or {}).get("tier"),
            "clocks": {}, "cx": None,
        }
        report = spec.department_report
        if report is not None:
            opened_fields = d.get("fields") or {}
            valid = int(report.valid_field is not None
                        and opened_fields.get(report.valid_field.removeprefix("fields.")) == report.valid_value)
            cx = state["cx"] = {"dept": d.get("department") or "", "month": self.day(e.at)[:7],
                                "handled": 0, "visited": 0, "sat": 0, "valid": valid}
            self._dept(out, cx, received=1, valid=valid)
        for change in d.get("clock_changes") or ():
            self._clock(state, change, e, out, responsible(state), e.staff_actor, None)
        return state

    def _action(self, state: State, e: Event, out: Deltas) -> None:
        d, day = e.data, self.day(e.at)
        changes = d.get("changes") or {}
        before = responsible(state)
        if "assignee" in changes:
            state["assignee"] = changes["assignee"][1]
            out.count(state["assignee"], day, "assigned")
        if "customer.tier" in changes:
            state["tier"] = changes["customer.tier"][1]
        frm, to = d["from_state"], d["to_state"]
        closed = self.closed_states(state["type"])
        spec = self.kpis(state["type"])
        if d["action"] in spec.approval_actions and e.staff_actor:
            waiting = max(state["since"], state["grant"] or "")
            out.count(e.staff_actor, day, "approvals")
            out.duration(e, "approval", e.staff_actor, day, seconds_between(waiting, e.at))
            state["grant"] = e.at
        if to != frm:
            if to in closed and frm not in closed and before:
                out.count(before, day, "resolved")
                out.duration(e, "resolution", before, day, seconds_between(state["opened"], e.at))
            state["since"] = e.at
            state["status"] = to
        if d["action"] in spec.reopen_actions:
            out.count(before, day, "reopened")
        cx, report = state["cx"], spec.department_report
        if cx is not None and report is not None:
            if to in report.handled_states and not cx["handled"]:
                cx["handled"] = 1
                self._dept(out, cx, handled=1)
            if report.valid_field in changes:
                valid = int(changes[report.valid_field][1] == report.valid_value)
                if valid != cx["valid"]:
                    self._dept(out, cx, valid=valid - cx["valid"])
                    cx["valid"] = valid
        arrival = spec.arrival_field
        if arrival and arrival in changes and e.staff_actor:
            out.count(e.staff_actor, day, "arrivals")
            out.count(e.staff_actor, day, "arrivals_on_time", int(changes[arrival][1] == "on_time"))
        outcome = next((spec.outcome(changes[f][1]) for f in spec.outcome_fields if f in changes), None)
        for change in d.get("clock_changes") or ():
            self._clock(state, change, e, out, before, e.staff_actor, outcome)

    def _clock(self, state: State, change: dict[str, Any], e: Event, out: Deltas, credit: str | None,
               actor: str | None, outcome: str | None) -> None:
        op, name = change["op"], change["name"]
        clocks = state["clocks"]
        spec = self.kpis(state["type"])
        if op == "start":
            clock = clocks[name] = {"due": canon(change["due_at"]), "start": canon(change["at"]), "br": 0, "on": 1}
            if name == spec.return_visit_clock:
                staff, due_day = responsible(state), self.day(clock["due"])
                vip = int(state["tier"] in MEMBER_TIERS)
                clock["rv"] = [staff, due_day, vip]
                out.count(staff, due_day, "rv_due")
                out.count(staff, due_day, "rv_vip_due", vip)
            return
        clock = clocks.get(name)
        if clock is None or not clock["on"]:
            return
        if op in ("resume", "extend"):
            clock["due"] = canon(change["due_at"])
            return
        if op != "stop":
            return
        clock["on"] = 0
        at, day = canon(change["at"]), self.day(e.at)
        late = at > clock["due"]  # type: ignore[operator]
        if not clock["br"]:
            out.count(credit, day, "clocks_breached" if late else "clocks_met")
        if name == spec.first_response_clock:
            who = actor or credit
            out.duration(e, "first_response", who, day, seconds_between(clock["start"], at))  # type: ignore[arg-type]
        if name == spec.return_visit_clock and outcome in OUTCOMES and "rv" in clock:
            staff, due_day, vip = clock["rv"]
            out.count(staff, due_day, "rv_done")
            out.count(staff, due_day, "rv_on_time", int(not late and not clock["br"]))
            out.count(staff, due_day, "rv_vip_done", vip)
            out.count(actor or staff, day, outcome)  # type: ignore[arg-type]
            cx = state["cx"]
            if cx is not None:
                sat = int(outcome == "satisfied")
                self._dept(out, cx, visited=1 - cx["visited"], satisfied=sat - cx["sat"])
                cx["visited"], cx["sat"] = 1, sat

    def mirror_breach(self, origin: State, e: Event, out: Deltas) -> None:
        """A mirror case's ``DeadlineBreached`` (its return visit missed) is the breach
        of the origin's ``return_visit`` clock."""
        clock = origin["clocks"].get(e.data.get("clock"))
        if clock and clock["on"] and not clock["br"]:
            clock["br"] = 1
            out.count(responsible(origin), self.day(e.at), "clocks_breached")

    @staticmethod
    def _dept(out: Deltas, cx: State, **counts: int) -> None:
        counter = out.dept[(cx["dept"], cx["month"])]
        for name, n in counts.items():
            if n:
                counter[name] += n


# ------------------------------------------------------------------ figures
def pct(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


def median(values: list[float]) -> float | None:
    if not values:
        return None
    s, n = sorted(values), len(values)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def p90(values: list[float]) -> float | None:
    if not values:
        return None
    s = sorted(values)
    return s[max(0, -(-9 * len(s) // 10) - 1)]  # nearest rank: ceil(0.9 n)


def _stats(values: list[float]) -> dict[str, Any]:
    return {"count": len(values), "mean_seconds": round(sum(values) / len(values), 3) if values else None,
            "median_seconds": median(values), "p90_seconds": p90(values)}


def figures(counts: Counter[str], durations: dict[str, list[float]]) -> dict[str, Any]:
    """The staff KPI document for summed counters and raw durations."""
    c = counts
    rated = c["satisfied"] + c["neutral"] + c["unsatisfied"]
    return {
        "cases": {"assigned": c["assigned"], "resolved": c["resolved"], "reopened": c["reopened"]},
        "first_response": _stats(durations.get("first_response", [])),
        "resolution": _stats(durations.get("resolution", [])),
        "clocks": {"met": c["clocks_met"], "breached": c["clocks_breached"],
                   "compliance_pct": pct(c["clocks_met"], c["clocks_met"] + c["clocks_breached"])},
        "return_visits": {"due": c["rv_due"], "done": c["rv_done"], "done_on_time": c["rv_on_time"],
                          "on_time_pct": pct(c["rv_on_time"], c["rv_due"]),
                          "member_vip_due": c["rv_vip_due"], "member_vip_done": c["rv_vip_done"],
                          "member_vip_coverage_pct": pct(c["rv_vip_done"], c["rv_vip_due"])},
        "satisfaction": {"satisfied": c["satisfied"], "neutral": c["neutral"], "unsatisfied": c["unsatisfied"],
                         "satisfaction_pct": pct(c["satisfied"], rated)},
        "approvals": {"given": c["approvals"], "turnaround": _stats(durations.get("approval", []))},
        "technician": {"arrivals": c["arrivals"], "on_time": c["arrivals_on_time"],
                       "on_time_pct": pct(c["arrivals_on_time"], c["arrivals"]),
                       "return_visit_scores": c["rv_scored"],
                       "average_return_visit_score": round(c["rv_score_sum"] / c["rv_scored"], 2)
                       if c["rv_scored"] else None},
    }


def period_of(day: str, by: str) -> str:
    if by == "day":
        return day
    if by == "month":
        return day[:7]
    year, week, _ = datetime.fromisoformat(day).isocalendar()
    return f"{year}-W{week:02d}"

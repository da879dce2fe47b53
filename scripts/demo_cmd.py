"""``casetrail demo``: a small, realistic data set to try the API with.

Staff for every role, and a dozen cases of each built-in type spread over
the last two weeks in all sorts of states: complaints from just registered
to closed after their return visit (and one reopened because the customer
was unsatisfied), inquiries answered or converted into complaints, repair
orders from open to closed, order approvals from draft to delivered
(including approval chains and a deposit for a custom product), and
return visits, opened by the policies or by hand for a campaign. Every step
goes through the application's use cases, so the data is exactly what the
API would have recorded; a simulated clock walks through the two weeks.

Idempotent: on a database that already holds events it changes nothing
and says so (``--again`` loads another set of cases). Prints a token for
every role it creates, and a curl example.
"""

from __future__ import annotations

import random
import re
import tomllib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import click

from domain.application import CaseTrail
from domain.model.case import Case
from domain.model.errors import StaffNotFound
from domain.model.topics import topics
from domain.model.uniqueness import DuplicateCase, PrerequisiteMissing

STAFF = [  # id, name, department, roles
    ("agent1", "张丽", "cs", ["agent"]),
    ("agent2", "王强", "cs", ["agent"]),
    ("sup1", "陈静", "cs", ["supervisor"]),
    ("head1", "刘伟", "cs", ["dept_head"]),
    ("gm1", "孙建国", "office", ["general_manager"]),
    ("sales1", "李娜", "sales", ["agent"]),
    ("salesmgr1", "周杰", "sales", ["sales_manager"]),
    ("tech1", "吴师傅", "service", ["technician"]),
    ("tech2", "郑师傅", "service", ["technician"]),
    ("reviewer1", "赵敏", "compliance", ["reviewer"]),
    ("importer1", "数据导入", "it", ["importer"]),
    ("admin1", "系统管理员", "it", ["admin"]),
    # the procedure library's roles
    ("fd1", "钱总监", "finance", ["finance_director"]),
    ("cashier1", "孙出纳", "finance", ["cashier"]),
    ("pm1", "何经理", "sales", ["project_manager"]),
    ("qm1", "林品管", "quality", ["quality_manager"]),
    ("saleshead1", "黄经理", "sales", ["dept_head"]),
]
PLANS_DIR = Path(__file__).parent / "demo_plans"  # <type>.toml: a few demo cases of each library type
RELATIVE = re.compile(r"^\{(today|now)([+-]\d+)d(?: (\d\d):(\d\d))?\}$")
SHANGHAI = timezone(timedelta(hours=8))
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = ["先生", "女士", "伟", "芳", "娜", "敏", "静", "磊", "洋", "艳"]


@dataclass
class Step:
    action: str
    by: str
    data: dict[str, Any] = field(default_factory=dict)
    on: str | None = None  # act on the linked case with this relation (e.g. the return visit)


@dataclass
class Plan:
    case_type: str
    title: str
    fields: dict[str, Any]
    steps: list[Step]
    by: str = "agent1"
    customer: dict[str, Any] = field(default_factory=dict)
    exact_customer: bool = False  # the plan's customer as written (a library type's own customer fields)


def relative(value: Any, now: datetime) -> Any:
    """``{today+3d}`` (a date), ``{now+1d}`` / ``{now+1d 15:00}`` (a local time): demo dates near the clock."""
    if isinstance(value, dict):
        return {k: relative(v, now) for k, v in value.items()}
    found = RELATIVE.match(value) if isinstance(value, str) else None
    if not found:
        return value
    kind, days, hh, mm = found.groups()
    local = now.astimezone(SHANGHAI) + timedelta(days=int(days))
    if hh is not None:
        local = local.replace(hour=int(hh), minute=int(mm), second=0, microsecond=0)
    return local.date().isoformat() if kind == "today" else local.isoformat(timespec="seconds")


def library_plans() -> list[Plan]:
    """The demo cases of the procedure library (``scripts/demo_plans/<type>.toml``)."""
    out = []
    for path in sorted(PLANS_DIR.glob("*.toml")):
        for case in tomllib.loads(path.read_text(encoding="utf-8")).get("cases", []):
            steps = [Step(s["action"], s["by"], dict(s.get("data") or {}), s.get("on")) for s in case.get("steps", [])]
            out.append(Plan(path.stem, case["title"], dict(case.get("fields") or {}), steps, case.get("by", "agent1"),
                            dict(case.get("customer") or {}), exact_customer=True))
    return out

def complaint(agent: str, severity: str, upto: int, outcome: str = "satisfied") -> list[Step]:
    approver = {"general": "sup1", "major": "head1", "crisis": "gm1"}[severity]
    steps = [
        Step("classify", agent, {"category": "valid", "severity": severity}),
        Step("assign", "sup1", {"assignee": agent}),
        Step("start_investigation", agent),
        Step("log_contact", agent, {"channel": "phone", "summary": "已致电客户,了解详细情况"}),
        Step("propose_resolution", agent, {"resolution": "为客户办理退款并赠送优惠券"}),
        Step("approve_resolution", approver),
        Step("reply_customer", agent, {"reply": "您好,处理方案已确认:退款将在3个工作日内到账。"}),
        Step("record_outcome", "agent2", {"result": outcome, "score": 5 if outcome == "satisfied" else 2},
             on="return_visit"),
        Step("close", "sup1"),
    ]
    return steps[:upto]


def repair(tech: str, upto: int, quoted: bool, start: datetime) -> list[Step]:
    window = start.replace(minute=0, second=0, microsecond=0) + timedelta(days=1)
    steps = [
        Step("accept", tech),
        Step("schedule", tech, {"window_start": window.isoformat(),
                                "window_end": (window + timedelta(hours=2)).isoformat()}),
        Step("arrive", tech),
    ]
    if quoted:
        steps += [Step("quote", tech, {"amount": "180.00"}), Step("approve_quote", "agent1")]
    steps += [
        Step("complete", tech, {"notes": "更换压缩机继电器,试机正常"}),
        Step("record_outcome", "agent2", {"result": "satisfied", "score": 5}, on="return_visit"),
        Step("close", "agent1"),
    ]
    return steps[:upto]


def order(amount: str, terms: str, upto: int, product: str = "standard", reject: bool = False) -> list[Step]:
    steps = [Step("submit", "sales1")]
    if reject:
        return steps + [Step("reject", "salesmgr1", {"reason": "客户信用额度不足"})]
    if product == "custom":
        steps.insert(0, Step("record_deposit", "sales1", {"amount": str(round(float(amount) * 0.3, 2))}))
    if terms == "credit" and float(amount) > 20000:  # the chain the order_approval rules compute
        steps.append(Step("approve", "salesmgr1", {"comment": "同意"}))
        if float(amount) > 50000:
            steps.append(Step("approve", "gm1", {"comment": "同意"}))
    steps += [Step("ship", "sales1"), Step("deliver", "sales1")]
    return steps[:upto]


def plans(rng: random.Random, now: datetime) -> list[Plan]:
    out: list[Plan] = []
    complaints = [("general", 0), ("major", 1), ("general", 2), ("general", 2), ("general", 4), ("major", 5),
                  ("general", 6), ("general", 7), ("general", 9), ("major", 9)]
    titles = ["快递包裹破损", "退款迟迟未到账", "客服态度差", "商品与描述不符", "安装人员迟到",
              "重复扣费", "会员积分被清零", "发票开错", "配送延误", "产品质量问题"]
    for i, (severity, upto) in enumerate(complaints):
        agent = "agent1" if i % 2 else "agent2"
        out.append(Plan("complaint", titles[i], {"description": f"客户反映:{titles[i]}", "channel": "phone"},
                        complaint(agent, severity, upto)))
    out.append(Plan("complaint", "客户要求赔偿", {"description": "延误赔偿"}, complaint("agent1", "general", 9,
                                                                                      "unsatisfied")[:8]))
    out.append(Plan("complaint", "无理投诉", {"description": "重复投诉同一问题"},
                    [Step("reject", "sup1", {"reason": "客诉不成立:已于上周处理完毕"})]))
    for i in range(12):
        kind = ["inquiry", "suggestion", "challenge"][i % 3]
        steps = [[], [Step("answer", "agent2", {"answer": "已告知办理流程"})],
                 [Step("answer", "agent1", {"answer": "已答复"}), Step("close", "agent1")],
                 [Step("convert", "agent1", {"reason": "客户坚持投诉"})]][[0, 1, 2, 2, 3, 1][i % 6]]
        out.append(Plan("inquiry", f"咨询:{['营业时间', '退货政策', '会员权益', '发票'][i % 4]}",
                        {"kind": kind, "channel": "web", "description": "客户来电咨询"}, steps))
    for i, upto in enumerate([0, 0, 1, 2, 2, 3, 4, 5, 6, 7, 8, 8]):
        quoted = i % 3 == 0
        steps = repair("tech1" if i % 2 else "tech2", upto + (2 if quoted and upto > 3 else 0), quoted, now)
        out.append(Plan("repair_order", f"空调不制冷 #{i + 1}", {"device": "KFR-35GW", "fault": "不制冷"}, steps,
                        customer={"address": f"上海市浦东新区张江路{100 + i}号"}))
    orders = [("8000.00", "cash", 0, "standard"), ("12000.00", "cod", 0, "standard"),
              ("35000.00", "credit", 1, "standard"), ("68000.00", "credit", 2, "standard"),
              ("5000.00", "prepay", 1, "standard"), ("30000.00", "credit", 2, "custom"),
              ("9000.00", "cash", 2, "standard"), ("15000.00", "credit", 3, "standard"),
              ("22000.00", "credit", 9, "standard"), ("70000.00", "credit", 9, "standard"),
              ("4000.00", "cod", 9, "custom")]
    for amount, terms, upto, product in orders:
        out.append(Plan("order_approval", f"订单 {amount} 元", {"amount": amount, "payment_terms": terms,
                                                               "product_kind": product},
                        order(amount, terms, upto, product), by="sales1"))
    out.append(Plan("order_approval", "超额赊账订单", {"amount": "26000.00", "payment_terms": "credit"},
                    order("26000.00", "credit", 2, reject=True), by="sales1"))
    out.append(Plan("order_approval", "新客户款到发货订单", {"amount": "6000.00", "payment_terms": "prepay"},
                    order("6000.00", "prepay", 2, "standard"), by="sales1", customer={"is_new": True}))
    for i, steps in enumerate([[], [], [Step("reschedule", "agent2", {"at": (now + timedelta(days=1)).isoformat()})],
                               [Step("attempt_failed", "agent2", {"reason": "无人接听"})] * 3,
                               [Step("record_outcome", "sup1", {"result": "neutral", "score": 3,
                                                                "improvement": "提前预约回访时间"})]]):
        out.append(Plan("return_visit", f"双十一回访活动 #{i + 1}", {"campaign": "双11"}, steps, by="sup1"))
    rng.shuffle(out)
    # the library's cases in file order: a case another one needs (a membership card, an approved
    # visit plan) is opened before it
    return out + library_plans()


def customer_for(plan: Plan, rng: random.Random, i: int) -> dict[str, Any]:
    if plan.exact_customer:
        return dict(plan.customer)
    name = rng.choice(SURNAMES) + rng.choice(GIVEN)
    phone = f"1{rng.choice('3589')}{rng.randrange(10**9):09d}"
    base: dict[str, Any] = {"id": f"C-{1000 + i}", "name": name, "phone": phone}
    if plan.case_type == "order_approval":
        base = {"id": f"K-{200 + i}", "name": name + "商行", "is_new": False}
    elif plan.case_type in ("complaint", "inquiry", "repair_order", "return_visit"):
        base["tier"] = rng.choice(["regular", "member", "member", "vip"])
    return {**base, **plan.customer}


class SimClock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


def ensure_staff(app: CaseTrail) -> list[str]:
    """Register the demo staff that are missing; the ids of those registered."""
    added = []
    for staff_id, name, department, roles in STAFF:
        try:
            app.get_staff(staff_id)
        except StaffNotFound:
            app.register_staff(staff_id, name, department, roles)
            added.append(staff_id)
    return added


def one_per_role(staff_ids: list[str]) -> list[tuple[str, str]]:
    """(role, staff id): the first of ``staff_ids`` holding each role, in the roster's order."""
    chosen: dict[str, str] = {}
    for staff_id, _name, _department, roles in STAFF:
        if staff_id in staff_ids:
            for role in roles:
                chosen.setdefault(role, staff_id)
    return list(chosen.items())


def first_number(app: CaseTrail, position: int) -> str | None:
    """The number of the first case opened after ``position`` (for the printed curl example)."""
    for n in app.recorder.select_notifications(start=position + 1, limit=1, topics=topics(Case.Opened)):
        return str(app.mapper.to_domain_event(n).number)
    return None


def opened_since(app: CaseTrail, position: int) -> dict[str, int]:
    """Cases opened after ``position``, by type."""
    counts: dict[str, int] = {}
    for n in app.recorder.select_notifications(start=position + 1, limit=100_000,
                                               topics=topics(Case.Opened)):
        case_type = app.mapper.to_domain_event(n).case_type
        counts[case_type] = counts.get(case_type, 0) + 1
    return counts


def load(app: CaseTrail, clock: SimClock, seed: int = 20261101) -> int:
    """Open and drive the demo cases, walking the clock through the past two weeks; the number of
    library cases skipped because an earlier demo set holds their keys (一户一卡, first registration wins)."""
    skipped = 0
    rng = random.Random(seed)
    real_now = datetime.now(UTC)
    all_plans = plans(rng, real_now)
    actors = {s[0]: app.get_staff(s[0]).as_actor() for s in STAFF}
    slot = timedelta(days=12) / len(all_plans)
    for i, plan in enumerate(all_plans):
        clock.now = real_now - timedelta(days=14) + slot * i
        try:
            case = app.open_case(actors[plan.by], plan.case_type, plan.title, customer_for(plan, rng, i),
                                 relative(plan.fields, clock.now), plan.fields.get("channel"))
        except (DuplicateCase, PrerequisiteMissing):
            if not plan.exact_customer:
                raise
            skipped += 1  # `demo --again`: the first set's case holds the key
            continue
        for step in plan.steps:
            clock.now += timedelta(minutes=rng.randrange(20, 240))
            target = case.id
            if step.on:
                target = next(x["case_id"] for x in app.get_case(case.id).links if x["rel"] == step.on)
            try:
                app.act(actors[step.by], target, step.action, relative(step.data, clock.now))
            except (DuplicateCase, PrerequisiteMissing):
                if not plan.exact_customer:
                    raise
                skipped += 1  # a key claimed by a step (a visit plan's month) is held by the first set
                break
    return skipped


@click.command()
@click.option("--if-empty", is_flag=True, hidden=True, help="Kept for old scripts: this is the default now.")
@click.option("--again", is_flag=True,
              help="Load another set of demo cases even though the database already holds events.")
def demo(if_empty: bool, again: bool) -> None:
    """Load a realistic demo data set (once) and print a token for every role it creates.

    A second run changes nothing and says so (unless --again)."""
    clock = SimClock(datetime.now(UTC))
    app = CaseTrail.from_url(clock=clock)
    try:
        held = app.recorder.max_notification_id()
        if held and not again:
            click.echo(f"The database already holds {held} events: demo data not loaded, nothing changed.\n"
                       "Issue a token for a demo staff member with `casetrail token issue agent1` "
                       f"(staff: {', '.join(s[0] for s in STAFF)}); `casetrail demo --again` loads more cases.",
                       err=True)
            return
        added = ensure_staff(app)
        skipped = load(app, clock)
        counts = opened_since(app, held or 0)
        number = first_number(app, held or 0) or "TS-202612-0001"
        total = sum(counts.values())
        click.echo(f"Loaded {len(added)} staff and {total} cases "
                   f"({', '.join(f'{n} {t}' for t, n in sorted(counts.items()))}; "
                   "including the return visits and complaints the policies opened)."
                   + (f" {skipped} library demo cases were left out: the earlier demo set holds their keys."
                      if skipped else ""))
        clock.now = datetime.now(UTC)
        shown = one_per_role(added)
        tokens = {who: app.issue_token(who) for _, who in shown}
    finally:
        app.close()
    if not shown:
        click.echo("\nNo staff were added, so no tokens were issued: `casetrail token issue agent1` gives one.")
        return
    click.echo("\nTokens, one for every role (issue more with `casetrail token issue STAFF_ID`):")
    for role, who in shown:
        click.echo(f"  {role:<16} {who:<10} {tokens[who]}")
    agent, admin = tokens.get("agent1", "$AGENT_TOKEN"), tokens.get("admin1", "$ADMIN_TOKEN")
    click.echo(
        "\nTry it (after `casetrail serve`):\n"
        f"  export AGENT={agent} SUP={tokens.get('sup1', '$SUP_TOKEN')}\n"
        "  curl -s -H \"Authorization: Bearer $AGENT\" -H 'Content-Type: application/json' \\\n"
        "       -d '{\"type\": \"complaint\", \"title\": \"包裹破损\", "
        "\"customer\": {\"id\": \"C-1\", \"name\": \"王先生\", \"tier\": \"member\"}}' \\\n"
        "       http://127.0.0.1:8000/v1/cases\n"
        f"  curl -s -H \"Authorization: Bearer $AGENT\" http://127.0.0.1:8000/v1/cases/{number}   # by its number\n"
        "  curl -s -H \"Authorization: Bearer $AGENT\" http://127.0.0.1:8000/v1/events?after=0\n"
        f"  curl -s -H \"Authorization: Bearer {admin}\" http://127.0.0.1:8000/metrics\n"
        "  API description: http://127.0.0.1:8000/docs")


commands = [demo]

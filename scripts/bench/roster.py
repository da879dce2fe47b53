"""The synthetic company of the benchmark: staff, customers, texts, the start time.

Everything here is a pure function of a ``random.Random`` so that the data
generator is deterministic for a seed.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from typing import Any

SHANGHAI = timezone(timedelta(hours=8))
# Monday 2026-01-05 09:00 Asia/Shanghai
START = datetime(2026, 1, 5, 9, 0, tzinfo=SHANGHAI)

# staff id -> (department, roles)
STAFF: dict[str, tuple[str, list[str]]] = {
    **{f"agent{i:02d}": ("cs", ["agent"]) for i in range(1, 13)},
    **{f"sales{i:02d}": ("sales", ["agent"]) for i in range(1, 7)},
    **{f"sup{i:02d}": ("cs", ["supervisor"]) for i in range(1, 4)},
    **{f"head{i:02d}": ("cs", ["dept_head"]) for i in range(1, 3)},
    **{f"sm{i:02d}": ("sales", ["sales_manager"]) for i in range(1, 3)},
    "gm01": ("office", ["general_manager"]),
    **{f"tech{i:02d}": ("service", ["technician"]) for i in range(1, 9)},
}

AGENTS = [s for s in STAFF if s.startswith("agent")]
SALES = [s for s in STAFF if s.startswith("sales")]
SUPERVISORS = [s for s in STAFF if s.startswith("sup")]
HEADS = [s for s in STAFF if s.startswith("head")]
SALES_MANAGERS = [s for s in STAFF if s.startswith("sm")]
TECHNICIANS = [s for s in STAFF if s.startswith("tech")]
GM = ["gm01"]
BY_ROLE = {
    "agent": AGENTS, "supervisor": SUPERVISORS, "dept_head": HEADS,
    "sales_manager": SALES_MANAGERS, "general_manager": GM, "technician": TECHNICIANS,
}

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = ["先生", "女士", "伟", "芳", "娜", "敏", "静", "磊", "强", "洋", "艳", "勇", "军", "杰"]
DEVICES = ["空调", "冰箱", "洗衣机", "热水器", "燃气灶", "油烟机", "电视", "净水器"]
FAULTS = ["不制冷", "漏水", "噪音大", "无法开机", "显示故障码 E4", "遥控失灵", "异味", "加热慢"]
DISTRICTS = ["浦东新", "徐汇", "静安", "长宁", "普陀", "闵行"]
CHANNELS = ["phone", "wechat", "web", "store", "email"]
PHRASES = [
    "客户反映产品使用一周后出现问题，要求尽快处理。",
    "The customer called twice about the same issue and asked for a call back.",
    "已与客户电话沟通，客户同意等待上门检查。",
    "Delivery was late by three days; customer wants compensation.",
    "安装师傅未按约定时间到达，客户不满。",
    "Invoice amount differs from the quoted price.",
    "客户希望延长保修期，并询问会员权益。",
    "Replaced the part under warranty; customer satisfied with the result.",
]


def text(rng: random.Random, parts: int = 2) -> str:
    return " ".join(rng.choice(PHRASES) for _ in range(parts))


def person(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + rng.choice(GIVEN)


def phone(rng: random.Random) -> str:
    return "1" + rng.choice("3589") + "".join(rng.choice("0123456789") for _ in range(9))


def tier(rng: random.Random) -> str:
    r = rng.random()
    return "regular" if r < 0.6 else "member" if r < 0.9 else "vip"


def consumer(rng: random.Random, address: bool = False) -> dict[str, Any]:
    c = {"id": f"C-{rng.randrange(1, 400_000):06d}", "name": person(rng), "phone": phone(rng), "tier": tier(rng)}
    if address:
        c["address"] = f"上海市{rng.choice(DISTRICTS)}区{rng.randrange(1, 999)}号"
    return c


def business(rng: random.Random) -> dict[str, Any]:
    return {"id": f"K-{rng.randrange(1, 20_000):05d}", "name": person(rng) + "商行", "phone": phone(rng),
            "is_new": rng.random() < 0.2}


def pick(rng: random.Random, weighted: dict[str, float]) -> str:
    r = rng.random() * sum(weighted.values())
    for key, weight in weighted.items():
        r -= weight
        if r < 0:
            return key
    return key

"""qc_inspection (报检/质检, 004 B5): an inspection request and its nonconformance.

Proves on SQLite and PostgreSQL: anyone files the 报检单, only QC inspects, passes or
rejects a lot; a nonconforming lot is dispositioned with its cause and corrective action,
a concession (让步接收) only by the general manager; QC may stop work, which reaches the
general manager at once and blocks closing until work resumes; a first article not
inspected within 2 working hours, or a corrective action not verified in 5 working days,
reaches the general manager.
"""

from __future__ import annotations

from typing import Any

from tests.api_support import ApiWorld

PROBLEM = "https://casetrail.invalid/problems/"
RECORD = {"file": {"name": "检验记录.xlsx", "size": 9000, "sha256": "cd" * 32,
                   "media_type": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}}


def inspection(world: ApiWorld, stage: str = "incoming", status: int = 201, **fields: Any) -> dict[str, Any]:
    body = {"stage": stage, "item": "Q235 钢板 6mm", "batch": "GB-2611-07", "quantity": 40,
            "standard": "进料检验标准 JY-03", **fields}
    return world.open_view("qc_inspection", by="seller", fields=body, customer={}, status=status)


def nonconforming(world: ApiWorld, **fields: Any) -> dict[str, Any]:
    case = inspection(world, **fields)
    world.do(case, "start", "quality_manager")
    return world.do(case, "reject_lot", "quality_manager", sample_size=8, findings="厚度 5.6mm, 超下偏差",
                    records=[RECORD])


def test_a_lot_is_inspected_and_passed(world: ApiWorld) -> None:
    case = inspection(world)
    assert case["number"].startswith("ZJBJ-202611-")
    out = world.do(case, "start", "seller", status=403)
    assert (out["type"], out["allowed_roles"]) == (PROBLEM + "forbidden", ["quality_manager"])
    case = world.do(case, "start", "quality_manager")
    assert (case["status"], case["assignee"]) == ("inspecting", "quality_manager")
    out = world.do(case, "pass", "quality_manager", status=422)
    assert [e["field"] for e in out["errors"]] == ["sample_size"]
    case = world.do(case, "pass", "quality_manager", sample_size=5, records=[RECORD])
    assert case["status"] == "passed"
    assert case["fields"]["records"][0]["file"]["sha256"] == "cd" * 32
    assert world.clock(case, "inspection")["state"] == "met"


def test_a_nonconforming_lot_is_dispositioned_and_its_corrective_action_verified(world: ApiWorld) -> None:
    case = nonconforming(world)
    assert case["status"] == "nonconforming"
    assert world.clock(case, "capa")["state"] == "running"
    out = world.do(case, "dispose", "quality_manager", status=422, disposition="concession")
    assert sorted(e["field"] for e in out["errors"]) == ["capa", "cause", "disposition"]
    case = world.do(case, "dispose", "quality_manager", disposition="return_to_supplier",
                    cause="供应商轧制公差失控", capa="供应商8D整改; 下三批加严检验")
    assert (case["status"], case["fields"]["disposition"]) == ("dispositioned", "return_to_supplier")
    case = world.do(case, "verify_capa", "quality_manager", verification="下批抽检 8/8 合格")
    assert case["status"] == "closed"
    assert world.clock(case, "capa")["state"] == "met"


def test_a_concession_is_the_general_managers(world: ApiWorld) -> None:
    case = nonconforming(world)
    case = world.do(case, "request_concession", "quality_manager", cause="偏差 0.4mm", capa="仅用于非承重件")
    assert (case["status"], case["fields"]["disposition"]) == ("concession_requested", "concession")
    out = world.do(case, "grant_concession", "quality_manager", status=403)
    assert (out["type"], out["allowed_roles"]) == (PROBLEM + "forbidden", ["general_manager"])
    case = world.do(case, "refuse_concession", "general_manager", reason="客户产品不允许")
    assert case["status"] == "nonconforming"
    world.do(case, "request_concession", "quality_manager", cause="偏差 0.4mm", capa="仅用于内部工装")
    case = world.do(case, "grant_concession", "general_manager", conditions="限内部工装使用")
    assert case["status"] == "dispositioned"


def test_stopping_work_reaches_the_general_manager_and_blocks_closing(world: ApiWorld) -> None:
    case = nonconforming(world)
    out = world.do(case, "stop_work", "seller", status=403, reason="x")
    assert out["type"] == PROBLEM + "forbidden"
    case = world.do(case, "stop_work", "quality_manager", reason="不合格钢板已上线, 停止下料")
    assert case["fields"]["work_status"] == "stopped"
    assert [(e["to_role"], e["clock"]) for e in case["escalations"]] == [("general_manager", None)]
    world.do(case, "dispose", "quality_manager", disposition="scrap", cause="来料不良", capa="进料加严")
    out = world.do(case, "verify_capa", "quality_manager", status=422, verification="ok")
    assert out["type"] == PROBLEM + "guard-failed"
    assert "resume_work" in out["detail"]
    out = world.do(case, "resume_work", "quality_manager", status=422)
    assert [e["field"] for e in out["errors"]] == ["improvement"]
    case = world.do(case, "resume_work", "quality_manager", improvement="已更换合格批次, 首件复检合格")
    assert case["fields"]["work_status"] == "running"
    assert world.do(case, "verify_capa", "quality_manager", verification="ok")["status"] == "closed"


def test_invalid_requests_are_refused(world: ApiWorld) -> None:
    out = inspection(world, stage="final", quantity=0, status=422)
    assert out["type"] == PROBLEM + "invalid-fields"
    assert sorted(e["field"] for e in out["errors"]) == ["fields.quantity", "fields.stage"]
    out = inspection(world, status=422, disposition="concession", findings="无")
    assert sorted(e["field"] for e in out["errors"]) == ["fields.disposition", "fields.findings"]  # QC's to write
    case = inspection(world)
    world.do(case, "start", "quality_manager")
    out = world.do(case, "withdraw", "seller", status=422, reason="不需要了")
    assert out["type"] == PROBLEM + "action-not-allowed"  # only before inspection starts


def test_late_inspections_and_late_corrective_actions_reach_the_general_manager(world: ApiWorld) -> None:
    first = inspection(world, "first_article", item="支架 ZJ-2 首件")  # Monday 10:00: due 12:00
    incoming = inspection(world)  # due Tuesday 10:00
    assert world.clock(first, "inspection")["due_at"].startswith("2026-11-16T12:00")
    world.advance(hours=2, minutes=1)
    assert world.app.record_breaches(first["id"]) == ["inspection"]
    assert world.app.record_breaches(incoming["id"]) == []
    esc = world.show(first)["escalations"][-1]
    # nobody in quality holds general_manager: the first active one anywhere (the roster's "boss")
    assert (esc["to_role"], esc["to_staff"]) == ("general_manager", "boss")
    case = nonconforming(world)  # Monday 12:01: 5 working days to verify, due next Monday 12:01
    assert world.clock(case, "capa")["due_at"].startswith("2026-11-23T12:01")
    world.advance(days=7)
    assert world.app.record_breaches(case["id"]) == []
    world.advance(minutes=1)
    assert world.app.record_breaches(case["id"]) == ["capa"]
    assert world.show(case)["escalations"][-1]["to_role"] == "general_manager"

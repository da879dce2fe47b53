"""eshop_order_change (订单修改/取消, 000 A§10) through the HTTP API, on SQLite and PostgreSQL.

Proves: the path branches on the fulfilment state as the seed says —
未打单: changed in the backend with a templated remark and the printer told,
or voided and refunded; 打过单: slips back from the warehouse, corrected by
hand with 「已在发货单与快递单上修改妥当」, or refunded and the slips destroyed;
已打包贴单: parcel back and reprinted, or refunded and restocked; 已发货: handed
to a named after-sale agent, who alone (or the supervisor) finishes it.
打单员 (order_printer) alone voids and reprints, 仓库员 (warehouse_clerk)
alone restocks, and slips or a parcel are taken back by an agent or a
warehouse clerk (403 for anyone else); each is told when a step waits for
them. A step of another branch is refused (422 guard-failed), so is a remark off the
template, a modification without details, a second open request on the same
order (422 .../duplicate), a read-only role; an order not made safe within 2
hours, or a cancellation not refunded within 24 hours, escalates to the supervisor.
"""

from __future__ import annotations

import pytest

from tests.api_support import ApiWorld

PROBLEMS = "https://casetrail.invalid/problems/"
BUYER = {"shop_id": "tb_lily2014", "name": "Lily"}


@pytest.fixture(autouse=True)
def warehouse(world: ApiWorld) -> None:
    """The shop's 打单员 and 仓库员 (roles of their own, in the warehouse)."""
    for staff_id, role in (("printer", "order_printer"), ("clerk", "warehouse_clerk")):
        world.app.register_staff(staff_id, staff_id.title(), "warehouse", [role])
        world.staff[staff_id] = ("warehouse", [role])
        world.tokens[staff_id] = world.app.issue_token(staff_id)


def told(world: ApiWorld, case: dict) -> list[tuple[str, str]]:
    """(role, staff) of the notices (escalations without a clock) on the case."""
    return [(e["to_role"], e["to_staff"]) for e in world.show(case)["escalations"] if e["clock"] is None]


def request(world: ApiWorld, kind: str, fulfilment: str, order: str = "TB-1001", status: int = 201,
            details: str | None = "新地址:广州市天河区体育西路1号") -> dict:
    fields = {"order_no": order, "request": kind, "fulfilment": fulfilment}
    if details is not None:
        fields["details"] = details
    return world.open_view("eshop_order_change", customer=BUYER, fields=fields, status=status)


def test_not_printed_address_change_in_the_backend(world: ApiWorld) -> None:
    case = request(world, "modify_address", "not_printed")
    assert case["number"].startswith("DG-")
    off_template = world.do(case, "modify_in_backend", "agent", remark="改地址了", status=422)
    assert off_template["type"] == PROBLEMS + "invalid-fields"
    assert [e["field"] for e in off_template["errors"]] == ["remark"]
    amended = world.do(case, "modify_in_backend", "agent", remark="客户要求修改地址,新地址为:广州市天河区体育西路1号")
    assert amended["status"] == "amended" and amended["fields"]["remark"].startswith("客户要求修改地址")
    assert world.clock(case, "first_handling")["state"] == "running"  # the printer is not told yet
    assert told(world, case) == []
    done = world.do(case, "notify_printer", "agent")
    assert done["status"] == "done" and world.clock(case, "first_handling")["state"] == "met"
    assert told(world, case) == [("order_printer", "printer")]  # 「通知打单人员注意此 ID 订单已修改」


def test_printed_and_packed_orders_are_changed_on_paper(world: ApiWorld) -> None:
    printed = request(world, "modify_attributes", "printed", details="颜色改为蓝色")
    backend = world.do(printed, "modify_in_backend", "agent", remark="客户拍下,要求修改成蓝色,已修改妥当", status=422)
    assert backend["type"] == PROBLEMS + "guard-failed" and "printed already" in backend["detail"]
    assert world.do(printed, "retrieve_slips", "technician", status=403)["type"] == PROBLEMS + "forbidden"
    world.do(printed, "retrieve_slips", "clerk", note="仓库 小王 交回发货单与快递单")  # the warehouse clerk
    done = world.do(printed, "amend_slips", "agent", remark="客户要求修改成蓝色,已在发货单与快递单上修改妥当")
    assert done["status"] == "done"

    packed = request(world, "modify_address", "packed", order="TB-1002")
    assert world.do(packed, "retrieve_slips", "agent", status=422)["type"] == PROBLEMS + "guard-failed"
    world.do(packed, "retrieve_parcel", "agent")
    assert told(world, packed) == [("order_printer", "printer")]  # 「要求打单人员重新打单」
    wrong_branch = world.do(packed, "amend_slips", "agent", remark="客户要求修改成x,已在发货单与快递单上修改妥当",
                            status=422)
    assert wrong_branch["type"] == PROBLEMS + "guard-failed"
    for other in ("seller", "agent", "clerk"):
        refused = world.do(packed, "reprint", other, waybill_no="SF1234567890", status=403)
        assert refused["allowed_roles"] == ["order_printer"], other
    reprinted = world.do(packed, "reprint", "printer", waybill_no="SF1234567890")
    assert reprinted["status"] == "done" and reprinted["fields"]["waybill_no"] == "SF1234567890"


def test_cancellations_are_voided_or_held_back_then_refunded(world: ApiWorld) -> None:
    fresh = request(world, "cancel", "not_printed", details=None)
    assert world.do(fresh, "refund", "agent", amount="99.00", refund_ref="R1", status=422)["type"] == \
        PROBLEMS + "action-not-allowed"  # voided first
    assert told(world, fresh) == [("order_printer", "printer")]  # 「通知打单人员直接将此订单作废」
    for other in ("reviewer", "technician", "agent"):
        assert world.do(fresh, "void_order", other, status=403)["type"] == PROBLEMS + "forbidden", other
    world.do(fresh, "void_order", "printer")
    assert world.clock(fresh, "refund")["state"] == "running"
    world.do(fresh, "refund", "agent", amount="99.00", refund_ref="ZFB-778")
    assert world.do(fresh, "destroy_slips", "agent", status=422)["type"] == PROBLEMS + "guard-failed"
    assert world.do(fresh, "close", "agent")["status"] == "done"
    assert told(world, fresh) == [("order_printer", "printer")]  # nothing to restock
    assert world.clock(fresh, "refund")["state"] == "met"

    packed = request(world, "cancel", "packed", order="TB-2002", details=None)
    assert world.do(packed, "void_order", "printer", status=422)["type"] == PROBLEMS + "guard-failed"
    world.do(packed, "retrieve_parcel", "clerk")
    assert told(world, packed) == []  # a cancellation: no reprint
    world.do(packed, "refund", "agent", amount="199.00", refund_ref="ZFB-779")
    assert told(world, packed) == [("warehouse_clerk", "clerk")]  # 「直接交由仓库员入库」
    assert world.do(packed, "close", "agent", status=422)["type"] == PROBLEMS + "guard-failed"
    assert world.do(packed, "restock", "agent", status=403)["allowed_roles"] == ["warehouse_clerk"]
    assert world.do(packed, "restock", "clerk")["status"] == "done"


def test_a_shipped_order_goes_to_a_named_after_sale_agent(world: ApiWorld) -> None:
    case = request(world, "cancel", "shipped", details=None)
    assert world.do(case, "void_order", "printer", status=422)["type"] == PROBLEMS + "guard-failed"
    handed = world.do(case, "hand_to_after_sales", "agent", assignee="agent2")
    assert handed["status"] == "after_sales" and handed["assignee"] == "agent2"
    assert world.clock(case, "first_handling")["state"] == "met"
    other = world.do(case, "after_sales_done", "agent", outcome="x", status=403)
    assert other["type"] == PROBLEMS + "forbidden"
    done = world.do(case, "after_sales_done", "agent2", outcome="客户拒收,退回后退款")
    assert done["status"] == "done"


def test_one_open_request_per_order_and_details_required(world: ApiWorld) -> None:
    no_details = request(world, "modify_address", "not_printed", details=None, status=422)
    assert no_details["type"] == PROBLEMS + "invalid-fields" and no_details["errors"][0]["field"] == "details"
    first = request(world, "special_request", "not_printed", details="发票抬头:华南电子")
    second = request(world, "cancel", "not_printed", details=None, status=422)
    assert second["type"] == PROBLEMS + "duplicate" and second["other_case"]["number"] == first["number"]
    world.do(first, "withdraw", "agent", reason="客户不改了")
    assert request(world, "cancel", "not_printed", details=None)["status"] == "requested"


def test_an_order_left_unsafe_or_unrefunded_escalates_to_the_supervisor(world: ApiWorld) -> None:
    case = request(world, "cancel", "printed", details=None)
    world.advance(hours=2, minutes=1)
    assert world.app.record_breaches(case["id"]) == ["first_handling"]
    world.do(case, "retrieve_slips", "agent")
    world.advance(hours=24, minutes=1)
    assert world.app.record_breaches(case["id"]) == ["refund"]
    escalations = [(e["clock"], e["to_role"], e["to_staff"]) for e in world.show(case)["escalations"]]
    # the second breach on the same case goes one step up the ladder (to the department head)
    assert escalations == [("first_handling", "supervisor", "supervisor"), ("refund", "dept_head", "dept_head")]

"""membership_card (会员卡, 000 A§13) through the HTTP API, on both databases.

One card per household (「一户一卡」): a second application for the same
household address is a 422 ``duplicate`` naming the first card, until that
card is cancelled. A proxy application needs the proxy's name and ID number
(「否则不予办理」); a self application may leave the ID number empty and
supplement it later (it lands on the customer). A card is issued only once
the applicant has signed; only a supervisor rejects or cancels.
"""

from __future__ import annotations

from tests.api_support import ApiWorld

HOUSEHOLD = {"name": "王芳", "phone": "13800138000", "household_address": "幸福小区3栋2单元501"}


def test_one_card_per_household_until_it_is_cancelled(world: ApiWorld) -> None:
    card = world.open_view("membership_card", customer=HOUSEHOLD, fields={"signed": True})
    assert card["number"] == "HY-202611-0001" and card["status"] == "applied"
    again = world.open_view("membership_card", customer={**HOUSEHOLD, "name": "王强"}, status=422)
    assert again["type"].endswith("/duplicate") and again["other_case"]["number"] == card["number"]
    card = world.do(card, "issue", "agent")
    assert card["status"] == "issued"
    world.open_view("membership_card", customer=HOUSEHOLD, status=422)  # an issued card holds it too

    world.do(card, "cancel", "agent", status=403, reason="搬家")
    card = world.do(card, "cancel", "supervisor", reason="搬家")
    assert card["status"] == "cancelled"
    second = world.open_view("membership_card", customer=HOUSEHOLD)  # the household is free again
    assert second["status"] == "applied"


def test_a_proxy_needs_name_and_id_number_and_a_self_applicant_may_supplement_it(world: ApiWorld) -> None:
    proxy = world.open_view("membership_card", customer=HOUSEHOLD, status=422,
                            fields={"applicant": "proxy", "proxy_name": "王强"})
    assert [e["field"] for e in proxy["errors"]] == ["proxy_id_number"]
    bad = world.open_view("membership_card", customer=HOUSEHOLD, status=422,
                          fields={"applicant": "proxy", "proxy_name": "王强", "proxy_id_number": "110105194912310022"})
    assert [e["field"] for e in bad["errors"]] == ["fields.proxy_id_number"]  # a wrong GB 11643 check digit
    card = world.open_view("membership_card", customer=HOUSEHOLD,
                           fields={"applicant": "proxy", "proxy_name": "王强", "proxy_id_number": "11010519491231002X"})
    assert card["fields"]["applicant"] == "proxy"

    own = world.open_view("membership_card", customer={**HOUSEHOLD, "household_address": "幸福小区1栋101"})
    assert "id_number" not in own["customer"]  # 「可暂时空下此项」
    world.do(own, "issue", "agent", status=422)  # not signed yet
    own = world.do(own, "supplement_id", "agent", id_number="11010519491231002X")
    assert own["customer"]["id_number"] == "11010519491231002X"
    world.do(own, "supplement_id", "agent", status=422, id_number="123")
    world.do(own, "reject", "agent", status=403, reason="资料不全")
    assert world.do(own, "reject", "supervisor", reason="资料不全")["status"] == "rejected"

"""``GET /v1/staff`` and ``GET /v1/staff/{id}`` on both databases: who may read, filters, pages, 404s."""

from __future__ import annotations

import pytest

from api.staff import STAFF_READERS
from tests.api_support import ApiWorld
from tests.support import STAFF

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def listing(world: ApiWorld, by: str, query: str = "", status: int = 200) -> dict:
    return world.call("GET", f"/v1/staff{query}", by, status=status)


def test_admins_reviewers_and_supervisors_list_everyone_without_tokens(world: ApiWorld) -> None:
    page = listing(world, "admin", "?limit=500")
    assert page["next_cursor"] is None
    assert [m["id"] for m in page["items"]] == sorted(STAFF)
    supervisor = next(m for m in page["items"] if m["id"] == "supervisor")
    assert supervisor == {"id": "supervisor", "name": "Supervisor", "department": "cs", "roles": ["supervisor"],
                          "active": True}
    text = world.client.get("/v1/staff", headers=world.headers("admin")).text
    assert "token" not in text and not any(t in text for t in world.tokens.values())
    for who in ("reviewer", "supervisor", "dept_head", "sales_manager", "general_manager", "boss"):
        assert listing(world, who)["items"], who
    for who in ("agent", "technician", "importer"):
        r = world.client.get("/v1/staff", headers=world.headers(who))
        assert r.status_code == 403 and set(r.json()["allowed_roles"]) == STAFF_READERS, who
        assert world.client.get("/v1/staff/supervisor", headers=world.headers(who)).status_code == 403


def test_one_member_own_record_and_unknown_ids(world: ApiWorld) -> None:
    assert world.call("GET", "/v1/staff/technician", "dept_head", status=200)["department"] == "service"
    assert world.call("GET", "/v1/staff/agent", "agent", status=200)["id"] == "agent"  # one's own
    r = world.client.get("/v1/staff/nobody", headers=world.headers("admin"))
    assert r.status_code == 404 and "nobody" in r.json()["detail"]
    assert world.client.get("/v1/staff/agent?x=1", headers=world.headers("admin")).status_code == 400
    assert world.client.get("/v1/staff/agent").status_code == 401


def test_filters_and_changes_show_at_once(world: ApiWorld) -> None:
    cs = listing(world, "admin", "?department=cs")["items"]
    assert {m["id"] for m in cs} == {s for s, (dept, _) in STAFF.items() if dept == "cs"}
    managers = listing(world, "admin", "?role=general_manager")["items"]
    assert {m["id"] for m in managers} == {"general_manager", "boss"}
    assert listing(world, "admin", "?department=sales&role=general_manager")["items"][0]["id"] == "boss"
    assert listing(world, "admin", "?department=nowhere")["items"] == []
    r = world.client.get("/v1/staff?role=wizard", headers=world.headers("admin"))
    assert r.status_code == 400 and "wizard" in r.json()["detail"]
    for bad in ("?active=maybe", "?limit=0", "?limit=501", "?colour=red", "?role=", "?cursor=" + "x" * 101):
        assert world.client.get(f"/v1/staff{bad}", headers=world.headers("admin")).status_code == 400, bad
    for meaningless in ("%%%", "0", "_-_-"):
        r = world.client.get(f"/v1/staff?cursor={meaningless}", headers=world.headers("admin"))
        assert r.status_code == 422 and "cursor" in r.json()["detail"], meaningless

    world.app.deactivate_staff("agent2")
    world.app.update_staff("technician2", department="cs")
    world.app.register_staff("newbie", "Newbie", "cs", ["agent"])
    assert [m["id"] for m in listing(world, "admin", "?active=false")["items"]] == ["agent2"]
    assert "agent2" not in {m["id"] for m in listing(world, "admin", "?active=true&limit=500")["items"]}
    cs_now = {m["id"] for m in listing(world, "admin", "?department=cs")["items"]}
    assert {"technician2", "newbie"} <= cs_now


def test_pages_follow_the_cursor_to_the_end(world: ApiWorld) -> None:
    seen: list[str] = []
    query = "?limit=3"
    while True:
        page = listing(world, "supervisor", query)
        assert len(page["items"]) <= 3
        seen += [m["id"] for m in page["items"]]
        if page["next_cursor"] is None:
            break
        query = f"?limit=3&cursor={page['next_cursor']}"
    assert seen == sorted(STAFF)

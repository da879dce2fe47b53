"""Case lists the second edition asks for (API.md), over HTTP with the background workers, on both databases.

Comma-separated values for ``type``, ``status``, ``assignee`` and ``department``
match any of them; ``q`` searches numbers and titles; ``sort`` orders by
opening, update or next deadline, in pages that neither repeat nor skip;
an unknown type, state or staff member is a 400 naming it (never an empty
list).
"""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from api.app import create_app
from projections.workers import start_background
from tests.support import World


@pytest.fixture
def client(database_url: str) -> Any:
    world = World(database_url)
    opened = []
    for i in range(3):
        opened.append(world.open("inquiry", title=f"咨询 {i} 发票"))
        world.advance(minutes=1)
    opened.append(world.open("complaint", title="包裹破损"))
    world.advance(minutes=5)
    world.act(opened[0], "answer", "agent", {"answer": "已答复"})
    tokens = {s: world.app.issue_token(s) for s in ("agent", "supervisor")}
    stop = start_background(database_url, sla_interval=0, poll_seconds=0.05)
    with TestClient(create_app(world.app, configure_logs=False)) as http:
        http.tokens = tokens  # type: ignore[attr-defined]
        http.numbers = [c.number for c in opened]  # type: ignore[attr-defined]
        head = world.app.recorder.max_notification_id()
        assert get(http, f"/v1/cases?min_position={head}").status_code == 200
        yield http
    stop()
    world.app.close()


def get(http: Any, path: str) -> Any:
    return http.get(path, headers={"Authorization": f"Bearer {http.tokens['agent']}"})


def numbers(http: Any, query: str) -> list[str]:
    r = get(http, f"/v1/cases?{query}")
    assert r.status_code == 200, r.text
    return [c["number"] for c in r.json()["items"]]


def test_multi_value_filters_search_and_sort(client: Any) -> None:
    inquiries, complaint = client.numbers[:3], client.numbers[3]
    assert set(numbers(client, "type=inquiry,complaint&limit=500")) >= {*inquiries, complaint}
    assert set(numbers(client, "type=complaint")) == {complaint}
    assert numbers(client, "type=inquiry&status=answered") == [inquiries[0]]
    assert set(numbers(client, "type=inquiry&status=answered,registered")) == set(inquiries)
    assert set(numbers(client, "q=发票")) == set(inquiries)
    assert numbers(client, f"q={inquiries[1].lower()}") == [inquiries[1]]  # numbers match in any case
    assert numbers(client, "q=100%25") == []  # LIKE wildcards are searched for, not expanded
    oldest_first = numbers(client, "type=inquiry&sort=opened_at")
    assert oldest_first == inquiries
    assert numbers(client, "type=inquiry&sort=-opened_at") == inquiries[::-1]
    assert numbers(client, "type=inquiry&sort=-updated_at")[0] == inquiries[0]  # the one answered last
    seen, cursor = [], ""
    while True:  # pages of one in deadline order: every case once
        page = get(client, f"/v1/cases?type=inquiry,complaint&sort=due_at&limit=1{cursor}").json()
        seen += [c["number"] for c in page["items"]]
        if not page["next_cursor"]:
            break
        cursor = f"&cursor={page['next_cursor']}"
    assert sorted(seen) == sorted({*inquiries, complaint, *seen}) and len(seen) == len(set(seen))


@pytest.mark.parametrize("query, needle", [
    ("type=complaint,complain", "unknown case type 'complain'"),
    ("status=evaporated", "'evaporated' is not a state of any case type"),
    ("type=inquiry&status=replied,nowhere", "'nowhere' is not a state of any case type"),
    ("assignee=nobody", "unknown staff member 'nobody'"),
    ("escalated_to=nobody", "unknown staff member 'nobody'"),
    ("sort=colour", "sort must be one of"),
])
def test_an_unknown_filter_value_is_a_400_naming_it(client: Any, query: str, needle: str) -> None:
    r = get(client, f"/v1/cases?{query}")
    assert r.status_code == 400 and needle in r.json()["detail"], r.text

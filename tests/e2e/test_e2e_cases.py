"""End to end through a real server: a complaint from registration to closed,
reads as of a version or a time, history, the event feed (JSON, msgpack,
server-sent events), idempotent retries, conditional writes racing."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import msgpack

from tests.e2e.conftest import CUSTOMER, Server


def act(server: Server, by: str, case_id: str, action: str, body: dict[str, Any] | None = None,
        **headers: str) -> httpx.Response:
    return server[by].post(f"/v1/cases/{case_id}/actions/{action}", json=body or {}, headers=headers)


def ok(r: httpx.Response) -> dict[str, Any]:
    assert r.status_code in (200, 201), r.text
    return r.json()


def test_complaint_goes_from_registered_to_closed_with_its_return_visit(server: Server) -> None:
    r = server["agent"].post("/v1/cases", json={
        "type": "complaint", "title": "包裹破损", "customer": CUSTOMER,
        "fields": {"description": "外包装破损", "channel": "phone"}})
    case = ok(r)
    cid = case["id"]
    assert r.status_code == 201 and r.headers["location"] == f"/v1/cases/{cid}"
    assert r.headers["etag"] == '"1"' and int(r.headers["x-casetrail-position"]) > 0
    assert case["status"] == "registered" and case["number"].startswith("TS-")
    assert set(case["allowed_actions"]) >= {"classify", "log_contact"}

    positions = [int(r.headers["x-casetrail-position"])]
    steps = [
        ("agent", "classify", {"category": "valid", "severity": "general"}),
        ("supervisor", "assign", {"assignee": "agent"}),
        ("agent", "start_investigation", {}),
        ("agent", "log_contact", {"channel": "phone", "summary": "已致电客户"}),
        ("agent", "propose_resolution", {"resolution": "退款"}),
        ("supervisor", "approve_resolution", {}),
        ("agent", "reply_customer", {"reply": "已退款"}),
    ]
    for by, action, body in steps:
        r = act(server, by, cid, action, body)
        case = ok(r)
        assert r.headers["etag"] == f'"{case["version"]}"'
        positions.append(int(r.headers["x-casetrail-position"]))
        if action == "classify":
            time.sleep(0.01)
            before_assign = datetime.now(UTC)
            time.sleep(0.01)
    assert positions == sorted(positions) and len(set(positions)) == len(positions)
    assert case["status"] == "replied"
    visit_id = next(x["case_id"] for x in case["links"] if x["rel"] == "return_visit")

    # close is refused until the return visit is recorded (guard), with what is allowed instead
    r = act(server, "supervisor", cid, "close")
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    visit = ok(act(server, "agent", visit_id, "record_outcome", {"result": "satisfied", "score": 5}))
    assert visit["status"] == "done"
    closed = ok(act(server, "supervisor", cid, "close"))
    assert closed["status"] == "closed"

    # reads: now, at a version, as of a time; reading changes nothing
    r = server["reviewer"].get(f"/v1/cases/{cid}")
    assert ok(r)["version"] == closed["version"] and r.headers["etag"] == f'"{closed["version"]}"'
    assert r.json()["allowed_actions"] == []  # a reviewer may act on nothing
    v1 = ok(server["reviewer"].get(f"/v1/cases/{cid}", params={"version": 1}))
    assert v1["status"] == "registered" and v1["version"] == 1
    then = ok(server["reviewer"].get(f"/v1/cases/{cid}", params={"as_of": before_assign.isoformat()}))
    assert then["status"] == "registered" and then["fields"]["category"] == "valid" and then["version"] == 2
    z = before_assign.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert ok(server["reviewer"].get(f"/v1/cases/{cid}", params={"as_of": z}))["version"] == then["version"]
    assert ok(server["reviewer"].get(f"/v1/cases/{cid}"))["version"] == closed["version"]

    history = ok(server["reviewer"].get(f"/v1/cases/{cid}/history"))["items"]
    assert [e["version"] for e in history] == list(range(1, closed["version"] + 1))
    assert history[0]["type"] == "Opened" and history[0]["actor"] == "agent" and history[0]["roles"] == ["agent"]
    assert all(e["prev_hash"] == p["hash"] for p, e in zip(history, history[1:]))
    assert {"LinkAdded", "LinkedOutcomeRecorded"} <= {e["type"] for e in history}


def test_event_feed_pages_msgpack_and_server_sent_events(server: Server) -> None:
    first = server.open_case()
    second = server.open_case()
    feed = ok(server["reviewer"].get("/v1/events", params={"after": 0, "limit": 500}))
    ids = [e["case_id"] for e in feed["items"]]
    assert ids == [first["id"], second["id"]]  # case events only, in commit order
    assert feed["last_position"] == feed["items"][-1]["position"]
    assert feed["items"][0]["type"] == "Opened" and feed["items"][0]["aggregate_id"] == first["id"]
    page = ok(server["reviewer"].get("/v1/events", params={"after": feed["items"][0]["position"]}))
    assert [e["case_id"] for e in page["items"]] == [second["id"]]
    empty = ok(server["reviewer"].get("/v1/events", params={"after": feed["last_position"]}))
    assert empty == {"items": [], "last_position": feed["last_position"]}

    r = server["reviewer"].get("/v1/events", headers={"Accept": "application/msgpack"})
    assert r.headers["content-type"] == "application/msgpack"
    assert msgpack.unpackb(r.content) == ok(server["reviewer"].get("/v1/events"))

    # server-sent events: the backlog, then an event written while streaming, then the stream ends
    received: list[dict[str, Any]] = []
    done = threading.Event()

    def listen() -> None:
        with server["reviewer"].stream("GET", "/v1/events", params={"after": 0, "max_duration": 3},
                                       headers={"Accept": "text/event-stream"}) as s:
            assert s.headers["content-type"].startswith("text/event-stream")
            event: dict[str, Any] = {}
            for line in s.iter_lines():
                if line.startswith("id: "):
                    event["id"] = int(line[4:])
                elif line.startswith("data: "):
                    event["data"] = json.loads(line[6:])
                elif line == "" and event:
                    received.append(event)
                    event = {}
        done.set()

    t = threading.Thread(target=listen)
    started = time.monotonic()
    t.start()
    time.sleep(1)
    third = server.open_case()
    t.join(timeout=15)
    assert done.is_set() and time.monotonic() - started < 10
    assert [e["data"]["case_id"] for e in received] == [first["id"], second["id"], third["id"]]
    assert [e["id"] for e in received] == [e["data"]["position"] for e in received]


def test_msgpack_in_and_out(server: Server) -> None:
    mp = {"Content-Type": "application/msgpack", "Accept": "application/msgpack"}
    body = msgpack.packb({"type": "complaint", "title": "msgpack", "customer": CUSTOMER})
    r = server["agent"].post("/v1/cases", content=body, headers=mp)
    assert r.status_code == 201 and r.headers["content-type"] == "application/msgpack"
    case = msgpack.unpackb(r.content)
    as_json = ok(server["agent"].get(f"/v1/cases/{case['id']}"))
    assert case == as_json
    r = server["agent"].post(f"/v1/cases/{case['id']}/actions/classify", headers=mp,
                             content=msgpack.packb({"category": "valid", "expected_version": 1}))
    assert r.status_code == 200 and msgpack.unpackb(r.content)["fields"]["category"] == "valid"
    r = server["agent"].post(f"/v1/cases/{case['id']}/actions/classify", headers=mp,
                             content=msgpack.packb({"category": "nonsense"}))
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+msgpack"
    problem = msgpack.unpackb(r.content)
    assert problem["status"] == 422 and problem["errors"][0]["field"] == "category"
    r = server["agent"].post("/v1/cases", content=b"\xc1\xc1", headers=mp)
    assert r.status_code == 400 and msgpack.unpackb(r.content)["status"] == 400


def test_idempotent_retries_record_one_event(server: Server) -> None:
    key = {"Idempotency-Key": "open-7f3a"}
    body = {"type": "complaint", "title": "重复提交", "customer": CUSTOMER}
    first = server["agent"].post("/v1/cases", json=body, headers=key)
    again = server["agent"].post("/v1/cases", json=body, headers=key)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
    assert again.headers["etag"] == first.headers["etag"]
    cid = first.json()["id"]
    feed = ok(server["reviewer"].get("/v1/events"))["items"]
    assert [e["case_id"] for e in feed] == [cid]  # one case opened, not two

    key = {"Idempotency-Key": "classify-1"}
    a = act(server, "agent", cid, "classify", {"category": "valid"}, **key)
    b = act(server, "agent", cid, "classify", {"category": "valid"}, **key)
    assert a.status_code == b.status_code == 200 and a.json() == b.json()
    assert len(ok(server["reviewer"].get(f"/v1/cases/{cid}/history"))["items"]) == 2
    # a later action does not change what the retry answers
    ok(act(server, "supervisor", cid, "assign", {"assignee": "agent"}))
    c = act(server, "agent", cid, "classify", {"category": "valid"}, **key)
    assert c.status_code == 200 and c.json()["version"] == 2
    # same key, different body
    d = act(server, "agent", cid, "classify", {"category": "communicative"}, **key)
    assert d.status_code == 422 and "idempotency" in d.json()["type"]
    # keys are per caller: another agent's same key is a new request
    e = act(server, "agent2", cid, "classify", {"category": "valid"}, **key)
    assert e.status_code == 200 and e.json()["version"] == 4


def test_conditional_writes_race_exactly_one_wins(server: Server) -> None:
    for round_ in range(5):
        case = server.open_case()
        barrier = threading.Barrier(2)
        results: list[httpx.Response] = []

        def write(by: str) -> None:
            barrier.wait()
            results.append(act(server, by, case["id"], "log_contact",
                               {"channel": "phone", "summary": f"round {round_}"}, **{"If-Match": '"1"'}))

        threads = [threading.Thread(target=write, args=(who,)) for who in ("agent", "agent2")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        codes = sorted(r.status_code for r in results)
        assert codes == [200, 409], [r.text for r in results]
        loser = next(r for r in results if r.status_code == 409)
        assert loser.json()["current_version"] == 2
        assert ok(server["agent"].get(f"/v1/cases/{case['id']}"))["version"] == 2

    # without a condition, concurrent writes are all applied (the server retries internally)
    case = server.open_case()
    barrier = threading.Barrier(4)
    codes: list[int] = []

    def log(i: int) -> None:
        barrier.wait()
        codes.append(act(server, "agent", case["id"], "log_contact", {"channel": "phone", "summary": str(i)})
                     .status_code)

    threads = [threading.Thread(target=log, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert codes == [200] * 4
    assert ok(server["agent"].get(f"/v1/cases/{case['id']}"))["version"] == 5


def test_request_ids_are_echoed_or_made(server: Server) -> None:
    r = server["agent"].get("/v1/case-types", headers={"X-Request-ID": "req-abc.123"})
    assert r.headers["x-request-id"] == "req-abc.123"
    r = server["agent"].get("/v1/case-types", headers={"X-Request-ID": "bad id with spaces"})
    assert r.headers["x-request-id"] != "bad id with spaces" and len(r.headers["x-request-id"]) == 32
    r = httpx.get(f"{server.url}/v1/cases/{'0' * 8}-0000-0000-0000-{'0' * 12}", headers={"X-Request-ID": "r-401"})
    assert r.status_code == 401 and r.json()["request_id"] == "r-401" and r.headers["x-request-id"] == "r-401"


def test_reviewer_reads_everything_and_writes_nothing(server: Server) -> None:
    case = server.open_case()
    cid = case["id"]
    for path in (f"/v1/cases/{cid}", f"/v1/cases/{cid}?version=1", f"/v1/cases/{cid}/history",
                 f"/v1/cases/{cid}?as_of={(datetime.now(UTC) + timedelta(seconds=1)).isoformat()}",
                 "/v1/case-types", "/v1/case-types/complaint", "/v1/events"):
        assert server["reviewer"].get(path).status_code == 200, path
    r = server["reviewer"].post("/v1/cases", json={"type": "complaint", "title": "x", "customer": CUSTOMER})
    assert r.status_code == 403
    for action in ("classify", "assign", "reject", "correct_field", "no_such_action"):
        assert act(server, "reviewer", cid, action, {}).status_code == 403
    assert ok(server["agent"].get(f"/v1/cases/{cid}"))["version"] == 1

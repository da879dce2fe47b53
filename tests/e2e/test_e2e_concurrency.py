"""Many clients on one case at once, through a real server, on SQLite and PostgreSQL.

The contract (``api/cases.py``, ``CaseTrail.act``):

- a conditional write (``expected_version`` in the body or ``If-Match``)
  applies only to that version: of the clients that read the same version,
  exactly one wins and every other one gets a 409 problem document carrying
  ``current_version``;
- an unconditional write applies to the latest version: the server retries
  internally, so every one of them is applied, one version each;
- a technician's ``accept`` of a repair order is won by exactly one
  technician; every other one gets 409 ``already-taken``;
- cases opened at once each get their own number; one request retried at
  once under one ``Idempotency-Key`` is recorded once and replayed to the rest.

Never a 5xx. Afterwards the history holds each accepted write exactly once
(each request carries a unique marker) and no refused one, and the case
rebuilt from its events (``?version=``, and in-process after the server
stopped) is the case the server shows. The last test runs the same race
without HTTP in between, on as many threads as the server runs the
application in: this process's writers of one case queue (``domain.storage.locks``)
rather than collide on the stored version and run out of retries.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from eventsourcing.persistence import IntegrityError

from domain.application import CaseTrail
from domain.audit.verification import verify
from tests.e2e.conftest import CUSTOMER, Server

CLIENTS = 64
ROUNDS = 3  # conditional attempts per client: each retries on the version its 409 names
SERVER_THREADS = 40  # the server runs the application in anyio's worker threads (40 by default)


@dataclass
class Reply:
    status: int
    content_type: str
    etag: str | None
    body: Any
    marker: str

    @classmethod
    def of(cls, r: httpx.Response, marker: str) -> Reply:
        try:
            body = r.json()
        except ValueError:
            body = r.text
        return cls(r.status_code, r.headers.get("content-type", ""), r.headers.get("etag"), body, marker)


Work = Callable[[int, httpx.Client, threading.Barrier], list[Reply]]


def together(n: int, work: Work, tokens: list[str], url: str) -> list[Reply]:
    """Run ``work(i, client, barrier)`` in ``n`` threads, each with its own client; ``work``
    waits on the barrier so that all fire together."""
    barrier = threading.Barrier(n)
    replies: list[list[Reply]] = [[] for _ in range(n)]
    errors: list[BaseException] = []

    def run(i: int) -> None:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {tokens[i]}"}, timeout=60) as client:
            try:
                replies[i] = work(i, client, barrier)
            except BaseException as e:  # noqa: BLE001 - reported below
                errors.append(e)
                barrier.abort()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a client thread hung"
    assert not errors, errors
    return [r for rs in replies for r in rs]


def tally(replies: list[Reply]) -> Counter[str]:
    return Counter("2xx" if 200 <= r.status < 300 else str(r.status) for r in replies)


def assert_conflict(r: Reply, kind: str = "version-conflict") -> None:
    assert r.status == 409, (r.status, r.body)
    assert r.content_type.startswith("application/problem+json"), r.content_type
    assert r.body["status"] == 409 and r.body["type"].endswith("/" + kind), r.body
    assert isinstance(r.body["current_version"], int), r.body


def markers_in(history: list[dict[str, Any]]) -> Counter[str]:
    return Counter(e["data"]["data"]["summary"] for e in history
                   if e["type"] == "ActionTaken" and e["data"]["action"] == "log_contact")


def check_replays(server: Server, case_id: str, accepted: int) -> dict[str, Any]:
    """History has 1 + accepted versions; the case now equals the case rebuilt at its latest version."""
    history = server["agent"].get(f"/v1/cases/{case_id}/history").json()["items"]
    assert [e["version"] for e in history] == list(range(1, accepted + 2))
    now = server["agent"].get(f"/v1/cases/{case_id}")
    assert now.status_code == 200 and now.json()["version"] == accepted + 1
    rebuilt = server["agent"].get(f"/v1/cases/{case_id}", params={"version": accepted + 1})
    assert rebuilt.status_code == 200 and rebuilt.json() == now.json()
    return now.json()


def in_process_view(database_url: str, case_id: str, staff_id: str) -> dict[str, Any]:
    """The case as a fresh application rebuilds it from the stored events, as the API shows it."""
    app = CaseTrail.from_url(database_url)
    try:
        report = verify(app, case_id)  # its hash chain (and any snapshot) is intact
        assert report.ok and report.events_checked > 0, report.as_dict()
        case = app.get_case(case_id)
        view = case.view(app.registry.get(case.case_type), app.get_staff(staff_id).as_actor())
        return json.loads(json.dumps(view, ensure_ascii=False, default=str))  # as the API encodes it
    finally:
        app.close()


def stop(server: Server) -> None:
    """Stop the server (its events stay in the database); it never failed a request."""
    server.process.terminate()
    server.process.wait(timeout=20)
    assert "unhandled error" not in server.log_text()


def test_conditional_writes_from_64_clients_one_winner_per_version(server: Server) -> None:
    case_id = server.open_case()["id"]
    tokens = [server.tokens["agent" if i % 2 else "agent2"] for i in range(CLIENTS)]

    def work(i: int, client: httpx.Client, barrier: threading.Barrier) -> list[Reply]:
        version = client.get(f"/v1/cases/{case_id}").json()["version"]  # read before the race
        out: list[Reply] = []
        barrier.wait()
        for attempt in range(ROUNDS):
            marker = f"c{i:02d}-a{attempt}"
            body: dict[str, Any] = {"channel": "phone", "summary": marker}
            headers = {}
            if i % 2:  # half say it in the body, half in If-Match
                body["expected_version"] = version
            else:
                headers["If-Match"] = f'"{version}"'
            r = Reply.of(client.post(f"/v1/cases/{case_id}/actions/log_contact", json=body, headers=headers), marker)
            out.append(r)
            if r.status == 409 and isinstance(r.body, dict) and "current_version" in r.body:
                assert r.body["current_version"] > version, (version, r.body)
                version = r.body["current_version"]
            elif r.status == 200:
                version = r.body["version"]
        return out

    replies = together(CLIENTS, work, tokens, server.url)
    counts = tally(replies)
    print(f"\nconditional: {len(replies)} requests: {dict(counts)}")
    won = [r for r in replies if r.status == 200]
    for r in replies:
        assert r.status < 500, (r.status, r.body)
        if r.status != 200:
            assert_conflict(r)
    assert set(counts) <= {"2xx", "409"}
    # all 64 read version 1 before any of them wrote: exactly one of their first attempts won
    assert sum(r.status == 200 for r in replies if r.marker.endswith("-a0")) == 1
    versions = [r.body["version"] for r in won]
    assert [r.etag for r in won] == [f'"{v}"' for v in versions]
    # exactly the first wins per version: every version from 2 on was won by exactly one client
    assert sorted(versions) == list(range(2, len(won) + 2)), sorted(versions)
    assert len(won) >= ROUNDS  # each round of the race has at least one winner

    now = check_replays(server, case_id, len(won))
    history = server["agent"].get(f"/v1/cases/{case_id}/history").json()["items"]
    assert markers_in(history) == Counter(r.marker for r in won)  # each accepted once, no refused one
    by_version = {e["version"]: e["data"]["data"]["summary"] for e in history[1:]}
    assert by_version == {r.body["version"]: r.marker for r in won}
    stop(server)
    assert in_process_view(server.database_url, case_id, "agent") == now


def test_unconditional_writes_from_64_clients_are_all_applied(server: Server) -> None:
    case_id = server.open_case()["id"]
    tokens = [server.tokens["agent" if i % 2 else "agent2"] for i in range(CLIENTS)]

    def work(i: int, client: httpx.Client, barrier: threading.Barrier) -> list[Reply]:
        barrier.wait()
        out = []
        for n in range(2):  # 128 writes: the case passes a snapshot (every 100 events) under the race
            marker = f"u{i:02d}-{n}"
            r = client.post(f"/v1/cases/{case_id}/actions/log_contact", json={"channel": "phone", "summary": marker})
            out.append(Reply.of(r, marker))
        return out

    replies = together(CLIENTS, work, tokens, server.url)
    counts = tally(replies)
    print(f"\nunconditional: {len(replies)} requests: {dict(counts)}")
    assert counts == {"2xx": 2 * CLIENTS}, [(r.status, r.body) for r in replies if r.status != 200]
    versions = sorted(r.body["version"] for r in replies)
    assert versions == list(range(2, 2 * CLIENTS + 2))
    assert all(r.etag == f'"{r.body["version"]}"' for r in replies)

    now = check_replays(server, case_id, 2 * CLIENTS)
    history = server["agent"].get(f"/v1/cases/{case_id}/history").json()["items"]
    assert markers_in(history) == Counter(r.marker for r in replies)
    stop(server)
    assert in_process_view(server.database_url, case_id, "agent") == now


def test_64_technicians_race_to_accept_one_repair_order(server: Server) -> None:
    app = CaseTrail.from_url(server.database_url)  # staff registered while the server runs
    try:
        names = [f"tech{i:02d}" for i in range(CLIENTS)]
        for name in names:
            app.register_staff(name, f"Technician {name}", "service", ["technician"])
        tokens = [app.issue_token(name) for name in names]
    finally:
        app.close()
    case = server.open_case("repair_order", title="空调不制冷", fields={"device": "空调", "fault": "不制冷"})
    assert case["status"] == "open" and case["version"] == 1
    case_id = case["id"]

    def work(i: int, client: httpx.Client, barrier: threading.Barrier) -> list[Reply]:
        barrier.wait()
        return [Reply.of(client.post(f"/v1/cases/{case_id}/actions/accept", json={}), names[i])]

    replies = together(CLIENTS, work, tokens, server.url)
    counts = tally(replies)
    print(f"\naccept race: {len(replies)} requests: {dict(counts)}")
    assert counts == {"2xx": 1, "409": CLIENTS - 1}, counts
    winner = next(r for r in replies if r.status == 200)
    assert winner.body["assignee"] == winner.marker and winner.body["status"] == "accepted"
    assert winner.body["version"] == 2 and winner.etag == '"2"'
    for r in replies:
        if r is not winner:
            assert_conflict(r, "already-taken")
            assert r.body["current_version"] == 2
            assert winner.marker in r.body["detail"]

    now = check_replays(server, case_id, 1)
    assert now["assignee"] == winner.marker and now["status"] == "accepted"
    history = server["agent"].get(f"/v1/cases/{case_id}/history").json()["items"]
    accepts = [e for e in history if e["type"] == "ActionTaken" and e["data"]["action"] == "accept"]
    assert len(accepts) == 1 and accepts[0]["actor"] == winner.marker
    stop(server)
    assert in_process_view(server.database_url, case_id, "agent") == now



def test_64_clients_open_cases_at_once_each_gets_its_own_number(server: Server) -> None:
    tokens = [server.tokens["agent" if i % 2 else "agent2"] for i in range(CLIENTS)]

    def work(i: int, client: httpx.Client, barrier: threading.Barrier) -> list[Reply]:
        barrier.wait()
        r = client.post("/v1/cases", json={"type": "complaint", "title": f"o{i:02d}",
                                           "customer": {"id": f"C-{i}", "name": "王先生"}})
        return [Reply.of(r, f"o{i:02d}")]

    replies = together(CLIENTS, work, tokens, server.url)
    counts = tally(replies)
    print(f"\nopens: {len(replies)} requests: {dict(counts)}")
    assert counts == {"2xx": CLIENTS}, [(r.status, r.body) for r in replies if r.status != 201]
    numbers = sorted(r.body["number"] for r in replies)
    assert len(set(numbers)) == CLIENTS
    stop(server)


def test_64_clients_retrying_one_request_with_one_idempotency_key_record_it_once(server: Server) -> None:
    case_id = server.open_case()["id"]
    tokens = [server.tokens["agent"]] * CLIENTS  # the key belongs to one staff member

    def work(i: int, client: httpx.Client, barrier: threading.Barrier) -> list[Reply]:
        barrier.wait()
        r = client.post(f"/v1/cases/{case_id}/actions/log_contact", json={"channel": "phone", "summary": "same"},
                        headers={"Idempotency-Key": "the-one-retry"})
        out = Reply.of(r, r.headers.get("idempotent-replayed", "original"))
        return [out]

    replies = together(CLIENTS, work, tokens, server.url)
    counts = tally(replies)
    print(f"\nidempotent: {len(replies)} requests: {dict(counts)}")
    assert counts == {"2xx": CLIENTS}, [(r.status, r.body) for r in replies if r.status != 200]
    assert Counter(r.marker for r in replies) == {"original": 1, "true": CLIENTS - 1}
    assert {r.body["version"] for r in replies} == {2}
    check_replays(server, case_id, 1)
    stop(server)


def test_the_servers_worker_threads_never_collide_on_one_case(database_url: str) -> None:
    """The race behind the server, without HTTP in between: as many threads as the server
    runs the application in, all writing one case (and opening cases of one number
    series). Each command is applied; none is refused for having lost too many retries,
    because this process's writers of one case queue (domain/locks.py) instead of
    colliding on the stored version."""
    app = CaseTrail.from_url(database_url)
    collisions = Counter[str]()
    save = app.save

    def counting_save(*objs: Any, **kwargs: Any) -> Any:
        try:
            return save(*objs, **kwargs)
        except IntegrityError:
            collisions["save"] += 1
            raise

    app.save = counting_save  # type: ignore[method-assign]
    try:
        app.register_staff("agent", "Agent", "cs", ["agent"])
        actor = app.get_staff("agent").as_actor()
        case_id = app.open_case(actor, "complaint", "hot", CUSTOMER).id
        per_thread = 15
        barrier = threading.Barrier(SERVER_THREADS)
        refused: list[str] = []

        def work(i: int) -> None:
            barrier.wait()
            for n in range(per_thread):
                try:
                    app.act(actor, case_id, "log_contact", {"channel": "phone", "summary": f"t{i}-{n}"})
                    app.open_case(actor, "complaint", f"t{i}-{n}", CUSTOMER)
                except Exception as e:  # noqa: BLE001 - what matters is that none happens
                    refused.append(f"{type(e).__name__}: {e}")

        threads = [threading.Thread(target=work, args=(i,)) for i in range(SERVER_THREADS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        writes = SERVER_THREADS * per_thread
        print(f"\nin-process: {2 * writes} commands, refused {len(refused)}, collisions {dict(collisions)}")
        assert not refused, refused[:5]
        history = app.case_history(case_id)
        assert [e["version"] for e in history] == list(range(1, writes + 2))
        assert markers_in(history) == Counter(f"t{i}-{n}" for i in range(SERVER_THREADS) for n in range(per_thread))
        assert collisions == {}  # before domain/locks.py: hundreds, and now and then a refusal
    finally:
        app.close()

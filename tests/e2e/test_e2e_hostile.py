"""End to end: hostile input against a real server, JSON and msgpack alike.

Data-driven tables of malformed bodies (truncated, invalid bytes, msgpack
ext types and odd map keys, bin for str, huge integers, 10k-deep nesting),
wrong types for each field, unknown fields, oversized strings, NUL and lone
surrogates, odd paths and ids, out-of-range times, repeated and huge query
parameters, forged cursors, lying or missing lengths and header tricks.
Every answer must be a 4xx problem document in the format the client asked
for (never a 5xx), and after every refused request the event store must be
exactly as before (row count and highest notification id, read straight from
the database). Unusual but valid text (RTL, emoji, control characters,
SQL-looking strings) is accepted and stored verbatim, in the events and in
the read models. Requests that break HTTP itself (a CR in a header, two
Content-Lengths) are refused by the HTTP server before the app sees them:
those get uvicorn's plain 400, asserted as a 4xx with the store unchanged.
"""

from __future__ import annotations

import base64
import json
import socket
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import msgpack
import psycopg
import pytest

from projections.workers import start_background
from tests.e2e.conftest import CUSTOMER, Server

JSON, MSGPACK = "application/json", "application/msgpack"
SQL = "'; DROP TABLE casetrail_events; --"
OPEN = {"type": "complaint", "title": "包裹破损", "customer": CUSTOMER}
ORDER = {"type": "order_approval", "customer": {"id": "K-1", "name": "李记"},
         "fields": {"amount": "30000.00", "payment_terms": "cash"}}  # valid as it stands
P = msgpack.packb


class Store:
    """The event table, read directly: (rows, highest notification id)."""

    def __init__(self, url: str) -> None:
        if url.startswith("sqlite"):
            self.db: Any = sqlite3.connect(url[len("sqlite:///"):], isolation_level=None)
            self.sql = "SELECT count(*), coalesce(max(rowid), 0) FROM stored_events"
        else:
            self.db = psycopg.connect(url, autocommit=True)
            self.sql = "SELECT count(*), coalesce(max(notification_id), 0) FROM casetrail_events"

    def state(self) -> tuple[int, int]:
        return tuple(self.db.execute(self.sql).fetchone())  # type: ignore[return-value]


@pytest.fixture
def env(server: Server) -> Iterator[tuple[Server, Store, str]]:
    store = Store(server.database_url)
    case_id = server.open_case()["id"]
    yield server, store, case_id
    store.db.close()


@contextmanager
def unchanged(store: Store, what: Any) -> Iterator[None]:
    before = store.state()
    yield
    assert store.state() == before, f"{what}: a refused request changed the event store"


def problem(r: httpx.Response, status: int, what: Any, media: str = JSON) -> dict[str, Any]:
    assert r.status_code == status, (what, r.status_code, r.text[:300])
    expected = "application/problem+msgpack" if media == MSGPACK else "application/problem+json"
    assert r.headers["content-type"] == expected, (what, r.headers["content-type"])
    doc = msgpack.unpackb(r.content) if media == MSGPACK else r.json()
    assert doc["status"] == status and {"type", "title", "detail"} <= set(doc), what
    return doc


def post(server: Server, path: str, content: bytes, media: str, **headers: str) -> httpx.Response:
    return server["agent"].post(path, content=content, headers={"Content-Type": media, "Accept": media, **headers})


def encode(body: Any, media: str) -> bytes:
    return P(body, use_bin_type=True) if media == MSGPACK else json.dumps(body).encode()


# ------------------------------------------------------------------ tables
# Bodies sent both as JSON and as msgpack: (what, "open" | "act", body, status).
WRONG_TYPES = {
    "type": [7, 1.5, True, None, [], {}, "", SQL],
    "title": [42, 1.5, True, None, ["x"], {"a": 1}, "", "   ", 2**64 - 1, -2**63],
    "customer": ["C-1", 42, [], None, {}, {"id": 1, "name": "n"}, {"id": "C", "name": ["n"]}],
    "fields": ["x", 42, [1], True, {"colour": "red"}, {"severity": 3}, {"severity": None, "x": {}}],
    "channel": [42, [], {}, True, "x" * 501],
    "occurred_at": [42, [], {}, "", "March", "2026-01-01T00:00:00"],
}
BODIES: list[tuple[str, str, Any, int]] = [
    *[(f"open {key}={bad!r:.30}", "open", {**OPEN, key: bad}, 422) for key, bads in WRONG_TYPES.items()
      for bad in bads],
    ("unknown top-level field", "open", {**OPEN, "colour": "red"}, 422),
    ("unknown customer field", "open", {**OPEN, "customer": {**CUSTOMER, "vip": True}}, 422),
    ("body is a list", "open", [OPEN], 422), ("body is a string", "open", "complaint", 422),
    ("body is a number", "open", 42, 422), ("body is null", "open", None, 422), ("body is true", "open", True, 422),
    ("title of 201 characters", "open", {**OPEN, "title": "x" * 201}, 422),
    ("title of 100k characters", "open", {**OPEN, "title": "标" * 100_000}, 422),
    ("description of 20001 characters", "open", {**OPEN, "fields": {"description": "x" * 20_001}}, 422),
    ("customer name of 501 characters", "open", {**OPEN, "customer": {**CUSTOMER, "name": "x" * 501}}, 422),
    ("NUL in the title", "open", {**OPEN, "title": "a\x00b"}, 422),
    ("NUL in the customer", "open", {**OPEN, "customer": {**CUSTOMER, "name": "\x00"}}, 422),
    ("NUL in a field", "open", {**OPEN, "fields": {"description": "x\x00"}}, 422),
    ("NUL in a key", "open", {**OPEN, "fields": {"descr\x00iption": "x"}}, 422),
    ("objects 40 deep", "open", {**OPEN, "fields": {"description": json.loads("[" * 40 + "]" * 40)}}, 400),
    ("action body a list", "act", [{"category": "valid"}], 422), ("action body a string", "act", "valid", 422),
    ("unknown action field", "act", {"category": "valid", "colour": "red"}, 422),
    ("category a number", "act", {"category": 7}, 422), ("category SQL", "act", {"category": SQL}, 422),
    *[(f"expected_version={bad!r}", "act", {"category": "valid", "expected_version": bad}, 422)
      for bad in ("1", 1.5, 1.0, -1, True, [1], {}, 2**64 - 1, -2**63)],
    ("expected_version stale", "act", {"category": "valid", "expected_version": 7}, 409),
    ("occurred_at from an agent", "act", {"category": "valid", "occurred_at": "2026-01-01T00:00:00Z"}, 403),
]
# Raw bytes for one content type: (what, media, "open" | "act", body, status).
TIMESTAMP_EXT = b"\xd6\xff\x00\x00\x00\x00"
RAW: list[tuple[str, str, str, bytes, int]] = [
    ("truncated", JSON, "open", b'{"type": "compl', 400),
    ("invalid UTF-8", JSON, "open", b'{"title": "\xff\xfe"}', 400),
    ("UTF-8 byte order mark", JSON, "open", b"\xef\xbb\xbf{}", 400),
    ("two documents", JSON, "open", b"{}{}", 400), ("whitespace only", JSON, "open", b"  \n", 400),
    ("bad escape", JSON, "open", rb'{"title": "\x41"}', 400),
    ("NaN", JSON, "open", b'{"title": NaN}', 400), ("-Infinity", JSON, "act", b'{"expected_version": -Infinity}', 400),
    ("float overflow", JSON, "open", b'{"title": 1e400}', 400),
    ("10k nested arrays", JSON, "open", b"[" * 10_000 + b"]" * 10_000, 400),
    ("10k nested objects", JSON, "open", b'{"a":' * 10_000 + b"1" + b"}" * 10_000, 400),
    ("5000-digit integer", JSON, "open", b'{"title": ' + b"9" * 5000 + b"}", 400),
    ("2**70 as expected_version", JSON, "act", b'{"expected_version": %d}' % 2**70, 422),
    ("10**30 as a decimal", JSON, "open", json.dumps({**OPEN, **ORDER, "fields": {**ORDER["fields"], "amount": 10**30}}).encode(), 422),
    ("lone surrogate", JSON, "open", json.dumps({**OPEN, "title": "\ud800x"}).encode(), 422),
    ("lone surrogate in a key", JSON, "open", json.dumps({**OPEN, "fields": {"\udfff": 1}}).encode(), 422),
    ("escaped NUL", JSON, "open", json.dumps({**OPEN, "title": "a\u0000"}).encode(), 422),
    ("truncated", MSGPACK, "open", P(OPEN)[:-3], 400),
    ("never-used byte 0xc1", MSGPACK, "open", b"\xc1", 400),
    ("trailing data", MSGPACK, "open", P(OPEN) + b"\xc0", 400),
    ("ext type", MSGPACK, "open", P({**OPEN, "title": msgpack.ExtType(42, b"x")}), 400),
    ("timestamp ext", MSGPACK, "open", b"\x81\xa5title" + TIMESTAMP_EXT, 400),
    ("malformed timestamp ext", MSGPACK, "act", b"\x81\xa8category\xd4\xff\x00", 400),
    ("ext as a map key", MSGPACK, "act", b"\x81" + TIMESTAMP_EXT + b"\x01", 400),
    ("integer map key", MSGPACK, "open", P({1: "x", **OPEN}), 400),
    ("nil map key", MSGPACK, "act", b"\x81\xc0\x01", 400),
    ("array map key", MSGPACK, "act", b"\x81\x92\x01\x02\x01", 400),
    ("float map key", MSGPACK, "act", b"\x81\xcb" + b"\x3f\xf8" + b"\x00" * 6 + b"\x01", 400),
    ("bin map key", MSGPACK, "open", P({b"type": "complaint"}, use_bin_type=True), 400),
    ("bin for the title", MSGPACK, "open", P({**OPEN, "title": b"x"}, use_bin_type=True), 400),
    ("bin for a customer field", MSGPACK, "open", P({**OPEN, "customer": {"id": b"C", "name": "n"}}), 400),
    ("invalid UTF-8 in a str", MSGPACK, "act", b"\x81\xa8category\xa2\xed\xa0", 400),
    ("10k nested arrays", MSGPACK, "open", b"\x91" * 10_000 + b"\xc0", 400),
    ("10k nested maps", MSGPACK, "act", b"\x81\xa1a" * 10_000 + b"\xc0", 400),
    ("str32 claiming 4 GiB", MSGPACK, "open", b"\xdb\xff\xff\xff\xff", 400),
    ("array32 claiming 4G items", MSGPACK, "open", b"\xdd\xff\xff\xff\xff", 400),
    ("map32 claiming 4G pairs", MSGPACK, "open", b"\xdf\xff\xff\xff\xff", 400),
    ("NaN", MSGPACK, "open", P({**OPEN, "title": float("nan")}), 400),
    ("float32 infinity", MSGPACK, "act", b"\x81\xb0expected_version\xca\x7f\x80\x00\x00", 400),
    ("nil body", MSGPACK, "open", b"\xc0", 422),
]
VERBATIM = [SQL, "Robert'); DROP TABLE stored_events;--", "\" OR 1=1 --", "投诉 🚚📦 \u202eRTL override\u202c ok",
            "שלום עולם مرحبا بالعالم", "e\u0301 👩\u200d👩\u200d👧 🏳️\u200d🌈 \U0010fffd", "tab\there\nline\r\x01\x1b[31mred\x7f!",
            "\u200b\ufeffzero width", "${jndi:ldap://x/a} <script>alert(1)</script> ../../etc/passwd %00"]


def case_path(target: str, case_id: str) -> str:
    return "/v1/cases" if target == "open" else f"/v1/cases/{case_id}/actions/classify"


# ------------------------------------------------------------------- tests
@pytest.mark.parametrize("media", [JSON, MSGPACK])
def test_malformed_and_mistyped_bodies_are_refused_and_change_nothing(env: Any, media: str) -> None:
    server, store, case_id = env
    cases = [(what, target, encode(body, media), status) for what, target, body, status in BODIES]
    cases += [(what, target, raw, status) for what, m, target, raw, status in RAW if m == media]
    for what, target, content, status in cases:
        with unchanged(store, what):
            problem(post(server, case_path(target, case_id), content, media), status, what, media)
    # oversized: declared, and streamed without a length
    big = encode({**OPEN, "title": "x" * (1024 * 1024)}, media)
    for what, content in (("declared", big), ("chunked", (big[i:i + 65536] for i in range(0, len(big), 65536)))):
        with unchanged(store, what):
            problem(post(server, "/v1/cases", content, media), 413, what, media)  # type: ignore[arg-type]
    # a body full of mistakes gets a bounded answer, not one 15 times its size
    for body in ({**OPEN, "fields": {f"k{i}": 1 for i in range(60_000)}}, {**OPEN, "fields": {"k" * 900_000: 1}},
                 {**OPEN, **{f"k{i}": 1 for i in range(60_000)}}):
        with unchanged(store, "many mistakes"):
            r = post(server, "/v1/cases", encode(body, media), media)
            doc = problem(r, 422, "many mistakes", media)
            assert len(r.content) < 20_000 and len(doc["errors"]) <= 50, len(r.content)
    assert server["agent"].get(f"/v1/cases/{case_id}").json()["version"] == 1


@pytest.mark.parametrize("media", [JSON, MSGPACK])
def test_unusual_but_valid_text_is_stored_verbatim(env: Any, media: str) -> None:
    server, store, _ = env
    opened = {}
    for text in VERBATIM:
        body = {"type": "complaint", "title": text[:200], "customer": {"id": text, "name": text},
                "fields": {"description": text}}
        before = store.state()
        r = post(server, "/v1/cases", encode(body, media), media)
        assert r.status_code == 201, (text, r.text[:300])
        assert store.state()[0] > before[0]
        case = server["agent"].get(f"/v1/cases/{r.headers['location'].rsplit('/', 1)[1]}").json()
        assert (case["title"], case["customer"]["name"], case["fields"]["description"]) == (text, text, text)
        opened[text] = (case["id"], int(r.headers["x-casetrail-position"]))
    history = server["reviewer"].get(f"/v1/cases/{opened[SQL][0]}/history").json()["items"]
    assert history[0]["data"]["title"] == SQL
    # the projections store the same text, and filtering by it is data, not SQL
    stop = start_background(server.database_url, sla_interval=0)
    try:
        head = max(position for _, position in opened.values())
        for text, (case_id, _) in opened.items():
            r = server["agent"].get("/v1/cases", params={"customer_id": text, "min_position": head})
            assert r.status_code == 200 and int(r.headers["x-casetrail-position"]) >= head, r.text[:300]
            assert [(i["id"], i["title"]) for i in r.json()["items"]] == [(case_id, text)]
    finally:
        stop()
    assert store.state()[0] > 0  # the table the SQL-looking strings name is still there


NOT_A_UUID = ["..%2F..%2Fetc%2Fpasswd", "%00", "a" * 10_000, "{cid}%00", "%ff%fe", SQL.replace(" ", "%20").replace(";", "%3B")]
# neither an id nor a number of a case that exists, but shaped like a case number: a 404 like an unknown id
LIKE_A_NUMBER = ["not-a-uuid", "00000000-0000-0000-0000-00000000000g", "{cid}x", "TS-209901-0001"]
AS_OF = [("9999-12-31T23:59:59+14:00", 200), ("9999-12-31T23:59:59-14:00", 200), ("9998-12-31T23:59:59-14:00", 200),
         ("10000-01-01T00:00:00Z", 400), ("0000-01-01T00:00:00Z", 400), ("0001-01-01T00:00:00+14:00", 404),
         ("1970-01-01T00:00:00+14:00", 404), ("-1", 400), ("99999999999999999999", 400), ("1e400", 400), ("NaN", 400),
         ("2026-02-30T00:00:00Z", 400), ("2026-11-23T25:00:00Z", 400), ("2026-11-23T10:00:00+24:00", 400),
         ("２０２６-01-01T00:00:00Z", 400), (SQL, 400), ("9" * 5000, 400)]
HUGE = "9" * 5000


def cursor(order: str, key: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps({"o": order, "k": key}).encode()).decode().rstrip("=")


def test_hostile_paths_ids_times_and_query_parameters(env: Any) -> None:
    server, store, cid = env
    agent, gm = server["agent"], server["general_manager"]
    gets: list[tuple[httpx.Client, str, Any, int]] = [
        *[(agent, f"/v1/cases/{bad.format(cid=cid)}", None, 400) for bad in NOT_A_UUID[1:]],
        (agent, f"/v1/cases/{NOT_A_UUID[0]}", None, 404), (agent, f"/v1/cases/{uuid.uuid4()}/history", None, 404),
        *[(agent, f"/v1/cases/{odd.format(cid=cid)}", None, 404) for odd in LIKE_A_NUMBER],
        (agent, f"/v1/cases/{cid.replace('-', '')}", None, 200), (agent, f"/v1/cases/{{{cid}}}", None, 200),
        (agent, "/v1/case-types/..%2F..%2Fetc%2Fpasswd", None, 404), (agent, "/v1/case-types/" + "x" * 5000, None, 404),
        (gm, f"/v1/staff/{SQL}/performance", {"from": "2026-01-01", "to": "2026-02-01"}, 200),
        (gm, "/v1/staff/" + "x" * 5000 + "/performance", None, 400),
        (gm, "/v1/reports/departments/..%2F..", {"month": "2026-11"}, 404),
        *[(agent, f"/v1/cases/{cid}", {"as_of": t}, status) for t, status in AS_OF],
        *[(agent, "/v1/cases", {name: t}, 400 if status == 400 else 200)
          for name in ("opened_from", "opened_to") for t, status in AS_OF],
        (agent, "/v1/cases", {name: SQL for name in ("department", "customer_id")}, 200),
        *[(agent, "/v1/cases", {name: SQL}, 400) for name in ("type", "status", "assignee")],  # unknown: named
        *[(agent, path, {name: HUGE}, 400) for path, name in (
            ("/v1/events", "after"), ("/v1/events", "limit"), ("/v1/events", "max_duration"), ("/v1/cases", "limit"),
            ("/v1/cases", "min_position"), (f"/v1/cases/{cid}", "version"), ("/v1/cases", "customer_id"))],
        (gm, "/v1/audit/events", {"limit": HUGE}, 400),
        *[(agent, "/v1/cases", {"cursor": cursor("opened", key)}, 422)
          for key in (["2026", 2**70], [-2**70, "x"], ["a\x00", "b"], ["x", "\ud800"], [True, None], ["x"])],
        *[(gm, "/v1/audit/events", {"cursor": cursor("audit", key)}, 422)
          for key in (["a", 2**70], ["\x00", 1], ["a", "b"])],
        (agent, "/v1/cases", {"cursor": SQL}, 422),
        (agent, f"/v1/cases/{cid}?version=1&version=1", None, 400),
        (agent, f"/v1/cases/{cid}?as_of=2026-01-01T00:00:00Z&as_of=2030-01-01T00:00:00Z", None, 400),
        (agent, "/v1/events?after=1&after=2", None, 400), (agent, "/v1/cases?status=a&status=b", None, 400),
        (agent, f"/v1/cases/{cid}?%ff=1&" + "&".join(f"p{i}=1" for i in range(500)), None, 400),
    ]
    for client, path, params, status in gets:
        what = (path[:80], str(params)[:80])
        with unchanged(store, what):
            r = client.get(path, params=params)
            if status == 200:
                assert r.status_code == 200, (what, r.text[:300])
            else:
                problem(r, status, what)
    for action, status in (("..%2F..%2Fetc", 404), ("%00", 404), ("a" * 10_000, 404), ("DROP%20TABLE", 404)):
        with unchanged(store, action[:20]):
            problem(agent.post(f"/v1/cases/{cid}/actions/{action}", json={}), status, action[:20])
    with unchanged(store, "huge If-Match"):
        problem(agent.post(f"/v1/cases/{cid}/actions/classify", json={}, headers={"If-Match": f'"{HUGE}"'}), 400, "")
    r = agent.get("/v1/events", params={"max_duration": "0.2"},
                  headers={"Accept": "text/event-stream", "Last-Event-ID": HUGE})
    assert r.status_code == 200 and r.text.startswith("retry:")


def raw_http(server: Server, request: bytes, *, half_close: bool = False) -> tuple[int | None, bytes]:
    """Send bytes as they are; the status of the first answer (None if the server only hung up)."""
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        try:
            s.sendall(request)
            if half_close:
                s.shutdown(socket.SHUT_WR)
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        except (ConnectionResetError, BrokenPipeError):
            data = b""
    status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.1 ") else None
    return status, data


def test_lying_lengths_and_header_tricks(env: Any) -> None:
    server, store, cid = env
    auth = f"Authorization: Bearer {server.tokens['agent']}\r\n".encode()
    body = json.dumps(OPEN).encode()

    def req(head: bytes, payload: bytes = b"", path: bytes = b"/v1/cases", method: bytes = b"POST") -> bytes:
        return (method + b" " + path + b" HTTP/1.1\r\nHost: x\r\n" + auth + b"Content-Type: application/json\r\n"
                + head + b"Connection: close\r\n\r\n" + payload)

    # (what, request, half-close, statuses, from the app: a problem document)
    cases: list[tuple[str, bytes, bool, set[int | None], bool]] = [
        ("Content-Length shorter than the body", req(b"Content-Length: 10\r\n", body), False, {400}, True),
        ("Content-Length beyond the limit", req(b"Content-Length: 5000000\r\n", body), False, {413}, True),
        ("Content-Length of 5000 digits", req(b"Content-Length: " + HUGE.encode() + b"\r\n", body), False, {400}, False),
        ("Content-Length longer than the body", req(b"Content-Length: 5000\r\n", body), True, {None, 400}, False),
        ("negative Content-Length", req(b"Content-Length: -1\r\n", body), False, {400}, False),
        ("two Content-Lengths", req(b"Content-Length: 2\r\nContent-Length: 3\r\n", b"{}"), False, {400}, False),
        ("chunked, bad chunk size", req(b"Transfer-Encoding: chunked\r\n", b"zz\r\n{}\r\n0\r\n\r\n"), False, {400}, False),
        ("CR in X-Request-ID", req(b"Content-Length: 2\r\nX-Request-ID: a\rb\r\n", b"{}"), False, {400}, False),
        ("NUL in X-Request-ID", req(b"Content-Length: 2\r\nX-Request-ID: a\x00b\r\n", b"{}"), False, {400}, False),
        ("CR in Idempotency-Key", req(b"Content-Length: %d\r\nIdempotency-Key: k\rX-Evil: 1\r\n" % len(body), body),
         False, {400}, False),
        ("obs-text Idempotency-Key", req(b"Content-Length: %d\r\nIdempotency-Key: k\xff\xfe\r\n" % len(body), body),
         False, {400}, True),
        ("256-character Idempotency-Key", req(b"Content-Length: %d\r\nIdempotency-Key: %s\r\n" % (len(body), b"k" * 256),
                                              body), False, {400}, True),
        ("1 MB header", req(b"X-Big: " + b"a" * 1_000_000 + b"\r\n"), False, {None, 400, 431}, False),
        ("../ in the raw path", req(b"", path=b"/v1/cases/../../etc/passwd", method=b"GET"), False, {404}, True),
    ]
    for what, request, half_close, statuses, from_app in cases:
        with unchanged(store, what):
            status, data = raw_http(server, request, half_close=half_close)
            assert status in statuses, (what, data[:300])
            if from_app:
                assert b"content-type: application/problem+json" in data.lower(), (what, data[:300])
    # header values that are legal HTTP but not ours: a fresh request id, never an echo
    for given in ("a" * 129, "a b", "x\u00ff", "id;evil=1"):
        r = server["agent"].get("/v1/case-types", headers={"X-Request-ID": given.encode("latin-1")})
        assert r.status_code == 200 and r.headers["x-request-id"] != given and len(r.headers["x-request-id"]) == 32
    for token in ("x" * 12_000, "\u00ff\u00fe", SQL):
        r = httpx.get(f"{server.url}/v1/case-types", headers={"Authorization": f"Bearer {token}".encode("latin-1")})
        problem(r, 401, token[:10])
    r = server["agent"].get("/v1/case-types", headers={f"X-H{i}": "v" * 100 for i in range(100)})
    assert r.status_code == 200
    assert server["agent"].get(f"/v1/cases/{cid}").json()["version"] == 1

"""End to end: the staff, token and demo commands, and their effect on a running server."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
from pathlib import Path

import httpx

from tests.e2e.conftest import CASETRAIL, ROOT, Server, run_cli

TOKEN_LINE = re.compile(r"^ct_[A-Za-z0-9_\-]{20,}\n$")


def test_staff_and_tokens_from_the_command_line(server: Server) -> None:
    url = server.database_url
    added = run_cli(url, "staff", "add", "zhang", "--name", "张三", "--department", "cs",
                    "--role", "agent", "--role", "supervisor")
    assert added.returncode == 0, added.stderr
    issued = run_cli(url, "token", "issue", "zhang")
    assert issued.returncode == 0 and TOKEN_LINE.match(issued.stdout), issued.stdout
    token = issued.stdout.strip()
    headers = {"Authorization": f"Bearer {token}"}
    r = httpx.post(f"{server.url}/v1/cases", headers=headers, json={
        "type": "complaint", "title": "cli", "customer": {"id": "C-9", "name": "赵"}})
    assert r.status_code == 201, r.text
    assert set(r.json()["allowed_actions"]) >= {"assign", "reject"}  # agent + supervisor
    listed = run_cli(url, "staff", "list")
    assert listed.returncode == 0 and "zhang\t张三\tcs\tagent,supervisor\tactive" in listed.stdout

    revoked = run_cli(url, "token", "revoke", "-", input=token + "\n")
    assert revoked.returncode == 0, revoked.stderr
    assert httpx.get(f"{server.url}/v1/case-types", headers=headers).status_code == 401
    before = run_cli(url, "staff", "list").stdout
    assert run_cli(url, "token", "revoke", token).returncode == 0  # revoking twice is harmless
    assert run_cli(url, "staff", "list").stdout == before
    unknown = run_cli(url, "token", "revoke", "ct_unknown")
    assert unknown.returncode != 0 and "unknown token" in unknown.stderr and unknown.stdout == ""

    # roles change by event; deactivation locks every token of the member out
    second = run_cli(url, "token", "issue", "zhang").stdout.strip()
    headers = {"Authorization": f"Bearer {second}"}
    updated = run_cli(url, "staff", "update", "zhang", "--role", "agent")
    assert updated.returncode == 0, updated.stderr
    r = httpx.post(f"{server.url}/v1/cases", headers=headers, json={
        "type": "complaint", "title": "cli", "customer": {"id": "C-9", "name": "赵"}})
    assert r.status_code == 201 and "assign" not in r.json()["allowed_actions"]  # no longer a supervisor
    assert run_cli(url, "staff", "deactivate", "zhang").returncode == 0
    assert httpx.get(f"{server.url}/v1/case-types", headers=headers).status_code == 401
    assert "zhang\t张三\tcs\tagent\tinactive" in run_cli(url, "staff", "list").stdout

    # the first admin and a token in one command: only the token on stdout
    first = run_cli(url, "staff", "add", "boss", "--name", "Boss", "--department", "it", "--role", "admin", "--token")
    assert first.returncode == 0 and TOKEN_LINE.match(first.stdout), first.stdout
    assert httpx.get(f"{server.url}/metrics", headers={"Authorization": f"Bearer {first.stdout.strip()}"}
                     ).status_code == 200

    # bad input: a clear message and a non-zero exit, never a traceback
    for args in (["staff", "add", "zhang", "--name", "x", "--department", "cs", "--role", "agent"],
                 ["staff", "add", "bad id!", "--name", "x", "--department", "cs", "--role", "agent"],
                 ["staff", "add", "li", "--name", "x", "--department", "cs", "--role", "wizard"],
                 ["staff", "add", "li", "--name", "x", "--department", "cs"],
                 ["token", "issue", "nobody"],
                 ["staff", "update", "zhang"],
                 ["staff", "update", "nobody", "--role", "agent"],
                 ["staff", "deactivate", "nobody"],
                 ["token", "issue", "zhang", "--ttl-days", "0"]):
        result = run_cli(url, *args)
        assert result.returncode != 0, args
        assert result.stderr.strip() and "Traceback" not in result.stderr, (args, result.stderr)
        assert result.stdout == "", args


def test_demo_loads_once_and_prints_a_working_token_for_every_role(server: Server) -> None:
    url = server.database_url
    first = run_cli(url, "demo")
    assert first.returncode == 0, first.stderr
    # the server's own fixture wrote staff events: the demo is idempotent and says it changed nothing
    assert "not loaded, nothing changed" in first.stderr and "ct_" not in first.stdout
    loaded = run_cli(url, "demo", "--again")
    assert loaded.returncode == 0, loaded.stderr
    out = loaded.stdout
    assert "Loaded" in out and "curl" in out
    printed = re.findall(r"^\s+(\w+)\s+(\w+)\s+(ct_\S+)$", out, re.M)
    roles = {role for role, _, _ in printed}
    assert roles == {"agent", "supervisor", "dept_head", "general_manager", "sales_manager", "technician",
                     "reviewer", "importer", "admin", "finance_director", "cashier", "project_manager",
                     "quality_manager"}
    tokens = {who: token for _, who, token in printed}
    for _role, who, token in printed:  # every printed token works
        r = httpx.get(f"{server.url}/v1/case-types", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200, (who, r.text)
    assert httpx.get(f"{server.url}/metrics", headers={"Authorization": f"Bearer {tokens['admin1']}"}
                     ).status_code == 200
    feed = httpx.get(f"{server.url}/v1/events", params={"limit": 500},
                     headers={"Authorization": f"Bearer {tokens['reviewer1']}"}).json()
    assert len({e["case_id"] for e in feed["items"]}) >= 50
    types = httpx.get(f"{server.url}/v1/case-types", headers={"Authorization": f"Bearer {tokens['sup1']}"})
    assert types.status_code == 200
    opened: set[str] = set()
    after = 0
    while True:  # every case event of the log, page by page
        page = httpx.get(f"{server.url}/v1/events", params={"limit": 500, "after": after},
                         headers={"Authorization": f"Bearer {tokens['reviewer1']}"}).json()
        if not page["items"]:
            break
        opened |= {e["data"]["case_type"] for e in page["items"] if e["type"].endswith("Opened")}
        after = page["last_position"]
    shipped = {t["name"] for t in types.json()["items"]}
    assert shipped <= opened, shipped - opened  # the demo holds a few cases of every shipped type
    def log_head() -> int:
        return json.loads(run_cli(url, "projections", "status", "--json").stdout)[0]["head"]

    head = log_head()
    again = run_cli(url, "demo")
    assert again.returncode == 0 and "nothing changed" in again.stderr and "ct_" not in again.stdout
    assert log_head() == head  # no event was written


def test_configuration_and_database_errors_are_messages(tmp_path: Path) -> None:
    """A bad URL, calendar or unreachable database: a one-line message and a
    non-zero exit, never a traceback; ``serve --workers 2`` does not start
    workers that would die behind an open port."""
    bad_calendar = tmp_path / "calendar.toml"
    bad_calendar.write_text('hours = ["25:00"]\n', encoding="utf-8")
    sqlite = f"sqlite:///{tmp_path}/x.db"
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = f"postgresql://nobody@127.0.0.1:{s.getsockname()[1]}/casetrail"
    cases = [
        ({"CASETRAIL_DATABASE_URL": "mysql://db/x"}, ["staff", "list"], 2, "unsupported CASETRAIL_DATABASE_URL"),
        ({"CASETRAIL_DATABASE_URL": sqlite, "CASETRAIL_CALENDAR": str(bad_calendar)},
         ["staff", "add", "z", "--name", "Z", "--department", "cs", "--role", "agent"], 2, "key 'hours'"),
        ({"CASETRAIL_DATABASE_URL": f"sqlite:///{tmp_path}/no/such/dir/x.db"},
         ["staff", "add", "z", "--name", "Z", "--department", "cs", "--role", "agent"], 3,
         "the database cannot be used"),
        ({"CASETRAIL_DATABASE_URL": f"sqlite:///{tmp_path}/no/such/dir/x.db"}, ["staff", "list"], 2,
         "no database at"),
        ({"CASETRAIL_DATABASE_URL": dead}, ["projections", "status"], 3, "the database cannot be used"),
        ({"CASETRAIL_DATABASE_URL": dead}, ["serve", "--no-workers", "--workers", "2", "--port", "0"], 3,
         "the database cannot be used"),
    ]
    for env, args, code, needle in cases:
        result = subprocess.run([CASETRAIL, *args], env={**os.environ, "CASETRAIL_CALENDAR": "", **env},
                                cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert result.returncode == code, (args, result.returncode, result.stderr)
        assert needle in result.stderr and "Traceback" not in result.stderr, (args, result.stderr)

"""An operator's own case types and roles, loaded from ``CASETRAIL_CASE_TYPES`` by every process.

A folder with ``cash_advance.toml`` (roles 财务总监 ``cfo`` and 出纳
``cashier`` from its ``_roles.toml``) is checked with ``casetrail
case-types check``, staff are added with the new roles by the CLI, the
server (started with the folder) opens and drives a cash advance over HTTP,
and ``casetrail projections rebuild`` and the SLA pass (CLI processes with
the same variable) project it. A file with a typo in a role name is refused
with its file, line and key; a server started on it does not come up.
"""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from tests.e2e.conftest import run_cli, serving
from tests.unit.test_role_catalog import CASH_ADVANCE, ROLES_FILE


def operator_folder(tmp_path: Path, type_text: str = CASH_ADVANCE) -> Path:
    folder = tmp_path / "case-types"
    folder.mkdir()
    (folder / "cash_advance.toml").write_text(type_text, encoding="utf-8")
    (folder / "_roles.toml").write_text(ROLES_FILE, encoding="utf-8")
    return folder


def test_operator_types_work_in_every_process(database_url: str, tmp_path: Path) -> None:
    folder = operator_folder(tmp_path)
    env = {"CASETRAIL_CASE_TYPES": str(folder)}
    checked = run_cli(database_url, "case-types", "check", env=env)
    assert checked.returncode == 0 and "cash_advance" in checked.stdout and "cfo" in checked.stdout, checked
    with serving(database_url, tmp_path, env=env) as server:
        for staff_id, role in (("li", "cfo"), ("wang", "cashier")):
            added = run_cli(database_url, "staff", "add", staff_id, "--name", staff_id, "--department", "finance",
                            "--role", role, "--token", env=env)
            assert added.returncode == 0, added.stderr
            server.tokens[staff_id] = added.stdout.strip()
        types = server["agent"].get("/v1/case-types").json()
        assert "cash_advance" in str(types)
        bad = server["agent"].post("/v1/cases", json={"type": "cash_advance", "title": "差旅借支", "customer": {},
                                                      "fields": {"amount": "3000.00", "repay_by": "2026-02-30",
                                                                 "id_number": "110105194912310021"}})
        assert bad.status_code == 422, bad.text  # a date that does not exist, an ID number that fails its check
        assert {e["field"] for e in bad.json()["errors"]} >= {"fields.repay_by", "fields.id_number"}, bad.text
        receipt = {"name": "借款单.pdf", "media_type": "application/pdf", "size": 2048, "sha256": "0f" * 32}
        opened = server["agent"].post("/v1/cases", json={
            "type": "cash_advance", "title": "差旅借支", "customer": {},
            "fields": {"amount": "3000.00", "repay_by": "2026-12-31", "id_number": "11010519491231002X",
                       "receipts": [{"file": receipt}]}})
        assert opened.status_code == 201, opened.text
        assert opened.json()["fields"]["receipts"] == [{"file": receipt}]
        case = opened.json()
        assert re.fullmatch(r"JZ-\d{4}-001", case["number"]), case["number"]  # its own number_format
        refused = server["wang"].post(f"/v1/cases/{case['id']}/actions/approve", json={})
        assert refused.status_code == 403, refused.text  # the cashier may not approve
        for who, action in (("li", "approve"), ("wang", "pay"), ("wang", "repay")):
            done = httpx.post(f"{server.url}/v1/cases/{case['id']}/actions/{action}", json={},
                              headers={"Authorization": f"Bearer {server.tokens[who]}"})
            assert done.status_code == 200, done.text
        assert done.json()["status"] == "repaid"
    rebuilt = run_cli(database_url, "projections", "rebuild", "--quiet", env=env)
    assert rebuilt.returncode == 0, rebuilt.stderr
    swept = run_cli(database_url, "sla", "check", env=env)
    assert swept.returncode == 0, swept.stderr
    listed = run_cli(database_url, "case-types", "list", env=env)
    assert "cash_advance\tJZ" in listed.stdout and "role\tcashier\t出纳" in listed.stdout


def test_a_role_typo_is_refused_with_file_line_and_key(database_url: str, tmp_path: Path) -> None:
    folder = operator_folder(tmp_path, CASH_ADVANCE.replace('roles = ["cfo"]', 'roles = ["cfoo"]'))
    checked = run_cli(database_url, "case-types", "check", str(folder))
    assert checked.returncode == 1
    line = next(n for n, text in enumerate((folder / "cash_advance.toml").read_text().splitlines(), 1)
                if "cfoo" in text)
    assert f"cash_advance.toml:{line}: key 'actions.approve.roles': unknown role 'cfoo'" in checked.stdout
    started = run_cli(database_url, "staff", "add", "li", "--name", "李", "--department", "finance", "--role",
                      "agent", env={"CASETRAIL_CASE_TYPES": str(folder)})
    assert started.returncode == 2 and "unknown role 'cfoo'" in started.stderr, started


def test_expression_rules_decide_approvals_through_the_api(database_url: str, tmp_path: Path) -> None:
    from tests.unit.test_expressions import PURCHASE

    folder = operator_folder(tmp_path)
    (folder / "purchase_request.toml").write_text(PURCHASE, encoding="utf-8")
    env = {"CASETRAIL_CASE_TYPES": str(folder)}
    with serving(database_url, tmp_path, env=env) as server:
        for staff_id, role in (("li", "cfo"), ("wang", "cashier")):
            added = run_cli(database_url, "staff", "add", staff_id, "--name", staff_id, "--department", "finance",
                            "--role", role, "--token", env=env)
            server.tokens[staff_id] = added.stdout.strip()

        def post(who: str, path: str, body: dict[str, object]) -> httpx.Response:
            return httpx.post(f"{server.url}{path}", json=body,
                              headers={"Authorization": f"Bearer {server.tokens[who]}"})

        opened = post("agent", "/v1/cases", {"type": "purchase_request", "title": "办公用品", "customer": {},
                                              "fields": {"amount": "3000.01", "kind": "cash"}}).json()
        submitted = post("agent", f"/v1/cases/{opened['id']}/actions/submit", {})
        assert submitted.status_code == 200 and submitted.json()["status"] == "submitted", submitted.text
        assert post("li", f"/v1/cases/{opened['id']}/actions/approve", {}).status_code == 403  # sequential: cashier first
        assert post("wang", f"/v1/cases/{opened['id']}/actions/approve", {}).status_code == 200
        done = post("li", f"/v1/cases/{opened['id']}/actions/approve", {})
        assert done.status_code == 200 and done.json()["status"] == "approved", done.text

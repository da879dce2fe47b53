"""The base install works: the wheel, with no extras, in a fresh virtual environment.

Every test of the suite runs in the ``.[test,bench]`` venv, which hid that
``pip install .`` (what the Docker image does) gave a ``casetrail`` that
crashed on every command. Here ``scripts/install_wheel.sh`` (the same
script the Dockerfile runs; ``tests/unit/test_deploy_files.py`` checks
that) builds the wheel and installs it into a new venv, and the installed
command is tried as a new user would: help for every command, the first
admin with ``staff add --token``, ``serve`` answering ``/readyz``, a case
opened over HTTP, ``audit verify`` - on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import click
import httpx
import pytest

from scripts import processes
from scripts.cli import cli
from tests.e2e.conftest import CUSTOMER, ROOT

INSTALL = ROOT / "scripts" / "install_wheel.sh"


@pytest.fixture(scope="session")
def base_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    venv = tmp_path_factory.mktemp("base-install") / "venv"
    result = subprocess.run(["sh", str(INSTALL), str(venv)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    return venv


def command_paths(group: click.Group, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for name in sorted(group.list_commands(click.Context(group))):
        command = group.get_command(click.Context(group), name)
        assert command is not None
        yield (*prefix, name)
        if isinstance(command, click.Group):
            yield from command_paths(command, (*prefix, name))


def run(venv: Path, *args: str, url: str | None = None, cwd: Path | None = None,
        timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CASETRAIL_")}
    env.update(PYTHONUNBUFFERED="1", **({"CASETRAIL_DATABASE_URL": url} if url else {}))
    return subprocess.run([str(venv / "bin" / "casetrail"), *args], env=env, cwd=cwd or venv.parent,
                          capture_output=True, text=True, timeout=timeout)


def test_no_extra_is_installed(base_venv: Path) -> None:
    # httpx is a base dependency: the webhook dispatcher sends with it (issue 19, docs/WEBHOOKS.md)
    for module in ("pytest", "hypothesis", "schemathesis", "py_spy", "pyinstrument"):
        found = subprocess.run([str(base_venv / "bin" / "python"), "-c", f"import {module}"],
                               capture_output=True, text=True)
        assert found.returncode != 0, f"{module} is in the base install"
    where = subprocess.run([str(base_venv / "bin" / "python"), "-c", "import scripts.cli; print(scripts.cli.__file__)"],
                           capture_output=True, text=True, cwd=base_venv.parent)
    assert str(base_venv) in where.stdout, "the test must run the installed package, not the source tree"


def test_help_of_every_command(base_venv: Path) -> None:
    top = run(base_venv, "--help")
    assert top.returncode == 0, top.stderr
    paths = list(command_paths(cli))
    assert len(paths) >= 15
    for path in paths:
        result = run(base_venv, *path, "--help")
        assert result.returncode == 0 and "Usage:" in result.stdout, (path, result.stderr)
        assert "Traceback" not in result.stderr


def test_commands_that_need_an_extra_say_which(base_venv: Path, tmp_path: Path) -> None:
    # Since httpx became a base dependency (the webhook dispatcher), `bench` and `soak` find everything
    # they import on the base install; the way a missing extra is named is tried with a package none has.
    code = ("from scripts.extras import MissingExtra, load\n"
            "try:\n    load('casetrail_no_such_package', 'bench')\n"
            "except MissingExtra as e:\n    print(e)\n")
    result = subprocess.run([str(base_venv / "bin" / "python"), "-c", code], capture_output=True, text=True,
                            cwd=tmp_path)
    assert result.returncode == 0 and "pip install 'casetrail[bench]'" in result.stdout, result.stderr


def test_first_admin_serve_open_a_case_and_verify(base_venv: Path, database_url: str, tmp_path: Path) -> None:
    admin = run(base_venv, "staff", "add", "admin", "--name", "管理员", "--department", "it", "--role", "admin",
                "--token", url=database_url, cwd=tmp_path)
    assert admin.returncode == 0, admin.stderr
    agent = run(base_venv, "staff", "add", "zhang", "--name", "张丽", "--department", "cs", "--role", "agent",
                "--token", url=database_url, cwd=tmp_path)
    assert agent.returncode == 0, agent.stderr
    admin_token, agent_token = admin.stdout.strip(), agent.stdout.strip()
    assert admin_token.startswith("ct_") and agent_token.startswith("ct_")
    log_path = tmp_path / "serve.log"
    clean = {k: "" for k in os.environ if k.startswith("CASETRAIL_")}  # nothing of the test run's settings
    with processes.serving(database_url, log_path, args=(), env=clean, cwd=tmp_path,
                           executable=str(base_venv / "bin" / "casetrail")) as (base, _process):
        opened = httpx.post(f"{base}/v1/cases", headers={"Authorization": f"Bearer {agent_token}"}, json={
            "type": "complaint", "title": "包裹破损", "customer": CUSTOMER,
            "fields": {"description": "外包装破损", "channel": "phone"}})
        assert opened.status_code == 201, opened.text
        assert opened.json()["number"].startswith("TS-")
        metrics = httpx.get(f"{base}/metrics", headers={"Authorization": f"Bearer {admin_token}"})
        assert metrics.status_code == 200
        for asset in ("/docs", "/docs/swagger-ui-bundle.js", "/docs/swagger-ui.css", "/docs/casetrail-docs.js"):
            assert httpx.get(f"{base}{asset}").status_code == 200, asset  # package data of the wheel
        spec = httpx.get(f"{base}/openapi.json").json()  # with its examples (api/examples.json)
        assert "example" in spec["paths"]["/v1/cases"]["post"]["requestBody"]["content"]["application/json"]
    verified = run(base_venv, "audit", "verify", url=database_url, cwd=tmp_path)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "OK" in verified.stdout and "1 cases" in verified.stdout

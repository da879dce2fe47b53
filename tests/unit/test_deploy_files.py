"""Dockerfile and compose.yaml checks (no Docker engine here: parse and cross-check).

The Dockerfile must be multi-stage on a slim Python base, run as a non-root
user, have a HEALTHCHECK on /readyz and run `casetrail serve`; every COPY
source must exist. compose.yaml must parse, wire PostgreSQL to the API and a
separate projection worker through CASETRAIL_DATABASE_URL, and every
`casetrail ...` command line in either file must parse with the real CLI.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import click
import pytest
import yaml

from scripts.cli import cli

ROOT = Path(__file__).resolve().parents[2]
INSTRUCTIONS = {"FROM", "RUN", "CMD", "LABEL", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT", "VOLUME",
                "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL"}


def dockerfile() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text()
    logical, out = "", []
    for line in text.splitlines():
        if not logical and (not line.strip() or line.lstrip().startswith("#")):
            continue
        logical += line.rstrip("\\").strip() + " "
        if not line.endswith("\\"):
            word, _, rest = logical.strip().partition(" ")
            out.append((word.upper(), rest.strip()))
            logical = ""
    assert not logical, "dangling line continuation"
    return out


def check_cli(argv: list[str]) -> None:
    """Parse argv with the real click CLI (raises on unknown commands/options)."""
    assert argv[0] == "casetrail", argv
    command: click.Command = cli
    args = list(argv[1:])
    while isinstance(command, click.Group):
        assert args, f"{argv}: a command is missing"
        name, args = args[0], args[1:]
        sub = command.get_command(click.Context(command), name)
        if sub is None:
            raise click.UsageError(f"unknown command {name!r} in {argv}")
        command = sub
    command.make_context(command.name or "", args)


def test_dockerfile_is_multistage_slim_nonroot_with_healthcheck() -> None:
    steps = dockerfile()
    assert all(word in INSTRUCTIONS for word, _ in steps)
    froms = [rest for word, rest in steps if word == "FROM"]
    assert len(froms) >= 2 and all(re.match(r"python:3\.1[1-9]-slim", f) for f in froms)
    final = steps[max(i for i, (w, _) in enumerate(steps) if w == "FROM"):]
    users = [rest for word, rest in final if word == "USER"]
    assert users and users[-1] not in ("root", "0")
    assert not any(word == "RUN" and re.search(r"apt-get|gcc|build-essential", rest) for word, rest in final)
    health = [rest for word, rest in final if word == "HEALTHCHECK"]
    assert health and "/readyz" in health[0]
    cmd = json.loads(next(rest for word, rest in final if word == "CMD"))
    check_cli(cmd)
    assert cmd[1] == "serve"


def test_dockerfile_copy_sources_exist() -> None:
    for word, rest in dockerfile():
        if word == "COPY" and "--from" not in rest:
            *sources, _dest = shlex.split(rest)
            for src in sources:
                assert (ROOT / src).exists(), f"COPY source {src} is missing"


def test_compose_wires_database_api_and_worker() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    assert {"db", "api", "projections"} <= set(services)
    assert services["db"]["image"].startswith("postgres:")
    assert any("pgdata" in v for v in services["db"]["volumes"])
    for name in ("api", "projections"):
        svc = services[name]
        assert svc["environment"]["CASETRAIL_DATABASE_URL"].startswith("postgresql://")
        assert svc["depends_on"]["db"]["condition"] == "service_healthy"
        check_cli(svc["command"])
    assert "--no-workers" in services["api"]["command"]
    workers = services["api"]["command"][services["api"]["command"].index("--workers") + 1]
    assert int(workers) >= 2
    assert services["projections"]["command"][1:3] == ["projections", "run"]


def test_compose_first_token_commands_parse() -> None:
    text = (ROOT / "compose.yaml").read_text()
    lines = re.findall(r"docker compose run --rm api (casetrail .+)", text)
    assert len(lines) >= 2
    for line in lines:
        check_cli(shlex.split(line))


def test_operations_guide_commands_parse() -> None:
    """Every ``casetrail`` command in docs/OPERATIONS.md's shell blocks is one
    the real CLI accepts (options and all)."""
    text = (ROOT / "docs" / "OPERATIONS.md").read_text(encoding="utf-8")
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            if "<<" in line or "casetrail" not in line:
                continue
            words = shlex.split(line, comments=True)
            at_command = True  # the next word is in command position
            for i, word in enumerate(words):
                if word == "casetrail" and at_command:
                    argv = []
                    for w in words[i:]:
                        if w in ("&&", "|", "&", ";", ">", "||") or w.startswith((">", "|")):
                            break
                        argv.append(w)
                    commands.append(argv)
                at_command = word in ("&&", "||", ";", "|", "api") or (at_command and "=" in word)
    assert len(commands) >= 12, commands
    for argv in commands:
        check_cli(argv)


def test_check_cli_rejects_unknown_commands() -> None:
    with pytest.raises(click.UsageError):
        check_cli(["casetrail", "serve", "--no-such-flag"])
    with pytest.raises(Exception):
        check_cli(["casetrail", "launch-rockets"])


def test_dockerfile_installs_the_wheel_the_way_the_base_install_test_does() -> None:
    """The image gets exactly what tests/e2e/test_e2e_base_install.py installs and tries:
    scripts/install_wheel.sh (the wheel, no extras), over the same files."""
    steps = dockerfile()
    runs = [rest for word, rest in steps if word == "RUN"]
    installs = [r for r in runs if "install_wheel.sh" in r]
    assert len(installs) == 1 and re.search(r"\bsh scripts/install_wheel\.sh /opt/casetrail\b", installs[0])
    assert not any(re.search(r"pip\d*(\.\d+)? install|-m pip", r) for r in runs), "a second way of installing"
    copied = {src.rstrip("/") for word, rest in steps if word == "COPY" and "--from" not in rest
              for src in shlex.split(rest)[:-1]}
    script = (ROOT / "scripts" / "install_wheel.sh").read_text()
    packaged = set(re.search(r"for item in ([^;]+);", script).group(1).split())
    assert packaged == copied, "the image and the wheel script must package the same files"
    test = (ROOT / "tests" / "e2e" / "test_e2e_base_install.py").read_text()
    assert "scripts/install_wheel.sh" in test or '"install_wheel.sh"' in test

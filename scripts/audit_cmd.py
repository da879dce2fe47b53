"""``casetrail audit ...``: verify chains, sign checkpoints, export and check evidence.

- ``audit verify [--case ID] [--json]``: exit 0 clean, 1 on any problem
  (each line names case id + version + kind).
- ``audit checkpoint``: prints the signed digest as JSON; exit 2 without
  ``CASETRAIL_AUDIT_KEY``, 1 if a chain is broken (nothing signed).
- ``audit export CASE -o FILE [--as STAFF]``: evidence bundle; the export is
  recorded in the access ledger.
- ``audit verify-bundle FILE [--key-env | --key-var NAME] [--json]``: offline;
  exit 1 naming what failed (HMACs checked only with a key).

``CASE`` is a case id (UUID) or a case number (``TS-202611-0001``).
"""

from __future__ import annotations

import getpass
import json
import os
from typing import Any
from uuid import UUID

import click

from domain.application import CaseTrail
from domain.model.actor import Actor, CommandContext
from domain.model.case import Case
from scripts.database import existing_application
from scripts.errors import CommandError

KEY_ENV = "CASETRAIL_AUDIT_KEY"


class BadOutput(CommandError):
    """An output file that cannot be written: one line on stderr, exit 2 (no usage text)."""



def application() -> CaseTrail:
    return existing_application()


def case_uuid(value: str) -> UUID:
    try:
        return UUID(value)
    except ValueError:
        return Case.create_id(value)


@click.group()
def audit() -> None:
    """Tamper evidence: verify, checkpoint, export, verify-bundle."""


@audit.command("verify")
@click.option("--case", "case", metavar="ID", help="Only this case (id or number).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def verify_cmd(case: str | None, as_json: bool) -> None:
    """Check every hash chain and the last checkpoint; exit 1 on any problem."""
    from domain.audit.verification import audit_key, verify

    report = verify(application(), case_uuid(case) if case else None, key=audit_key())
    data = report.as_dict()
    if as_json:
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
    else:
        click.echo(_verify_text(data))
    _exit(0 if report.ok else 1)


def _verify_text(data: dict[str, Any]) -> str:
    scope = (f"{data['events_checked']} events of {data['cases_checked']} cases "
             f"({data['aggregates_checked']} aggregates)")
    lines = [f"OK: {scope}" if data["ok"] else f"FAIL: {len(data['problems'])} problem(s) in {scope}"]
    lines += [f"  case {p['case_id']} version {p['version']}: {p['kind']} - {p['detail']}" for p in data["problems"]]
    cp = data["checkpoint"]
    if cp:
        sig = {True: "signature ok", False: "signature INVALID", None: "signature not checked"}[cp["signature_ok"]]
        root = "root ok" if cp["root_ok"] else "root INVALID"
        lines.append(f"checkpoint #{cp['seq']} at {cp['at']} over {cp['count']} heads: {root}, {sig}")
    else:
        lines.append("no checkpoint yet (`casetrail audit checkpoint`)")
    lines += [f"warning: {w['kind']}: {w['detail']}" for w in data["warnings"]]
    return "\n".join(lines)


@audit.command("checkpoint")
def checkpoint_cmd() -> None:
    """Record a signed digest (Merkle root, HMAC) of all chain heads."""
    from domain.audit.verification import ChainBroken, audit_key, checkpoint

    key = audit_key()
    if key is None:
        click.echo(f"error: {KEY_ENV} is not set; checkpoints are signed with it (HMAC-SHA256)", err=True)
        _exit(2)
    try:
        digest = checkpoint(application(), key)
    except ChainBroken as e:
        click.echo(f"error: {e}", err=True)
        for p in e.extra.get("problems", []):
            click.echo(f"  case {p['case_id']} version {p['version']}: {p['detail']}", err=True)
        _exit(1)
    click.echo(json.dumps(digest, indent=2))


@audit.command("export")
@click.argument("case")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, allow_dash=True),
              help="Bundle file to write (JSON); - for standard output.")
@click.option("--as", "as_staff", metavar="STAFF_ID", help="Record the export as this staff member.")
def export_cmd(case: str, output: str, as_staff: str | None) -> None:
    """Write a self-contained evidence bundle for CASE."""
    from domain.audit.bundle import bundle_text
    from domain.audit.verification import audit_key, export_bundle

    if output != "-":
        folder = os.path.dirname(os.path.abspath(output))
        if not os.path.isdir(folder):
            raise BadOutput(f"cannot write {output}: folder {folder} does not exist")
        if not os.access(folder, os.W_OK):
            raise BadOutput(f"cannot write {output}: folder {folder} is not writable")
    app = application()
    actor = app.get_staff(as_staff).as_actor() if as_staff else Actor.system(f"cli:{_user()}")
    bundle = export_bundle(app, case_uuid(case), key=audit_key(), actor=actor,
                           ctx=CommandContext(correlation_id=f"cli-export:{os.getpid()}"))
    text = bundle_text(bundle)
    if output == "-":
        click.echo(text, nl=False)
    else:
        tmp = f"{output}.tmp-{os.getpid()}"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, output)  # nothing half-written under the bundle's name
    cp = bundle["checkpoint"]
    anchored = f"checkpoint #{cp['seq']} covers version {cp['leaf']['version']}" if cp else "no checkpoint"
    signed = "HMAC-signed" if bundle["bundle_hmac"] else f"unsigned ({KEY_ENV} not set)"
    where = "standard output" if output == "-" else output
    click.echo(f"wrote {where}: {len(bundle['events'])} events, {anchored}, {signed}", err=True)


@audit.command("verify-bundle")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--key-env", "use_key", is_flag=True, help=f"Also check the HMACs with the key in ${KEY_ENV}.")
@click.option("--key-var", metavar="NAME", help="Check the HMACs with the key in this environment variable.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def verify_bundle_cmd(file: str, use_key: bool, key_var: str | None, as_json: bool) -> None:
    """Verify a bundle offline (no database): hashes, chain, proof, HMACs."""
    from domain.audit.bundle import load_bundle, verify_bundle

    key, var = None, key_var or (KEY_ENV if use_key else None)
    if var:
        key = os.environ.get(var) or None
        if key is None:
            click.echo(f"error: {var} is not set", err=True)
            _exit(2)
    try:
        bundle = load_bundle(file)
    except (ValueError, UnicodeDecodeError) as e:
        click.echo(f"FAIL: {file} is not a JSON bundle: {e}", err=True)
        _exit(1)
    report = verify_bundle(bundle, key).as_dict()
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        if report["ok"]:
            click.echo(f"OK: {report['events_checked']} events; head anchored at version "
                       f"{report['covered_version']}" if report["covered_version"] else
                       f"OK: {report['events_checked']} events")
        else:
            click.echo(f"FAIL: {len(report['failures'])} check(s) failed")
        for f in report["failures"]:
            where = f" version {f['version']}" if f["version"] is not None else ""
            click.echo(f"  {f['what']}{where}: {f['detail']}")
        for note in report["notes"]:
            click.echo(f"note: {note}")
    _exit(0 if report["ok"] else 1)


def _exit(code: int) -> None:
    """Exit with ``code`` (SystemExit: ``cli.main`` runs click with
    standalone_mode=False, which would swallow a click ``ctx.exit`` code)."""
    if code:
        raise SystemExit(code)


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return "unknown"


commands = [audit]

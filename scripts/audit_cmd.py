"""``casetrail audit ...``: verify chains, sign checkpoints, export and check evidence.

- ``audit verify [--case ID] [--witness PATH] [--public-key PEM] [--incremental] [--json]``:
  exit 0 clean, 1 on any problem (each line names case id + version + kind);
  the witness defaults to ``CASETRAIL_WITNESS`` (or the default file, if it
  exists), the public key to ``CASETRAIL_PUBLIC_KEY`` or the signing key's;
  ``--incremental``: only the events since the last valid checkpoint.
- ``audit checkpoint``: signs (Ed25519, ``CASETRAIL_SIGNING_KEY``, created on
  first use) and prints the digest as JSON, appends it to the witness; exit 1
  if a chain or the checkpoint chain does not verify (nothing signed).
- ``audit public-key``: the PEM public key that verifies checkpoints.
- ``audit export CASE -o FILE [--as STAFF] [--format json|html]``: evidence
  bundle or printable report; the export is recorded in the access ledger.
- ``audit verify-bundle FILE [--public-key PEM] [--json]``: offline; a valid
  signature is required with a public key; exit 1 naming what failed.
  ``--key-env`` / ``--key-var NAME``: legacy HMAC bundles.

``CASE`` is a case id (UUID) or a case number (``TS-202611-0001``).
"""

from __future__ import annotations

import getpass
import json
import os
from contextlib import closing
from typing import Any
from uuid import UUID

import click

from domain.application import CaseTrail
from domain.model.actor import Actor, CommandContext
from domain.model.case import Case
from scripts.database import existing_application
from scripts.errors import CommandError

KEY_ENV = "CASETRAIL_AUDIT_KEY"  # legacy HMAC checkpoints and bundles only


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
    """Tamper evidence: verify, checkpoint, public-key, export, verify-bundle.

    Checkpoints are signed with the Ed25519 key in $CASETRAIL_SIGNING_KEY (made on
    first use) and appended to the witness $CASETRAIL_WITNESS; auditors verify
    with the public key and the witness alone."""


@audit.command("verify")
@click.option("--case", "case", metavar="ID", help="Only this case (id or number).")
@click.option("--witness", metavar="PATH", help="The witness file or folder to compare the checkpoint chain with "
              "(default: $CASETRAIL_WITNESS, or the default witness file if it exists).")
@click.option("--public-key", "public_key", metavar="PEM_FILE",
              help="The published public key (default: $CASETRAIL_PUBLIC_KEY, or the signing key's).")
@click.option("--incremental", is_flag=True, help="Only the events since the last valid checkpoint, each "
              "continuing its signed head, and each signed head still stored (O(new events)); the full verify "
              "(the default) also finds an old edit that was not re-chained. Ignored with --case.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def verify_cmd(case: str | None, witness: str | None, public_key: str | None, incremental: bool,
               as_json: bool) -> None:
    """Check every hash chain, the access ledger, the signed checkpoint chain and the
    witness; exit 1 on any problem."""
    from domain.audit.verification import audit_key, verify

    with closing(application()) as app:
        report = verify(app, case_uuid(case) if case else None, key=audit_key(),
                        public_key=_public_key(public_key), witness=_witness_path(witness),
                        since_checkpoint=incremental)
    data = report.as_dict()
    if as_json:
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
    else:
        click.echo(_verify_text(data))
    _exit(0 if report.ok else 1)


def _public_key(path: str | None) -> Any:
    from domain.audit.signing import SigningKeyError, load_public_key, public_key_for

    try:
        if path:
            with open(path, "rb") as f:
                return load_public_key(f.read())
        return public_key_for()
    except (OSError, SigningKeyError) as e:
        raise BadOutput(f"public key: {e}") from None


def _witness_path(path: str | None) -> str | None:
    """``--witness``, else ``CASETRAIL_WITNESS``, else the default witness file if it exists."""
    from domain.audit.witness import WITNESS_ENV, witness_path

    if path:
        if not os.path.exists(path):
            raise BadOutput(f"no witness at {path}")
        return path
    default = witness_path()
    return default if os.environ.get(WITNESS_ENV) or os.path.exists(default) else None


def _verify_text(data: dict[str, Any]) -> str:
    scope = (f"{data['events_checked']} events of {data['cases_checked']} cases "
             f"({data['aggregates_checked']} aggregates)")
    since = data.get("since")
    if since:
        scope += (f", incremental since checkpoint #{since['checkpoint']} (position {since['position']}, "
                  f"access position {since['access_position']})")
    lines = [f"OK: {scope}" if data["ok"] else f"FAIL: {len(data['problems'])} problem(s) in {scope}"]
    lines += [f"  case {p['case_id']} version {p['version']}: {p['kind']} - {p['detail']}" for p in data["problems"]]
    cp, witness = data["checkpoint"], data["witness"]
    if cp:
        sig = {True: "signature ok", False: "signature INVALID", None: "signature not checked"}[cp["signature_ok"]]
        root = "root ok" if cp["root_ok"] else "root INVALID"
        lines.append(f"checkpoint #{cp['seq']} at {cp['at']} over {cp['count']} heads: {root}, {sig} "
                     f"({cp['scheme']}; chain of {data['checkpoints']})")
    elif witness and witness["checkpoints"]:
        lines.append(f"NO CHECKPOINT in the database, but the witness holds {witness['checkpoints']}")
    else:
        lines.append("no checkpoint yet (`casetrail audit checkpoint`)")
    if witness:
        lines.append(f"witness {witness['path']}: {witness['checkpoints']} checkpoint(s), last #{witness['last_seq']}")
    lines.append(f"access ledger: {data['access_events_checked']} events checked")
    lines += [f"warning: {w['kind']}: {w['detail']}" for w in data["warnings"]]
    return "\n".join(lines)


@audit.command("checkpoint")
def checkpoint_cmd() -> None:
    """Sign (Ed25519) a digest of all chain heads, linked to the previous checkpoint,
    and append it to the witness."""
    from domain.audit.verification import CheckpointRefused, checkpoint

    try:
        with closing(application()) as app:
            digest = checkpoint(app, _signer(), witness=_witness_for_writing())
    except CheckpointRefused as e:
        click.echo(f"error: {e}", err=True)
        for p in e.extra.get("problems", []):
            where = f"case {p['case_id']} version {p['version']}" if "case_id" in p else f"#{p['seq']} {p['kind']}"
            click.echo(f"  {where}: {p['detail']}", err=True)
        _exit(1)
    click.echo(json.dumps(digest, indent=2))


@audit.command("public-key")
def public_key_cmd() -> None:
    """Print the PEM public key that verifies the checkpoints (creates the key pair on first use)."""
    from domain.audit.signing import public_key_for, public_pem

    key = public_key_for() if os.environ.get("CASETRAIL_PUBLIC_KEY") else _signer().public_key()
    click.echo(public_pem(key), nl=False)


def _signer() -> Any:
    from domain.audit.signing import SigningKeyError, signer_for

    try:
        return signer_for()
    except (OSError, SigningKeyError) as e:
        raise BadOutput(f"signing key: {e}") from None


def _witness_for_writing() -> Any:
    from domain.audit.witness import Witness, witness_path

    return Witness(witness_path())


@audit.command("export")
@click.argument("case")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, allow_dash=True),
              help="Bundle file to write (JSON); - for standard output.")
@click.option("--as", "as_staff", metavar="STAFF_ID", help="Record the export as this staff member.")
@click.option("--format", "fmt", type=click.Choice(["json", "html"]), default="json", show_default=True,
              help="json: the bundle verify-bundle checks; html: a printable evidence report of the same.")
def export_cmd(case: str, output: str, as_staff: str | None, fmt: str) -> None:
    """Write a self-contained evidence bundle (or printable report) for CASE."""
    from domain.audit.bundle import bundle_text
    from domain.audit.report import bundle_html
    from domain.audit.verification import export_bundle

    if output != "-":
        folder = os.path.dirname(os.path.abspath(output))
        if not os.path.isdir(folder):
            raise BadOutput(f"cannot write {output}: folder {folder} does not exist")
        if not os.access(folder, os.W_OK):
            raise BadOutput(f"cannot write {output}: folder {folder} is not writable")
    with closing(application()) as app:
        actor = app.get_staff(as_staff).as_actor() if as_staff else Actor.system(f"cli:{_user()}")
        bundle = export_bundle(app, case_uuid(case), signer=_signer(), witness=_witness_for_writing(), actor=actor,
                               ctx=CommandContext(correlation_id=f"cli-export:{os.getpid()}"))
    text = bundle_html(bundle) if fmt == "html" else bundle_text(bundle)
    if output == "-":
        click.echo(text, nl=False)
    else:
        tmp = f"{output}.tmp-{os.getpid()}"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, output)  # nothing half-written under the bundle's name
    cp = bundle["checkpoint"]
    anchored = f"checkpoint #{cp['seq']} covers version {cp['leaf']['version']}" if cp else "no checkpoint"
    signed = "Ed25519-signed checkpoint" if cp and cp.get("signature") else "no signed checkpoint"
    where = "standard output" if output == "-" else output
    click.echo(f"wrote {where}: {len(bundle['events'])} events, {anchored}, {signed}", err=True)


@audit.command("verify-bundle")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--public-key", "public_key", metavar="PEM_FILE",
              help="The published public key: a valid Ed25519 signature is then required.")
@click.option("--key-env", "use_key", is_flag=True, help=f"Legacy bundles: check the HMACs with ${KEY_ENV}.")
@click.option("--key-var", metavar="NAME", help="Legacy bundles: check the HMACs with this environment variable.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def verify_bundle_cmd(file: str, public_key: str | None, use_key: bool, key_var: str | None, as_json: bool) -> None:
    """Verify a bundle offline (no database): hashes, chain, decoded events, inclusion
    proof, checkpoint chain and signature."""
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
    report = verify_bundle(bundle, key, public_key=_public_key(public_key) if public_key else None).as_dict()
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

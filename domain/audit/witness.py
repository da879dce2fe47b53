"""The witness: every checkpoint, also written outside the database.

``CASETRAIL_WITNESS`` names a file (JSON lines, appended and fsynced, one
checkpoint a line) or an existing folder (one ``checkpoint-NNNNNNNN.json``
file per checkpoint, written once and never replaced). Unset, it is
``casetrail-witness.jsonl`` next to the signing key. The operator ships it
elsewhere (log shipping, WORM storage, a notary); an insider who can write the
database but not the witness cannot roll the checkpoint chain back, delete it,
or edit a checkpoint without ``audit verify --witness`` naming what differs.

A witness record is ``proofs.public_record``: the signed fields, the scheme
and the signature (no heads: they stay in the database, bound by the root).
``read`` returns the records by sequence number and the witness's own damage
(unreadable lines, two different records under one number).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from domain.audit.proofs import public_record
from domain.audit.signing import key_path

WITNESS_ENV = "CASETRAIL_WITNESS"
WITNESS_FILE = "casetrail-witness.jsonl"


def witness_path(environ: Mapping[str, str] | None = None, url: str | None = None) -> str:
    """``CASETRAIL_WITNESS``, else the witness file next to the signing key."""
    env = os.environ if environ is None else environ
    return env.get(WITNESS_ENV) or str(Path(key_path(env, url)).with_name(WITNESS_FILE))


@dataclass
class WitnessRecords:
    """What a witness holds: checkpoint records by sequence number, and its own damage."""

    path: str
    records: dict[int, dict[str, Any]] = field(default_factory=dict)
    damaged: list[str] = field(default_factory=list)

    @property
    def last(self) -> dict[str, Any] | None:
        return self.records[max(self.records)] if self.records else None

    def ordered(self) -> list[dict[str, Any]]:
        return [self.records[s] for s in sorted(self.records)]


class Witness:
    """A witness file or folder."""

    def __init__(self, path: str) -> None:
        self.path = path

    @property
    def is_folder(self) -> bool:
        return os.path.isdir(self.path)

    def exists(self) -> bool:
        return os.path.exists(self.path)

    def append(self, checkpoint: Mapping[str, Any]) -> None:
        """Write one checkpoint (durably) to the witness."""
        record = public_record(checkpoint)
        line = json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n"
        if self.is_folder:
            target = os.path.join(self.path, f"checkpoint-{int(record['seq']):08d}.json")
            try:
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                return  # written before (a retried checkpoint): the reader compares the two
        else:
            folder = os.path.dirname(os.path.abspath(self.path))
            os.makedirs(folder, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            os.write(fd, line.encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)

    def read(self) -> WitnessRecords:
        out = WitnessRecords(self.path)
        if not self.exists():
            return out
        if self.is_folder:
            sources = [(p.name, p.read_text(encoding="utf-8")) for p in sorted(Path(self.path).glob("*.json"))]
        else:
            text = Path(self.path).read_text(encoding="utf-8", errors="replace")
            sources = [(f"line {i}", line) for i, line in enumerate(text.splitlines(), start=1) if line.strip()]
        for where, text in sources:
            try:
                record = json.loads(text)
                seq = int(record["seq"])
            except (ValueError, KeyError, TypeError):
                out.damaged.append(f"{where}: not a checkpoint record")
                continue
            before = out.records.get(seq)
            if before is not None and before != record:
                out.damaged.append(f"{where}: a second, different record for checkpoint #{seq}")
                continue
            out.records[seq] = record
        return out


def read_witness(path: str | None) -> WitnessRecords | None:
    """The records at ``path`` (None when no path is given)."""
    return Witness(path).read() if path else None

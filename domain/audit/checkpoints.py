"""The database's checkpoint chain against the public key and the witness.

``chain_findings`` is shared by ``audit verify`` (which reports the findings)
and by ``ledger.checkpoint`` (which refuses to sign while there is one), so a
checkpoint is never signed on top of a ledger that was rolled back, edited,
deleted or re-signed. Each finding is ``(seq, kind, detail)``:

- ``checkpoint_gap``: a sequence number missing from the database's chain;
- ``checkpoint_invalid``: a ``prev`` that does not link, a bad signature;
- ``checkpoint_missing``: the witness has a checkpoint the database lacks
  (the ledger was deleted or rolled back) — "no checkpoint" fails closed;
- ``checkpoint_altered``: the database's checkpoint differs from the witnessed one;
- ``witness_invalid``: the witness itself is damaged or holds a record the
  public key did not sign.

``unwitnessed`` lists the database's checkpoints the witness does not have yet
(a warning: the witness write after the commit did not happen).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from domain.audit.proofs import ED25519, RECORD_FIELDS, chain_problems, ed25519_valid, public_record, scheme_of
from domain.audit.witness import WitnessRecords

Finding = tuple[int, str, str]


def chain_findings(checkpoints: Sequence[Mapping[str, Any]], public_key: Any = None,
                   legacy_key: str | bytes | None = None, witness: WitnessRecords | None = None) -> list[Finding]:
    """Every break in the chain, and every disagreement with the witness."""
    out = chain_problems(checkpoints, public_key, legacy_key)
    if witness is None:
        return out
    out += [(0, "witness_invalid", f"{witness.path}: {d}") for d in witness.damaged]
    stored = {int(cp["seq"]): public_record(cp) for cp in checkpoints}
    missing: list[int] = []
    for seq, record in sorted(witness.records.items()):
        if public_key is not None and scheme_of(record) == ED25519 and not ed25519_valid(public_key, record):
            out.append((seq, "witness_invalid", f"witnessed checkpoint #{seq} is not signed by the public key"))
            continue
        mine = stored.get(seq)
        if mine is None:
            missing.append(seq)
            continue
        changed = [k for k in RECORD_FIELDS if _text(mine.get(k)) != _text(record.get(k))]
        if changed:
            out.append((seq, "checkpoint_altered", f"checkpoint #{seq} differs from the witness in "
                        + ", ".join(f"{k} (database {mine.get(k)!r}, witness {record.get(k)!r})" for k in changed)))
    for first, last in _runs(missing):
        what = f"checkpoint #{first}" if first == last else f"checkpoints #{first}..#{last}"
        w = witness.records[last]
        out.append((first, "checkpoint_missing", f"{what} witnessed (last at {w.get('at')}, position "
                    f"{w.get('position')}, root {w.get('root')}) but not in the database: the audit ledger "
                    f"was {'deleted' if not stored else 'rolled back or cut'}"))
    return out


def unwitnessed(checkpoints: Sequence[Mapping[str, Any]], witness: WitnessRecords | None) -> list[int]:
    if witness is None:
        return []
    return [int(cp["seq"]) for cp in checkpoints if int(cp["seq"]) not in witness.records]


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _runs(numbers: Sequence[int]) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    for n in numbers:
        if runs and runs[-1][1] == n - 1:
            runs[-1] = (runs[-1][0], n)
        else:
            runs.append((n, n))
    return runs

"""Exporting a case's evidence bundle from the database (the layout is ``domain.audit.bundle``).

``export_bundle`` anchors the case's head in a signed checkpoint (signing a
fresh one first when the head is not covered yet and a signer is at hand),
adds the inclusion proof and the checkpoint chain up to the anchoring
checkpoint (at most ``CHAIN_LIMIT`` records, newest kept), the public key's id
and PEM, and records the export in the access ledger.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from domain.audit.bundle import make_bundle
from domain.audit.ledger import CheckpointRefused, checkpoint, read_ledger
from domain.audit.proofs import key_id, merkle_proof, sorted_leaves
from domain.audit.signing import Signer, public_pem
from domain.audit.witness import Witness
from domain.model.actor import Actor, CommandContext

CHAIN_LIMIT = 100


def export_bundle(app: Any, case_id: UUID | str, *, signer: Signer | None = None, actor: Actor,
                  ctx: CommandContext = CommandContext(), access: Any = None, witness: Witness | str | None = None,
                  public_key: Any = None) -> dict[str, Any]:
    """The case's evidence bundle; records the export in the access ledger."""
    case = app.get_case(case_id)
    ledger = read_ledger(app)
    aid = str(case.id)
    covered = ledger is not None and ledger.last is not None and ledger.heads.get(aid, [0])[0] >= case.version
    if signer is not None and not covered:
        try:
            checkpoint(app, signer, witness=witness)
            ledger = read_ledger(app)
        except CheckpointRefused:
            pass  # the older checkpoint (if any) anchors what it covers; verify says why
    stored = app.recorder.select_events(case.id)
    cp = proof = None
    chain: list[dict[str, Any]] = []
    if ledger is not None and ledger.last is not None and aid in ledger.heads:
        names = sorted(ledger.heads)
        version, head = ledger.heads[aid]
        proof = merkle_proof(sorted_leaves(ledger.heads), names.index(aid))
        cp = {**ledger.last, "leaf": {"version": version, "head": head}}
        chain = ledger.checkpoints[-CHAIN_LIMIT:]
    public = public_key if public_key is not None else (signer.public_key() if signer is not None else None)
    now: datetime = app.clock()
    bundle = make_bundle(aid, [(s.originator_version, s.topic, bytes(s.state)) for s in stored],
                         exported_at=now.isoformat(), exported_by=actor.id, checkpoint=cp, proof=proof, chain=chain,
                         public_key={"key_id": key_id(public), "pem": public_pem(public)} if public else None,
                         case={"number": case.number, "type": case.case_type, "status": case.status,
                               "version": case.version})
    (access or app.access_ledger).record_read(actor, aid, "export", {
        "events": len(stored), "checkpoint_seq": cp["seq"] if cp else None}, ctx=ctx)
    return bundle

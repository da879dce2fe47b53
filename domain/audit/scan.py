"""The full verify's scan of one log: every chain from the stored bytes, then the suspects.

``verify_log`` is pass 1 and 2 of ``domain.audit.verification.verify`` (store-wide):
it streams the notification log once, keeping (version, hash) per aggregate,
re-reads only the aggregates that looked wrong and classifies them from their
fully decoded rows (``classify_chain``), and checks each aggregate's stored
snapshots against its replayed events (``check_snapshots``).
"""

from __future__ import annotations

import hashlib
from typing import Any
from uuid import UUID

from domain.audit.bundle import fast_prev_hash
from domain.audit.classify import Problem, classify_chain
from domain.audit.ledger import iter_notifications, ledger_id, stored_prev_hash
from domain.audit.proofs import genesis_hash
from domain.model.case import Case
from domain.model.topics import topic_prefixes
from domain.storage.chain import project_with_head

CASE_TOPICS = topic_prefixes(Case)  # "domain.model.case:Case.", and the path before the move


def verify_log(app: Any, signed: dict[UUID, list[Any]], report: Any, *, at: int | None = None,
                heads_at: dict[str, list[Any]] | None = None) -> list[Problem]:
    """Pass 1 streams the log keeping (version, hash) per aggregate (and the heads
    as of position ``at`` into ``heads_at``); pass 2 re-reads only the aggregates
    that looked wrong and classifies them.

    Pass 1 is the whole cost of a clean store, so it does per event only what
    the check needs: the SHA-256 of the stored bytes, the ``prev_hash`` read from
    where the encoder writes it (``fast_prev_hash``; anything unusual falls back to
    decoding the body), aggregates keyed by their id's integer (no ``UUID`` hashing),
    local names instead of attribute lookups."""
    seen: dict[int, list[Any]] = {}  # id.int -> [version, hash, id]
    suspects: set[UUID] = set()
    mapper, cases = app.mapper, 0
    own = ledger_id()
    stop = app.recorder.max_notification_id() or 0
    last_id = 0
    problems: list[Problem] = []
    signed_by_int = {oid.int: head for oid, head in signed.items()}
    plain = mapper.cipher is None and mapper.compressor is None
    sha256, genesis, case_topics = hashlib.sha256, genesis_hash, CASE_TOPICS
    events = 0

    def capture() -> None:
        if heads_at is not None:
            heads_at.update({str(v[2]): [v[0], v[1]] for v in seen.values() if v[2] != own})

    for n in iter_notifications(app.recorder, 1, stop):
        nid = n.id
        if at is not None and last_id <= at < nid:
            capture()
            at = None
        if nid != last_id + 1:
            report.gaps.append({"from": last_id + 1, "to": nid - 1})
        last_id = nid
        oid, version, state, topic = n.originator_id, n.originator_version, n.state, n.topic
        digest = sha256(topic.encode("utf-8"))
        digest.update(b"\n")
        digest.update(state)
        h = digest.hexdigest()
        prev = fast_prev_hash(state) if plain else None
        if prev is None:
            prev = stored_prev_hash(mapper, state)
        key = oid.int
        last = seen.get(key)
        if last is None:
            ok = version == 1 and prev == genesis(oid)
            seen[key] = [version, h, oid]
            if topic.startswith(case_topics):
                cases += 1
        else:
            ok = version == last[0] + 1 and prev == last[1]
            last[0], last[1] = version, h
        if not ok:
            suspects.add(oid)
        elif key in signed_by_int:
            head = signed_by_int[key]
            if head[0] == version and head[1] != h:
                suspects.add(oid)
        events += 1
    report.events_checked += events
    if at is not None:
        capture()
        if last_id < at:
            problems.append(Problem(str(own), last_id + 1, "log_truncated", f"the log ends at position {last_id}; "
                                    f"a witnessed checkpoint covers position {at}"))
    for oid, (version, _h) in signed.items():
        found = seen.get(oid.int)
        if found is None:
            problems.append(case_missing(oid, version))
        elif found[0] < version:
            suspects.add(oid)
    for oid in sorted(suspects, key=str):
        problems += classify_chain(str(oid), chain_rows(app, oid), signed.get(oid))
    least = min((getattr(app, "snapshotting_intervals", None) or {None: 1}).values())
    for oid in sorted((v[2] for v in seen.values() if v[0] >= least), key=str):
        problems += check_snapshots(app, oid)
    report.cases_checked, report.aggregates_checked = cases, len(seen)
    return problems


def check_snapshots(app: Any, oid: UUID) -> list[Problem]:
    """Each stored snapshot of ``oid`` must be the state its events give at that
    version (loading starts from the latest snapshot, so a forged one would
    change what every read returns while the chain still verifies)."""
    store = getattr(app, "snapshots", None)
    snapshots = list(store.recorder.select_events(oid)) if store is not None else []
    if not snapshots:
        return []
    out: list[Problem] = []
    wanted = {s.originator_version: s for s in snapshots}
    aggregate = None
    try:
        for e in app.events.get(oid, lte=max(wanted)):  # the events only, never a snapshot
            aggregate = project_with_head(aggregate, [e])
            stored = wanted.pop(e.originator_version, None)
            if stored is not None and not _same_snapshot(app, stored, aggregate):
                out.append(Problem(str(oid), e.originator_version, "snapshot_mismatch",
                                   "the stored snapshot differs from the state replayed from the chained events"))
    except Exception as e:  # an undecodable event is reported by the chain checks
        first = min(s.originator_version for s in snapshots)
        out.append(Problem(str(oid), first, "snapshot_mismatch", f"could not replay to check snapshots: {e}"))
        return out
    out += [Problem(str(oid), v, "snapshot_mismatch", "snapshot of a version that has no event") for v in wanted]
    return out


def _same_snapshot(app: Any, stored: Any, aggregate: Any) -> bool:
    try:
        snapshot = app.mapper.to_domain_event(stored)
    except Exception:
        return False
    expected = type(snapshot).take(aggregate)
    return (snapshot.topic, app.mapper.transcoder.encode(snapshot.state)) == (
        expected.topic, app.mapper.transcoder.encode(expected.state))


def case_missing(oid: UUID, version: int) -> Problem:
    return Problem(str(oid), 1, "case_missing", f"no stored events; the checkpoint signed versions 1..{version}")


def chain_rows(app: Any, oid: UUID) -> list[tuple[int, str, bytes, str | None]]:
    return [(s.originator_version, s.topic, bytes(s.state), stored_prev_hash(app.mapper, s.state))
            for s in app.recorder.select_events(oid)]

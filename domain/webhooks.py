"""Webhook subscriptions as use cases: subscribe, list, re-enable, unsubscribe; the deny list.

``subscribe`` validates the request (``domain.model.webhooks.check_subscription``),
refuses a URL whose host is or resolves to an address the operator denies
(``CASETRAIL_WEBHOOK_DENY``: comma-separated CIDR networks; loopback and private
addresses are allowed unless listed), stores the secret sealed in the webhooks'
own table (``domain.storage.webhook_table``) and then records the
``Subscription.Subscribed`` event (who, when, URL, event types; no secret). A
table row without its event (a save that failed) is never used. The deliveries
themselves are made by the outbox projection and the dispatcher
(``projections.webhook_outbox``, ``projections.webhook_dispatch``).
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit
from uuid import UUID

import structlog
from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from domain.keyed import Keyed
from domain.model.actor import Actor, CommandContext, event_meta
from domain.model.errors import InvalidFields, RoleNotAllowed
from domain.model.webhooks import Subscription, SubscriptionNotFound, check_subscription, subscription_id
from domain.storage.webhook_table import DELETED, WebhookTable

if TYPE_CHECKING:
    from domain.application import CaseTrail

log = structlog.get_logger("casetrail.webhooks")
DENY_ENV = "CASETRAIL_WEBHOOK_DENY"
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class DeniedAddress(Exception):
    """The webhook's host is (or resolves to) an address the operator denies."""


def deny_networks(value: str | None = None) -> list[Network]:
    """The networks of ``CASETRAIL_WEBHOOK_DENY`` (ValueError naming a bad entry)."""
    text = os.environ.get(DENY_ENV, "") if value is None else value
    out = []
    for part in (p.strip() for p in text.split(",")):
        if part:
            try:
                out.append(ipaddress.ip_network(part, strict=False))
            except ValueError:
                raise ValueError(f"{DENY_ENV}: {part!r} is not a CIDR network") from None
    return out


def resolve(host: str, port: int | None) -> list[str]:
    """The addresses ``host`` stands for (itself when it is an address); [] when it does not resolve."""
    try:
        return [str(ipaddress.ip_address(host.strip("[]")))]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port or 443, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, OSError):
        return []
    return list(dict.fromkeys(str(info[4][0]).split("%")[0] for info in infos))


def denied(addresses: Iterable[str], networks: Iterable[Network]) -> str | None:
    """The first of ``addresses`` inside one of ``networks``, or None."""
    nets = list(networks)
    for text in addresses:
        address = ipaddress.ip_address(text)
        mapped = getattr(address, "ipv4_mapped", None)
        if any(address in n or (mapped is not None and mapped in n) for n in nets):
            return text
    return None


def check_destination(url: str, networks: Iterable[Network] | None = None) -> list[str]:
    """The addresses of ``url``'s host; ``DeniedAddress`` when one of them is denied. With no
    network denied nothing needs checking: no DNS lookup, [] (the HTTP client resolves the name)."""
    parts = urlsplit(url)
    nets = deny_networks() if networks is None else list(networks)
    if not nets:
        return []
    addresses = resolve(parts.hostname or "", parts.port)
    bad = denied(addresses, nets)
    if bad is not None:
        raise DeniedAddress(f"{parts.hostname} is {bad}, an address the operator denies ({DENY_ENV})")
    return addresses


def webhook_table(app: CaseTrail) -> WebhookTable:
    """The application's webhook table (made on first use)."""
    table = getattr(app, "_webhook_table", None)
    if table is None:
        keys = app.subject_keys
        table = WebhookTable(keys.datastore, keys.master)
        app._webhook_table = table  # type: ignore[attr-defined]
    return table


def _admin(actor: Actor) -> None:
    if "admin" not in actor.roles:
        raise RoleNotAllowed("only an admin may manage webhooks", allowed_roles=["admin"])


def _replayed(app: CaseTrail, keyed: Keyed | None) -> dict[str, Any] | None:
    """The subscription an earlier request with the same Idempotency-Key made inside the key's
    retention window (422 for another body), as the application replays any keyed command."""
    record = None if keyed is None else keyed.replayed(app.clock(), app.idempotency_retention)
    if record is None:
        return None
    sub = app.load(UUID(record.case_id))
    return {**_view(sub, webhook_table(app).health([str(sub.id)]).get(str(sub.id))), "position": None,
            "replayed": True}


def subscribe(app: CaseTrail, actor: Actor, body: Any, ctx: CommandContext = CommandContext(),
              idempotency: tuple[str, str] | None = None) -> dict[str, Any]:
    """A new subscription (its view, with the ``position`` of its event); with an Idempotency-Key
    ``(key, request fingerprint)`` a repeated request answers the first one's subscription."""
    _admin(actor)
    keyed = Keyed.load(app, actor.id, idempotency)
    replay = _replayed(app, keyed)
    if replay is not None:
        return replay
    url, events, secret = check_subscription(body)
    try:
        check_destination(url)
    except DeniedAddress as e:
        raise InvalidFields(str(e), errors=[{"field": "url", "problem": str(e)}]) from None
    sub = Subscription(url=url, events=events, meta=event_meta(actor, app.clock(), ctx))
    table = webhook_table(app)
    table.add(str(sub.id), secret)
    meta = event_meta(actor, app.clock(), ctx)
    records = [] if keyed is None else keyed.records(app.clock(), target_id=str(sub.id), version=sub.version,
                                                     status=201, meta=meta)
    try:
        recordings = app.save(sub, *records)
    except IntegrityError:  # the same Idempotency-Key at the same moment: the other request's answer
        replay = _replayed(app, Keyed.load(app, actor.id, idempotency))
        if replay is None:
            raise
        return replay
    position = max((r.notification.id for r in recordings), default=None)
    log.info("webhook subscribed", subscription=str(sub.id), events=events, by=actor.id, position=position)
    return {**_view(sub, table.health([str(sub.id)]).get(str(sub.id))), "position": position, "replayed": False}


def _load(app: CaseTrail, subscription: Any) -> Subscription:
    sid = subscription_id(subscription)
    try:
        sub: Subscription = app.load(sid)
    except AggregateNotFoundError:
        raise SubscriptionNotFound(f"no webhook subscription {str(sid)!r}") from None
    if not isinstance(sub, Subscription) or sub.deleted:
        raise SubscriptionNotFound(f"no webhook subscription {str(sid)!r}")
    return sub


def _view(sub: Subscription, health: dict[str, Any] | None) -> dict[str, Any]:
    h = health or {"status": "active", "reason": None, "since": None, "failures": 0}
    return {**sub.view(), "status": h["status"], "disabled_reason": h["reason"] if h["status"] == "disabled" else None,
            "status_since": h["since"], "failures_in_a_row": int(h["failures"] or 0)}


def get_subscription(app: CaseTrail, actor: Actor, subscription: Any) -> dict[str, Any]:
    _admin(actor)
    sub = _load(app, subscription)
    return _view(sub, webhook_table(app).health([str(sub.id)]).get(str(sub.id)))


def list_subscriptions(app: CaseTrail, actor: Actor) -> list[dict[str, Any]]:
    """Every subscription not deleted, oldest first."""
    _admin(actor)
    out = []
    for sid, health in webhook_table(app).health().items():
        if health["status"] == DELETED:
            continue
        try:
            sub = app.load(UUID(sid))
        except AggregateNotFoundError:  # its save failed after the row was written: never used
            continue
        if isinstance(sub, Subscription) and not sub.deleted:
            out.append(_view(sub, health))
    return sorted(out, key=lambda v: (v["created_at"], v["id"]))


def reenable(app: CaseTrail, actor: Actor, subscription: Any, ctx: CommandContext = CommandContext()) -> dict[str, Any]:
    """Deliveries back on (failures forgotten); the re-enabling is recorded when it was disabled."""
    _admin(actor)
    sub = _load(app, subscription)
    table = webhook_table(app)
    before = table.health([str(sub.id)]).get(str(sub.id)) or {}
    if before.get("status") == "disabled":
        sub.reenabled(meta=event_meta(actor, app.clock(), ctx))
        app.save(sub)
        log.info("webhook re-enabled", subscription=str(sub.id), by=actor.id)
    table.enable(str(sub.id))
    return _view(sub, table.health([str(sub.id)]).get(str(sub.id)))


def unsubscribe(app: CaseTrail, actor: Actor, subscription: Any, ctx: CommandContext = CommandContext()) -> int | None:
    """Remove a subscription: its event is recorded, its secret blanked, its pending deliveries dropped."""
    _admin(actor)
    sub = _load(app, subscription)
    webhook_table(app).delete(str(sub.id))  # first: no delivery from now on (a retry after a failed save is fine)
    sub.unsubscribed(meta=event_meta(actor, app.clock(), ctx))
    recordings = app.save(sub)
    log.info("webhook unsubscribed", subscription=str(sub.id), by=actor.id)
    return max((r.notification.id for r in recordings), default=None)

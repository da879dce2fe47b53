"""Webhook subscriptions: one aggregate per subscription, the audit trail of who did what.

A ``Subscription`` records who subscribed which URL to which case event types
(``Subscribed``), who re-enabled it after the dispatcher disabled it
(``Reenabled``) and who removed it (``Unsubscribed``). Its secret is never part
of an event: it lives sealed in a table of its own
(``domain.storage.webhook_table``). ``check_subscription`` validates a
subscription request, reporting every problem at once; the event types are the
class names of the case's events (``Opened``, ``ActionTaken``, ...).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.model.case import Case
from domain.model.copying import PlainCopy
from domain.model.errors import DomainError, InvalidFields

EVENT_TYPES: tuple[str, ...] = tuple(sorted(
    name for name, c in vars(Case).items()
    if isinstance(c, type) and issubclass(c, Case.Event) and name not in ("Event", "Created")))
MAX_URL = 2000
MIN_SECRET, MAX_SECRET = 16, 256
FIELDS = ("url", "events", "secret")


class SubscriptionNotFound(DomainError):
    """No webhook subscription with that id (or it was deleted)."""

    status = 404
    kind = "not-found"
    title = "Not found"


def _url_problems(url: Any) -> list[str]:
    if not isinstance(url, str) or not url.strip():
        return ["must be an http or https URL"]
    if len(url) > MAX_URL:
        return [f"must be at most {MAX_URL} characters"]
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as e:
        return [f"is not a valid URL ({e})"]
    out = []
    if parts.scheme not in ("http", "https"):
        out.append("must start with http:// or https://")
    if not parts.hostname:
        out.append("must name a host")
    if parts.username is not None or parts.password is not None:
        out.append("must not carry a user name or password (use the secret)")
    if port == 0:
        out.append("must not use port 0")
    if parts.fragment:
        out.append("must not have a #fragment")
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        out.append("must not contain spaces or control characters")
    return out


def check_subscription(body: Any) -> tuple[str, list[str], str]:
    """The ``(url, events, secret)`` of a subscription request; ``InvalidFields`` naming
    every problem otherwise."""
    if not isinstance(body, dict):
        raise InvalidFields('the body must be {"url", "events", "secret"}',
                            errors=[{"field": "", "problem": "must be an object with url, events and secret"}])
    errors = [{"field": k, "problem": "unknown field (the fields are url, events, secret)"}
              for k in body if k not in FIELDS]
    errors += [{"field": k, "problem": "is required"} for k in FIELDS if k not in body]
    url, events, secret = body.get("url"), body.get("events"), body.get("secret")
    url = url.strip() if isinstance(url, str) else url
    if "url" in body:
        errors += [{"field": "url", "problem": p} for p in _url_problems(url)]
    if "events" in body:
        if not isinstance(events, list) or not events:
            errors.append({"field": "events",
                           "problem": f"must be a non-empty list of event types {list(EVENT_TYPES)}"})
        else:
            for i, name in enumerate(events):
                if not isinstance(name, str) or name not in EVENT_TYPES:
                    errors.append({"field": f"events[{i}]",
                                   "problem": f"unknown event type {name!r}; known: {list(EVENT_TYPES)}"})
            if len(set(map(str, events))) != len(events):
                errors.append({"field": "events", "problem": "lists an event type twice"})
    if "secret" in body and (not isinstance(secret, str) or not MIN_SECRET <= len(secret) <= MAX_SECRET
                             or not secret.isprintable()):
        errors.append({"field": "secret",
                       "problem": f"must be a printable text of {MIN_SECRET} to {MAX_SECRET} characters"})
    if errors:
        raise InvalidFields("; ".join(f"{e['field'] or 'body'} {e['problem']}" for e in errors), errors=errors)
    assert isinstance(url, str) and isinstance(events, list) and isinstance(secret, str)
    return url, [str(e) for e in events], secret


class Subscription(PlainCopy, Aggregate):
    """A webhook subscription: a URL told about some event types of every case."""

    @event("Subscribed")
    def __init__(self, url: str, events: list[str], meta: dict[str, Any]) -> None:
        self.url = url
        self.events = list(events)
        self.created_at = meta["occurred_at"]
        self.created_by = meta.get("actor")
        self.deleted = False
        self.head_hash: str | None = None

    @event("Reenabled")
    def reenabled(self, meta: dict[str, Any]) -> None:
        """An admin turned deliveries back on after the dispatcher disabled them."""

    @event("Unsubscribed")
    def unsubscribed(self, meta: dict[str, Any]) -> None:
        self.deleted = True

    def view(self) -> dict[str, Any]:
        return {"id": str(self.id), "url": self.url, "events": list(self.events), "created_at": self.created_at,
                "created_by": self.created_by}


def subscription_id(value: Any) -> UUID:
    """The id in a path (``SubscriptionNotFound`` when it is not a UUID)."""
    try:
        return UUID(str(value))
    except ValueError:
        raise SubscriptionNotFound(f"no webhook subscription {str(value)[:80]!r}") from None

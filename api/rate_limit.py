"""Per-token rate limiting: over the limit, a 429 problem with ``Retry-After``.

``CASETRAIL_RATE_LIMIT`` sets it; unset, empty or ``off`` (the default) turns
it off. The value is a rate in the notation of the ``limits`` library
(``50/second``, ``3000/minute``, ``10 per 2 seconds``), optionally followed
by ``;burst=N``: at most N requests at once, refilled at the rate, so
``50/second;burst=100`` allows 100 requests in a burst and 50 a second
after that. Several rates may be given (``50/second;2000/minute``); the
burst applies to the first. Without a burst, the burst is one period's worth
of the rate. Recommended for production: ``20/second;burst=50`` per token.

The limit is kept per API token (by the token's hash, never the token), not
per address: every authenticated request of that token counts after it
authenticated (``api.auth.authenticate``), so unauthenticated requests and the
operations endpoints that take no token (``/healthz``, ``/readyz``,
``/openapi.json``, ``/docs``) are never limited. An importer's
``POST /v1/import/cases`` (a bulk import) is not limited either. The counts
live in the memory of the process (``limits``' moving window over its
``MemoryStorage``): with ``casetrail serve --workers N`` each worker process
keeps its own, so a token may make up to N times the limit in all.

A burst of N at a rate of R per period of P seconds is the moving window
"N requests per ceil(N * P / R) seconds", which allows N at once and at most R
per period on average (the burst must be at least one second's worth).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Sequence

from limits import RateLimitItem, RateLimitItemPerSecond, parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from domain.model.staff import token_hash

OFF = ("", "off", "none", "false", "0")


class RateLimitConfigError(ValueError):
    """``CASETRAIL_RATE_LIMIT`` is not a rate this module understands."""


def _items(text: str) -> list[RateLimitItem]:
    parts = [p.strip() for p in text.split(";") if p.strip()]
    burst = None
    rates: list[RateLimitItem] = []
    for part in parts:
        if part.lower().startswith("burst"):
            _, _, value = part.partition("=")
            if not value.strip().isdigit() or int(value) < 1:
                raise RateLimitConfigError(f"{part!r}: burst must be burst=N with N a whole number >= 1")
            burst = int(value)
            continue
        try:
            rate = parse(part)
        except ValueError:
            raise RateLimitConfigError(f"{part!r} is not a rate like 50/second, 3000/minute or "
                                       "10 per 2 seconds") from None
        if rate.amount < 1:
            raise RateLimitConfigError(f"{part!r}: a rate allows at least 1 request (or say off)")
        rates.append(rate)
    if not rates:
        raise RateLimitConfigError(f"{text!r}: give a rate like 50/second (optionally ;burst=N), or off")
    if burst is not None:
        first = rates[0]
        period = first.get_expiry()  # seconds
        if burst * period < first.amount:  # the window would be shorter than the one-second granularity
            raise RateLimitConfigError(f"burst={burst} is less than one second's worth of {first}")
        seconds = math.ceil(burst * period / first.amount)
        rates[0] = RateLimitItemPerSecond(burst, seconds)
    return rates


class RateLimit:
    """The limits of one process, counted per token."""

    def __init__(self, items: Sequence[RateLimitItem], text: str = "") -> None:
        self.items = list(items)
        self.text = text
        self.limiter = MovingWindowRateLimiter(MemoryStorage())

    @classmethod
    def parse(cls, text: str | None) -> RateLimit | None:
        """The limit written as ``text``; None when it is off."""
        value = (text or "").strip()
        if value.lower() in OFF:
            return None
        return cls(_items(value), value)

    @classmethod
    def from_env(cls) -> RateLimit | None:
        try:
            return cls.parse(os.environ.get("CASETRAIL_RATE_LIMIT"))
        except RateLimitConfigError as e:
            raise RateLimitConfigError(f"CASETRAIL_RATE_LIMIT: {e}") from None

    def retry_after(self, token: str) -> int | None:
        """Count one request of ``token``: None if it may go ahead, else the seconds to wait."""
        key = token_hash(token)
        refused = [item for item in self.items if not self.limiter.test(item, key)]
        if not refused:
            for item in self.items:
                self.limiter.hit(item, key)
            return None
        reset = max(self.limiter.get_window_stats(item, key).reset_time for item in refused)
        return max(1, math.ceil(reset - time.time()))

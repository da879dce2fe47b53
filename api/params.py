"""Query parameters: strict parsing, one 400 problem per mistake.

Every endpoint names the query parameters it understands (``only``); an
unknown one is refused, so a typo (``?limt=5``) is reported instead of
silently ignored. Integers, numbers and RFC 3339 times are parsed here with
their bounds, for every endpoint alike (including the read-model ones, e.g.
``?min_position=``).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from starlette.requests import Request

from api.problems import bad_request

LOST_PLUS = re.compile(r"\s([0-9]{2}:?[0-9]{2})$")
LEAP_SECOND = re.compile(r"(?<=T[0-9]{2}:[0-9]{2}):60(?=[.Z+-]|$)")
MAX_DIGITS = 40  # longer than any bound here; int() refuses (slowly) beyond 4300 digits
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9998, 12, 31, tzinfo=UTC)


def only(request: Request, *names: str) -> None:
    unknown = sorted(set(request.query_params) - set(names))
    if unknown:
        raise bad_request(f"unknown query parameters {[u[:40] for u in unknown[:5]]}; "
                          f"this endpoint takes {list(names) or 'none'}")
    for name in names:
        if len(request.query_params.getlist(name)) > 1:
            raise bad_request(f"give the query parameter {name!r} once")


def digits(raw: str) -> int | None:
    """The value of a plain decimal number (ASCII digits only, at most ``MAX_DIGITS``), else None."""
    if not raw.isascii() or not raw.isdigit() or len(raw) > MAX_DIGITS:
        return None
    return int(raw)


def int_param(request: Request, name: str, default: int | None, low: int, high: int) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    value = digits(raw)
    if value is None or not low <= value <= high:
        raise bad_request(f"{name} must be an integer from {low} to {high}, got {raw[:40]!r}")
    return value


def seconds_param(request: Request, name: str, default: float, high: float) -> float:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value <= high:
        raise bad_request(f"{name} must be a number of seconds above 0 and at most {high:g}")
    return value


def rfc3339(value: str) -> str:
    """Normalise RFC 3339 spellings Python does not read: lower-case t/z, a leap second."""
    return LEAP_SECOND.sub(":59", value.strip().upper())


def time_param(request: Request, name: str) -> datetime | None:
    """An RFC 3339 time; times before 1970 or after 9998 are clamped (no case exists then)."""
    raw = request.query_params.get(name)
    if raw is None:
        return None
    # An unencoded "+" in a query string arrives as a space: "...T10:00:00 08:00".
    value = LOST_PLUS.sub(r"+\1", raw.strip()) if " " in raw.strip() else raw
    try:
        dt = datetime.fromisoformat(rfc3339(value).replace("Z", "+00:00"))
    except ValueError:
        raise bad_request(f"{name} must be an RFC 3339 time with offset, got {raw[:40]!r}") from None
    if dt.tzinfo is None or dt.utcoffset() is None or "T" not in rfc3339(value):
        raise bad_request(f"{name} must be an RFC 3339 time with offset, got {raw[:40]!r}")
    if dt.year < 1970:
        return EARLIEST
    if dt.year > 9998:
        return LATEST
    return dt

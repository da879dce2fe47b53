"""Moments in time: the default clock and the one parser of RFC 3339 times.

``utc_now`` is the default "now" of every application (tests and
``sla check --now`` inject their own clock). ``parse_time`` reads an RFC
3339 time with an offset; with ``dates=True`` it also takes a date (or a
``YYYY-MM-DD`` text), meaning midnight in ``zone`` (UTC by default), as
report and list filters do.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, tzinfo
from typing import Any

MAX_TEXT = 64


def utc_now() -> datetime:
    return datetime.now(UTC)


def parse_time(value: Any, zone: tzinfo | None = None, *, dates: bool = False) -> datetime:
    """A timezone-aware datetime from ``value``; ValueError for anything else."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date) and dates:
        moment = datetime(value.year, value.month, value.day, tzinfo=zone or UTC)
    elif isinstance(value, str) and 0 < len(value.strip()) <= MAX_TEXT:
        text = value.strip()
        try:
            if dates and len(text) == 10:
                day = date.fromisoformat(text)
                moment = datetime(day.year, day.month, day.day, tzinfo=zone or UTC)
            else:
                moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise ValueError(f"must be an RFC 3339 time with offset, got {value!r}") from None
    else:
        kind = "a date or an RFC 3339 time" if dates else "an RFC 3339 time with offset"
        raise ValueError(f"must be {kind}, got {value!r}")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"must include a UTC offset (e.g. 2026-11-16T10:00:00+08:00), got {value!r}")
    if not 1970 <= moment.year <= 9998:
        raise ValueError(f"is out of range: {value!r}")
    return moment


def moments(at: datetime, zone: tzinfo) -> dict[str, Any]:
    """What a case-type expression knows of the time: ``now`` (a timestamp) and ``today``
    (the local date as ``YYYY-MM-DD``, comparable with a date field)."""
    return {"now": at.astimezone(UTC), "today": at.astimezone(zone).date().isoformat()}  # CEL takes UTC times

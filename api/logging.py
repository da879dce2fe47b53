"""Structured logs: one JSON object per line, with personal data and secrets redacted.

``configure_logging`` sets up structlog and the standard library (uvicorn's
own messages) to render through the same processor chain, once, at start-up.
Context travels in contextvars (``request_id``, ``actor``, ``case_id``),
bound by the request middleware and the handlers, never string-formatted.

``redact`` is the last processor before rendering: it rewrites every string
in the event (including formatted exception text, request ids, paths and
header values) so that Chinese mobile numbers (also written in groups or
in full-width digits), 18-character resident ID numbers, long runs of
digits that may hide either, and bearer tokens (``ct_...``, ``Bearer ...``)
never reach a log line.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog

# Digits are any Unicode decimal digits (``\d``): full-width ``１３８…`` in a path or a header is
# still a phone number. A phone number may be written in groups (138-1234-5678, 138 1234 5678,
# 138.1234.5678, full-width hyphens, ideographic or no-break spaces); an ID-card number may be
# grouped the same way (6-8-4) and end in a full-width X.
SEP = r"[-‐‑–—－ \u00a0\u2009\u202f\u3000.·_]?"
PHONE = re.compile(rf"(?<!\d)(?:(?:\+|＋)?(?:86|８６){SEP})?[1１][3-9３-９]\d(?:{SEP}\d){{8}}(?!\d)")
ID_CARD = re.compile(rf"(?<![\dA-Za-z])\d{{6}}{SEP}\d{{8}}{SEP}\d{{3}}[\dXxＸｘ](?![\dA-Za-z])")
LONG_NUMBER = re.compile(r"\d{15,}[XxＸｘ]?")  # numbers run together: a phone or an ID inside
TOKEN = re.compile(r"ct_[A-Za-z0-9_\-]+")
BEARER = re.compile(r"(?i)\bbearer\s+[^\s\"',;]+")
_HANDLER_MARK = "_casetrail_handler"


def redact_text(text: str) -> str:
    if not text.isascii():
        text = text.encode("utf-8", "replace").decode("utf-8")  # lone surrogates would break the writer
    text = BEARER.sub("Bearer [redacted]", text)
    text = TOKEN.sub("ct_[redacted]", text)
    text = ID_CARD.sub("[id-card redacted]", text)
    text = PHONE.sub("[phone redacted]", text)
    return LONG_NUMBER.sub("[number redacted]", text)


def _redact(value: Any, depth: int = 0) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if depth > 16:
        return "[nested]"
    if isinstance(value, dict):
        return {k: _redact(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_redact(v, depth + 1) for v in value]
    if isinstance(value, (int, float, bool)) or value is None:
        text = str(value)
        return value if text == redact_text(text) else redact_text(text)
    return redact_text(str(value))


def redact(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: redact phone numbers, ID-card numbers and tokens everywhere."""
    for key in list(event_dict):
        if key.startswith("_"):  # structlog's own bookkeeping (_record, _from_structlog)
            continue
        event_dict[key] = _redact(event_dict[key])
    return event_dict


def _chain() -> list[Any]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        redact,
    ]


def configure_logging(stream: TextIO | None = None, level: str = "INFO") -> None:
    """Route structlog and stdlib logging to ``stream`` (stdout) as redacted JSON lines."""
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_chain(),
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.JSONRenderer(ensure_ascii=False)],
    )
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(formatter)
    setattr(handler, _HANDLER_MARK, True)
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)  # the API writes its own access log
    structlog.configure(
        processors=[*_chain(), structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


def get_logger(name: str = "casetrail.api") -> Any:
    return structlog.get_logger(name)

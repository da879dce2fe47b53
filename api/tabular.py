"""CSV answers for lists and reports people open in a spreadsheet (``Accept: text/csv``).

The case list, the global audit log, a staff member's KPIs and a department
report answer CSV when the client prefers ``text/csv`` to JSON and msgpack:
UTF-8 with a byte-order mark (so spreadsheet programs read Chinese text),
CRLF line ends, a header row, and ``Content-Disposition: attachment`` with a
file name. The rows and columns are the JSON answer's:

- a paged list (cases, audit events): one row per item of **the page** (the
  same ``limit`` and ``cursor`` as JSON); the next page is in a
  ``Link: <...?cursor=...>; rel="next"`` header (none on the last page);
- a report: one row (a staff member's KPIs: the whole range, ``period``
  ``all``, then one row per period with ``by=``).

Columns come from the answer's published schema (``columns``), so they do not
change with the data: nested objects become dotted columns
(``first_response.median_seconds``), lists of plain values are joined with
``"; "``, anything else (an event's ``changes``) is written as JSON text.
``null`` is an empty cell, booleans ``true``/``false``. A text cell that a
spreadsheet would run as a formula (starting with ``=``, ``+``, ``-``, ``@``,
tab or CR) is written with a leading ``'``.

A client whose ``Accept`` names only other types gets 406.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from api.negotiation import JSON_TYPES, MSGPACK_TYPES, PROBLEM_MSGPACK, _accept_ranges
from api.problems import Problem

CSV = "text/csv"
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def _quality(ranges: Sequence[tuple[str, float]], names: Iterable[str]) -> float:
    wanted = set(names)
    return max((q for media, q in ranges if media in wanted), default=0.0)


def wants_csv(request: Request) -> bool:
    """Whether the client prefers CSV (JSON wins ties); 406 when it accepts none of CSV, JSON, msgpack."""
    header = request.headers.get("accept", "").strip()
    if not header:
        return False
    ranges = _accept_ranges(header)
    anything = _quality(ranges, ("*/*",))
    csv_q = max(_quality(ranges, (CSV, "text/*")), anything)
    json_q = max(_quality(ranges, (*JSON_TYPES, "application/*")), anything)
    msgpack_q = _quality(ranges, (*MSGPACK_TYPES, PROBLEM_MSGPACK))
    if max(csv_q, json_q, msgpack_q) <= 0:
        raise Problem(406, f"this answer is available as {CSV}, application/json or application/msgpack; "
                           f"Accept was {header[:100]!r}", supported=[CSV, "application/json", "application/msgpack"])
    return csv_q > max(json_q, msgpack_q)


def columns(schema: Mapping[str, Any], prefix: str = "") -> list[str]:
    """The leaf columns of an object schema, dotted (``cases.assigned``), in the schema's order."""
    out: list[str] = []
    for name, prop in (schema.get("properties") or {}).items():
        path = f"{prefix}{name}"
        if prop.get("type") == "object" and prop.get("properties"):
            out.extend(columns(prop, f"{path}."))
        else:
            out.append(path)
    return out


def _lookup(row: Mapping[str, Any], path: str) -> Any:
    value: Any = row
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, list) and all(v is None or isinstance(v, (str, int, float, bool)) for v in value):
        text = "; ".join(cell(v) for v in value)
    elif isinstance(value, (list, dict)):
        text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    else:
        text = str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def encode(header: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([cell(_lookup(row, column)) for column in header])
    return out.getvalue().encode("utf-8-sig")


def file_name(*parts: str) -> str:
    return "-".join(SAFE_NAME.sub("_", p).strip("_") or "_" for p in parts if p) + ".csv"


def csv_response(request: Request, header: Sequence[str], rows: Iterable[Mapping[str, Any]], name: str, *,
                 headers: Mapping[str, str] | None = None, next_cursor: str | None = None) -> Response:
    out = dict(headers or {})
    out["Content-Disposition"] = f'attachment; filename="{name}"'
    if next_cursor is not None:
        query = [(k, v) for k, v in request.query_params.multi_items() if k != "cursor"] + [("cursor", next_cursor)]
        out["Link"] = f'<{request.url.path}?{urlencode(query)}>; rel="next"'
    response = Response(encode(header, rows), media_type=f"{CSV}; charset=utf-8", headers=out)
    response.headers.append("Vary", "Accept")
    return response


def report_rows(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A staff member's KPIs: the whole range (period ``all``), then each period of ``by``."""
    base = {k: v for k, v in data.items() if k != "periods"}
    rows = [{**base, "period": "all"}]
    for period in data.get("periods") or []:
        rows.append({**base, **period})
    return rows


def media(schema: Mapping[str, Any], what: str) -> dict[str, Any]:
    """The OpenAPI ``text/csv`` media type of an answer whose JSON schema is ``schema``."""
    return {CSV: {"schema": {"type": "string", "description": f"{what}; columns: {', '.join(columns(schema))}"}}}


# OpenAPI: what the CSV answers add to a response
HEADERS = {
    "Content-Disposition": {"description": 'with Accept: text/csv: attachment; filename="...csv"',
                            "schema": {"type": "string"}},
    "Link": {"description": 'with Accept: text/csv, on a page that is not the last: `<...?cursor=...>; rel="next"`',
             "schema": {"type": "string"}},
}
NOTE = (" With `Accept: text/csv`: the same rows and columns as CSV (UTF-8 with BOM, nested objects as dotted "
        "columns, lists joined with `; `).")

"""Content negotiation: request bodies in, response bodies out, JSON or msgpack.

Request bodies are read with a hard 1 MiB limit (413 beyond, checked on
``Content-Length`` and again while streaming), parsed as JSON
(``application/json``, the default) or msgpack (``application/msgpack``),
and checked to be plain data: objects with string keys, arrays, strings,
finite numbers, booleans and null, nested at most ``MAX_DEPTH`` deep.
Anything else is a 400 (malformed) or 415 (unsupported media type) problem;
strings holding NUL or lone surrogates are refused with 422 (they are
well-formed JSON but no database column or UTF-8 encoder takes them).

Responses are JSON unless the ``Accept`` header prefers msgpack; problem
documents use ``application/problem+json`` (``application/problem+msgpack``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import msgpack
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from api.problems import Problem, bad_request

MAX_BODY = 1024 * 1024
MAX_DEPTH = 32
JSON = "application/json"
MSGPACK = "application/msgpack"
PROBLEM_JSON = "application/problem+json"
PROBLEM_MSGPACK = "application/problem+msgpack"
JSON_TYPES = {"application/json", "application/problem+json", "text/json"}
MSGPACK_TYPES = {"application/msgpack", "application/x-msgpack", "application/vnd.msgpack"}


def _media_type(value: str) -> str:
    return value.split(";", 1)[0].strip().lower()


def _accept_ranges(header: str) -> list[tuple[str, float]]:
    ranges = []
    for part in header.split(","):
        media, *params = [p.strip() for p in part.split(";")]
        if not media:
            continue
        q = 1.0
        for p in params:
            name, _, value = p.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        ranges.append((media.lower(), q if math.isfinite(q) else 0.0))
    return ranges


def wants_msgpack(request: Request) -> bool:
    """Whether the client prefers msgpack over JSON (JSON wins ties and absence)."""
    header = request.headers.get("accept", "")
    if "msgpack" not in header.lower():
        return False
    best_json = best_msgpack = 0.0
    for media, q in _accept_ranges(header):
        if media in MSGPACK_TYPES or media == PROBLEM_MSGPACK:
            best_msgpack = max(best_msgpack, q)
        elif media in JSON_TYPES:
            best_json = max(best_json, q)
    return best_msgpack > best_json


def wants_event_stream(request: Request) -> bool:
    return any(media == "text/event-stream" and q > 0
               for media, q in _accept_ranges(request.headers.get("accept", "")))


def encode(data: Any, *, as_msgpack: bool) -> bytes:
    if as_msgpack:
        return msgpack.packb(data, use_bin_type=True, default=str, unicode_errors="replace")
    # "replace": a lone surrogate echoed back in an error message must not turn a 4xx into a 500
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str).encode("utf-8", "replace")


def render(request: Request, data: Any, *, status: int = 200, headers: Mapping[str, str] | None = None,
           problem: bool = False) -> Response:
    as_msgpack = wants_msgpack(request)
    if problem:
        media = PROBLEM_MSGPACK if as_msgpack else PROBLEM_JSON
    else:
        media = MSGPACK if as_msgpack else JSON
    response = Response(encode(data, as_msgpack=as_msgpack), status_code=status, media_type=media,
                        headers=dict(headers or {}))
    response.headers.append("Vary", "Accept")
    return response


async def read_raw(request: Request, limit: int = MAX_BODY) -> bytes:
    length = request.headers.get("content-length")
    if length is not None:
        text = length.strip()
        if not text.isascii() or not text.isdigit():  # "²" is a digit to str.isdigit, not to int()
            raise bad_request("Content-Length is not a number")
        if len(text) > 18 or int(text) > limit:  # and int() refuses thousands of digits
            raise Problem(413, f"request body is {text[:20]} bytes; the limit is {limit} bytes", limit=limit)
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise Problem(413, f"request body exceeds the limit of {limit} bytes", limit=limit)
            chunks.append(chunk)
    except ClientDisconnect:
        raise bad_request("the client disconnected before sending the whole body") from None
    return b"".join(chunks)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def parse(body: bytes, content_type: str | None) -> Any:
    """Parse a request body; ``None`` when empty."""
    if not body:
        return None
    media = _media_type(content_type) if content_type else JSON
    if media in JSON_TYPES or (media.startswith("application/") and media.endswith("+json")):
        try:
            data = json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
        except UnicodeDecodeError:
            raise bad_request("request body is not valid UTF-8") from None
        except RecursionError:
            raise bad_request(f"request body is nested more than {MAX_DEPTH} levels deep") from None
        except ValueError as e:
            raise bad_request(f"request body is not valid JSON: {e}") from None
    elif media in MSGPACK_TYPES:
        try:
            data = msgpack.unpackb(body, raw=False, strict_map_key=True, use_list=True)
        except RecursionError:
            raise bad_request(f"request body is nested more than {MAX_DEPTH} levels deep") from None
        except Exception as e:  # msgpack raises several unrelated classes for bad input
            raise bad_request(f"request body is not valid msgpack: {type(e).__name__}") from None
    else:
        raise Problem(415, f"unsupported Content-Type {media!r}; send {JSON} or {MSGPACK}",
                      supported=[JSON, MSGPACK])
    check_plain(data)
    return data


def check_plain(data: Any, depth: int = 0, where: str = "body") -> None:
    """Raise a 400 problem unless ``data`` is plain JSON-like data of bounded depth."""
    if depth > MAX_DEPTH:
        raise bad_request(f"request body is nested more than {MAX_DEPTH} levels deep")
    if isinstance(data, dict):
        for key, value in data.items():
            if not isinstance(key, str):
                raise bad_request(f"{where}: object keys must be strings")
            check_plain(key, depth + 1, f"{where} (a key)")
            check_plain(value, depth + 1, f"{where}.{key}")
    elif isinstance(data, list):
        for i, value in enumerate(data):
            check_plain(value, depth + 1, f"{where}[{i}]")
    elif isinstance(data, float):
        if not math.isfinite(data):
            raise bad_request(f"{where}: numbers must be finite")
    elif isinstance(data, str):
        if "\x00" in data:  # PostgreSQL text cannot hold it: the read models would choke
            raise Problem(422, f"{where}: strings must not contain NUL characters", kind="invalid-fields",
                          title="Invalid fields", errors=[{"field": where, "problem": "contains NUL"}])
        try:
            data.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate ("\ud800") is not a character
            raise Problem(422, f"{where}: strings must be valid Unicode", kind="invalid-fields",
                          title="Invalid fields", errors=[{"field": where, "problem": "lone surrogate"}]) from None
    elif not (data is None or isinstance(data, (bool, int))):
        raise bad_request(f"{where}: unsupported value of type {type(data).__name__}")


async def read_body(request: Request) -> Any:
    """The parsed request body (``None`` when empty), or a 400/413/415 problem."""
    return parse(await read_raw(request), request.headers.get("content-type"))


def canonical(data: Any) -> str:
    """A stable text form of a parsed body, the same for JSON and msgpack."""
    return json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))

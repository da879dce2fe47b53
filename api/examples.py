"""An example request and answer for every operation of the OpenAPI document.

``examples.json`` (package data) holds, per ``operationId``, one request the
API really answered (path, query, body) and that answer, captured by
``python -m scripts.capture_examples``; the few operations that answer a
file (this reference's page and assets, the document itself) have a short
one here. ``attach`` puts them where OpenAPI readers look: ``example`` on
each path and query parameter and on the request body, and on the success
response's media type, so ``/docs`` shows them (and schemathesis sends the
request examples as explicit cases).
"""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources
from typing import Any

FILES: dict[str, dict[str, Any]] = {
    "openapi": {"status": 200, "media": "application/json",
                "response": {"openapi": "3.1.0", "info": {"title": "casetrail", "version": "1"}, "paths": {}}},
    "docs": {"status": 200, "media": "text/html", "response": "<!doctype html>\n<html lang=\"en\">…"},
    "docsScript": {"status": 200, "media": "text/javascript", "response": "/*! Swagger UI */ …"},
    "docsStyle": {"status": 200, "media": "text/css", "response": ".swagger-ui{…}"},
    "docsStart": {"status": 200, "media": "text/javascript", "response": "window.addEventListener(\"load\", …)"},
}


@cache
def captured() -> dict[str, dict[str, Any]]:
    return {**json.loads(resources.files("api").joinpath("examples.json").read_text(encoding="utf-8")), **FILES}


def _path_values(template: str, path: str) -> dict[str, str]:
    pattern = "^" + re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template)) + "$"
    match = re.match(pattern, path.split("?", 1)[0])
    return match.groupdict() if match else {}


def attach(paths: dict[str, dict[str, Any]]) -> None:
    """Add the examples to ``paths`` (in place); an operation without one is left as it is."""
    known = captured()
    for template, item in paths.items():
        for op in item.values():
            example = known.get(op.get("operationId", ""))
            if example is None:
                continue
            values = {**_path_values(template, example.get("path", "")), **(example.get("query") or {})}
            for param in op.get("parameters", []):
                if param["in"] in ("path", "query") and param["name"] in values:
                    param["example"] = values[param["name"]]
            body = example.get("body")
            if body is not None and "requestBody" in op:
                for media in op["requestBody"]["content"].values():
                    media["example"] = body
            answer = op["responses"].get(str(example["status"]), {})
            media_type = answer.get("content", {}).get(example["media"])
            if media_type is not None:
                media_type["example"] = example["response"]

"""``/docs``: the interactive reference works offline and the document it shows is complete.

The page and every asset it references are served by the application itself
(nothing from elsewhere: no external URL in the page, its script or its style
sheet, and a Content-Security-Policy that allows only the server's own); every
operation has an example request (when it takes a body or parameters) and an
example answer; every ``$ref`` resolves (the reader sees fields, never a raw
reference); the document names no internal source (modules, paths). On both
databases.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from tests.api_support import ApiWorld

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
EXTERNAL = re.compile(r"(?:https?:)?//[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
INTERNAL = re.compile(r"\b[\w/]+\.py\b|\b(?:domain|projections|api|scripts)[./][a-z_]+|\btests/")


class References(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href") and value:
                self.urls.append(value)


def test_the_page_and_every_asset_it_names_come_from_the_server(world: ApiWorld) -> None:
    page = world.client.get("/docs")  # no token: a browser opens it
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src 'self'" in policy and "connect-src 'self'" in policy
    assert not EXTERNAL.search(page.text), EXTERNAL.search(page.text)
    parser = References()
    parser.feed(page.text)
    assets = [u for u in parser.urls if not u.startswith("data:")]
    assert {"/docs/swagger-ui-bundle.js", "/docs/swagger-ui.css", "/docs/casetrail-docs.js"} <= set(assets)
    for url in assets:
        assert url.startswith("/") and not url.startswith("//"), url
        answer = world.client.get(url)
        assert answer.status_code == 200, url
        kind = answer.headers["content-type"]
        assert kind.startswith("text/css" if url.endswith(".css") else "text/javascript" if url.endswith(".js")
                               else "application/json"), (url, kind)
        assert b"sourceMappingURL" not in answer.content, url  # no request for a map that is not shipped
        if url.endswith(".css"):
            assert not re.search(r"url\((?!['\"]?data:)", answer.text), url  # images inlined, none fetched
    start = world.client.get("/docs/casetrail-docs.js").text
    assert "validatorUrl: null" in start and '"/openapi.json"' in start and not EXTERNAL.search(start)
    assert world.client.get("/docs/nothing.js").status_code == 404


def test_the_vendored_assets_carry_their_licence_and_are_package_data() -> None:
    folder = Path(__file__).resolve().parents[2] / "api" / "reference_static"
    assert "Apache License" in (folder / "swagger-ui.LICENSE").read_text()
    pyproject = (folder.parents[1] / "pyproject.toml").read_text()
    assert '"api" = ["reference_static/*", "examples.json"]' in pyproject


def _operations(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in spec["paths"].items():
        for method, op in item.items():
            yield path, method, op


def test_every_operation_has_an_example_request_and_answer(world: ApiWorld) -> None:
    spec = world.client.get("/openapi.json").json()
    for path, method, op in _operations(spec):
        where = f"{method.upper()} {path}"
        if "requestBody" in op:
            for media, content in op["requestBody"]["content"].items():
                assert "example" in content, (where, media)
        for param in op.get("parameters", []):
            if param["in"] == "path" or param.get("required"):
                assert "example" in param, (where, param["name"])
        answers = [(status, r) for status, r in op["responses"].items() if status.startswith("2")]
        if all(status == "204" for status, _ in answers):
            assert all(not r.get("content") for _, r in answers), where  # no content, nothing to show
            continue
        assert any("example" in media for _, r in answers for media in r.get("content", {}).values()), where


def test_every_reference_resolves_and_no_internal_source_is_named(world: ApiWorld) -> None:
    spec = world.client.get("/openapi.json").json()
    text = json.dumps(spec, ensure_ascii=False)
    for ref in set(re.findall(r'"\$ref": "#/([^"]+)"', text)):
        node: Any = spec
        for part in ref.split("/"):
            node = node[part]
        assert node, ref
    prose = [spec["info"]["description"]] + [
        op.get(key, "") for _, _, op in _operations(spec) for key in ("summary", "description")] + [
        p.get("description", "") for _, _, op in _operations(spec) for p in op.get("parameters", [])]
    for words in prose:
        assert not INTERNAL.search(words), (INTERNAL.search(words), words)


def test_the_examples_are_answers_the_server_gives(world: ApiWorld) -> None:
    """An example answer has the shape its schema states (the document's own response schema)."""
    import jsonschema

    spec = world.client.get("/openapi.json").json()
    for path, method, op in _operations(spec):
        for status, answer in op["responses"].items():
            for media, content in answer.get("content", {}).items():
                if "example" in content and "json" in media and "schema" in content:
                    schema = {**content["schema"], "components": spec["components"]}
                    jsonschema.validate(content["example"], schema, cls=jsonschema.Draft202012Validator)

"""``/docs`` in a real browser (headless Debian chromium, Playwright), against ``casetrail serve``.

The reference renders with nothing but the server's own assets (every request
the page makes goes to the server; no console error, so the page's
Content-Security-Policy does not block Swagger UI), lists every operation,
shows an operation's request body as fields and its example (never a raw
``$ref``), and renders the descriptions' markdown. Skips without a browser
(fails under ``CI=true``), like ``test_console_browser.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Server, serving


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[Server]:
    with serving(database_url, tmp_path) as srv:
        yield srv


def test_the_reference_renders_offline_with_examples(browser: Any, server: Server, tmp_path: Path) -> None:
    spec = httpx.get(f"{server.url}/openapi.json").json()
    operations = sum(len(item) for item in spec["paths"].values())
    page = browser.new_page()
    problems: list[str] = []
    requested: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("request", lambda r: requested.append(r.url))
    page.goto(f"{server.url}/docs")
    page.wait_for_selector(".opblock", timeout=30_000)
    assert page.locator(".opblock").count() == operations
    block = page.locator("#operations-cases-openCase")
    block.locator(".opblock-summary").click()
    block.locator(".opblock-body").wait_for(timeout=10_000)
    text = block.inner_text()
    assert '"customer"' in text and "快递破损" in text  # the request example, fields resolved
    assert "$ref" not in page.content()
    assert page.locator(".renderedMarkdown code").count() > 0  # `If-Match` etc. rendered from markdown
    page.screenshot(path=str(tmp_path / "docs.png"))
    assert problems == []
    assert requested and all(url.startswith(server.url) or url.startswith("data:") for url in requested), requested
    page.close()

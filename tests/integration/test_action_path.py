"""An action's path from HTTP to its stored event is short (the restructure's promise).

The test records, at the moment the action's event is encoded for storage,
which of the project's modules are on the call stack (the handler thread
from ``api/cases.py`` down to ``domain/storage/transcoder.py``), plus the
request middleware, and checks that the path crosses at most eight of them
and never back into the API once in the domain. A change that threads a write through more layers, or
back up a layer, fails here.
"""

from __future__ import annotations

import asyncio
import json
import traceback
from pathlib import Path
from typing import Any

import pytest

from api.app import create_app
from domain.application import CaseTrail
from domain.storage import transcoder

ROOT = str(Path(__file__).resolve().parents[2]) + "/"
LAYER = {"api": 0, "domain/application.py": 1, "domain/storage": 2}


def layer_of(module: str) -> int:
    return next(rank for prefix, rank in LAYER.items() if module.startswith(prefix))


async def post(web: Any, path: str, token: str, body: dict[str, Any]) -> int:
    sent: list[dict[str, Any]] = []
    messages = [{"type": "http.request", "body": json.dumps(body).encode(), "more_body": False}]

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "", "state": {},
             "headers": [(b"authorization", f"Bearer {token}".encode()), (b"content-type", b"application/json")],
             "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}
    await web(scope, receive, send)
    return int(sent[0]["status"])


def test_an_action_reaches_storage_through_at_most_eight_modules(database_url: str,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    app = CaseTrail.from_url(database_url)
    app.register_staff("zhang", "张丽", "cs", ["agent"])
    token = app.issue_token("zhang")
    case = app.open_case(app.get_staff("zhang").as_actor(), "complaint", "包裹破损",
                         {"id": "C-1", "name": "王先生", "tier": "member"}, {"description": "x", "channel": "phone"})
    paths: list[list[str]] = []
    encode = transcoder.MsgpackTranscoder.encode

    def recording(self: Any, obj: Any) -> bytes:
        if isinstance(obj, dict) and obj.get("action") == "log_contact":
            path: list[str] = []
            for frame in traceback.extract_stack():
                if frame.filename.startswith(ROOT) and "/.venv/" not in frame.filename:
                    module = frame.filename[len(ROOT):]
                    if not path or path[-1] != module:
                        path.append(module)
            paths.append(path)
        return encode(self, obj)

    monkeypatch.setattr(transcoder.MsgpackTranscoder, "encode", recording)
    web = create_app(app, configure_logs=False)
    try:
        status = asyncio.run(post(web, f"/v1/cases/{case.id}/actions/log_contact", token,
                                  {"channel": "phone", "summary": "已致电客户"}))
    finally:
        app.close()
    assert status == 200 and len(paths) == 1
    path = [m for m in paths[0] if not m.startswith("tests/")]
    modules = {"api/middleware.py", *path}  # the middleware runs the handler on the event loop's side
    assert path[0] == "api/cases.py" and path[-1] == "domain/storage/chain.py", path
    assert len(modules | {"domain/storage/transcoder.py"}) <= 8, sorted(modules)
    entered = next(i for i, m in enumerate(path) if layer_of(m) > 0)
    assert all(layer_of(m) > 0 for m in path[entered:]), path  # once in the domain, never back up in the API

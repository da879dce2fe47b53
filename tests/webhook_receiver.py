"""A real local HTTP receiver for webhook tests: a threaded ``http.server`` on 127.0.0.1.

``Receiver(secret)`` binds a free port once; ``start()`` / ``stop()`` open and
close the listening socket on that same port (stopped, connections are refused).
Every request is kept (delivery id, event type, body, whether its
``X-Casetrail-Signature`` is the HMAC-SHA256 of the exact body with the secret);
``fail = True`` answers 500 to everything.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    delivery: str
    event: str
    body: dict[str, Any]
    signed: bool


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Receiver:
    def __init__(self, secret: str) -> None:
        self.secret = secret.encode()
        self.port = free_port()
        self.received: list[Received] = []
        self.fail = False
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                expected = "sha256=" + hmac.new(receiver.secret, body, hashlib.sha256).hexdigest()
                signed = hmac.compare_digest(expected, self.headers.get("X-Casetrail-Signature", ""))
                with receiver._lock:
                    if not receiver.fail:
                        receiver.received.append(Received(self.headers.get("X-Casetrail-Delivery", ""),
                                                          self.headers.get("X-Casetrail-Event", ""),
                                                          json.loads(body), signed))
                self.send_response(500 if receiver.fail else 204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            assert self._thread is not None
            self._thread.join()
            self._server = None

    def deliveries(self) -> list[Received]:
        with self._lock:
            return list(self.received)

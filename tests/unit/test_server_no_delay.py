"""Every connection ``casetrail serve`` accepts sends without delay (``TCP_NODELAY``).

uvicorn's ``--workers`` mode binds its listening socket with
``socket.socket(family)``, whose protocol number is 0, and asyncio only sets
``TCP_NODELAY`` on sockets whose protocol is TCP; a response's body then
waited for the client's delayed ACK (about 40 ms a request). The test
listens on a socket bound the same way, serves it with ``GuardedProtocol``
and reads the option on the accepted connection.
"""

from __future__ import annotations

import asyncio
import socket

import pytest
from uvicorn.config import Config
from uvicorn.server import ServerState

from api.server import GuardedProtocol, no_delay


async def hello(scope, receive, send):  # noqa: ANN001, ANN201 - a bare ASGI app
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


def accepted_no_delay(listening: socket.socket) -> tuple[int, bytes]:
    """Serve ``listening`` with ``GuardedProtocol``; one request. Returns the accepted
    connection's TCP_NODELAY and the response."""
    config = Config(app=hello, http=GuardedProtocol, log_config=None, lifespan="off")
    config.load()
    protocols: list[GuardedProtocol] = []

    async def main() -> tuple[int, bytes]:
        loop = asyncio.get_running_loop()

        def factory() -> GuardedProtocol:
            protocol = GuardedProtocol(config=config, server_state=ServerState(), app_state={}, _loop=loop)
            protocols.append(protocol)
            return protocol

        server = await loop.create_server(factory, sock=listening)
        host, port = listening.getsockname()[:2]
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(b"GET / HTTP/1.1\r\nhost: test\r\n\r\n")
        await writer.drain()
        response = await reader.readuntil(b"ok")
        flag = protocols[0].transport.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        writer.close()
        server.close()
        return flag, response

    return asyncio.run(main())


def test_connections_on_a_socket_bound_as_uvicorn_workers_bind_it_send_without_delay() -> None:
    listening = socket.socket(family=socket.AF_INET)  # as uvicorn.config.Config.bind_socket
    assert listening.proto == 0
    listening.bind(("127.0.0.1", 0))
    listening.listen()
    flag, response = accepted_no_delay(listening)
    assert response.startswith(b"HTTP/1.1 200")
    assert flag != 0


def test_no_delay_on_a_closed_socket_is_harmless() -> None:
    class Gone:
        def get_extra_info(self, name: str) -> socket.socket:
            return sock

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.close()
    with pytest.raises(OSError):
        sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    no_delay(Gone())  # type: ignore[arg-type]

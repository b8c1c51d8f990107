"""The HTTP protocols for several uvicorn workers turn Nagle's algorithm off on every connection, on either loop."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import httpx
import pytest
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from carnet.api.server import H11NoDelayProtocol, HttpToolsNoDelayProtocol


async def _hello(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"bonjour"})


def _nodelay_of_served_connections(protocol: type, loop: str) -> list[int]:
    # The listening socket as uvicorn's multiprocess supervisor makes it (Config.bind_socket: protocol number 0).
    listener = socket.socket(family=socket.AF_INET)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    config = uvicorn.Config(_hello, http=protocol, loop=loop, lifespan="off", log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.01)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            assert client.get("/").text == "bonjour"
            assert client.get("/").text == "bonjour"  # the same keep-alive connection
            return [
                connection.transport.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
                for connection in server.server_state.connections
            ]
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        listener.close()


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
@pytest.mark.parametrize("protocol", [H11NoDelayProtocol, HttpToolsNoDelayProtocol])
def test_connections_accepted_on_a_socket_bound_by_the_supervisor_have_tcp_nodelay(protocol: type, loop: str) -> None:
    flags = _nodelay_of_served_connections(protocol, loop)
    assert flags and all(flag != 0 for flag in flags)


@pytest.mark.parametrize("protocol", [H11Protocol, HttpToolsProtocol])
def test_uvicorns_own_protocols_leave_nagle_on_under_asyncio(protocol: type) -> None:
    """Why the protocols above exist: the problem is there for both of uvicorn's HTTP protocols (issue #3149)."""
    assert _nodelay_of_served_connections(protocol, "asyncio") == [0]

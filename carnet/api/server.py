"""Serving the API with uvicorn: the HTTP protocol and event loop to use (``--http``, ``--loop``).

``uvicorn carnet.api.app:app_from_environment --factory --workers N --http carnet.api.server:HttpToolsNoDelayProtocol
--loop uvloop``

- **httptools and uvloop** (uvicorn's C HTTP parser and libuv event loop, pinned dependencies of the project):
  they cost less CPU per request than h11 and asyncio's loop (docs/benchmarks.md, ``carnet bench api``).
- **TCP_NODELAY on every connection.** With ``--workers`` > 1, uvicorn binds the listening socket itself and hands
  it to the worker processes with its protocol number left at 0; asyncio's loop then does not recognise the
  accepted connections as TCP and leaves Nagle's algorithm on (uvicorn issue #3149, Linux). A response is written
  in two segments (head, then body): the second waits for the client's delayed acknowledgement, about 40 ms, on
  every keep-alive request after the first. uvicorn's h11 and httptools protocols both have it under asyncio's
  loop; uvloop sets ``TCP_NODELAY`` itself. The protocols here set it on each connection whatever the loop, as a
  single uvicorn process already does.
"""

from __future__ import annotations

import asyncio
import socket

from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["HTTP_PROTOCOL", "LOOP", "H11NoDelayProtocol", "HttpToolsNoDelayProtocol", "set_nodelay"]

# What ``carnet bench api`` gives uvicorn (``--http`` and ``--loop``). ``carnet serve`` (one process, its socket
# bound by asyncio, so TCP_NODELAY already on) gets httptools and uvloop from uvicorn's ``auto`` choice.
HTTP_PROTOCOL = "carnet.api.server:HttpToolsNoDelayProtocol"
LOOP = "uvloop"


def set_nodelay(transport: asyncio.BaseTransport) -> bool:
    """Turn Nagle's algorithm off on a TCP transport's socket; False when it is not a TCP socket."""
    sock = transport.get_extra_info("socket")
    if sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6) or sock.type != socket.SOCK_STREAM:
        return False
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError:
        return False
    return True


class H11NoDelayProtocol(H11Protocol):
    """uvicorn's h11 protocol, with ``TCP_NODELAY`` on every accepted connection."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        set_nodelay(transport)
        super().connection_made(transport)


class HttpToolsNoDelayProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, with ``TCP_NODELAY`` on every accepted connection."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        set_nodelay(transport)
        super().connection_made(transport)

"""Serving the API with uvicorn: the HTTP protocol to use with several workers (``--http``).

``uvicorn carnet.api.app:app_from_environment --factory --workers N --http carnet.api.server:H11NoDelayProtocol``

With ``--workers`` > 1, uvicorn binds the listening socket itself and hands it to the worker processes with its
protocol number left at 0; asyncio then does not recognise the accepted connections as TCP and leaves Nagle's
algorithm on (uvicorn issue #3149, Linux). A response is written in two segments (head, then body): the second
waits for the client's delayed acknowledgement, about 40 ms, on every keep-alive request after the first. This
protocol sets ``TCP_NODELAY`` on each connection, as a single uvicorn process already does.
"""

from __future__ import annotations

import asyncio
import socket

from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["H11NoDelayProtocol", "set_nodelay"]


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

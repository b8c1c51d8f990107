"""The load generator of ``carnet bench api``: a bare HTTP/1.1 keep-alive client, checked against uvicorn."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn

from carnet.bench.api import Answer, _concurrent, _expect
from carnet.errors import ValidationError


async def _app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    if scope["path"] == "/chunked":  # no Content-Length: uvicorn sends it chunked
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        for part in (b"compte ", b"rendu ", b"de biologie"):
            await send({"type": "http.response.body", "body": part, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
        return
    status = 404 if scope["path"] == "/absent" else 200
    answer = b'{"method": "%s", "received": %d}' % (scope["method"].encode(), len(body))
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(answer)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": answer})


@pytest.fixture
def server_url() -> Iterator[str]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(_app, lifespan="off", log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    server.should_exit = True
    thread.join(timeout=10)
    listener.close()


def test_requests_go_through_kept_alive_connections_and_every_answer_is_read_whole(server_url: str) -> None:
    answers: list[Answer] = []
    requests = [("POST", "/fhir", {"resourceType": "Bundle", "n": i}, None) for i in range(30)]
    requests += [("GET", "/chunked", None, None)] * 5
    durations, wall = asyncio.run(_concurrent(server_url, {"authorization": "Bearer x"}, requests, 4, answers.append))
    assert len(durations) == len(answers) == 35 and wall > 0
    posted = [a.json() for a in answers if a.path == "/fhir"]
    assert all(p["method"] == "POST" and p["received"] > 20 for p in posted) and len(posted) == 30
    assert [a.text for a in answers if a.path == "/chunked"] == ["compte rendu de biologie"] * 5


def test_an_unexpected_status_stops_the_benchmark(server_url: str) -> None:
    with pytest.raises(ValidationError, match="banc faussé : GET /absent → 404"):
        asyncio.run(_concurrent(server_url, {}, [("GET", "/absent", None, None)], 1, _expect(200)))

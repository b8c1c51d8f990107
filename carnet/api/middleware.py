"""Pure ASGI middleware: request ids tied to the audit trail, one structured log line per request, rate limit.

Pure ASGI (not ``BaseHTTPMiddleware``) so the request id set in a context variable reaches the endpoint's
thread and every audit entry it writes.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from carnet.audit.service import request_context

REQUEST_ID_HEADER = b"x-request-id"
_VALID_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
access_log = logging.getLogger("carnet.api.access")


class RequestIdMiddleware:
    """Takes ``X-Request-ID`` (or makes one), puts it on the audit context, the response and the log line."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(REQUEST_ID_HEADER, b"").decode("latin-1")
        request_id = given if _VALID_ID.match(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != REQUEST_ID_HEADER]
                headers.append((REQUEST_ID_HEADER, request_id.encode()))
                message["headers"] = headers
            await send(message)

        try:
            with request_context(request_id):
                await self.app(scope, receive, send_with_id)
        finally:
            access_log.info(
                json.dumps(
                    {
                        "event": "request",
                        "request_id": request_id,
                        "method": scope["method"],
                        "path": scope["path"],
                        "status": status,
                        "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                        "client": (scope.get("client") or ("", 0))[0],
                    }
                )
            )


class RateLimitMiddleware:
    """A token bucket per client (bearer token subject, or address): 429 with ``Retry-After`` when empty.

    Per process: with several workers each enforces its own share. The client key is the token itself (hashed
    by Python's dict) rather than its claims, so no token is decoded before authentication.
    """

    def __init__(self, app: ASGIApp, *, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.app = app
        self.rate = per_minute / 60.0
        self.capacity = float(max(per_minute, 1))
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def _client(self, scope: Scope) -> str:
        headers: dict[bytes, bytes] = dict(scope["headers"])
        auth = headers.get(b"authorization", b"")
        if auth:
            return "t:" + auth.decode("latin-1")[-48:]
        return "a:" + str((scope.get("client") or ("unknown", 0))[0])

    def _take(self, key: str) -> float:
        """0 when allowed, else the seconds to wait."""
        now = self.clock()
        with self._lock:
            tokens, last = self._buckets.get(key, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                if len(self._buckets) > 100_000:
                    self._buckets.clear()  # bounded memory under a flood of distinct clients
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / self.rate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.rate <= 0 or scope["path"] == "/health":
            await self.app(scope, receive, send)
            return
        wait = self._take(self._client(scope))
        if wait <= 0:
            await self.app(scope, receive, send)
            return
        retry_after = str(max(1, int(wait + 0.999)))
        body: dict[str, Any] = {
            "resourceType": "OperationOutcome",
            "issue": [{"severity": "error", "code": "throttled",
                       "diagnostics": f"trop de requêtes ; réessayer dans {retry_after} s"}],
        }  # fmt: skip
        payload = json.dumps(body, ensure_ascii=False).encode()
        await send({"type": "http.response.start", "status": 429, "headers": [
            (b"content-type", b"application/fhir+json"), (b"retry-after", retry_after.encode()),
            (b"content-length", str(len(payload)).encode())]})  # fmt: skip
        await send({"type": "http.response.body", "body": payload})

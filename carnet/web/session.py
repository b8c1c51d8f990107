"""Signed cookies for the portals: the session (the access token and a CSRF token) and the sign-in state.

No server-side store: the cookie holds the access token the identity provider issued, signed with HMAC-SHA256
under a key derived from ``CARNET_SECRET_KEY`` so it cannot be forged or altered; the token is validated again on
every request (its expiry ends the session). Cookies are HttpOnly, SameSite=Lax, Secure when the public URL is
https. Every POST form carries the session's CSRF token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from carnet.settings import Settings

SESSION_COOKIE = "carnet_session"
LOGIN_COOKIE = "carnet_login"
LOGIN_LIFETIME = 600  # seconds to complete the sign-in at the identity provider
MAX_COOKIE = 3800


def _key(settings: Settings, purpose: str) -> bytes:
    secret = settings.secret_key.get_secret_value().encode()
    return hashlib.sha256(b"carnet/web/" + purpose.encode() + b"\0" + secret).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(settings: Settings, purpose: str, payload: dict[str, Any]) -> str:
    """``payload`` as JSON, base64url, with its HMAC; ``purpose`` separates the keys of different cookies."""
    body = _b64(json.dumps(payload, separators=(",", ":")).encode())
    mac = hmac.new(_key(settings, purpose), body.encode(), hashlib.sha256).digest()
    return f"{body}.{_b64(mac)}"


def unsign(settings: Settings, purpose: str, value: str | None) -> dict[str, Any] | None:
    """The payload of a value :func:`sign` made, or None when absent, altered, expired (``exp``) or unreadable."""
    if not value or len(value) > MAX_COOKIE or "." not in value:
        return None
    body, _, mac = value.partition(".")
    try:
        expected = hmac.new(_key(settings, purpose), body.encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(expected, _unb64(mac)):
            return None
        payload = json.loads(_unb64(body))
    except (ValueError, TypeError):
        return None
    if not isinstance(payload, dict):
        return None
    exp = payload.get("exp")
    if not isinstance(exp, int | float) or exp < time.time():
        return None
    return payload


def _secure(settings: Settings) -> bool:
    return settings.public_url.startswith("https://")


def set_cookie(response: Response, settings: Settings, name: str, value: str, max_age: int) -> None:
    response.set_cookie(name, value, max_age=max_age, httponly=True, samesite="lax", secure=_secure(settings),
                        path="/")  # fmt: skip


def clear_cookie(response: Response, settings: Settings, name: str) -> None:
    response.delete_cookie(name, path="/", httponly=True, samesite="lax", secure=_secure(settings))


def session_of(request: Request) -> dict[str, Any] | None:
    """The signed session of this request (``token``, ``csrf``, ``exp``), or None."""
    settings: Settings = request.app.state.settings
    return unsign(settings, "session", request.cookies.get(SESSION_COOKIE))


def new_session(settings: Settings, response: Response, token: str, expires_at: int) -> None:
    payload = {"token": token, "csrf": secrets.token_urlsafe(24), "exp": expires_at}
    set_cookie(response, settings, SESSION_COOKIE, sign(settings, "session", payload),
               max(1, expires_at - int(time.time())))  # fmt: skip


def csrf_ok(request: Request, submitted: str | None) -> bool:
    """The submitted form token is this session's CSRF token."""
    session = session_of(request)
    expected = session.get("csrf") if session else None
    if not isinstance(expected, str) or not submitted:
        return False
    return hmac.compare_digest(expected.encode(), submitted.encode())

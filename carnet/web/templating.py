"""The portals' Jinja2 environment (autoescape on) and the page response with its security headers."""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, select_autoescape

from carnet.web import i18n

# Pages load only their own stylesheet; no script runs yet (htmx or small scripts will be served from /static).
_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self' "
    "http: https:; frame-src 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def _paris() -> dt.tzinfo:
    try:
        from zoneinfo import ZoneInfo

        return ZoneInfo("Europe/Paris")
    except Exception:  # noqa: BLE001 - no time-zone database: show UTC rather than fail the page
        return dt.UTC


_PARIS = _paris()


def _local(value: dt.datetime | dt.date) -> dt.datetime | dt.date:
    """A stored instant (UTC) as French legal time; a naive value is taken as UTC."""
    if isinstance(value, dt.datetime):
        return (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).astimezone(_PARIS)
    return value


def _date(value: dt.datetime | dt.date | None, lang: str = "fr") -> str:
    if value is None:
        return ""
    return _local(value).strftime("%d/%m/%Y" if lang == "fr" else "%Y-%m-%d")


def _time(value: dt.datetime | None) -> str:
    return _local(value).strftime("%H:%M") if value is not None else ""


def _lang_url(request: Request, other: str) -> str:
    """This page in the other language, its query kept (a filter, a search, the page to return to)."""
    from urllib.parse import urlencode

    kept = [(k, v) for k, v in request.query_params.multi_items() if k != "lang"]
    return f"{request.url.path}?{urlencode([*kept, ('lang', other)])}"


@functools.cache
def environment() -> Environment:
    env = Environment(loader=PackageLoader("carnet.web", "templates"), autoescape=select_autoescape(["html"]))
    env.filters["date"] = _date
    env.filters["time"] = _time
    return env


def page(request: Request, template: str, *, status: int = 200, **context: Any) -> HTMLResponse:
    """Render ``template`` in the request's language; ``?lang=`` is remembered in the ``lang`` cookie."""
    from carnet.web.session import session_of

    lang = i18n.language(request)
    session = session_of(request)
    html = (
        environment()
        .get_template(template)
        .render(
            request=request,
            lang=lang,
            other_lang="en" if lang == "fr" else "fr",
            lang_url=_lang_url(request, "en" if lang == "fr" else "fr"),
            t=i18n.translator(lang),
            path=request.url.path,
            signed_in=session is not None,
            csrf=session.get("csrf", "") if session else "",
            **context,
        )
    )
    response = HTMLResponse(html, status_code=status, headers=_HEADERS)
    if request.query_params.get("lang") in i18n.LANGUAGES:
        response.set_cookie(i18n.COOKIE, lang, max_age=365 * 24 * 3600, samesite="lax", path="/")
    return response

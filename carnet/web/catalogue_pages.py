"""The holder's catalogue of referenced apps (``/applications``) and the consent screen of the catalogue's OAuth
authorization endpoint (``/applications/autoriser``), in the patient portal.

- ``GET /applications``: the referenced apps (publisher, description, the data categories of the convention, its
  end) and the apps connected to the chosen space, each with its categories and a button to disconnect it.
- ``GET /applications/autoriser``: the authorization endpoint (RFC 6749 §4.1, PKCE S256). The holder signs in
  first when needed (the request is kept in a short signed cookie meanwhile); the consent screen lists exactly
  the categories the app will read and, apart, those it will add to the space (its convention's, or those it asked
  for among them) with their SMART scopes.
  A request the app may not make (categories beyond its convention, no PKCE...) goes back to the app with the
  error and its reason, and is traced in the holder's history.
- ``POST /applications/autoriser``: the holder's answer (CSRF token): accept connects the app (a grant of the
  directory of grants) and sends the browser back to the app with the code; refuse sends ``access_denied``.
- ``POST /applications/connexions/{id}/deconnecter``: disconnect (the grant revoked, the app's tokens refused).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode, urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from carnet.access.model import ActorKind
from carnet.auth.claims import Caller
from carnet.catalogue import oauth
from carnet.catalogue import service as catalogue
from carnet.catalogue.model import category_label, consent_feed_scopes, consent_scopes, ordered
from carnet.errors import CarnetError
from carnet.web import session as web_session
from carnet.web.auth import PageCallerDep, SignInRequired, page_caller
from carnet.web.patient_space import here
from carnet.web.templating import page

router = APIRouter(include_in_schema=False, tags=["web"])

REQUEST_COOKIE = "carnet_autorisation"
REQUEST_LIFETIME = 600  # seconds to sign in and come back to the consent screen
DONE = frozenset({"deconnectee", "connectee", "refusee"})
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _failure(request: Request, exc: CarnetError) -> Response:
    title = "error.forbidden" if exc.http_status == 403 else "error.not_found" if exc.http_status == 404 else None
    return page(request, "error.html", status=exc.http_status, title_key=title, message=exc.message)


def _app_view(app: Any, lang: str) -> dict[str, Any]:
    return {"id": app.id, "name": app.name, "publisher": app.publisher, "description": app.description,
            "website": app.website, "until": app.convention_ends_at,
            "categories": [category_label(c, lang) for c in app.categories_granted],
            "feeds": [category_label(c, lang) for c in ordered(app.feed_granted or [])]}  # fmt: skip


@router.get("/applications")
def catalogue_page(request: Request, caller: PageCallerDep) -> Response:
    """The catalogue and the apps connected to the chosen space (the reading of the connections traced)."""
    from carnet.web.i18n import language

    if caller.kind != ActorKind.PATIENT:
        return RedirectResponse("/", status_code=303)
    lang = language(request)
    with request.app.state.platform.uow() as uow:
        try:
            at = here(request, uow, caller)
            mine = catalogue.connections(uow=uow, actor=at.actor, patient_id=at.patient_id)
            apps = catalogue.referenced(uow=uow)
            uow.commit()
        except CarnetError as exc:
            return _failure(request, exc)
    connected = {c.app.id: c for c in mine if c.active}
    listed = [{**_app_view(a, lang), "connection": _connection_view(connected.get(a.id), lang)} for a in apps]
    others = [{**_app_view(c.app, lang), "connection": _connection_view(c, lang)} for c in connected.values()
              if c.app.id not in {a.id for a in apps}]  # fmt: skip
    done = request.query_params.get("fait")
    return page(request, "catalogue.html", apps=listed, others=others, done=done if done in DONE else None,
                done_app=(request.query_params.get("app") or "")[:120], **at.context())  # fmt: skip


def _connection_view(found: catalogue.Connected | None, lang: str) -> dict[str, Any] | None:
    if found is None:
        return None
    return {"id": found.connection.id, "since": found.connection.created_at,
            "categories": [category_label(c, lang) for c in ordered(found.connection.categories)],
            "feeds": [category_label(c, lang) for c in ordered(found.connection.feed_categories or [])]}  # fmt: skip


async def _caller_or_sign_in(request: Request, params: Mapping[str, list[str]]) -> Caller | Response:
    """The signed-in caller; else keep the authorization request in a signed cookie and go and sign in."""
    try:
        return await page_caller(request)
    except SignInRequired:
        settings = request.app.state.settings
        kept = {name: params[name][0] for name in oauth.PARAMS if len(params.get(name, [])) == 1}
        response = RedirectResponse("/connexion?" + urlencode({"next": "/applications/autoriser?reprise=1"}),
                                    status_code=303)  # fmt: skip
        value = web_session.sign(settings, "autorisation", {"params": kept, "exp": int(time.time()) + REQUEST_LIFETIME})
        web_session.set_cookie(response, settings, REQUEST_COOKIE, value, REQUEST_LIFETIME)
        return response


def _query(request: Request) -> dict[str, list[str]]:
    if request.query_params.get("reprise") == "1":
        kept = web_session.unsign(request.app.state.settings, "autorisation", request.cookies.get(REQUEST_COOKIE))
        values = kept.get("params") if kept else None
        if isinstance(values, dict):
            return {str(k): [str(v)] for k, v in values.items()}
    params: dict[str, list[str]] = {}
    for key, value in request.query_params.multi_items():
        params.setdefault(key, []).append(value)
    return params


def _back_to_app(redirect_uri: str, values: dict[str, str | None]) -> RedirectResponse:
    query = urlencode({k: v for k, v in values.items() if v is not None})
    separator = "&" if urlsplit(redirect_uri).query else "?"
    return RedirectResponse(f"{redirect_uri}{separator}{query}", status_code=303, headers=_NO_STORE)


def _refused(request: Request, exc: oauth.RedirectAuthError, app_id: str | None, caller: Caller) -> Response:
    """Trace the refused request in the holder's history, then tell the app why on its redirect URI."""
    if app_id:
        with request.app.state.platform.uow() as uow:
            try:
                at = here(request, uow, caller)
                catalogue.refuse_request(uow=uow, app_id=app_id, patient_id=at.patient_id, reason=exc.description)
                uow.commit()
            except CarnetError:
                pass  # the refusal reaches the app all the same
    issuer = oauth.issuer_of(request.app.state.settings)
    return _back_to_app(exc.redirect_uri, {"error": exc.error, "error_description": exc.description,
                                           "state": exc.state, "iss": issuer})  # fmt: skip


def _consent(request: Request, caller: Caller, params: Mapping[str, list[str]]) -> Response:
    from carnet.web.i18n import language

    lang = language(request)
    with request.app.state.platform.uow() as uow:
        try:
            at = here(request, uow, caller)
        except CarnetError as exc:
            return _failure(request, exc)
        try:
            asked = oauth.parse_authorization(uow, params)
        except oauth.FatalAuthError as exc:
            return page(request, "error.html", status=400, title_key="catalogue.consent.invalid", message=str(exc))
        except oauth.RedirectAuthError as exc:
            client = params.get("client_id", [None])[0]
            return _refused(request, exc, client, caller)
    categories = [{"label": category_label(c, lang), "scopes": consent_scopes(frozenset({c}))}
                  for c in ordered(asked.categories)]  # fmt: skip
    feeds = [{"label": category_label(c, lang), "scopes": consent_feed_scopes(frozenset({c}))}
             for c in ordered(asked.feeds)]  # fmt: skip
    response = page(request, "catalogue_consent.html", app=_app_view(asked.app, lang), categories=categories,
                    feeds=feeds, fields=asked.fields(), **at.context())  # fmt: skip
    web_session.clear_cookie(response, request.app.state.settings, REQUEST_COOKIE)
    return response


@router.get("/applications/autoriser", response_model=None)
async def authorize(request: Request) -> Response:
    """The authorization endpoint: the consent screen for the signed-in holder's chosen space."""
    params = _query(request)
    caller = await _caller_or_sign_in(request, params)
    if isinstance(caller, Response):
        return caller
    if caller.kind != ActorKind.PATIENT:
        return page(request, "error.html", status=403, title_key="error.forbidden", message_key="catalogue.patients")
    return await run_in_threadpool(_consent, request, caller, params)


@router.post("/applications/autoriser", response_model=None)
async def answer(request: Request, caller: PageCallerDep) -> Response:
    """The holder's answer on the consent screen: accept (connect, then back to the app with the code) or refuse."""
    form = await request.form()
    csrf = form.get("csrf")
    if not web_session.csrf_ok(request, csrf if isinstance(csrf, str) else None):
        return page(request, "error.html", status=403, title_key="error.forbidden", message_key="error.csrf")
    if caller.kind != ActorKind.PATIENT:
        return page(request, "error.html", status=403, title_key="error.forbidden", message_key="catalogue.patients")
    params: dict[str, list[str]] = {}
    for key, value in form.multi_items():
        if isinstance(value, str) and key in oauth.PARAMS:
            params.setdefault(key, []).append(value)
    accepted = form.get("decision") == "autoriser"
    issuer = oauth.issuer_of(request.app.state.settings)

    def run() -> Response:
        with request.app.state.platform.uow() as uow:
            try:
                at = here(request, uow, caller)
                asked = oauth.parse_authorization(uow, params)
                if not accepted:
                    no = {"error": "access_denied", "error_description": "le titulaire a refusé l'accès"}
                    return _back_to_app(asked.redirect_uri, {**no, "state": asked.state, "iss": issuer})
                code = catalogue.connect(uow=uow, actor=at.actor, patient_id=at.patient_id, app_id=asked.app.id,
                                         categories=asked.categories, feeds=asked.feeds,
                                         redirect_uri=asked.redirect_uri,
                                         code_challenge=asked.code_challenge)  # fmt: skip
                uow.commit()
            except oauth.FatalAuthError as exc:
                return page(request, "error.html", status=400, title_key="catalogue.consent.invalid",
                            message=str(exc))  # fmt: skip
            except oauth.RedirectAuthError as exc:
                return _refused(request, exc, params.get("client_id", [None])[0], caller)
            except CarnetError as exc:
                return _failure(request, exc)
        return _back_to_app(asked.redirect_uri, {"code": code, "state": asked.state, "iss": issuer})

    return await run_in_threadpool(run)


@router.post("/applications/connexions/{connection_id}/deconnecter", response_model=None)
async def disconnect(request: Request, connection_id: str, caller: PageCallerDep) -> Response:
    """Disconnect an app from the chosen space (CSRF token): its grant revoked, its tokens refused."""
    form = await request.form()
    csrf = form.get("csrf")
    if not web_session.csrf_ok(request, csrf if isinstance(csrf, str) else None):
        return page(request, "error.html", status=403, title_key="error.forbidden", message_key="error.csrf")
    if caller.kind != ActorKind.PATIENT:
        return RedirectResponse("/", status_code=303)

    def run() -> Response:
        with request.app.state.platform.uow() as uow:
            try:
                at = here(request, uow, caller)
                app = catalogue.disconnect(uow=uow, actor=at.actor, patient_id=at.patient_id,
                                           connection_id=connection_id[:64])  # fmt: skip
                uow.commit()
            except CarnetError as exc:
                return _failure(request, exc)
        return RedirectResponse("/applications?" + urlencode({"fait": "deconnectee", "app": app.name}) +
                                "#confirmation", status_code=303)  # fmt: skip

    return await run_in_threadpool(run)

"""Sign-in to the portals: the OpenID Connect authorization-code flow with PKCE (S256) against the configured sign-in
providers (``CARNET_WEB_OIDC_PROVIDERS``: a FranceConnect-like one for patients, a Pro Santé Connect-like one for
professionals, each with its client id and, for a confidential client, its secret); when none is configured, the
development identity provider when it is on (public client ``carnet-web``), else the first trusted issuer.

``/connexion`` redirects to the provider's authorization endpoint, or, with several providers, shows the page to
choose one (``/connexion?fournisseur=<key>``); ``/auth/callback`` checks the state and issuer, redeems the code at
the provider's token endpoint over HTTP (the real flow, even for the in-process provider; client_secret_basic or
client_secret_post for a confidential client), checks the ID token (signature, audience: the client id, nonce),
validates the access token with the API's TokenValidator and opens the session (:mod:`carnet.web.session`);
``/deconnexion`` closes it. :func:`page_caller` gives the signed-in :class:`~carnet.auth.claims.Caller` of a page,
the same type as the API's, or sends the browser to ``/connexion``.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote, urlencode

import httpx
import jwt
from fastapi import Depends, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from carnet.auth.claims import Caller, caller_from_claims
from carnet.auth.keys import ALGORITHM
from carnet.auth.tokens import TokenValidator
from carnet.errors import CarnetError, Unauthenticated
from carnet.settings import Settings
from carnet.web import i18n
from carnet.web import session as web_session
from carnet.web.templating import page

CLIENT_ID = "carnet-web"
SCOPES = "openid profile"
_ID_TOKEN_ALGORITHMS = ("RS256", "PS256", "ES256")  # asymmetric only: never "none", never HMAC
SESSION_MAX = 8 * 3600  # a session never outlives its token, nor 8 hours


class SignInRequired(Exception):
    """The page needs a signed-in user: the browser is sent to ``/connexion`` and back to ``next`` afterwards."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


@dataclass(frozen=True, slots=True, kw_only=True)
class SignInProvider:
    """A provider the portals sign people in with, and the portal's client registration there."""

    key: str
    issuer: str
    client_id: str
    label_fr: str = ""
    label_en: str = ""
    kind: str | None = None  # "patient", "professional", or None: shown apart on the choice page
    client_secret: str | None = None  # None: a public client (PKCE only)
    token_auth_method: str | None = None  # None: from the discovery document
    scopes: str = SCOPES
    audience: str | None = None  # RFC 8707 resource asked for: the access token is for the API

    def label(self, lang: str) -> str:
        return (self.label_en if lang == "en" else self.label_fr) or self.label_fr or self.key


def providers(request: Request) -> tuple[SignInProvider, ...]:
    """The configured sign-in providers; else the development identity provider; else the first trusted issuer."""
    settings = _settings(request)
    if settings.web_oidc_providers:
        return tuple(SignInProvider(key=p.key, issuer=p.issuer, client_id=p.client_id, label_fr=p.label_fr,
                                    label_en=p.label_en, kind=p.kind, token_auth_method=p.token_auth_method,
                                    client_secret=p.client_secret.get_secret_value() if p.client_secret else None,
                                    scopes=" ".join(p.scopes), audience=p.audience)
                     for p in settings.web_oidc_providers)  # fmt: skip
    idp = getattr(request.app.state, "dev_idp", None)
    if idp is not None:
        return (SignInProvider(key="dev", issuer=str(idp.issuer), client_id=CLIENT_ID,
                               label_fr="Fournisseur d'identité de démonstration",
                               label_en="Demonstration identity provider"),)  # fmt: skip
    if settings.oidc_issuers:
        return (SignInProvider(key="defaut", issuer=settings.oidc_issuers[0].issuer.rstrip("/"), client_id=CLIENT_ID),)
    raise Unauthenticated("aucun fournisseur d'identité configuré pour le portail")


def _provider(request: Request, key: object) -> SignInProvider | None:
    """The provider of this key; a sign-in started before providers were configured (no key) uses the only one."""
    known = providers(request)
    if key is None:
        return known[0] if len(known) == 1 else None
    return next((p for p in known if p.key == key), None)


async def _discovery(request: Request, issuer: str) -> dict[str, Any]:
    """The provider's OpenID configuration, fetched once per application."""
    cache: dict[str, dict[str, Any]] = request.app.state.__dict__.setdefault("web_oidc_discovery", {})
    if issuer not in cache:
        async with httpx.AsyncClient(timeout=10) as http:
            answer = await http.get(f"{issuer}/.well-known/openid-configuration")
        answer.raise_for_status()
        document = answer.json()
        if document.get("issuer") != issuer:
            raise Unauthenticated("document de découverte : émetteur inattendu")
        cache[issuer] = document
    return cache[issuer]


def _safe_next(value: str | None) -> str:
    """A local path to return to after sign-in (never another site)."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value and len(value) < 500:
        return value
    return "/"


def _redirect_uri(request: Request) -> str:
    return f"{_settings(request).public_url.rstrip('/')}/auth/callback"


async def sign_in(request: Request) -> Response:
    """Start the authorization-code flow with the chosen provider (the choice page first when there are several):
    state, nonce and PKCE verifier kept in a short signed cookie with the provider's key."""
    known = providers(request)
    asked = request.query_params.get("fournisseur")
    chosen = known[0] if len(known) == 1 and asked is None else next((p for p in known if p.key == asked), None)
    if chosen is None:
        return _choose(request, known, unknown=asked is not None)
    try:
        config = await _discovery(request, chosen.issuer)
    except (httpx.HTTPError, ValueError, CarnetError) as exc:
        return _failed(request, f"fournisseur d'identité injoignable ({type(exc).__name__})", status=503)
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    query = {"response_type": "code", "client_id": chosen.client_id, "redirect_uri": _redirect_uri(request),
             "scope": chosen.scopes, "state": state, "nonce": nonce, "code_challenge": challenge,
             "code_challenge_method": "S256"}  # fmt: skip
    if chosen.audience:
        query["resource"] = chosen.audience
    response = RedirectResponse(f"{config['authorization_endpoint']}?{urlencode(query)}", status_code=303)
    settings = _settings(request)
    expires = int(time.time()) + web_session.LOGIN_LIFETIME
    login = {"state": state, "nonce": nonce, "verifier": verifier, "issuer": chosen.issuer, "provider": chosen.key,
             "next": _safe_next(request.query_params.get("next")), "exp": expires}  # fmt: skip
    web_session.set_cookie(response, settings, web_session.LOGIN_COOKIE,
                           web_session.sign(settings, "login", login), web_session.LOGIN_LIFETIME)  # fmt: skip
    return response


_KINDS = ("patient", "professional", "other")


def _choose(request: Request, known: tuple[SignInProvider, ...], *, unknown: bool) -> Response:
    """The page to choose a provider: patients' and professionals' providers apart, each a link that starts it."""
    lang = i18n.language(request)
    next_path = _safe_next(request.query_params.get("next"))
    groups = []
    for kind in _KINDS:
        members = [p for p in known if (p.kind or "other") == kind]
        if members:
            links = [{"key": p.key, "label": p.label(lang),
                      "href": "/connexion?" + urlencode({"fournisseur": p.key, "next": next_path})}
                     for p in members]  # fmt: skip
            groups.append({"kind": kind, "providers": links})
    if next_path.startswith("/pro"):  # on the way to the professional portal, its providers come first
        groups.sort(key=lambda g: g["kind"] != "professional")
    return page(request, "signin_choose.html", status=400 if unknown else 200, groups=groups, unknown=unknown)


def _failed(request: Request, reason: str, *, status: int = 400) -> Response:
    response = page(request, "signin_failed.html", status=status, reason=reason)
    web_session.clear_cookie(response, _settings(request), web_session.LOGIN_COOKIE)
    return response


async def callback(request: Request) -> Response:
    """The provider's answer: check the state and issuer, redeem the code, validate the token, open the session."""
    settings = _settings(request)
    login = web_session.unsign(settings, "login", request.cookies.get(web_session.LOGIN_COOKIE))
    params = request.query_params
    if login is None:
        return _failed(request, "demande de connexion inconnue ou expirée")
    if not secrets.compare_digest(str(params.get("state", "")), str(login["state"])):
        return _failed(request, "paramètre state incorrect")
    if params.get("iss") not in (None, login["issuer"]):
        return _failed(request, "réponse d'un autre fournisseur d'identité")
    if params.get("error"):
        return _failed(request, f"{params.get('error_description') or params['error']}"[:300])
    code = params.get("code")
    if not code:
        return _failed(request, "code d'autorisation absent")
    provider = _provider(request, login.get("provider"))
    if provider is None or provider.issuer != login["issuer"]:
        return _failed(request, "fournisseur d'identité inconnu : recommencez la connexion")
    try:
        config = await _discovery(request, provider.issuer)
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": _redirect_uri(request),
                "code_verifier": login["verifier"]}  # fmt: skip
        if provider.audience:
            form["resource"] = provider.audience
        headers = _client_authentication(provider, config, form)
        async with httpx.AsyncClient(timeout=10) as http:
            answer = await http.post(config["token_endpoint"], data=form, headers=headers)
        body = answer.json()
    except (httpx.HTTPError, ValueError) as exc:
        return _failed(request, f"point de jeton injoignable ({type(exc).__name__})", status=503)
    except Unauthenticated as exc:
        return _failed(request, exc.message)
    if answer.status_code != 200 or not isinstance(body, dict) or not isinstance(body.get("access_token"), str):
        detail = body.get("error_description") if isinstance(body, dict) else None
        return _failed(request, f"code refusé par le fournisseur d'identité : {detail or answer.status_code}"[:300])
    try:
        await _check_id_token(config, provider.issuer, body.get("id_token"), str(login["nonce"]),
                              client_id=provider.client_id)  # fmt: skip
    except (httpx.HTTPError, ValueError, jwt.PyJWTError) as exc:
        return _failed(request, f"jeton d'identité refusé : {exc}"[:300])
    token = body["access_token"]
    validator: TokenValidator = request.app.state.token_validator
    try:
        claims = await run_in_threadpool(validator.validate, token)
        caller_from_claims(claims)
    except CarnetError as exc:
        return _failed(request, f"jeton refusé : {exc.message}"[:300])
    if str(claims.get("iss", "")).rstrip("/") != provider.issuer:  # trusted, but not the provider signed in with
        return _failed(request, "jeton refusé : émis par un autre fournisseur d'identité")
    expires = min(int(claims.get("exp", 0)), int(time.time()) + SESSION_MAX)
    response = RedirectResponse(str(login["next"]), status_code=303)
    web_session.new_session(settings, response, token, expires)
    web_session.clear_cookie(response, settings, web_session.LOGIN_COOKIE)
    return response


def _client_authentication(provider: SignInProvider, config: dict[str, Any], form: dict[str, str]) -> dict[str, str]:
    """How the portal authenticates at the token endpoint: a public client names itself in the form; a confidential
    one uses its configured method, else client_secret_basic or client_secret_post as the discovery offers them
    (the OpenID default is client_secret_basic). Returns the headers to send; ``form`` is completed in place."""
    if provider.client_secret is None:
        form["client_id"] = provider.client_id
        return {}
    offered = config.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
    method = provider.token_auth_method or next(
        (m for m in ("client_secret_basic", "client_secret_post") if m in offered), None)  # fmt: skip
    if method is None or method not in offered:
        wanted = method or "client_secret_basic ou client_secret_post"
        raise Unauthenticated(f"le fournisseur « {provider.key} » n'offre pas {wanted} au point de jeton (il offre : "
                              f"{', '.join(map(str, offered))})")  # fmt: skip
    if method == "client_secret_post":
        form["client_id"], form["client_secret"] = provider.client_id, provider.client_secret
        return {}
    # RFC 6749 §2.3.1: the id and the secret are form-encoded before they are joined and base64-encoded.
    pair = f"{quote(provider.client_id, safe='')}:{quote(provider.client_secret, safe='')}".encode()
    return {"Authorization": "Basic " + base64.b64encode(pair).decode()}


async def _check_id_token(
    config: dict[str, Any], issuer: str, id_token: object, nonce: str, *, client_id: str = CLIENT_ID
) -> None:
    """The ID token is signed by the issuer (its JWKS), meant for this client, and carries this sign-in's nonce."""
    if not isinstance(id_token, str):
        raise ValueError("absent de la réponse du point de jeton")
    async with httpx.AsyncClient(timeout=10) as http:
        answer = await http.get(config["jwks_uri"])
    answer.raise_for_status()
    kid = jwt.get_unverified_header(id_token).get("kid")
    keys = [k for k in jwt.PyJWKSet.from_dict(answer.json()).keys if kid is None or k.key_id == kid]
    if not keys:
        raise ValueError("clé de signature inconnue")
    offered = config.get("id_token_signing_alg_values_supported") or [ALGORITHM]
    algorithms = [a for a in offered if a in _ID_TOKEN_ALGORITHMS] or [ALGORITHM]
    claims = jwt.decode(id_token, keys[0], algorithms=algorithms, audience=client_id, issuer=issuer,
                        options={"require": ["exp", "iat", "sub", "nonce"]})  # fmt: skip
    if not secrets.compare_digest(str(claims["nonce"]), nonce):
        raise ValueError("nonce différent de celui de la demande")
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if len(audiences) > 1 and claims.get("azp") != client_id:  # OpenID Connect Core §3.1.3.7, points 4 and 5
        raise ValueError("jeton d'identité pour plusieurs clients sans azp de ce portail")


async def sign_out(request: Request) -> Response:
    """Close the session (POST with the CSRF token; a GET shows the confirmation button)."""
    if request.method == "POST":
        form = await request.form()
        csrf = form.get("csrf")
        if web_session.csrf_ok(request, csrf if isinstance(csrf, str) else None):
            response = RedirectResponse("/connexion/terminee", status_code=303)
            web_session.clear_cookie(response, _settings(request), web_session.SESSION_COOKIE)
            return response
    return page(request, "signout.html")


async def signed_out(request: Request) -> Response:
    return page(request, "signed_out.html")


async def page_caller(request: Request) -> Caller:
    """The signed-in caller of a page (validated again on every request); else the browser goes to sign in."""
    cached = getattr(request.state, "caller", None)
    if isinstance(cached, Caller):
        return cached
    current = web_session.session_of(request)
    token = current.get("token") if current else None
    if not isinstance(token, str):
        raise SignInRequired(request.url.path)
    validator: TokenValidator = request.app.state.token_validator
    try:
        claims = validator.remembered(token)
        if claims is None:
            claims = await run_in_threadpool(validator.validate, token)
        caller = caller_from_claims(claims)
    except CarnetError:
        raise SignInRequired(request.url.path) from None
    request.state.caller = caller
    return caller


PageCallerDep = Annotated[Caller, Depends(page_caller)]


def sign_in_redirect(_: Request, exc: SignInRequired) -> Response:
    return RedirectResponse(f"/connexion?{urlencode({'next': exc.next_path})}", status_code=303)

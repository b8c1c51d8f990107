"""The development identity provider's OpenID Connect endpoints under ``/dev-idp`` (docs/api-auth.md).

Mounted only when the provider is enabled (``CARNET_ENV`` not production and ``CARNET_DEV_IDP`` true); otherwise
every ``/dev-idp`` path is an ordinary 404. Discovery, JWKS, the authorization-code flow (a login page listing
the demo users of :mod:`carnet.auth.devusers`, PKCE S256 mandatory for public clients), the token endpoint
(authorization code, client credentials) and userinfo.

Authorization codes are stateless: a JWT signed with HMAC-SHA256 under a key derived from ``CARNET_SECRET_KEY``,
valid 60 seconds, bound to the client, the redirect URI and the PKCE challenge, so any uvicorn worker can redeem
them. Single use is best effort: each worker remembers the codes it redeemed until they expire, so a code replayed
on another worker within its minute is not caught (acceptable for a development provider; a production provider
keeps its codes in shared storage).
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import re
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus, urlencode, urlsplit

import jwt
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape

from carnet.auth import devusers
from carnet.auth.devidp import DEFAULT_LIFETIME, DevIdentityProvider
from carnet.auth.devusers import ClientKind, DemoPatient, DemoProfessional, DevClient, TokenSubject
from carnet.auth.keys import ALGORITHM
from carnet.errors import NotFound, Unauthenticated
from carnet.settings import Settings

router = APIRouter(prefix="/dev-idp", tags=["dev-idp"], include_in_schema=False)

CODE_LIFETIME = 60
MAX_PARAM = 2048
_PKCE = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_AUTHORIZE_PARAMS = ("response_type", "client_id", "redirect_uri", "scope", "state", "nonce", "code_challenge",
                     "code_challenge_method")  # fmt: skip


def _idp(request: Request) -> DevIdentityProvider:
    idp = getattr(request.app.state, "dev_idp", None)
    if not isinstance(idp, DevIdentityProvider):
        raise NotFound("le fournisseur d'identité de développement est désactivé")
    return idp


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


# --- discovery and keys ----------------------------------------------------------------------------------------


@router.get("/.well-known/openid-configuration")
def discovery(request: Request) -> JSONResponse:
    """OpenID Connect discovery document (RFC 8414 / OIDC Discovery 1.0)."""
    idp = _idp(request)
    base = idp.issuer
    scopes = sorted({scope for client in devusers.CLIENTS for scope in client.scopes})
    return JSONResponse({
        "issuer": base,
        "authorization_endpoint": f"{base}/authorize",
        "token_endpoint": f"{base}/token",
        "userinfo_endpoint": f"{base}/userinfo",
        "jwks_uri": f"{base}/jwks",
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "client_credentials"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [ALGORITHM],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": scopes,
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nonce", "auth_time", "amr", "acr", "given_name",
                             "family_name", "SubjectNameID", "SubjectRefPro", "acting_for", "ins", "ins_oid",
                             "represents", "client_id", "scope", "patient"],
        "authorization_response_iss_parameter_supported": True,
        "ui_locales_supported": ["fr"],
    })  # fmt: skip


@router.get("/jwks")
def jwks(request: Request) -> JSONResponse:
    """The public keys the provider signs with (JWKS, ``kid`` = RFC 7638 thumbprint)."""
    return JSONResponse(_idp(request).jwks(), headers={"Cache-Control": "public, max-age=300"})


# --- authorization endpoint ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuthRequest:
    client: DevClient
    redirect_uri: str
    scopes: list[str]
    state: str | None
    nonce: str | None
    code_challenge: str | None

    def hidden_fields(self) -> dict[str, str]:
        fields = {"response_type": "code", "client_id": self.client.client_id, "redirect_uri": self.redirect_uri,
                  "scope": " ".join(self.scopes), "state": self.state, "nonce": self.nonce,
                  "code_challenge": self.code_challenge,
                  "code_challenge_method": "S256" if self.code_challenge else None}  # fmt: skip
        return {k: v for k, v in fields.items() if v is not None}


class _FatalAuthError(Exception):
    """The client or its redirect URI cannot be trusted: say so on a page, never redirect (RFC 6749 §4.1.2.1)."""


class _RedirectAuthError(Exception):
    """A request error reported to the client on its redirect URI."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description


def _single(params: Mapping[str, list[str]], name: str) -> str | None:
    values = params.get(name, [])
    if len(values) > 1:
        raise _RedirectAuthError("invalid_request", f"paramètre « {name} » répété")
    value = values[0] if values else None
    if value is not None and len(value) > MAX_PARAM:
        raise _RedirectAuthError("invalid_request", f"paramètre « {name} » trop long")
    return value or None


def _parse_authorize(params: Mapping[str, list[str]], settings: Settings) -> AuthRequest:
    client_ids, redirects = params.get("client_id", []), params.get("redirect_uri", [])
    if len(client_ids) != 1 or not client_ids[0]:
        raise _FatalAuthError("paramètre client_id absent ou répété")
    client = devusers.client(client_ids[0])
    if client is None:
        raise _FatalAuthError(f"client inconnu : « {client_ids[0][:100]} »")
    if len(redirects) != 1 or not redirects[0]:
        raise _FatalAuthError("paramètre redirect_uri absent ou répété")
    redirect_uri = redirects[0]
    if len(redirect_uri) > MAX_PARAM or not client.allows_redirect(redirect_uri, settings.public_url):
        raise _FatalAuthError(f"redirect_uri non enregistrée pour le client {client.client_id}")
    # From here on, errors go back to the (trusted) redirect URI, with the state when readable.
    response_type = _single(params, "response_type")
    if response_type != "code":
        raise _RedirectAuthError("unsupported_response_type", "seul response_type=code est pris en charge")
    if "authorization_code" not in client.grant_types:
        raise _RedirectAuthError("unauthorized_client", "ce client n'utilise pas le code d'autorisation")
    scopes = devusers.parse_scopes(_single(params, "scope"))
    if scopes is None:
        raise _RedirectAuthError("invalid_scope", "portée mal formée")
    unknown = [s for s in scopes if s not in client.scopes]
    if unknown:
        raise _RedirectAuthError("invalid_scope", f"portées non autorisées pour ce client : {' '.join(unknown)}")
    if not scopes:
        scopes = ["openid"]
    if client.token_subject is TokenSubject.APP and not any(devusers.is_resource_scope(s) for s in scopes):
        raise _RedirectAuthError("invalid_scope", "une application SMART demande au moins une portée patient/…")
    challenge = _single(params, "code_challenge")
    method = _single(params, "code_challenge_method")
    if challenge is not None:
        if (method or "plain") != "S256":
            raise _RedirectAuthError("invalid_request", "code_challenge_method doit valoir S256")
        if not _PKCE.match(challenge):
            raise _RedirectAuthError("invalid_request", "code_challenge mal formé (43 à 128 caractères base64url)")
    elif method is not None:
        raise _RedirectAuthError("invalid_request", "code_challenge_method sans code_challenge")
    elif client.kind is ClientKind.PUBLIC:
        raise _RedirectAuthError("invalid_request", "PKCE obligatoire pour un client public (code_challenge, S256)")
    return AuthRequest(client=client, redirect_uri=redirect_uri, scopes=scopes, state=_single(params, "state"),
                       nonce=_single(params, "nonce"), code_challenge=challenge)  # fmt: skip


def _state_of(params: Mapping[str, list[str]]) -> str | None:
    values = params.get("state", [])
    return values[0][:MAX_PARAM] if len(values) == 1 and values[0] else None


def _auth_error(params: Mapping[str, list[str]], exc: _RedirectAuthError, issuer: str) -> RedirectResponse:
    values = {"error": exc.error, "error_description": exc.description, "state": _state_of(params), "iss": issuer}
    return _redirect(params["redirect_uri"][0], values)


def _redirect(redirect_uri: str, values: dict[str, str | None]) -> RedirectResponse:
    query = urlencode({k: v for k, v in values.items() if v is not None})
    separator = "&" if urlsplit(redirect_uri).query else "?"
    return RedirectResponse(f"{redirect_uri}{separator}{query}", status_code=303, headers=_NO_STORE)


@functools.cache
def _templates() -> Environment:
    return Environment(loader=PackageLoader("carnet.api", "templates"), autoescape=select_autoescape(["html"]))


def _page(template: str, status: int = 200, **context: Any) -> HTMLResponse:
    html = _templates().get_template(template).render(**context)
    headers = {**_NO_STORE, "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
               "form-action 'self' http: https:; frame-ancestors 'none'", "X-Frame-Options": "DENY"}  # fmt: skip
    return HTMLResponse(html, status_code=status, headers=headers)


def _user_groups(client: DevClient) -> list[dict[str, Any]]:
    """The demo users this client may sign in, grouped for the login page."""
    from carnet.record.valuesets import value_sets

    sets = value_sets()

    def pro(p: DemoProfessional) -> dict[str, str]:
        what = [sets.profession.label(p.profession)] if p.profession else []
        if p.specialty and p.profession:
            label = sets.author_specialty.label(f"G15_{p.profession}/{p.specialty}")
            what.append(label.split(" - ")[-1].removesuffix(" (SM)"))
        if p.acting_for:
            boss = devusers.professional(p.acting_for)
            what.append(f"pour {boss.display_name if boss else p.acting_for}")
        card = {"cps": "carte CPS", "e-cps": "e-CPS", "cpe": "carte CPE"}.get(p.amr, p.amr)
        detail = f"{p.organisation_name} — n° {p.national_id}, {card}" if p.organisation_name else p.national_id
        return {"key": p.key, "name": p.display_name, "role": ", ".join(what), "detail": detail}

    def patient(p: DemoPatient) -> dict[str, str]:
        role = "né(e) le " + "/".join(reversed(p.birth_date.split("-")))
        if p.represents:
            role += " ; représentant légal de " + ", ".join(devusers.REPRESENTED.get(i, i) for i in p.represents)
        return {"key": p.key, "name": p.display_name, "role": role, "detail": f"INS {p.ins} (FranceConnect)"}

    groups: list[dict[str, Any]] = []
    if "professional" in client.users:
        groups.append(
            {"id": "pro", "title": "Professionnels de santé", "users": [pro(p) for p in devusers.PROFESSIONALS]}
        )
        groups.append({"id": "cpe", "title": "Secrétariat", "users": [pro(p) for p in devusers.SECRETARIAT]})
    if "patient" in client.users:
        groups.append({"id": "patient", "title": "Patients", "users": [patient(p) for p in devusers.PATIENTS]})
        groups.append({"id": "rep", "title": "Représentant légal",
                       "users": [patient(p) for p in devusers.REPRESENTATIVES]})  # fmt: skip
    return groups


def _login_page(request: Request, auth: AuthRequest, *, error: str | None = None, status: int = 200) -> HTMLResponse:
    return _page("devidp_login.html", status, client=auth.client, scopes=auth.scopes, fields=auth.hidden_fields(),
                 groups=_user_groups(auth.client), error=error, issuer=_idp(request).issuer)  # fmt: skip


def _query_params(request: Request) -> dict[str, list[str]]:
    params: dict[str, list[str]] = {}
    for key, value in request.query_params.multi_items():
        params.setdefault(key, []).append(value)
    return params


@router.get("/authorize", response_model=None)
def authorize_page(request: Request) -> Response:
    """The login page: pick a demo user to sign in to the client (authorization-code flow)."""
    _idp(request)
    params = _query_params(request)
    try:
        auth = _parse_authorize(params, _settings(request))
    except _FatalAuthError as exc:
        return _page("devidp_login.html", 400, fatal=str(exc))
    except _RedirectAuthError as exc:
        return _auth_error(params, exc, _idp(request).issuer)
    return _login_page(request, auth)


@router.post("/authorize", response_model=None)
async def authorize_submit(request: Request) -> Response:
    """The login form: issues a code for the chosen user and redirects to the client with ``code`` and ``state``."""
    idp = _idp(request)
    try:
        form = await request.form()
        params: dict[str, list[str]] = {}
        for key, value in form.multi_items():
            if isinstance(value, str):
                params.setdefault(key, []).append(value)
    except Exception:  # noqa: BLE001 - a malformed body is the client's error, never a 500
        return _page("devidp_login.html", 400, fatal="formulaire illisible")
    try:
        auth = _parse_authorize(params, _settings(request))
    except _FatalAuthError as exc:
        return _page("devidp_login.html", 400, fatal=str(exc))
    except _RedirectAuthError as exc:
        return _auth_error(params, exc, idp.issuer)
    back = {"state": auth.state, "iss": idp.issuer}
    if params.get("action") == ["cancel"]:
        return _redirect(auth.redirect_uri, {"error": "access_denied", "error_description": "connexion annulée",
                                             **back})  # fmt: skip
    keys = params.get("user", [])
    user = devusers.user_by_key(keys[0]) if len(keys) == 1 else None
    kind = "patient" if isinstance(user, DemoPatient) else "professional"
    if user is None or kind not in auth.client.users:
        return _login_page(request, auth, error="Choisissez l'un des utilisateurs de la liste.", status=400)
    code = _issue_code(_settings(request), idp, auth, user)
    return _redirect(auth.redirect_uri, {"code": code, **back})


# --- authorization codes ---------------------------------------------------------------------------------------


def _code_key(settings: Settings) -> bytes:
    return hashlib.sha256(
        b"carnet/dev-idp/authorization-code\0" + settings.secret_key.get_secret_value().encode()
    ).digest()


def _issue_code(settings: Settings, idp: DevIdentityProvider, auth: AuthRequest, user: devusers.DemoUser) -> str:
    now = int(time.time())
    body = {"iss": idp.issuer, "aud": f"{idp.issuer}/token", "typ": "code", "jti": uuid.uuid4().hex, "iat": now,
            "exp": now + CODE_LIFETIME, "client_id": auth.client.client_id, "redirect_uri": auth.redirect_uri,
            "user": user.key, "scope": " ".join(auth.scopes), "nonce": auth.nonce,
            "cc": auth.code_challenge}  # fmt: skip
    return jwt.encode(body, _code_key(settings), algorithm="HS256")


class _UsedCodes:
    """The codes this worker has redeemed, until they expire (best-effort single use)."""

    def __init__(self) -> None:
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def consume(self, jti: str, expires: float) -> bool:
        now = time.time()
        with self._lock:
            for key in [k for k, exp in self._seen.items() if exp < now]:
                del self._seen[key]
            if jti in self._seen:
                return False
            self._seen[jti] = expires
            return True


_USED_CODES = _UsedCodes()


# --- token endpoint --------------------------------------------------------------------------------------------


class OAuthError(Exception):
    """An RFC 6749 §5.2 error answer of the token endpoint."""

    def __init__(self, error: str, description: str, status: int = 400, *, basic: bool = False) -> None:
        super().__init__(description)
        self.error, self.description, self.status, self.basic = error, description, status, basic

    def response(self) -> JSONResponse:
        headers = dict(_NO_STORE)
        if self.status == 401:
            headers["WWW-Authenticate"] = 'Basic realm="dev-idp"'
        return JSONResponse({"error": self.error, "error_description": self.description}, status_code=self.status,
                            headers=headers)  # fmt: skip


def _form_value(form: Mapping[str, list[str]], name: str) -> str | None:
    values = form.get(name, [])
    if len(values) > 1:
        raise OAuthError("invalid_request", f"paramètre « {name} » répété")
    return values[0] if values and values[0] else None


def _authenticate(request: Request, form: Mapping[str, list[str]]) -> DevClient:
    """The calling client: client_secret_basic, client_secret_post, or a public client naming itself."""
    header = request.headers.get("authorization")
    secret = _form_value(form, "client_secret")
    client_id = _form_value(form, "client_id")
    if header is not None:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            raise OAuthError("invalid_client", "authentification du client : Basic attendu", 401)
        if secret is not None:
            raise OAuthError("invalid_request", "une seule méthode d'authentification du client à la fois")
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise OAuthError("invalid_client", "en-tête Authorization Basic illisible", 401) from None
        raw_id, colon, raw_secret = decoded.partition(":")
        if not colon:
            raise OAuthError("invalid_client", "en-tête Authorization Basic illisible", 401)
        basic_id, secret = unquote_plus(raw_id), unquote_plus(raw_secret)
        if client_id is not None and client_id != basic_id:
            raise OAuthError("invalid_request", "client_id différent de celui de l'en-tête Authorization")
        client_id = basic_id
    if not client_id:
        raise OAuthError("invalid_client", "client non authentifié (client_id absent)", 401)
    client = devusers.client(client_id)
    if client is None:
        raise OAuthError("invalid_client", "client inconnu ou secret incorrect", 401)
    if client.kind is ClientKind.PUBLIC:
        if secret is not None:
            raise OAuthError("invalid_client", "un client public n'a pas de secret", 401)
        return client
    if secret is None or client.secret is None or not hmac.compare_digest(secret.encode(), client.secret.encode()):
        raise OAuthError("invalid_client", "client inconnu ou secret incorrect", 401)
    return client


@router.post("/token")
async def token(request: Request) -> JSONResponse:
    """Token endpoint: ``authorization_code`` (with PKCE) and ``client_credentials`` (confidential clients)."""
    idp = _idp(request)
    try:
        try:
            raw = await request.form()
            form: dict[str, list[str]] = {}
            for key, value in raw.multi_items():
                if isinstance(value, str):
                    form.setdefault(key, []).append(value)
        except Exception:  # noqa: BLE001 - a malformed body is the client's error, never a 500
            raise OAuthError(
                "invalid_request", "corps de requête illisible (application/x-www-form-urlencoded)"
            ) from None
        client = _authenticate(request, form)
        grant_type = _form_value(form, "grant_type")
        if grant_type == "authorization_code":
            body = _code_grant(_settings(request), idp, client, form)
        elif grant_type == "client_credentials":
            body = _client_credentials_grant(idp, client, form)
        elif grant_type is None:
            raise OAuthError("invalid_request", "paramètre grant_type absent")
        else:
            raise OAuthError("unsupported_grant_type", f"grant_type non pris en charge : {grant_type[:100]}")
    except OAuthError as exc:
        return exc.response()
    return JSONResponse(body, headers=_NO_STORE)


def _code_grant(settings: Settings, idp: DevIdentityProvider, client: DevClient,
                form: Mapping[str, list[str]]) -> dict[str, Any]:  # fmt: skip
    if "authorization_code" not in client.grant_types:
        raise OAuthError("unauthorized_client", "ce client n'utilise pas le code d'autorisation")
    code = _form_value(form, "code")
    redirect_uri = _form_value(form, "redirect_uri")
    verifier = _form_value(form, "code_verifier")
    if code is None:
        raise OAuthError("invalid_request", "paramètre code absent")
    try:
        grant = jwt.decode(code, _code_key(settings), algorithms=["HS256"], audience=f"{idp.issuer}/token",
                           issuer=idp.issuer, options={"require": ["exp", "jti", "client_id", "user"]})  # fmt: skip
    except jwt.ExpiredSignatureError:
        raise OAuthError("invalid_grant", "code d'autorisation expiré") from None
    except jwt.PyJWTError:
        raise OAuthError("invalid_grant", "code d'autorisation invalide") from None
    if grant.get("typ") != "code" or grant["client_id"] != client.client_id:
        raise OAuthError("invalid_grant", "code d'autorisation émis pour un autre client")
    if redirect_uri != grant.get("redirect_uri"):
        raise OAuthError("invalid_grant", "redirect_uri différente de celle de la demande d'autorisation")
    challenge = grant.get("cc")
    if challenge:
        if verifier is None or not _PKCE.match(verifier):
            raise OAuthError("invalid_grant", "code_verifier absent ou mal formé (PKCE)")
        computed = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        if not hmac.compare_digest(computed, str(challenge)):
            raise OAuthError("invalid_grant", "code_verifier ne correspond pas au code_challenge (PKCE)")
    elif verifier is not None:
        raise OAuthError("invalid_grant", "code_verifier inattendu : la demande n'avait pas de code_challenge")
    user = devusers.user_by_key(str(grant["user"]))
    if user is None:
        raise OAuthError("invalid_grant", "utilisateur inconnu")
    if not _USED_CODES.consume(str(grant["jti"]), float(grant["exp"])):
        raise OAuthError("invalid_grant", "code d'autorisation déjà utilisé")
    scopes = str(grant.get("scope") or "").split()
    if client.token_subject is TokenSubject.APP and isinstance(user, DemoPatient):
        resource_scopes = [s for s in scopes if devusers.is_resource_scope(s)]
        claims = devusers.app_token_claims(client, resource_scopes, patient_ins=user.ins)
        subject = client.client_id
    else:
        claims = {**user.claims(), "client_id": client.client_id, "scope": " ".join(scopes)}
        subject = _subject(user)
    access_token = idp.mint(claims, subject=subject, lifetime=DEFAULT_LIFETIME)
    body: dict[str, Any] = {"access_token": access_token, "token_type": "Bearer", "expires_in": DEFAULT_LIFETIME,
                            "scope": " ".join(scopes)}  # fmt: skip
    if "openid" in scopes:
        body["id_token"] = _id_token(idp, client, user, scopes, grant, access_token)
    return body


def _subject(user: devusers.DemoUser) -> str:
    return user.national_id if isinstance(user, DemoProfessional) else f"fc-{user.ins}"


def _id_token(idp: DevIdentityProvider, client: DevClient, user: devusers.DemoUser, scopes: list[str],
              grant: dict[str, Any], access_token: str) -> str:  # fmt: skip
    digest = hashlib.sha256(access_token.encode()).digest()
    claims: dict[str, Any] = {
        "azp": client.client_id,
        "auth_time": int(grant.get("iat", time.time())),
        "at_hash": base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode(),
        "amr": user.claims()["amr"],
    }
    if grant.get("nonce"):
        claims["nonce"] = grant["nonce"]
    if "profile" in scopes:
        claims.update(given_name=user.given_name, family_name=user.family_name)
    return idp.mint(claims, subject=_subject(user), audience=client.client_id, lifetime=DEFAULT_LIFETIME)


def _client_credentials_grant(idp: DevIdentityProvider, client: DevClient,
                              form: Mapping[str, list[str]]) -> dict[str, Any]:  # fmt: skip
    if client.kind is not ClientKind.CONFIDENTIAL or "client_credentials" not in client.grant_types:
        raise OAuthError("unauthorized_client", "ce client n'a pas droit aux client credentials")
    requested = devusers.parse_scopes(_form_value(form, "scope"))
    if requested is None:
        raise OAuthError("invalid_scope", "portée mal formée")
    try:
        scopes = devusers.credentials_scopes(client, requested)
    except ValueError as exc:
        raise OAuthError("invalid_scope", str(exc)) from None
    access_token = idp.mint(devusers.app_token_claims(client, scopes), subject=client.client_id)
    return {"access_token": access_token, "token_type": "Bearer", "expires_in": DEFAULT_LIFETIME,
            "scope": " ".join(scopes)}  # fmt: skip


# --- userinfo --------------------------------------------------------------------------------------------------

_USERINFO_CLAIMS = ("given_name", "family_name", "SubjectNameID", "SubjectRefPro", "acting_for", "amr", "ins",
                    "ins_oid", "represents", "client_id", "client_name", "scope", "patient")  # fmt: skip


@router.api_route("/userinfo", methods=["GET", "POST"])
def userinfo(request: Request) -> JSONResponse:
    """The signed-in user's claims, for an access token of this provider."""
    from carnet.api.deps import bearer_token

    idp = _idp(request)
    claims = request.app.state.token_validator.validate(bearer_token(request))
    if claims.get("iss") != idp.issuer:
        raise Unauthenticated("jeton émis par un autre fournisseur d'identité")
    return JSONResponse({"sub": claims["sub"], **{k: claims[k] for k in _USERINFO_CLAIMS if k in claims}},
                        headers=_NO_STORE)  # fmt: skip

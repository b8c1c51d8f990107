"""The catalogue's authorization server endpoints (docs/catalogue.md) and the public list of referenced apps.

- ``GET /catalogue/.well-known/oauth-authorization-server``: RFC 8414 metadata (the authorization endpoint is the
  patient portal's consent screen, ``/applications/autoriser``: the holder is signed in there).
- ``GET /catalogue/jwks``: the keys the apps' tokens are signed with.
- ``POST /catalogue/token``: ``authorization_code`` with PKCE, public clients (``client_id`` in the form).
- ``GET /catalogue/apps``: the referenced apps (name, publisher, description, categories read and fed,
  convention's end).

:func:`install` adds the catalogue's issuer to the API's trusted issuers and wraps the validator with the
revocation check (:class:`carnet.catalogue.oauth.CheckedValidator`).
"""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from carnet.catalogue import service
from carnet.catalogue.model import CATEGORIES, FEEDS, category_label, token_scopes
from carnet.catalogue.oauth import CatalogueIssuer, CheckedValidator, refusal_checker
from carnet.settings import Settings

router = APIRouter(prefix="/catalogue", tags=["catalogue"])

_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def install(app: FastAPI) -> None:
    """Trust the catalogue's issuer, and refuse the tokens of apps that lost their access."""
    issuer = CatalogueIssuer.from_settings(app.state.settings)
    app.state.catalogue_issuer = issuer
    validator = app.state.token_validator
    validator.add(issuer.trusted_issuer())
    app.state.token_validator = CheckedValidator(validator, issuer=issuer.issuer,
                                                 refusal=refusal_checker(lambda: app.state.platform.uow()))  # fmt: skip


def _issuer(request: Request) -> CatalogueIssuer:
    issuer: CatalogueIssuer = request.app.state.catalogue_issuer
    return issuer


@router.get("/.well-known/oauth-authorization-server")
def metadata(request: Request) -> JSONResponse:
    """Authorization server metadata (RFC 8414)."""
    settings: Settings = request.app.state.settings
    base = settings.public_url.rstrip("/")
    return JSONResponse({
        "issuer": _issuer(request).issuer,
        "authorization_endpoint": f"{base}/applications/autoriser",
        "token_endpoint": f"{base}/catalogue/token",
        "jwks_uri": f"{base}/catalogue/jwks",
        "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code"],
        "token_endpoint_auth_methods_supported": ["none"],
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": sorted({s for c in CATEGORIES for s in c.scopes} | {f.scope for f in FEEDS}
                                   | {"launch/patient"}),
        "authorization_response_iss_parameter_supported": True,
    })  # fmt: skip


@router.get("/jwks")
def keys(request: Request) -> JSONResponse:
    """The public keys of the apps' tokens (JWKS)."""
    return JSONResponse(_issuer(request).jwks(), headers={"Cache-Control": "public, max-age=300"})


def _oauth_error(error: str, description: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=status, headers=_NO_STORE)


def _single(form: Mapping[str, list[str]], name: str) -> str | None:
    values = form.get(name, [])
    if len(values) > 1:
        raise service.TokenRequestError("invalid_request", f"paramètre « {name} » répété")
    return values[0] if values and values[0] else None


@router.post("/token")
async def token(request: Request) -> JSONResponse:
    """Redeem an authorization code for the app's access token (with ``patient``: the holder's Patient id)."""
    if request.headers.get("authorization"):
        return _oauth_error("invalid_client", "les applications du catalogue sont des clients publics (PKCE) : pas "
                            "d'authentification par en-tête Authorization", 401)  # fmt: skip
    try:
        raw = await request.form()
        form: dict[str, list[str]] = {}
        for key, value in raw.multi_items():
            if isinstance(value, str):
                form.setdefault(key, []).append(value[:2048])
    except Exception:  # noqa: BLE001 - a malformed body is the client's error, never a 500
        return _oauth_error("invalid_request", "corps de requête illisible (application/x-www-form-urlencoded)")
    platform = request.app.state.platform

    def redeem() -> service.Issued:
        grant_type = _single(form, "grant_type")
        if grant_type is None:
            raise service.TokenRequestError("invalid_request", "paramètre grant_type absent")
        if grant_type != "authorization_code":
            raise service.TokenRequestError("unsupported_grant_type",
                                            f"grant_type non pris en charge : {grant_type[:100]}")  # fmt: skip
        client_id, code = _single(form, "client_id"), _single(form, "code")
        if client_id is None:
            raise service.TokenRequestError("invalid_client", "paramètre client_id absent", 401)
        if code is None:
            raise service.TokenRequestError("invalid_request", "paramètre code absent")
        with platform.uow() as uow:
            try:
                issued = service.redeem(uow=uow, client_id=client_id, code=code,
                                        redirect_uri=_single(form, "redirect_uri"),
                                        verifier=_single(form, "code_verifier"))  # fmt: skip
            except service.TokenRequestError:
                uow.commit()  # the code is spent even when the request fails (a replayed code never works)
                raise
            uow.commit()
            return issued

    try:
        issued = await run_in_threadpool(redeem)
    except service.TokenRequestError as exc:
        return _oauth_error(exc.error, exc.description, exc.status)
    scopes = token_scopes(issued.categories, issued.feeds)
    return JSONResponse({"access_token": _issuer(request).mint(issued, scopes), "token_type": "Bearer",
                         "expires_in": issued.lifetime, "scope": " ".join(scopes), "patient": issued.patient_id},
                        headers=_NO_STORE)  # fmt: skip


@router.get("/apps")
def apps(request: Request) -> JSONResponse:
    """The catalogue: the referenced apps whose convention runs (public information, no personal data)."""
    with request.app.state.platform.uow() as uow:
        found = service.referenced(uow=uow)
    return JSONResponse({"apps": [{
        "client_id": a.id, "name": a.name, "publisher": a.publisher, "description": a.description,
        "website": a.website,
        "categories": [{"code": c, "label": category_label(c)} for c in a.categories_granted],
        "feeds": [{"code": c, "label": category_label(c)} for c in a.feed_granted or []],
        "convention_ends_at": a.convention_ends_at.isoformat() if a.convention_ends_at else None,
    } for a in found]})  # fmt: skip

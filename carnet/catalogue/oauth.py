"""Carnet as the OAuth 2.0 authorization server of the referenced apps (docs/catalogue.md, "Connecting an app").

- **Issuer**: ``<public_url>/catalogue``, with its own RSA key (``<data_dir>/catalogue/signing-key.pem``, created on
  first use) published at ``/catalogue/jwks``. It is added to the API's trusted issuers at start-up, so the
  ordinary :class:`~carnet.auth.tokens.TokenValidator` checks the apps' tokens (signature, audience, times), in
  development as in production (the development identity provider may be off).
- **Tokens**: ``client_id`` (the app's id), ``client_name``, ``scope`` (SMART on FHIR: the reads, then the
  creates of the categories it feeds), ``patient`` (the holder's
  INS: :mod:`carnet.auth.claims` makes the caller an app acting for that holder) and ``cnx`` (the connection).
- **Revocation**: :class:`CheckedValidator` wraps the API's validator: a token of this issuer is refused (401) at
  every call once its connection ended, its grant was revoked, its app was withdrawn or its convention ended —
  even while the validator still remembers its signature as verified.
- **Authorization requests** (:func:`parse_authorization`): public clients, ``response_type=code``, PKCE S256
  mandatory, the redirect URI registered exactly, the scopes read as data categories of the convention, read and
  fed.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from carnet.auth.keys import SigningKey, jwks
from carnet.auth.tokens import TokenValidator, TrustedIssuer
from carnet.catalogue import service
from carnet.catalogue.model import category_label, ordered, parse_scopes
from carnet.catalogue.store import AppRow
from carnet.errors import Unauthenticated
from carnet.settings import Settings

if TYPE_CHECKING:
    from carnet.storage.uow import UnitOfWork

MAX_PARAM = 2048
_PKCE = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")
PARAMS = ("response_type", "client_id", "redirect_uri", "scope", "state", "code_challenge", "code_challenge_method",
          "aud")  # fmt: skip


class CatalogueIssuer:
    """Signs the apps' access tokens."""

    def __init__(self, *, issuer: str, audience: str, key: SigningKey) -> None:
        self.issuer = issuer
        self.audience = audience
        self.key = key

    @classmethod
    def from_settings(cls, settings: Settings) -> CatalogueIssuer:
        return cls(issuer=issuer_of(settings), audience=settings.effective_audience,
                   key=SigningKey.load_or_create(settings.data_dir / "catalogue" / "signing-key.pem"))  # fmt: skip

    def jwks(self) -> dict[str, Any]:
        return jwks(self.key)

    def trusted_issuer(self) -> TrustedIssuer:
        return TrustedIssuer(issuer=self.issuer, audience=self.audience, jwks_provider=self.jwks)

    def mint(self, issued: service.Issued, scopes: list[str]) -> str:
        """The access token of a redeemed connection."""
        now = int(time.time())
        return self.key.sign({
            "iss": self.issuer, "sub": issued.app_id, "aud": self.audience, "iat": now, "nbf": now,
            "exp": now + issued.lifetime, "jti": uuid.uuid4().hex, "client_id": issued.app_id,
            "client_name": issued.app_name, "scope": " ".join(scopes), "patient": issued.patient_ins,
            "cnx": issued.connection_id,
        })  # fmt: skip


def issuer_of(settings: Settings) -> str:
    return f"{settings.public_url.rstrip('/')}/catalogue"


class CheckedValidator(TokenValidator):
    """The API's token validator, plus the catalogue's revocation check on the tokens of its issuer."""

    def __init__(self, inner: TokenValidator, *, issuer: str, refusal: Callable[[dict[str, Any]], str | None]) -> None:
        super().__init__((), audience=inner.audience, clock=inner._clock)
        self._issuers = inner._issuers  # the same trusted issuers (added to later by the other modules)
        self._verified = inner._verified
        self._catalogue_issuer = issuer
        self._refusal = refusal

    def _check(self, claims: dict[str, Any]) -> dict[str, Any]:
        if claims.get("iss") == self._catalogue_issuer:
            reason = self._refusal(claims)
            if reason:
                raise Unauthenticated(f"jeton de l'application refusé : {reason}")
        return claims

    def remembered(self, token: str) -> dict[str, Any] | None:
        claims = super().remembered(token)
        return None if claims is None else self._check(claims)

    def validate(self, token: str) -> dict[str, Any]:
        return self._check(super().validate(token))


def refusal_checker(uow_factory: Callable[[], UnitOfWork]) -> Callable[[dict[str, Any]], str | None]:
    """The revocation check over the database (one read of the connection, its grant and its app)."""

    def refusal(claims: dict[str, Any]) -> str | None:
        with uow_factory() as uow:
            return service.token_refusal(uow=uow, connection_id=claims.get("cnx"), app_id=claims.get("client_id"))

    return refusal


# --- authorization requests -------------------------------------------------------------------------------------


class FatalAuthError(Exception):
    """The client or its redirect URI cannot be trusted: said on a page, never redirected (RFC 6749 §4.1.2.1)."""


class RedirectAuthError(Exception):
    """An error reported to the app on its (registered) redirect URI."""

    def __init__(self, error: str, description: str, *, redirect_uri: str, state: str | None) -> None:
        super().__init__(description)
        self.error, self.description, self.redirect_uri, self.state = error, description, redirect_uri, state


@dataclass(frozen=True, slots=True)
class AuthorizationRequest:
    """A checked authorization request: the app, the categories it will read and feed, and what the code binds."""

    app: AppRow
    redirect_uri: str
    state: str | None
    code_challenge: str
    scope: str | None
    categories: frozenset[str]
    feeds: frozenset[str] = frozenset()

    def fields(self) -> dict[str, str]:
        """The request again, as the consent form's hidden fields."""
        values = {"response_type": "code", "client_id": self.app.id, "redirect_uri": self.redirect_uri,
                  "scope": self.scope, "state": self.state, "code_challenge": self.code_challenge,
                  "code_challenge_method": "S256"}  # fmt: skip
        return {k: v for k, v in values.items() if v is not None}

    def labels(self, lang: str = "fr") -> list[str]:
        return [category_label(c, lang) for c in ordered(self.categories)]


def _one(params: Mapping[str, list[str]], name: str, fail: Callable[[str], Exception]) -> str | None:
    values = params.get(name, [])
    if len(values) > 1:
        raise fail(f"paramètre « {name} » répété")
    value = values[0] if values else None
    if value is not None and len(value) > MAX_PARAM:
        raise fail(f"paramètre « {name} » trop long")
    return value or None


def parse_authorization(uow: UnitOfWork, params: Mapping[str, list[str]]) -> AuthorizationRequest:
    """Check an authorization request; FatalAuthError before the redirect URI is trusted, RedirectAuthError after."""
    client_id = _one(params, "client_id", FatalAuthError)
    if client_id is None:
        raise FatalAuthError("paramètre client_id absent")
    app = service._repo(uow).app(client_id[:64])
    if app is None:
        raise FatalAuthError(f"application inconnue du catalogue : « {client_id[:80]} »")
    redirect_uri = _one(params, "redirect_uri", FatalAuthError)
    if redirect_uri is None or redirect_uri not in app.redirect_uris:
        raise FatalAuthError(f"adresse de retour non enregistrée pour l'application « {app.name} »")
    if not service.is_live(app, uow.clock.now()):
        raise FatalAuthError(f"l'application « {app.name} » n'est pas (ou plus) référencée au catalogue")
    state = _state(params)

    def redirect(description: str, error: str = "invalid_request") -> RedirectAuthError:
        return RedirectAuthError(error, description, redirect_uri=redirect_uri, state=state)

    if _one(params, "response_type", redirect) != "code":
        raise redirect("seul response_type=code est pris en charge", "unsupported_response_type")
    challenge = _one(params, "code_challenge", redirect)
    method = _one(params, "code_challenge_method", redirect)
    if challenge is None:
        raise redirect("PKCE obligatoire : code_challenge et code_challenge_method=S256")
    if method != "S256":
        raise redirect("code_challenge_method doit valoir S256")
    if not _PKCE.match(challenge):
        raise redirect("code_challenge mal formé (43 à 128 caractères base64url)")
    scope = _one(params, "scope", redirect)
    asked = parse_scopes(scope, frozenset(app.categories_granted), frozenset(app.feed_granted or ()))
    if asked.error:
        raise redirect(asked.description or "portée refusée", asked.error)
    return AuthorizationRequest(app=app, redirect_uri=redirect_uri, state=state, code_challenge=challenge,
                                scope=scope, categories=asked.categories, feeds=asked.feeds)  # fmt: skip


def _state(params: Mapping[str, list[str]]) -> str | None:
    values = params.get("state", [])
    return values[0][:MAX_PARAM] if len(values) == 1 and values[0] else None

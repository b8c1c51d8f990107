"""Bearer-token validation against trusted OpenID Connect issuers.

Each trusted issuer is configured by its issuer URL and either its JWKS URL (fetched with httpx, cached, and
fetched again when a token names an unknown ``kid``: key rotation) or a JWKS given inline. A token is accepted
only when its signature verifies with a key of the issuer it names, with an asymmetric algorithm, for our
audience, and inside its validity period.

A verified token is remembered (by its SHA-256 digest, never the token itself) until it expires, while its issuer
is still trusted and still publishes the key that signed it: once a refetch of the issuer's keys drops that key
(rotation, a compromised key withdrawn), the token is verified again, and refused. Checks on data that can change
(an app's grant, :class:`carnet.catalogue.oauth.CheckedValidator`) run at every call, remembered or not.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt

from carnet.errors import Unauthenticated

ALLOWED_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "ES256", "ES384")
LEEWAY_SECONDS = 30
# A token naming an unknown kid makes us fetch the JWKS again, but not more often than this (the threat: a
# flood of forged kids turning the API into a load generator against the identity provider).
MIN_REFETCH_SECONDS = 30.0
JWKS_TTL_SECONDS = 3600.0
VERIFIED_CACHE_SIZE = 10_000


@dataclass
class TrustedIssuer:
    """An identity provider whose tokens we accept. ``jwks`` inline, or ``jwks_uri`` fetched on demand."""

    issuer: str
    audience: str | None = None
    jwks_uri: str | None = None
    jwks: dict[str, Any] | None = None
    # Inline key-set provider (the embedded development identity provider: always its current keys).
    jwks_provider: Callable[[], dict[str, Any]] | None = None
    _cache: dict[str, jwt.PyJWK] = field(default_factory=dict, repr=False)
    _raw: dict[str, Any] = field(default_factory=dict, repr=False)  # the JWK of each key in _cache, as published
    _fetched_at: float = field(default=0.0, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def key_for(self, kid: str | None) -> jwt.PyJWK:
        with self._lock:
            fresh = time.monotonic() - self._fetched_at < JWKS_TTL_SECONDS
            if not self._cache or not fresh:
                self._load()
            key = self._pick(kid)
            if key is None and time.monotonic() - self._fetched_at >= MIN_REFETCH_SECONDS:
                self._load()
                key = self._pick(kid)
            if key is None and self.jwks_provider is not None:
                self._load()
                key = self._pick(kid)
        if key is None:
            raise Unauthenticated(f"clé de signature inconnue (kid={kid!r}) pour l'émetteur {self.issuer}")
        return key

    def publishes(self, key: jwt.PyJWK) -> bool:
        """True while ``key`` is among the keys last loaded (no I/O): false once a refetch dropped or changed it."""
        return any(held is key for held in self._cache.values())

    def _pick(self, kid: str | None) -> jwt.PyJWK | None:
        if kid is not None:
            return self._cache.get(kid)
        return next(iter(self._cache.values())) if len(self._cache) == 1 else None

    def _load(self) -> None:
        if self.jwks_provider is not None:
            document = self.jwks_provider()
        elif self.jwks is not None:
            document = self.jwks
        elif self.jwks_uri:
            try:
                response = httpx.get(self.jwks_uri, timeout=5.0)
                response.raise_for_status()
                document = response.json()
            except (httpx.HTTPError, ValueError) as exc:
                self._fetched_at = time.monotonic()
                raise Unauthenticated(f"les clés de l'émetteur {self.issuer} sont inaccessibles: {exc}") from exc
        else:
            raise Unauthenticated(f"aucune clé configurée pour l'émetteur {self.issuer}")
        keys: dict[str, jwt.PyJWK] = {}
        raw: dict[str, Any] = {}
        for index, data in enumerate(document.get("keys", [])):
            if data.get("use", "sig") != "sig":
                continue
            kid = data.get("kid") or f"#{index}"
            if self._raw.get(kid) == data and kid in self._cache:
                keys[kid] = self._cache[kid]  # the same key published again: tokens it verified stay remembered
            else:
                try:
                    keys[kid] = jwt.PyJWK(data)
                except jwt.PyJWTError:
                    continue  # a key type we cannot use; the others still count
            raw[kid] = data
        self._raw = raw
        self._cache = keys
        self._fetched_at = time.monotonic()


@dataclass(frozen=True, slots=True)
class _Verified:
    """A verified token's claims, with what they were verified against."""

    claims: dict[str, Any]
    issuer: TrustedIssuer
    key: jwt.PyJWK


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("ascii", "replace")).digest()


class TokenValidator:
    """Checks a bearer token and returns its verified claims."""

    def __init__(self, issuers: Iterable[TrustedIssuer], *, audience: str, clock: Callable[[], float] = time.time):
        self._issuers = {issuer.issuer: issuer for issuer in issuers}
        self.audience = audience
        self._clock = clock
        # Verified claims by the token's digest, until the token expires or its key is withdrawn: a client sends
        # the same token with every request, and verifying its signature again each time is most of the cost of
        # authentication.
        self._verified: dict[bytes, _Verified] = {}

    @property
    def issuers(self) -> tuple[str, ...]:
        return tuple(self._issuers)

    def add(self, issuer: TrustedIssuer) -> None:
        self._issuers[issuer.issuer] = issuer

    def remembered(self, token: str) -> dict[str, Any] | None:
        """The claims of a token verified before, not expired since, whose issuer is still trusted and still
        publishes the key that signed it; else None (no I/O)."""
        digest = _digest(token)
        cached = self._verified.get(digest)
        if cached is None:
            return None
        if (
            cached.claims["exp"] + LEEWAY_SECONDS > self._clock()
            and self._issuers.get(cached.issuer.issuer) is cached.issuer
            and cached.issuer.publishes(cached.key)
        ):
            return dict(cached.claims)
        self._verified.pop(digest, None)
        return None

    def validate(self, token: str) -> dict[str, Any]:
        remembered = self.remembered(token)
        if remembered is not None:
            return remembered
        verified = self._validate(token)
        if len(self._verified) >= VERIFIED_CACHE_SIZE:
            self._verified.clear()  # bounded memory; the next requests verify again
        self._verified[_digest(token)] = verified
        return dict(verified.claims)

    def _validate(self, token: str) -> _Verified:
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"jeton illisible: {exc}") from exc
        issuer_url = unverified.get("iss")
        issuer = self._issuers.get(issuer_url) if isinstance(issuer_url, str) else None
        if issuer is None:
            raise Unauthenticated(f"émetteur non reconnu: {issuer_url!r}")
        algorithm = header.get("alg")
        if algorithm not in ALLOWED_ALGORITHMS:
            raise Unauthenticated(f"algorithme de signature refusé: {algorithm!r}")
        key = issuer.key_for(header.get("kid"))
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                audience=issuer.audience or self.audience,
                issuer=issuer.issuer,
                # Times are checked below against the validator's clock (injectable), not PyJWT's.
                options={"require": ["exp", "iat", "iss", "sub"], "verify_exp": False, "verify_nbf": False,
                         "verify_iat": False},
            )  # fmt: skip
        except jwt.InvalidAudienceError as exc:
            raise Unauthenticated("jeton émis pour un autre service (aud)") from exc
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"jeton refusé: {exc}") from exc
        now = self._clock()
        for name in ("exp", "iat", "nbf"):
            if name in claims and not isinstance(claims[name], int | float):
                raise Unauthenticated(f"jeton refusé: {name} doit être une date numérique")
        if claims["exp"] + LEEWAY_SECONDS <= now:
            raise Unauthenticated("jeton expiré")
        if claims["iat"] > now + LEEWAY_SECONDS:
            raise Unauthenticated("jeton émis dans le futur (iat)")
        if claims.get("nbf", 0) > now + LEEWAY_SECONDS:
            raise Unauthenticated("jeton pas encore valide (nbf)")
        return _Verified(claims=claims, issuer=issuer, key=key)

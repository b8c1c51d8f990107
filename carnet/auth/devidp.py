"""The embedded development identity provider: signs real tokens so the API always takes the real validation path.

Enabled in development and tests only (``Settings.dev_idp_enabled``); production refuses it. Its issuer is
``<public_url>/dev-idp``; its key is kept under ``<data_dir>/dev-idp/``. The OpenID Connect endpoints
(discovery, JWKS, authorization code with a login page, client credentials) are in ``carnet.api.devidp``.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from carnet.auth.keys import SigningKey, jwks
from carnet.auth.tokens import TrustedIssuer
from carnet.settings import Settings

DEFAULT_LIFETIME = 3600


class DevIdentityProvider:
    """Mints tokens for demo users and apps; the API trusts it like any other configured issuer."""

    def __init__(self, *, issuer: str, audience: str, key: SigningKey) -> None:
        self.issuer = issuer
        self.audience = audience
        self.key = key

    @classmethod
    def from_settings(cls, settings: Settings) -> DevIdentityProvider:
        return cls(
            issuer=f"{settings.public_url.rstrip('/')}/dev-idp",
            audience=settings.effective_audience,
            key=SigningKey.load_or_create(settings.data_dir / "dev-idp" / "signing-key.pem"),
        )

    def jwks(self) -> dict[str, Any]:
        return jwks(self.key)

    def trusted_issuer(self) -> TrustedIssuer:
        return TrustedIssuer(issuer=self.issuer, audience=self.audience, jwks_provider=self.jwks)

    def mint(
        self,
        claims: dict[str, Any],
        *,
        subject: str,
        lifetime: int = DEFAULT_LIFETIME,
        audience: str | None = None,
        now: float | None = None,
    ) -> str:
        """A signed access token with the standard claims around ``claims``."""
        issued = int(time.time() if now is None else now)
        body = {
            **claims,
            "iss": self.issuer,
            "sub": subject,
            "aud": audience or self.audience,
            "iat": issued,
            "nbf": issued,
            "exp": issued + lifetime,
            "jti": uuid.uuid4().hex,
        }
        return self.key.sign(body)


def professional_claims(
    national_id: str,
    *,
    profession: str | None,
    given_name: str,
    family_name: str,
    specialty: str | None = None,
    organisation_id: str | None = None,
    organisation_name: str | None = None,
    amr: str = "cps",
    acting_for: str | None = None,
) -> dict[str, Any]:
    """Claims shaped as Pro Santé Connect gives them (``amr`` ``cpe`` with ``acting_for`` for secretariat staff)."""
    activity = {k: v for k, v in {"identifiantStructure": organisation_id,
                                   "raisonSocialeSite": organisation_name}.items() if v}  # fmt: skip
    exercise: dict[str, Any] = {
        k: v for k, v in {"codeProfession": profession, "codeSavoirFaire": specialty}.items() if v
    }
    exercise["activities"] = [activity] if activity else []
    claims: dict[str, Any] = {
        "SubjectNameID": national_id,
        "given_name": given_name,
        "family_name": family_name,
        "SubjectRefPro": {"exercices": [exercise]},
        "amr": [amr],
        "acr": "eidas2" if amr == "cps" else "eidas1",
    }
    if acting_for:
        claims["acting_for"] = acting_for
    return claims


def patient_claims(
    ins: str, *, ins_oid: str, given_name: str | None = None, family_name: str | None = None,
    represents: list[dict[str, str]] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Claims of a holder signed in through FranceConnect, mapped to their INS."""
    claims: dict[str, Any] = {"ins": ins, "ins_oid": ins_oid, "amr": ["fc"], "acr": "eidas2"}
    if given_name:
        claims["given_name"] = given_name
    if family_name:
        claims["family_name"] = family_name
    if represents:
        claims["represents"] = represents
    return claims


def app_claims(client_id: str, *, scopes: list[str], patient_ins: str | None = None) -> dict[str, Any]:
    """Claims of an app (client credentials), with its SMART on FHIR scopes."""
    claims: dict[str, Any] = {"client_id": client_id, "scope": " ".join(scopes)}
    if patient_ins:
        claims["patient"] = patient_ins
    return claims

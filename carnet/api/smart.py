"""``GET /fhir/.well-known/smart-configuration``: SMART App Launch discovery, so a SMART client finds where to
get a token. It names the embedded development identity provider when it runs, otherwise the first trusted
issuer (whose own OpenID discovery document gives its endpoints).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from carnet.errors import NotFound
from carnet.settings import Settings

router = APIRouter(tags=["auth"])

SCOPES = [
    "openid", "fhirUser", "launch/patient",
    "patient/DocumentReference.rs", "patient/DocumentReference.c", "patient/Binary.r", "patient/Patient.r",
    "patient/Consent.rs", "patient/AuditEvent.rs",
    "patient/Observation.c", "patient/Immunization.c", "patient/AllergyIntolerance.c", "patient/Appointment.cu",
    "system/DocumentReference.cruds", "system/Binary.r", "system/Patient.rs",
]  # fmt: skip


@router.get("/fhir/.well-known/smart-configuration")
def smart_configuration(request: Request) -> JSONResponse:
    """Where to authenticate, which grants and scopes are understood."""
    settings: Settings = request.app.state.settings
    idp = request.app.state.dev_idp
    body: dict[str, Any] = {
        "grant_types_supported": ["authorization_code", "client_credentials"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "scopes_supported": SCOPES,
        "response_types_supported": ["code"],
        "capabilities": ["launch-standalone", "client-public", "client-confidential-symmetric",
                         "permission-v1", "permission-v2", "context-standalone-patient"],
    }  # fmt: skip
    if idp is not None:
        body |= {
            "issuer": idp.issuer,
            "jwks_uri": f"{idp.issuer}/jwks",
            "authorization_endpoint": f"{idp.issuer}/authorize",
            "token_endpoint": f"{idp.issuer}/token",
        }
    elif settings.oidc_issuers:
        first = settings.oidc_issuers[0]
        body |= {"issuer": first.issuer, "jwks_uri": first.jwks_uri}
    else:
        raise NotFound("aucun fournisseur d'identité configuré (CARNET_OIDC_ISSUERS)")
    return JSONResponse(body)

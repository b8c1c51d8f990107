"""``GET /auth/whoami``: the caller as the API sees it, so an integrator can check a token's mapping."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from carnet.api.deps import CallerDep

router = APIRouter(tags=["auth"])


@router.get("/auth/whoami")
def whoami(caller: CallerDep) -> dict[str, Any]:
    """Who the bearer token says is calling (no patient data)."""
    return {
        "kind": caller.kind.value,
        "id": caller.subject,
        "auth_method": caller.auth_method.value,
        "issuer": caller.issuer,
        "name": caller.name,
        "profession": caller.profession,
        "specialty": caller.specialty,
        "organisation": caller.organisation_id,
        "acting_for": caller.acting_for,
        "scopes": sorted(caller.scopes),
    }

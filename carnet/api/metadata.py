"""``GET /fhir/metadata``: the CapabilityStatement, built from what the router modules declare they implement.

Each module of ``ROUTER_MODULES`` may define ``CAPABILITIES``: a list of CapabilityStatement ``rest.resource``
entries (type, profile, interaction, searchParam, operation), ``SYSTEM_INTERACTIONS`` (e.g. transaction) and
``OPERATIONS`` (an operation on a type another module lists, merged into that type's entry).
So the statement lists exactly what is routed, nothing more.
"""

from __future__ import annotations

import importlib
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from carnet import __version__
from carnet.api.outcome import fhir_response

router = APIRouter(tags=["fhir"])

PDSM = "https://interop.esante.gouv.fr/ig/fhir/pdsm"


def capability_statement(base_url: str, software_date: str) -> dict[str, Any]:
    from carnet.api.app import ROUTER_MODULES

    resources: list[dict[str, Any]] = []
    system: list[dict[str, str]] = []
    operations: list[dict[str, Any]] = []
    for name in ROUTER_MODULES:
        module = importlib.import_module(f"carnet.api.{name}")
        resources.extend(dict(r) for r in getattr(module, "CAPABILITIES", []))  # copies: merged into below
        system.extend(getattr(module, "SYSTEM_INTERACTIONS", []))
        operations.extend(getattr(module, "OPERATIONS", []))
    # A module may add an operation to a resource type another module owns (``OPERATIONS``: type + operation):
    # the statement keeps one entry per type.
    for item in operations:
        owner = next((r for r in resources if r["type"] == item["type"]), None)
        if owner is None:
            owner = {"type": item["type"], "interaction": []}
            resources.append(owner)
        owner["operation"] = [*owner.get("operation", []), item["operation"]]
    rest: dict[str, Any] = {
        "mode": "server",
        "security": {
            "cors": True,
            "service": [
                {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                            "code": "SMART-on-FHIR",
                        }
                    ]
                }
            ],
            "description": "OAuth 2.0 bearer tokens (JWT) from trusted OpenID Connect issuers, and for the referenced "
            "apps from the catalogue's authorization server (/catalogue/.well-known/oauth-authorization-server); see "
            "docs/api-auth.md and docs/catalogue.md",
        },  # fmt: skip
        "resource": sorted(resources, key=lambda r: str(r["type"])),
    }
    if system:
        rest["interaction"] = system
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": software_date,
        "kind": "instance",
        "software": {"name": "Carnet", "version": __version__},
        "implementation": {"description": "Carnet — espace santé et dossier médical partagé", "url": base_url},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "json"],
        "instantiates": [f"{PDSM}/CapabilityStatement/PDSm-GestionnaireDePartageDeDocuments"],
        "rest": [rest],
    }


@router.get("/fhir/metadata", response_class=JSONResponse)
def metadata(request: Request) -> JSONResponse:
    """The server's CapabilityStatement (no authentication needed)."""
    base = str(request.base_url).rstrip("/") + "/fhir"
    now = request.app.state.platform.clock.now().date().isoformat()
    return fhir_response(capability_statement(base, now))

"""The space's life in the API (FHIR R4 4.0.1 operations on Patient, :mod:`carnet.space.lifecycle`):

- ``GET /fhir/Patient/{id}/$space``: where the space stands;
- ``POST /fhir/Patient/{id}/$oppose``: oppose its creation during the six weeks;
- ``POST /fhir/Patient/{id}/$close``: close the open space (documents kept for the retention period);
- ``POST /fhir/Patient/{id}/$reopen``: re-open a closed space, or open one whose creation was opposed.

The body of a POST is empty or a ``Parameters`` resource without parameters. Each answers a ``Parameters``
resource (validated with ``fhir.resources.R4B``): ``status`` (valueCode pending | open | opposed | closed),
``opensOn`` (valueDate: being created, the day it opens without opposition), ``oppositionOpen`` (valueBoolean),
``closedAt`` (valueDateTime), ``keptUntil`` (valueDate: closed, the last day its documents are kept),
``purged`` (valueBoolean). Who may: the holder, and a representative while they act for the holder (the access
decision: MANAGE_CONSENT); an app never. A change the rules refuse now (too late to oppose, already closed) is a
409 OperationOutcome; every attempt is traced.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from carnet.access.model import ActorKind
from carnet.api import _paging as p
from carnet.api.deps import CallerDep, UowDep
from carnet.api.documents import actor_for_patient
from carnet.api.outcome import FhirError, fhir_response
from carnet.auth.claims import Caller
from carnet.errors import Forbidden
from carnet.space import lifecycle, lifecycle_admin
from carnet.storage.uow import UnitOfWork

router = APIRouter(prefix="/fhir", tags=["fhir: space"])

DEFINITIONS = "https://carnet.example.org/fhir/OperationDefinition"
_DOCS = {
    "space": "État de l'espace santé du titulaire (en création, ouvert, opposition, fermé) et ses dates",
    "oppose": "Opposition à la création de l'espace pendant les six semaines qui suivent l'information",
    "close": "Fermeture de l'espace ouvert ; documents conservés pendant la durée légale, puis supprimés",
    "reopen": "Réouverture d'un espace fermé (tout est restitué) ou ouverture après une opposition",
}
OPERATIONS: list[dict[str, Any]] = [
    {"type": "Patient", "operation": {"name": name, "definition": f"{DEFINITIONS}/Patient-{name}",
                                      "documentation": text}}
    for name, text in _DOCS.items()
]  # fmt: skip


def _parameters(state: lifecycle.SpaceState) -> dict[str, Any]:
    from fhir.resources.R4B.parameters import Parameters

    parameters: list[dict[str, Any]] = [
        {"name": "status", "valueCode": state.status.value},
        {"name": "oppositionOpen", "valueBoolean": state.opposition_open},
    ]
    if state.opens_on:
        parameters.append({"name": "opensOn", "valueDate": state.opens_on.isoformat()})
    if state.closed_at:
        parameters.append({"name": "closedAt", "valueDateTime": state.closed_at.isoformat()})
    if state.kept_until:
        parameters.append({"name": "keptUntil", "valueDate": state.kept_until.isoformat()})
        parameters.append({"name": "purged", "valueBoolean": state.purged_at is not None})
    body = {"resourceType": "Parameters", "parameter": parameters}
    Parameters.model_validate(body)
    return body


async def _no_parameters(request: Request, name: str) -> None:
    raw = await request.body()
    if not raw.strip():
        return
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise FhirError(f"corps JSON invalide : {exc}", field="Parameters") from None
    if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
        raise FhirError(f"corps vide ou ressource Parameters attendu (opération ${name})",
                        field="Parameters.resourceType", issue_code="structure")  # fmt: skip
    if body.get("parameter"):
        raise FhirError(f"l'opération ${name} ne prend aucun paramètre", field="Parameters.parameter",
                        issue_code="structure")  # fmt: skip


def _actor(uow: UnitOfWork, caller: Caller, patient_id: str) -> Any:
    if caller.kind == ActorKind.APP:
        raise Forbidden("une application référencée ne gère pas l'espace santé : seul son titulaire (ou son "
                        "représentant légal) le fait")  # fmt: skip
    return actor_for_patient(uow, caller, patient_id)


def _years(request: Request) -> int:
    return int(request.app.state.platform.settings.space_retention_years)


Change = Callable[..., lifecycle.SpaceState]


def _change(request: Request, caller: Caller, uow: UnitOfWork, resource_id: str, change: Change,
            **extra: Any) -> JSONResponse:  # fmt: skip
    patient_id = p.resource_id(resource_id, "Patient")
    actor = _actor(uow, caller, patient_id)
    state = change(uow=uow, actor=actor, patient_id=patient_id, retention_years=_years(request), **extra)
    uow.commit()
    return fhir_response(_parameters(state))


@router.get("/Patient/{resource_id}/$space", response_class=JSONResponse)
def space_status(resource_id: str, request: Request, caller: CallerDep, uow: UowDep) -> JSONResponse:
    """Where the holder's space stands (read as managing the space, traced)."""
    patient_id = p.resource_id(resource_id, "Patient")
    data = lifecycle_admin.administrative_data(uow=uow, actor=_actor(uow, caller, patient_id), patient_id=patient_id,
                                               retention_years=_years(request))  # fmt: skip
    uow.commit()
    return fhir_response(_parameters(data.space))


@router.post("/Patient/{resource_id}/$oppose", response_class=JSONResponse)
async def oppose(resource_id: str, request: Request, caller: CallerDep, uow: UowDep) -> JSONResponse:
    """Oppose the creation of the space (during the six weeks)."""
    from starlette.concurrency import run_in_threadpool

    await _no_parameters(request, "oppose")
    return await run_in_threadpool(_change, request, caller, uow, resource_id, lifecycle.oppose, through="api")


@router.post("/Patient/{resource_id}/$close", response_class=JSONResponse)
async def close(resource_id: str, request: Request, caller: CallerDep, uow: UowDep) -> JSONResponse:
    """Close the open space."""
    from starlette.concurrency import run_in_threadpool

    await _no_parameters(request, "close")
    return await run_in_threadpool(_change, request, caller, uow, resource_id, lifecycle.close)


@router.post("/Patient/{resource_id}/$reopen", response_class=JSONResponse)
async def reopen(resource_id: str, request: Request, caller: CallerDep, uow: UowDep) -> JSONResponse:
    """Re-open a closed space (or open one whose creation was opposed)."""
    from starlette.concurrency import run_in_threadpool

    await _no_parameters(request, "reopen")
    return await run_in_threadpool(_change, request, caller, uow, resource_id, lifecycle.reopen)

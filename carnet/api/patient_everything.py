"""``GET /fhir/Patient/{id}/$everything``: everything of one record the caller may read, as a paged searchset.

FHIR release: **R4** (4.0.1) operation ``Patient-everything``
(``http://hl7.org/fhir/OperationDefinition/Patient-everything``); each resource of a page is validated with
``fhir.resources.R4B``. The resources are :func:`carnet.space.export.everything`'s, the same as the export
archive's bundle: the Patient, the Consents, the DocumentReferences, the Communications, the resources of the
registered sections, and the AuditEvents of the access history last (oldest first), so that the history a
reading extends only grows at the end and the pages stay stable.

Parameters: ``_count`` (default 50, at most 200) and ``_offset`` (the ``next`` link gives them, with
``history-until``: the last entry of the access history the first page read, so that the history, which every
reading extends, is the same on every page and paging ends), ``_since`` (an
instant with its time zone: only what changed since then; the Patient is always given) and ``_type``
(comma-separated resource types, repeatable). Who gets what is the access decision's: the holder and their
representatives (while they act for the holder) everything they see; a professional the documents the matrix
lets them read (hidden ones absent), the settings and messages naming them, no access history; an app only the
record its token names, the types its scopes cover (``Patient`` read is needed for the operation) and what the
holder's grant covers. Emergency access uses the API's headers (docs/api.md).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from carnet.access.model import ActorKind
from carnet.api import _paging as p
from carnet.api.deps import CallerDep, UowDep, request_context
from carnet.api.documents import actor_for_patient
from carnet.api.outcome import FhirError, fhir_response
from carnet.auth.scopes import permits, require_scope
from carnet.space import export

router = APIRouter(tags=["fhir"])

DEFINITION = "http://hl7.org/fhir/OperationDefinition/Patient-everything"
# The access history grows with every reading (this one included): the first page fixes how far it goes, and its
# links carry that snapshot so that paging ends and every page reads the same history.
SNAPSHOT = "history-until"
OPERATIONS: list[dict[str, Any]] = [
    {
        "type": "Patient",
        "operation": {
            "name": "everything",
            "definition": DEFINITION,
            "documentation": "Tout le dossier que l'appelant peut lire (règles d'accès appliquées) : Patient, "
            "Consent, DocumentReference, Communication, les autres données du dossier, AuditEvent ; paramètres "
            "_count, _offset (liens next), _since, _type",
        },
    }
]


def _since(value: str | None) -> dt.datetime | None:
    if value is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None or "T" not in value:
        raise FhirError(f"_since : instant attendu avec son fuseau horaire (2026-11-22T09:30:00Z), reçu « {value} »",
                        field="_since")  # fmt: skip
    return moment.astimezone(dt.UTC)


def _types(values: list[str]) -> frozenset[str] | None:
    if not values:
        return None
    known = export.resource_types()
    asked = [t.strip() for value in values for t in value.split(",")]
    if any(not t for t in asked):
        raise FhirError("_type : type de ressource vide", field="_type")
    unknown = [t for t in asked if t not in known]
    if unknown:
        raise FhirError(f"_type : {', '.join(unknown)} non pris en charge ; types : {', '.join(known)}", field="_type")
    return frozenset(asked)


@router.get("/fhir/Patient/{resource_id}/$everything", response_class=JSONResponse)
def patient_everything(resource_id: str, request: Request, caller: CallerDep, uow: UowDep) -> JSONResponse:
    """Everything of the record the caller may read (``Patient/$everything``), paged."""
    require_scope(caller, "Patient", "r")
    patient_id = p.resource_id(resource_id, "Patient")
    found = p.params(request, ("_since", "_type", SNAPSHOT), repeatable=("_type",))
    page = p.paging(found)
    since = _since(p.one(found, "_since"))
    types = _types(found.get("_type", []))
    if caller.kind == ActorKind.APP:  # an app gets the types its scopes let it read, nothing else
        readable = {t for t in export.resource_types() if permits(caller.scopes, t, "r")}
        types = frozenset(readable if types is None else types & readable)
    actor = actor_for_patient(uow, caller, patient_id)
    until = _snapshot(p.one(found, SNAPSHOT))
    resources = export.everything(uow=uow, actor=actor, patient_id=patient_id, ctx=request_context(request, uow),
                                  since=since, types=types, fhir_base=p.fhir_base(request),
                                  history_until=until)  # fmt: skip
    window = [export.validated(r) for r in resources[page.offset : page.offset + page.count]]
    uow.commit()
    bundle = p.searchset(request, window, total=len(resources), page=page)
    if until is None:  # the first page: its history is the snapshot every following page shares
        until = max((int(r["id"]) for r in resources if r["resourceType"] == "AuditEvent"), default=None)
        if until is not None:
            for link in bundle["link"]:
                link["url"] += f"&{SNAPSHOT}={until}"
    return fhir_response(bundle)


def _snapshot(value: str | None) -> int | None:
    if value is None:
        return None
    if not value.isdigit():
        raise FhirError(f"{SNAPSHOT} : entier attendu (donné par le lien next), reçu « {value} »", field=SNAPSHOT)
    return int(value)

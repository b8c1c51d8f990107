"""Document sharing over FHIR R4 as PDSm / IHE MHD: ITI-65, ITI-105, ITI-67, ITI-68 and the patient's changes.

- ``POST /fhir`` ITI-65 Provide Document Bundle (``transaction``), all or nothing;
- ``POST /fhir/DocumentReference`` ITI-105 simplified publish (content inline);
- ``GET /fhir/DocumentReference`` (and ``POST .../_search``) ITI-67 Find Document References;
- ``GET /fhir/DocumentReference/{id}``; ``GET /fhir/Binary/{id}`` ITI-68 Retrieve Document;
- ``PATCH /fhir/DocumentReference/{id}`` on the security labels: hide from / show to professionals (MASQUE_PS),
  hold back from / release to the patient (INVISIBLE_PATIENT), legal representatives (INVISIBLE_REPRESENTANTS_LEGAUX);
- ``DELETE /fhir/DocumentReference/{id}``: logical deletion.

Every read and write goes through :mod:`carnet.record.service`, which decides access and writes the audit trail.
FHIR release R4 (4.0.1); docs/api.md "Documents (MHD)".
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Body, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse

from carnet.access.model import Actor, ActorKind
from carnet.api import mhd, mhd_search, mhd_submit
from carnet.api.deps import CallerDep, UowDep, actor_on, request_context
from carnet.api.outcome import FHIR_JSON, FhirError, fhir_response
from carnet.auth.claims import Caller
from carnet.auth.scopes import require_scope
from carnet.errors import Forbidden
from carnet.identity.status import IdentityStatus, may_share
from carnet.identity.store import PatientRow
from carnet.record import service as record
from carnet.record.model import DocumentEntry
from carnet.storage.uow import UnitOfWork

router = APIRouter(prefix="/fhir", tags=["fhir: documents (MHD)"])

_SEARCH_PARAMS = [
    ("patient", "reference", "http://hl7.org/fhir/SearchParameter/clinical-patient"),
    ("patient.identifier", "token", "http://hl7.org/fhir/SearchParameter/clinical-patient"),
    ("identifier", "token", "http://hl7.org/fhir/SearchParameter/clinical-identifier"),
    ("status", "token", "http://hl7.org/fhir/SearchParameter/DocumentReference-status"),
    ("type", "token", "http://hl7.org/fhir/SearchParameter/clinical-type"),
    ("category", "token", "http://hl7.org/fhir/SearchParameter/DocumentReference-category"),
    ("date", "date", "http://hl7.org/fhir/SearchParameter/DocumentReference-date"),
    ("creation", "date", "https://profiles.ihe.net/ITI/MHD/SearchParameter/DocumentReference-Creation"),
    ("period", "date", "http://hl7.org/fhir/SearchParameter/DocumentReference-period"),
    ("author.given", "string", "http://hl7.org/fhir/SearchParameter/individual-given"),
    ("author.family", "string", "http://hl7.org/fhir/SearchParameter/individual-family"),
    ("facility", "token", "http://hl7.org/fhir/SearchParameter/DocumentReference-facility"),
    ("setting", "token", "http://hl7.org/fhir/SearchParameter/DocumentReference-setting"),
    ("format", "token", "http://hl7.org/fhir/SearchParameter/DocumentReference-format"),
    ("security-label", "token", "http://hl7.org/fhir/SearchParameter/DocumentReference-security-label"),
    ("relatesto", "reference", "http://hl7.org/fhir/SearchParameter/DocumentReference-relatesto"),
    ("related", "reference", "http://hl7.org/fhir/SearchParameter/DocumentReference-related"),
    ("_content", "string", "http://hl7.org/fhir/SearchParameter/Resource-content"),
    ("_text", "string", "http://hl7.org/fhir/SearchParameter/DomainResource-text"),
]
CAPABILITIES: list[dict[str, Any]] = [
    {
        "type": "DocumentReference",
        "profile": mhd.COMPREHENSIVE_PROFILE,
        "supportedProfile": [mhd.SIMPLIFIED_PROFILE],
        "interaction": [{"code": c} for c in ("read", "search-type", "create", "patch", "delete")],
        "searchParam": [{"name": n, "type": t, "definition": d} for n, t, d in _SEARCH_PARAMS]
        + [{"name": n, "type": "number"} for n in ("_count", "_offset")]
        + [{"name": "_sort", "type": "special"}],
        "documentation": "ITI-67 (recherche), ITI-105 (publication simplifiée : create), libellés de sécurité "
        "(PATCH : masquage MASQUE_PS, INVISIBLE_PATIENT, INVISIBLE_REPRESENTANTS_LEGAUX), suppression logique",
    },
    {
        "type": "Binary",
        "profile": "http://hl7.org/fhir/StructureDefinition/Binary",
        "interaction": [{"code": "read"}],
        "documentation": "ITI-68 : octets d'origine ; Accept: application/fhir+json → Binary JSON ; "
        "Accept: text/html sur un CDA → rendu HTML sûr",
    },
]
SYSTEM_INTERACTIONS: list[dict[str, str]] = [
    {"code": "transaction", "documentation": mhd.BUNDLE_PROFILE},
]


# --- who acts --------------------------------------------------------------------------------------------------


def _app_patient_id(uow: UnitOfWork, caller: Caller) -> str | None:
    """The record an app token is limited to (its ``patient`` claim); None for other callers."""
    if caller.kind != ActorKind.APP:
        return None
    row = uow.patients.by_ins(caller.ins or "") if caller.ins else None
    if row is None:
        raise Forbidden("le jeton de l'application ne désigne aucun patient (revendication patient)")
    return row.id


def actor_for_patient(uow: UnitOfWork, caller: Caller, patient_id: str) -> Actor:
    """The actor on ``patient_id``; an app only on the record its token names."""
    limited_to = _app_patient_id(uow, caller)
    if limited_to is not None and limited_to != patient_id:
        raise Forbidden("le jeton de l'application est limité à un autre patient", field="patient")
    return actor_on(uow, caller, patient_id)


def _actor_for_document(uow: UnitOfWork, caller: Caller, entry_id: str) -> Actor:
    """The caller's role on a document found by id: a signed-in person is the holder on their own record and a
    (would-be) representative on another one, so a refusal is traced only where an access was really tried."""
    if caller.kind != ActorKind.PATIENT:
        return actor_on(uow, caller, None)
    return actor_on(uow, caller, record.patient_of(uow=uow, entry_id=entry_id))


def _check_app_patient(uow: UnitOfWork, caller: Caller, entry: DocumentEntry) -> None:
    limited_to = _app_patient_id(uow, caller)
    if limited_to is not None and limited_to != entry.patient_id:
        raise Forbidden("le jeton de l'application est limité à un autre patient", field="patient")


def _ins(uow: UnitOfWork, patient_id: str) -> tuple[str, str] | None:
    """The patient's INS (matricule, OID), only while the identity is qualified (the INS may be shared then only)."""
    row = uow.patients.get(patient_id)
    if row is None or not row.ins_matricule or not row.ins_oid or not may_share(IdentityStatus(row.status)):
        return None
    return row.ins_matricule, row.ins_oid


def _fhir_base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/fhir"


# --- ITI-65 and ITI-105 ----------------------------------------------------------------------------------------


@router.post("", response_class=JSONResponse)
@router.post("/", response_class=JSONResponse, include_in_schema=False)
def transaction(
    bundle: Annotated[dict[str, Any], Body(description="A FHIR transaction Bundle (ITI-65)")],
    caller: CallerDep,
    uow: UowDep,
) -> JSONResponse:
    """ITI-65 Provide Document Bundle: every document of the transaction is deposited, or none."""
    require_scope(caller, "DocumentReference", "c")
    if _has_binary(bundle):
        require_scope(caller, "Binary", "c")

    def actor_for(patient: PatientRow) -> Actor:
        return actor_for_patient(uow, caller, patient.id)

    answer = mhd_submit.provide_bundle(uow=uow, bundle=bundle, actor_for=actor_for)
    uow.commit()
    return fhir_response(answer)


def _has_binary(bundle: dict[str, Any]) -> bool:
    entries = bundle.get("entry")
    if not isinstance(entries, list):
        return False
    resources = [e.get("resource") for e in entries if isinstance(e, dict)]
    return any(isinstance(r, dict) and r.get("resourceType") == "Binary" for r in resources)


@router.post("/DocumentReference", response_class=JSONResponse)
def publish(
    resource: Annotated[dict[str, Any], Body(description="A DocumentReference with attachment.data (ITI-105)")],
    request: Request,
    caller: CallerDep,
    uow: UowDep,
) -> JSONResponse:
    """ITI-105 simplified publish: one DocumentReference with its content inline."""
    require_scope(caller, "DocumentReference", "c")

    def actor_for(patient: PatientRow) -> Actor:
        return actor_for_patient(uow, caller, patient.id)

    result, patient = mhd_submit.publish(uow=uow, resource=resource, actor_for=actor_for)
    body = mhd.document_reference(result.entry, ins=_ins(uow, patient.id))
    uow.commit()
    location = f"{_fhir_base(request)}/DocumentReference/{result.entry.id}"
    return fhir_response(body, 201 if result.created else 200, {"Location": location})


# --- ITI-67 ----------------------------------------------------------------------------------------------------


def _search(request: Request, caller: Caller, uow: UnitOfWork, params: list[tuple[str, str]]) -> JSONResponse:
    require_scope(caller, "DocumentReference", "s")
    strict = "handling=strict" in request.headers.get("prefer", "").replace(" ", "").lower()
    query = mhd_search.parse(params, strict=strict, patient_of_ins=lambda ins: uow.patients.by_ins(ins))
    actor = actor_for_patient(uow, caller, query.patient_id)
    ctx = request_context(request, uow)
    if query.text:
        page = record.search_documents(uow=uow, actor=actor, patient_id=query.patient_id, query=query.text,
                                       filters=query.filters, limit=query.count, offset=query.offset,
                                       ctx=ctx)  # fmt: skip
    else:
        page = record.list_documents(uow=uow, actor=actor, patient_id=query.patient_id, filters=query.filters,
                                     sort=query.sort, offset=query.offset, limit=query.count, ctx=ctx)  # fmt: skip
    ins = _ins(uow, query.patient_id)
    base = _fhir_base(request)
    entries = [
        {"fullUrl": f"{base}/DocumentReference/{entry.id}", "resource": mhd.document_reference(entry, ins=ins),
         "search": {"mode": "match"}}
        for entry in page.items
    ]  # fmt: skip
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": page.total,
        "link": mhd_search.links(f"{base}/DocumentReference", query, page.total),
    }
    if entries:  # FHIR JSON has no empty arrays
        bundle["entry"] = entries
    uow.commit()
    return fhir_response(bundle)


@router.get("/DocumentReference", response_class=JSONResponse)
def search(request: Request, caller: CallerDep, uow: UowDep) -> JSONResponse:
    """ITI-67 Find Document References (parameters: docs/api.md); a searchset Bundle paged with next links."""
    return _search(request, caller, uow, list(request.query_params.multi_items()))


@router.post("/DocumentReference/_search", response_class=JSONResponse)
async def search_post(request: Request, caller: CallerDep, uow: UowDep) -> JSONResponse:
    """ITI-67 with the parameters form-encoded in the body (and/or in the URL)."""
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        raise FhirError("_search : corps application/x-www-form-urlencoded attendu", status=415, field="Content-Type")
    form = await request.form()
    params = list(request.query_params.multi_items()) + [(k, str(v)) for k, v in form.multi_items()]
    response: JSONResponse = await run_in_threadpool(_search, request, caller, uow, params)
    return response


# --- read, ITI-68 ----------------------------------------------------------------------------------------------


@router.get("/DocumentReference/{entry_id}", response_class=JSONResponse)
def read(entry_id: str, request: Request, caller: CallerDep, uow: UowDep) -> JSONResponse:
    """One DocumentReference (entry id), if the access decision lets the caller see it."""
    require_scope(caller, "DocumentReference", "r")
    ctx = request_context(request, uow)
    actor = _actor_for_document(uow, caller, entry_id)
    entry = record.get_document(uow=uow, actor=actor, entry_id=entry_id, ctx=ctx)
    _check_app_patient(uow, caller, entry)
    body = mhd.document_reference(entry, ins=_ins(uow, entry.patient_id))
    uow.commit()
    return fhir_response(body)


def _wants(request: Request, media_type: str) -> bool:
    accept = request.headers.get("accept", "")
    return any(part.split(";")[0].strip().lower() == media_type for part in accept.split(","))


@router.get("/Binary/{entry_id}")
def retrieve(entry_id: str, request: Request, caller: CallerDep, uow: UowDep) -> Response:
    """ITI-68 Retrieve Document: the original bytes and MIME type; FHIR Binary JSON or safe HTML on request."""
    require_scope(caller, "Binary", "r")
    ctx = request_context(request, uow)
    actor = _actor_for_document(uow, caller, entry_id)
    if _wants(request, "text/html") and not _wants(request, FHIR_JSON):
        entry = record.get_document(uow=uow, actor=actor, entry_id=entry_id, ctx=ctx)
        _check_app_patient(uow, caller, entry)
        if entry.metadata.mime_type in record.CDA_MIME_TYPES:
            html = record.render_document(uow=uow, actor=actor, entry_id=entry.id, ctx=ctx)
            uow.commit()
            return HTMLResponse(html, headers=_SAFE_HTML_HEADERS)
    entry, data = record.get_content(uow=uow, actor=actor, entry_id=entry_id, ctx=ctx)
    _check_app_patient(uow, caller, entry)
    uow.commit()
    if _wants(request, FHIR_JSON) or _wants(request, "application/json"):
        return fhir_response(mhd.binary(entry, data))
    # The bytes are served as a download in a sandbox: an XML or PDF file is never run as a page of this origin.
    return Response(data, media_type=entry.metadata.mime_type, headers=_RAW_HEADERS)


_RAW_HEADERS = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "sandbox; default-src 'none'"}
_SAFE_HTML_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:",
}


# --- the patient's changes -------------------------------------------------------------------------------------

_PATCH_TYPES = ("application/json-patch+json", "application/merge-patch+json", "application/json", FHIR_JSON)


@router.patch("/DocumentReference/{entry_id}", response_class=JSONResponse)
async def patch(entry_id: str, request: Request, caller: CallerDep, uow: UowDep) -> JSONResponse:
    """Change the visibility labels: JSON Patch (RFC 6902) or merge patch on ``securityLabel`` / ``meta.security``."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in _PATCH_TYPES:
        raise FhirError(f"PATCH : type de contenu {content_type or '(absent)'} non pris en charge ; "
                        "application/json-patch+json attendu", status=415, field="Content-Type")  # fmt: skip
    try:
        body = json.loads(await request.body() or b"null")
    except ValueError:
        raise FhirError("PATCH : corps JSON illisible", status=400, field="body") from None
    response: JSONResponse = await run_in_threadpool(_patch, entry_id, body, content_type, request, caller, uow)
    return response


def _patch(
    entry_id: str, body: Any, content_type: str, request: Request, caller: Caller, uow: UnitOfWork
) -> JSONResponse:
    require_scope(caller, "DocumentReference", "u")
    ctx = request_context(request, uow)
    actor = _actor_for_document(uow, caller, entry_id)
    entry = record.get_document(uow=uow, actor=actor, entry_id=entry_id, ctx=ctx)
    _check_app_patient(uow, caller, entry)
    current = mhd.document_reference(entry, ins=_ins(uow, entry.patient_id))
    wanted = mhd_search.patched_labels(current, body, json_patch=content_type == "application/json-patch+json")
    changes = {
        mhd.MASQUE_PS: (record.hide_from_professionals, record.show_to_professionals),
        mhd.INVISIBLE_PATIENT: (record.hold_back_from_patient, record.release_to_patient),
    }
    for flag, attribute in mhd.FLAGS.items():
        now, then = bool(getattr(entry, attribute)), flag in wanted
        if now == then:
            continue
        if flag == mhd.INVISIBLE_REPRESENTANTS_LEGAUX:
            entry = record.set_invisible_to_representatives(uow=uow, actor=actor, entry_id=entry.id, invisible=then)
        else:
            on, off = changes[flag]
            entry = (on if then else off)(uow=uow, actor=actor, entry_id=entry.id)
    body_out = mhd.document_reference(entry, ins=_ins(uow, entry.patient_id))
    uow.commit()
    return fhir_response(body_out)


@router.delete("/DocumentReference/{entry_id}")
def delete(entry_id: str, caller: CallerDep, uow: UowDep) -> Response:
    """Logical deletion by the holder or the author (status entered-in-error; content kept for retention)."""
    require_scope(caller, "DocumentReference", "d")
    entry = record.delete(uow=uow, actor=_actor_for_document(uow, caller, entry_id), entry_id=entry_id)
    _check_app_patient(uow, caller, entry)
    uow.commit()
    return Response(status_code=204)

"""The agenda and the reimbursements on the FHIR API: ``Appointment`` and ``ExplanationOfBenefit``, and the agenda's
iCalendar feed at its secret address.

FHIR release R4 (4.0.1), bodies validated with ``fhir.resources.R4B``: a body that is not a valid resource is a 400
OperationOutcome naming the element; a valid one the agenda refuses (an app's event in the past, an end before the
start, an unknown event type…) is a 422 OperationOutcome with one issue per problem and its FHIR expression.

- ``Appointment``: ``create``, ``read``, ``search-type`` (``patient``, ``date``, ``status``), cancel by ``PATCH``
  (JSON Patch replacing ``/status`` with ``cancelled``) or ``POST Appointment/<id>/$cancel``. The event's type is
  ``appointmentType`` in the platform's code system :data:`EVENT_KIND_SYSTEM`; its place a participant whose actor
  is a Location by name.
- ``ExplanationOfBenefit``: ``read`` and ``search-type`` (``patient``, ``created`` — the care date): one resource per
  line of the insurer's feed (``use = claim``, ``outcome = complete``), its act as the item's ``productOrService``,
  the amounts as the item's adjudications ``submitted`` (paid), ``benefit`` (reimbursed) and ``copay`` (left to pay),
  and as ``total``.
- ``GET /agenda/<token>.ics``: the holder's calendar (RFC 5545), no session (the token is the secret), traced.

Every call goes through :mod:`carnet.space.agenda` / :mod:`carnet.space.reimbursements` (the decision on the
category, the audit trail); an app needs the scope (SMART) and the holder's grant on the category.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError as PydanticValidationError

from carnet.access.model import Actor, ActorKind
from carnet.api import _paging as p
from carnet.api.deps import CallerDep, UowDep, actor_on, request_context, searched_patient_id
from carnet.api.documents import _app_patient_id, actor_for_patient
from carnet.api.outcome import FhirError, fhir_response
from carnet.auth.claims import Caller
from carnet.auth.scopes import require_scope, require_scope_traced
from carnet.errors import NotFound
from carnet.space import agenda, agenda_ics, reimbursements
from carnet.storage.uow import UnitOfWork

router = APIRouter(tags=["fhir"])

EVENT_KIND_SYSTEM = "https://carnet.sante.fr/fhir/CodeSystem/agenda-event-kind"
EOB_TYPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/claim-type"
ADJUDICATION_SYSTEM = "http://terminology.hl7.org/CodeSystem/adjudication"
CCAM_SYSTEM = "https://smt.esante.gouv.fr/terminologie-ccam"

CAPABILITIES: list[dict[str, Any]] = [
    {
        "type": "Appointment",
        "profile": "http://hl7.org/fhir/StructureDefinition/Appointment",
        "interaction": [{"code": "read"}, {"code": "search-type"}, {"code": "create"}, {"code": "patch"}],
        "documentation": "Agenda du titulaire : rendez-vous, rappels, vaccinations et dépistages prévus ; ajoutés "
        "par le titulaire, un professionnel, un établissement ou une application référencée (jamais dans le passé "
        "pour une application) ; annulation par PATCH (status = cancelled) ou $cancel",
        "searchParam": [
            {"name": "patient", "type": "reference", "documentation": "Patient/<id> (par défaut : le titulaire)"},
            {"name": "date", "type": "date", "documentation": "début de l'événement (préfixes eq, ge, le, gt, lt)"},
            {"name": "status", "type": "token", "documentation": "proposed | booked | cancelled"},
        ],
        "operation": [
            {
                "name": "cancel",
                "definition": "https://carnet.sante.fr/fhir/OperationDefinition/Appointment-cancel",
                "documentation": "POST Appointment/<id>/$cancel : annule l'événement",
            },
        ],
    },
    {
        "type": "ExplanationOfBenefit",
        "profile": "http://hl7.org/fhir/StructureDefinition/ExplanationOfBenefit",
        "interaction": [{"code": "read"}, {"code": "search-type"}],
        "documentation": "Données de remboursement de l'Assurance Maladie (une ressource par acte : payé, "
        "remboursé, reste à charge) ; lisibles par les médecins seulement, selon la matrice d'habilitation",
        "searchParam": [
            {"name": "patient", "type": "reference"},
            {"name": "created", "type": "date", "documentation": "date des soins (préfixes eq, ge, le, gt, lt)"},
        ],
    },
]


# --- plumbing ---------------------------------------------------------------------------------------------------


def _fhirpath(resource_type: str, loc: Any) -> str:
    out = resource_type
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


async def _json(request: Request, what: str) -> Any:
    raw = await request.body()
    try:
        return json.loads(raw or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise FhirError(f"corps JSON invalide : {exc}", field=what) from None


def _validated(body: Any) -> dict[str, Any]:
    from fhir.resources.R4B.appointment import Appointment

    if not isinstance(body, dict) or body.get("resourceType") != "Appointment":
        raise FhirError("une ressource Appointment est attendue", field="Appointment.resourceType")
    try:
        Appointment.model_validate(body)
    except PydanticValidationError as exc:
        errors = [
            (f"{_fhirpath('Appointment', e['loc'])} : {e['msg']}", _fhirpath("Appointment", e["loc"]))
            for e in exc.errors()
        ]
        raise FhirError(errors[0][0], field=errors[0][1], issues=errors[1:]) from None
    return body


def _instant(value: Any, where: str) -> dt.datetime:
    if not isinstance(value, str):
        raise FhirError(f"{where} : un instant FHIR est attendu", field=where)
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise FhirError(f"{where} : « {value} » n'est pas un instant", field=where) from None
    if moment.tzinfo is None:
        raise FhirError(f"{where} : l'instant doit indiquer son fuseau horaire", field=where)
    return moment


def event_from(body: dict[str, Any]) -> tuple[str, agenda.EventIn]:
    """The patient and the event of a valid ``Appointment``."""
    patient_id: str | None = None
    place: str | None = None
    for rank, participant in enumerate(body.get("participant") or []):
        actor = participant.get("actor") or {}
        reference = actor.get("reference") or ""
        if reference.startswith("Patient/"):
            patient_id = p.reference_id(reference, "Patient", f"Appointment.participant[{rank}].actor")
        elif actor.get("type") == "Location" or reference.startswith("Location/"):
            place = actor.get("display") or place
    if patient_id is None:
        raise FhirError("un participant Patient/<id> est obligatoire", field="Appointment.participant")
    kind = None
    for coding in (body.get("appointmentType") or {}).get("coding") or []:
        if coding.get("system") == EVENT_KIND_SYSTEM:
            kind = coding.get("code")
    if "start" not in body:
        raise FhirError("Appointment.start est obligatoire", field="Appointment.start")
    status = body.get("status")
    event = agenda.EventIn(
        kind=kind or "appointment",
        title=body.get("description") or "",
        start_at=_instant(body["start"], "Appointment.start"),
        end_at=_instant(body["end"], "Appointment.end") if body.get("end") else None,
        place=place,
        description=body.get("comment"),
        status=status,
    )
    return patient_id, event


def appointment(view: agenda.EventView) -> dict[str, Any]:
    """The FHIR ``Appointment`` of an event."""
    fr, _en = agenda.KINDS.get(view.kind, (view.kind, view.kind))
    participants: list[dict[str, Any]] = [
        {
            "actor": {"reference": f"Patient/{view.patient_id}"},
            "required": "required",
            "status": "accepted" if view.status == "booked" else "needs-action",
        },
    ]
    if view.place:
        participants.append({"actor": {"type": "Location", "display": view.place}, "status": "accepted"})
    if view.source_name and view.source_kind not in ("patient", "representative"):
        participants.append({"actor": {"display": view.source_name}, "status": "accepted"})
    resource: dict[str, Any] = {
        "resourceType": "Appointment",
        "id": view.id,
        "meta": {"lastUpdated": view.updated_at.astimezone(dt.UTC).isoformat()},
        "status": view.status,
        "appointmentType": {"coding": [{"system": EVENT_KIND_SYSTEM, "code": view.kind, "display": fr}], "text": fr},
        "description": view.title,
        "start": view.start_at.astimezone(dt.UTC).isoformat(),
        "created": view.created_at.astimezone(dt.UTC).date().isoformat(),
        "participant": participants,
    }
    if view.end_at is not None:
        resource["end"] = view.end_at.astimezone(dt.UTC).isoformat()
    if view.description:
        resource["comment"] = view.description
    return resource


def _money(cents: int) -> dict[str, Any]:
    return {"value": cents / 100, "currency": "EUR"}


def explanation_of_benefit(line: reimbursements.LineView) -> dict[str, Any]:
    """The FHIR ``ExplanationOfBenefit`` of one reimbursed act."""
    adjudication: list[dict[str, Any]] = []
    totals: list[dict[str, Any]] = []
    for code, cents in (("submitted", line.paid_cents), ("benefit", line.reimbursed_cents), ("copay", line.left_cents)):
        if cents is None:
            continue
        entry = {"category": {"coding": [{"system": ADJUDICATION_SYSTEM, "code": code}]}, "amount": _money(cents)}
        adjudication.append(entry)
        totals.append(dict(entry))
    product: dict[str, Any] = {"text": line.act_label}
    if line.act_code:
        product["coding"] = [{"code": line.act_code, "display": line.act_label}]
    item: dict[str, Any] = {"sequence": 1, "productOrService": product, "servicedDate": line.care_date.isoformat()}
    if adjudication:
        item["adjudication"] = adjudication
    resource: dict[str, Any] = {
        "resourceType": "ExplanationOfBenefit",
        "id": line.id,
        "identifier": [
            {"system": "https://carnet.sante.fr/fhir/NamingSystem/assurance-maladie-ligne", "value": line.line_id}
        ],
        "status": "active",
        "type": {"coding": [{"system": EOB_TYPE_SYSTEM, "code": "professional"}]},
        "use": "claim",
        "patient": {"reference": f"Patient/{line.patient_id}"},
        "created": line.imported_at.astimezone(dt.UTC).isoformat(),
        "insurer": {"display": "Assurance Maladie"},
        "provider": {"display": line.professional or "non précisé"},
        "outcome": "complete",
        "insurance": [{"focal": True, "coverage": {"display": "Assurance maladie obligatoire"}}],
        "item": [item],
    }
    if line.category:
        resource["subType"] = {"text": line.category}
    if totals:
        resource["total"] = totals
    return resource


def _actor_on_item(uow: UnitOfWork, caller: Caller, patient_id: str | None, what: str) -> Actor:
    if patient_id is None:
        raise NotFound(f"{what} introuvable", field="id")
    if caller.kind == ActorKind.APP:
        return actor_for_patient(uow, caller, patient_id)
    return actor_on(uow, caller, patient_id if caller.kind == ActorKind.PATIENT else None)


def _searched(uow: UnitOfWork, caller: Caller, found: dict[str, list[str]]) -> tuple[str, Actor]:
    limited_to = _app_patient_id(uow, caller) if caller.kind == ActorKind.APP and "patient" not in found else None
    patient_id = limited_to or searched_patient_id(uow, caller, found)
    return patient_id, actor_for_patient(uow, caller, patient_id)


def _page(request: Request, found: dict[str, list[str]], resources: list[dict[str, Any]]) -> JSONResponse:
    page = p.paging(found)
    window = resources[page.offset : page.offset + page.count]
    return fhir_response(p.searchset(request, window, total=len(resources), page=page))


# --- Appointment ------------------------------------------------------------------------------------------------


@router.post("/fhir/Appointment", response_class=JSONResponse, status_code=201)
async def create_appointment(request: Request, caller: CallerDep, uow: UowDep) -> JSONResponse:
    """Add an event (``create``): 201 with it."""
    require_scope_traced(uow, caller, "Appointment", "c", trace="agenda.event_refused")
    body = _validated(await _json(request, "Appointment"))
    patient_id, event = event_from(body)
    actor = actor_for_patient(uow, caller, patient_id)
    view = agenda.add_event(uow=uow, actor=actor, patient_id=patient_id, event=event, ctx=request_context(request, uow))
    resource = appointment(view)
    uow.commit()
    location = f"{p.fhir_base(request)}/Appointment/{view.id}"
    return fhir_response(resource, 201, {"Location": location})


@router.get("/fhir/Appointment/{resource_id}", response_class=JSONResponse)
def read_appointment(resource_id: str, request: Request, caller: CallerDep, uow: UowDep) -> JSONResponse:
    """One event (``read``)."""
    require_scope(caller, "Appointment", "r")
    item_id = p.resource_id(resource_id, "Appointment")
    actor = _actor_on_item(uow, caller, agenda.patient_of(uow=uow, event_id=item_id), f"Appointment/{item_id}")
    view = agenda.get_event(uow=uow, actor=actor, event_id=item_id, ctx=request_context(request, uow))
    resource = appointment(view)
    uow.commit()
    return fhir_response(resource)


@router.get("/fhir/Appointment", response_class=JSONResponse)
def search_appointments(request: Request, caller: CallerDep, uow: UowDep) -> JSONResponse:
    """The holder's events (``search-type``), in order of start: by ``date``, ``status``."""
    require_scope(caller, "Appointment", "s")
    found = p.params(request, ("patient", "actor", "date", "status"), repeatable=("date",))
    if "actor" in found and "patient" not in found:
        found["patient"] = found.pop("actor")
    bounds = [p.date_bound(value, "date") for value in found.get("date", [])]
    status = p.one(found, "status")
    if status is not None and status not in agenda.STATUSES:
        raise FhirError("status : proposed, booked ou cancelled", field="status")
    patient_id, actor = _searched(uow, caller, found)
    views = agenda.list_events(uow=uow, actor=actor, patient_id=patient_id, ctx=request_context(request, uow))
    resources = [
        appointment(v)
        for v in views
        if all(b.matches(v.start_at) for b in bounds) and (status is None or v.status == status)
    ]
    uow.commit()
    return _page(request, found, resources)


def _cancel(request: Request, caller: Caller, uow: UnitOfWork, resource_id: str) -> JSONResponse:
    require_scope(caller, "Appointment", "u")
    item_id = p.resource_id(resource_id, "Appointment")
    actor = _actor_on_item(uow, caller, agenda.patient_of(uow=uow, event_id=item_id), f"Appointment/{item_id}")
    view = agenda.cancel_event(uow=uow, actor=actor, event_id=item_id, ctx=request_context(request, uow))
    resource = appointment(view)
    uow.commit()
    return fhir_response(resource)


@router.patch("/fhir/Appointment/{resource_id}", response_class=JSONResponse)
async def patch_appointment(resource_id: str, request: Request, caller: CallerDep, uow: UowDep) -> JSONResponse:
    """Cancel an event (``patch``): a JSON Patch ``[{"op": "replace", "path": "/status", "value": "cancelled"}]``
    (the only change the agenda takes)."""
    body = await _json(request, "Appointment")
    valid = (
        isinstance(body, list)
        and len(body) == 1
        and isinstance(body[0], dict)
        and body[0].get("op") == "replace"
        and body[0].get("path") == "/status"
    )
    if not valid:
        raise FhirError(
            'un JSON Patch [{"op": "replace", "path": "/status", "value": "cancelled"}] est attendu',
            field="Appointment.status",
        )
    if body[0].get("value") != "cancelled":
        raise FhirError(
            "seule l'annulation (status = cancelled) se fait par PATCH", field="Appointment.status", status=422
        )
    return _cancel(request, caller, uow, resource_id)


@router.post("/fhir/Appointment/{resource_id}/$cancel", response_class=JSONResponse)
def cancel_appointment(resource_id: str, request: Request, caller: CallerDep, uow: UowDep) -> JSONResponse:
    """Cancel an event (operation ``$cancel``)."""
    return _cancel(request, caller, uow, resource_id)


# --- ExplanationOfBenefit ---------------------------------------------------------------------------------------


@router.get("/fhir/ExplanationOfBenefit/{resource_id}", response_class=JSONResponse)
def read_eob(resource_id: str, request: Request, caller: CallerDep, uow: UowDep) -> JSONResponse:
    """One reimbursed act (``read``)."""
    require_scope(caller, "ExplanationOfBenefit", "r")
    item_id = p.resource_id(resource_id, "ExplanationOfBenefit")
    patient_id = reimbursements.patient_of(uow=uow, line_id=item_id)
    actor = _actor_on_item(uow, caller, patient_id, f"ExplanationOfBenefit/{item_id}")
    line = reimbursements.get_line(uow=uow, actor=actor, line_id=item_id, ctx=request_context(request, uow))
    resource = explanation_of_benefit(line)
    uow.commit()
    return fhir_response(resource)


@router.get("/fhir/ExplanationOfBenefit", response_class=JSONResponse)
def search_eob(request: Request, caller: CallerDep, uow: UowDep) -> JSONResponse:
    """The holder's reimbursed acts (``search-type``), newest first: by ``created`` (the care date)."""
    require_scope(caller, "ExplanationOfBenefit", "s")
    found = p.params(request, ("patient", "created"), repeatable=("created",))
    bounds = [p.date_bound(value, "created") for value in found.get("created", [])]
    patient_id, actor = _searched(uow, caller, found)
    lines = reimbursements.list_lines(uow=uow, actor=actor, patient_id=patient_id, ctx=request_context(request, uow))

    def moment(line: reimbursements.LineView) -> dt.datetime:
        return dt.datetime.combine(line.care_date, dt.time(12), tzinfo=dt.UTC)

    resources = [explanation_of_benefit(x) for x in lines if all(b.matches(moment(x)) for b in bounds)]
    uow.commit()
    return _page(request, found, resources)


# --- the iCalendar feed -----------------------------------------------------------------------------------------


@router.get("/agenda/{token}.ics", include_in_schema=False)
def ics_feed(token: str, request: Request, uow: UowDep) -> Response:
    """The holder's agenda as iCalendar, at its secret address (no session); 404 for an unknown or revoked one."""
    try:
        _patient_id, events = agenda.feed(uow=uow, token=token, request_id=request.headers.get("X-Request-ID"))
    except NotFound:
        return Response("Adresse d'agenda inconnue ou révoquée.\n", status_code=404, media_type="text/plain")
    body = agenda_ics.calendar(events, now=uow.clock.now())
    uow.commit()
    return Response(
        body,
        media_type="text/calendar; charset=utf-8",
        headers={
            "Content-Disposition": 'attachment; filename="agenda-sante.ics"',
            "Cache-Control": "no-store",
            "Referrer-Policy": "no-referrer",
        },
    )

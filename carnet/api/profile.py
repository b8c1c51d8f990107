"""The health profile on the FHIR API: ``Observation`` (vitals), ``Immunization``, ``AllergyIntolerance``,
``QuestionnaireResponse`` and the ``Questionnaire`` they answer.

FHIR release: **R4** (4.0.1), validated with ``fhir.resources.R4B`` (R4's resources): a body that is not a valid
resource is a 400 OperationOutcome naming the element; a valid one that breaks the profile's rules (a measure out of
its physiological range, in a unit that is not its UCUM unit, in the future; an unknown vaccine…) is a 422
OperationOutcome with one issue per problem, each with its FHIR expression. The resources are those of
:mod:`carnet.space.profile_fhir` (vital signs profile, LOINC, UCUM; CIS vaccine codes from the reference).

Interactions: ``read``, ``search-type`` (``patient`` — the signed-in holder's own record by default —, and per type
``code``, ``date``, ``category``; ``vaccine-code``; ``clinical-status``; ``status``), ``create``. Every call goes
through :mod:`carnet.space.profile` (the access decision on the category, the audit trail); an app needs the scope of
the interaction (SMART) and the holder's grant on the category (read, or write to create), and acts only on the
record its token names.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError as PydanticValidationError

from carnet.access.model import Actor, ActorKind, Context
from carnet.api import _paging as p
from carnet.api.deps import CallerDep, UowDep, actor_on, request_context, searched_patient_id
from carnet.api.documents import _app_patient_id, actor_for_patient
from carnet.api.outcome import FhirError, fhir_response
from carnet.auth.claims import Caller
from carnet.auth.scopes import require_scope, require_scope_traced
from carnet.errors import NotFound
from carnet.space import profile
from carnet.space import profile_fhir as fhir
from carnet.space.profile_model import CIS_SYSTEM, LOINC, QUESTIONNAIRE_URL, kind_of_code, questionnaire
from carnet.storage.uow import UnitOfWork

router = APIRouter(tags=["fhir"])
V = TypeVar("V")  # a use case's view
D = TypeVar("D")  # what a body is read into

CAPABILITIES: list[dict[str, Any]] = [
    {
        "type": "Observation",
        "profile": "http://hl7.org/fhir/StructureDefinition/Observation",
        "supportedProfile": [fhir.VITAL_SIGNS]
        + [
            f"http://hl7.org/fhir/StructureDefinition/{p}"
            for p in ("bodyweight", "bodyheight", "bp", "heartrate", "bodytemp", "oxygensat", "resprate")
        ],
        "interaction": [{"code": "read"}, {"code": "search-type"}, {"code": "create"}],
        "documentation": "Constantes de santé du titulaire (profil FHIR vital signs, codes LOINC, unités UCUM) : "
        "saisies par le titulaire ou une application référencée autorisée ; hors des valeurs physiologiques ou "
        "dans une autre unité → 422",
        "searchParam": [
            {"name": "patient", "type": "reference", "documentation": "Patient/<id> (par défaut : le titulaire)"},
            {"name": "code", "type": "token", "documentation": "http://loinc.org|<code> (ex. 29463-7 poids)"},
            {"name": "date", "type": "date", "documentation": "date de la mesure (préfixes eq, ge, le, gt, lt)"},
            {"name": "category", "type": "token", "documentation": "vital-signs | laboratory"},
        ],
    },
    {
        "type": "Immunization",
        "profile": "http://hl7.org/fhir/StructureDefinition/Immunization",
        "interaction": [{"code": "read"}, {"code": "search-type"}, {"code": "create"}],
        "documentation": "Vaccinations (vaccin : code CIS et classe ATC, ou son nom seul)",
        "searchParam": [
            {"name": "patient", "type": "reference"},
            {"name": "date", "type": "date"},
            {"name": "vaccine-code", "type": "token", "documentation": f"{CIS_SYSTEM}|<code CIS>"},
        ],
    },
    {
        "type": "AllergyIntolerance",
        "profile": "http://hl7.org/fhir/StructureDefinition/AllergyIntolerance",
        "interaction": [{"code": "read"}, {"code": "search-type"}, {"code": "create"}],
        "documentation": "Allergies et intolérances (déclarées dans le questionnaire ou enregistrées directement)",
        "searchParam": [
            {"name": "patient", "type": "reference"},
            {"name": "clinical-status", "type": "token", "documentation": "active | inactive | resolved"},
        ],
    },
    {
        "type": "QuestionnaireResponse",
        "profile": "http://hl7.org/fhir/StructureDefinition/QuestionnaireResponse",
        "interaction": [{"code": "read"}, {"code": "search-type"}, {"code": "create"}],
        "documentation": f"Profil médical : réponses au questionnaire {QUESTIONNAIRE_URL} (la plus récente est "
        "la réponse en vigueur)",
        "searchParam": [
            {"name": "patient", "type": "reference"},
            {"name": "status", "type": "token", "documentation": "completed | amended"},
        ],
    },
    {
        "type": "Questionnaire",
        "profile": "http://hl7.org/fhir/StructureDefinition/Questionnaire",
        "interaction": [{"code": "read"}],
        "documentation": "Le questionnaire de santé du profil médical (profil-medical)",
    },
]


# --- plumbing ---------------------------------------------------------------------------------------------------


def _fhirpath(resource_type: str, loc: Any) -> str:
    out = resource_type
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


async def _body(request: Request, resource_type: str) -> dict[str, Any]:
    """The request's resource, validated with fhir.resources (400 naming the element when it is not valid FHIR)."""
    import importlib

    module = importlib.import_module(f"fhir.resources.R4B.{resource_type.lower()}")
    model = getattr(module, resource_type)
    raw = await request.body()
    try:
        body = json.loads(raw or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise FhirError(f"corps JSON invalide : {exc}", field=resource_type) from None
    if not isinstance(body, dict) or body.get("resourceType") != resource_type:
        raise FhirError(f"une ressource {resource_type} est attendue", field=f"{resource_type}.resourceType")
    try:
        model.model_validate(body)
    except PydanticValidationError as exc:
        errors = [
            (f"{_fhirpath(resource_type, e['loc'])} : {e['msg']}", _fhirpath(resource_type, e["loc"]))
            for e in exc.errors()
        ]
        raise FhirError(errors[0][0], field=errors[0][1], issues=errors[1:]) from None
    return body


def _actor_on_item(uow: UnitOfWork, caller: Caller, resource_type: str, resource_id: str) -> Actor:
    """The caller's role on an item found by id (an app only on the record its token names)."""
    patient_id = profile.patient_of(uow=uow, resource_type=resource_type, resource_id=resource_id)
    if patient_id is None:
        raise NotFound(f"{resource_type}/{resource_id} introuvable", field="id")
    if caller.kind == ActorKind.APP:
        return actor_for_patient(uow, caller, patient_id)
    return actor_on(uow, caller, patient_id if caller.kind == ActorKind.PATIENT else None)


def _searched(uow: UnitOfWork, caller: Caller, found: dict[str, list[str]]) -> tuple[str, Actor]:
    """The record a search is about (``patient``; the holder's own, or the one an app's token names, by default)."""
    limited_to = _app_patient_id(uow, caller) if caller.kind == ActorKind.APP and "patient" not in found else None
    patient_id = limited_to or searched_patient_id(uow, caller, found)
    return patient_id, actor_for_patient(uow, caller, patient_id)


def _created(request: Request, resource: dict[str, Any]) -> JSONResponse:
    location = f"{p.fhir_base(request)}/{resource['resourceType']}/{resource['id']}"
    return fhir_response(resource, 201, {"Location": location})


def _page(request: Request, found: dict[str, list[str]], resources: list[dict[str, Any]]) -> JSONResponse:
    page = p.paging(found)
    window = resources[page.offset : page.offset + page.count]
    return fhir_response(p.searchset(request, window, total=len(resources), page=page))


def _read(
    request: Request, caller: Caller, uow: UnitOfWork, resource_type: str, resource_id: str,
    get: Callable[[UnitOfWork, Actor, str, Context], V], to_fhir: Callable[[V], dict[str, Any]],
) -> JSONResponse:  # fmt: skip
    """``read``: the scope, the caller's role on the item's record, the use case (decided, traced), the resource."""
    require_scope(caller, resource_type, "r")
    item_id = p.resource_id(resource_id, resource_type)
    actor = _actor_on_item(uow, caller, resource_type, item_id)
    resource = to_fhir(get(uow, actor, item_id, request_context(request, uow)))
    uow.commit()
    return fhir_response(resource)


async def _create(
    request: Request, caller: Caller, uow: UnitOfWork, resource_type: str, refused: str | None,
    parse: Callable[[dict[str, Any]], tuple[str, D]], add: Callable[[UnitOfWork, Actor, str, D, Context], V],
    to_fhir: Callable[[V], dict[str, Any]],
) -> JSONResponse:  # fmt: skip
    """``create``: the scope (a refusal traced as ``refused`` when given), the body validated, the use case, 201."""
    if refused is None:
        require_scope(caller, resource_type, "c")
    else:
        require_scope_traced(uow, caller, resource_type, "c", trace=refused)
    patient_id, data = parse(await _body(request, resource_type))
    actor = actor_for_patient(uow, caller, patient_id)
    resource = to_fhir(add(uow, actor, patient_id, data, request_context(request, uow)))
    uow.commit()
    return _created(request, resource)


# --- Observation ------------------------------------------------------------------------------------------------


@router.get("/fhir/Observation/{resource_id}", response_class=JSONResponse)
def read_observation(resource_id: str, request: Request, caller: CallerDep, uow: UowDep) -> JSONResponse:
    """One measure (``read``)."""
    return _read(request, caller, uow, "Observation", resource_id,
                 lambda u, a, i, c: profile.get_measure(uow=u, actor=a, measure_id=i, ctx=c),
                 fhir.observation)  # fmt: skip


@router.get("/fhir/Observation", response_class=JSONResponse)
def search_observations(request: Request, caller: CallerDep, uow: UowDep) -> JSONResponse:
    """The patient's measures (``search-type``), newest first: by ``code`` (LOINC), ``date``, ``category``."""
    require_scope(caller, "Observation", "s")
    found = p.params(request, ("patient", "subject", "code", "date", "category"), repeatable=("date",))
    if "subject" in found and "patient" not in found:
        found["patient"] = found.pop("subject")
    kinds: list[str] = []
    if (code := p.one(found, "code")) is not None:
        for token in code.split(","):
            system, value = p.token(token, "code")
            kind = kind_of_code(value) if system in (None, LOINC) else None
            if kind is None:
                raise FhirError(f"code : « {token} » n'est le code LOINC d'aucune constante enregistrée", field="code")
            kinds.append(kind.key)
    bounds = [p.date_bound(value, "date") for value in found.get("date", [])]
    category = p.one(found, "category")
    if category is not None:
        category = p.token(category, "category")[1]
        if category not in ("vital-signs", "laboratory"):
            raise FhirError("category : vital-signs ou laboratory", field="category")
    patient_id, actor = _searched(uow, caller, found)
    measures = profile.list_measures(
        uow=uow, actor=actor, patient_id=patient_id, kinds=kinds, ctx=request_context(request, uow)
    )
    chosen = [
        m
        for m in measures
        if all(b.matches(m.effective_at) for b in bounds) and (category is None or m.kind.category == category)
    ]
    resources = [fhir.observation(m) for m in reversed(chosen)]
    uow.commit()
    return _page(request, found, resources)


@router.post("/fhir/Observation", response_class=JSONResponse, status_code=201)
async def create_observation(request: Request, caller: CallerDep, uow: UowDep) -> JSONResponse:
    """Record a measure (``create``): the holder, or an app with a write grant on the vitals. 201 with it."""
    return await _create(request, caller, uow, "Observation", "profile.vital_refused", fhir.measurement_from,
                         lambda u, a, pid, m, c: profile.add_measure(uow=u, actor=a, patient_id=pid, measurement=m,
                                                                     ctx=c), fhir.observation)  # fmt: skip


# --- Immunization -----------------------------------------------------------------------------------------------


@router.get("/fhir/Immunization/{resource_id}", response_class=JSONResponse)
def read_immunization(resource_id: str, request: Request, caller: CallerDep, uow: UowDep) -> JSONResponse:
    """One vaccination (``read``)."""
    return _read(request, caller, uow, "Immunization", resource_id,
                 lambda u, a, i, c: profile.get_immunization(uow=u, actor=a, immunization_id=i, ctx=c),
                 fhir.immunization)  # fmt: skip


@router.get("/fhir/Immunization", response_class=JSONResponse)
def search_immunizations(request: Request, caller: CallerDep, uow: UowDep) -> JSONResponse:
    """The patient's vaccinations (``search-type``), newest first."""
    require_scope(caller, "Immunization", "s")
    found = p.params(request, ("patient", "date", "vaccine-code"), repeatable=("date",))
    bounds = [p.date_bound(value, "date") for value in found.get("date", [])]
    wanted = p.token(code, "vaccine-code") if (code := p.one(found, "vaccine-code")) is not None else None
    patient_id, actor = _searched(uow, caller, found)
    views = profile.list_immunizations(uow=uow, actor=actor, patient_id=patient_id, ctx=request_context(request, uow))

    def keep(i: profile.ImmunizationView) -> bool:
        moment = dt.datetime.combine(i.occurrence, dt.time(12), tzinfo=dt.UTC)
        if not all(b.matches(moment) for b in bounds):
            return False
        return wanted is None or (wanted[0] in (None, CIS_SYSTEM) and wanted[1] == i.vaccine_cis)

    resources = [fhir.immunization(i) for i in reversed(views) if keep(i)]
    uow.commit()
    return _page(request, found, resources)


@router.post("/fhir/Immunization", response_class=JSONResponse, status_code=201)
async def create_immunization(request: Request, caller: CallerDep, uow: UowDep) -> JSONResponse:
    """Record a vaccination (``create``): the holder, the professional who gave it, an app with a write grant."""
    return await _create(request, caller, uow, "Immunization", "profile.immunization_refused", fhir.immunization_from,
                         lambda u, a, pid, i, c: profile.add_immunization(uow=u, actor=a, patient_id=pid,
                                                                          immunization=i, ctx=c),
                         fhir.immunization)  # fmt: skip


# --- AllergyIntolerance -----------------------------------------------------------------------------------------


@router.get("/fhir/AllergyIntolerance/{resource_id}", response_class=JSONResponse)
def read_allergy(resource_id: str, request: Request, caller: CallerDep, uow: UowDep) -> JSONResponse:
    """One allergy (``read``)."""
    return _read(request, caller, uow, "AllergyIntolerance", resource_id,
                 lambda u, a, i, c: profile.get_allergy(uow=u, actor=a, allergy_id=i, ctx=c),
                 fhir.allergy_intolerance)  # fmt: skip


@router.get("/fhir/AllergyIntolerance", response_class=JSONResponse)
def search_allergies(request: Request, caller: CallerDep, uow: UowDep) -> JSONResponse:
    """The patient's allergies (``search-type``), every status unless ``clinical-status`` is given."""
    require_scope(caller, "AllergyIntolerance", "s")
    found = p.params(request, ("patient", "clinical-status"))
    status = p.token(value, "clinical-status")[1] if (value := p.one(found, "clinical-status")) else None
    if status is not None and status not in ("active", "inactive", "resolved"):
        raise FhirError("clinical-status : active, inactive ou resolved", field="clinical-status")
    patient_id, actor = _searched(uow, caller, found)
    views = profile.list_allergies(
        uow=uow, actor=actor, patient_id=patient_id, active_only=status == "active", ctx=request_context(request, uow)
    )
    resources = [fhir.allergy_intolerance(a) for a in views if status is None or a.clinical_status == status]
    uow.commit()
    return _page(request, found, resources)


@router.post("/fhir/AllergyIntolerance", response_class=JSONResponse, status_code=201)
async def create_allergy(request: Request, caller: CallerDep, uow: UowDep) -> JSONResponse:
    """Record an allergy (``create``): the holder, a professional, an app with a write grant."""
    return await _create(request, caller, uow, "AllergyIntolerance", "profile.allergy_refused", fhir.allergy_from,
                         lambda u, a, pid, x, c: profile.add_allergy(uow=u, actor=a, patient_id=pid, allergy=x,
                                                                     ctx=c), fhir.allergy_intolerance)  # fmt: skip


# --- QuestionnaireResponse and Questionnaire --------------------------------------------------------------------


@router.get("/fhir/Questionnaire/{resource_id}", response_class=JSONResponse)
def read_questionnaire(resource_id: str, caller: CallerDep) -> JSONResponse:
    """The health questionnaire (``read``): a definition, no personal data (a signed-in caller)."""
    if p.resource_id(resource_id, "Questionnaire") != "profil-medical":
        raise NotFound(f"Questionnaire/{resource_id} introuvable", field="id")
    return fhir_response(questionnaire())


@router.get("/fhir/QuestionnaireResponse/{resource_id}", response_class=JSONResponse)
def read_questionnaire_response(resource_id: str, request: Request, caller: CallerDep, uow: UowDep) -> JSONResponse:
    """One answering of the questionnaire (``read``)."""
    return _read(request, caller, uow, "QuestionnaireResponse", resource_id,
                 lambda u, a, i, c: profile.get_questionnaire_response(uow=u, actor=a, response_id=i, ctx=c),
                 fhir.questionnaire_response)  # fmt: skip


@router.get("/fhir/QuestionnaireResponse", response_class=JSONResponse)
def search_questionnaire_responses(request: Request, caller: CallerDep, uow: UowDep) -> JSONResponse:
    """Every answering of the questionnaire (``search-type``), newest first (the first is the current one)."""
    require_scope(caller, "QuestionnaireResponse", "s")
    found = p.params(request, ("patient", "status", "questionnaire"))
    status = p.one(found, "status")
    wanted = p.one(found, "questionnaire")
    patient_id, actor = _searched(uow, caller, found)
    views = profile.list_questionnaire_responses(
        uow=uow, actor=actor, patient_id=patient_id, ctx=request_context(request, uow)
    )
    resources = [
        fhir.questionnaire_response(q)
        for q in views
        if (status is None or q.status == status)
        and (wanted is None or q.questionnaire.partition("|")[0] == wanted.partition("|")[0])
    ]
    uow.commit()
    return _page(request, found, resources)


@router.post("/fhir/QuestionnaireResponse", response_class=JSONResponse, status_code=201)
async def create_questionnaire_response(request: Request, caller: CallerDep, uow: UowDep) -> JSONResponse:
    """The holder answers the questionnaire (``create``): the new current answers; their allergies are kept as
    AllergyIntolerance."""
    return await _create(request, caller, uow, "QuestionnaireResponse", None, fhir.answers_from,
                         lambda u, a, pid, x, c: profile.save_questionnaire(uow=u, actor=a, patient_id=pid,
                                                                            answers=x, ctx=c),
                         fhir.questionnaire_response)  # fmt: skip

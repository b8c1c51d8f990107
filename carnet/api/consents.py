"""``Consent``: the holder's access settings and the professionals' records of what the patient agreed to.

FHIR release: **R4** (4.0.1) Consent, validated with ``fhir.resources.R4B`` (R4's Consent). Every Consent has
``scope`` = patient-privacy, the LOINC category 59284-0 (Patient Consent) and one Carnet category saying what it
is (``https://carnet.example.org/fhir/CodeSystem/consent-category``):

============== ========================================================= ================================
category       meaning (service)                                          id
============== ========================================================= ================================
care-team      a professional joins the care team, having informed the    ``careteam-<row id>``
               patient (join_care_team; revoke: the holder refuses)
explicit       the patient's consent to a professional outside the care   ``consent-<row id>``
               team, until ``provision.period.end`` (≤ 24 h)
opposition     the holder blocks a professional or an organisation        ``opposition-<row id>``
               (``provision.type`` deny)
emergency      the holder refuses emergency access (deny, purpose ETREAT)  ``emergency-<patient id>``
grant          the holder authorises a professional, an organisation or   ``grant-<row id>``
               an app (permit; ``action`` access = read, collect = write;
               ``class`` = J06 classes; ``period.end`` = expiry)
medecin-       the holder's médecin traitant                              ``traitant-<patient id>``
traitant
============== ========================================================= ================================

Revoking: ``DELETE /fhir/Consent/{id}``, or ``PUT`` the same Consent with ``status`` = inactive. Everything goes
through :mod:`carnet.access.service`, which enforces who may do what (MANAGE_CONSENT) and writes the audit trail.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import ValidationError as PydanticValidationError

from carnet.access import service as access
from carnet.access.model import Actor
from carnet.access.service import Setting
from carnet.api import _paging as p
from carnet.api.deps import CallerDep, UowDep, actor_on, request_context, searched_patient_id
from carnet.api.outcome import FhirError, fhir_response
from carnet.auth.claims import Caller
from carnet.auth.scopes import require_scope
from carnet.errors import NotFound, ValidationError
from carnet.storage.uow import UnitOfWork

router = APIRouter(tags=["fhir"])

CATEGORY_SYSTEM = "https://carnet.example.org/fhir/CodeSystem/consent-category"
APP_SYSTEM = "https://carnet.example.org/fhir/sid/app"
LOINC = "http://loinc.org"
SCOPE = "http://terminology.hl7.org/CodeSystem/consentscope"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
ACTION = "http://terminology.hl7.org/CodeSystem/consentaction"
PARTICIPATION = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
CLASS_SYSTEM = "https://mos.esante.gouv.fr/NOS/TRE_A03-ClasseDocument/FHIR/TRE-A03-ClasseDocument"
ID_NAT_PS = "urn:oid:1.2.250.1.71.4.2.1"
ID_NAT_ST = "urn:oid:1.2.250.1.71.4.2.2"
KINDS = {"care-team": "careteam", "explicit": "consent", "opposition": "opposition", "emergency": "emergency",
         "grant": "grant", "medecin-traitant": "traitant"}  # fmt: skip
CATEGORY_OF = {kind: code for code, kind in KINDS.items()}
LABELS = {"care-team": "Équipe de soins", "explicit": "Consentement explicite", "opposition": "Opposition",
          "emergency": "Refus de l'accès en urgence", "grant": "Autorisation",
          "medecin-traitant": "Médecin traitant"}  # fmt: skip
STATUSES = ("draft", "proposed", "active", "rejected", "inactive", "entered-in-error")

CAPABILITIES: list[dict[str, Any]] = [
    {
        "type": "Consent",
        "profile": "http://hl7.org/fhir/StructureDefinition/Consent",
        "interaction": [{"code": "read"}, {"code": "search-type"}, {"code": "create"}, {"code": "update"},
                        {"code": "delete"}],
        "documentation": "Équipe de soins, consentement explicite, oppositions, refus de l'accès en urgence, "
                         "autorisations, médecin traitant ; révocation par DELETE ou PUT status=inactive",
        "searchParam": [
            {"name": "patient", "type": "reference", "documentation": "Patient/<id> (par défaut : son propre dossier)"},
            {"name": "status", "type": "token", "documentation": "active | inactive | proposed | rejected"},
            {"name": "category", "type": "token", "documentation": f"{CATEGORY_SYSTEM}|care-team, explicit, ..."},
            {"name": "actor", "type": "reference", "documentation": "Practitioner/<idNatPs>, Organization/<idNatSt>"},
        ],
    }
]  # fmt: skip


# --- Consent from a setting -------------------------------------------------------------------------------------


def _iso(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.UTC).isoformat() if value is not None else None


def _period(start: dt.datetime | None, end: dt.datetime | None) -> dict[str, str] | None:
    period = {k: v for k, v in (("start", _iso(start)), ("end", _iso(end))) if v}
    return period or None


def _actor_reference(kind: str, target: str) -> dict[str, Any]:
    if kind == "professional":
        return {"reference": f"Practitioner/{target}", "identifier": {"system": ID_NAT_PS, "value": target}}
    if kind == "organisation":
        return {"reference": f"Organization/{target}", "identifier": {"system": ID_NAT_ST, "value": target}}
    return {"type": "Device", "identifier": {"system": APP_SYSTEM, "value": target}, "display": target}


def _provision_actor(kind: str, target: str) -> dict[str, Any]:
    role = {"coding": [{"system": PARTICIPATION, "code": "IRCP", "display": "information recipient"}]}
    return {"role": role, "reference": _actor_reference(kind, target)}


def _status_and_provision(setting: Setting, now: dt.datetime) -> tuple[str, dict[str, Any]]:
    row = setting.row
    access_action = [{"coding": [{"system": ACTION, "code": "access"}]}]
    if setting.kind == "careteam":
        status = "rejected" if row.refused_at else "active" if row.informed_at else "proposed"
        member = [_provision_actor("professional", row.professional_id)]
        provision = {"type": "permit", "period": _period(row.informed_at or row.created_at, row.refused_at),
                     "actor": member, "action": access_action}  # fmt: skip
    elif setting.kind == "consent":
        end = row.withdrawn_at or row.expires_at
        status = "active" if row.withdrawn_at is None and now < row.expires_at else "inactive"
        consented = [_provision_actor("professional", row.professional_id)]
        provision = {"type": "permit", "period": _period(row.given_at, end), "actor": consented,
                     "action": access_action}  # fmt: skip
    elif setting.kind == "opposition":
        status = "active" if row.lifted_at is None else "inactive"
        provision = {"type": "deny", "period": _period(row.created_at, row.lifted_at),
                     "actor": [_provision_actor(row.target_kind, row.target_id)]}  # fmt: skip
    elif setting.kind == "grant":
        end = row.revoked_at or row.valid_until
        status = (
            "active" if row.revoked_at is None and (row.valid_until is None or now < row.valid_until) else "inactive"
        )
        actions = [{"coding": [{"system": ACTION, "code": code}]}
                   for code, allowed in (("access", row.can_read), ("collect", row.can_write)) if allowed]  # fmt: skip
        provision = {"type": "permit", "period": _period(row.valid_from, end),
                     "actor": [_provision_actor(row.grantee_kind, row.grantee_id)], "action": actions}  # fmt: skip
        if row.class_codes:
            provision["class"] = [{"system": CLASS_SYSTEM, "code": code} for code in row.class_codes]
    elif setting.kind == "emergency":
        status = "active"
        provision = {"type": "deny", "purpose": [{"system": ACT_REASON, "code": "ETREAT",
                                                  "display": "Emergency Treatment"}]}  # fmt: skip
    else:
        status = "active"
        provision = {"type": "permit", "actor": [_provision_actor("professional", row.medecin_traitant_id)],
                     "action": access_action}  # fmt: skip
    return status, {k: v for k, v in provision.items() if v is not None}


def consent_resource(setting: Setting, now: dt.datetime) -> dict[str, Any]:
    """The R4 Consent of one access setting."""
    category = CATEGORY_OF[setting.kind]
    status, provision = _status_and_provision(setting, now)
    row = setting.row
    return {
        "resourceType": "Consent",
        "id": setting.id,
        "meta": {"lastUpdated": _iso(row.updated_at)},
        "status": status,
        "scope": {"coding": [{"system": SCOPE, "code": "patient-privacy", "display": "Privacy Consent"}]},
        "category": [
            {"coding": [{"system": LOINC, "code": "59284-0", "display": "Patient Consent"}]},
            {"coding": [{"system": CATEGORY_SYSTEM, "code": category, "display": LABELS[category]}]},
        ],
        "patient": {"reference": f"Patient/{setting.patient_id}"},
        "dateTime": _iso(row.created_at),
        "policyRule": {"coding": [{"system": ACT_CODE, "code": "OPTOUT" if provision["type"] == "deny" else "OPTIN"}]},
        "provision": provision,
    }


# --- reading ----------------------------------------------------------------------------------------------------


def _actor(uow: UnitOfWork, caller: Caller, patient_id: str | None) -> Actor:
    return actor_on(uow, caller, patient_id)


@router.get("/fhir/Consent/{resource_id}", response_class=JSONResponse)
def read_consent(resource_id: str, request: Request, caller: CallerDep, uow: UowDep) -> JSONResponse:
    """One access setting (``read``)."""
    require_scope(caller, "Consent", "r")
    setting_id = p.resource_id(resource_id, "Consent")
    patient_id = _patient_of(uow, setting_id)
    setting = access.get_setting(uow=uow, actor=_actor(uow, caller, patient_id), setting_id=setting_id,
                                 ctx=request_context(request, uow))  # fmt: skip
    uow.commit()
    return fhir_response(consent_resource(setting, uow.clock.now()))


def _patient_of(uow: UnitOfWork, setting_id: str) -> str | None:
    """The patient a setting id belongs to, for the actor's role on that record (None when unknown: the service
    answers NotFound)."""
    kind, _, key = setting_id.partition("-")
    if kind in ("emergency", "traitant"):
        return key
    try:
        return access.setting_patient(uow=uow, setting_id=setting_id)
    except NotFound:
        return None


def _reference_target(value: str, name: str) -> tuple[str, str]:
    """(kind, id) of an actor reference parameter."""
    tail = value.rstrip("/").split("/")
    if len(tail) >= 2 and tail[-2] in ("Practitioner", "Organization", "Device") and tail[-1]:
        return {"Practitioner": "professional", "Organization": "organisation", "Device": "app"}[tail[-2]], tail[-1]
    if len(tail) == 1 and tail[0]:
        return "", tail[0]
    raise FhirError(f"{name} : référence Practitioner/<id>, Organization/<id> ou Device/<id> attendue", field=name)


def _target_of(setting: Setting) -> tuple[str, str] | None:
    row = setting.row
    if setting.kind in ("careteam", "consent"):
        return "professional", row.professional_id
    if setting.kind == "traitant":
        return "professional", row.medecin_traitant_id
    if setting.kind == "opposition":
        return row.target_kind, row.target_id
    if setting.kind == "grant":
        return row.grantee_kind, row.grantee_id
    return None


@router.get("/fhir/Consent", response_class=JSONResponse)
def search_consents(request: Request, caller: CallerDep, uow: UowDep) -> JSONResponse:
    """The access settings of one record (``search-type``)."""
    require_scope(caller, "Consent", "s")
    found = p.params(request, ("patient", "status", "category", "actor"))
    page = p.paging(found)
    patient_id = searched_patient_id(uow, caller, found)
    status = p.one(found, "status")
    if status is not None and status not in STATUSES:
        raise FhirError(f"status : « {status} » inconnu ({', '.join(STATUSES)})", field="status")
    category = None
    if (value := p.one(found, "category")) is not None:
        system, category = p.token(value, "category")
        if system not in (None, CATEGORY_SYSTEM) or category not in KINDS:
            raise FhirError(f"category : {CATEGORY_SYSTEM}|{'|'.join(KINDS)} attendu", field="category")
    actor_filter = _reference_target(value, "actor") if (value := p.one(found, "actor")) is not None else None
    settings = access.list_settings(uow=uow, actor=_actor(uow, caller, patient_id), patient_id=patient_id,
                                    ctx=request_context(request, uow))  # fmt: skip
    now = uow.clock.now()
    resources = []
    for setting in settings:
        if category is not None and setting.kind != KINDS[category]:
            continue
        if actor_filter is not None:
            target = _target_of(setting)
            if target is None or target[1] != actor_filter[1] or actor_filter[0] not in ("", target[0]):
                continue
        resource = consent_resource(setting, now)
        if status is None or resource["status"] == status:
            resources.append(resource)
    uow.commit()
    window = resources[page.offset : page.offset + page.count]
    return fhir_response(p.searchset(request, window, total=len(resources), page=page))


# --- creating -------------------------------------------------------------------------------------------------


async def _body(request: Request) -> dict[str, Any]:
    """The request's Consent, parsed and validated against FHIR R4 (fhir.resources R4B)."""
    from fhir.resources.R4B.consent import Consent

    raw = await request.body()
    try:
        body = json.loads(raw or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise FhirError(f"corps JSON invalide : {exc}", field="Consent") from None
    if not isinstance(body, dict) or body.get("resourceType") != "Consent":
        raise FhirError("une ressource Consent (resourceType = Consent) est attendue", field="Consent.resourceType")
    try:
        Consent.model_validate(body)
    except PydanticValidationError as exc:
        errors = [(f"{_fhirpath(e['loc'])} : {e['msg']}", _fhirpath(e["loc"])) for e in exc.errors()]
        raise FhirError(errors[0][0], field=errors[0][1], issues=errors[1:]) from None
    return body


def _fhirpath(loc: Any) -> str:
    """A pydantic error location as a FHIRPath-like expression: ``Consent.provision.actor[0].role``."""
    out = "Consent"
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _kind(body: dict[str, Any]) -> str:
    for concept in body.get("category") or []:
        for coding in concept.get("coding") or []:
            if coding.get("system") == CATEGORY_SYSTEM and coding.get("code") in KINDS:
                return KINDS[coding["code"]]
    raise FhirError(f"Consent.category : une catégorie {CATEGORY_SYSTEM} ({', '.join(KINDS)}) est obligatoire",
                    field="Consent.category", status=422)  # fmt: skip


def _provision_actors(body: dict[str, Any]) -> list[tuple[str, str]]:
    """(kind, id) of each provision.actor."""
    out = []
    for index, item in enumerate((body.get("provision") or {}).get("actor") or []):
        where = f"Consent.provision.actor[{index}].reference"
        ref = item.get("reference") or {}
        identifier = ref.get("identifier") or {}
        if ref.get("reference"):
            kind, target = _reference_target(str(ref["reference"]), where)
            if not kind:
                raise FhirError(f"{where} : Practitioner/<id>, Organization/<id> attendu", field=where, status=422)
        elif identifier.get("value"):
            kind = {ID_NAT_PS: "professional", ID_NAT_ST: "organisation", APP_SYSTEM: "app"}.get(
                str(identifier.get("system")), ""
            )
            if not kind:
                raise FhirError(f"{where}.identifier.system : {ID_NAT_PS}, {ID_NAT_ST} ou {APP_SYSTEM} attendu",
                                field=f"{where}.identifier.system", status=422)  # fmt: skip
            target = str(identifier["value"])
        else:
            raise FhirError(f"{where} : référence ou identifiant obligatoire", field=where, status=422)
        if not p.valid_id(target):
            raise FhirError(f"{where} : identifiant « {target[:80]} » invalide", field=where, status=422)
        out.append((kind, target))
    return out


def _one_actor(body: dict[str, Any], allowed: tuple[str, ...]) -> tuple[str, str]:
    actors = _provision_actors(body)
    if len(actors) != 1:
        raise FhirError("Consent.provision.actor : exactement un acteur est attendu", field="Consent.provision.actor",
                        status=422)  # fmt: skip
    if actors[0][0] not in allowed:
        where = "Consent.provision.actor[0].reference"
        raise FhirError(f"{where} : {' ou '.join(allowed)} attendu", field=where, status=422)
    return actors[0]


def _type(body: dict[str, Any], expected: str) -> None:
    given = (body.get("provision") or {}).get("type")
    if given != expected:
        raise FhirError(f"Consent.provision.type : « {expected} » attendu pour cette catégorie",
                        field="Consent.provision.type", status=422)  # fmt: skip


def _period_end(body: dict[str, Any]) -> dt.datetime | None:
    end = ((body.get("provision") or {}).get("period") or {}).get("end")
    if end is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(str(end).replace("Z", "+00:00"))
    except ValueError:
        raise FhirError(
            "Consent.provision.period.end : date-heure invalide", field="Consent.provision.period.end"
        ) from None
    if moment.tzinfo is None:
        if len(str(end)) > 10:
            raise FhirError("Consent.provision.period.end : fuseau horaire obligatoire",
                            field="Consent.provision.period.end", status=422)  # fmt: skip
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC)


def _actions(body: dict[str, Any]) -> tuple[bool, bool]:
    codes = {c.get("code") for a in (body.get("provision") or {}).get("action") or [] for c in a.get("coding") or []}
    unknown = codes - {"access", "collect"}
    if unknown:
        raise FhirError(f"Consent.provision.action : « {sorted(unknown)[0]} » non pris en charge (access = consulter, "
                        "collect = alimenter)", field="Consent.provision.action", status=422)  # fmt: skip
    return "access" in codes, "collect" in codes


def _classes(body: dict[str, Any]) -> frozenset[str]:
    classes = set()
    for index, coding in enumerate((body.get("provision") or {}).get("class") or []):
        if coding.get("system") not in (None, CLASS_SYSTEM) or not p.valid_id(str(coding.get("code") or "")):
            where = f"Consent.provision.class[{index}]"
            raise FhirError(f"{where} : classe TRE_A03 ({CLASS_SYSTEM}) attendue", field=where, status=422)
        classes.add(str(coding["code"]))
    return frozenset(classes)


def _create(uow: UnitOfWork, actor: Actor, patient_id: str, kind: str, body: dict[str, Any]) -> str:
    """Apply the Consent through the access service; the id of the setting it created."""
    if kind == "careteam":
        member = _one_actor(body, ("professional",)) if (body.get("provision") or {}).get("actor") else None
        if member is not None and member[1] != actor.id:
            raise FhirError("un professionnel n'inscrit que lui-même dans l'équipe de soins",
                            field="Consent.provision.actor[0].reference", status=422)  # fmt: skip
        informed = body.get("status") == "active"
        return "careteam-" + access.join_care_team(uow=uow, actor=actor, patient_id=patient_id, informed=informed)
    if kind == "consent":
        end = _period_end(body)
        if end is None:
            raise FhirError("Consent.provision.period.end : fin du consentement obligatoire (24 heures au plus)",
                            field="Consent.provision.period.end", status=422)  # fmt: skip
        try:
            return "consent-" + access.record_consent(uow=uow, actor=actor, patient_id=patient_id,
                                                      valid_for=end - uow.clock.now())  # fmt: skip
        except ValidationError as exc:
            raise ValidationError(exc.message, field="Consent.provision.period.end") from None
    if kind == "opposition":
        _type(body, "deny")
        blocked_kind, blocked = _one_actor(body, ("professional", "organisation"))
        return "opposition-" + access.block(uow=uow, actor=actor, patient_id=patient_id, target_kind=blocked_kind,
                                            target_id=blocked)  # fmt: skip
    if kind == "emergency":
        _type(body, "deny")
        access.set_emergency_refused(uow=uow, actor=actor, patient_id=patient_id, refused=True)
        return f"emergency-{patient_id}"
    if kind == "grant":
        _type(body, "permit")
        grantee_kind, grantee = _one_actor(body, ("professional", "organisation", "app"))
        can_read, can_write = _actions(body)
        try:
            grant_id = access.add_grant(uow=uow, actor=actor, patient_id=patient_id, grantee_kind=grantee_kind,
                                        grantee_id=grantee, can_read=can_read, can_write=can_write,
                                        class_codes=_classes(body), valid_until=_period_end(body))  # fmt: skip
        except ValidationError as exc:
            where = {"permissions": "Consent.provision.action", "valid_until": "Consent.provision.period.end"}
            raise ValidationError(exc.message, field=where.get(exc.field or "", exc.field)) from None
        return f"grant-{grant_id}"
    _type(body, "permit")
    _kind_, professional = _one_actor(body, ("professional",))
    access.set_medecin_traitant(uow=uow, actor=actor, patient_id=patient_id, professional_id=professional)
    return f"traitant-{patient_id}"


@router.post("/fhir/Consent", response_class=JSONResponse, status_code=201)
async def create_consent(request: Request, caller: CallerDep, uow: UowDep) -> JSONResponse:
    """Record a consent, an opposition, a grant... (``create``); 201 with the stored Consent."""
    require_scope(caller, "Consent", "c")
    body = await _body(request)
    kind = _kind(body)
    reference = (body.get("patient") or {}).get("reference")
    if not reference:
        raise FhirError("Consent.patient : référence Patient/<id> obligatoire", field="Consent.patient", status=422)
    patient_id = p.reference_id(str(reference), "Patient", "Consent.patient")
    if body.get("status") not in ("active", "proposed"):
        raise FhirError("Consent.status : active (ou proposed pour un patient pas encore informé) attendu",
                        field="Consent.status", status=422)  # fmt: skip
    if body.get("status") == "proposed" and kind != "careteam":
        raise FhirError("Consent.status : proposed n'existe que pour l'équipe de soins", field="Consent.status",
                        status=422)  # fmt: skip
    actor = _actor(uow, caller, patient_id)
    setting_id = _create(uow, actor, patient_id, kind, body)
    setting = access.get_setting(uow=uow, actor=actor, setting_id=setting_id)
    resource = consent_resource(setting, uow.clock.now())
    uow.commit()
    return fhir_response(resource, 201, {"Location": f"{p.fhir_base(request)}/Consent/{setting_id}"})


# --- revoking -----------------------------------------------------------------------------------------------------


def _revoke(uow: UnitOfWork, request: Request, caller: Caller, setting_id: str) -> dict[str, Any]:
    patient_id = _patient_of(uow, setting_id)
    actor = _actor(uow, caller, patient_id)
    before = access.revoke_setting(uow=uow, actor=actor, setting_id=setting_id)
    resource = consent_resource(before, uow.clock.now())
    resource["status"] = "inactive"
    return resource


@router.delete("/fhir/Consent/{resource_id}")
def delete_consent(resource_id: str, request: Request, caller: CallerDep, uow: UowDep) -> Response:
    """Revoke (``delete``): 204."""
    require_scope(caller, "Consent", "d")
    _revoke(uow, request, caller, p.resource_id(resource_id, "Consent"))
    uow.commit()
    return Response(status_code=204)


@router.put("/fhir/Consent/{resource_id}", response_class=JSONResponse)
async def update_consent(resource_id: str, request: Request, caller: CallerDep, uow: UowDep) -> JSONResponse:
    """Revoke (``update`` with status inactive, the only change accepted): 200 with the inactive Consent."""
    require_scope(caller, "Consent", "u")
    setting_id = p.resource_id(resource_id, "Consent")
    body = await _body(request)
    if body.get("id") != setting_id:
        raise FhirError(f"Consent.id : « {body.get('id')} » ne correspond pas à l'adresse ({setting_id})",
                        field="Consent.id")  # fmt: skip
    if body.get("status") != "inactive":
        message = "seule la révocation (status = inactive) est prise en charge ; pour changer un consentement, le "
        raise FhirError(f"Consent.status : {message}révoquer et en créer un autre", field="Consent.status", status=422)
    resource = _revoke(uow, request, caller, setting_id)
    uow.commit()
    return fhir_response(resource)

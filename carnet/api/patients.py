"""``Patient`` read and search: the identities of the patient index as FR Core patients.

FHIR release: **R4** (4.0.1); validated in the tests with ``fhir.resources.R4B`` (R4's Patient). Profiles:
``fr-core-patient-ins`` for a qualified identity (its INS identifier slice), ``fr-core-patient`` otherwise: the
matricule INS is only given when the identity is qualified (RNIV; FR Core ``fr-core-patient-ins``). Every
identity carries the FR Core identity-reliability extension (status PROV, RECUP, VALI or QUAL), the birth place
(INSEE code), the official name (birth name, first birth first name and the list of birth first names) and the
used name.

Who reads what:

- professionals and secretariat staff look identities up for identity matching (by INS, by traits, by id):
  through the identity service, every hit traced in the patient's audit trail;
- a signed-in patient reads their own record's identity, and those of the people they legally represent (the
  access decision says whether they still do);
- an app reads only the identity of the patient it acts for, with a ``Patient`` scope and the holder's grant;
- nobody else (operator, anonymous).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from carnet.access import service as access
from carnet.access.model import Actor, ActorKind
from carnet.api import _paging as p
from carnet.api.deps import CallerDep, UowDep, actor_on, request_context
from carnet.api.outcome import FhirError, fhir_response
from carnet.auth.claims import Caller
from carnet.auth.scopes import require_scope
from carnet.errors import Forbidden, InvalidMatricule, InvalidTrait, NotFound
from carnet.identity import service as identities
from carnet.identity.matricule import InsOid, parse_matricule
from carnet.identity.model import PatientIdentity
from carnet.identity.status import IDENTITY_STATUS_SYSTEM, may_share
from carnet.identity.traits import normalise_name
from carnet.storage.uow import UnitOfWork

router = APIRouter(tags=["fhir"])

FR_CORE = "https://hl7.fr/ig/fhir/core"
PATIENT_PROFILE = f"{FR_CORE}/StructureDefinition/fr-core-patient"
PATIENT_INS_PROFILE = f"{FR_CORE}/StructureDefinition/fr-core-patient-ins"
IDENTITY_RELIABILITY = f"{FR_CORE}/StructureDefinition/fr-core-identity-reliability"
BIRTH_LIST_GIVEN_NAME = f"{FR_CORE}/StructureDefinition/fr-core-patient-birth-list-given-name"
INSEE_CODE = f"{FR_CORE}/StructureDefinition/fr-core-address-insee-code"
BIRTH_PLACE = "http://hl7.org/fhir/StructureDefinition/patient-birthPlace"
V2_0203 = f"{FR_CORE}/CodeSystem/fr-core-cs-v2-0203"
COMMUNE = "https://mos.esante.gouv.fr/NOS/TRE_R13-CommuneOM/FHIR/TRE-R13-CommuneOM"
INS_SLICES = {
    InsOid.NIR: ("INS-NIR", "official"),
    InsOid.NIA: ("INS-NIA", "temp"),
    InsOid.TEST_NIR: ("INS-NIR-TEST", "official"),
    InsOid.DEMO_NIR: ("INS-NIR-DEMO", "official"),
}
_GENDER = {"M": "male", "F": "female"}
_SEX = {"male": "M", "female": "F"}
SEARCH_PARAMS = ("_id", "identifier", "family", "given", "birthdate", "gender")

CAPABILITIES: list[dict[str, Any]] = [
    {
        "type": "Patient",
        "profile": PATIENT_PROFILE,
        "supportedProfile": [PATIENT_INS_PROFILE],
        "interaction": [{"code": "read"}, {"code": "search-type"}],
        "searchParam": [
            {"name": "_id", "type": "token", "documentation": "identifiant du dossier"},
            {"name": "identifier", "type": "token",
             "documentation": "urn:oid:1.2.250.1.213.1.4.8|<matricule INS> (aussi NIA …4.9, test …4.10, démo …4.11) ; "
                              "seules les identités qualifiées sont trouvées par leur INS"},
            {"name": "family", "type": "string", "documentation": "début du nom de naissance"},
            {"name": "given", "type": "string", "documentation": "début du premier prénom de naissance"},
            {"name": "birthdate", "type": "date", "documentation": "date de naissance (eq, ge, le, gt, lt, ne)"},
            {"name": "gender", "type": "token", "documentation": "male | female"},
        ],
    }
]  # fmt: skip


def patient_resource(identity: PatientIdentity) -> dict[str, Any]:
    """The FR Core Patient of an identity; the INS only when the identity is qualified."""
    traits = identity.traits
    status = identity.status
    reliability = {
        "url": IDENTITY_RELIABILITY,
        "extension": [
            {
                "url": "identityStatus",
                "valueCoding": {"system": IDENTITY_STATUS_SYSTEM, "code": status.value, "display": status.label_fr},
            }
        ],
    }
    insee = {"url": INSEE_CODE, "valueCoding": {"system": COMMUNE, "code": traits.birth_place}}
    birth_place = {"url": BIRTH_PLACE, "valueAddress": {"extension": [insee]}}
    official = {
        "extension": [{"url": BIRTH_LIST_GIVEN_NAME, "valueString": traits.birth_first_names}],
        "use": "official",
        "family": traits.birth_name,
        "given": [traits.first_name],
    }
    names: list[dict[str, Any]] = [official]
    if traits.used_name or traits.used_first_name:
        usual: dict[str, Any] = {"use": "usual", "family": traits.used_name or traits.birth_name}
        if traits.used_first_name:
            usual["given"] = [traits.used_first_name]
        names.append(usual)
    shared = identity.ins is not None and may_share(status)
    resource: dict[str, Any] = {
        "resourceType": "Patient",
        "id": identity.id,
        "meta": {"profile": [PATIENT_INS_PROFILE if shared else PATIENT_PROFILE]},
        "extension": [reliability, birth_place],
    }
    if identity.updated_at is not None:
        resource["meta"]["lastUpdated"] = identity.updated_at.isoformat()
    if shared and identity.ins is not None:
        slice_code, use = INS_SLICES[identity.ins.oid]
        resource["identifier"] = [
            {
                "use": use,
                "type": {"coding": [{"system": V2_0203, "code": slice_code}]},
                "system": identity.ins.system,
                "value": identity.ins.value,
            }
        ]
    resource["active"] = True
    resource["name"] = names
    resource["gender"] = _GENDER.get(traits.sex, "unknown")
    resource["birthDate"] = traits.birth_date.isoformat()
    return resource


# --- who may see which identity -------------------------------------------------------------------------------


def _identity_matcher(caller: Caller) -> bool:
    """Professionals and secretariat staff search the patient index (identity matching)."""
    return caller.kind in (ActorKind.PROFESSIONAL, ActorKind.SECRETARIAT)


def _own_records(uow: UnitOfWork, caller: Caller) -> list[str]:
    """The records a patient or an app may see: own and represented records, or the app's patient."""
    if caller.kind == ActorKind.APP:
        row = uow.patients.by_ins(caller.ins or "")
        if row is None:
            raise Forbidden("le jeton de l'application ne désigne aucun patient de la plateforme (claim patient)")
        return [row.id]
    if caller.kind == ActorKind.PATIENT:
        own = uow.patients.by_ins(caller.ins or "")
        ids = [own.id] if own is not None else []
        ids += [r.id for r in (uow.patients.by_ins(ins) for ins in caller.represents_ins) if r is not None]
        return ids
    raise Forbidden(f"un acteur de type {caller.kind.value} n'accède pas aux identités des patients")


def _holder_side_read(uow: UnitOfWork, request: Request, caller: Caller, patient_id: str) -> PatientIdentity:
    """A patient (own or represented record) or an app (its patient) reads one identity, if the decision allows."""
    if patient_id not in _own_records(uow, caller):
        if caller.kind == ActorKind.APP:
            raise Forbidden("une application n'accède qu'au dossier du patient pour lequel elle agit")
    actor = actor_on(uow, caller, patient_id)
    access.enforce_on_record(uow=uow, actor=actor, patient_id=patient_id, ctx=request_context(request, uow))
    return identities.read_or_raise(uow=uow, actor=actor, patient_id=patient_id)


@router.get("/fhir/Patient/{resource_id}", response_class=JSONResponse)
def read_patient(resource_id: str, request: Request, caller: CallerDep, uow: UowDep) -> JSONResponse:
    """One identity (``read``)."""
    require_scope(caller, "Patient", "r")
    patient_id = p.resource_id(resource_id, "Patient")
    if _identity_matcher(caller):
        identity = identities.read_or_raise(uow=uow, actor=actor_on(uow, caller, patient_id), patient_id=patient_id)
    else:
        identity = _holder_side_read(uow, request, caller, patient_id)
    uow.commit()
    return fhir_response(patient_resource(identity))


# --- search -------------------------------------------------------------------------------------------------


class _Criteria:
    """The search parameters, checked."""

    def __init__(self, found: dict[str, list[str]]) -> None:
        self.id = p.one(found, "_id")
        self.ins: tuple[str, str] | None = None
        if (value := p.one(found, "identifier")) is not None:
            system, code = p.token(value, "identifier")
            self.ins = (_ins_oid(system), code)
        self.family = _name(p.one(found, "family"), "family")
        self.given = _name(p.one(found, "given"), "given")
        self.birthdate = p.date_bound(value, "birthdate") if (value := p.one(found, "birthdate")) else None
        self.gender: str | None = None
        if (value := p.one(found, "gender")) is not None:
            _system, code = p.token(value, "gender")
            if code not in _SEX:
                raise FhirError(f"gender : male ou female attendu, reçu « {code} »", field="gender")
            self.gender = _SEX[code]

    def matches(self, identity: PatientIdentity) -> bool:
        traits = identity.traits
        if self.id is not None and identity.id != self.id:
            return False
        if self.ins is not None:
            oid, value = self.ins
            if identity.ins is None or not may_share(identity.status):
                return False
            if identity.ins.oid.value != oid or identity.ins.value != value:
                return False
        if self.family is not None and not traits.birth_name.startswith(self.family):
            return False
        if self.given is not None and not traits.first_name.startswith(self.given):
            return False
        if self.gender is not None and traits.sex != self.gender:
            return False
        birth = dt.datetime.combine(traits.birth_date, dt.time(), tzinfo=dt.UTC)
        return self.birthdate is None or self.birthdate.matches(birth)


def _ins_oid(system: str | None) -> str:
    if system is None:
        raise FhirError("identifier : le système est obligatoire (urn:oid:1.2.250.1.213.1.4.8|<matricule INS>)",
                        field="identifier")  # fmt: skip
    bare = system.removeprefix("urn:oid:")
    if not system.startswith("urn:oid:") or bare not in {o.value for o in InsOid}:
        systems = ", ".join(f"urn:oid:{o.value}" for o in InsOid)
        raise FhirError(f"identifier : système « {system} » inconnu ; systèmes INS : {systems}", field="identifier")
    return bare


def _name(value: str | None, field: str) -> str | None:
    if value is None:
        return None
    try:
        return normalise_name(value, field=field)
    except InvalidTrait as exc:
        raise FhirError(f"{field} : {exc.message}", field=field) from None


def _index_search(uow: UnitOfWork, actor: Actor, criteria: _Criteria, limit: int) -> list[PatientIdentity]:
    """Professionals' and secretariat's search of the patient index (each hit traced by the identity service)."""
    if criteria.ins is not None:
        oid, value = criteria.ins
        try:
            parse_matricule(value)
        except InvalidMatricule as exc:
            raise FhirError(f"identifier : {exc.message}", field="identifier", status=422) from None
        found = identities.find_by_ins(uow=uow, actor=actor, matricule=value)
        return [found] if found is not None and criteria.matches(found) else []
    if criteria.id is not None:
        found = identities.get(uow=uow, actor=actor, patient_id=criteria.id)
        return [found] if found is not None and criteria.matches(found) else []
    exact_date = criteria.birthdate.start.date() if criteria.birthdate and criteria.birthdate.prefix == "eq" else None
    if criteria.birthdate and criteria.birthdate.end - criteria.birthdate.start != dt.timedelta(days=1):
        exact_date = None
    if not (criteria.family or criteria.given or exact_date):
        raise FhirError("recherche de patient : indiquer identifier, _id, family, given ou une date de naissance "
                        "exacte (birthdate=AAAA-MM-JJ)", field="Patient")  # fmt: skip
    hits = identities.search(uow=uow, actor=actor, birth_name=criteria.family, first_name=criteria.given,
                             birth_date=exact_date, sex=criteria.gender, limit=limit)  # fmt: skip
    return [h for h in hits if criteria.matches(h)]


@router.get("/fhir/Patient", response_class=JSONResponse)
def search_patients(request: Request, caller: CallerDep, uow: UowDep) -> JSONResponse:
    """Search identities (``search-type``)."""
    require_scope(caller, "Patient", "s")
    found = p.params(request, SEARCH_PARAMS)
    page = p.paging(found)
    criteria = _Criteria(found)
    if _identity_matcher(caller):
        hits = _index_search(uow, actor_on(uow, caller), criteria, limit=page.offset + page.count + 1)
        more = len(hits) > page.offset + page.count
        total = None if more else len(hits)
    else:
        hits = []
        for patient_id in _own_records(uow, caller):
            try:
                hits.append(_holder_side_read(uow, request, caller, patient_id))
            except (Forbidden, NotFound):
                if caller.kind == ActorKind.APP:
                    raise
        hits = [h for h in hits if criteria.matches(h)]
        more, total = len(hits) > page.offset + page.count, len(hits)
    resources = [patient_resource(h) for h in hits[page.offset : page.offset + page.count]]
    uow.commit()
    return fhir_response(p.searchset(request, resources, total=total, page=page, has_more=more))

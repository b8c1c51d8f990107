"""``Practitioner``, ``PractitionerRole`` and ``Organization`` read and search, from the professional directory.

FHIR release: **R4** (4.0.1), FR Core profiles (fr-core-practitioner, fr-core-practitioner-role,
fr-core-organization); the tests validate every resource with ``fhir.resources.R4B``, whose classes are R4's for
these resources. The directory is public professional data (no patient audit trail), but only an authenticated
caller reads it; an app needs a scope on the resource type (``user/Practitioner.rs``...).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from carnet.access.model import Actor
from carnet.api import _paging as p
from carnet.api.deps import CallerDep, UowDep
from carnet.api.outcome import FhirError, fhir_response
from carnet.auth.claims import Caller
from carnet.auth.scopes import require_scope
from carnet.directory import service as directory
from carnet.directory.store import OrganisationRow, ProfessionalQuery, ProfessionalRoleRow, ProfessionalRow

router = APIRouter(tags=["fhir"])

FR_CORE = "https://hl7.fr/ig/fhir/core"
PRACTITIONER_PROFILE = f"{FR_CORE}/StructureDefinition/fr-core-practitioner"
ROLE_PROFILE = f"{FR_CORE}/StructureDefinition/fr-core-practitioner-role"
ORGANIZATION_PROFILE = f"{FR_CORE}/StructureDefinition/fr-core-organization"
V2_0203 = f"{FR_CORE}/CodeSystem/fr-core-cs-v2-0203"
ID_NAT_PS = "urn:oid:1.2.250.1.71.4.2.1"
ID_NAT_ST = "urn:oid:1.2.250.1.71.4.2.2"
RPPS = "https://rpps.esante.gouv.fr"
FINESS = "https://finess.esante.gouv.fr"
PROFESSION_OID = "urn:oid:1.2.250.1.71.1.2.7"
PROFESSION = "https://mos.esante.gouv.fr/NOS/TRE_G15-ProfessionSante/FHIR/TRE-G15-ProfessionSante"
SPECIALTY = "https://mos.esante.gouv.fr/NOS/TRE_R38-SpecialiteOrdinale/FHIR/TRE-R38-SpecialiteOrdinale"
FUNCTION = "https://mos.esante.gouv.fr/NOS/TRE_R21-Fonction/FHIR/TRE-R21-Fonction"
FACILITY_TYPE = "https://mos.esante.gouv.fr/NOS/TRE_R02-SecteurActivite/FHIR/TRE-R02-SecteurActivite"
PRACTICE_SETTING = "https://mos.esante.gouv.fr/NOS/TRE_A01-CadreExercice/FHIR/TRE-A01-CadreExercice"


def _search_param(name: str, type_: str, doc: str) -> dict[str, str]:
    return {"name": name, "type": type_, "documentation": doc}


_INTERACTIONS = [{"code": "read"}, {"code": "search-type"}]
CAPABILITIES: list[dict[str, Any]] = [
    {
        "type": "Practitioner",
        "profile": PRACTITIONER_PROFILE,
        "interaction": _INTERACTIONS,
        "searchParam": [
            _search_param("_id", "token", "identifiant national (idNatPs)"),
            _search_param("identifier", "token", f"{ID_NAT_PS}|<idNatPs> ou {RPPS}|<RPPS à 11 chiffres>"),
            _search_param("name", "string", "début du nom ou du prénom"),
            _search_param("family", "string", "début du nom"),
            _search_param("given", "string", "début du prénom"),
            _search_param("active", "token", "true | false"),
        ],
    },
    {
        "type": "PractitionerRole",
        "profile": ROLE_PROFILE,
        "interaction": _INTERACTIONS,
        "searchParam": [
            _search_param("_id", "token", "identifiant de l'exercice"),
            _search_param("practitioner", "reference", "Practitioner/<idNatPs>"),
            _search_param("organization", "reference", "Organization/<idNatSt>"),
            _search_param("role", "token", f"profession TRE_G15 ({PROFESSION_OID}) ou fonction TRE_R21"),
            _search_param("specialty", "token", "spécialité ordinale TRE_R38 (SM54...)"),
            _search_param("active", "token", "true | false"),
        ],
    },
    {
        "type": "Organization",
        "profile": ORGANIZATION_PROFILE,
        "interaction": _INTERACTIONS,
        "searchParam": [
            _search_param("_id", "token", "identifiant national de structure (idNatSt)"),
            _search_param("identifier", "token", f"{ID_NAT_ST}|<idNatSt> ou {FINESS}|<FINESS>"),
            _search_param("name", "string", "début d'un mot du nom"),
            _search_param("type", "token", "secteur d'activité TRE_R02 (SA07...)"),
            _search_param("active", "token", "true | false"),
        ],
    },
]


def _reader(caller: Caller, resource_type: str, interaction: str) -> Actor:
    """Any authenticated caller reads the directory; an app needs a scope on the resource type."""
    require_scope(caller, resource_type, interaction)
    return Actor(kind=caller.kind, id=caller.subject, auth_method=caller.auth_method, name=caller.name)


def _coding(system: str, code: str, display: str | None = None) -> dict[str, str]:
    out = {"system": system, "code": code}
    if display:
        out["display"] = display
    return out


def _profession(code: str) -> dict[str, Any]:
    from carnet.audit.service import profession_label

    label = profession_label(code)
    return {"coding": [_coding(PROFESSION, code, label), _coding(PROFESSION_OID, code, label)]}


def _mail(address: str | None) -> list[dict[str, str]]:
    return [{"system": "email", "value": address, "use": "work"}] if address else []


def practitioner(row: ProfessionalRow) -> dict[str, Any]:
    """The FR Core Practitioner of a directory entry."""
    identifiers: list[dict[str, Any]] = [
        {"use": "official", "type": {"coding": [_coding(V2_0203, "IDNPS")]}, "system": ID_NAT_PS, "value": row.id}
    ]
    if row.id_type == "RPPS" and row.id.startswith("8"):
        identifiers.append({"type": {"coding": [_coding(V2_0203, "RPPS")]}, "system": RPPS, "value": row.id[1:]})
    name: dict[str, Any] = {"use": "official", "family": row.family_name, "given": [row.given_name]}
    if row.civility:
        name["prefix"] = [row.civility]
    qualification = [{"code": _profession(row.profession_code)}]
    if row.specialty_code:
        qualification.append({"code": {"coding": [_coding(SPECIALTY, row.specialty_code)]}})
    out: dict[str, Any] = {
        "resourceType": "Practitioner",
        "id": row.id,
        "meta": {"profile": [PRACTITIONER_PROFILE], "lastUpdated": row.updated_at.isoformat()},
        "identifier": identifiers,
        "active": row.active,
        "name": [name],
        "qualification": qualification,
    }
    if row.mssante_address:
        out["telecom"] = _mail(row.mssante_address)
    return out


def practitioner_role(row: ProfessionalRoleRow, organisation_name: str | None = None) -> dict[str, Any]:
    """The FR Core PractitionerRole of a practice (exercice and activité)."""
    codes = [_profession(row.profession_code)]
    if row.role_code:
        codes.append({"coding": [_coding(FUNCTION, row.role_code)]})
    out: dict[str, Any] = {
        "resourceType": "PractitionerRole",
        "id": row.id,
        "meta": {"profile": [ROLE_PROFILE], "lastUpdated": row.updated_at.isoformat()},
        "active": row.active,
        "practitioner": {"reference": f"Practitioner/{row.professional_id}"},
        "code": codes,
    }
    if row.period_start or row.period_end:
        out["period"] = {k: v.isoformat() for k, v in (("start", row.period_start), ("end", row.period_end)) if v}
    if row.organisation_id:
        out["organization"] = {"reference": f"Organization/{row.organisation_id}"}
        if organisation_name:
            out["organization"]["display"] = organisation_name
    if row.specialty_code:
        out["specialty"] = [{"coding": [_coding(SPECIALTY, row.specialty_code)]}]
    if row.mssante_address:
        out["telecom"] = _mail(row.mssante_address)
    return out


def organization(row: OrganisationRow) -> dict[str, Any]:
    """The FR Core Organization of a structure."""
    identifiers: list[dict[str, Any]] = [
        {"use": "official", "type": {"coding": [_coding(V2_0203, "IDNST")]}, "system": ID_NAT_ST, "value": row.id}
    ]
    if row.id_type in ("FINEG", "FINEJ") and row.id.startswith("1"):
        identifiers.append({"type": {"coding": [_coding(V2_0203, row.id_type)]}, "system": FINESS, "value": row.id[1:]})
    out: dict[str, Any] = {
        "resourceType": "Organization",
        "id": row.id,
        "meta": {"profile": [ORGANIZATION_PROFILE], "lastUpdated": row.updated_at.isoformat()},
        "identifier": identifiers,
        "active": row.active,
        "name": row.name,
    }
    types = []
    if row.facility_type_code:
        types.append({"coding": [_coding(FACILITY_TYPE, row.facility_type_code)]})
    if row.practice_setting_code:
        types.append({"coding": [_coding(PRACTICE_SETTING, row.practice_setting_code)]})
    if types:
        out["type"] = types
    if row.address_line or row.city or row.postal_code:
        address: dict[str, Any] = {"use": "work", "country": "FRA"}
        if row.address_line:
            address["line"] = [row.address_line]
        if row.postal_code:
            address["postalCode"] = row.postal_code
        if row.city:
            address["city"] = row.city
        out["address"] = [address]
    if row.mssante_address:
        out["telecom"] = _mail(row.mssante_address)
    return out


# --- Practitioner -------------------------------------------------------------------------------------------


_NOTHING = [""]  # an id no row has: the criteria exclude each other


def _ids(found: dict[str, list[str]], from_identifier: set[str] | None) -> list[str]:
    """The ids ``_id`` and ``identifier`` allow together (empty list: no id criterion)."""
    sets = [{value} for value in [p.one(found, "_id")] if value is not None]
    if from_identifier is not None:
        sets.append(from_identifier)
    if not sets:
        return []
    return sorted(set.intersection(*sets)) or _NOTHING


def _professional_ids(found: dict[str, list[str]]) -> list[str]:
    value = p.one(found, "identifier")
    if value is None:
        return _ids(found, None)
    system, code = p.token(value, "identifier")
    if system not in (None, ID_NAT_PS, RPPS):
        raise FhirError(f"identifier : système « {system} » inconnu ({ID_NAT_PS} ou {RPPS})", field="identifier")
    ids = {code} if system in (None, ID_NAT_PS) else set()
    if system in (None, RPPS) and code.isdigit() and len(code) == 11:
        ids.add("8" + code)
    return _ids(found, ids)


@router.get("/fhir/Practitioner", response_class=JSONResponse)
def search_practitioners(request: Request, caller: CallerDep, uow: UowDep) -> JSONResponse:
    """Search the professionals of the directory."""
    actor = _reader(caller, "Practitioner", "s")
    found = p.params(request, ("_id", "identifier", "name", "family", "given", "active"))
    page = p.paging(found)
    query = ProfessionalQuery(
        ids=_professional_ids(found),
        name=p.one(found, "name"),
        family=p.one(found, "family"),
        given=p.one(found, "given"),
        active=p.boolean(p.one(found, "active"), "active"),
    )
    result = directory.search_professionals(uow=uow, actor=actor, query=query, offset=page.offset, limit=page.count)
    return fhir_response(p.searchset(request, [practitioner(r) for r in result.items], total=result.total, page=page))


@router.get("/fhir/Practitioner/{resource_id}", response_class=JSONResponse)
def read_practitioner(resource_id: str, caller: CallerDep, uow: UowDep) -> JSONResponse:
    """A professional by national id (idNatPs)."""
    actor = _reader(caller, "Practitioner", "r")
    return fhir_response(
        practitioner(
            directory.get_professional(uow=uow, actor=actor, professional_id=p.resource_id(resource_id, "Practitioner"))
        )
    )


# --- PractitionerRole ---------------------------------------------------------------------------------------


def _role_filter(value: str | None) -> dict[str, str]:
    if value is None:
        return {}
    system, code = p.token(value, "role")
    if system in (PROFESSION, PROFESSION_OID) or (system is None and code.isdigit()):
        return {"profession": code}
    if system in (FUNCTION, None):
        return {"role": code}
    raise FhirError(f"role : système « {system} » inconnu (TRE_G15 {PROFESSION_OID} ou TRE_R21)", field="role")


def _code_of(value: str | None, name: str, system: str) -> str | None:
    if value is None:
        return None
    given, code = p.token(value, name)
    if given not in (None, system):
        raise FhirError(f"{name} : système « {given} » inconnu ({system})", field=name)
    return code


def _roles_json(uow: Any, actor: Actor, rows: list[ProfessionalRoleRow]) -> list[dict[str, Any]]:
    ids = sorted({r.organisation_id for r in rows if r.organisation_id})
    names = {}
    if ids:
        orgs = directory.search_organisations(uow=uow, actor=actor, ids=ids, limit=len(ids))
        names = {o.id: o.name for o in orgs.items}
    return [practitioner_role(r, names.get(r.organisation_id or "")) for r in rows]


@router.get("/fhir/PractitionerRole", response_class=JSONResponse)
def search_practitioner_roles(request: Request, caller: CallerDep, uow: UowDep) -> JSONResponse:
    """Search the practices (a professional's role in an organisation)."""
    actor = _reader(caller, "PractitionerRole", "s")
    found = p.params(request, ("_id", "practitioner", "organization", "role", "specialty", "active"))
    page = p.paging(found)
    practitioner_ref = p.one(found, "practitioner")
    organisation_ref = p.one(found, "organization")
    result = directory.search_roles(
        uow=uow,
        actor=actor,
        ids=[v] if (v := p.one(found, "_id")) else [],
        professional_ids=[p.reference_id(practitioner_ref, "Practitioner", "practitioner")] if practitioner_ref else [],
        organisation_id=p.reference_id(organisation_ref, "Organization", "organization") if organisation_ref else None,
        specialty=_code_of(p.one(found, "specialty"), "specialty", SPECIALTY),
        active=p.boolean(p.one(found, "active"), "active"),
        offset=page.offset,
        limit=page.count,
        **_role_filter(p.one(found, "role")),
    )
    resources = _roles_json(uow, actor, result.items)
    return fhir_response(p.searchset(request, resources, total=result.total, page=page))


@router.get("/fhir/PractitionerRole/{resource_id}", response_class=JSONResponse)
def read_practitioner_role(resource_id: str, caller: CallerDep, uow: UowDep) -> JSONResponse:
    """A practice by id."""
    actor = _reader(caller, "PractitionerRole", "r")
    row = directory.get_role(uow=uow, actor=actor, role_id=p.resource_id(resource_id, "PractitionerRole"))
    return fhir_response(_roles_json(uow, actor, [row])[0])


# --- Organization -------------------------------------------------------------------------------------------


def _organisation_ids(found: dict[str, list[str]]) -> list[str]:
    value = p.one(found, "identifier")
    if value is None:
        return _ids(found, None)
    system, code = p.token(value, "identifier")
    if system not in (None, ID_NAT_ST, FINESS):
        raise FhirError(f"identifier : système « {system} » inconnu ({ID_NAT_ST} ou {FINESS})", field="identifier")
    return _ids(found, {"1" + code} if system == FINESS else {code})


@router.get("/fhir/Organization", response_class=JSONResponse)
def search_organizations(request: Request, caller: CallerDep, uow: UowDep) -> JSONResponse:
    """Search the organisations of the directory."""
    actor = _reader(caller, "Organization", "s")
    found = p.params(request, ("_id", "identifier", "name", "type", "active"))
    page = p.paging(found)
    result = directory.search_organisations(
        uow=uow,
        actor=actor,
        ids=_organisation_ids(found),
        name=p.one(found, "name"),
        facility_type=_code_of(p.one(found, "type"), "type", FACILITY_TYPE),
        active=p.boolean(p.one(found, "active"), "active"),
        offset=page.offset,
        limit=page.count,
    )
    resources = [organization(r) for r in result.items]
    return fhir_response(p.searchset(request, resources, total=result.total, page=page))


@router.get("/fhir/Organization/{resource_id}", response_class=JSONResponse)
def read_organization(resource_id: str, caller: CallerDep, uow: UowDep) -> JSONResponse:
    """An organisation by national id (idNatSt)."""
    actor = _reader(caller, "Organization", "r")
    return fhir_response(
        organization(
            directory.get_organisation(uow=uow, actor=actor, organisation_id=p.resource_id(resource_id, "Organization"))
        )
    )

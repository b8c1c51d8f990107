"""Use cases of the professional directory: import an extract (upsert), search and read.

The directory is the public professional directory (Annuaire Santé), not patient data: reading it is not traced
in a patient's audit trail, but only an authenticated caller reaches it (the API requires a token). Importing
is a platform job (system or operator).

Extract format (CSV, UTF-8, ``,`` or ``;`` separated, header line required; one line per practice, as the
Annuaire Santé "PS libre accès" extracts; docs/api.md lists the columns):

``professional_id, id_type, civility, family_name, given_name, profession_code, specialty_code,
professional_mssante, active, organisation_id, organisation_id_type, organisation_name, facility_type_code,
practice_setting_code, address_line, postal_code, city, organisation_mssante, role_code, role_mssante``

A line without ``professional_id`` describes an organisation only; a line with both describes the professional,
the organisation and the professional's practice (role) there.
"""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Generic, TypeVar

from carnet.access.model import Actor, ActorKind
from carnet.directory.store import (
    OrganisationRow,
    ProfessionalQuery,
    ProfessionalRoleRow,
    ProfessionalRow,
)
from carnet.errors import Forbidden, NotFound, ValidationError

if TYPE_CHECKING:
    from carnet.storage.uow import UnitOfWork

__all__ = [
    "COLUMNS",
    "ImportReport",
    "OrganisationIn",
    "Page",
    "ProfessionalIn",
    "ProfessionalQuery",
    "RoleIn",
    "get_organisation",
    "get_professional",
    "get_role",
    "parse_csv",
    "role_id",
    "search_organisations",
    "search_professionals",
    "search_roles",
    "upsert",
]

COLUMNS = (
    "professional_id", "id_type", "civility", "family_name", "given_name", "profession_code", "specialty_code",
    "professional_mssante", "active", "organisation_id", "organisation_id_type", "organisation_name",
    "facility_type_code", "practice_setting_code", "address_line", "postal_code", "city", "organisation_mssante",
    "role_code", "role_mssante",
)  # fmt: skip
REQUIRED_COLUMNS = frozenset({"professional_id", "family_name", "given_name", "profession_code", "organisation_id"})

# idNatPs: 8 + RPPS (11 digits) or 0 + ADELI (9 characters); idNatSt: 1 + FINESS, 2 + SIREN, 3 + SIRET, ...
_ID_NAT_PS = re.compile(r"^(8\d{11}|0[0-9A-Za-z]{9})$")
_ID_NAT_ST = re.compile(r"^[0-6][0-9A-Za-z/]{8,30}$")
_ROLE_NAMESPACE = uuid.UUID("4f2a9c3e-7d15-4c4b-9a2e-6469726563f0")
_TRUE = {"1", "true", "oui", "yes", "o", "y", ""}
_FALSE = {"0", "false", "non", "no", "n"}
_ST_TYPES = {"1": "FINEG", "2": "SIREN", "3": "SIRET", "4": "RPPS", "5": "ADELI", "6": "INTERNE", "0": "ADELI"}


@dataclass(frozen=True, slots=True, kw_only=True)
class ProfessionalIn:
    id: str
    id_type: str
    family_name: str
    given_name: str
    profession_code: str
    civility: str | None = None
    specialty_code: str | None = None
    mssante_address: str | None = None
    active: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class OrganisationIn:
    id: str
    id_type: str
    name: str
    facility_type_code: str | None = None
    practice_setting_code: str | None = None
    address_line: str | None = None
    postal_code: str | None = None
    city: str | None = None
    mssante_address: str | None = None
    active: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class RoleIn:
    professional_id: str
    organisation_id: str | None
    profession_code: str
    specialty_code: str | None = None
    role_code: str | None = None
    mssante_address: str | None = None
    active: bool = True


@dataclass(slots=True)
class Extract:
    """What an extract describes, deduplicated by id (the last line wins)."""

    professionals: dict[str, ProfessionalIn] = field(default_factory=dict)
    organisations: dict[str, OrganisationIn] = field(default_factory=dict)
    roles: dict[str, RoleIn] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ImportReport:
    professionals_created: int
    professionals_updated: int
    organisations_created: int
    organisations_updated: int
    roles_created: int
    roles_updated: int


T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    total: int


def role_id(professional_id: str, organisation_id: str | None, profession_code: str) -> str:
    """A stable id for a practice: the same line imported twice updates the same role."""
    return str(uuid.uuid5(_ROLE_NAMESPACE, f"{professional_id}|{organisation_id or ''}|{profession_code}"))


def _cell(line: dict[str, str | None], name: str) -> str | None:
    value = (line.get(name) or "").strip()
    return value or None


def _flag(value: str | None, where: str) -> bool:
    text = (value or "").strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValidationError(f"{where} : « {value} » n'est pas un booléen (1/0, oui/non, true/false)", field=where)


def parse_csv(text: str) -> Extract:
    """Read an extract; any malformed line is an error naming the line and the column (nothing is half-read)."""
    sample = text[:4096]
    delimiter = ";" if sample.count(";") > sample.count(",") else ","
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    header = {(h or "").strip() for h in reader.fieldnames or ()}
    if not header:
        raise ValidationError("extrait vide : une ligne d'en-tête est attendue", field="header")
    unknown = header - set(COLUMNS)
    if unknown:
        raise ValidationError(f"colonnes inconnues : {', '.join(sorted(unknown))}", field="header")
    if "professional_id" not in header and "organisation_id" not in header:
        raise ValidationError("colonne professional_id ou organisation_id obligatoire", field="header")
    extract = Extract()
    for number, raw in enumerate(reader, start=2):
        line = {(k or "").strip(): v for k, v in raw.items()}
        _parse_line(line, number, extract)
    return extract


def _parse_line(line: dict[str, str | None], number: int, extract: Extract) -> None:
    def where(column: str) -> str:
        return f"ligne {number}, {column}"

    def required(column: str) -> str:
        value = _cell(line, column)
        if value is None:
            raise ValidationError(f"{where(column)} : valeur obligatoire", field=where(column))
        return value

    org_id = _cell(line, "organisation_id")
    if org_id is not None:
        if not _ID_NAT_ST.match(org_id):
            raise ValidationError(f"{where('organisation_id')} : « {org_id} » n'est pas un identifiant national de "
                                  "structure (1 + FINESS, 3 + SIRET...)", field=where("organisation_id"))  # fmt: skip
        name = _cell(line, "organisation_name")
        if name is not None or org_id not in extract.organisations:
            extract.organisations[org_id] = OrganisationIn(
                id=org_id,
                id_type=_cell(line, "organisation_id_type") or _ST_TYPES.get(org_id[0], "INTERNE"),
                name=name or required("organisation_name"),
                facility_type_code=_cell(line, "facility_type_code"),
                practice_setting_code=_cell(line, "practice_setting_code"),
                address_line=_cell(line, "address_line"),
                postal_code=_cell(line, "postal_code"),
                city=_cell(line, "city"),
                mssante_address=_cell(line, "organisation_mssante"),
            )
    pro_id = _cell(line, "professional_id")
    if pro_id is None:
        if org_id is None:
            raise ValidationError(f"ligne {number} : ni professionnel ni structure", field=where("professional_id"))
        return
    if not _ID_NAT_PS.match(pro_id):
        message = "n'est pas un identifiant national de professionnel (8 + RPPS à 11 chiffres, 0 + ADELI)"
        raise ValidationError(f"{where('professional_id')} : « {pro_id} » {message}", field=where("professional_id"))
    profession = required("profession_code")
    if not profession.isdigit():
        raise ValidationError(f"{where('profession_code')} : code TRE_G15 attendu (10, 21, 60...)",
                              field=where("profession_code"))  # fmt: skip
    active = _flag(_cell(line, "active"), where("active"))
    specialty = _cell(line, "specialty_code")
    extract.professionals[pro_id] = ProfessionalIn(
        id=pro_id,
        id_type=_cell(line, "id_type") or ("RPPS" if pro_id.startswith("8") else "ADELI"),
        civility=_cell(line, "civility"),
        family_name=required("family_name"),
        given_name=required("given_name"),
        profession_code=profession,
        specialty_code=specialty,
        mssante_address=_cell(line, "professional_mssante"),
        active=active,
    )
    rid = role_id(pro_id, org_id, profession)
    extract.roles[rid] = RoleIn(
        professional_id=pro_id,
        organisation_id=org_id,
        profession_code=profession,
        specialty_code=specialty,
        role_code=_cell(line, "role_code"),
        mssante_address=_cell(line, "role_mssante"),
        active=active,
    )


def _update(row: object, values: dict[str, object]) -> bool:
    changed = False
    for name, value in values.items():
        if getattr(row, name) != value:
            setattr(row, name, value)
            changed = True
    return changed


def upsert(*, uow: UnitOfWork, actor: Actor, extract: Extract) -> ImportReport:
    """Create or update what the extract describes (a platform job; not committed)."""
    if actor.kind not in (ActorKind.SYSTEM, ActorKind.OPERATOR):
        raise Forbidden("l'annuaire est alimenté par la plateforme (extraction de l'Annuaire Santé)")
    now = uow.clock.now()
    counts = [0, 0, 0, 0, 0, 0]
    repo = uow.directory
    for org in extract.organisations.values():
        values = {k: getattr(org, k) for k in OrganisationIn.__dataclass_fields__}
        org_row = repo.organisation(org.id)
        if org_row is None:
            repo.add(OrganisationRow(**values, created_at=now, updated_at=now))
            counts[2] += 1
        elif _update(org_row, values):
            org_row.updated_at = now
            counts[3] += 1
    for pro in extract.professionals.values():
        values = {k: getattr(pro, k) for k in ProfessionalIn.__dataclass_fields__}
        pro_row = repo.professional(pro.id)
        if pro_row is None:
            repo.add(ProfessionalRow(**values, created_at=now, updated_at=now))
            counts[0] += 1
        elif _update(pro_row, values):
            pro_row.updated_at = now
            counts[1] += 1
    uow.flush()
    for rid, role in extract.roles.items():
        if role.organisation_id and repo.organisation(role.organisation_id) is None:
            raise ValidationError(f"structure {role.organisation_id} inconnue pour l'exercice de "
                                  f"{role.professional_id}", field="organisation_id")  # fmt: skip
        values = {k: getattr(role, k) for k in RoleIn.__dataclass_fields__}
        role_row = repo.role(rid)
        if role_row is None:
            repo.add(ProfessionalRoleRow(id=rid, **values, created_at=now, updated_at=now))
            counts[4] += 1
        elif _update(role_row, values):
            role_row.updated_at = now
            counts[5] += 1
    uow.flush()
    return ImportReport(*counts)


def get_professional(*, uow: UnitOfWork, actor: Actor, professional_id: str) -> ProfessionalRow:
    """A professional by national id (idNatPs), or NotFound."""
    row = uow.directory.professional(professional_id)
    if row is None:
        raise NotFound(f"professionnel {professional_id} introuvable dans l'annuaire", field="id")
    return row


def get_organisation(*, uow: UnitOfWork, actor: Actor, organisation_id: str) -> OrganisationRow:
    """An organisation by national id (idNatSt), or NotFound."""
    row = uow.directory.organisation(organisation_id)
    if row is None:
        raise NotFound(f"structure {organisation_id} introuvable dans l'annuaire", field="id")
    return row


def get_role(*, uow: UnitOfWork, actor: Actor, role_id: str) -> ProfessionalRoleRow:
    """A practice (PractitionerRole) by id, or NotFound."""
    row = uow.directory.role(role_id)
    if row is None:
        raise NotFound(f"exercice {role_id} introuvable dans l'annuaire", field="id")
    return row


def search_professionals(
    *, uow: UnitOfWork, actor: Actor, query: ProfessionalQuery, offset: int = 0, limit: int = 50
) -> Page[ProfessionalRow]:
    """One page of professionals matching ``query``."""
    rows, total = uow.directory.professionals(query, offset=offset, limit=limit)
    return Page(rows, total)


def search_organisations(
    *,
    uow: UnitOfWork,
    actor: Actor,
    ids: Sequence[str] = (),
    name: str | None = None,
    facility_type: str | None = None,
    active: bool | None = None,
    offset: int = 0,
    limit: int = 50,
) -> Page[OrganisationRow]:
    """One page of organisations."""
    rows, total = uow.directory.organisations(ids=ids, name=name, facility_type=facility_type, active=active,
                                              offset=offset, limit=limit)  # fmt: skip
    return Page(rows, total)


def search_roles(
    *,
    uow: UnitOfWork,
    actor: Actor,
    ids: Sequence[str] = (),
    professional_ids: Iterable[str] = (),
    organisation_id: str | None = None,
    profession: str | None = None,
    role: str | None = None,
    specialty: str | None = None,
    active: bool | None = None,
    offset: int = 0,
    limit: int = 50,
) -> Page[ProfessionalRoleRow]:
    """One page of practices (PractitionerRole)."""
    rows, total = uow.directory.roles(ids=ids, professional_ids=list(professional_ids),
                                      organisation_id=organisation_id, profession=profession, role=role,
                                      specialty=specialty, active=active, offset=offset, limit=limit)  # fmt: skip
    return Page(rows, total)

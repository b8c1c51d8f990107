"""Persistence of the professional directory, fed from the national directory (Annuaire Santé) extracts.

``professionals.id`` is the national id (idNatPs: ``8`` + RPPS or ``0`` + ADELI), the id tokens carry;
``organisations.id`` is the national structure id (idNatSt: ``1`` + FINESS, ``3`` + SIRET, ...).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, String, func, or_, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from carnet.storage.orm import Base, IdColumn, TimestampMixin, UTCDateTime, new_id


class ProfessionalRow(TimestampMixin, Base):
    """A professional (Practitioner)."""

    __tablename__ = "professionals"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # idNatPs
    id_type: Mapped[str] = mapped_column(String(8), nullable=False)  # RPPS | ADELI
    civility: Mapped[str | None] = mapped_column(String(8))
    family_name: Mapped[str] = mapped_column(String(100), nullable=False)
    given_name: Mapped[str] = mapped_column(String(100), nullable=False)
    profession_code: Mapped[str] = mapped_column(String(8), nullable=False)  # TRE_G15
    specialty_code: Mapped[str | None] = mapped_column(String(32))  # J01 / TRE_R38
    mssante_address: Mapped[str | None] = mapped_column(String(320))
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)

    __table_args__ = (Index("ix_professionals_family_given", "family_name", "given_name"),)


class OrganisationRow(TimestampMixin, Base):
    """A health or social organisation (Organization)."""

    __tablename__ = "organisations"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # idNatSt
    id_type: Mapped[str] = mapped_column(String(8), nullable=False)  # FINEG | FINEJ | SIRET | SIREN
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    facility_type_code: Mapped[str | None] = mapped_column(String(32))  # J02
    practice_setting_code: Mapped[str | None] = mapped_column(String(32))  # J04
    address_line: Mapped[str | None] = mapped_column(String(255))
    postal_code: Mapped[str | None] = mapped_column(String(10))
    city: Mapped[str | None] = mapped_column(String(100))
    mssante_address: Mapped[str | None] = mapped_column(String(320))
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)

    __table_args__ = (Index("ix_organisations_name", "name"),)


class ProfessionalRoleRow(TimestampMixin, Base):
    """A professional's practice in an organisation (PractitionerRole: exercice and activité)."""

    __tablename__ = "professional_roles"

    id: Mapped[str] = mapped_column(IdColumn, primary_key=True, default=new_id)
    professional_id: Mapped[str] = mapped_column(String(32), ForeignKey("professionals.id"), nullable=False)
    organisation_id: Mapped[str | None] = mapped_column(String(32), ForeignKey("organisations.id"))
    profession_code: Mapped[str] = mapped_column(String(8), nullable=False)
    specialty_code: Mapped[str | None] = mapped_column(String(32))
    role_code: Mapped[str | None] = mapped_column(String(16))  # TRE_R21 Fonction
    mssante_address: Mapped[str | None] = mapped_column(String(320))
    period_start: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    period_end: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)

    __table_args__ = (
        Index("ix_professional_roles_professional", "professional_id"),
        Index("ix_professional_roles_organisation", "organisation_id"),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class ProfessionalQuery:
    """Search criteria of the directory (every given criterion must match; names match a prefix, any case)."""

    ids: Sequence[str] = ()
    name: str | None = None  # family or given name
    family: str | None = None
    given: str | None = None
    profession: str | None = None
    specialty: str | None = None
    organisation_id: str | None = None
    active: bool | None = None


def _prefix(column: Any, value: str) -> Any:
    return func.lower(column).startswith(value.strip().lower(), autoescape=True)


class DirectoryRepository:
    """Queries of the professional directory; the unit of work owns the session and the commit."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, row: ProfessionalRow | OrganisationRow | ProfessionalRoleRow) -> None:
        self.session.add(row)

    def professional(self, professional_id: str) -> ProfessionalRow | None:
        return self.session.get(ProfessionalRow, professional_id)

    def organisation(self, organisation_id: str) -> OrganisationRow | None:
        return self.session.get(OrganisationRow, organisation_id)

    def role(self, role_id: str) -> ProfessionalRoleRow | None:
        return self.session.get(ProfessionalRoleRow, role_id)

    def professionals(
        self, query: ProfessionalQuery, *, offset: int = 0, limit: int = 50
    ) -> tuple[list[ProfessionalRow], int]:
        """One page of professionals (ordered by family name, given name, id) and the total count."""
        stmt = select(ProfessionalRow)
        if query.ids:
            stmt = stmt.where(ProfessionalRow.id.in_(list(query.ids)))
        if query.name:
            stmt = stmt.where(or_(_prefix(ProfessionalRow.family_name, query.name),
                                  _prefix(ProfessionalRow.given_name, query.name)))  # fmt: skip
        if query.family:
            stmt = stmt.where(_prefix(ProfessionalRow.family_name, query.family))
        if query.given:
            stmt = stmt.where(_prefix(ProfessionalRow.given_name, query.given))
        if query.profession:
            stmt = stmt.where(ProfessionalRow.profession_code == query.profession)
        if query.specialty:
            stmt = stmt.where(ProfessionalRow.specialty_code == query.specialty)
        if query.active is not None:
            stmt = stmt.where(ProfessionalRow.active.is_(query.active))
        if query.organisation_id:
            members = select(ProfessionalRoleRow.professional_id).where(
                ProfessionalRoleRow.organisation_id == query.organisation_id
            )
            stmt = stmt.where(ProfessionalRow.id.in_(members))
        return self._page(stmt, (ProfessionalRow.family_name, ProfessionalRow.given_name, ProfessionalRow.id),
                          offset, limit)  # fmt: skip

    def organisations(
        self,
        *,
        ids: Sequence[str] = (),
        name: str | None = None,
        facility_type: str | None = None,
        active: bool | None = None,
        offset: int = 0,
        limit: int = 50,
    ) -> tuple[list[OrganisationRow], int]:
        """One page of organisations (by name, id) and the total count; ``name`` matches any word's start."""
        stmt = select(OrganisationRow)
        if ids:
            stmt = stmt.where(OrganisationRow.id.in_(list(ids)))
        if name:
            needle, lowered = name.strip().lower(), func.lower(OrganisationRow.name)
            stmt = stmt.where(or_(lowered.startswith(needle, autoescape=True),
                                  lowered.contains(" " + needle, autoescape=True)))  # fmt: skip
        if facility_type:
            stmt = stmt.where(OrganisationRow.facility_type_code == facility_type)
        if active is not None:
            stmt = stmt.where(OrganisationRow.active.is_(active))
        return self._page(stmt, (OrganisationRow.name, OrganisationRow.id), offset, limit)

    def roles(
        self,
        *,
        ids: Sequence[str] = (),
        professional_ids: Sequence[str] = (),
        organisation_id: str | None = None,
        profession: str | None = None,
        role: str | None = None,
        specialty: str | None = None,
        active: bool | None = None,
        offset: int = 0,
        limit: int = 50,
    ) -> tuple[list[ProfessionalRoleRow], int]:
        """One page of practices (by professional, organisation, id) and the total count."""
        stmt = select(ProfessionalRoleRow)
        if ids:
            stmt = stmt.where(ProfessionalRoleRow.id.in_(list(ids)))
        if professional_ids:
            stmt = stmt.where(ProfessionalRoleRow.professional_id.in_(list(professional_ids)))
        if organisation_id:
            stmt = stmt.where(ProfessionalRoleRow.organisation_id == organisation_id)
        if profession:
            stmt = stmt.where(ProfessionalRoleRow.profession_code == profession)
        if role:
            stmt = stmt.where(ProfessionalRoleRow.role_code == role)
        if specialty:
            stmt = stmt.where(ProfessionalRoleRow.specialty_code == specialty)
        if active is not None:
            stmt = stmt.where(ProfessionalRoleRow.active.is_(active))
        order = (ProfessionalRoleRow.professional_id, ProfessionalRoleRow.organisation_id, ProfessionalRoleRow.id)
        return self._page(stmt, order, offset, limit)

    def _page(self, stmt: Any, order: Sequence[Any], offset: int, limit: int) -> tuple[list[Any], int]:
        total = int(self.session.scalar(select(func.count()).select_from(stmt.subquery())) or 0)
        rows = list(self.session.scalars(stmt.order_by(*order).offset(offset).limit(limit)))
        return rows, total

"""Persistence of the professional directory, fed from the national directory (Annuaire Santé) extracts.

``professionals.id`` is the national id (idNatPs: ``8`` + RPPS or ``0`` + ADELI), the id tokens carry;
``organisations.id`` is the national structure id (idNatSt: ``1`` + FINESS, ``3`` + SIRET, ...).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

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

"""Persistence of what the holder decided about access: care team, consents, oppositions, grants, settings."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from carnet.storage.orm import Base, IdColumn, TimestampMixin, UTCDateTime, new_id


class AccessProfileRow(TimestampMixin, Base):
    """Per-patient access settings: state of the space, médecin traitant, emergency access refusal."""

    __tablename__ = "access_profiles"

    patient_id: Mapped[str] = mapped_column(IdColumn, ForeignKey("patients.id"), primary_key=True)
    space_status: Mapped[str] = mapped_column(String(12), nullable=False, default="open")
    medecin_traitant_id: Mapped[str | None] = mapped_column(String(64))
    emergency_refused: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    protected_adult: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)


class CareTeamRow(TimestampMixin, Base):
    """A professional in the patient's care team (presumed consent once the patient has been informed)."""

    __tablename__ = "care_team_members"

    id: Mapped[str] = mapped_column(IdColumn, primary_key=True, default=new_id)
    patient_id: Mapped[str] = mapped_column(IdColumn, ForeignKey("patients.id"), nullable=False)
    professional_id: Mapped[str] = mapped_column(String(64), nullable=False)
    informed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    refused_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    recorded_by: Mapped[str] = mapped_column(String(64), nullable=False)

    __table_args__ = (Index("ix_care_team_patient_pro", "patient_id", "professional_id", unique=True),)


class ConsentRow(TimestampMixin, Base):
    """An explicit consent of the patient for one professional outside the care team, with its expiry."""

    __tablename__ = "consents"

    id: Mapped[str] = mapped_column(IdColumn, primary_key=True, default=new_id)
    patient_id: Mapped[str] = mapped_column(IdColumn, ForeignKey("patients.id"), nullable=False, index=True)
    professional_id: Mapped[str] = mapped_column(String(64), nullable=False)
    given_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False)
    withdrawn_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    recorded_by: Mapped[str] = mapped_column(String(64), nullable=False)


class OppositionRow(TimestampMixin, Base):
    """The holder blocks a professional or an establishment."""

    __tablename__ = "oppositions"

    id: Mapped[str] = mapped_column(IdColumn, primary_key=True, default=new_id)
    patient_id: Mapped[str] = mapped_column(IdColumn, ForeignKey("patients.id"), nullable=False, index=True)
    target_kind: Mapped[str] = mapped_column(String(16), nullable=False)  # professional | organisation
    target_id: Mapped[str] = mapped_column(String(64), nullable=False)
    lifted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class GrantRow(TimestampMixin, Base):
    """An entry of the directory of grants: who may read and/or feed which categories, until when."""

    __tablename__ = "access_grants"

    id: Mapped[str] = mapped_column(IdColumn, primary_key=True, default=new_id)
    patient_id: Mapped[str] = mapped_column(IdColumn, ForeignKey("patients.id"), nullable=False, index=True)
    grantee_kind: Mapped[str] = mapped_column(String(16), nullable=False)  # professional | organisation | app
    grantee_id: Mapped[str] = mapped_column(String(64), nullable=False)
    can_read: Mapped[bool] = mapped_column(Boolean, nullable=False)
    can_write: Mapped[bool] = mapped_column(Boolean, nullable=False)
    class_codes: Mapped[list[str]] = mapped_column(JSON, nullable=False)
    valid_from: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False)
    valid_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class RepresentativeRow(TimestampMixin, Base):
    """A legal representative of the holder (parent of a minor, guardian of a protected adult)."""

    __tablename__ = "representatives"

    id: Mapped[str] = mapped_column(IdColumn, primary_key=True, default=new_id)
    patient_id: Mapped[str] = mapped_column(IdColumn, ForeignKey("patients.id"), nullable=False, index=True)
    representative_id: Mapped[str] = mapped_column(String(64), nullable=False)
    role: Mapped[str] = mapped_column(String(32), nullable=False)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class AccessRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, row: Any) -> None:
        self.session.add(row)

    def profile(self, patient_id: str) -> AccessProfileRow | None:
        return self.session.get(AccessProfileRow, patient_id)

    def care_team(self, patient_id: str) -> list[CareTeamRow]:
        return list(self.session.scalars(select(CareTeamRow).where(CareTeamRow.patient_id == patient_id)))

    def care_team_member(self, patient_id: str, professional_id: str) -> CareTeamRow | None:
        stmt = select(CareTeamRow).where(
            CareTeamRow.patient_id == patient_id, CareTeamRow.professional_id == professional_id
        )
        return self.session.scalars(stmt).one_or_none()

    def consents(self, patient_id: str) -> list[ConsentRow]:
        stmt = select(ConsentRow).where(ConsentRow.patient_id == patient_id, ConsentRow.withdrawn_at.is_(None))
        return list(self.session.scalars(stmt))

    def oppositions(self, patient_id: str) -> list[OppositionRow]:
        stmt = select(OppositionRow).where(OppositionRow.patient_id == patient_id, OppositionRow.lifted_at.is_(None))
        return list(self.session.scalars(stmt))

    def grants(self, patient_id: str) -> list[GrantRow]:
        return list(self.session.scalars(select(GrantRow).where(GrantRow.patient_id == patient_id)))

    def grant(self, grant_id: str) -> GrantRow | None:
        return self.session.get(GrantRow, grant_id)

    def representatives(self, patient_id: str) -> list[RepresentativeRow]:
        stmt = select(RepresentativeRow).where(
            RepresentativeRow.patient_id == patient_id, RepresentativeRow.ended_at.is_(None)
        )
        return list(self.session.scalars(stmt))

"""Persistence of what the holder decided about access: care team, consents, oppositions, grants, settings."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    String,
    bindparam,
    cast,
    literal_column,
    null,
    select,
    type_coerce,
    union_all,
)
from sqlalchemy.engine import Row
from sqlalchemy.orm import Mapped, Session, mapped_column
from sqlalchemy.types import TypeEngine

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

    def decision_rows(self, patient_id: str) -> dict[str, list[Row[Any]]]:
        """What :meth:`profile`, :meth:`care_team`, :meth:`consents`, :meth:`oppositions`, :meth:`grants` and
        :meth:`representatives` return, in one statement (``UNION ALL``): the access decision needs all of it at
        every call, and six round trips were most of its cost.

        Rows grouped by kind (``profile``, ``team``, ``consent``, ``opposition``, ``grant``, ``representative``),
        each with the columns ``s1``, ``s2`` (text), ``t1``, ``t2``, ``t3`` (times), ``b1``, ``b2`` (flags), ``j``
        (the grant's classes); see :func:`_decision_rows` for which column carries what.
        """
        grouped: dict[str, list[Row[Any]]] = {kind: [] for kind in _DECISION_KINDS}
        for row in self.session.execute(_DECISION_ROWS, {"patient_id_": patient_id}):
            grouped[row.kind].append(row)
        return grouped

    def row(self, table: type[Any], row_id: str) -> Any:
        """One row of ``table`` by id (care team, consent, opposition, grant), or None."""
        return self.session.get(table, row_id)

    def all_rows(self, patient_id: str) -> dict[str, list[Any]]:
        """Every care-team, consent, opposition and grant row of the patient, past ones included (oldest first)."""
        out: dict[str, list[Any]] = {}
        for kind, table in (("careteam", CareTeamRow), ("consent", ConsentRow), ("opposition", OppositionRow),
                            ("grant", GrantRow)):  # fmt: skip
            stmt = select(table).where(table.patient_id == patient_id).order_by(table.created_at, table.id)
            out[kind] = list(self.session.scalars(stmt))
        return out


_DECISION_KINDS = ("profile", "team", "consent", "opposition", "grant", "representative")
_DECISION_COLUMNS: dict[str, TypeEngine[Any]] = {
    "s1": String(),
    "s2": String(),
    "t1": UTCDateTime(),
    "t2": UTCDateTime(),
    "t3": UTCDateTime(),
    "b1": Boolean(),
    "b2": Boolean(),
    "j": JSON(),
}


def _decision_rows() -> Any:
    patient_id = bindparam("patient_id_", type_=String())

    def part(kind: str, table: Any, where: Sequence[Any], **columns: Any) -> Any:
        values = [literal_column(f"'{kind}'", String()).label("kind")]
        values += [
            # Typed NULLs: PostgreSQL resolves the type of each column of a UNION pairwise, from the first part.
            (type_coerce(columns[name], type_) if name in columns else cast(null(), type_)).label(name)
            for name, type_ in _DECISION_COLUMNS.items()
        ]
        return select(*values).where(table.patient_id == patient_id, *where)

    return union_all(
        part("profile", AccessProfileRow, (), s1=AccessProfileRow.space_status,
             s2=AccessProfileRow.medecin_traitant_id, b1=AccessProfileRow.emergency_refused,
             b2=AccessProfileRow.protected_adult),
        part("team", CareTeamRow, (), s1=CareTeamRow.professional_id, t1=CareTeamRow.informed_at,
             t2=CareTeamRow.refused_at),
        part("consent", ConsentRow, (ConsentRow.withdrawn_at.is_(None),), s1=ConsentRow.professional_id,
             t1=ConsentRow.given_at, t2=ConsentRow.expires_at),
        part("opposition", OppositionRow, (OppositionRow.lifted_at.is_(None),), s1=OppositionRow.target_kind,
             s2=OppositionRow.target_id),
        part("grant", GrantRow, (), s1=GrantRow.grantee_kind, s2=GrantRow.grantee_id, b1=GrantRow.can_read,
             b2=GrantRow.can_write, j=GrantRow.class_codes, t1=GrantRow.valid_from, t2=GrantRow.valid_until,
             t3=GrantRow.revoked_at),
        part("representative", RepresentativeRow, (RepresentativeRow.ended_at.is_(None),),
             s1=RepresentativeRow.representative_id),
    )  # fmt: skip


# Built once (then compiled once per engine and reused from the compiled cache).
_DECISION_ROWS = _decision_rows()

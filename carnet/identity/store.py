"""Persistence of the patient index: tables and the repository (SQLAlchemy adapter)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, Date, ForeignKey, Index, Integer, Row, String, Text, bindparam, select
from sqlalchemy.orm import Mapped, Session, mapped_column
from sqlalchemy.orm.util import identity_key

from carnet.storage.orm import Base, IdColumn, TimestampMixin, UTCDateTime, new_id


class PatientRow(TimestampMixin, Base):
    """One identity in the patient index (one row per person; merged rows point to the survivor)."""

    __tablename__ = "patients"

    id: Mapped[str] = mapped_column(IdColumn, primary_key=True, default=new_id)
    ins_matricule: Mapped[str | None] = mapped_column(String(15), unique=True)
    ins_oid: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(5), nullable=False)
    birth_name: Mapped[str] = mapped_column(String(100), nullable=False)
    first_name: Mapped[str] = mapped_column(String(100), nullable=False)
    birth_first_names: Mapped[str] = mapped_column(String(255), nullable=False)
    sex: Mapped[str] = mapped_column(String(1), nullable=False)
    birth_date: Mapped[dt.date] = mapped_column(Date, nullable=False)
    birth_place: Mapped[str] = mapped_column(String(5), nullable=False)
    used_name: Mapped[str | None] = mapped_column(String(100))
    used_first_name: Mapped[str | None] = mapped_column(String(100))
    # Phonetic keys of birth name and first name, for collision search across spelling variants.
    name_key: Mapped[str] = mapped_column(String(40), nullable=False)
    first_name_key: Mapped[str] = mapped_column(String(40), nullable=False)
    merged_into_id: Mapped[str | None] = mapped_column(IdColumn, ForeignKey("patients.id"))
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        Index("ix_patients_birth_date_name", "birth_date", "birth_name"),
        Index("ix_patients_name_keys", "name_key", "first_name_key"),
    )


class IdentityEventRow(Base):
    """Append-only history of an identity: creation, status transitions, trait changes, merges."""

    __tablename__ = "identity_events"

    # An increasing integer key: it orders events recorded within the same instant.
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    patient_id: Mapped[str] = mapped_column(IdColumn, ForeignKey("patients.id"), nullable=False, index=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    from_status: Mapped[str | None] = mapped_column(String(5))
    to_status: Mapped[str | None] = mapped_column(String(5))
    evidence: Mapped[str | None] = mapped_column(String(40))
    document_type: Mapped[str | None] = mapped_column(String(4))
    actor_kind: Mapped[str] = mapped_column(String(20), nullable=False)
    actor_id: Mapped[str] = mapped_column(String(64), nullable=False)
    actor_profession: Mapped[str | None] = mapped_column(String(8))
    note: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)


_PATIENTS = PatientRow.__table__
_BY_ID = select(*_PATIENTS.c).where(_PATIENTS.c.id == bindparam("patient_id"))


class PatientRepository:
    """Queries of the patient index; the unit of work owns the session and the commit."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, row: PatientRow) -> None:
        self.session.add(row)

    def get(self, patient_id: str) -> PatientRow | None:
        return self.session.get(PatientRow, patient_id)

    def columns(self, patient_id: str) -> PatientRow | Row[Any] | None:
        """The identity's columns, without the ORM's mapping when the session does not hold its row.

        For a caller that needs nothing else of the row (it is not put in the session): a Core select costs about
        half of ``Session.get``'s load and mapping. A row the session holds is returned as is (its changes
        included); new rows are flushed first, as an ORM query's autoflush would.
        """
        held = self.session.identity_map.get(identity_key(PatientRow, patient_id))
        if held is not None:
            return held
        if self.session.new:
            self.session.flush()
        return self.session.connection().execute(_BY_ID, {"patient_id": patient_id}).one_or_none()

    def by_ins(self, matricule: str) -> PatientRow | None:
        return self.session.scalars(select(PatientRow).where(PatientRow.ins_matricule == matricule)).one_or_none()

    def active_by_birth_date(self, birth_date: dt.date, *, limit: int = 500) -> list[PatientRow]:
        stmt = (
            select(PatientRow)
            .where(PatientRow.birth_date == birth_date, PatientRow.merged_into_id.is_(None))
            .limit(limit)
        )
        return list(self.session.scalars(stmt))

    def active_by_name_keys(self, name_key: str, first_name_key: str, *, limit: int = 500) -> list[PatientRow]:
        stmt = (
            select(PatientRow)
            .where(
                PatientRow.name_key == name_key,
                PatientRow.first_name_key == first_name_key,
                PatientRow.merged_into_id.is_(None),
            )
            .limit(limit)
        )
        return list(self.session.scalars(stmt))

    def search(
        self,
        *,
        birth_name: str | None = None,
        first_name: str | None = None,
        birth_date: dt.date | None = None,
        sex: str | None = None,
        limit: int = 100,
    ) -> list[PatientRow]:
        stmt = select(PatientRow).where(PatientRow.merged_into_id.is_(None))
        if birth_name:
            stmt = stmt.where(PatientRow.birth_name.startswith(birth_name, autoescape=True))
        if first_name:
            stmt = stmt.where(PatientRow.first_name.startswith(first_name, autoescape=True))
        if birth_date:
            stmt = stmt.where(PatientRow.birth_date == birth_date)
        if sex:
            stmt = stmt.where(PatientRow.sex == sex)
        stmt = stmt.order_by(PatientRow.birth_name, PatientRow.first_name, PatientRow.birth_date).limit(limit)
        return list(self.session.scalars(stmt))

    def add_event(self, row: IdentityEventRow) -> None:
        self.session.add(row)

    def events(self, patient_ids: list[str]) -> list[IdentityEventRow]:
        stmt = (
            select(IdentityEventRow)
            .where(IdentityEventRow.patient_id.in_(patient_ids))
            .order_by(IdentityEventRow.at, IdentityEventRow.id)
        )
        return list(self.session.scalars(stmt))

    def merged_into(self, survivor_id: str) -> list[str]:
        """Ids of every record merged (directly or transitively) into ``survivor_id``."""
        found: list[str] = []
        frontier = [survivor_id]
        while frontier:
            stmt = select(PatientRow.id).where(PatientRow.merged_into_id.in_(frontier))
            frontier = list(self.session.scalars(stmt))
            found.extend(frontier)
        return found

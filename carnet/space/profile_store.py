"""The health profile's tables (``profile_*``, migration ``0011``) and their repository.

Reached only from :mod:`carnet.space.profile`, whose every function asks the access decision first and writes its
audit entry in the same transaction (``tests/unit/test_profile_no_bypass.py`` checks that no other module imports
this one). Rows are never deleted: a measure removed by the holder, an allergy no longer declared, a questionnaire
answered again keep their row with a status (``entered-in-error``, ``inactive``, ``amended``).

- ``profile_observations``: one measure (a vital sign, or a blood-pressure panel), its values as entered
  (``{key: [value, UCUM unit]}``), when it was taken, who recorded it (the holder, a representative, an app);
- ``profile_immunizations``: one vaccination (coded CIS vaccine or a name, date, dose, lot);
- ``profile_allergies``: one allergy or intolerance (``origin``: declared in the questionnaire or recorded directly);
- ``profile_questionnaire_responses``: each answering of the questionnaire (the latest is current).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Index, Integer, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from carnet.storage.orm import Base, IdColumn, TimestampMixin, UTCDateTime, new_id


class _Source:
    """Who recorded the row: ``patient``, ``representative``, ``professional``, ``app`` or ``system``; their id and
    name as shown to the holder."""

    source_kind: Mapped[str] = mapped_column(String(16), nullable=False)
    source_id: Mapped[str] = mapped_column(String(64), nullable=False)
    source_name: Mapped[str | None] = mapped_column(String(200))


class ObservationRow(_Source, TimestampMixin, Base):
    """One measure."""

    __tablename__ = "profile_observations"

    id: Mapped[str] = mapped_column(IdColumn, primary_key=True, default=new_id)
    patient_id: Mapped[str] = mapped_column(IdColumn, ForeignKey("patients.id"), nullable=False)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)  # carnet/space/data/constantes.csv key
    code: Mapped[str] = mapped_column(String(16), nullable=False)  # its LOINC code
    status: Mapped[str] = mapped_column(String(20), nullable=False, default="final")  # final | entered-in-error
    effective_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False)
    values: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)  # {key: [value, unit]}
    note: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_profile_observations_patient_kind_at", "patient_id", "kind", "effective_at"),)


class ImmunizationRow(_Source, TimestampMixin, Base):
    """One vaccination."""

    __tablename__ = "profile_immunizations"

    id: Mapped[str] = mapped_column(IdColumn, primary_key=True, default=new_id)
    patient_id: Mapped[str] = mapped_column(IdColumn, ForeignKey("patients.id"), nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False, default="completed")
    occurrence_date: Mapped[dt.date] = mapped_column(Date, nullable=False)
    vaccine_code: Mapped[str | None] = mapped_column(String(32))  # CIS code, None when named only
    vaccine_display: Mapped[str] = mapped_column(String(200), nullable=False)
    atc_code: Mapped[str | None] = mapped_column(String(16))
    dose_number: Mapped[int | None] = mapped_column(Integer)
    lot_number: Mapped[str | None] = mapped_column(String(40))
    primary_source: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    note: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_profile_immunizations_patient_date", "patient_id", "occurrence_date"),)


class AllergyRow(_Source, TimestampMixin, Base):
    """One allergy or intolerance."""

    __tablename__ = "profile_allergies"

    id: Mapped[str] = mapped_column(IdColumn, primary_key=True, default=new_id)
    patient_id: Mapped[str] = mapped_column(IdColumn, ForeignKey("patients.id"), nullable=False)
    substance: Mapped[str] = mapped_column(String(200), nullable=False)
    category: Mapped[str | None] = mapped_column(String(16))
    criticality: Mapped[str | None] = mapped_column(String(20))
    reaction: Mapped[str | None] = mapped_column(Text)
    clinical_status: Mapped[str] = mapped_column(String(12), nullable=False, default="active")
    origin: Mapped[str] = mapped_column(String(16), nullable=False)  # questionnaire | direct

    __table_args__ = (Index("ix_profile_allergies_patient", "patient_id"),)


class QuestionnaireResponseRow(_Source, TimestampMixin, Base):
    """One answering of the questionnaire."""

    __tablename__ = "profile_questionnaire_responses"

    id: Mapped[str] = mapped_column(IdColumn, primary_key=True, default=new_id)
    patient_id: Mapped[str] = mapped_column(IdColumn, ForeignKey("patients.id"), nullable=False)
    questionnaire: Mapped[str] = mapped_column(String(200), nullable=False)  # canonical URL|version
    status: Mapped[str] = mapped_column(String(20), nullable=False, default="completed")  # completed | amended
    authored_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False)
    answers: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)

    __table_args__ = (Index("ix_profile_questionnaire_responses_patient_at", "patient_id", "authored_at"),)


ROWS: dict[str, type[Any]] = {
    "Observation": ObservationRow,
    "Immunization": ImmunizationRow,
    "AllergyIntolerance": AllergyRow,
    "QuestionnaireResponse": QuestionnaireResponseRow,
}


class ProfileRepository:
    """Queries of the health profile's tables; the unit of work owns the session and the commit."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, row: Any) -> None:
        self.session.add(row)

    def get(self, resource_type: str, row_id: str) -> Any:
        """One row of a resource type by id, or None."""
        table = ROWS.get(resource_type)
        return self.session.get(table, row_id) if table is not None else None

    def observations(
        self,
        patient_id: str,
        *,
        kinds: Sequence[str] = (),
        since: dt.datetime | None = None,
        before: dt.datetime | None = None,
    ) -> list[ObservationRow]:
        """The patient's current measures (not removed), oldest first."""
        stmt = select(ObservationRow).where(ObservationRow.patient_id == patient_id, ObservationRow.status == "final")
        if kinds:
            stmt = stmt.where(ObservationRow.kind.in_(list(kinds)))
        if since is not None:
            stmt = stmt.where(ObservationRow.effective_at >= since)
        if before is not None:
            stmt = stmt.where(ObservationRow.effective_at < before)
        return list(self.session.scalars(stmt.order_by(ObservationRow.effective_at, ObservationRow.id)))

    def immunizations(self, patient_id: str) -> list[ImmunizationRow]:
        """The patient's vaccinations, oldest first."""
        stmt = select(ImmunizationRow).where(
            ImmunizationRow.patient_id == patient_id, ImmunizationRow.status == "completed"
        )
        return list(self.session.scalars(stmt.order_by(ImmunizationRow.occurrence_date, ImmunizationRow.id)))

    def allergies(self, patient_id: str, *, active_only: bool = False) -> list[AllergyRow]:
        """The patient's allergies, in the order they were recorded."""
        stmt = select(AllergyRow).where(AllergyRow.patient_id == patient_id)
        if active_only:
            stmt = stmt.where(AllergyRow.clinical_status == "active")
        return list(self.session.scalars(stmt.order_by(AllergyRow.created_at, AllergyRow.id)))

    def questionnaire_responses(self, patient_id: str) -> list[QuestionnaireResponseRow]:
        """Every answering of the questionnaire, newest first."""
        stmt = select(QuestionnaireResponseRow).where(QuestionnaireResponseRow.patient_id == patient_id)
        return list(
            self.session.scalars(
                stmt.order_by(QuestionnaireResponseRow.authored_at.desc(), QuestionnaireResponseRow.created_at.desc())
            )
        )

"""The audit table and its append-only repository (no update, no delete)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Integer, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from carnet.storage.orm import Base, IdColumn, UTCDateTime


class AuditRow(Base):
    __tablename__ = "audit_events"

    # An increasing integer key: it orders entries recorded within the same instant.
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False)
    actor_kind: Mapped[str] = mapped_column(String(20), nullable=False)
    actor_id: Mapped[str] = mapped_column(String(64), nullable=False)
    action: Mapped[str] = mapped_column(String(40), nullable=False)
    patient_id: Mapped[str | None] = mapped_column(IdColumn)
    outcome: Mapped[str] = mapped_column(String(10), nullable=False)
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    __table_args__ = (Index("ix_audit_events_patient_at", "patient_id", "at"),)


class AuditRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def append(self, row: AuditRow) -> None:
        self.session.add(row)

    def for_patient(self, patient_id: str) -> list[AuditRow]:
        stmt = select(AuditRow).where(AuditRow.patient_id == patient_id).order_by(AuditRow.at, AuditRow.id)
        return list(self.session.scalars(stmt))

"""The sharing log: one row per document shared on validation (:func:`carnet.sharing.share.share`).

A row is written in the same transaction as the deposit and the messages it sends (so it exists exactly when they
do): what the obligations said for the document (each duty due or not, with its rule), what was done for each
duty and when, and where the messages went. It is what makes ``share`` idempotent (one row per document unique
id), what the release of a held-back document reads to send it to the patient, and what the compliance report
counts (migration ``0008``). Rows are never deleted.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Index, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from carnet.storage.orm import Base, IdColumn, TimestampMixin, UTCDateTime, new_id

ADDRESS = String(320)


class ShareRow(TimestampMixin, Base):
    """One shared document: the duties, their fulfilment and the messages sent."""

    __tablename__ = "document_shares"

    id: Mapped[str] = mapped_column(IdColumn, primary_key=True, default=new_id)
    patient_id: Mapped[str] = mapped_column(IdColumn, ForeignKey("patients.id"), nullable=False)
    entry_id: Mapped[str] = mapped_column(IdColumn, ForeignKey("documents.id"), nullable=False)
    unique_id: Mapped[str] = mapped_column(String(128), nullable=False, unique=True)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    type_code: Mapped[str] = mapped_column(String(32), nullable=False)
    author_id: Mapped[str] = mapped_column(String(64), nullable=False)
    organisation_id: Mapped[str | None] = mapped_column(String(64))
    document_date: Mapped[dt.date] = mapped_column(Date, nullable=False)  # the date the obligations were asked for
    shared_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False)
    hospital_stay: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    constitutional_genetics: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    prior_agreement: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    announcement: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    # Per duty: whether it is due (the obligations' answer), what was done (DutyStatus) and when.
    dmp_due: Mapped[bool] = mapped_column(Boolean, nullable=False)
    dmp_status: Mapped[str] = mapped_column(String(12), nullable=False)
    dmp_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    pros_due: Mapped[bool] = mapped_column(Boolean, nullable=False)
    pros_status: Mapped[str] = mapped_column(String(12), nullable=False)
    pros_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    patient_due: Mapped[bool] = mapped_column(Boolean, nullable=False)
    patient_status: Mapped[str] = mapped_column(String(12), nullable=False)
    patient_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    professional_message_id: Mapped[str | None] = mapped_column(IdColumn)  # messages.id
    patient_message_id: Mapped[str | None] = mapped_column(IdColumn)
    sender_address: Mapped[str | None] = mapped_column(ADDRESS)
    patient_address: Mapped[str | None] = mapped_column(ADDRESS)
    # The rules and reasons of the answer, every recipient with its role, the warnings (ShareResult.to_dict).
    outcome: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)

    __table_args__ = (
        Index("ix_document_shares_author_date", "author_id", "document_date"),
        Index("ix_document_shares_organisation_date", "organisation_id", "document_date"),
        Index("ix_document_shares_entry", "entry_id"),
    )


class ShareRepository:
    """Queries of the sharing log; the unit of work owns the session and the commit."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, row: ShareRow) -> None:
        self.session.add(row)

    def by_unique_id(self, unique_id: str) -> ShareRow | None:
        return self.session.scalars(select(ShareRow).where(ShareRow.unique_id == unique_id)).one_or_none()

    def by_entry(self, entry_id: str, *, for_update: bool = False) -> ShareRow | None:
        stmt = select(ShareRow).where(ShareRow.entry_id == entry_id)
        if for_update and self.session.get_bind().dialect.name == "postgresql":
            stmt = stmt.with_for_update()
        return self.session.scalars(stmt).first()

    def in_period(
        self,
        *,
        author_id: str | None = None,
        organisation_id: str | None = None,
        start: dt.date,
        end: dt.date,
    ) -> Sequence[ShareRow]:
        """The rows of one author or one organisation whose document date is in ``[start, end]``."""
        stmt = select(ShareRow).where(ShareRow.document_date >= start, ShareRow.document_date <= end)
        if author_id is not None:
            stmt = stmt.where(ShareRow.author_id == author_id)
        if organisation_id is not None:
            stmt = stmt.where(ShareRow.organisation_id == organisation_id)
        return list(self.session.scalars(stmt.order_by(ShareRow.document_date, ShareRow.shared_at, ShareRow.id)))

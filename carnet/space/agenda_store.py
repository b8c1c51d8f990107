"""The agenda's and the reimbursements' tables (``agenda_*``, ``reimbursement_*``, migration ``0012``).

Reached only from :mod:`carnet.space.agenda` and :mod:`carnet.space.reimbursements`, whose every function asks the
access decision first and writes its audit entry in the same transaction. Rows are never deleted: a cancelled event
keeps its row (``status = cancelled``), a regenerated feed token replaces the old one (which then opens nothing).

- ``agenda_events``: one event (appointment, reminder, planned vaccination or screening), when, where, who added it;
- ``agenda_feeds``: the holder's secret iCalendar address (one token per space, revocable, regenerable);
- ``agenda_reminders``: the e-mail reminder sent for an event at its start time (unique: each reminder sent once);
- ``reimbursement_lines``: one line of the insurer's feed (unique per space and line id: imported once).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from carnet.storage.orm import Base, IdColumn, TimestampMixin, UTCDateTime, new_id


class AgendaEventRow(TimestampMixin, Base):
    """One event of the holder's agenda."""

    __tablename__ = "agenda_events"

    id: Mapped[str] = mapped_column(IdColumn, primary_key=True, default=new_id)
    patient_id: Mapped[str] = mapped_column(IdColumn, ForeignKey("patients.id"), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)  # appointment | reminder | vaccination | screening
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    start_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False)
    end_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    place: Mapped[str | None] = mapped_column(String(300))
    description: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(12), nullable=False)  # proposed | booked | cancelled
    sequence: Mapped[int] = mapped_column(Integer, nullable=False, default=0)  # iCalendar SEQUENCE
    source_kind: Mapped[str] = mapped_column(String(16), nullable=False)  # patient | professional | establishment…
    source_id: Mapped[str] = mapped_column(String(64), nullable=False)
    source_name: Mapped[str | None] = mapped_column(String(200))
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_agenda_events_patient_start", "patient_id", "start_at"),)


class AgendaFeedRow(Base):
    """The holder's secret iCalendar feed address (``/agenda/<token>.ics``)."""

    __tablename__ = "agenda_feeds"

    patient_id: Mapped[str] = mapped_column(IdColumn, ForeignKey("patients.id"), primary_key=True)
    token: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False)


class AgendaReminderRow(Base):
    """The reminder sent for an event at a given start (a moved event gets its own reminder)."""

    __tablename__ = "agenda_reminders"

    id: Mapped[str] = mapped_column(IdColumn, primary_key=True, default=new_id)
    event_id: Mapped[str] = mapped_column(IdColumn, ForeignKey("agenda_events.id"), nullable=False)
    start_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False)
    notification_id: Mapped[str | None] = mapped_column(IdColumn, ForeignKey("notifications.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False)

    __table_args__ = (UniqueConstraint("event_id", "start_at", name="uq_agenda_reminders_event_start"),)


class ReimbursementLineRow(Base):
    """One reimbursed act of the insurer's feed; amounts in euro cents."""

    __tablename__ = "reimbursement_lines"

    id: Mapped[str] = mapped_column(IdColumn, primary_key=True, default=new_id)
    patient_id: Mapped[str] = mapped_column(IdColumn, ForeignKey("patients.id"), nullable=False)
    line_id: Mapped[str] = mapped_column(String(64), nullable=False)  # the insurer's id of the line
    care_date: Mapped[dt.date] = mapped_column(Date, nullable=False)
    act_code: Mapped[str | None] = mapped_column(String(32))
    act_label: Mapped[str] = mapped_column(String(300), nullable=False)
    category: Mapped[str | None] = mapped_column(String(64))  # e.g. the CNAM-HR section (Médicaments, Biologie…)
    professional: Mapped[str | None] = mapped_column(String(200))
    paid_cents: Mapped[int | None] = mapped_column(Integer)
    reimbursed_cents: Mapped[int | None] = mapped_column(Integer)
    left_cents: Mapped[int | None] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(8), nullable=False)  # csv | json | cda
    source_ref: Mapped[str | None] = mapped_column(String(100))  # the file's SHA-256, or the CDA document's id
    imported_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False)

    __table_args__ = (
        UniqueConstraint("patient_id", "line_id", name="uq_reimbursement_lines_patient_line"),
        Index("ix_reimbursement_lines_patient_date", "patient_id", "care_date"),
    )


class AgendaRepository:
    """Queries of the agenda's and reimbursements' tables; the unit of work owns the session and the commit."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, row: object) -> None:
        self.session.add(row)

    def event(self, event_id: str) -> AgendaEventRow | None:
        return self.session.get(AgendaEventRow, event_id)

    def events(
        self, patient_id: str, *, since: dt.datetime | None = None, before: dt.datetime | None = None
    ) -> list[AgendaEventRow]:
        """The patient's events starting in ``[since, before)``, in order of start."""
        stmt = select(AgendaEventRow).where(AgendaEventRow.patient_id == patient_id)
        if since is not None:
            stmt = stmt.where(AgendaEventRow.start_at >= since)
        if before is not None:
            stmt = stmt.where(AgendaEventRow.start_at < before)
        return list(self.session.scalars(stmt.order_by(AgendaEventRow.start_at, AgendaEventRow.id)))

    def starting_between(self, since: dt.datetime, before: dt.datetime) -> list[AgendaEventRow]:
        """Every space's events (not cancelled) starting in ``[since, before)`` — the reminders' job."""
        stmt = select(AgendaEventRow).where(
            AgendaEventRow.start_at >= since, AgendaEventRow.start_at < before, AgendaEventRow.status != "cancelled"
        )
        return list(self.session.scalars(stmt.order_by(AgendaEventRow.start_at, AgendaEventRow.id)))

    def reminded(self, event_id: str, start_at: dt.datetime) -> bool:
        stmt = select(AgendaReminderRow.id).where(
            AgendaReminderRow.event_id == event_id, AgendaReminderRow.start_at == start_at
        )
        return self.session.scalars(stmt).first() is not None

    def feed(self, patient_id: str) -> AgendaFeedRow | None:
        return self.session.get(AgendaFeedRow, patient_id)

    def feed_by_token(self, token: str) -> AgendaFeedRow | None:
        return self.session.scalars(select(AgendaFeedRow).where(AgendaFeedRow.token == token)).one_or_none()

    def line(self, patient_id: str, line_id: str) -> ReimbursementLineRow | None:
        stmt = select(ReimbursementLineRow).where(
            ReimbursementLineRow.patient_id == patient_id, ReimbursementLineRow.line_id == line_id
        )
        return self.session.scalars(stmt).one_or_none()

    def line_by_id(self, row_id: str) -> ReimbursementLineRow | None:
        return self.session.get(ReimbursementLineRow, row_id)

    def lines(
        self, patient_id: str, *, since: dt.date | None = None, until: dt.date | None = None
    ) -> list[ReimbursementLineRow]:
        """The patient's lines with a care date in ``[since, until]``, newest first."""
        stmt = select(ReimbursementLineRow).where(ReimbursementLineRow.patient_id == patient_id)
        if since is not None:
            stmt = stmt.where(ReimbursementLineRow.care_date >= since)
        if until is not None:
            stmt = stmt.where(ReimbursementLineRow.care_date <= until)
        order = (ReimbursementLineRow.care_date.desc(), ReimbursementLineRow.line_id)
        return list(self.session.scalars(stmt.order_by(*order)))

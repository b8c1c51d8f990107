"""Tables of the notifications: in-space notifications, the e-mail outbox, preferences, first accesses."""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Table, Text, bindparam, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column

from carnet.storage.orm import Base, IdColumn, UTCDateTime, new_id


class NotificationRow(Base):
    """A notification shown in the holder's space."""

    __tablename__ = "notifications"

    id: Mapped[str] = mapped_column(IdColumn, primary_key=True, default=new_id)
    patient_id: Mapped[str] = mapped_column(IdColumn, ForeignKey("patients.id"), nullable=False)
    kind: Mapped[str] = mapped_column(String(24), nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False)
    title_fr: Mapped[str] = mapped_column(String(200), nullable=False)
    body_fr: Mapped[str] = mapped_column(Text, nullable=False)
    read_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)

    __table_args__ = (Index("ix_notifications_patient_created", "patient_id", "created_at"),)


class MailOutboxRow(Base):
    """An e-mail waiting to be sent (pending), delivered (sent) or given up after too many attempts (failed)."""

    __tablename__ = "mail_outbox"

    id: Mapped[str] = mapped_column(IdColumn, primary_key=True, default=new_id)
    notification_id: Mapped[str] = mapped_column(IdColumn, ForeignKey("notifications.id"), nullable=False)
    to_address: Mapped[str] = mapped_column(String(320), nullable=False)
    subject: Mapped[str] = mapped_column(String(200), nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[str] = mapped_column(String(8), nullable=False, default="pending")
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False)
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False)

    __table_args__ = (Index("ix_mail_outbox_status_next", "status", "next_attempt_at"),)


class NotificationPreferenceRow(Base):
    """The holder's choice: e-mail notifications on or off, and where."""

    __tablename__ = "notification_preferences"

    patient_id: Mapped[str] = mapped_column(IdColumn, ForeignKey("patients.id"), primary_key=True)
    email: Mapped[str | None] = mapped_column(String(320))
    email_enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)


class ProfessionalFirstAccessRow(Base):
    """The first time a professional accessed a holder's record (one row per pair)."""

    __tablename__ = "professional_first_accesses"

    patient_id: Mapped[str] = mapped_column(IdColumn, ForeignKey("patients.id"), primary_key=True)
    professional_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False)


_INSERT_NOTIFICATION = insert(cast(Table, NotificationRow.__table__))
_INSERT_MAIL = insert(cast(Table, MailOutboxRow.__table__))
_PREFERENCES = cast(Table, NotificationPreferenceRow.__table__).c
_EMAIL_PREFERENCES = select(_PREFERENCES.email, _PREFERENCES.email_enabled).where(
    _PREFERENCES.patient_id == bindparam("patient_id")
)


class NotificationRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, row: Any) -> None:
        self.session.add(row)

    def insert_notification(self, **values: Any) -> None:
        """Write one notification row (every column given) with a plain INSERT; the session is not involved."""
        self.session.connection().execute(_INSERT_NOTIFICATION, values)

    def insert_mail(self, **values: Any) -> None:
        """Write one outbox row (every column given) with a plain INSERT."""
        self.session.connection().execute(_INSERT_MAIL, values)

    def get(self, notification_id: str) -> NotificationRow | None:
        return self.session.get(NotificationRow, notification_id)

    def for_patient(self, patient_id: str) -> list[NotificationRow]:
        stmt = (
            select(NotificationRow)
            .where(NotificationRow.patient_id == patient_id)
            .order_by(NotificationRow.created_at.desc(), NotificationRow.id)
        )
        return list(self.session.scalars(stmt))

    def outbox_for(self, notification_id: str) -> list[MailOutboxRow]:
        stmt = select(MailOutboxRow).where(MailOutboxRow.notification_id == notification_id)
        return list(self.session.scalars(stmt))

    def preferences(self, patient_id: str) -> NotificationPreferenceRow | None:
        return self.session.get(NotificationPreferenceRow, patient_id)

    def email_preferences(self, patient_id: str) -> Any:
        """The holder's ``email`` and ``email_enabled`` as a row (None without preferences), read from the
        database: the caller flushes first (a preference changed in the session is then in the database)."""
        return self.session.connection().execute(_EMAIL_PREFERENCES, {"patient_id": patient_id}).first()

    def record_first_access(self, patient_id: str, professional_id: str, at: dt.datetime) -> bool:
        """Insert the pair unless it exists; True if this call inserted it (safe under concurrency)."""
        values = {"patient_id": patient_id, "professional_id": professional_id, "at": at}
        dialect = self.session.connection().dialect.name
        stmt: Any
        if dialect == "postgresql":
            stmt = postgresql.insert(ProfessionalFirstAccessRow).values(values).on_conflict_do_nothing()
        elif dialect == "sqlite":
            stmt = sqlite.insert(ProfessionalFirstAccessRow).values(values).on_conflict_do_nothing()
        else:  # pragma: no cover - only SQLite and PostgreSQL are supported
            stmt = insert(ProfessionalFirstAccessRow).values(values)
        # RETURNING yields a row only if the insert happened (ON CONFLICT DO NOTHING otherwise).
        inserted = self.session.execute(stmt.returning(ProfessionalFirstAccessRow.professional_id)).first()
        return inserted is not None

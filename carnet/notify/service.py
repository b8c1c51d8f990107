"""Notifying the holder, inside the caller's unit of work (transactional outbox).

The in-space notification and, when the holder asked for e-mails, a pending ``mail_outbox`` row are written
in the same transaction as the change they report: if it rolls back, there is no notification and no e-mail.
:func:`carnet.notify.mailer.deliver_pending` sends the outbox afterwards.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from carnet.audit.model import jsonable
from carnet.errors import NotFound, ValidationError
from carnet.notify.store import NotificationPreferenceRow, NotificationRow
from carnet.notify.templates import NotificationKind, email_body, render
from carnet.storage.orm import new_id

if TYPE_CHECKING:
    from carnet.storage.uow import UnitOfWork

__all__ = [
    "Notification",
    "NotificationKind",
    "first_access_needed",
    "list_for",
    "mark_read",
    "notify",
    "set_preferences",
]


@dataclass(frozen=True)
class Notification:
    id: str
    patient_id: str
    kind: NotificationKind
    created_at: dt.datetime
    title: str
    body: str
    read_at: dt.datetime | None
    detail: dict[str, Any]


def _view(row: NotificationRow) -> Notification:
    return Notification(
        id=row.id,
        patient_id=row.patient_id,
        kind=NotificationKind(row.kind),
        created_at=row.created_at,
        title=row.title_fr,
        body=row.body_fr,
        read_at=row.read_at,
        detail=dict(row.detail),
    )


def notify(
    *,
    uow: UnitOfWork,
    patient_id: str,
    kind: NotificationKind | str,
    detail: Mapping[str, Any],
    actor_label: str,
) -> Notification:
    """Write the notification (and the e-mail to send, if enabled) in ``uow``; the caller commits."""
    kind = NotificationKind(kind)
    now = uow.clock.now()
    rendered = render(kind, at=now, actor_label=actor_label, detail=detail)
    stored_detail: dict[str, Any] = dict(jsonable(dict(detail)) or {})
    stored_detail.setdefault("actor_label", actor_label)
    # What the caller left pending is flushed first (the preferences' read did it, as an autoflush), then the
    # preferences read as two columns and the rows written with plain INSERTs: nothing of them is read back as ORM
    # objects in the unit of work, and adding them to the session cost two flushes for two small rows.
    uow.flush()
    prefs = uow.notifications.email_preferences(patient_id)
    notification = Notification(
        id=new_id(),
        patient_id=patient_id,
        kind=kind,
        created_at=now,
        title=rendered.title,
        body=rendered.body,
        read_at=None,
        detail=dict(stored_detail),
    )
    uow.notifications.insert_notification(
        id=notification.id,
        patient_id=patient_id,
        kind=kind.value,
        created_at=now,
        title_fr=rendered.title,
        body_fr=rendered.body,
        read_at=None,
        detail=stored_detail,
    )
    if prefs is not None and prefs.email_enabled and prefs.email:
        uow.notifications.insert_mail(
            id=new_id(),
            notification_id=notification.id,
            to_address=prefs.email,
            subject=rendered.title,
            body=email_body(rendered),
            status="pending",
            attempts=0,
            next_attempt_at=now,
            last_error=None,
            sent_at=None,
            created_at=now,
        )
    return notification


def set_preferences(*, uow: UnitOfWork, patient_id: str, email: str | None, enabled: bool) -> None:
    """Record where (and whether) the holder wants e-mails; e-mails need an address."""
    email = (email or "").strip() or None
    if enabled and email is None:
        raise ValidationError(
            "une adresse électronique est nécessaire pour recevoir les notifications par courriel", field="email"
        )
    if email is not None and ("@" not in email or any(c in email for c in "\r\n <>")):
        raise ValidationError("adresse électronique invalide", field="email")
    prefs = uow.notifications.preferences(patient_id)
    if prefs is None:
        prefs = NotificationPreferenceRow(patient_id=patient_id)
        uow.notifications.add(prefs)
    prefs.email = email
    prefs.email_enabled = enabled
    uow.flush()


def list_for(*, uow: UnitOfWork, patient_id: str) -> list[Notification]:
    """The holder's notifications, newest first."""
    return [_view(row) for row in uow.notifications.for_patient(patient_id)]


def mark_read(*, uow: UnitOfWork, patient_id: str, notification_id: str) -> Notification:
    """Mark one of the holder's notifications as read (idempotent)."""
    row = uow.notifications.get(notification_id)
    if row is None or row.patient_id != patient_id:
        raise NotFound("notification introuvable")
    if row.read_at is None:
        row.read_at = uow.clock.now()
        uow.flush()
    return _view(row)


def first_access_needed(uow: UnitOfWork, patient_id: str, professional_id: str) -> bool:
    """Record that ``professional_id`` accessed the record; True only the first time (notify then)."""
    return uow.notifications.record_first_access(patient_id, professional_id, uow.clock.now())

"""Delivering messages to external MSSanté domains: the transactional outbox, retries with backoff, bounces.

``send`` writes one outbox row per external recipient in the same transaction as the message. This worker takes
the due rows one at a time, builds the message (:func:`carnet.messaging.mime.build`: the same bytes, Message-ID
and Date on every attempt) and hands it to the :class:`~carnet.messaging.transport.Transport`:

- accepted → the row is ``sent`` (and the recipient's delivery state), committed on its own;
- a temporary failure (4xx, relay unreachable) → ``attempts`` + 1 and the next attempt after
  :func:`carnet.notify.mailer.backoff` (1 min × 2^attempts, at most 6 h), the same schedule and limit
  (``MAX_ATTEMPTS``) as the notification e-mails; after the last attempt the row is ``failed``;
- a permanent failure (5xx) → ``bounced`` with the relay's reply, at once.

Delivery is **at least once**: a crash between the relay accepting a message and the commit of ``sent`` leaves
that one row pending, and it is sent again, with the same Message-ID, so the receiving side can drop the copy
(Carnet's own gateway does: :func:`carnet.messaging.service.receive` stores a Message-ID once). Nothing is
deleted. On PostgreSQL rows are taken with ``FOR UPDATE SKIP LOCKED``: concurrent workers never send one row
twice at the same time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from carnet.errors import CarnetError
from carnet.messaging import mime
from carnet.messaging.model import DeliveryStatus
from carnet.messaging.store import AttachmentRow, MessageOutboxRow, MessageRow, RecipientRow
from carnet.messaging.transport import DeliveryError, Transport
from carnet.notify.mailer import MAX_ATTEMPTS, backoff

if TYPE_CHECKING:
    import datetime as dt

    from carnet.bootstrap import Platform

__all__ = ["OutboxReport", "deliver_outbox"]


@dataclass(frozen=True, slots=True)
class OutboxReport:
    sent: int = 0
    retried: int = 0  # temporary failure, rescheduled
    failed: int = 0  # given up after MAX_ATTEMPTS
    bounced: int = 0  # refused for good (5xx)


def _due(session: Session, now: dt.datetime, limit: int) -> list[str]:
    stmt = (
        select(MessageOutboxRow.id)
        .where(MessageOutboxRow.status == "pending", MessageOutboxRow.next_attempt_at <= now)
        .order_by(MessageOutboxRow.next_attempt_at, MessageOutboxRow.created_at, MessageOutboxRow.id)
        .limit(limit)
    )
    return list(session.scalars(stmt))


def _lock(session: Session, outbox_id: str, now: dt.datetime) -> MessageOutboxRow | None:
    stmt = select(MessageOutboxRow).where(
        MessageOutboxRow.id == outbox_id,
        MessageOutboxRow.status == "pending",
        MessageOutboxRow.next_attempt_at <= now,
    )
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    return session.scalars(stmt).one_or_none()


def build_bytes(session: Session, platform: Platform, message: MessageRow) -> bytes:
    """The message as it goes on the wire (identical on every attempt)."""
    recipients = list(session.scalars(select(RecipientRow).where(RecipientRow.message_id == message.id)))
    attachments = list(
        session.scalars(
            select(AttachmentRow).where(AttachmentRow.message_id == message.id).order_by(AttachmentRow.position)
        )
    )
    return mime.build(
        from_address=message.sender_address,
        to=[r.address for r in recipients if r.role == "to"],
        cc=[r.address for r in recipients if r.role == "cc"],
        subject=message.subject,
        text=message.text,
        html=message.html,
        attachments=[
            mime.MailAttachment(filename=a.filename, content_type=a.content_type, data=platform.blobs.get(a.sha256))
            for a in attachments
        ],
        message_id=message.message_id,
        in_reply_to=message.in_reply_to,
        references=message.references,
        date=message.sent_at,
    )


def deliver_outbox(*, platform: Platform, transport: Transport, limit: int = 100) -> OutboxReport:
    """Send the due outbox rows; one transaction (and commit) per row."""
    now = platform.clock.now()
    with platform.session_factory() as session:
        ids = _due(session, now, limit)
    sent = retried = failed = bounced = 0
    for outbox_id in ids:
        with platform.session_factory() as session:
            row = _lock(session, outbox_id, now)
            if row is None:
                continue  # another worker took it
            message = session.get(MessageRow, row.message_id)
            recipient = session.get(RecipientRow, row.recipient_id)
            assert message is not None and recipient is not None
            try:
                data = build_bytes(session, platform, message)
                transport.send(envelope_from=message.sender_address, recipients=[row.to_address], message=data)
            except DeliveryError as exc:
                row.attempts += 1
                reply = exc.recipients[0] if exc.recipients else None
                row.last_code = reply.code if reply is not None else exc.code
                row.last_error = (reply.text if reply is not None else exc.text)[:2000]
                temporary = reply.temporary if reply is not None else exc.temporary
                if not temporary:
                    row.status = recipient.status = DeliveryStatus.BOUNCED.value
                    bounced += 1
                elif row.attempts >= MAX_ATTEMPTS:
                    row.status = recipient.status = DeliveryStatus.FAILED.value
                    failed += 1
                else:
                    row.next_attempt_at = now + backoff(row.attempts)
                    retried += 1
            except CarnetError as exc:  # the message cannot be written (a bad stored address): no retry helps
                row.attempts += 1
                row.last_error = f"{exc.code}: {exc.message}"[:2000]
                row.status = recipient.status = DeliveryStatus.BOUNCED.value
                bounced += 1
            else:
                row.status = recipient.status = DeliveryStatus.SENT.value
                row.sent_at = now
                row.attempts += 1
                row.last_error = None
                sent += 1
            session.commit()
    return OutboxReport(sent=sent, retried=retried, failed=failed, bounced=bounced)

"""Sending the e-mail outbox over SMTP, with retries and exponential backoff.

Delivery is *at least once*, with a window of one message: each message is sent, then marked ``sent`` and
committed on its own. A crash (or a lost commit) between the SMTP server accepting a message and that commit
leaves this one row ``pending``, and it is sent again on the next run. Every message carries a ``Message-ID``
derived from the outbox id (``<outbox-{id}@carnet>``), identical on every attempt, so receivers can discard the
duplicate. Nothing else is ever sent twice, and no row is ever deleted: after ``MAX_ATTEMPTS`` failures a row is
marked ``failed`` and kept with its last error.

Run :func:`deliver_pending` from one worker at a time (a scheduler, ``cron``): on PostgreSQL rows are taken
with ``FOR UPDATE SKIP LOCKED``, so two concurrent workers do not pick the same row.
"""

from __future__ import annotations

import datetime as dt
import smtplib
import ssl
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from carnet.clock import Clock
from carnet.notify.store import MailOutboxRow
from carnet.settings import Settings

__all__ = ["MAX_ATTEMPTS", "DeliveryReport", "backoff", "deliver_pending", "message_id"]

MAX_ATTEMPTS = 10
BASE_DELAY = dt.timedelta(minutes=1)
MAX_DELAY = dt.timedelta(hours=6)
SMTP_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class DeliveryReport:
    sent: int = 0
    failed: int = 0  # given up for good in this run (status ``failed``)
    retried: int = 0  # attempt failed, row rescheduled


def backoff(attempts: int) -> dt.timedelta:
    """Delay before the next attempt after ``attempts`` failed ones: 1 min × 2^attempts, at most 6 h."""
    if attempts >= 9:  # 2^9 min > 6 h already; avoids huge numbers
        return MAX_DELAY
    return min(BASE_DELAY * (1 << attempts), MAX_DELAY)


def message_id(outbox_id: str) -> str:
    return f"<outbox-{outbox_id}@carnet>"


def _message(row: MailOutboxRow, settings: Settings, now: dt.datetime) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = settings.mail_from
    msg["To"] = row.to_address
    msg["Subject"] = row.subject
    msg["Message-ID"] = message_id(row.id)
    msg["Date"] = format_datetime(now)
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(row.body, charset="utf-8")
    return msg


def _envelope_from(settings: Settings) -> str:
    from email.headerregistry import HeaderRegistry

    header = HeaderRegistry()("From", settings.mail_from)
    addresses: tuple[Address, ...] = getattr(header, "addresses", ())
    return addresses[0].addr_spec if addresses else settings.mail_from


def _connect(settings: Settings) -> smtplib.SMTP:
    if not settings.smtp_host:
        raise smtplib.SMTPException("aucun serveur SMTP configuré (CARNET_SMTP_HOST)")
    smtp = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=SMTP_TIMEOUT_S)
    try:
        smtp.ehlo()
        if settings.smtp_starttls:
            smtp.starttls(context=ssl.create_default_context())
            smtp.ehlo()
        if settings.smtp_username and settings.smtp_password is not None:
            smtp.login(settings.smtp_username, settings.smtp_password.get_secret_value())
    except BaseException:
        smtp.close()
        raise
    return smtp


def _due_ids(session: Session, now: dt.datetime, limit: int) -> list[str]:
    stmt = (
        select(MailOutboxRow.id)
        .where(MailOutboxRow.status == "pending", MailOutboxRow.next_attempt_at <= now)
        .order_by(MailOutboxRow.next_attempt_at, MailOutboxRow.created_at, MailOutboxRow.id)
        .limit(limit)
    )
    return list(session.scalars(stmt))


def _lock_row(session: Session, outbox_id: str, now: dt.datetime) -> MailOutboxRow | None:
    """The row, locked for this transaction, if it is still due (another worker may have sent it)."""
    stmt = select(MailOutboxRow).where(
        MailOutboxRow.id == outbox_id, MailOutboxRow.status == "pending", MailOutboxRow.next_attempt_at <= now
    )
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    return session.scalars(stmt).one_or_none()


def _failed(row: MailOutboxRow, error: BaseException, now: dt.datetime) -> bool:
    """Record a failed attempt; True if the row is now given up (``failed``)."""
    row.attempts += 1
    row.last_error = f"{type(error).__name__}: {error}"[:2000]
    if row.attempts >= MAX_ATTEMPTS:
        row.status = "failed"
        return True
    row.next_attempt_at = now + backoff(row.attempts)
    return False


def deliver_pending(
    *, session_factory: sessionmaker[Session], clock: Clock, settings: Settings, limit: int = 100
) -> DeliveryReport:
    """Send the due pending e-mails; one transaction (and commit) per message."""
    now = clock.now()
    with session_factory() as session:
        ids = _due_ids(session, now, limit)
    if not ids:
        return DeliveryReport()
    sent = failed = retried = 0
    smtp: smtplib.SMTP | None = None
    connect_error: BaseException | None = None
    envelope_from = _envelope_from(settings)
    try:
        for outbox_id in ids:
            with session_factory() as session:
                row = _lock_row(session, outbox_id, now)
                if row is None:
                    continue
                try:
                    if smtp is None:
                        if connect_error is not None:  # server unreachable: do not retry it for every row
                            raise connect_error
                        try:
                            smtp = _connect(settings)
                        except (OSError, smtplib.SMTPException) as exc:
                            connect_error = exc
                            raise
                    smtp.send_message(_message(row, settings, now), from_addr=envelope_from, to_addrs=[row.to_address])
                except (OSError, smtplib.SMTPException) as exc:
                    if _failed(row, exc, now):
                        failed += 1
                    else:
                        retried += 1
                    if smtp is not None and isinstance(exc, OSError | smtplib.SMTPServerDisconnected):
                        # the connection is unusable: try a new one for the next message
                        _quit(smtp)
                        smtp = None
                else:
                    row.status = "sent"
                    row.sent_at = now
                    row.last_error = None
                    sent += 1
                session.commit()
    finally:
        if smtp is not None:
            _quit(smtp)
    return DeliveryReport(sent=sent, failed=failed, retried=retried)


def _quit(smtp: smtplib.SMTP) -> None:
    try:
        smtp.quit()
    except (OSError, smtplib.SMTPException):
        smtp.close()

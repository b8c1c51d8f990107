"""Sending messages out: the :class:`Transport` port and its SMTP relay adapter.

A transport hands one message to the next hop and says, when it cannot, whether trying again later may work
(:attr:`DeliveryError.temporary`: the relay answered 4xx, or could not be reached) or not (5xx: the message
bounces, the sender must be told). When the relay takes the message for some recipients and refuses others,
the error lists each refused recipient with its reply, and the accepted ones must not be sent again.

:class:`SmtpRelay` talks SMTP (RFC 5321) to the operator's relay with ``smtplib``: STARTTLS with certificate
and host-name verification on by default (MSSanté requires TLS between operators), optional AUTH, a timeout.
:class:`RecordingTransport` is the in-memory fake: it keeps what it was asked to send and can be told to fail.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

__all__ = [
    "DeliveryError",
    "RecipientRefusal",
    "RecordingTransport",
    "SentMessage",
    "SmtpRelay",
    "Transport",
]


@dataclass(frozen=True)
class RecipientRefusal:
    """One recipient the relay refused, with its reply."""

    address: str
    code: int
    text: str

    @property
    def temporary(self) -> bool:
        return 400 <= self.code < 500


class DeliveryError(Exception):
    """The message was not handed over (or not for every recipient).

    ``temporary``: try again later (4xx reply, connection or TLS failure, timeout); otherwise it is a bounce.
    ``code``/``text``: the relay's reply, when there was one. ``recipients``: the recipients this error is
    about, each with its own reply; when ``partial`` is true the relay accepted the message for every other
    recipient, and only these must be retried or bounced.
    """

    def __init__(
        self,
        text: str,
        *,
        temporary: bool,
        code: int | None = None,
        recipients: Sequence[RecipientRefusal] = (),
        partial: bool = False,
    ) -> None:
        super().__init__(f"{code} {text}" if code is not None else text)
        self.text = text
        self.temporary = temporary
        self.code = code
        self.recipients: tuple[RecipientRefusal, ...] = tuple(recipients)
        self.partial = partial


class Transport(Protocol):
    """Hands one message to the next hop; raises :class:`DeliveryError` when it cannot."""

    def send(self, *, envelope_from: str, recipients: Sequence[str], message: bytes) -> None: ...


def _reply_text(value: bytes | str) -> str:
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
    return " ".join(text.split())


class SmtpRelay:
    """A :class:`Transport` over SMTP to one relay.

    ``starttls``: upgrade the connection before anything is sent, verifying the relay's certificate against
    ``ssl_context`` (default: the system's trust store, or ``ca_file`` when given, with host-name checks);
    a relay that does not offer STARTTLS is then refused (temporary: it may be a misconfiguration) rather
    than talked to in clear. ``username``/``password``: AUTH after STARTTLS.
    """

    def __init__(
        self,
        *,
        host: str,
        port: int = 25,
        starttls: bool = True,
        ssl_context: ssl.SSLContext | None = None,
        ca_file: str | None = None,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 30.0,
        local_hostname: str | None = None,
    ) -> None:
        if ssl_context is not None and ca_file is not None:
            raise ValueError("give ssl_context or ca_file, not both")
        self.host = host
        self.port = port
        self.starttls = starttls
        self.ssl_context = ssl_context or ssl.create_default_context(cafile=ca_file)
        self.username = username
        self._password = password
        self.timeout = timeout
        self.local_hostname = local_hostname

    def __repr__(self) -> str:  # the password never shows up in a log
        return f"SmtpRelay(host={self.host!r}, port={self.port}, starttls={self.starttls})"

    def _connect(self) -> smtplib.SMTP:
        smtp = smtplib.SMTP(self.host, self.port, local_hostname=self.local_hostname, timeout=self.timeout)
        try:
            smtp.ehlo()
            if self.starttls:
                if not smtp.has_extn("starttls"):
                    raise DeliveryError(
                        f"le relais {self.host} ne propose pas STARTTLS : rien n'est envoyé en clair", temporary=True
                    )
                smtp.starttls(context=self.ssl_context)
                smtp.ehlo()
            if self.username is not None and self._password is not None:
                smtp.login(self.username, self._password)
        except BaseException:
            smtp.close()
            raise
        return smtp

    def send(self, *, envelope_from: str, recipients: Sequence[str], message: bytes) -> None:
        """Send ``message`` to ``recipients``; raises :class:`DeliveryError` (see the class docstring)."""
        if not recipients:
            raise DeliveryError("aucun destinataire", temporary=False)
        try:
            smtp = self._connect()
        except DeliveryError:
            raise
        except smtplib.SMTPAuthenticationError as exc:
            raise DeliveryError(
                f"authentification refusée par le relais : {_reply_text(exc.smtp_error)}",
                temporary=False,
                code=exc.smtp_code,
                recipients=_all(recipients, exc.smtp_code, exc.smtp_error),
            ) from None
        except smtplib.SMTPResponseException as exc:
            raise self._from_reply(exc.smtp_code, exc.smtp_error, recipients) from None
        except (ssl.SSLError, ssl.CertificateError) as exc:
            raise DeliveryError(f"échec TLS avec le relais {self.host} : {exc}", temporary=True) from None
        except (OSError, smtplib.SMTPException) as exc:  # refused, unreachable, timeout, disconnected
            raise DeliveryError(f"relais {self.host}:{self.port} injoignable : {exc}", temporary=True) from None
        try:
            refused = smtp.sendmail(envelope_from, list(recipients), message)
        except smtplib.SMTPRecipientsRefused as exc:
            raise _refusals(exc.recipients, partial=False) from None
        except smtplib.SMTPResponseException as exc:  # MAIL FROM or DATA refused: about every recipient
            raise self._from_reply(exc.smtp_code, exc.smtp_error, recipients) from None
        except (OSError, smtplib.SMTPException) as exc:
            # the connection broke before the relay acknowledged DATA: nothing was taken, try again
            raise DeliveryError(f"connexion au relais perdue : {exc}", temporary=True) from None
        finally:
            _quit(smtp)
        if refused:
            raise _refusals(refused, partial=True)

    def _from_reply(self, code: int, reply: bytes | str, recipients: Sequence[str]) -> DeliveryError:
        text = _reply_text(reply)
        return DeliveryError(
            f"refusé par le relais : {text}",
            temporary=not 500 <= code < 600,
            code=code,
            recipients=_all(recipients, code, reply),
        )


def _all(recipients: Sequence[str], code: int, reply: bytes | str) -> tuple[RecipientRefusal, ...]:
    return tuple(RecipientRefusal(r, code, _reply_text(reply)) for r in recipients)


def _refusals(refused: Mapping[str, tuple[int, bytes]], *, partial: bool) -> DeliveryError:
    items = tuple(RecipientRefusal(address, code, _reply_text(reply)) for address, (code, reply) in refused.items())
    temporary = all(item.temporary for item in items)
    detail = "; ".join(f"{item.address} : {item.code} {item.text}" for item in items)
    codes = {item.code for item in items}
    return DeliveryError(
        f"destinataires refusés : {detail}",
        temporary=temporary,
        code=codes.pop() if len(codes) == 1 else None,
        recipients=items,
        partial=partial,
    )


def _quit(smtp: smtplib.SMTP) -> None:
    try:
        smtp.quit()
    except (OSError, smtplib.SMTPException):  # TimeoutError is an OSError
        smtp.close()


@dataclass(frozen=True)
class SentMessage:
    envelope_from: str
    recipients: tuple[str, ...]
    message: bytes


@dataclass
class RecordingTransport:
    """The in-memory :class:`Transport`: ``sent`` keeps every message; set ``fail_with`` to make it refuse."""

    sent: list[SentMessage] = field(default_factory=list)
    fail_with: DeliveryError | None = None

    def send(self, *, envelope_from: str, recipients: Sequence[str], message: bytes) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        self.sent.append(SentMessage(envelope_from, tuple(recipients), message))

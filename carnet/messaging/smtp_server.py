"""The inbound MSSanté gateway: an SMTP server (aiosmtpd) that receives mail from trusted operators.

Each SMTP stage refuses what it can as early as it can, with the reply that tells the sender what to do:

- ``MAIL FROM`` from a domain outside ``trusted_domains`` (the MSSanté "liste blanche" of operators)
  → ``550 5.7.1``; the null sender ``<>`` (bounces) is refused unless ``accept_null_sender``;
- ``RCPT TO`` outside ``local_domains`` → ``550 5.7.1`` (relay denied: this gateway delivers, it never
  forwards); a local address ``accept_recipient`` says does not exist → ``550 5.1.1``; more than
  ``max_recipients`` → ``452 4.5.3``;
- a message over ``max_message_bytes`` → ``552`` (at ``MAIL FROM`` when the client announces ``SIZE=``, else
  after ``DATA``); bytes that :func:`carnet.messaging.mime.parse` refuses → its code (``554`` malformed);
  a header ``From`` from an untrusted domain → ``550`` (the envelope alone is easy to align, the reader sees
  the header);
- then ``handler(mail)`` runs (in a worker thread: it does database work). It may raise
  :class:`~carnet.messaging.mime.RejectMail` to give its own reply. **``250`` is sent only after the handler
  returned**, that is after the service committed the message: if the handler fails in any other way the
  reply is ``451 4.3.0`` (temporary) and the error is logged, so the sending operator keeps the message and
  tries again. A message is never acknowledged and then lost.

STARTTLS is offered when ``tls_context`` is given, and required before ``MAIL`` when ``require_starttls``
(the default then: MSSanté traffic between operators is encrypted). ``8BITMIME`` and ``SMTPUTF8`` are
advertised. The server runs in its own thread (aiosmtpd's :class:`~aiosmtpd.controller.Controller`): use
``start()``/``stop()`` or ``with InboundGateway(...) as gateway:``.

One process parses and stores mail on one core (the GIL). ``reuse_port=True`` lets several gateway processes
listen on the same address (``SO_REUSEPORT``, Linux: the kernel spreads the connections among them), which is how
:mod:`carnet.messaging.gateway_pool` runs one gateway per core; the gateway keeps no state of its own, everything
is in the database.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import ssl
import time
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from carnet.messaging.mime import MAX_MESSAGE_BYTES, InboundMail, RejectMail, parse

__all__ = ["InboundGateway", "domain_of", "domain_matches"]

log = logging.getLogger(__name__)

MailHandler = Callable[[InboundMail], None]
RecipientCheck = Callable[[str], bool]


def domain_of(address: str) -> str:
    """The domain of an address, lower-cased, without a trailing dot (``""`` when there is none)."""
    _, at, domain = address.strip().rpartition("@")
    return domain.lower().rstrip(".") if at else ""


def domain_matches(domain: str, patterns: Iterable[str]) -> bool:
    """True when ``domain`` is one of ``patterns``; ``*.example.org`` matches any sub-domain of example.org."""
    domain = domain.lower().rstrip(".")
    for pattern in patterns:
        pattern = pattern.strip().lower().rstrip(".")
        if pattern.startswith("*."):
            if domain.endswith(pattern[1:]) and len(domain) > len(pattern) - 1:
                return True
        elif domain == pattern:
            return True
    return False


class _Handler:
    """The aiosmtpd hooks; each returns the reply line for its stage."""

    def __init__(self, gateway: InboundGateway) -> None:
        self.gateway = gateway

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, mail_options: list[str]
    ) -> str:
        g = self.gateway
        if not address:
            if not g.accept_null_sender:
                return "550 5.7.1 expéditeur vide (<>) refusé par cette passerelle"
        elif not domain_matches(domain_of(address), g.trusted_domains):
            log.info("refused sender %s from %s: untrusted domain", address, session.peer)
            return f"550 5.7.1 domaine expéditeur non autorisé : {domain_of(address) or address}"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        g = self.gateway
        if not domain_matches(domain_of(address), g.local_domains):
            return f"550 5.7.1 relais refusé : {address} n'est pas une adresse de cette plateforme"
        if len(envelope.rcpt_tos) >= g.max_recipients:
            return f"452 4.5.3 trop de destinataires (maximum {g.max_recipients} par message)"
        if g.accept_recipient is not None:
            check = g.accept_recipient
            try:
                exists = await asyncio.get_running_loop().run_in_executor(None, check, address)
            except Exception:
                log.exception("recipient check failed for %s", address)
                return "451 4.3.0 erreur temporaire de la plateforme, réessayez plus tard"
            if not exists:
                return f"550 5.1.1 boîte aux lettres inconnue : {address}"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        g = self.gateway
        raw = envelope.original_content or b""
        loop = asyncio.get_running_loop()
        try:
            # Parsed in a worker thread, like the handler: the event loop goes on reading the other connections.
            mail = await loop.run_in_executor(
                None,
                functools.partial(parse, raw, envelope_from=envelope.mail_from or "", envelope_to=envelope.rcpt_tos,
                                  max_bytes=g.max_message_bytes),
            )  # fmt: skip
            if mail.from_address and not domain_matches(domain_of(mail.from_address), g.trusted_domains):
                raise RejectMail(550, f"domaine de l'en-tête From non autorisé : {domain_of(mail.from_address)}")
        except RejectMail as refusal:
            log.info("refused message from %s: %s", envelope.mail_from, refusal)
            return refusal.smtp_reply()
        try:
            await loop.run_in_executor(None, g.handler, mail)
        except RejectMail as refusal:
            log.info("handler refused message %s from %s: %s", mail.message_id, envelope.mail_from, refusal)
            return refusal.smtp_reply()
        except Exception:
            # the sender keeps the message and retries: nothing is lost, nothing was acknowledged
            log.exception("handler failed for message %s from %s", mail.message_id, envelope.mail_from)
            return "451 4.3.0 erreur temporaire de la plateforme, le message sera réessayé"
        return "250 2.0.0 message reçu"


class _Controller(Controller):
    """aiosmtpd's controller, able to share its port with other processes (``SO_REUSEPORT``)."""

    def __init__(self, *args: Any, reuse_port: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.reuse_port = reuse_port

    def _create_server(self) -> Any:
        if not self.reuse_port:
            return super()._create_server()
        return self.loop.create_server(
            self._factory_invoker, host=self.hostname, port=self.port, ssl=self.ssl_context, reuse_port=True
        )

    def _trigger_server(self) -> None:
        # The start-up check connects once to make aiosmtpd build its protocol (and surface an error in it). With a
        # shared port that connection may reach another process: connect again until this one answered.
        if not self.reuse_port:
            super()._trigger_server()  # type: ignore[no-untyped-call]
            return
        deadline = time.monotonic() + self.ready_timeout
        while not self._factory_invoked.is_set() and time.monotonic() < deadline:
            try:
                super()._trigger_server()  # type: ignore[no-untyped-call]
            except OSError:
                time.sleep(0.01)


class InboundGateway:
    """The inbound SMTP server (see the module docstring)."""

    def __init__(
        self,
        *,
        handler: MailHandler,
        trusted_domains: Iterable[str],
        local_domains: Iterable[str],
        host: str = "127.0.0.1",
        port: int = 2525,
        tls_context: ssl.SSLContext | None = None,
        require_starttls: bool | None = None,
        max_message_bytes: int = MAX_MESSAGE_BYTES,
        max_recipients: int = 100,
        accept_recipient: RecipientCheck | None = None,
        accept_null_sender: bool = False,
        server_hostname: str | None = None,
        timeout: float = 300.0,
        reuse_port: bool = False,
    ) -> None:
        if require_starttls and tls_context is None:
            raise ValueError("require_starttls needs a tls_context")
        self.handler = handler
        self.trusted_domains = tuple(d.strip().lower() for d in trusted_domains if d.strip())
        self.local_domains = tuple(d.strip().lower() for d in local_domains if d.strip())
        if not self.local_domains:
            raise ValueError("an inbound gateway needs at least one local domain")
        self.host = host
        self.port = port
        self.tls_context = tls_context
        self.require_starttls = (tls_context is not None) if require_starttls is None else require_starttls
        self.max_message_bytes = max_message_bytes
        self.max_recipients = max_recipients
        self.accept_recipient = accept_recipient
        self.accept_null_sender = accept_null_sender
        self.server_hostname = server_hostname
        self.timeout = timeout
        self.reuse_port = reuse_port
        self._controller: Controller | None = None

    def start(self) -> None:
        """Start listening (in a background thread); returns once the server accepts connections."""
        if self._controller is not None:
            raise RuntimeError("the gateway is already running")
        params: dict[str, Any] = {
            "data_size_limit": self.max_message_bytes,
            "enable_SMTPUTF8": True,
            "decode_data": False,
            "timeout": self.timeout,
        }
        if self.tls_context is not None:
            params["tls_context"] = self.tls_context
            params["require_starttls"] = self.require_starttls
        controller = _Controller(
            _Handler(self),
            hostname=self.host,
            port=self.port,
            server_hostname=self.server_hostname,
            reuse_port=self.reuse_port,
            **params,
        )
        controller.start()
        self._controller = controller

    def stop(self) -> None:
        """Stop listening; connections in progress are closed."""
        if self._controller is not None:
            controller, self._controller = self._controller, None
            controller.stop()

    @property
    def running(self) -> bool:
        return self._controller is not None

    def __enter__(self) -> InboundGateway:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

"""The SMTP gateway end to end on loopback, on both backends, with real SMTP on both sides.

Outbound: the outbox is delivered by the real :class:`~carnet.messaging.transport.SmtpRelay` to an aiosmtpd
server playing the outside world (another operator's relay): accepted once with the message's Message-ID, a
relay that is down is retried later, a 5xx refusal is recorded as a bounce. Inbound: a real ``smtplib`` client
of a trusted operator talks to the :class:`~carnet.messaging.smtp_server.InboundGateway` wired to
:func:`carnet.messaging.service.make_handler`: the mail lands in the local mailbox, a replay of the same
Message-ID is stored once, an unknown local mailbox is refused with 550 (by the service, after ``DATA``: the
gateway is not given a recipient check) and a sender outside the trusted domains at ``MAIL FROM``; nothing of
either is stored.
"""

from __future__ import annotations

import datetime as dt
import smtplib
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from carnet.bootstrap import Platform
from carnet.directory.demo import load_demo_directory
from carnet.messaging import service as mss
from carnet.messaging.outbox import deliver_outbox
from carnet.messaging.smtp_server import InboundGateway
from carnet.messaging.store import MessageOutboxRow, MessageRow
from carnet.messaging.transport import SmtpRelay
from tests.builders import DR_HOUSE, PLATFORM

OUTSIDE_DOMAIN = "hopital-voisin.mssante.fr"
OUTSIDE = f"dr.lointain@{OUTSIDE_DOMAIN}"
NOBODY = f"personne@{OUTSIDE_DOMAIN}"
MOREAU = "claire.moreau@demo.mssante.fr"
CONFIG = mss.MessagingConfig(trusted_domains=frozenset({OUTSIDE_DOMAIN}))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class OutsideRelay:
    """The outside world's SMTP server: records what it accepts, refuses ``NOBODY`` for good (550)."""

    received: list[tuple[str, tuple[str, ...], bytes]] = field(default_factory=list)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: list[str]) -> str:
        if address == NOBODY:
            return "550 5.1.1 utilisateur inconnu"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append((envelope.mail_from, tuple(envelope.rcpt_tos), bytes(envelope.original_content)))
        return "250 2.0.0 OK"


@pytest.fixture
def pros(platform: Platform) -> Platform:
    with platform.uow() as uow:
        load_demo_directory(uow)
        for pro in ("810000000001", "810000000060"):
            mss.provision_professional(uow=uow, actor=PLATFORM, config=CONFIG, professional_id=pro)
        uow.commit()
    return platform


@pytest.fixture
def outside() -> Iterator[tuple[OutsideRelay, int]]:
    relay, port = OutsideRelay(), free_port()
    controller = Controller(relay, hostname="127.0.0.1", port=port, decode_data=False)
    controller.start()
    try:
        yield relay, port
    finally:
        controller.stop()


def _send(platform: Platform, to: list[str], subject: str) -> mss.MessageView:
    with platform.uow() as uow:
        view = mss.send(uow=uow, actor=DR_HOUSE, config=CONFIG, to=to, subject=subject, text="Votre avis ?")
        uow.commit()
    return view


def _outbox(platform: Platform) -> dict[str, MessageOutboxRow]:
    with platform.session_factory() as session:
        return {row.to_address: row for row in session.scalars(select(MessageOutboxRow))}


def test_the_outbox_goes_through_a_real_relay_once_with_its_message_id(
    pros: Platform, outside: tuple[OutsideRelay, int]
) -> None:
    relay, port = outside
    sent = _send(pros, [OUTSIDE], "Avis")
    transport = SmtpRelay(host="127.0.0.1", port=port, starttls=False, timeout=10)
    report = deliver_outbox(platform=pros, transport=transport)
    assert (report.sent, report.retried, report.bounced) == (1, 0, 0)
    assert deliver_outbox(platform=pros, transport=transport).sent == 0  # nothing twice
    assert len(relay.received) == 1
    mail_from, rcpt, data = relay.received[0]
    assert rcpt == (OUTSIDE,) and mail_from.endswith("@demo.mssante.fr")
    assert f"Message-ID: {sent.message_id}".encode() in data and b"Subject: Avis" in data
    assert _outbox(pros)[OUTSIDE].status == "sent"


def test_a_relay_that_is_down_is_retried_and_a_refusal_is_a_bounce(
    pros: Platform, outside: tuple[OutsideRelay, int]
) -> None:
    relay, port = outside
    _send(pros, [OUTSIDE, NOBODY], "Deux destinataires")
    down = SmtpRelay(host="127.0.0.1", port=free_port(), starttls=False, timeout=5)  # nobody listens there
    report = deliver_outbox(platform=pros, transport=down)
    assert (report.sent, report.retried) == (0, 2)
    rows = _outbox(pros)
    assert all(r.status == "pending" and r.attempts == 1 and r.last_error for r in rows.values())
    pros.clock.advance(dt.timedelta(minutes=2))  # type: ignore[attr-defined]
    report = deliver_outbox(platform=pros, transport=SmtpRelay(host="127.0.0.1", port=port, starttls=False))
    assert (report.sent, report.bounced) == (1, 1)
    rows = _outbox(pros)
    assert rows[OUTSIDE].status == "sent"
    assert rows[NOBODY].status == "bounced" and "utilisateur inconnu" in (rows[NOBODY].last_error or "")
    assert [r[1] for r in relay.received] == [(OUTSIDE,)]


def _mail(message_id: str, to: str = MOREAU) -> EmailMessage:
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = OUTSIDE, to, "Compte rendu"
    mail["Message-ID"], mail["Date"] = message_id, "Sun, 22 Nov 2026 09:00:00 +0000"
    mail.set_content("Bonjour, voici le compte rendu.")
    return mail


def test_mail_from_a_trusted_operator_is_received_once_through_the_inbound_gateway(pros: Platform) -> None:
    port = free_port()
    gateway = InboundGateway(
        handler=mss.make_handler(pros, CONFIG),
        trusted_domains=[OUTSIDE_DOMAIN],
        local_domains=sorted(CONFIG.hosted_domains),
        port=port,
        require_starttls=False,
    )
    with gateway, smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.send_message(_mail("<cr-1@hopital-voisin.mssante.fr>"))
        client.send_message(_mail("<cr-1@hopital-voisin.mssante.fr>"))  # the sender's retry: stored once
        with pytest.raises(smtplib.SMTPDataError) as unknown:  # the service refuses it, after DATA
            client.send_message(_mail("<cr-2@hopital-voisin.mssante.fr>", to="inconnu@demo.mssante.fr"))
        assert unknown.value.smtp_code == 550
        with pytest.raises(smtplib.SMTPSenderRefused):
            client.sendmail("intrus@ailleurs.example", [MOREAU], _mail("<cr-3@ailleurs.example>").as_bytes())
    with pros.session_factory() as session:
        stored = list(session.scalars(select(MessageRow)))
    assert [m.message_id for m in stored] == ["<cr-1@hopital-voisin.mssante.fr>"]
    with pros.uow() as uow:
        inbox = mss.search_messages(uow=uow, actor=DR_HOUSE, filters=mss.MessageFilters())  # MOREAU is his box
    assert [(v.sender_address, v.subject) for v in inbox] == [(OUTSIDE, "Compte rendu")]

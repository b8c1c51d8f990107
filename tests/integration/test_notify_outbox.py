"""Notifications and their e-mail outbox, on both backends, through a real SMTP server on loopback."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import socket
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import func, select

from carnet.bootstrap import Platform
from carnet.clock import FrozenClock
from carnet.notify import service
from carnet.notify.mailer import DeliveryReport, deliver_pending, message_id
from carnet.notify.store import MailOutboxRow, NotificationRow
from carnet.settings import Settings
from tests.builders import qualified_patient

HOLDER_MAIL = "dominique@example.org"


class Collector:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.recipients: list[list[str]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        self.messages.append(msg)
        self.recipients.append(list(envelope.rcpt_tos))
        return "250 Message accepted for delivery"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture
def smtp_port() -> int:
    return _free_port()


@pytest.fixture
def collector() -> Collector:
    return Collector()


@pytest.fixture
def smtp_server(collector: Collector, smtp_port: int) -> Iterator[Controller]:
    controller = Controller(collector, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    try:
        yield controller
    finally:
        controller.stop()


@pytest.fixture
def mail_settings(settings: Settings, smtp_port: int) -> Settings:
    return settings.model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": smtp_port})


@pytest.fixture
def holder(platform: Platform) -> str:
    patient_id = qualified_patient(platform)
    with platform.uow() as uow:
        service.set_preferences(uow=uow, patient_id=patient_id, email=HOLDER_MAIL, enabled=True)
        uow.commit()
    return patient_id


def _notify_added(platform: Platform, patient_id: str, title: str = "Compte rendu de biologie") -> str:
    with platform.uow() as uow:
        note = service.notify(
            uow=uow,
            patient_id=patient_id,
            kind="document_added",
            detail={"document_id": "doc-1", "document_title": title},
            actor_label="Dr Claire MOREAU",
        )
        uow.commit()
    return note.id


def _outbox(platform: Platform) -> list[MailOutboxRow]:
    with platform.session_factory() as session:
        return list(session.scalars(select(MailOutboxRow).order_by(MailOutboxRow.created_at)))


def _deliver(platform: Platform, settings: Settings) -> DeliveryReport:
    return deliver_pending(session_factory=platform.session_factory, clock=platform.clock, settings=settings)


def test_notification_and_outbox_are_written_with_the_change(platform: Platform, holder: str) -> None:
    note_id = _notify_added(platform, holder)

    with platform.uow() as uow:
        notes = service.list_for(uow=uow, patient_id=holder)
    assert [n.id for n in notes] == [note_id]
    assert notes[0].title == "Nouveau document dans votre dossier médical"
    assert "Dr Claire MOREAU a ajouté le document « Compte rendu de biologie »" in notes[0].body
    assert notes[0].read_at is None
    rows = _outbox(platform)
    assert [(r.notification_id, r.to_address, r.status, r.attempts) for r in rows] == [
        (note_id, HOLDER_MAIL, "pending", 0)
    ]

    with platform.uow() as uow:
        read = service.mark_read(uow=uow, patient_id=holder, notification_id=note_id)
        uow.commit()
    assert read.read_at == platform.clock.now()


def test_rolled_back_change_leaves_no_notification_and_no_mail(platform: Platform, holder: str) -> None:
    with platform.uow() as uow:
        service.notify(
            uow=uow,
            patient_id=holder,
            kind="document_deleted",
            detail={"document_title": "Ordonnance"},
            actor_label="Dr Claire MOREAU",
        )
        assert len(service.list_for(uow=uow, patient_id=holder)) == 1
        # leaving without commit: the change and its notification roll back together

    with platform.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(NotificationRow)) == 0
    assert _outbox(platform) == []


def test_delivery_to_a_real_smtp_server(
    platform: Platform, holder: str, smtp_server: Controller, collector: Collector, mail_settings: Settings
) -> None:
    _notify_added(platform, holder)
    with platform.uow() as uow:
        service.notify(
            uow=uow,
            patient_id=holder,
            kind="emergency_access",
            detail={"reason": "Patiente inconsciente aux urgences"},
            actor_label="Dr Paul MARTIN (SAMU 75)",
        )
        uow.commit()

    report = _deliver(platform, mail_settings)

    assert report == DeliveryReport(sent=2, failed=0, retried=0)
    assert len(collector.messages) == 2
    by_subject = {m["Subject"]: m for m in collector.messages}
    added = by_subject["Nouveau document dans votre dossier médical"]
    body = added.get_content()
    assert body.startswith("Bonjour,")
    assert "Dr Claire MOREAU a ajouté le document « Compte rendu de biologie »" in body
    assert "Le 22/11/2026 à 09 h 30 (UTC)" in body
    assert added["To"] == HOLDER_MAIL
    assert added["From"].addresses[0].addr_spec == "ne-pas-repondre@carnet.localhost"
    emergency = by_subject["Accès en urgence à votre dossier médical"]
    assert "Motif indiqué : Patiente inconsciente aux urgences" in emergency.get_content()
    assert collector.recipients == [[HOLDER_MAIL], [HOLDER_MAIL]]
    rows = _outbox(platform)
    assert {r.status for r in rows} == {"sent"}
    assert {message_id(r.id) for r in rows} == {m["Message-ID"] for m in collector.messages}

    assert _deliver(platform, mail_settings) == DeliveryReport()
    assert len(collector.messages) == 2


def test_server_down_keeps_everything_then_delivers_exactly_once(
    platform: Platform, holder: str, smtp_port: int, collector: Collector, mail_settings: Settings
) -> None:
    clock = platform.clock
    assert isinstance(clock, FrozenClock)
    _notify_added(platform, holder, "Compte rendu A")
    _notify_added(platform, holder, "Compte rendu B")

    # nothing listens on the port yet: connection refused
    report = _deliver(platform, mail_settings)
    assert report == DeliveryReport(sent=0, failed=0, retried=2)
    rows = _outbox(platform)
    assert len(rows) == 2
    for row in rows:
        assert row.status == "pending"
        assert row.attempts == 1
        assert row.next_attempt_at == clock.now() + dt.timedelta(minutes=2)
        assert row.next_attempt_at > clock.now()
        assert row.last_error

    # not due yet: nothing is tried again
    assert _deliver(platform, mail_settings) == DeliveryReport()
    assert all(r.attempts == 1 for r in _outbox(platform))

    controller = Controller(collector, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    try:
        clock.advance(dt.timedelta(minutes=2))
        assert _deliver(platform, mail_settings) == DeliveryReport(sent=2)
        assert _deliver(platform, mail_settings) == DeliveryReport()
        clock.advance(dt.timedelta(hours=7))
        assert _deliver(platform, mail_settings) == DeliveryReport()
    finally:
        controller.stop()

    assert sorted(m["Subject"] for m in collector.messages) == ["Nouveau document dans votre dossier médical"] * 2
    bodies = sorted(m.get_content() for m in collector.messages)
    assert "« Compte rendu A »" in bodies[0] and "« Compte rendu B »" in bodies[1]
    rows = _outbox(platform)
    assert [(r.status, r.attempts, r.last_error) for r in rows] == [("sent", 1, None)] * 2


def test_gives_up_after_ten_attempts_without_losing_the_row(
    platform: Platform, holder: str, mail_settings: Settings
) -> None:
    clock = platform.clock
    assert isinstance(clock, FrozenClock)
    _notify_added(platform, holder)
    reports = []
    for _ in range(10):
        reports.append(_deliver(platform, mail_settings))
        clock.advance(dt.timedelta(hours=6))
    assert reports[-1] == DeliveryReport(failed=1)
    assert all(r == DeliveryReport(retried=1) for r in reports[:-1])
    (row,) = _outbox(platform)
    assert (row.status, row.attempts) == ("failed", 10)
    assert _deliver(platform, mail_settings) == DeliveryReport()


def test_preferences_off_means_no_mail(platform: Platform, holder: str) -> None:
    with platform.uow() as uow:
        service.set_preferences(uow=uow, patient_id=holder, email=HOLDER_MAIL, enabled=False)
        uow.commit()
    _notify_added(platform, holder)

    with platform.uow() as uow:
        assert len(service.list_for(uow=uow, patient_id=holder)) == 1
    assert _outbox(platform) == []


def test_first_access_is_recorded_once_per_professional(platform: Platform, holder: str) -> None:
    with platform.uow() as uow:
        assert service.first_access_needed(uow, holder, "810000000001") is True
        assert service.first_access_needed(uow, holder, "810000000001") is False
        uow.commit()
    with platform.uow() as uow:
        assert service.first_access_needed(uow, holder, "810000000001") is False
        assert service.first_access_needed(uow, holder, "810000000060") is True
        uow.commit()

"""Secure messaging on both backends: mailboxes, the patient rule, replies, closing, read receipts, attachments,
the audit trail, receiving mail from outside and the outbox (retries, bounces) through an in-process transport."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest
from sqlalchemy import select

from carnet.access.model import Actor, ActorKind, AuthMethod
from carnet.audit.store import AuditRow
from carnet.bootstrap import Platform
from carnet.directory.demo import load_demo_directory
from carnet.errors import Conflict, Forbidden, NotFound, ValidationError
from carnet.identity.store import PatientRow
from carnet.messaging import service as mss
from carnet.messaging.mime import InboundMail, MailAttachment, RejectMail
from carnet.messaging.outbox import deliver_outbox
from carnet.messaging.store import MessageOutboxRow
from carnet.messaging.transport import DeliveryError
from carnet.notify.mailer import MAX_ATTEMPTS
from carnet.record import service as record
from tests.builders import DR_HOUSE, NURSE_JOY, PLATFORM, example, in_care_team, patient_as, qualified_patient

CONFIG = mss.MessagingConfig(trusted_domains=frozenset({"hopital-voisin.mssante.fr"}))
MOREAU = "claire.moreau@demo.mssante.fr"
PETIT = "julie.petit@demo.mssante.fr"
OUTSIDE = "dr.lointain@hopital-voisin.mssante.fr"


@dataclass
class World:
    platform: Platform
    patient_id: str
    patient_address: str


@pytest.fixture
def world(platform: Platform) -> World:
    patient_id = qualified_patient(platform)
    with platform.uow() as uow:
        load_demo_directory(uow)
        for pro in ("810000000001", "810000000060"):
            mss.provision_professional(uow=uow, actor=PLATFORM, config=CONFIG, professional_id=pro)
        box = mss.provision_patient(uow=uow, actor=PLATFORM, config=CONFIG, patient_id=patient_id)
        uow.commit()
    return World(platform, patient_id, box.address)


def _send(w: World, actor: Actor, to: list[str], **kw: object) -> mss.MessageView:
    with w.platform.uow() as uow:
        view = mss.send(uow=uow, actor=actor, config=CONFIG, to=to, subject=str(kw.pop("subject", "Résultats")),
                        text=str(kw.pop("text", "Bonjour")), **kw)  # type: ignore[arg-type]  # fmt: skip
        uow.commit()
    return view


def _audit(w: World, action: str) -> list[AuditRow]:
    with w.platform.session_factory() as session:
        return list(session.scalars(select(AuditRow).where(AuditRow.action == action).order_by(AuditRow.id)))


def test_the_patient_mailbox_is_the_matricule_at_the_patient_domain(world: World) -> None:
    with world.platform.uow() as uow:
        patient = uow.patients.get(world.patient_id)
        assert patient is not None
        assert world.patient_address == f"{patient.ins_matricule}@patient.mssante.fr"


def test_the_directory_finds_professional_mailboxes_by_name_profession_rpps_and_place(world: World) -> None:
    with world.platform.uow() as uow:
        by_name = mss.search_directory(uow=uow, actor=DR_HOUSE, name="moreau")
        by_profession = mss.search_directory(uow=uow, actor=DR_HOUSE, profession="60")
        by_rpps = mss.search_directory(uow=uow, actor=DR_HOUSE, rpps="10000000001")
        by_place = mss.search_directory(uow=uow, actor=DR_HOUSE, place="reims")
    assert [b.address for b in by_name.items] == [MOREAU]
    assert [b.address for b in by_profession.items] == [PETIT]
    assert [b.address for b in by_rpps.items] == [MOREAU]
    assert {b.address for b in by_place.items} == {MOREAU, PETIT}  # the patient's box is not in the directory


def test_professionals_write_to_each_other_and_the_recipient_reads_and_acknowledges(world: World) -> None:
    sent = _send(world, DR_HOUSE, [PETIT], subject="Pansement", text="Pouvez-vous passer demain ?")
    with world.platform.uow() as uow:
        inbox = mss.list_inbox(uow=uow, actor=NURSE_JOY)
        assert [m.id for m in inbox] == [sent.id]
        assert inbox[0].recipients[0].read_at is None
        read = mss.mark_read(uow=uow, actor=NURSE_JOY, message_id=sent.id)
        uow.commit()
    assert read.recipients[0].read_at == world.platform.clock.now()
    with world.platform.uow() as uow:
        answer = mss.reply(uow=uow, actor=NURSE_JOY, config=CONFIG, message_id=sent.id, text="Oui, à 9 h.")
        uow.commit()
    assert answer.conversation_id == sent.conversation_id
    assert answer.in_reply_to == sent.message_id and answer.subject == "Re: Pansement"
    assert [r.address for r in answer.recipients] == [MOREAU]
    with world.platform.uow() as uow, pytest.raises(NotFound):
        mss.get_message(uow=uow, actor=patient_as(world.patient_id), message_id=sent.id)


def test_only_a_professional_opens_a_conversation_with_a_patient(world: World) -> None:
    holder = patient_as(world.patient_id)
    with pytest.raises(Forbidden, match="seul un professionnel"), world.platform.uow() as uow:
        mss.send(uow=uow, actor=holder, config=CONFIG, to=[MOREAU], subject="Question", text="Bonjour docteur")
    denied = _audit(world, "message.send_denied")
    assert [(r.patient_id, r.outcome) for r in denied] == [(world.patient_id, "denied")]
    assert denied[0].decision is not None and "patient_cannot_open" in str(denied[0].decision)

    opened = _send(world, DR_HOUSE, [world.patient_address], subject="Vos résultats", text="Tout va bien.")
    with world.platform.uow() as uow:
        inbox = mss.list_inbox(uow=uow, actor=holder)
        assert [m.id for m in inbox] == [opened.id]
        answer = mss.reply(uow=uow, actor=holder, config=CONFIG, message_id=opened.id, text="Merci !")
        uow.commit()
    assert answer.sender_address == world.patient_address and [r.address for r in answer.recipients] == [MOREAU]
    assert answer.patient_id == world.patient_id

    # The patient cannot bring someone new into the conversation.
    with pytest.raises(Forbidden, match="participants"), world.platform.uow() as uow:
        mss.send(uow=uow, actor=holder, config=CONFIG, to=[MOREAU, PETIT], subject="Re", text="…",
                 in_reply_to=opened.id)  # fmt: skip


def test_once_closed_the_patient_cannot_write_in_the_conversation(world: World) -> None:
    holder = patient_as(world.patient_id)
    opened = _send(world, DR_HOUSE, [world.patient_address], subject="Suivi")
    with world.platform.uow() as uow:
        closed = mss.close(uow=uow, actor=holder, conversation_id=opened.conversation_id)
        uow.commit()
    assert (closed.status, closed.closed_by) == ("closed", world.patient_address)
    with pytest.raises(Forbidden, match="close"), world.platform.uow() as uow:
        mss.reply(uow=uow, actor=holder, config=CONFIG, message_id=opened.id, text="Encore une question")
    with pytest.raises(Forbidden, match="close"), world.platform.uow() as uow:
        mss.reply(uow=uow, actor=DR_HOUSE, config=CONFIG, message_id=opened.id, text="Complément")
    with pytest.raises(Conflict), world.platform.uow() as uow:
        mss.close(uow=uow, actor=DR_HOUSE, conversation_id=opened.conversation_id)
    # The professional opens a new conversation.
    again = _send(world, DR_HOUSE, [world.patient_address], subject="Nouveau suivi")
    assert again.conversation_id != opened.conversation_id


def test_a_patient_mailbox_is_read_only_by_its_holder(world: World) -> None:
    _send(world, DR_HOUSE, [world.patient_address])
    someone_else = Actor(kind=ActorKind.PATIENT, id="another-patient", auth_method=AuthMethod.FRANCE_CONNECT)
    with pytest.raises(Forbidden), world.platform.uow() as uow:
        mss.list_inbox(uow=uow, actor=someone_else, mailbox_address=world.patient_address)
    with pytest.raises(Forbidden), world.platform.uow() as uow:
        mss.send(uow=uow, actor=DR_HOUSE, config=CONFIG, from_address=world.patient_address, to=[PETIT],
                 subject="x", text="y")  # fmt: skip


def test_every_read_and_write_of_a_patients_messages_is_in_their_audit_trail(world: World) -> None:
    opened = _send(world, DR_HOUSE, [world.patient_address])
    with world.platform.uow() as uow:
        mss.list_inbox(uow=uow, actor=patient_as(world.patient_id))
        mss.get_message(uow=uow, actor=patient_as(world.patient_id), message_id=opened.id)
        mss.mark_read(uow=uow, actor=patient_as(world.patient_id), message_id=opened.id)
        uow.commit()
    with world.platform.session_factory() as session:
        rows = session.scalars(
            select(AuditRow)
            .where(AuditRow.patient_id == world.patient_id, AuditRow.action.like("message.%"))
            .order_by(AuditRow.id)
        )
        actions = [(r.action, r.actor_id) for r in rows]  # fmt: skip
    assert actions == [
        ("message.mailbox", PLATFORM.id),
        ("message.send", DR_HOUSE.id),
        ("message.list", world.patient_id),
        ("message.read", world.patient_id),
        ("message.mark_read", world.patient_id),
    ]


def test_a_record_document_is_attached_only_if_the_sender_may_read_it(world: World) -> None:
    cda = example("VSM_1.4_2022.01.xml")
    author = Actor(kind=ActorKind.PROFESSIONAL, id="810000000001", auth_method=AuthMethod.CPS, profession="10")
    with world.platform.uow() as uow:
        deposited = record.deposit(uow=uow, actor=PLATFORM, patient_id=world.patient_id, content=cda)
        uow.commit()
    entry_id = deposited.entry.id
    # Not in the care team: the record refuses the reading, nothing is sent.
    with pytest.raises(Forbidden), world.platform.uow() as uow:
        mss.send(uow=uow, actor=author, config=CONFIG, to=[world.patient_address], subject="VSM", text="Ci-joint",
                 attachments=[mss.DocumentAttachment(entry_id)])  # fmt: skip
    in_care_team(world.platform, world.patient_id, DR_HOUSE)
    sent = _send(
        world,
        DR_HOUSE,
        [world.patient_address],
        subject="VSM",
        attachments=[mss.DocumentAttachment(entry_id), mss.Upload("note.txt", "text/plain", b"a lire")],
    )
    assert [(a.entry_id, a.content_type) for a in sent.attachments] == [(entry_id, "text/xml"), (None, "text/plain")]
    with world.platform.uow() as uow:
        view, data = mss.get_attachment(
            uow=uow, actor=patient_as(world.patient_id), attachment_id=sent.attachments[0].id
        )
        uow.commit()
    assert data == cda and view.unique_id == deposited.entry.metadata.unique_id
    assert [r.detail["document"] for r in _audit(world, "message.attach")] == [entry_id]  # type: ignore[index]


def test_bad_input_is_refused_with_the_field_and_nothing_is_written(world: World) -> None:
    cases: list[tuple[dict[str, object], str]] = [
        ({"to": ["not an address"]}, "to[0]"),
        ({"to": []}, ""),
        ({"to": [PETIT], "subject": "  "}, "subject"),
        ({"to": ["nobody@demo.mssante.fr"]}, "to[0]"),
        ({"to": [PETIT], "attachments": [mss.Upload("x", "not a type", b"1")]}, "attachments[0]"),
    ]
    for values, where in cases:
        args: dict[str, object] = {"subject": "Objet", "text": "Texte", **values}
        with pytest.raises((ValidationError, NotFound, Forbidden)) as caught, world.platform.uow() as uow:
            mss.send(uow=uow, actor=DR_HOUSE, config=CONFIG, **args)  # type: ignore[arg-type]
        if where:
            assert caught.value.field == where
    with world.platform.uow() as uow:
        assert mss.list_inbox(uow=uow, actor=NURSE_JOY) == []


# --- the outside world ------------------------------------------------------------------------------------------


def _mail(**kw: object) -> InboundMail:
    values: dict[str, object] = dict(
        envelope_from=OUTSIDE, envelope_to=(MOREAU,), from_address=OUTSIDE, to=(MOREAU,), cc=(),
        subject="Compte rendu d'hospitalisation", text="Veuillez trouver le CR.", html=None, attachments=(),
        message_id="<cr-1@hopital-voisin.mssante.fr>", in_reply_to=None, references=(), date=None, raw_size=100,
    )  # fmt: skip
    values.update(kw)
    return InboundMail(**values)  # type: ignore[arg-type]


def _receive(w: World, mail: InboundMail) -> mss.MessageView:
    with w.platform.uow() as uow:
        view = mss.receive(uow=uow, mail=mail, config=CONFIG)
        uow.commit()
    return view


def test_received_mail_lands_in_the_local_mailbox_once_per_message_id(world: World) -> None:
    first = _receive(world, _mail(html='<p onclick="x()">CR <script>alert(1)</script></p>'))
    again = _receive(world, _mail())
    assert again.id == first.id
    assert first.html is not None and "script" not in first.html and "onclick" not in first.html
    with world.platform.uow() as uow:
        assert [m.id for m in mss.list_inbox(uow=uow, actor=DR_HOUSE)] == [first.id]
        answer = mss.reply(uow=uow, actor=DR_HOUSE, config=CONFIG, message_id=first.id, text="Bien reçu")
        uow.commit()
    assert [(r.address, r.status) for r in answer.recipients] == [(OUTSIDE, "pending")]
    # The answer to our answer continues the thread.
    follow = _receive(world, _mail(message_id="<cr-2@hopital-voisin.mssante.fr>", in_reply_to=answer.message_id))
    assert follow.conversation_id == first.conversation_id


def test_mail_to_an_unknown_mailbox_or_from_an_untrusted_or_spoofed_domain_is_refused(world: World) -> None:
    for mail, code in [
        (_mail(envelope_to=("nobody@demo.mssante.fr",)), 550),
        (_mail(envelope_to=("someone@elsewhere.fr",)), 550),
        (_mail(from_address="pirate@evil.example", envelope_from="pirate@evil.example"), 550),
        (_mail(from_address=MOREAU), 550),
    ]:
        with pytest.raises(RejectMail) as caught, world.platform.uow() as uow:
            mss.receive(uow=uow, mail=mail, config=CONFIG)
        assert caught.value.code == code


def test_an_outside_professional_may_open_a_conversation_with_the_patient(world: World) -> None:
    received = _receive(world, _mail(envelope_to=(world.patient_address,), to=(world.patient_address,)))
    assert received.patient_id == world.patient_id
    assert [r.action for r in _audit(world, "message.receive")] == ["message.receive"]


@dataclass
class FlakyTransport:
    """An in-process transport: fails ``failures`` times (temporary), or bounces, then accepts."""

    failures: int = 0
    bounce: bool = False
    sent: list[tuple[tuple[str, ...], bytes]] = field(default_factory=list)

    def send(self, *, envelope_from: str, recipients: Sequence[str], message: bytes) -> None:
        if self.bounce:
            raise DeliveryError("User unknown", temporary=False, code=550)
        if self.failures:
            self.failures -= 1
            raise DeliveryError("Try again later", temporary=True, code=451)
        self.sent.append((tuple(recipients), message))


def _outbox(w: World) -> list[MessageOutboxRow]:
    with w.platform.session_factory() as session:
        return list(session.scalars(select(MessageOutboxRow)))


def test_the_outbox_retries_with_backoff_then_delivers_once_with_a_stable_message_id(world: World) -> None:
    sent = _send(world, DR_HOUSE, [OUTSIDE, PETIT], subject="Avis", text="Votre avis ?")
    assert [(r.address, r.status) for r in sent.recipients] == [(OUTSIDE, "pending"), (PETIT, "delivered")]
    transport = FlakyTransport(failures=2)
    clock = world.platform.clock
    report = deliver_outbox(platform=world.platform, transport=transport)
    assert (report.retried, report.sent) == (1, 0)
    row = _outbox(world)[0]
    assert (row.status, row.attempts, row.next_attempt_at) == ("pending", 1, clock.now() + dt.timedelta(minutes=2))
    assert deliver_outbox(platform=world.platform, transport=transport).retried == 0  # not due yet
    clock.advance(dt.timedelta(minutes=2))  # type: ignore[attr-defined]
    assert deliver_outbox(platform=world.platform, transport=transport).retried == 1
    clock.advance(dt.timedelta(minutes=4))  # type: ignore[attr-defined]
    assert deliver_outbox(platform=world.platform, transport=transport).sent == 1
    assert deliver_outbox(platform=world.platform, transport=transport).sent == 0
    assert len(transport.sent) == 1 and transport.sent[0][0] == (OUTSIDE,)
    assert f"Message-ID: {sent.message_id}".encode() in transport.sent[0][1]
    with world.platform.uow() as uow:
        view = mss.get_message(uow=uow, actor=DR_HOUSE, message_id=sent.id)
    assert [(r.address, r.status) for r in view.recipients] == [(OUTSIDE, "sent"), (PETIT, "delivered")]


def test_a_permanent_refusal_is_a_bounce_and_too_many_failures_give_up(world: World) -> None:
    _send(world, DR_HOUSE, [OUTSIDE])
    report = deliver_outbox(platform=world.platform, transport=FlakyTransport(bounce=True))
    assert report.bounced == 1
    row = _outbox(world)[0]
    assert (row.status, row.last_code, row.last_error) == ("bounced", 550, "User unknown")

    _send(world, DR_HOUSE, ["dr.autre@hopital-voisin.mssante.fr"])
    transport = FlakyTransport(failures=MAX_ATTEMPTS)
    for _ in range(MAX_ATTEMPTS):
        deliver_outbox(platform=world.platform, transport=transport)
        world.platform.clock.advance(dt.timedelta(hours=7))  # type: ignore[attr-defined]
    statuses = sorted((r.to_address, r.status, r.attempts) for r in _outbox(world))
    assert statuses == [("dr.autre@hopital-voisin.mssante.fr", "failed", MAX_ATTEMPTS), (OUTSIDE, "bounced", 1)]


def test_a_patient_box_needs_a_qualified_identity(world: World) -> None:
    from carnet.identity import service as identity
    from tests.builders import FRONT_DESK, make_person

    with world.platform.uow() as uow:
        provisional = identity.register(uow=uow, actor=FRONT_DESK, traits=make_person()).patient.id
        uow.commit()
    with pytest.raises(Conflict, match="qualifiée"), world.platform.uow() as uow:
        mss.provision_patient(uow=uow, actor=PLATFORM, config=CONFIG, patient_id=provisional)
    with world.platform.uow() as uow:
        assert uow.session.get(PatientRow, provisional) is not None


def test_plain_attachments_of_received_mail_are_kept(world: World) -> None:
    received = _receive(world, _mail(attachments=(MailAttachment("cr.pdf", "application/pdf", b"%PDF-1.4 x"),)))
    with world.platform.uow() as uow:
        _view, data = mss.get_attachment(uow=uow, actor=DR_HOUSE, attachment_id=received.attachments[0].id)
    assert data == b"%PDF-1.4 x"

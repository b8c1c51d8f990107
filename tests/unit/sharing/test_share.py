"""Automatic sharing on validation, on both backends: every duty path (due, excluded, not listed, not yet in force,
another text), the médecin traitant, the prescriber and the chosen professionals, the patient's mailbox, the
announcement consultation and the release, idempotence, an unqualified INS and an unknown recipient refused with
nothing half-done, another operator's recipient through the outbox."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from carnet.access.model import Actor, ActorKind, AuthMethod
from carnet.audit.store import AuditRow
from carnet.bootstrap import Platform
from carnet.errors import Conflict, Forbidden, NotFound, ValidationError
from carnet.identity import service as identities
from carnet.messaging import service as mss
from carnet.messaging import xdm
from carnet.messaging.store import AttachmentRow, MessageOutboxRow
from carnet.record import service as record
from carnet.sharing import Context, Duty
from carnet.sharing import share as sharing
from carnet.sharing.share import DutyStatus, Role
from tests.builders import DR_HOUSE, FRONT_DESK, make_person, patient_as
from tests.unit.sharing.share_support import (
    CONFIG,
    LEROY,
    LEROY_ID,
    MARTIN,
    MOREAU,
    PETIT,
    PETIT_ID,
    RETIRED_ID,
    VOISIN,
    VOISIN_ID,
    World,
    make_world,
)

MARTIN_ACTOR = Actor(kind=ActorKind.PROFESSIONAL, id="899700000001", auth_method=AuthMethod.CPS, profession="10")
LEROY_ACTOR = Actor(kind=ActorKind.PROFESSIONAL, id=LEROY_ID, auth_method=AuthMethod.CPS, profession="10")
PETIT_ACTOR = Actor(kind=ActorKind.PROFESSIONAL, id=PETIT_ID, auth_method=AuthMethod.CPS, profession="60")


@pytest.fixture
def world(platform: Platform) -> World:
    return make_world(platform)


def _audit(world: World, action: str) -> list[AuditRow]:
    with world.platform.session_factory() as session:
        return list(session.scalars(select(AuditRow).where(AuditRow.action == action).order_by(AuditRow.id)))


def test_a_listed_document_is_deposited_and_sent_to_the_medecin_traitant_the_prescriber_the_chosen_and_the_patient(
    world: World,
) -> None:
    result = world.share(prescriber=LEROY_ID, recipients=[PETIT_ID])
    assert result.created and not result.repeated
    assert {(d.duty, d.due, d.rule_id, d.status) for d in result.duties} == {
        (Duty.DMP, True, "cr-biologie", DutyStatus.DONE),
        (Duty.MSS_PROFESSIONALS, True, "cr-biologie", DutyStatus.DONE),
        (Duty.MSS_PATIENT, True, "cr-biologie", DutyStatus.DONE),
    }
    roles = {d.address: d.roles for d in result.deliveries}
    assert roles == {MARTIN: (Role.MEDECIN_TRAITANT,), LEROY: (Role.PRESCRIBER,), PETIT: (Role.CHOSEN,),
                     world.patient_address: (Role.PATIENT,)}  # fmt: skip
    assert {d.status for d in result.deliveries} == {"delivered"}

    # Each professional finds it in their inbox, from the author, with the document as an IHE XDM package.
    for actor in (MARTIN_ACTOR, LEROY_ACTOR, PETIT_ACTOR):
        (message,) = world.inbox(actor)
        assert message.id == result.professional_message_id and message.sender_address == MOREAU
        assert message.patient_id is None  # the professionals' conversation does not include the patient
    (to_patient,) = world.inbox(patient_as(world.patient_id))
    assert to_patient.id == result.patient_message_id and to_patient.patient_id == world.patient_id
    with world.platform.uow() as uow:
        view, data = mss.get_attachment(uow=uow, actor=patient_as(world.patient_id),
                                        attachment_id=to_patient.attachments[0].id)  # fmt: skip
        entry = record.get_document(uow=uow, actor=DR_HOUSE, entry_id=result.entry_id)
        patient = uow.patients.get(world.patient_id)
    assert view.filename == "IHE_XDM.ZIP" and view.unique_id == result.unique_id
    package = xdm.read(data)
    (document,) = package.documents
    assert document.unique_id == entry.metadata.unique_id == result.unique_id
    assert patient is not None and document.patient_id.id == patient.ins_matricule
    assert document.type_code.code == "11502-2" and document.hash == entry.sha1
    # Traced on the patient's chain, with the duties and the recipients (never the content).
    (trace,) = _audit(world, "sharing.share")
    assert trace.patient_id == world.patient_id and trace.detail is not None
    assert trace.detail["duties"]["mss_patient"] == {"due": True, "rule": "cr-biologie", "status": "done"}
    assert {r["address"] for r in trace.detail["recipients"]} == {MARTIN, LEROY, PETIT, world.patient_address}


@pytest.mark.parametrize(
    ("type_code", "created", "context", "reason", "rule"),
    [
        ("11502-2", None, Context(hospital_stay=True), "excluded", "cr-biologie"),
        ("11502-2", None, Context(constitutional_genetics=True), "excluded", "cr-biologie"),
        ("57833-6", None, Context(prior_agreement=True), "excluded", "presc-produits-sante"),
        ("11488-4", None, Context(), "not_listed", None),
        ("55115-0", dt.datetime(2025, 6, 2, 10, 0, tzinfo=dt.UTC), Context(), "not_yet_in_force", "demande-imagerie"),
        ("11490-0", None, Context(), "other_text", "lettre-liaison-sortie"),
    ],
)
def test_a_document_without_duty_is_deposited_and_sent_to_nobody_the_author_did_not_name(
    world: World, type_code: str, created: dt.datetime | None, context: Context, reason: str, rule: str | None
) -> None:
    result = world.share(world.document(type_code, created=created, title="Document"), context=context)
    assert [(d.duty, d.due, d.reason_code, d.rule_id) for d in result.duties] == [
        (duty, False, reason, rule) for duty in Duty
    ]
    dmp, pros, to_patient = result.duties
    assert dmp.status is DutyStatus.DONE  # the record is fed all the same
    assert (pros.status, to_patient.status) == (DutyStatus.NOT_SENT, DutyStatus.NOT_SENT)
    assert result.deliveries == () and result.professional_message_id is result.patient_message_id is None
    assert world.inbox(MARTIN_ACTOR) == [] and world.inbox(patient_as(world.patient_id)) == []
    assert world.written()["documents"] == 1


def test_without_duty_the_professionals_the_author_names_still_receive_it(world: World) -> None:
    result = world.share(world.document(), context=Context(hospital_stay=True), prescriber=LEROY,
                         to_patient=True)  # fmt: skip
    pros, to_patient = result.duty(Duty.MSS_PROFESSIONALS), result.duty(Duty.MSS_PATIENT)
    assert (pros.due, pros.status) == (False, DutyStatus.DONE)
    assert (to_patient.due, to_patient.status) == (False, DutyStatus.DONE)  # asked for explicitly
    assert {d.address for d in result.deliveries} == {LEROY, world.patient_address}  # not the médecin traitant
    assert world.inbox(MARTIN_ACTOR) == []


def test_the_date_of_the_document_decides_in_french_legal_time(world: World) -> None:
    # 30 December 2022 at 23:30 UTC is 31 December in Paris: the first wave is in force (biology, initial version).
    result = world.share(world.document(created=dt.datetime(2022, 12, 30, 23, 30, tzinfo=dt.UTC)))
    assert result.document_date == dt.date(2022, 12, 31)
    assert result.duty(Duty.DMP).rule_id == "cr-biologie-initial" and result.duty(Duty.DMP).due


def test_no_medecin_traitant_and_nobody_named_leaves_the_professionals_duty_without_recipient(
    platform: Platform,
) -> None:
    world = make_world(platform, traitant=None)
    result = world.share()
    pros = result.duty(Duty.MSS_PROFESSIONALS)
    assert (pros.due, pros.status, pros.at) == (True, DutyStatus.NO_RECIPIENT, None)
    assert "aucun médecin traitant" in pros.note
    assert result.duty(Duty.MSS_PATIENT).status is DutyStatus.DONE


def test_a_medecin_traitant_without_mailbox_is_said_and_the_others_still_receive_it(platform: Platform) -> None:
    world = make_world(platform, traitant=RETIRED_ID)
    result = world.share(recipients=[PETIT])
    pros = result.duty(Duty.MSS_PROFESSIONALS)
    assert pros.status is DutyStatus.PARTIAL and "n'exerce plus" in pros.note
    assert any("médecin traitant" in w for w in result.warnings)
    assert {d.address for d in result.deliveries} == {PETIT, world.patient_address}


def test_a_recipient_of_another_operator_goes_through_the_outbox_in_the_same_transaction(world: World) -> None:
    result = world.share(recipients=[VOISIN_ID])
    (voisin,) = [d for d in result.deliveries if d.address == VOISIN]
    assert voisin.status == "pending" and voisin.professional_id == VOISIN_ID
    with world.platform.session_factory() as session:
        (row,) = session.scalars(select(MessageOutboxRow))
        attachment = session.scalars(select(AttachmentRow).where(AttachmentRow.message_id == row.message_id)).one()
    assert (row.to_address, row.status, row.message_id) == (VOISIN, "pending", result.professional_message_id)
    assert attachment.unique_id == result.unique_id and attachment.content_type == "application/zip"
    # Also named by address (the directory knows it).
    again = world.share(world.document(title="Autre bilan"), recipients=[VOISIN])
    assert VOISIN in {d.address for d in again.deliveries}


def test_an_announcement_consultation_holds_it_back_from_the_patient_until_the_release(world: World) -> None:
    result = world.share(announcement=True)
    to_patient = result.duty(Duty.MSS_PATIENT)
    assert (to_patient.due, to_patient.status, result.patient_message_id) == (True, DutyStatus.HELD_BACK, None)
    assert result.duty(Duty.MSS_PROFESSIONALS).status is DutyStatus.DONE  # the professionals receive it at once
    holder = patient_as(world.patient_id)
    assert world.inbox(holder) == []
    with world.platform.uow() as uow:
        assert record.list_documents(uow=uow, actor=holder, patient_id=world.patient_id).items == []
        uow.commit()

    with world.platform.uow() as uow:
        record.release_to_patient(uow=uow, actor=DR_HOUSE, entry_id=result.entry_id)
        uow.commit()
    (message,) = world.inbox(holder)
    assert message.sender_address == MOREAU and message.attachments[0].unique_id == result.unique_id
    with world.platform.uow() as uow:
        assert [e.id for e in record.list_documents(uow=uow, actor=holder, patient_id=world.patient_id).items] == [
            result.entry_id
        ]
        released = mss.get_message(uow=uow, actor=holder, message_id=message.id)
        uow.commit()
    assert released.id == message.id
    with world.platform.uow() as uow:
        _entry, shared = sharing.release(uow=uow, actor=DR_HOUSE, entry_id=result.entry_id)
        uow.commit()
    assert shared is not None and shared.duty(Duty.MSS_PATIENT).status is DutyStatus.RELEASED
    assert shared.patient_message_id == message.id
    assert len(world.inbox(holder)) == 1  # a second release sends nothing more
    assert [r.patient_id for r in _audit(world, "sharing.release")] == [world.patient_id]


def test_the_same_document_shared_twice_sends_nothing_twice(world: World) -> None:
    content = world.document()
    first = world.share(content, recipients=[VOISIN_ID])
    before = world.written()
    again = world.share(content, recipients=[VOISIN_ID])
    assert again.repeated and not again.created
    assert (again.share_id, again.entry_id, again.professional_message_id) == (
        first.share_id, first.entry_id, first.professional_message_id)  # fmt: skip
    assert world.written() == before
    assert len(world.inbox(MARTIN_ACTOR)) == 1 and len(world.inbox(patient_as(world.patient_id))) == 1
    assert len(_audit(world, "sharing.share_repeat")) == 1


def test_the_same_unique_id_with_another_content_is_refused_and_nothing_more_is_sent(world: World) -> None:
    content = world.document()
    world.share(content)
    before = world.written()
    altered = content.replace(b"<title>CR de biologie</title>", b"<title>CR de biologie (corrig\xc3\xa9)</title>")
    assert altered != content
    with pytest.raises(Conflict, match="identifiant unique"):
        world.share(altered)
    assert world.written() == before


def test_an_identity_that_is_not_qualified_is_refused_with_the_reason_and_nothing_is_written(
    world: World,
) -> None:
    with world.platform.uow() as uow:
        provisional = identities.register(uow=uow, actor=FRONT_DESK, traits=make_person()).patient.id
        uow.commit()
    before = world.written()
    with pytest.raises(Conflict, match="non qualifiée") as raised:
        world.share(world.document(), patient_id=provisional)
    assert raised.value.field == "patient"
    assert world.written() == before
    assert [(r.patient_id, r.outcome) for r in _audit(world, "sharing.share_refused")] == [(provisional, "denied")]


@pytest.mark.parametrize(
    ("kwargs", "field", "message"),
    [
        ({"recipients": [PETIT_ID, "899799999999"]}, "recipients[1]", "aucun professionnel 899799999999"),
        ({"recipients": ["dr.inconnu@ailleurs.mssante.fr"]}, "recipients[0]", "n'est pas dans l'annuaire"),
        ({"recipients": ["personne@demo.mssante.fr"]}, "recipients[0]", "aucune boîte aux lettres"),
        ({"prescriber": RETIRED_ID}, "prescriber", "n'exerce plus"),
    ],
)
def test_an_unknown_recipient_is_refused_with_the_reason_and_nothing_is_half_done(
    world: World, kwargs: dict[str, object], field: str, message: str
) -> None:
    before = world.written()
    with pytest.raises(NotFound, match=message) as raised:
        world.share(world.document(), **kwargs)
    assert raised.value.field == field
    assert world.written() == before  # no deposit, no message, no outbox row, no log
    assert [r.patient_id for r in _audit(world, "sharing.share_refused")] == [world.patient_id]


def test_the_patient_is_not_a_professional_recipient(world: World) -> None:
    with pytest.raises(ValidationError, match="propre messagerie"):
        world.share(world.document(), recipients=[world.patient_address])


def test_an_author_who_is_not_the_author_of_the_document_cannot_share_it(world: World) -> None:
    before = world.written()
    with pytest.raises(Forbidden):
        world.share(world.document(), actor=MARTIN_ACTOR)
    assert world.written() == before
    assert [r.patient_id for r in _audit(world, "sharing.share_refused")] == [world.patient_id]


def test_a_document_already_in_the_record_is_shared_by_its_entry(world: World) -> None:
    with world.platform.uow() as uow:
        deposited = record.deposit(uow=uow, actor=DR_HOUSE, patient_id=world.patient_id, content=world.document())
        uow.commit()
    with world.platform.uow() as uow:
        result = sharing.share_existing(uow=uow, actor=DR_HOUSE, config=CONFIG, entry_id=deposited.entry.id)
        uow.commit()
    assert not result.created and not result.repeated and result.entry_id == deposited.entry.id
    assert result.duty(Duty.DMP).note == "déjà dans le dossier"
    assert len(world.inbox(MARTIN_ACTOR)) == 1

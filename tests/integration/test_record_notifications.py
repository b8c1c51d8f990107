"""The holder is told of documents added by others, of a professional's first access, and of emergencies."""

from __future__ import annotations

from dataclasses import replace

import pytest

from carnet.access import service as access
from carnet.access.model import Mode
from carnet.bootstrap import Platform
from carnet.errors import Forbidden
from carnet.notify import service as notify
from carnet.record import service as record
from tests.builders import DR_HOUSE, NURSE_JOY, PLATFORM, example, in_care_team, patient_as, qualified_patient

VSM = "VSM_1.4_2022.01.xml"


def kinds(platform: Platform, patient_id: str) -> list[str]:
    with platform.uow() as uow:
        return sorted(str(n.kind) for n in notify.list_for(uow=uow, patient_id=patient_id))


def test_a_document_added_by_someone_else_is_notified_but_not_a_held_back_one(platform: Platform) -> None:
    patient_id = qualified_patient(platform)
    with platform.uow() as uow:
        record.deposit(uow=uow, actor=PLATFORM, patient_id=patient_id, content=example(VSM))
        record.deposit(uow=uow, actor=PLATFORM, patient_id=patient_id, content=example("LDL-SES_2022.01.xml"),
                       invisible_to_patient=True)  # fmt: skip
        uow.commit()
    assert kinds(platform, patient_id) == ["document_added"]


def test_a_professionals_first_access_is_notified_once(platform: Platform) -> None:
    patient_id = qualified_patient(platform)
    in_care_team(platform, patient_id, DR_HOUSE)
    with platform.uow() as uow:
        doc = record.deposit(uow=uow, actor=PLATFORM, patient_id=patient_id, content=example(VSM))
        uow.commit()
    for _ in range(2):
        with platform.uow() as uow:
            record.get_content(uow=uow, actor=DR_HOUSE, entry_id=doc.entry.id)
            uow.commit()
    assert kinds(platform, patient_id) == ["document_added", "first_access"]


def test_an_emergency_access_needs_a_justification_and_is_notified_at_once(platform: Platform) -> None:
    patient_id = qualified_patient(platform)
    with platform.uow() as uow:
        doc = record.deposit(uow=uow, actor=PLATFORM, patient_id=patient_id, content=example(VSM))
        uow.commit()
    er_doctor = replace(DR_HOUSE, id="810000000999", name="Dr Urgences")
    with platform.uow() as uow, pytest.raises(Forbidden):
        record.get_content(uow=uow, actor=er_doctor, entry_id=doc.entry.id)
    with platform.uow() as uow, pytest.raises(Forbidden):
        record.get_content(
            uow=uow, actor=er_doctor, entry_id=doc.entry.id, ctx=access.context(uow, mode=Mode.EMERGENCY)
        )
    with platform.uow() as uow:
        ctx = access.context(uow, mode=Mode.EMERGENCY, justification="patiente inconsciente aux urgences")
        record.get_content(uow=uow, actor=er_doctor, entry_id=doc.entry.id, ctx=ctx)
        uow.commit()
    assert "emergency_access" in kinds(platform, patient_id)
    with platform.uow() as uow:
        trail = [(a.action, a.outcome, a.mode) for a in uow.audit.for_patient(patient_id)]
    assert ("document.read", "success", "emergency") in trail


def test_every_read_under_emergency_is_traced_as_one(platform: Platform) -> None:
    """Listing, searching and reading the metadata in emergency mode are marked so in the holder's history."""
    patient_id = qualified_patient(platform)
    with platform.uow() as uow:
        doc = record.deposit(uow=uow, actor=PLATFORM, patient_id=patient_id, content=example(VSM))
        uow.commit()
    er_doctor = replace(DR_HOUSE, id="810000000999", name="Dr Urgences")
    with platform.uow() as uow:
        ctx = access.context(uow, mode=Mode.EMERGENCY, justification="patiente inconsciente aux urgences")
        record.list_documents(uow=uow, actor=er_doctor, patient_id=patient_id, ctx=ctx)
        record.search_documents(uow=uow, actor=er_doctor, patient_id=patient_id, query="synthèse", ctx=ctx)
        record.get_document(uow=uow, actor=er_doctor, entry_id=doc.entry.id, ctx=ctx)
        uow.commit()
    with platform.uow() as uow:
        modes = {a.action: a.mode for a in uow.audit.for_patient(patient_id) if a.actor_id == er_doctor.id}
    assert modes == {"document.list": "emergency", "document.search": "emergency",
                     "document.read_metadata": "emergency"}  # fmt: skip


def test_the_holder_refusing_emergency_access_blocks_it(platform: Platform) -> None:
    patient_id = qualified_patient(platform)
    with platform.uow() as uow:
        doc = record.deposit(uow=uow, actor=PLATFORM, patient_id=patient_id, content=example(VSM))
        access.set_emergency_refused(uow=uow, actor=patient_as(patient_id), patient_id=patient_id, refused=True)
        uow.commit()
    with platform.uow() as uow, pytest.raises(Forbidden):
        ctx = access.context(uow, mode=Mode.EMERGENCY, justification="arrêt cardiaque")
        record.get_content(uow=uow, actor=NURSE_JOY, entry_id=doc.entry.id, ctx=ctx)

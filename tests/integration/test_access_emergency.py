"""A professional's emergency declaration (bris de glace) and the decision a professional's page shows, on both
backends: the justification is required and traced, the holder's refusal of emergency access refuses it (traced),
and every read made under the returned context carries the emergency mode."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from carnet.access import service as access
from carnet.access.model import Mode
from carnet.audit.store import AuditRow
from carnet.bootstrap import Platform
from carnet.errors import Forbidden, ValidationError
from carnet.record import service as record
from tests.builders import DR_HOUSE, NURSE_JOY, PLATFORM, example, patient_as, qualified_patient

WHY = "Patiente inconsciente admise au service des urgences"


def _entries(platform: Platform, patient_id: str) -> list[AuditRow]:
    with platform.uow() as uow:
        return list(uow.session.scalars(select(AuditRow).where(AuditRow.patient_id == patient_id)
                                        .order_by(AuditRow.chain_seq)))  # fmt: skip


def test_an_emergency_declaration_is_traced_with_its_justification_and_marks_the_reads(platform: Platform) -> None:
    patient_id = qualified_patient(platform)
    with platform.uow() as uow:
        entry = record.deposit(uow=uow, actor=PLATFORM, patient_id=patient_id, content=example("VSM_1.4_2022.01.xml"))
        uow.commit()
    with platform.uow() as uow:
        before = access.decision_on_record(uow=uow, actor=DR_HOUSE, patient_id=patient_id)
        ctx = access.declare_emergency(uow=uow, actor=DR_HOUSE, patient_id=patient_id, justification=f"  {WHY}\n")
        during = access.decision_on_record(uow=uow, actor=DR_HOUSE, patient_id=patient_id, ctx=ctx)
        record.get_content(uow=uow, actor=DR_HOUSE, entry_id=entry.entry.id, ctx=ctx)
        uow.commit()
    assert not before.allowed and before.codes == ("no_basis",)
    assert during.allowed and during.codes == ("emergency_access",)
    assert (ctx.mode, ctx.justification) == (Mode.EMERGENCY, WHY)
    entries = _entries(platform, patient_id)
    declared = [e for e in entries if e.action == "emergency.declare"]
    assert len(declared) == 1 and declared[0].mode == "emergency" and declared[0].detail == {"reason": WHY}
    assert declared[0].actor_id == DR_HOUSE.id and declared[0].outcome == "success"
    read = [e for e in entries if e.action == "document.read"]
    assert [e.mode for e in read] == ["emergency"]


def test_a_declaration_needs_a_justification_a_professional_and_the_holders_leave(platform: Platform) -> None:
    patient_id = qualified_patient(platform)
    with platform.uow() as uow:
        for short in ("", "urgent", "   vite   vite    "):
            with pytest.raises(ValidationError, match="au moins 20 caractères"):
                access.declare_emergency(uow=uow, actor=DR_HOUSE, patient_id=patient_id, justification=short)
        with pytest.raises(ValidationError, match="au plus 400"):
            access.declare_emergency(uow=uow, actor=DR_HOUSE, patient_id=patient_id, justification="x" * 401)
        with pytest.raises(ValidationError, match="mode"):
            access.declare_emergency(uow=uow, actor=DR_HOUSE, patient_id=patient_id, justification=WHY,
                                     mode=Mode.NORMAL)  # fmt: skip
        with pytest.raises(Forbidden, match="professionnel"):
            access.declare_emergency(uow=uow, actor=patient_as(patient_id), patient_id=patient_id, justification=WHY)
        access.set_emergency_refused(uow=uow, actor=patient_as(patient_id), patient_id=patient_id, refused=True)
        uow.commit()
    with platform.uow() as uow, pytest.raises(Forbidden, match="refusé l'accès à son dossier en urgence"):
        access.declare_emergency(uow=uow, actor=NURSE_JOY, patient_id=patient_id, justification=WHY)
    entries = _entries(platform, patient_id)
    assert not [e for e in entries if e.action == "emergency.declare"]
    refused = [e for e in entries if e.action == "record.list" and e.outcome == "denied"]
    assert len(refused) == 1 and refused[0].mode == "emergency" and refused[0].actor_id == NURSE_JOY.id

"""The export and ``Patient/$everything`` carry the agenda (Appointment) and, as the matrix says, the
reimbursements (ExplanationOfBenefit) — the section registered by carnet/space/agenda_export.py."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from carnet.bootstrap import Platform
from carnet.space import agenda, export
from tests.builders import DR_HOUSE, in_care_team, patient_as, qualified_patient
from tests.integration.test_space_export import checked, resources, write_archive


def test_the_agenda_is_in_the_holders_archive_and_in_everything_for_the_medecin(
    platform: Platform, tmp_path: Path
) -> None:
    patient_id = qualified_patient(platform)
    in_care_team(platform, patient_id, DR_HOUSE)
    holder = patient_as(patient_id)
    with platform.uow() as uow:
        start = uow.clock.now() + dt.timedelta(days=5)
        added = agenda.add_event(uow=uow, actor=holder, patient_id=patient_id,
                                 event=agenda.EventIn(kind="appointment", title="Consultation ophtalmologie",
                                                      start_at=start))  # fmt: skip
        uow.commit()
    write_archive(platform, holder, patient_id, tmp_path / "export.zip")
    parts = checked(tmp_path / "export.zip")
    appointments = resources(parts["bundle"], "Appointment")
    assert [a["id"] for a in appointments] == [added.id]
    assert appointments[0]["description"] == "Consultation ophtalmologie"
    with platform.uow() as uow:
        scope_types = frozenset({"Appointment", "ExplanationOfBenefit"})
        everything = export.everything(uow=uow, actor=DR_HOUSE, patient_id=patient_id, types=scope_types)
        uow.commit()
    assert [r["id"] for r in everything if r["resourceType"] == "Appointment"] == [added.id]

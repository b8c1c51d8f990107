"""A patient born in Corsica has a matricule with a letter (``2A…``/``2B…``): their mailbox address is stored in lower
case like every address, is found whatever the case it is written in, and receives a shared document (both
backends)."""

from __future__ import annotations

from typing import Any, cast

from carnet.bootstrap import Platform
from carnet.directory.demo import load_demo_directory
from carnet.messaging import service as mss
from carnet.messaging.model import patient_address
from tests.builders import DR_HOUSE, PLATFORM, in_care_team, patient_as, qualified_patient

CONFIG = mss.MessagingConfig()


def test_a_corsican_matricule_gives_one_lower_case_mailbox_found_in_any_case(platform: Platform) -> None:
    ins, traits = next((i, t) for i, t in cast(Any, platform.insi).people if "A" in i.value or "B" in i.value)
    assert patient_address(ins.value, "Patient.MSSante.fr") == f"{ins.value.lower()}@patient.mssante.fr"
    patient_id = qualified_patient(platform, traits)
    in_care_team(platform, patient_id, DR_HOUSE)
    with platform.uow() as uow:
        load_demo_directory(uow)
        mss.provision_professional(uow=uow, actor=PLATFORM, config=CONFIG, professional_id=DR_HOUSE.id)
        uow.commit()
    with platform.uow() as uow:  # written as the matricule is printed, the mailbox is opened on first use
        sent = mss.send(uow=uow, actor=DR_HOUSE, config=CONFIG, to=[f"{ins.value}@patient.mssante.fr"],
                        subject="Vos résultats", text="Bonjour")  # fmt: skip
        uow.commit()
    assert [r.address for r in sent.recipients] == [f"{ins.value.lower()}@patient.mssante.fr"]
    with platform.uow() as uow:
        assert mss.provision_patient(uow=uow, actor=PLATFORM, config=CONFIG, patient_id=patient_id).address == (
            sent.recipients[0].address
        )
        inbox = mss.list_inbox(uow=uow, actor=patient_as(patient_id))
        uow.commit()
    assert [m.id for m in inbox] == [sent.id]

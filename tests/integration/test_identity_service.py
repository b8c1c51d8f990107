"""The patient index use cases, on both backends, with the sandbox INSi."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from sqlalchemy import select

from carnet.audit.store import AuditRow
from carnet.bootstrap import Platform
from carnet.errors import Conflict, Forbidden, InvalidMatricule, InvalidTransition, NotFound, QualificationNotAllowed
from carnet.identity import service
from carnet.identity.insi import CarteVitaleRead, InsiOutcome
from carnet.identity.status import IdDocumentType, IdentityStatus
from carnet.identity.store import PatientRow
from tests.builders import DR_HOUSE, FRONT_DESK, NURSE_JOY, THE_PATIENT, dominique, make_person


def register(platform: Platform, traits=None) -> str:  # type: ignore[no-untyped-def]
    with platform.uow() as uow:
        reg = service.register(uow=uow, actor=FRONT_DESK, traits=traits or dominique())
        uow.commit()
    return reg.patient.id


def qualify_with_insi_and_id_card(platform: Platform, patient_id: str) -> None:
    with platform.uow() as uow:
        service.retrieve_ins(uow=uow, actor=FRONT_DESK, insi=platform.insi, patient_id=patient_id)
        service.record_document_check(uow=uow, actor=FRONT_DESK, patient_id=patient_id, document_type=IdDocumentType.CN)
        uow.commit()


def status_of(platform: Platform, patient_id: str) -> IdentityStatus:
    with platform.uow() as uow:
        return service.get_or_raise(uow=uow, actor=FRONT_DESK, patient_id=patient_id).status


def test_a_new_identity_is_provisional_and_has_no_ins(platform: Platform) -> None:
    patient_id = register(platform)
    with platform.uow() as uow:
        patient = service.get_or_raise(uow=uow, actor=FRONT_DESK, patient_id=patient_id)
    assert patient.status is IdentityStatus.PROV
    assert patient.ins is None
    assert patient.traits.birth_name == "PAT-TROIS"


def test_insi_then_identity_document_qualifies_and_the_ins_is_found_again(platform: Platform) -> None:
    patient_id = register(platform)
    qualify_with_insi_and_id_card(platform, patient_id)
    with platform.uow() as uow:
        found = service.find_by_ins(uow=uow, actor=DR_HOUSE, matricule="279035121518989")
        uow.commit()
    assert found is not None and found.id == patient_id
    assert found.status is IdentityStatus.QUAL
    assert found.ins is not None and found.ins.oid.value == "1.2.250.1.213.1.4.10"


def test_document_first_then_insi_also_qualifies(platform: Platform) -> None:
    patient_id = register(platform)
    with platform.uow() as uow:
        service.record_document_check(uow=uow, actor=FRONT_DESK, patient_id=patient_id, document_type=IdDocumentType.PA)
        assert service.get_or_raise(uow=uow, actor=FRONT_DESK, patient_id=patient_id).status is IdentityStatus.VALI
        service.retrieve_ins(uow=uow, actor=FRONT_DESK, insi=platform.insi, patient_id=patient_id)
        uow.commit()
    assert status_of(platform, patient_id) is IdentityStatus.QUAL


def test_insi_traits_replace_the_front_desk_spelling_and_the_differences_are_reported(platform: Platform) -> None:
    patient_id = register(platform, dominique(birth_first_names="Dominique"))
    with platform.uow() as uow:
        result = service.retrieve_ins(uow=uow, actor=FRONT_DESK, insi=platform.insi, patient_id=patient_id)
        uow.commit()
    assert result.outcome is InsiOutcome.FOUND
    assert result.differences == ("birth_first_names",)
    assert result.perfect_match is False
    assert result.patient.traits.birth_first_names == "DOMINIQUE MARIE-LOUISE"
    assert result.patient.status is IdentityStatus.RECUP


def test_no_match_and_several_matches_leave_the_identity_unchanged_but_traced(platform: Platform) -> None:
    unknown = register(platform, make_person(birth_name="Inconnu"))
    homonym = register(
        platform,
        make_person(
            birth_name="Martin", birth_first_names="Jean", sex="M", birth_date="1985-06-15", birth_place="99999"
        ),
    )
    with platform.uow() as uow:
        none = service.retrieve_ins(uow=uow, actor=FRONT_DESK, insi=platform.insi, patient_id=unknown)
        several = service.retrieve_ins(uow=uow, actor=FRONT_DESK, insi=platform.insi, patient_id=homonym)
        uow.commit()
    assert (none.outcome, several.outcome) == (InsiOutcome.NOT_FOUND, InsiOutcome.SEVERAL_FOUND)
    assert status_of(platform, unknown) is IdentityStatus.PROV
    with platform.uow() as uow:
        calls = uow.session.scalars(select(AuditRow).where(AuditRow.action == "identity.insi_call")).all()
    assert sorted(c.detail["code"] for c in calls) == ["01", "02"]  # type: ignore[index]


def test_carte_vitale_of_a_parent_retrieves_the_childs_own_ins(platform: Platform) -> None:
    child = register(
        platform,
        make_person(
            birth_name="Durand", birth_first_names="Lucie", sex="F", birth_date="2016-05-09", birth_place="75056"
        ),
    )
    card = CarteVitaleRead(
        card_nir="282099910961343", beneficiary_birth_date=dt.date(2016, 5, 9), beneficiary_first_name="Lucie"
    )
    with platform.uow() as uow:
        result = service.retrieve_ins(
            uow=uow, actor=FRONT_DESK, insi=platform.insi, patient_id=child, carte_vitale=card
        )
        uow.commit()
    assert result.patient.ins is not None and result.patient.ins.value == "216057505646273"


def test_an_insi_match_with_another_birth_date_is_refused_as_another_person(platform: Platform) -> None:
    # Same card, but the front desk typed another child's birth date: INSi answers for someone else.
    patient_id = register(
        platform, make_person(birth_name="Durand", birth_first_names="Lucie", birth_date="2016-05-08")
    )
    card = CarteVitaleRead(
        card_nir="282099910961343", beneficiary_birth_date=dt.date(2016, 5, 9), beneficiary_first_name="Lucie"
    )
    with platform.uow() as uow, pytest.raises(Conflict, match="date de naissance"):
        service.retrieve_ins(uow=uow, actor=FRONT_DESK, insi=platform.insi, patient_id=patient_id, carte_vitale=card)
    assert status_of(platform, patient_id) is IdentityStatus.PROV


def test_the_same_ins_cannot_be_attached_to_two_records(platform: Platform) -> None:
    first = register(platform)
    qualify_with_insi_and_id_card(platform, first)
    second = register(platform)
    with platform.uow() as uow, pytest.raises(Conflict, match="déjà attaché"):
        service.retrieve_ins(uow=uow, actor=FRONT_DESK, insi=platform.insi, patient_id=second)


def test_exception_procedure_by_the_doctor_after_a_perfect_match(platform: Platform) -> None:
    patient_id = register(platform)
    with platform.uow() as uow:
        result = service.retrieve_ins(uow=uow, actor=DR_HOUSE, insi=platform.insi, patient_id=patient_id)
        assert result.perfect_match
        service.attest_exception(uow=uow, actor=DR_HOUSE, patient_id=patient_id, note="patiente suivie depuis 2005")
        uow.commit()
    assert status_of(platform, patient_id) is IdentityStatus.QUAL


@pytest.mark.parametrize(
    ("actor", "front_desk_first_names", "error"),
    [
        pytest.param(FRONT_DESK, "Dominique Marie-Louise", QualificationNotAllowed, id="never the secretariat"),
        pytest.param(NURSE_JOY, "Dominique Marie-Louise", QualificationNotAllowed, id="only a doctor"),
        pytest.param(DR_HOUSE, "Dominique", InvalidTransition, id="only after a perfect INSi match"),
    ],
)
def test_exception_procedure_refusals(platform: Platform, actor, front_desk_first_names, error) -> None:  # type: ignore[no-untyped-def]
    patient_id = register(platform, dominique(birth_first_names=front_desk_first_names))
    with platform.uow() as uow:
        service.retrieve_ins(uow=uow, actor=FRONT_DESK, insi=platform.insi, patient_id=patient_id)
        uow.commit()
    with platform.uow() as uow, pytest.raises(error):
        service.attest_exception(uow=uow, actor=actor, patient_id=patient_id)
    assert status_of(platform, patient_id) is IdentityStatus.RECUP


def test_a_patient_cannot_qualify_their_own_identity(platform: Platform) -> None:
    patient_id = register(platform)
    with platform.uow() as uow, pytest.raises(QualificationNotAllowed):
        service.record_document_check(
            uow=uow, actor=THE_PATIENT, patient_id=patient_id, document_type=IdDocumentType.CN
        )


def test_changing_a_trait_of_a_qualified_identity_drops_it_and_detaches_the_ins(platform: Platform) -> None:
    patient_id = register(platform)
    qualify_with_insi_and_id_card(platform, patient_id)
    with platform.uow() as uow:
        current = service.get_or_raise(uow=uow, actor=FRONT_DESK, patient_id=patient_id)
        married = dataclasses.replace(current.traits, used_name="LEGRAND")
        still = service.change_traits(uow=uow, actor=FRONT_DESK, patient_id=patient_id, traits=married)
        assert still.status is IdentityStatus.QUAL, "the used name is not an INS trait"
        corrected = dataclasses.replace(current.traits, birth_place="51454")
        dropped = service.change_traits(
            uow=uow, actor=FRONT_DESK, patient_id=patient_id, traits=corrected, document_type=IdDocumentType.PA
        )
        uow.commit()
    assert dropped.status is IdentityStatus.VALI
    assert dropped.ins is None
    with platform.uow() as uow:
        assert service.find_by_ins(uow=uow, actor=FRONT_DESK, matricule="279035121518989") is None


def test_changing_a_trait_without_a_document_makes_the_identity_provisional(platform: Platform) -> None:
    patient_id = register(platform)
    qualify_with_insi_and_id_card(platform, patient_id)
    with platform.uow() as uow:
        current = service.get_or_raise(uow=uow, actor=FRONT_DESK, patient_id=patient_id)
        changed = service.change_traits(
            uow=uow,
            actor=FRONT_DESK,
            patient_id=patient_id,
            traits=dataclasses.replace(current.traits, birth_date=dt.date(1979, 3, 29)),
        )
        uow.commit()
    assert changed.status is IdentityStatus.PROV


def test_possible_collisions_are_reported_at_registration(platform: Platform) -> None:
    original = register(platform)
    with platform.uow() as uow:
        typo = service.register(uow=uow, actor=FRONT_DESK, traits=dominique(birth_name="Pat-Troi"))
        swapped = service.register(
            uow=uow, actor=FRONT_DESK, traits=dominique(birth_date="1979-03-28", birth_name="Patrois")
        )
        stranger = service.register(uow=uow, actor=FRONT_DESK, traits=make_person())
        uow.commit()
    assert [c.patient_id for c in typo.collisions] == [original]
    assert "même date de naissance" in typo.collisions[0].reasons
    assert original in [c.patient_id for c in swapped.collisions]
    assert stranger.collisions == []


def test_merging_keeps_both_histories_and_redirects_to_the_survivor(platform: Platform) -> None:
    survivor = register(platform)
    qualify_with_insi_and_id_card(platform, survivor)
    duplicate = register(platform, dominique(birth_name="Pat-Troi"))
    with platform.uow() as uow:
        service.merge(uow=uow, actor=FRONT_DESK, survivor_id=survivor, absorbed_id=duplicate, note="doublon accueil")
        uow.commit()
    with platform.uow() as uow:
        assert service.get_or_raise(uow=uow, actor=FRONT_DESK, patient_id=duplicate).id == survivor
        events = service.history(uow=uow, actor=FRONT_DESK, patient_id=survivor)
        with pytest.raises(Conflict, match="fusionné"):
            service.history(uow=uow, actor=FRONT_DESK, patient_id=duplicate)
    assert {e.patient_id for e in events} == {survivor, duplicate}
    assert [e.kind for e in events if e.patient_id == duplicate] == ["created", "merged_into"]
    assert service  # history of the survivor includes its qualification steps
    assert [e.to_status for e in events if e.patient_id == survivor and e.kind == "status"] == ["RECUP", "QUAL"]


def test_the_lean_read_gives_what_get_gives_follows_merges_and_is_traced(platform: Platform) -> None:
    survivor = register(platform)
    qualify_with_insi_and_id_card(platform, survivor)
    duplicate = register(platform, dominique(birth_name="Pat-Troi"))
    with platform.uow() as uow:
        service.merge(uow=uow, actor=FRONT_DESK, survivor_id=survivor, absorbed_id=duplicate, note="doublon accueil")
        uow.commit()
    with platform.uow() as uow:
        expected = service.get_or_raise(uow=uow, actor=DR_HOUSE, patient_id=survivor)
    with platform.uow() as uow:
        for patient_id in (survivor, duplicate):
            assert service.read_or_raise(uow=uow, actor=DR_HOUSE, patient_id=patient_id) == expected
        assert not any(isinstance(o, PatientRow) for o in uow.session.identity_map.values())  # a Core select
        with pytest.raises(NotFound, match="introuvable"):
            service.read_or_raise(uow=uow, actor=DR_HOUSE, patient_id="no-such-patient")
        uow.commit()
    with platform.uow() as uow:
        reads = uow.session.scalars(
            select(AuditRow).where(AuditRow.action == "identity.read", AuditRow.actor_id == DR_HOUSE.id)
        ).all()
    assert [r.patient_id for r in reads] == [survivor, survivor]  # the uncommitted get's trace is not there


def test_the_lean_read_sees_the_changes_of_its_own_unit_of_work(platform: Platform) -> None:
    patient_id = register(platform)
    with platform.uow() as uow:
        row = uow.patients.get(patient_id)
        assert row is not None
        row.used_name = "MARTIN"  # not flushed: the row the session holds is the one read
        assert service.read_or_raise(uow=uow, actor=DR_HOUSE, patient_id=patient_id).traits.used_name == "MARTIN"
    with platform.uow() as uow:
        created = service.register(uow=uow, actor=FRONT_DESK, traits=make_person())
        uow.session.expunge_all()  # only the database knows it now, inside this transaction
        found = service.read_or_raise(uow=uow, actor=DR_HOUSE, patient_id=created.patient.id)
        assert found.traits.birth_name == "LAGARDE"


def test_merge_refusals(platform: Platform) -> None:
    first = register(platform)
    qualify_with_insi_and_id_card(platform, first)
    other = register(platform, make_person())
    with platform.uow() as uow:
        with pytest.raises(Conflict, match="conserver celui qui porte l'INS"):
            service.merge(uow=uow, actor=FRONT_DESK, survivor_id=other, absorbed_id=first)
        with pytest.raises(Forbidden):
            service.merge(uow=uow, actor=THE_PATIENT, survivor_id=first, absorbed_id=other)
        with pytest.raises(NotFound):
            service.merge(uow=uow, actor=FRONT_DESK, survivor_id=first, absorbed_id="no-such-patient")


def test_search_by_traits_is_accent_and_case_insensitive(platform: Platform) -> None:
    patient_id = register(platform, make_person(birth_name="Lefèvre", birth_first_names="Zoé"))
    with platform.uow() as uow:
        hits = service.search(uow=uow, actor=FRONT_DESK, birth_name="lefevre", first_name="zoe")
        dated = service.search(uow=uow, actor=FRONT_DESK, birth_date=dt.date(1990, 2, 14))
    assert [p.id for p in hits] == [patient_id]
    assert [p.id for p in dated] == [patient_id]


def test_a_malformed_ins_is_an_error_not_a_miss(platform: Platform) -> None:
    with platform.uow() as uow, pytest.raises(InvalidMatricule) as info:
        service.find_by_ins(uow=uow, actor=FRONT_DESK, matricule="279035121518988")
    assert info.value.part == "key"


def test_every_read_and_write_is_audited_with_the_actor(platform: Platform) -> None:
    patient_id = register(platform)
    with platform.uow() as uow:
        service.get_or_raise(uow=uow, actor=DR_HOUSE, patient_id=patient_id)
        uow.commit()
    with platform.uow() as uow:
        rows = uow.audit.for_patient(patient_id)
    assert [(r.action, r.actor_id) for r in rows] == [
        ("identity.create", FRONT_DESK.id),
        ("identity.read", DR_HOUSE.id),
    ]

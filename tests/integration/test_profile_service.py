"""The health profile's use cases on both backends: measures checked and refused with every reason (traced, nothing
stored), the access decision on each category (care team, matrix, blocks, apps' grants), the questionnaire and its
allergies, vaccinations; every read and write in the audit trail; the tables as migrated."""

from __future__ import annotations

import datetime as dt

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, select

from carnet.access import service as access
from carnet.access.model import Actor, ActorKind, AuthMethod
from carnet.audit.store import AuditRow
from carnet.bootstrap import Platform
from carnet.errors import Forbidden
from carnet.space import profile
from carnet.space.profile_model import AllergyIn, Answers, ImmunizationIn, Measurement, ProfileRejected, Quantity
from carnet.space.profile_store import ObservationRow
from carnet.storage.models import metadata
from tests.builders import DR_HOUSE, NURSE_JOY, PLATFORM, in_care_team, patient_as, qualified_patient

NOW = dt.datetime(2026, 11, 22, 9, 30, tzinfo=dt.UTC)
SOCIAL_WORKER = Actor(kind=ActorKind.PROFESSIONAL, id="810000000041", auth_method=AuthMethod.CPS, profession="41",
                      name="Nina ASSISTANTE")  # fmt: skip
TENSIO = Actor(kind=ActorKind.APP, id="app-tensio", auth_method=AuthMethod.APP_TOKEN, name="Tensio")


def weight(kg: float, *, unit: str = "kg", at: dt.datetime = NOW - dt.timedelta(hours=1)) -> Measurement:
    return Measurement(kind="weight", values={"weight": Quantity(kg, unit)}, effective_at=at)


def blood_pressure(systolic: float, diastolic: float) -> Measurement:
    return Measurement(kind="blood_pressure", effective_at=NOW - dt.timedelta(minutes=5), values={
        "systolic": Quantity(systolic, "mm[Hg]", where="Observation.component[0].valueQuantity"),
        "diastolic": Quantity(diastolic, "mm[Hg]", where="Observation.component[1].valueQuantity"),
    })  # fmt: skip


def trail(platform: Platform, patient_id: str) -> list[tuple[str, str]]:
    with platform.uow() as uow:
        rows = uow.session.scalars(select(AuditRow).where(AuditRow.patient_id == patient_id).order_by(AuditRow.id))
        return [(r.action, r.outcome) for r in rows]


def stored_measures(platform: Platform) -> int:
    with platform.uow() as uow:
        return len(uow.session.scalars(select(ObservationRow)).all())


@pytest.fixture
def dominique(platform: Platform) -> str:
    patient_id = qualified_patient(platform)
    in_care_team(platform, patient_id, DR_HOUSE, NURSE_JOY, SOCIAL_WORKER)
    return patient_id


def test_the_profile_tables_match_the_migrated_schema(engine: Engine) -> None:
    with engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
    assert [d for d in diffs if "profile_" in repr(d)] == []


def test_the_holder_records_measures_that_the_care_team_reads_as_the_matrix_says(
    platform: Platform, dominique: str
) -> None:
    holder = patient_as(dominique)
    with platform.uow() as uow:
        added = profile.add_measure(uow=uow, actor=holder, patient_id=dominique, measurement=weight(64.5))
        profile.add_measure(uow=uow, actor=holder, patient_id=dominique, measurement=weight(65200, unit="g",
                            at=NOW - dt.timedelta(days=2)))  # fmt: skip
        profile.add_measure(uow=uow, actor=holder, patient_id=dominique, measurement=blood_pressure(128, 82))
        uow.commit()
    assert added.source.kind == "patient" and added.values == {"weight": (64.5, "kg")}
    with platform.uow() as uow:
        seen = profile.list_measures(uow=uow, actor=DR_HOUSE, patient_id=dominique, kinds=["weight"])
        nurse = profile.list_measures(uow=uow, actor=NURSE_JOY, patient_id=dominique)
        uow.commit()
    assert [m.canonical() for m in seen] == [65.2, 64.5], "oldest first, grams shown as kilograms"
    assert len(nurse) == 3
    with platform.uow() as uow, pytest.raises(Forbidden, match="constantes de santé"):
        profile.list_measures(uow=uow, actor=SOCIAL_WORKER, patient_id=dominique)
    actions = trail(platform, dominique)
    assert actions.count(("profile.vital_add", "success")) == 3
    assert ("profile.vital_list", "success") in actions and ("profile.vital_list", "denied") in actions


@pytest.mark.parametrize(
    ("measurement", "code", "where"),
    [
        pytest.param(weight(900), "out_of_range", "Observation.valueQuantity.value", id="900 kg"),
        pytest.param(weight(0.1), "out_of_range", "Observation.valueQuantity.value", id="100 g"),
        pytest.param(weight(70, unit="[lb_av]"), "wrong_unit", "Observation.valueQuantity.code", id="pounds"),
        pytest.param(weight(70, unit="mm[Hg]"), "wrong_unit", "Observation.valueQuantity.code", id="a pressure unit"),
        pytest.param(
            weight(70, at=NOW + dt.timedelta(days=1)), "in_the_future", "Observation.effectiveDateTime", id="tomorrow"
        ),  # fmt: skip
        pytest.param(
            weight(70, at=dt.datetime(1970, 1, 1, tzinfo=dt.UTC)),
            "before_birth",
            "Observation.effectiveDateTime",
            id="before birth",
        ),  # fmt: skip
        pytest.param(
            blood_pressure(80, 95),
            "systolic_not_above_diastolic",
            "Observation.component[0].valueQuantity.value",
            id="systolic below diastolic",
        ),  # fmt: skip
        pytest.param(
            blood_pressure(400, 80), "out_of_range", "Observation.component[0].valueQuantity.value", id="systolic 400"
        ),  # fmt: skip
        pytest.param(
            Measurement(kind="temperature", values={"temperature": Quantity(98.6, "[degF]")}, effective_at=NOW),
            "wrong_unit",
            "Observation.valueQuantity.code",
            id="fahrenheit",
        ),  # fmt: skip
        pytest.param(
            Measurement(
                kind="temperature", values={"temperature": Quantity(37.0, "Cel", system="local")}, effective_at=NOW
            ),
            "unit_system",
            "Observation.valueQuantity.system",
            id="not UCUM",
        ),  # fmt: skip
        pytest.param(
            Measurement(kind="mood", values={}, effective_at=NOW),
            "unknown_vital",
            "Observation.code",
            id="unknown kind",
        ),  # fmt: skip
    ],
)
def test_a_measure_out_of_range_or_in_a_wrong_unit_is_refused_traced_and_not_stored(
    platform: Platform, dominique: str, measurement: Measurement, code: str, where: str
) -> None:
    with platform.uow() as uow, pytest.raises(ProfileRejected) as refused:
        profile.add_measure(uow=uow, actor=patient_as(dominique), patient_id=dominique, measurement=measurement)
        uow.commit()
    assert [(p.code, p.expression) for p in refused.value.problems][:1] == [(code, where)]
    assert refused.value.http_status == 422 and refused.value.field == where
    assert stored_measures(platform) == 0
    assert trail(platform, dominique)[-1] == ("profile.vital_refused", "denied")


def test_every_problem_of_a_measure_is_said_at_once(platform: Platform, dominique: str) -> None:
    bad = Measurement(kind="blood_pressure", effective_at=NOW + dt.timedelta(days=3), values={
        "systolic": Quantity(500, "mm[Hg]", where="Observation.component[0].valueQuantity"),
        "diastolic": Quantity(80, "kPa", where="Observation.component[1].valueQuantity"),
    })  # fmt: skip
    with platform.uow() as uow, pytest.raises(ProfileRejected) as refused:
        profile.add_measure(uow=uow, actor=patient_as(dominique), patient_id=dominique, measurement=bad)
    assert [p.expression for p in refused.value.problems] == [
        "Observation.component[0].valueQuantity.value",
        "Observation.component[1].valueQuantity.code",
        "Observation.effectiveDateTime",
    ]
    assert "hors des valeurs physiologiques" in refused.value.problems[0].fr


def test_a_professional_does_not_enter_vitals_and_a_blocked_one_reads_nothing(
    platform: Platform, dominique: str
) -> None:
    with platform.uow() as uow, pytest.raises(Forbidden, match="titulaire"):
        profile.add_measure(uow=uow, actor=DR_HOUSE, patient_id=dominique, measurement=weight(70))
    with platform.uow() as uow:
        profile.add_measure(uow=uow, actor=patient_as(dominique), patient_id=dominique, measurement=weight(70))
        access.block(uow=uow, actor=patient_as(dominique), patient_id=dominique, target_kind="professional",
                     target_id=DR_HOUSE.id)  # fmt: skip
        uow.commit()
    for read in (profile.list_measures, profile.list_allergies, profile.list_immunizations,
                 profile.current_questionnaire):  # fmt: skip
        with platform.uow() as uow, pytest.raises(Forbidden, match="opposé"):
            read(uow=uow, actor=DR_HOUSE, patient_id=dominique)
    assert stored_measures(platform) == 1


def test_an_app_feeds_the_vitals_only_with_a_write_grant_on_them(platform: Platform, dominique: str) -> None:
    with platform.uow() as uow, pytest.raises(Forbidden, match="autorisation"):
        profile.add_measure(uow=uow, actor=TENSIO, patient_id=dominique, measurement=blood_pressure(121, 79))
    with platform.uow() as uow:
        access.add_grant(uow=uow, actor=patient_as(dominique), patient_id=dominique, grantee_kind="app",
                         grantee_id=TENSIO.id, can_read=True, can_write=True,
                         class_codes=frozenset({"space:vitals"}))  # fmt: skip
        uow.commit()
    with platform.uow() as uow:
        added = profile.add_measure(uow=uow, actor=TENSIO, patient_id=dominique, measurement=blood_pressure(121, 79))
        uow.commit()
    assert added.source.kind == "app" and added.source.name == "Tensio"
    with platform.uow() as uow, pytest.raises(Forbidden, match="catégorie"):
        profile.add_allergy(uow=uow, actor=TENSIO, patient_id=dominique, allergy=AllergyIn(substance="Arachide"))
    with platform.uow() as uow:
        assert [m.id for m in profile.list_measures(uow=uow, actor=TENSIO, patient_id=dominique)] == [added.id]


def test_the_questionnaire_keeps_its_allergies_as_allergy_intolerances(platform: Platform, dominique: str) -> None:
    holder = patient_as(dominique)
    first = Answers.from_text(treatments="Lévothyroxine 75 µg le matin\nParacétamol si douleur",
                              allergies="Pénicilline\nArachide", directives_written=True,
                              directives_where="Chez mon médecin traitant")  # fmt: skip
    with platform.uow() as uow:
        saved = profile.save_questionnaire(uow=uow, actor=holder, patient_id=dominique, answers=first)
        profile.add_allergy(
            uow=uow,
            actor=DR_HOUSE,
            patient_id=dominique,
            allergy=AllergyIn(substance="Latex", criticality="high", category="environment"),
        )
        uow.commit()
    assert saved.status == "completed" and saved.answers.treatments[0] == "Lévothyroxine 75 µg le matin"
    again = Answers.from_text(treatments="Lévothyroxine 75 µg le matin", allergies="penicilline\nIode")
    with platform.uow() as uow:
        amended = profile.save_questionnaire(uow=uow, actor=holder, patient_id=dominique, answers=again)
        uow.commit()
    assert amended.status == "amended"
    with platform.uow() as uow:
        active = profile.list_allergies(uow=uow, actor=NURSE_JOY, patient_id=dominique)
        every = profile.list_allergies(uow=uow, actor=holder, patient_id=dominique, active_only=False)
        current = profile.current_questionnaire(uow=uow, actor=DR_HOUSE, patient_id=dominique)
        uow.commit()
    assert sorted(a.substance for a in active) == ["Iode", "Latex", "Pénicilline"]
    assert {a.substance: a.clinical_status for a in every}["Arachide"] == "inactive"
    assert {a.substance: a.origin for a in every}["Latex"] == "direct"
    assert current is not None and current.id == amended.id and current.answers.allergies == ("penicilline", "Iode")
    with platform.uow() as uow, pytest.raises(Forbidden, match="questionnaire"):
        profile.save_questionnaire(uow=uow, actor=DR_HOUSE, patient_id=dominique, answers=again)
    actions = trail(platform, dominique)
    assert ("profile.questionnaire_save", "success") in actions and (
        "profile.questionnaire_refused",
        "denied",
    ) in actions


def test_vaccinations_by_the_holder_and_the_nurse(platform: Platform, dominique: str) -> None:
    with platform.uow() as uow:
        declared = profile.add_immunization(
            uow=uow,
            actor=patient_as(dominique),
            patient_id=dominique,
            immunization=ImmunizationIn(occurrence=dt.date(2021, 4, 9), vaccine_cis="61920725", dose_number=1),
        )
        given = profile.add_immunization(
            uow=uow,
            actor=NURSE_JOY,
            patient_id=dominique,
            immunization=ImmunizationIn(
                occurrence=dt.date(2026, 11, 20), vaccine_text="Vaccin contre la grippe saisonnière", lot_number="X42"
            ),
        )
        uow.commit()  # fmt: skip
    assert declared.atc == "J07AH" and not declared.primary_source
    assert given.vaccine_cis is None and given.primary_source
    with platform.uow() as uow, pytest.raises(ProfileRejected) as refused:
        profile.add_immunization(
            uow=uow,
            actor=NURSE_JOY,
            patient_id=dominique,
            immunization=ImmunizationIn(occurrence=dt.date(2026, 12, 25), vaccine_cis="000"),
        )
    assert [p.code for p in refused.value.problems] == ["unknown_vaccine", "in_the_future"]
    with platform.uow() as uow:
        seen = profile.list_immunizations(uow=uow, actor=DR_HOUSE, patient_id=dominique)
    assert [i.id for i in seen] == [declared.id, given.id]


def test_a_removed_measure_is_kept_but_no_longer_shown(platform: Platform, dominique: str) -> None:
    holder = patient_as(dominique)
    with platform.uow() as uow:
        added = profile.add_measure(uow=uow, actor=holder, patient_id=dominique, measurement=weight(70))
        uow.commit()
    with platform.uow() as uow, pytest.raises(Forbidden):
        profile.remove_measure(uow=uow, actor=DR_HOUSE, measure_id=added.id)
    with platform.uow() as uow:
        profile.remove_measure(uow=uow, actor=holder, measure_id=added.id)
        uow.commit()
    with platform.uow() as uow:
        assert profile.list_measures(uow=uow, actor=holder, patient_id=dominique) == []
    assert stored_measures(platform) == 1


def test_the_overview_says_what_each_professional_may_read(platform: Platform, dominique: str) -> None:
    with platform.uow() as uow:
        social = profile.overview(uow=uow, actor=SOCIAL_WORKER, patient_id=dominique)
        doctor = profile.overview(uow=uow, actor=DR_HOUSE, patient_id=dominique)
    assert not any(c.allowed for c in social) and all(c.allowed for c in doctor)
    assert "matrix_denied" in social[0].decision.codes
    assert PLATFORM.kind == ActorKind.SYSTEM


def test_the_export_and_everything_hold_the_profile_the_actor_may_read(platform: Platform, dominique: str) -> None:
    from fhir.resources.R4B.bundle import Bundle

    from carnet.space import export

    holder = patient_as(dominique)
    with platform.uow() as uow:
        profile.add_measure(uow=uow, actor=holder, patient_id=dominique, measurement=weight(64.5))
        profile.save_questionnaire(
            uow=uow,
            actor=holder,
            patient_id=dominique,
            answers=Answers.from_text(treatments="Lévothyroxine", allergies="Arachide"),
        )
        profile.add_immunization(
            uow=uow,
            actor=NURSE_JOY,
            patient_id=dominique,
            immunization=ImmunizationIn(occurrence=dt.date(2026, 11, 20), vaccine_cis="68747507"),
        )
        uow.commit()  # fmt: skip
    assert {"Observation", "Immunization", "AllergyIntolerance", "QuestionnaireResponse"} <= set(
        export.resource_types()
    )
    with platform.uow() as uow:
        found = export.everything(uow=uow, actor=holder, patient_id=dominique)
        uow.commit()
    kinds = [r["resourceType"] for r in found]
    for kind in ("Observation", "Immunization", "AllergyIntolerance", "QuestionnaireResponse"):
        assert kinds.count(kind) == 1, kind
    Bundle.model_validate({"resourceType": "Bundle", "type": "collection",
                           "entry": [{"resource": r} for r in found]})  # fmt: skip
    with platform.uow() as uow:
        social = export.everything(uow=uow, actor=SOCIAL_WORKER, patient_id=dominique)
        uow.commit()
    assert not {"Observation", "Immunization", "AllergyIntolerance", "QuestionnaireResponse"} & {
        r["resourceType"] for r in social
    }, "the matrix keeps the profile from a social worker"

"""The health profile's pages without a browser, both backends: the questionnaire saved and shown again, a measure
added and drawn (SVG chart and its table), a measure out of range refused in place with nothing stored, the
vaccinations, English, the CSRF token, and the professional's view of what the matrix allows."""

from __future__ import annotations

import html
import re

import pytest
from fastapi.testclient import TestClient

from carnet.access.model import Actor, ActorKind, AuthMethod
from carnet.bootstrap import Platform
from carnet.space import profile
from tests.api.conftest import Tokens
from tests.builders import DR_HOUSE, in_care_team, patient_as, qualified_patient
from tests.web.test_pages import DOMINIQUE_INS, _signed_in

CSRF = "jeton-csrf"
SOCIAL_WORKER = Actor(kind=ActorKind.PROFESSIONAL, id="810000000041", auth_method=AuthMethod.CPS, profession="41",
                      name="Nina ASSISTANTE")  # fmt: skip


def text(answer: object) -> str:
    return html.unescape(answer.text)  # type: ignore[attr-defined]


@pytest.fixture
def dominique(platform: Platform) -> str:
    patient_id = qualified_patient(platform)
    in_care_team(platform, patient_id, DR_HOUSE, SOCIAL_WORKER)
    return patient_id


@pytest.fixture
def signed_in(client: TestClient, tokens: Tokens, dominique: str) -> TestClient:
    _signed_in(client, tokens.for_patient(DOMINIQUE_INS))
    return client


def measures(platform: Platform, patient_id: str) -> list[profile.MeasureView]:
    with platform.uow() as uow:
        return profile.list_measures(uow=uow, actor=patient_as(patient_id), patient_id=patient_id)


def test_the_questionnaire_is_saved_and_shown_again_with_its_allergies(
    signed_in: TestClient, platform: Platform, dominique: str
) -> None:
    empty = signed_in.get("/espace/profil")
    assert empty.status_code == 200 and "Vous n'avez pas encore rempli votre profil médical" in text(empty)
    assert 'aria-current="page">Mon profil médical' in empty.text
    saved = signed_in.post("/espace/profil", data={
        "csrf": CSRF, "traitements": "Lévothyroxine 75 µg\n\nParacétamol si douleur",
        "interventions": "Appendicectomie (1995)", "antecedents": "", "allergies": "Pénicilline", "redigees": "oui",
        "lieu": "Chez mon médecin traitant",
        "confiance": "Camille PAT-TROIS, 06 00 00 00 00"}, follow_redirects=False)  # fmt: skip
    assert saved.status_code == 303 and saved.headers["location"] == "/espace/profil?fait=enregistre#confirmation"
    shown = text(signed_in.get("/espace/profil?fait=enregistre"))
    assert "Votre profil médical a été enregistré." in shown
    assert "Lévothyroxine 75 µg\nParacétamol si douleur</textarea>" in shown
    assert re.search(r'value="oui" checked', shown)
    assert "Pénicilline" in shown.split("Allergies connues de votre dossier")[1]
    english = text(signed_in.get("/espace/profil?lang=en"))
    assert "My health profile" in english and "Current treatments" in english and 'lang="en"' in english
    with platform.uow() as uow:
        allergies = profile.list_allergies(uow=uow, actor=DR_HOUSE, patient_id=dominique)
    assert [a.substance for a in allergies] == ["Pénicilline"]


def test_the_short_addresses_of_the_hub_lead_to_the_pages(signed_in: TestClient) -> None:
    for short, target in (("/profil", "/espace/profil"), ("/mesures", "/espace/mesures"),
                          ("/vaccinations", "/espace/vaccinations")):  # fmt: skip
        answer = signed_in.get(short, follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"] == target
    assert signed_in.get("/mesures?lang=en", follow_redirects=False).headers["location"] == "/espace/mesures?lang=en"


def test_a_weight_added_is_drawn_and_listed(signed_in: TestClient, platform: Platform, dominique: str) -> None:
    form = signed_in.get("/espace/mesures/ajouter?type=weight")
    assert form.status_code == 200 and "Ajouter une mesure : Poids" in text(form)
    assert "de 0,3 à 500 kg" in text(form)
    for value, day in (("65,2", "2026-11-01"), ("64,5", "2026-11-20")):
        added = signed_in.post("/espace/mesures/ajouter", data={"csrf": CSRF, "type": "weight", "valeur": value,
                                                                "unite": "kg", "date": day, "heure": "08:30"},
                               follow_redirects=False)  # fmt: skip
        assert added.status_code == 303, text(added)
        assert added.headers["location"] == "/espace/mesures?fait=ajoutee#mesure-weight"
    page = text(signed_in.get("/espace/mesures?fait=ajoutee"))
    assert "La mesure a été ajoutée." in page
    chart = page.split('<section class="card" id="mesure-weight"')[1].split("</section>")[0]
    assert chart.count("<circle") == 2 and "<polyline" in chart and 'role="img"' in chart
    assert "Poids : 2 mesure(s), de 65,2 le 01/11/2026 à 64,5 le 20/11/2026" in chart
    assert "<caption" in chart and "64,5 kg" in chart and "65,2 kg" in chart
    assert [m.values["weight"] for m in measures(platform, dominique)] == [(65.2, "kg"), (64.5, "kg")]
    english = text(signed_in.get("/espace/mesures?lang=en"))
    assert "Weight: 2 measure(s), from 65.2 on 2026-11-01 to 64.5 on 2026-11-20" in english


def test_a_blood_pressure_has_two_series_told_apart_by_more_than_colour(signed_in: TestClient) -> None:
    for systolic, diastolic, day in (("128", "82", "2026-11-20"), ("121", "79", "2026-11-21")):
        answer = signed_in.post("/espace/mesures/ajouter", data={"csrf": CSRF, "type": "blood_pressure",
                                                                 "systolique": systolic, "diastolique": diastolic,
                                                                 "date": day, "heure": "07:00"},
                                follow_redirects=False)  # fmt: skip
        assert answer.status_code == 303, text(answer)
    page = text(signed_in.get("/espace/mesures"))
    section = page.split('id="mesure-blood_pressure"')[1].split("</section>")[0]
    assert section.count("<polyline") == 2 and 'stroke-dasharray="6 4"' in section
    assert "Pression systolique" in section and "Pression diastolique" in section and "121 / 79 mm[Hg]" in section


@pytest.mark.parametrize(
    ("data", "message", "field"),
    [
        pytest.param({"valeur": "900"}, "Poids hors des valeurs physiologiques : 900 kg", "valeur", id="900 kg"),
        pytest.param({"valeur": "70", "unite": "[lb_av]"}, "unité « [lb_av] » refusée", "unite", id="pounds"),
        pytest.param({"valeur": "beaucoup"}, "Poids : un nombre est attendu", "valeur", id="not a number"),
        pytest.param(
            {"valeur": "70", "date": "2026-12-24"}, "la date de la mesure est dans le futur", "date", id="in the future"
        ),  # fmt: skip
    ],
)
def test_a_measure_refused_says_why_in_place_and_nothing_is_stored(
    signed_in: TestClient, platform: Platform, dominique: str, data: dict[str, str], message: str, field: str
) -> None:
    form = {"csrf": CSRF, "type": "weight", "unite": "kg", "date": "2026-11-21", "heure": "08:00", **data}
    answer = signed_in.post("/espace/mesures/ajouter", data=form, follow_redirects=False)
    assert answer.status_code == 422
    page = text(answer)
    assert message in page and 'role="alert"' in page
    assert re.search(rf'id="{field}"[^>]*aria-invalid="true"', page.replace("\n", " "))
    assert measures(platform, dominique) == []


def test_changes_need_the_session_csrf_token(signed_in: TestClient, platform: Platform, dominique: str) -> None:
    answer = signed_in.post("/espace/mesures/ajouter", data={"csrf": "autre", "type": "weight", "valeur": "70",
                                                             "unite": "kg", "date": "2026-11-21"})  # fmt: skip
    assert answer.status_code == 403
    assert measures(platform, dominique) == []


def test_a_measure_is_removed_from_the_page(signed_in: TestClient, platform: Platform, dominique: str) -> None:
    signed_in.post("/espace/mesures/ajouter", data={"csrf": CSRF, "type": "heart_rate", "valeur": "64",
                                                    "date": "2026-11-21", "heure": "08:00"})  # fmt: skip
    [measure] = measures(platform, dominique)
    answer = signed_in.post(f"/espace/mesures/{measure.id}/retirer", data={"csrf": CSRF}, follow_redirects=False)
    assert answer.status_code == 303 and measures(platform, dominique) == []
    assert "La mesure a été retirée." in text(signed_in.get("/espace/mesures?fait=retiree"))


def test_a_vaccination_is_declared_from_the_reference_list_or_by_its_name(signed_in: TestClient) -> None:
    page = text(signed_in.get("/espace/vaccinations"))
    assert "Aucune vaccination enregistrée." in page and "VACCIN TETANIQUE PASTEUR" in page
    coded = signed_in.post(
        "/espace/vaccinations",
        data={"csrf": CSRF, "vaccin": "68747507", "date": "2020-05-04", "dose": "2", "lot": "L-123"},
        follow_redirects=False,
    )
    assert coded.status_code == 303, text(coded)
    named = signed_in.post(
        "/espace/vaccinations",
        data={"csrf": CSRF, "vaccin": "autre", "nom": "Grippe 2025-2026", "date": "2025-10-15"},
        follow_redirects=False,
    )
    assert named.status_code == 303
    listed = text(signed_in.get("/espace/vaccinations?fait=ajoutee"))
    assert listed.index("Grippe 2025-2026") < listed.index("VACCIN TETANIQUE PASTEUR, suspension"), "newest first"
    assert "L-123" in listed
    missing = signed_in.post("/espace/vaccinations", data={"csrf": CSRF, "vaccin": "autre", "nom": "",
                                                           "date": "2025-10-15"})  # fmt: skip
    assert missing.status_code == 422 and "le vaccin est obligatoire" in text(missing)


def test_the_professional_sees_what_the_matrix_allows(
    client: TestClient, tokens: Tokens, platform: Platform, dominique: str
) -> None:
    with platform.uow() as uow:
        from carnet.space.profile_model import Answers

        profile.save_questionnaire(
            uow=uow,
            actor=patient_as(dominique),
            patient_id=dominique,
            answers=Answers.from_text(treatments="Lévothyroxine", allergies="Arachide"),
        )
        uow.commit()  # fmt: skip
    _signed_in(client, tokens.for_actor(DR_HOUSE))
    assert f'href="/pro/patients/{dominique}/profil"' in client.get(f"/pro/patients/{dominique}").text
    doctor = text(client.get(f"/pro/patients/{dominique}/profil"))
    assert "Profil médical de" in doctor and "Lévothyroxine" in doctor and "Arachide" in doctor
    assert "Vous ne pouvez pas consulter" not in doctor
    _signed_in(client, tokens.for_actor(SOCIAL_WORKER))
    social = client.get(f"/pro/patients/{dominique}/profil")
    assert social.status_code == 200
    page = text(social)
    assert "Lévothyroxine" not in page and "Arachide" not in page
    assert page.count("Vous ne pouvez pas consulter cette partie") == 4
    assert "ne peut pas consulter les constantes de santé de l'espace santé" in page
    patient_page = client.get("/espace/profil", follow_redirects=False)
    assert patient_page.status_code == 303, "the patient's pages are not the professional's"

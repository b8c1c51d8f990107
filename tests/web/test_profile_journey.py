"""The health profile in a real browser (Debian's Chromium driven by Playwright), both backends: the holder adds a
weight and sees it in the chart and its table, fills in the questionnaire and finds the allergy among the known
ones; the professional reads what the matrix allows; axe-core finds no serious or critical WCAG 2.1 A/AA violation
on the profile's pages, at phone width, in French and English, with a refused measure on screen."""

from __future__ import annotations

from typing import Any

from carnet.bootstrap import Platform
from carnet.space import profile
from tests.api.conftest import LiveServer
from tests.builders import in_care_team, patient_as, qualified_patient
from tests.web.conftest import _missing
from tests.web.test_accessibility import AXE, _phone, _summary, _violations
from tests.web.test_patient_journey import _sign_in
from tests.web.test_pro_journey import DR_MARTIN
from tests.web.test_pro_journey import _sign_in as _sign_in_as


def _weight(page: Any, live: LiveServer, value: str, day: str) -> None:
    page.goto(f"{live.url}/espace/mesures")
    page.get_by_label("Mesure", exact=True).select_option(label="Poids")
    page.get_by_role("button", name="Saisir").click()
    page.wait_for_url("**/espace/mesures/ajouter?type=weight")
    page.get_by_label("Valeur").fill(value)
    page.get_by_label("Date de la mesure").fill(day)
    page.get_by_label("Heure").fill("08:30")
    page.get_by_role("button", name="Ajouter la mesure").click()
    page.wait_for_url("**/espace/mesures?fait=ajoutee#mesure-weight")


def test_the_holder_adds_a_weight_sees_it_in_the_chart_and_fills_the_questionnaire(
    live_server: LiveServer, platform: Platform, browser_page: Any, screenshot: Any
) -> None:
    patient_id = qualified_patient(platform)
    page = browser_page
    _sign_in(page, live_server, "Dominique PAT-TROIS")

    _weight(page, live_server, "65,2", "2026-11-01")
    assert "La mesure a été ajoutée." in page.get_by_role("status").inner_text()
    weight = page.locator("#mesure-weight")
    assert weight.locator("svg[role=img] circle").count() == 1
    _weight(page, live_server, "64,5", "2026-11-20")
    chart = weight.locator("svg[role=img]")
    assert chart.locator("circle").count() == 2 and chart.locator("polyline").count() == 1
    assert "de 65,2 le 01/11/2026 à 64,5 le 20/11/2026" in chart.locator("desc").text_content()
    table = weight.get_by_role("table", name="Valeurs : Poids")
    assert table.get_by_role("row").count() == 3  # the header and the two measures, newest first
    assert "64,5 kg" in table.get_by_role("row").nth(1).inner_text()
    screenshot(page, "01-measures")

    page.goto(f"{live_server.url}/espace/mesures/ajouter?type=weight")
    page.get_by_label("Valeur").fill("900")
    page.get_by_role("button", name="Ajouter la mesure").click()
    assert "hors des valeurs physiologiques" in page.get_by_role("alert").inner_text()
    assert page.get_by_label("Valeur").get_attribute("aria-invalid") == "true"
    screenshot(page, "02-refused")

    page.goto(f"{live_server.url}/espace/profil")
    page.get_by_label("Traitements en cours").fill("Lévothyroxine 75 µg le matin\nParacétamol si douleur")
    page.get_by_label("Allergies et intolérances").fill("Pénicilline")
    page.get_by_label("Oui").check()
    page.get_by_label("Où sont-elles conservées ?").fill("Chez mon médecin traitant")
    page.get_by_role("button", name="Enregistrer mon profil médical").click()
    page.wait_for_url("**/espace/profil?fait=enregistre#confirmation")
    assert "Votre profil médical a été enregistré." in page.get_by_role("status").inner_text()
    assert page.get_by_label("Traitements en cours").input_value().startswith("Lévothyroxine 75 µg le matin")
    known = page.get_by_role("region", name="Allergies connues de votre dossier")
    assert "Pénicilline" in known.inner_text()
    screenshot(page, "03-profile")

    with platform.uow() as uow:
        current = profile.current_questionnaire(uow=uow, actor=patient_as(patient_id), patient_id=patient_id)
        weights = profile.list_measures(uow=uow, actor=patient_as(patient_id), patient_id=patient_id)
    assert current is not None and current.answers.directives_written is True
    assert [m.values["weight"][0] for m in weights] == [65.2, 64.5]


def test_the_profile_pages_have_no_serious_accessibility_violation(
    live_server: LiveServer, platform: Platform, chromium: Any, screenshot: Any
) -> None:
    if not AXE.is_file():
        _missing("axe-core is not installed (make chromium: npm ci in tests/web)")
    patient_id = qualified_patient(platform)
    in_care_team(platform, patient_id, DR_MARTIN)
    context = _phone(chromium)
    page = context.new_page()
    found: dict[str, list[dict[str, Any]]] = {}

    def check(name: str) -> None:
        screenshot(page, f"phone-{name}")
        violations = _violations(page)
        if violations:
            found[name] = violations

    try:
        _sign_in(page, live_server, "Dominique PAT-TROIS")
        _weight(page, live_server, "65,2", "2026-11-01")
        _weight(page, live_server, "64,5", "2026-11-20")
        page.goto(f"{live_server.url}/espace/mesures/ajouter?type=blood_pressure")
        page.get_by_label("Pression systolique (mm[Hg])").fill("128")
        page.get_by_label("Pression diastolique (mm[Hg])").fill("82")
        page.get_by_role("button", name="Ajouter la mesure").click()
        page.wait_for_url("**fait=ajoutee**")
        for name, path in (("profile", "/espace/profil"), ("measures", "/espace/mesures"),
                           ("measure-add", "/espace/mesures/ajouter?type=blood_pressure"),
                           ("vaccinations", "/espace/vaccinations"), ("measures-en", "/espace/mesures?lang=en"),
                           ("profile-en", "/espace/profil?lang=en")):  # fmt: skip
            page.goto(f"{live_server.url}{path}")
            check(name)
        page.goto(f"{live_server.url}/espace/mesures/ajouter?type=weight&lang=fr")
        page.get_by_label("Valeur").fill("900")
        page.get_by_role("button", name="Ajouter la mesure").click()
        page.get_by_role("alert").wait_for()
        check("measure-refused")
        page.context.clear_cookies()
        _sign_in_as(page, live_server, "Dr Paul MARTIN")
        page.goto(f"{live_server.url}/pro/patients/{patient_id}/profil")
        assert page.get_by_role("heading", level=1).inner_text().startswith("Profil médical de")
        assert page.locator("svg[role=img]").count() == 2  # the weight and the blood pressure
        check("pro-profile")
        assert not found, "\n".join(f"{name}: {_summary(v)}" for name, v in found.items())
    finally:
        context.close()

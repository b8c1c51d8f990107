"""The professionals' journeys in a real browser (Debian's Chromium driven by Playwright), signed in through the
development identity provider as its demo professionals (carnet/auth/devusers.py):

- Dr Paul MARTIN finds Dominique PAT-TROIS by INS, records her consent and deposits a CDA document; Dr Sophie LEROY
  (consent too) reads it; Dominique sees it and both accesses in her history, hides it; Dr LEROY no longer sees it
  (its author still does: a professional always reads what they wrote);
- Léa FAURE, a nurse, does not see the operative report Dr MARTIN deposited as a PDF, and is refused it by the
  matrice d'habilitation when she asks for it;
- Dr LEROY declares an emergency access with its justification; Dominique's history shows it marked;
- a broken CDA is refused with the document checker's errors, in place.

Screenshots of the key screens go to test-artifacts/web/<test>/.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from carnet.access import service as access
from carnet.access.model import Actor, ActorKind, AuthMethod
from carnet.bootstrap import Platform
from carnet.record import service as record
from tests.api.conftest import LiveServer
from tests.builders import PLATFORM, example, qualified_patient

DOMINIQUE_INS = "279035121518989"
DOMINIQUE = "PAT-TROIS DOMINIQUE"
VSM = "VSM_1.4_2022.01.xml"
DR_MARTIN = Actor(kind=ActorKind.PROFESSIONAL, id="899700000001", auth_method=AuthMethod.CPS, profession="10",
                  name="Paul MARTIN")  # fmt: skip
WHY = "Patiente inconsciente admise au service des urgences, antécédents inconnus"


def _sign_in(page: Any, live: LiveServer, who: str) -> None:
    """Sign in at the development identity provider as the demo person whose entry starts with ``who``."""
    page.goto(f"{live.url}/")
    assert "/dev-idp/authorize" in page.url
    page.locator("label").filter(has_text=re.compile(r"^\s*" + re.escape(who))).click()
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_url(f"{live.url}/")


def _vsm_by(author_id: str) -> bytes:
    return example(VSM).replace(b'extension="801234567897"', f'extension="{author_id}"'.encode())


@contextmanager
def _browser(chromium: Any) -> Iterator[Any]:
    """Another person's browser (its own cookies), French, desktop size."""
    context = chromium.new_context(locale="fr-FR", viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    try:
        yield context.new_page()
    finally:
        context.close()


def _open_patient(page: Any, live: LiveServer) -> str:
    """From the professional's home, find Dominique by INS and open her page; returns the page's URL."""
    page.get_by_label("Matricule INS (15 caractères)").fill(DOMINIQUE_INS)
    page.get_by_role("button", name="Rechercher").click()
    page.wait_for_url(f"{live.url}/pro/patients?ins={DOMINIQUE_INS}&*")
    page.get_by_role("link", name=DOMINIQUE).click()
    page.wait_for_url(f"{live.url}/pro/patients/*")
    return str(page.url)


def _give_consent(page: Any) -> None:
    page.get_by_label("Le patient m'a donné son consentement maintenant").check()
    page.get_by_role("button", name="Enregistrer le consentement").click()
    page.wait_for_url("**?fait=consentement")
    assert "Le consentement du patient est enregistré" in page.get_by_role("status").inner_text()


def _document_titles(page: Any) -> list[str]:
    return [link.inner_text() for link in page.locator("table a").all()]


def test_a_deposited_cda_is_seen_by_the_patient_who_hides_it_from_another_professional(
    live_server: LiveServer, platform: Platform, browser_page: Any, chromium: Any, screenshot: Any
) -> None:
    qualified_patient(platform)
    martin = browser_page
    _sign_in(martin, live_server, "Dr Paul MARTIN")
    assert martin.get_by_role("heading", level=1).inner_text() == "Bonjour Paul MARTIN"
    patient_url = _open_patient(martin, live_server)
    assert "Vous ne pouvez pas consulter ce dossier" in martin.locator("main").inner_text()
    screenshot(martin, "01-patient-page")
    _give_consent(martin)
    assert "consentement explicite pour cette consultation" in martin.locator("main").inner_text()
    screenshot(martin, "02-consent-recorded")

    martin.get_by_role("link", name="Déposer un document").click()
    martin.get_by_label("Fichier CDA (XML)").set_input_files(
        {"name": "vsm.xml", "mimeType": "text/xml", "buffer": _vsm_by(DR_MARTIN.id)})  # fmt: skip
    screenshot(martin, "03-deposit-form")
    martin.get_by_role("button", name="Vérifier et déposer").click()
    martin.wait_for_url(f"{live_server.url}/pro/documents/*?fait=depose")
    assert "Le document est déposé" in martin.get_by_role("status").inner_text()
    assert martin.locator("article.cda").is_visible()
    document_url = martin.url.split("?")[0]
    screenshot(martin, "04-deposited")

    with _browser(chromium) as leroy:
        _sign_in(leroy, live_server, "Dr Sophie LEROY")
        leroy.goto(patient_url)
        _give_consent(leroy)
        leroy.get_by_role("link", name="Consulter les documents").click()
        assert _document_titles(leroy) == ["Synthèse Médicale"]
        screenshot(leroy, "05-other-professional-sees-it")

        with _browser(chromium) as dominique:
            _sign_in(dominique, live_server, "Dominique PAT-TROIS")
            dominique.get_by_role("navigation").get_by_role("link", name="Mes documents").click()
            dominique.get_by_role("link", name="Synthèse Médicale").click()
            assert dominique.locator("article.cda").is_visible()
            dominique.get_by_role("navigation").get_by_role("link", name="Historique des accès").click()
            history = dominique.locator("tbody").inner_text()
            assert "Paul MARTIN" in history and "dépôt d'un document" in history
            assert "consentement du patient recueilli en consultation" in history
            assert "Sophie LEROY" in history and "liste des documents" in history
            screenshot(dominique, "06-patient-history")
            dominique.go_back()
            dominique.get_by_role("button", name="Masquer aux professionnels").click()
            dominique.wait_for_url("**?fait=masque")

        leroy.reload()
        assert _document_titles(leroy) == [] and leroy.get_by_text("Aucun document à afficher.").is_visible()
        screenshot(leroy, "07-hidden-no-longer-seen")

    # Its author still reads it, and is told the patient hid it.
    martin.goto(document_url)
    assert "Le patient a masqué ce document" in martin.locator("main").inner_text()


def test_a_nurse_does_not_see_the_operative_report_deposited_as_a_pdf(
    live_server: LiveServer, platform: Platform, browser_page: Any, chromium: Any, screenshot: Any
) -> None:
    from tests.builders import minimal_pdf

    patient_id = qualified_patient(platform)
    with platform.uow() as uow:
        record.deposit(uow=uow, actor=PLATFORM, patient_id=patient_id, content=example(VSM))
        access.join_care_team(uow=uow, actor=DR_MARTIN, patient_id=patient_id)
        uow.commit()
    martin = browser_page
    _sign_in(martin, live_server, "Dr Paul MARTIN")
    martin.goto(f"{live_server.url}/pro/patients/{patient_id}/deposer")
    martin.get_by_label("Type de document").select_option("34874-8")
    martin.get_by_label("Titre du document").fill("CR opératoire — appendicectomie")
    martin.get_by_label("Date de l'acte").fill("2026-11-20")
    martin.get_by_label("Cadre d'exercice").select_option("ETABLISSEMENT")
    martin.get_by_label("Type d'établissement").select_option("SA01")
    martin.get_by_label("Fichier PDF").set_input_files(
        {"name": "cro.pdf", "mimeType": "application/pdf", "buffer": minimal_pdf("Appendicectomie")})  # fmt: skip
    screenshot(martin, "01-pdf-form")
    martin.get_by_role("button", name="Déposer le PDF").click()
    martin.wait_for_url(f"{live_server.url}/pro/documents/*?fait=depose")
    assert martin.locator("main > h1").inner_text() == "CR opératoire — appendicectomie"
    assert martin.locator("iframe.document-view__frame").count() == 1  # the PDF shown inline
    report_url = martin.url.split("?")[0]
    screenshot(martin, "02-operative-report")

    with _browser(chromium) as nurse:
        _sign_in(nurse, live_server, "Léa FAURE")
        nurse.goto(f"{live_server.url}/pro/patients/{patient_id}")
        _give_consent(nurse)
        nurse.get_by_role("link", name="Consulter les documents").click()
        assert _document_titles(nurse) == ["Synthèse Médicale"]  # the operative report is not listed
        screenshot(nurse, "03-nurse-documents")
        nurse.goto(report_url)
        assert nurse.get_by_role("heading", level=1).inner_text() == "Accès refusé"
        assert "un infirmier ne peut pas consulter un document « compte rendu opératoire »" in nurse.get_by_role(
            "alert").inner_text()  # fmt: skip
        screenshot(nurse, "04-nurse-refused")


def test_an_emergency_access_declared_in_the_portal_is_marked_in_the_patients_history(
    live_server: LiveServer, platform: Platform, browser_page: Any, chromium: Any, screenshot: Any
) -> None:
    patient_id = qualified_patient(platform)
    with platform.uow() as uow:
        record.deposit(uow=uow, actor=PLATFORM, patient_id=patient_id, content=example(VSM))
        uow.commit()
    leroy = browser_page
    _sign_in(leroy, live_server, "Dr Sophie LEROY")
    leroy.goto(f"{live_server.url}/pro/patients/{patient_id}")
    leroy.get_by_label("Justification de l'urgence").fill(WHY)
    screenshot(leroy, "01-emergency-form")
    leroy.get_by_role("button", name="Déclarer l'accès en urgence").click()
    leroy.wait_for_url("**?fait=urgence")
    assert WHY in leroy.locator("main").inner_text()
    screenshot(leroy, "02-emergency-declared")
    leroy.get_by_role("link", name="Consulter les documents").click()
    assert "cette consultation est signalée au patient" in leroy.get_by_role("status").inner_text()
    leroy.get_by_role("link", name="Synthèse Médicale").click()
    assert leroy.locator("article.cda").is_visible()

    with _browser(chromium) as dominique:
        _sign_in(dominique, live_server, "Dominique PAT-TROIS")
        dominique.get_by_role("navigation").get_by_role("link", name="Historique des accès").click()
        marked = dominique.locator("tr.row--emergency")
        lines = [marked.nth(i).inner_text() for i in range(marked.count())]
        assert lines and all("Sophie LEROY" in line for line in lines)
        assert any("déclaration d'un accès en urgence (bris de glace)" in line for line in lines)
        assert any("lecture d'un document" in line for line in lines)
        screenshot(dominique, "03-history-marked")


def test_a_broken_cda_shows_the_checkers_errors(
    live_server: LiveServer, platform: Platform, browser_page: Any, screenshot: Any
) -> None:
    patient_id = qualified_patient(platform)
    with platform.uow() as uow:
        access.join_care_team(uow=uow, actor=DR_MARTIN, patient_id=patient_id)
        uow.commit()
    page = browser_page
    _sign_in(page, live_server, "Dr Paul MARTIN")
    page.goto(f"{live_server.url}/pro/patients/{patient_id}/deposer")
    broken = _vsm_by(DR_MARTIN.id).replace(b'code="SYNTH"', b'code="PAS-UN-TYPE"', 1)
    page.get_by_label("Fichier CDA (XML)").set_input_files({"name": "casse.xml", "mimeType": "text/xml",
                                                            "buffer": broken})  # fmt: skip
    page.get_by_role("button", name="Vérifier et déposer").click()
    alert = page.locator("#cda-problemes")
    assert "Document refusé" in alert.inner_text() and "Rien n'a été déposé." in alert.inner_text()
    items = alert.locator("li").all_inner_texts()
    assert any(i.startswith("/ClinicalDocument/code/@code : type de document PAS-UN-TYPE") for i in items)
    screenshot(page, "01-checker-errors")
    with platform.uow() as uow:
        assert record.list_documents(uow=uow, actor=PLATFORM, patient_id=patient_id).total == 0

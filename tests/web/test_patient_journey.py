"""The patient's journey in a real browser (Debian's Chromium driven by Playwright): sign in through the
development identity provider, home, documents, the rendered CDA, hide it from professionals."""

from __future__ import annotations

from typing import Any

from carnet.bootstrap import Platform
from carnet.record import service as record
from tests.api.conftest import LiveServer
from tests.builders import DR_HOUSE, PLATFORM, example, in_care_team, qualified_patient

VSM = "VSM_1.4_2022.01.xml"


def _dominique_with_a_summary(platform: Platform) -> tuple[str, str]:
    """Dominique PAT-TROIS (a demo patient of the identity provider), Dr House in her care team, one VSM."""
    patient_id = qualified_patient(platform)
    in_care_team(platform, patient_id, DR_HOUSE)
    with platform.uow() as uow:
        entry = record.deposit(uow=uow, actor=PLATFORM, patient_id=patient_id, content=example(VSM)).entry
        uow.commit()
    return patient_id, entry.id


def _professional_sees(platform: Platform, patient_id: str) -> list[str]:
    with platform.uow() as uow:
        page = record.list_documents(uow=uow, actor=DR_HOUSE, patient_id=patient_id)
        uow.commit()
    return [entry.id for entry in page.items]


def _sign_in(page: Any, live: LiveServer, who: str) -> None:
    page.goto(f"{live.url}/")
    # Not signed in: the portal sends the browser to the identity provider's login page.
    assert "/dev-idp/authorize" in page.url
    page.locator("label", has_text=who).click()
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_url(f"{live.url}/")


def test_a_patient_signs_in_reads_a_document_and_hides_it(
    live_server: LiveServer, platform: Platform, browser_page: Any, screenshot: Any
) -> None:
    patient_id, document_id = _dominique_with_a_summary(platform)
    assert document_id in _professional_sees(platform, patient_id)
    page = browser_page

    page.goto(f"{live_server.url}/")
    screenshot(page, "01-login-idp")
    page.locator("label", has_text="Dominique PAT-TROIS").click()
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_url(f"{live_server.url}/")
    assert page.locator("html").get_attribute("lang") == "fr"
    assert page.get_by_role("heading", level=1).inner_text().startswith("Bonjour Dominique")
    assert page.get_by_role("link", name="Synthèse Médicale").count() == 1  # the latest documents
    screenshot(page, "02-home")

    page.get_by_role("navigation").get_by_role("link", name="Mes documents").click()
    page.wait_for_url(f"{live_server.url}/documents")
    assert page.get_by_role("heading", level=2, name="Synthèse").count() == 1  # its class, French label
    screenshot(page, "03-documents")

    page.get_by_role("link", name="Synthèse Médicale").click()
    page.wait_for_url(f"{live_server.url}/documents/{document_id}")
    rendered = page.locator("article.cda")
    assert rendered.is_visible()
    assert "Pathologie en cours" in rendered.inner_text()
    screenshot(page, "04-document")

    page.get_by_role("button", name="Masquer aux professionnels").click()
    page.wait_for_url(f"{live_server.url}/documents/{document_id}?fait=masque")
    assert "masqué aux professionnels" in page.get_by_role("status").inner_text()
    assert page.get_by_role("button", name="Rendre visible aux professionnels").is_visible()
    screenshot(page, "05-hidden")

    # The professional's listing, through the same record service, no longer shows it.
    assert document_id not in _professional_sees(platform, patient_id)
    # The holder still does, marked hidden.
    page.goto(f"{live_server.url}/documents")
    assert page.get_by_text("Masqué aux professionnels").count() == 1

    page.goto(f"{live_server.url}/documents/{document_id}")
    page.get_by_role("button", name="Rendre visible aux professionnels").click()
    page.wait_for_url(f"{live_server.url}/documents/{document_id}?fait=visible")
    assert document_id in _professional_sees(platform, patient_id)


def test_search_language_switch_and_sign_out(live_server: LiveServer, platform: Platform, browser_page: Any,
                                             screenshot: Any) -> None:  # fmt: skip
    _dominique_with_a_summary(platform)
    page = browser_page
    _sign_in(page, live_server, "Dominique PAT-TROIS")

    page.goto(f"{live_server.url}/documents")
    page.get_by_label("Rechercher dans mes documents").fill("synthese")
    page.get_by_role("button", name="Rechercher").click()
    assert "1 résultat(s)" in page.get_by_role("heading", level=2).first.inner_text()
    screenshot(page, "01-search")

    page.get_by_role("link", name="English").click()
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.get_by_role("heading", level=1).inner_text() == "My documents"
    page.goto(f"{live_server.url}/")  # the choice is remembered (cookie)
    assert page.get_by_role("heading", level=1).inner_text().startswith("Hello")
    page.get_by_role("link", name="Français").click()

    page.get_by_role("button", name="Se déconnecter").click()
    page.wait_for_url(f"{live_server.url}/connexion/terminee")
    page.goto(f"{live_server.url}/documents")
    assert "/dev-idp/authorize" in page.url  # signed out: back to the identity provider


def test_an_emergency_access_shows_up_marked_in_the_history(
    live_server: LiveServer, platform: Platform, browser_page: Any, screenshot: Any
) -> None:
    from dataclasses import replace

    from carnet.access import service as access
    from carnet.access.model import Mode

    patient_id, document_id = _dominique_with_a_summary(platform)
    emergency_doctor = replace(DR_HOUSE, id="810000000077", name="Dr Urgence SAMUEL", organisation_name="SAU de Reims")
    with platform.uow() as uow:
        ctx = access.context(uow, mode=Mode.EMERGENCY, justification="Patiente inconsciente aux urgences")
        record.get_content(uow=uow, actor=emergency_doctor, entry_id=document_id, ctx=ctx)
        uow.commit()
    page = browser_page
    _sign_in(page, live_server, "Dominique PAT-TROIS")

    page.get_by_role("navigation").get_by_role("link", name="Historique des accès").click()
    page.wait_for_url(f"{live_server.url}/historique")
    emergency_rows = page.locator("tr.row--emergency")
    assert emergency_rows.count() >= 1
    assert "Dr Urgence SAMUEL" in emergency_rows.first.inner_text()
    assert "SAU de Reims" in emergency_rows.first.inner_text()
    screenshot(page, "01-history")

    page.get_by_label("Mode d'accès").select_option("urgence")
    page.get_by_role("button", name="Appliquer").click()
    rows = page.locator("tbody tr")
    assert rows.count() == emergency_rows.count()
    assert all("Dr Urgence SAMUEL" in rows.nth(i).inner_text() for i in range(rows.count()))
    page.get_by_label("Personne (nom, profession, établissement)").fill("personne-inconnue")
    page.get_by_role("button", name="Appliquer").click()
    assert page.get_by_text("Aucun accès ne correspond.").is_visible()

"""The holder's own pages in a real browser (Debian's Chromium driven by Playwright): add a PDF of one's own and see
it inline, refuse emergency access in "qui peut accéder à mon dossier", filter the history; axe-core finds no
serious violation on these pages (phone size)."""

from __future__ import annotations

from typing import Any

from carnet.access import service as access
from carnet.bootstrap import Platform
from carnet.directory.demo import load_demo_directory
from tests.api.conftest import LiveServer
from tests.builders import PLATFORM as PLATFORM_ACTOR
from tests.builders import minimal_pdf
from tests.web.conftest import _missing
from tests.web.test_accessibility import AXE, _summary, _violations
from tests.web.test_patient_journey import _dominique_with_a_summary, _sign_in


def _with_directory(platform: Platform) -> None:
    with platform.uow() as uow:
        load_demo_directory(uow)
        uow.commit()


def test_the_holder_adds_a_pdf_and_refuses_emergency_access(
    live_server: LiveServer, platform: Platform, browser_page: Any, screenshot: Any, tmp_path: Any
) -> None:
    patient_id, _ = _dominique_with_a_summary(platform)
    _with_directory(platform)
    page = browser_page
    _sign_in(page, live_server, "Dominique PAT-TROIS")

    page.get_by_role("navigation").get_by_role("link", name="Mes documents").click()
    page.get_by_role("link", name="Ajouter un document").click()
    page.wait_for_url(f"{live_server.url}/documents/ajouter")
    broken = tmp_path / "faux.pdf"
    broken.write_bytes(b"pas un PDF")
    page.get_by_label("Type de document").select_option(label="Traitement ou document de soins déposé par le patient")
    page.get_by_label("Titre").fill("Ordonnance de lunettes")
    page.get_by_label("Fichier").set_input_files(str(broken))
    page.get_by_role("button", name="Ajouter le document").click()
    alert = page.get_by_role("alert")
    assert "Le document n'a pas été ajouté" in alert.inner_text()
    screenshot(page, "01-upload-refused")

    good = tmp_path / "ordonnance.pdf"
    good.write_bytes(minimal_pdf("Ordonnance de lunettes"))
    page.get_by_label("Fichier").set_input_files(str(good))
    page.get_by_role("button", name="Ajouter le document").click()
    page.wait_for_url("**/documents/*?fait=ajoute")
    assert "Le document a été ajouté à votre dossier." in page.get_by_role("status").first.inner_text()
    frame = page.locator("iframe.document-view__frame")
    assert frame.count() == 1 and "affichage=integre" in (frame.get_attribute("src") or "")
    screenshot(page, "02-pdf-inline")

    page.get_by_role("navigation").get_by_role("link", name="Qui peut accéder").click()
    page.wait_for_url(f"{live_server.url}/acces")
    assert page.get_by_role("heading", level=1).inner_text() == "Qui peut accéder à mon dossier"
    page.get_by_role("button", name="Refuser l'accès en urgence").click()
    page.wait_for_url("**/acces?fait=urgence_refusee*")
    assert "L'accès en urgence est refusé." in page.get_by_role("status").first.inner_text()
    screenshot(page, "03-emergency-refused")
    with platform.uow() as uow:
        assert any(s.kind == "emergency" for s in access.list_settings(uow=uow, actor=_holder(patient_id),
                                                                        patient_id=patient_id))  # fmt: skip

    page.get_by_label("Nom").fill("martin")
    page.get_by_role("button", name="Rechercher").click()
    assert page.get_by_text("Dr Paul MARTIN").count() >= 1
    page.get_by_role("link", name="Autoriser : Dr Paul MARTIN").click()
    page.get_by_label("Lire mes documents").check()
    page.get_by_role("button", name="Enregistrer l'autorisation").click()
    page.wait_for_url("**/acces?fait=autorisation*")
    assert "Dr Paul MARTIN" in page.locator("#autorisations-titre + ul").inner_text()
    screenshot(page, "04-grant")

    page.get_by_role("navigation").get_by_role("link", name="Historique des accès").click()
    page.get_by_label("Mode d'accès").select_option("normal")
    page.get_by_role("button", name="Appliquer").click()
    assert "mode=normal" in page.url
    screenshot(page, "05-history-filtered")


def access_actor(professional_id: str, name: str) -> Any:
    """A general practitioner of the demo directory, as the access service sees them."""
    from carnet.access.model import Actor, ActorKind, AuthMethod

    return Actor(kind=ActorKind.PROFESSIONAL, id=professional_id, auth_method=AuthMethod.CPS, profession="10",
                 name=name)  # fmt: skip


def _holder(patient_id: str) -> Any:
    from tests.builders import patient_as

    return patient_as(patient_id)


def test_the_holders_own_pages_have_no_serious_accessibility_violation(
    live_server: LiveServer, platform: Platform, chromium: Any, screenshot: Any
) -> None:
    if not AXE.is_file():
        _missing("axe-core is not installed (make chromium: npm ci in tests/web)")
    _dominique_with_a_summary(platform)
    _with_directory(platform)
    context = chromium.new_context(locale="fr-FR", viewport={"width": 390, "height": 844})
    context.set_default_timeout(15_000)
    page = context.new_page()
    try:
        _sign_in(page, live_server, "Dominique PAT-TROIS")
        found: dict[str, list[dict[str, Any]]] = {}
        for path in ("/documents/ajouter", "/acces", "/acces?recherche=martin", "/acces/autorisation?pro=899700000001",
                     "/historique?mode=urgence&du=2026-01-01", "/documents?type=SYNTH&auteur=med"):  # fmt: skip
            page.goto(f"{live_server.url}{path}")
            name = path.strip("/").replace("/", "-").replace("?", "-").replace("=", "-").replace("&", "-")
            screenshot(page, f"phone-{name[:40]}")
            violations = _violations(page)
            if violations:
                found[path] = violations
        assert not found, "\n".join(f"{path}: {_summary(v)}" for path, v in found.items())
    finally:
        context.close()


def test_the_holder_reads_and_answers_a_message_and_the_pages_are_accessible(
    live_server: LiveServer, platform: Platform, chromium: Any, screenshot: Any
) -> None:
    from carnet.messaging import service as mss

    patient_id, document_id = _dominique_with_a_summary(platform)
    _with_directory(platform)
    config = mss.MessagingConfig()
    with platform.uow() as uow:
        mss.provision_professional(uow=uow, actor=PLATFORM_ACTOR, config=config, professional_id="899700000001")
        martin = access_actor("899700000001", "Dr Paul MARTIN")
        access.join_care_team(uow=uow, actor=martin, patient_id=patient_id)
        sent = mss.send(uow=uow, actor=martin, config=config, to=["279035121518989@patient.mssante.fr"],
                        subject="Votre bilan", text="Bonjour,\nle bilan est normal.",
                        attachments=[mss.DocumentAttachment(document_id)])  # fmt: skip
        uow.commit()
    context = chromium.new_context(locale="fr-FR", viewport={"width": 390, "height": 844})
    context.set_default_timeout(15_000)
    page = context.new_page()
    found: dict[str, list[dict[str, Any]]] = {}

    def check(name: str) -> None:
        screenshot(page, name)
        if AXE.is_file():
            violations = _violations(page)
            if violations:
                found[page.url] = violations

    try:
        _sign_in(page, live_server, "Dominique PAT-TROIS")
        page.get_by_role("navigation").get_by_role("link", name="Messagerie").click()
        page.get_by_role("link", name="Votre bilan").click()
        assert "le bilan est normal" in page.locator(".message__text").first.inner_text()
        page.get_by_label("Votre réponse").fill("Merci beaucoup")
        page.get_by_role("button", name="Envoyer").click()
        page.wait_for_url(f"**/messages/{sent.conversation_id}?fait=envoye")
        assert "Merci beaucoup" in page.locator("main").inner_text()
        check("06-conversation")
        page.goto(f"{live_server.url}/messages")
        check("07-inbox")
        context.clear_cookies()
        page.goto(f"{live_server.url}/")
        page.locator("label[for=user-pro-1]").click()  # Dr Paul MARTIN (his secretary's label names him too)
        page.get_by_role("button", name="Se connecter").click()
        page.wait_for_url(f"{live_server.url}/")
        page.goto(f"{live_server.url}/pro/messages/nouveau?patient={patient_id}&recherche=leroy")
        check("08-pro-compose")
        page.goto(f"{live_server.url}/pro/messages/conversations/{sent.conversation_id}")
        assert "Merci beaucoup" in page.locator("main").inner_text()
        check("09-pro-conversation")
        assert not found, "\n".join(f"{path}: {_summary(v)}" for path, v in found.items())
    finally:
        context.close()

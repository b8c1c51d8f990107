"""« Gérer mon espace » in Chromium: the holder reaches it from « Mon espace santé », saves their contact details,
closes the space after ticking the confirmation and re-opens it; axe-core finds no serious violation on the page
(phone size); screenshots."""

from __future__ import annotations

from typing import Any

from carnet.access.model import SpaceStatus
from carnet.bootstrap import Platform
from carnet.space import lifecycle
from tests.api.conftest import LiveServer
from tests.builders import qualified_patient
from tests.web.test_accessibility import AXE, _summary, _violations
from tests.web.test_patient_journey import _sign_in


def test_the_holder_manages_their_space_in_the_browser(
    live_server: LiveServer, platform: Platform, chromium: Any, screenshot: Any
) -> None:
    from tests.web.conftest import _missing

    if not AXE.is_file():
        _missing("axe-core is not installed (make chromium: npm ci in tests/web)")
    patient_id = qualified_patient(platform)
    context = chromium.new_context(locale="fr-FR", viewport={"width": 390, "height": 844})
    context.set_default_timeout(15_000)
    page = context.new_page()
    try:
        _sign_in(page, live_server, "Dominique PAT-TROIS")
        page.goto(f"{live_server.url}/mon-espace")
        page.get_by_role("link", name="Gérer mon espace").click()
        page.wait_for_url(f"{live_server.url}/espace/gestion")
        assert page.get_by_role("heading", name="Gérer mon espace", level=1).is_visible()
        violations = _violations(page)
        assert not violations, _summary(violations)
        screenshot(page, "gestion-ouvert")

        page.get_by_label("Adresse électronique").fill("dominique@example.org")
        page.get_by_label("Code postal").fill("5110")
        page.get_by_role("button", name="Enregistrer mes coordonnées").click()
        assert page.get_by_role("alert").filter(has_text="n'ont pas été enregistrées").is_visible()
        page.get_by_label("Adresse (numéro et voie)").fill("12 rue des Lilas")
        page.get_by_label("Code postal").fill("51100")
        page.get_by_label("Ville").fill("Reims")
        page.get_by_role("button", name="Enregistrer mes coordonnées").click()
        assert page.get_by_role("status").inner_text() == "Vos coordonnées sont enregistrées."

        page.get_by_role("button", name="Fermer mon espace").click()
        assert page.get_by_role("alert").inner_text() == "Cochez la case de confirmation pour fermer votre espace."
        page.get_by_label("Je confirme vouloir fermer mon espace santé").check()
        page.get_by_role("button", name="Fermer mon espace").click()
        assert page.get_by_role("status").inner_text() == "Votre espace santé est fermé."
        violations = _violations(page)
        assert not violations, _summary(violations)
        screenshot(page, "gestion-ferme")
        with platform.uow() as uow:
            assert lifecycle.state(uow, patient_id).status is SpaceStatus.CLOSED

        page.get_by_role("button", name="Rouvrir mon espace").click()
        assert page.get_by_role("status").inner_text() == "Votre espace santé est ouvert."
        with platform.uow() as uow:
            assert lifecycle.state(uow, patient_id).status is SpaceStatus.OPEN
    finally:
        context.close()

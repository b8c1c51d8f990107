"""The holder and a referenced app in a real browser (Debian's Chromium driven by Playwright): the holder browses the
catalogue, the app sends them to the consent screen (listing exactly the convention's categories, what it reads and
apart what it adds to the space), they accept, the app redeems its code with Authlib, reads a document and adds a
measure; the app shows in "qui peut accéder"; the holder disconnects
it from the catalogue page and the app's next call is refused."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import OAuth2Client

from carnet.bootstrap import Platform
from carnet.catalogue.model import CLASS_SYSTEM
from tests.api.conftest import LiveServer
from tests.catalogue_builders import CALLBACK, referenced_app
from tests.web.test_accessibility import AXE, _summary, _violations
from tests.web.test_patient_journey import _dominique_with_a_summary, _sign_in


def _weight(patient_id: str, now: dt.datetime) -> dict[str, Any]:
    """A weight measured by the app's scale an hour ago (FHIR Observation, vital-signs)."""
    vital_signs = {"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs"}
    return {"resourceType": "Observation", "status": "final", "category": [{"coding": [vital_signs]}],
            "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
            "subject": {"reference": f"Patient/{patient_id}"},
            "effectiveDateTime": (now - dt.timedelta(hours=1)).isoformat(),
            "valueQuantity": {"value": 70.2, "unit": "kg", "system": "http://unitsofmeasure.org",
                              "code": "kg"}}  # fmt: skip


def _accessible(page: Any) -> None:
    """axe-core finds no serious or critical violation on the page (when the test dependencies ship axe-core)."""
    if AXE.is_file():
        violations = _violations(page)
        assert violations == [], _summary(violations)


def test_the_holder_browses_connects_an_app_on_the_consent_screen_and_disconnects_it(
    live_server: LiveServer, platform: Platform, browser_page: Any, screenshot: Any
) -> None:
    patient_id, summary_id = _dominique_with_a_summary(platform)
    app_id = referenced_app(platform, granted=("11", "vitals"), fed=("vitals",))
    page = browser_page
    _sign_in(page, live_server, "Dominique PAT-TROIS")

    page.goto(f"{live_server.url}/applications")
    assert page.get_by_role("heading", level=1).inner_text() == "Applications référencées"
    catalogue = page.locator("#catalogue-titre + ul")
    assert "Tensio" in catalogue.inner_text() and "Synthèse, Constantes de santé" in catalogue.inner_text()
    assert "lui permet d'ajouter à votre espace, avec votre accord : Constantes de santé" in catalogue.inner_text()
    assert "Aucune application n'est connectée" in page.locator("#connectees-titre + p").inner_text()
    screenshot(page, "01-catalogue")
    _accessible(page)

    # The app sends the holder to the authorization endpoint; its redirect URI is answered here, as the app would.
    landed: list[str] = []

    def app_callback(route: Any) -> None:
        landed.append(route.request.url)
        route.fulfill(status=200, content_type="text/html", body="<!doctype html><title>Tensio</title><p>Connecté")

    page.route(f"{CALLBACK}**", app_callback)
    meta = httpx.get(f"{live_server.url}/catalogue/.well-known/oauth-authorization-server", timeout=30).json()
    with OAuth2Client(client_id=app_id, redirect_uri=CALLBACK, code_challenge_method="S256", timeout=30,
                      token_endpoint_auth_method="none") as app:  # fmt: skip
        verifier = generate_token(48)
        url, _ = app.create_authorization_url(meta["authorization_endpoint"], code_verifier=verifier)
        page.goto(url)
        assert page.get_by_role("heading", level=1).inner_text() == "Autoriser « Tensio » à accéder à vos données"
        listed = page.locator("#categories > li strong").all_inner_texts()
        assert listed == ["Synthèse", "Constantes de santé"]
        assert f"{CLASS_SYSTEM}|11" in page.locator("#categories").inner_text()
        assert page.locator("#alimentation > li strong").all_inner_texts() == ["Constantes de santé"]
        assert "patient/Observation.c?category=" in page.locator("#alimentation").inner_text()
        screenshot(page, "02-consent")
        _accessible(page)
        page.get_by_role("button", name="Autoriser l'accès").click()
        page.wait_for_url(f"{CALLBACK}**")
        assert len(landed) == 1 and "code=" in landed[0]
        token = app.fetch_token(meta["token_endpoint"], authorization_response=landed[0], code_verifier=verifier)
        assert token["patient"] == patient_id
        assert app.get(f"{live_server.url}/fhir/DocumentReference/{summary_id}").status_code == 200
        assert "patient/Observation.c" in token["scope"].split()
        added = app.post(f"{live_server.url}/fhir/Observation", json=_weight(patient_id, platform.clock.now()))
        assert added.status_code == 201, added.text

        page.goto(f"{live_server.url}/acces")
        grants = page.locator("#autorisations-titre + ul").inner_text()
        assert "application référencée — Tensio SAS" in grants and "Constantes de santé" in grants
        screenshot(page, "03-who-may-access")

        page.goto(f"{live_server.url}/applications")
        mine = page.locator("#connectees-titre + ul")
        assert "Tensio" in mine.inner_text() and "Connectée" in mine.inner_text()
        assert "ajoute : Constantes de santé" in mine.inner_text()
        page.get_by_role("button", name="Déconnecter : Tensio").click()
        page.wait_for_url("**/applications?fait=deconnectee*")
        assert "L'application « Tensio » est déconnectée" in page.get_by_role("status").first.inner_text()
        assert "Aucune application n'est connectée" in page.locator("#connectees-titre + p").inner_text()
        screenshot(page, "04-disconnected")
        _accessible(page)
        assert app.get(f"{live_server.url}/fhir/DocumentReference/{summary_id}").status_code == 401

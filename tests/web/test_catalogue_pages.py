"""The catalogue pages without a browser: an app's request survives the holder's sign-in, the page in English, a
professional is not shown the consent screen, a forged disconnection is refused and nothing changes."""

from __future__ import annotations

import html

from fastapi.testclient import TestClient

from carnet.bootstrap import Platform
from carnet.catalogue import service as catalogue
from carnet.web.catalogue_pages import REQUEST_COOKIE
from tests.api.conftest import Tokens
from tests.builders import DR_HOUSE
from tests.catalogue_builders import CALLBACK, referenced_app
from tests.web.test_pages import DOMINIQUE_INS, _dominique_with_a_summary, _signed_in

CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def _request(app_id: str) -> dict[str, str]:
    return {"response_type": "code", "client_id": app_id, "redirect_uri": CALLBACK, "state": "etat-1",
            "code_challenge": CHALLENGE, "code_challenge_method": "S256"}  # fmt: skip


def test_the_request_is_kept_while_the_holder_signs_in(client: TestClient, tokens: Tokens, platform: Platform) -> None:
    _dominique_with_a_summary(platform)
    app_id = referenced_app(platform)
    first = client.get("/applications/autoriser", params=_request(app_id), follow_redirects=False)
    assert first.status_code == 303
    assert first.headers["location"] == "/connexion?next=%2Fapplications%2Fautoriser%3Freprise%3D1"
    assert REQUEST_COOKIE in first.cookies
    _signed_in(client, tokens.for_patient(DOMINIQUE_INS))
    back = client.get("/applications/autoriser?reprise=1", follow_redirects=False)
    assert back.status_code == 200
    text = html.unescape(back.text)
    assert "Autoriser « Tensio » à accéder à vos données" in text and 'name="state" value="etat-1"' in back.text


def test_the_catalogue_in_english_and_a_professional_sent_away(
    client: TestClient, tokens: Tokens, platform: Platform
) -> None:
    _dominique_with_a_summary(platform)
    app_id = referenced_app(platform)
    _signed_in(client, tokens.for_patient(DOMINIQUE_INS))
    english = html.unescape(client.get("/applications?lang=en").text)
    assert "Referenced apps" in english and "Summary, Vital signs" in english and "Tensio SAS" in english
    _signed_in(client, tokens.for_actor(DR_HOUSE))
    assert client.get("/applications", follow_redirects=False).status_code == 303
    refused = client.get("/applications/autoriser", params=_request(app_id), follow_redirects=False)
    assert refused.status_code == 403 and "Only the holder of a health space" in html.unescape(refused.text)


def test_a_forged_or_unknown_disconnection_changes_nothing(
    client: TestClient, tokens: Tokens, platform: Platform
) -> None:
    patient_id, _ = _dominique_with_a_summary(platform)
    referenced_app(platform)
    _signed_in(client, tokens.for_patient(DOMINIQUE_INS))
    forged = client.post("/applications/connexions/n-importe/deconnecter", data={"csrf": "faux"})
    assert forged.status_code == 403
    unknown = client.post("/applications/connexions/n-importe/deconnecter", data={"csrf": "jeton-csrf"})
    assert unknown.status_code == 404 and "connexion introuvable" in html.unescape(unknown.text)
    with platform.uow() as uow:
        assert catalogue.connections(uow=uow, actor=_holder(patient_id), patient_id=patient_id) == []


def _holder(patient_id: str) -> object:
    from tests.builders import patient_as

    return patient_as(patient_id)


def test_the_consent_screen_in_english_lists_apart_what_the_app_reads_and_adds(
    client: TestClient, tokens: Tokens, platform: Platform
) -> None:
    _dominique_with_a_summary(platform)
    app_id = referenced_app(platform, granted=("11",), fed=("vitals", "agenda"))
    _signed_in(client, tokens.for_patient(DOMINIQUE_INS))
    english = html.unescape(client.get("/applications?lang=en").text)
    assert "Data its convention lets it add to your space, with your consent: Vital signs, Agenda" in english
    screen = html.unescape(client.get("/applications/autoriser", params={**_request(app_id), "lang": "en"}).text)
    assert "What the app will be able to read" in screen and "What the app will be able to add to your space" in screen
    reads, adds = screen.split('id="alimentation"', 1)
    assert "<strong>Summary</strong>" in reads and "Vital signs" not in reads
    assert "<strong>Vital signs</strong>" in adds and "<strong>Agenda</strong>" in adds
    assert "nor a past event to your agenda" in adds
    only_feeds = {**_request(app_id), "scope": "patient/Appointment.c", "lang": "fr"}
    feeding = html.unescape(client.get("/applications/autoriser", params=only_feeds).text)
    assert "Ce que l'application pourra ajouter à votre espace" in feeding and 'id="alimentation"' in feeding
    assert "Ce que l'application pourra lire" not in feeding
    assert "<strong>Agenda</strong>" in feeding and "Constantes de santé" not in feeding
    listed = client.get("/catalogue/apps").json()["apps"]
    assert [a["feeds"] for a in listed] == [[{"code": "vitals", "label": "Constantes de santé"},
                                             {"code": "agenda", "label": "Agenda"}]]  # fmt: skip


def test_who_can_access_names_an_apps_write_grant_as_adding_data(
    client: TestClient, tokens: Tokens, platform: Platform
) -> None:
    patient_id, _ = _dominique_with_a_summary(platform)
    app_id = referenced_app(platform, granted=("11",), fed=("vitals",))
    with platform.uow() as uow:
        catalogue.connect(uow=uow, actor=_holder(patient_id), patient_id=patient_id, app_id=app_id,  # type: ignore[arg-type]
                          categories=frozenset({"11"}), feeds=frozenset({"vitals"}), redirect_uri=CALLBACK,
                          code_challenge=CHALLENGE)  # fmt: skip
        uow.commit()
    _signed_in(client, tokens.for_patient(DOMINIQUE_INS))
    page = html.unescape(client.get("/acces").text)
    assert "Lecture — Synthèse" in " ".join(page.split()) and "Ajout de données — Constantes de santé" in " ".join(
        page.split()
    )
    english = " ".join(html.unescape(client.get("/acces?lang=en").text).split())
    assert "Adds data — Vital signs" in english and "Read — Synthèse" in english  # J06 labels are French only

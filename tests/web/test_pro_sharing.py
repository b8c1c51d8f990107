"""The professional portal's sharing pages without a browser (the router included into the test application):
the compliance report with its chart and the documents still to send, the one-click « Partager » with the
session's CSRF token, a refusal said in place, English, and no professional space for a patient."""

from __future__ import annotations

import html

import pytest
from fastapi.testclient import TestClient

from carnet.bootstrap import Platform
from carnet.record import service as record
from tests.api.conftest import Tokens
from tests.builders import DR_HOUSE
from tests.unit.sharing.share_support import MARTIN, World, make_world
from tests.web.test_pages import _signed_in

DOMINIQUE_INS = "279035121518989"


@pytest.fixture
def world(platform: Platform) -> World:
    return make_world(platform)


def _deposited(world: World, title: str = "CR de biologie") -> str:
    with world.platform.uow() as uow:
        entry = record.deposit(uow=uow, actor=DR_HOUSE, patient_id=world.patient_id,
                               content=world.document(title=title)).entry  # fmt: skip
        uow.commit()
    return entry.id


def test_the_report_shows_the_chart_and_the_documents_to_share(
    client: TestClient, tokens: Tokens, world: World
) -> None:
    entry_id = _deposited(world)
    world.share(world.document(title="Déjà partagé"))
    _signed_in(client, tokens.for_actor(DR_HOUSE), csrf="le-bon-jeton")
    answer = client.get("/pro/partage/rapport")
    assert answer.status_code == 200
    text = html.unescape(answer.text)
    assert "Mes obligations de partage" in text and "2 document(s) sur la période" in text
    assert '<svg xmlns="http://www.w3.org/2000/svg"' in answer.text and 'role="img"' in answer.text
    assert "Envoi au patient : 1/2 (50 %)" in text
    assert f'action="/pro/partage/documents/{entry_id}"' in answer.text and 'value="le-bon-jeton"' in answer.text
    assert "Sent to the patient" in client.get("/pro/partage/rapport?lang=en").text
    assert "aucune structure" in html.unescape(client.get("/pro/partage/rapport?portee=structure&lang=fr").text)
    bad = client.get("/pro/partage/rapport?du=hier")
    assert bad.status_code == 422 and 'role="alert"' in bad.text


def test_one_click_shares_the_document_with_the_sessions_csrf_token(
    client: TestClient, tokens: Tokens, world: World
) -> None:
    entry_id = _deposited(world)
    _signed_in(client, tokens.for_actor(DR_HOUSE), csrf="le-bon-jeton")
    form_page = html.unescape(client.get(f"/pro/partage/documents/{entry_id}").text)
    assert "pas encore été partagé" in form_page and "Consultation d'annonce nécessaire" in form_page
    for form in ({}, {"csrf": "un-autre-jeton"}):
        refused = client.post(f"/pro/partage/documents/{entry_id}", data=form, follow_redirects=False)
        assert refused.status_code == 403
    assert world.written()["shares"] == 0

    done = client.post(f"/pro/partage/documents/{entry_id}", data={"csrf": "le-bon-jeton"}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == f"/pro/partage/documents/{entry_id}?fait=partage"
    shown = html.unescape(client.get(done.headers["location"]).text)
    assert "Le document est partagé." in shown and MARTIN in shown and "médecin traitant" in shown
    assert "cr-biologie" in shown and "fait" in shown
    again = client.post(f"/pro/partage/documents/{entry_id}", data={"csrf": "le-bon-jeton"}, follow_redirects=False)
    assert again.headers["location"].endswith("?fait=deja")
    assert world.written()["shares"] == 1


def test_a_refused_share_is_said_on_the_page_with_what_was_typed(
    client: TestClient, tokens: Tokens, world: World
) -> None:
    entry_id = _deposited(world)
    _signed_in(client, tokens.for_actor(DR_HOUSE), csrf="le-bon-jeton")
    answer = client.post(f"/pro/partage/documents/{entry_id}", data={
        "csrf": "le-bon-jeton", "destinataires": "dr.inconnu@ailleurs.mssante.fr", "annonce": "1"})  # fmt: skip
    assert answer.status_code == 422
    text = html.unescape(answer.text)
    assert "Le partage a été refusé" in text and "destinataire inconnu" in text
    assert 'value="dr.inconnu@ailleurs.mssante.fr"' in text and 'id="annonce" name="annonce" value="1" checked' in text
    assert world.written()["shares"] == 0


def test_a_patient_has_no_sharing_pages(client: TestClient, tokens: Tokens, world: World) -> None:
    _signed_in(client, tokens.for_patient(DOMINIQUE_INS))
    assert client.get("/pro/partage/rapport").status_code == 403
    assert client.get("/pro/partage/rapport", follow_redirects=False).status_code == 403

"""The agenda's and the reimbursements' pages without a browser, both backends: an event added, listed in its month
and cancelled; a bad event refused in place with nothing stored; the feed's address made, regenerated, revoked;
the reimbursements with their totals and date filters; English; the CSRF token."""

from __future__ import annotations

import html

import pytest
from fastapi.testclient import TestClient

from carnet.bootstrap import Platform
from carnet.space import agenda, reimbursements
from tests.api.conftest import Tokens
from tests.builders import DR_HOUSE, in_care_team, patient_as, qualified_patient
from tests.web.test_pages import DOMINIQUE_INS, _signed_in

CSRF = "jeton-csrf"


def text(answer: object) -> str:
    return html.unescape(answer.text)  # type: ignore[attr-defined]


@pytest.fixture
def dominique(platform: Platform) -> str:
    patient_id = qualified_patient(platform)
    in_care_team(platform, patient_id, DR_HOUSE)
    return patient_id


@pytest.fixture
def signed_in(client: TestClient, tokens: Tokens, dominique: str) -> TestClient:
    _signed_in(client, tokens.for_patient(DOMINIQUE_INS))
    return client


def events(platform: Platform, patient_id: str) -> list[agenda.EventView]:
    with platform.uow() as uow:
        return agenda.list_events(uow=uow, actor=patient_as(patient_id), patient_id=patient_id)


def test_an_event_is_added_listed_in_its_month_and_cancelled(
    signed_in: TestClient, platform: Platform, dominique: str
) -> None:
    empty = signed_in.get("/espace/agenda?mois=2026-12")
    assert empty.status_code == 200 and "Aucun événement ce mois-ci." in text(empty)
    assert "script-src 'self'" in empty.headers["content-security-policy"]
    added = signed_in.post("/espace/agenda", data={"csrf": CSRF, "type": "appointment", "titre": "Dentiste",
                           "date": "2026-12-03", "heure": "14:30", "duree": "45", "lieu": "Cabinet Dupont",
                           "note": ""}, follow_redirects=False)  # fmt: skip
    assert (
        added.status_code == 303 and added.headers["location"] == "/espace/agenda?mois=2026-12&fait=ajoute#confirmation"
    )
    shown = text(signed_in.get("/espace/agenda?mois=2026-12&fait=ajoute"))
    assert "L'événement a été ajouté à votre agenda." in shown and "décembre 2026" in shown
    assert "14:30 – 15:15" in shown and "Dentiste" in shown and "Cabinet Dupont" in shown
    [event] = events(platform, dominique)
    assert event.start_at.isoformat() == "2026-12-03T13:30:00+00:00" and event.status == "booked"
    assert "Aucun événement" in text(signed_in.get("/espace/agenda?mois=2027-01"))
    cancelled = signed_in.post(f"/espace/agenda/{event.id}/annuler", data={"csrf": CSRF}, follow_redirects=False)
    assert cancelled.status_code == 303
    assert "annulé" in text(signed_in.get("/espace/agenda?mois=2026-12"))
    assert events(platform, dominique)[0].status == "cancelled"
    english = text(signed_in.get("/espace/agenda?mois=2026-12&lang=en"))
    assert "My agenda" in english and "December 2026" in english and "cancelled" in english


def test_a_bad_event_is_refused_in_place_and_the_csrf_token_is_checked(
    signed_in: TestClient, platform: Platform, dominique: str
) -> None:
    refused = signed_in.post("/espace/agenda", data={"csrf": CSRF, "type": "appointment", "titre": "",
                             "date": "2026-12-03", "heure": "14:30", "duree": "", "lieu": "", "note": ""})  # fmt: skip
    assert refused.status_code == 422 and "L'intitulé de l'événement est obligatoire".lower() in text(refused).lower()
    forged = signed_in.post("/espace/agenda", data={"csrf": "autre", "type": "appointment", "titre": "X",
                            "date": "2026-12-03", "heure": "14:30"})  # fmt: skip
    assert forged.status_code == 403
    assert events(platform, dominique) == []


def test_the_feed_address_is_made_regenerated_and_revoked(signed_in: TestClient, platform: Platform) -> None:
    assert "Créer l'adresse de mon agenda" in text(signed_in.get("/espace/agenda"))
    signed_in.post("/espace/agenda/adresse", data={"csrf": CSRF})
    page = text(signed_in.get("/espace/agenda"))
    first = page.split('id="adresse-ics" value="')[1].split('"')[0]
    assert first.startswith("http") and first.endswith(".ics")
    path = first.split("testserver")[-1]
    assert signed_in.get(path).headers["content-type"].startswith("text/calendar")
    signed_in.post("/espace/agenda/adresse", data={"csrf": CSRF})
    second = text(signed_in.get("/espace/agenda")).split('id="adresse-ics" value="')[1].split('"')[0]
    assert second != first and signed_in.get(path).status_code == 404
    signed_in.post("/espace/agenda/adresse/revoquer", data={"csrf": CSRF})
    assert "Créer l'adresse de mon agenda" in text(signed_in.get("/espace/agenda"))
    assert signed_in.get(second.split("testserver")[-1]).status_code == 404
    assert signed_in.get("/espace/agenda/copier.js").headers["content-type"].startswith("text/javascript")


def test_the_reimbursements_with_totals_and_date_filters(signed_in: TestClient, platform: Platform) -> None:
    feed = ("line_id;ins;care_date;act_code;act_label;professional;paid;reimbursed;left_to_pay\r\n"
            f"AM-1;{DOMINIQUE_INS};2026-10-02;GS;Consultation;Dr Claire MOREAU;30.00;20.00;\r\n"
            f"AM-2;{DOMINIQUE_INS};2026-11-02;;Pharmacie;;1234.50;1000.00;\r\n").encode()  # fmt: skip
    with platform.uow() as uow:
        reimbursements.import_feed(uow=uow, data=feed, fmt="csv")
        uow.commit()
    page = text(signed_in.get("/espace/remboursements"))
    assert "Mes remboursements" in page and "Soins remboursés (2)" in page
    assert "1\u202f264,50\u00a0€" in page and "1\u202f020,00\u00a0€" in page and "244,50\u00a0€" in page
    assert page.index("02/11/2026") < page.index("02/10/2026"), "newest first"
    october = text(signed_in.get("/espace/remboursements?du=2026-10-01&au=2026-10-31"))
    assert "Soins remboursés (1)" in october and "Pharmacie" not in october
    backwards = text(signed_in.get("/espace/remboursements?du=2026-10-31&au=2026-10-01"))
    assert "La date de début doit précéder la date de fin." in backwards
    english = text(signed_in.get("/espace/remboursements?lang=en"))
    assert "My reimbursements" in english and "€1,264.50" in english

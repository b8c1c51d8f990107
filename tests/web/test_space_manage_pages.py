"""« Gérer mon espace » without a browser, both backends: the status and what may be done now (oppose while
pending, close with a confirmation, re-open), the identity and the contact details (refused input listed in place,
nothing stored), the representatives seen from a child's space, a representative of an adult refused, the CSRF
token, English."""

from __future__ import annotations

import html

from fastapi.testclient import TestClient

from carnet.access.model import SpaceStatus
from carnet.bootstrap import Platform
from carnet.space import campaign, lifecycle, lifecycle_admin
from carnet.space.lifecycle_admin import ContactIn
from tests.api.conftest import Tokens
from tests.builders import PLATFORM, qualified_patient
from tests.lifecycle_builders import (
    DOMINIQUE_INS,
    DOMINIQUE_MAIL,
    ELODIE_INS,
    THOMAS_INS,
    campaign_of,
    elodie,
    thomas,
    trail,
)
from tests.web.test_pages import _signed_in

CSRF = "jeton-csrf"
PAGE = "/espace/gestion"


def text(answer: object) -> str:
    return html.unescape(answer.text)  # type: ignore[attr-defined]


def status(platform: Platform, patient_id: str) -> SpaceStatus:
    with platform.uow() as uow:
        return lifecycle.state(uow, patient_id).status


def post(client: TestClient, action: str, **data: str) -> object:
    return client.post(f"{PAGE}/{action}", data={"csrf": CSRF, **data}, follow_redirects=False)


def test_the_holder_closes_and_reopens_their_space(client: TestClient, tokens: Tokens, platform: Platform) -> None:
    patient_id = qualified_patient(platform)
    _signed_in(client, tokens.for_patient(DOMINIQUE_INS))
    shown = client.get(PAGE)
    assert shown.status_code == 200
    page = text(shown)
    assert "Votre espace santé est ouvert." in page and "Fermer mon espace" in page
    assert "PAT-TROIS" in page and DOMINIQUE_INS in page and "28/03/1979" in page and "Féminin" in page
    assert 'name="csrf" value="jeton-csrf"' in shown.text
    assert 'href="/espace/gestion"' in client.get("/mon-espace").text  # the hub leads here

    unconfirmed = post(client, "fermer")
    assert unconfirmed.status_code == 422  # type: ignore[attr-defined]
    assert "Cochez la case de confirmation" in text(unconfirmed)
    assert status(platform, patient_id) is SpaceStatus.OPEN
    forged = client.post(f"{PAGE}/fermer", data={"csrf": "faux", "confirmer": "oui"}, follow_redirects=False)
    assert forged.status_code == 403 and status(platform, patient_id) is SpaceStatus.OPEN

    closed = post(client, "fermer", confirmer="oui")
    assert closed.status_code == 303  # type: ignore[attr-defined]
    assert closed.headers["location"] == f"{PAGE}?fait=close#confirmation"  # type: ignore[attr-defined]
    page = text(client.get(f"{PAGE}?fait=close"))
    assert "Votre espace santé est fermé." in page and "conservés jusqu'au 22/11/2036" in page
    assert "Rouvrir mon espace" in page and status(platform, patient_id) is SpaceStatus.CLOSED
    again = post(client, "fermer", confirmer="oui")
    assert again.status_code == 409 and "déjà fermé" in text(again)  # type: ignore[attr-defined]

    reopened = post(client, "rouvrir")
    assert reopened.status_code == 303 and status(platform, patient_id) is SpaceStatus.OPEN  # type: ignore[attr-defined]
    assert "Votre espace santé est ouvert." in text(client.get(f"{PAGE}?fait=reopen"))
    english = text(client.get(f"{PAGE}?lang=en"))
    assert "Manage my space" in english and "Your health space is open." in english and "Close my space" in english


def test_the_holder_opposes_while_the_space_is_being_created(
    client: TestClient, tokens: Tokens, platform: Platform
) -> None:
    patient_id = qualified_patient(platform)
    campaign.run_campaign(platform=platform, campaign_id=campaign_of(
        platform, (DOMINIQUE_INS, ContactIn(email=DOMINIQUE_MAIL))))  # fmt: skip
    _signed_in(client, tokens.for_patient(DOMINIQUE_INS))
    page = text(client.get(PAGE))
    assert "en cours de création" in page and "il sera ouvert le 03/01/2027" in page
    assert "jusqu'au 02/01/2027 inclus" in page and "M'opposer à la création de mon espace" in page
    assert "Fermer mon espace" not in page
    done = post(client, "opposer")
    assert done.status_code == 303 and status(platform, patient_id) is SpaceStatus.OPPOSED  # type: ignore[attr-defined]
    page = text(client.get(f"{PAGE}?fait=oppose"))
    assert "Votre opposition est enregistrée" in page and "Ouvrir mon espace" in page
    assert ("space.oppose", "success", patient_id) in trail(platform, patient_id)
    again = post(client, "opposer")
    assert again.status_code == 409 and "déjà enregistrée" in text(again)  # type: ignore[attr-defined]


def test_contact_details_are_checked_in_place_then_saved(
    client: TestClient, tokens: Tokens, platform: Platform
) -> None:
    patient_id = qualified_patient(platform)
    _signed_in(client, tokens.for_patient(DOMINIQUE_INS))
    refused = post(client, "coordonnees", email="pas-une-adresse", telephone="12", adresse="12 rue des Lilas",
                   code_postal="51100", ville="")  # fmt: skip
    assert refused.status_code == 422  # type: ignore[attr-defined]
    page = text(refused)
    assert "Vos coordonnées n'ont pas été enregistrées" in page
    assert "adresse électronique invalide" in page and "numéro invalide" in page and "une voie, un code postal" in page
    assert 'value="pas-une-adresse"' in refused.text  # type: ignore[attr-defined]
    with platform.uow() as uow:
        assert lifecycle_admin.administrative_data(uow=uow, actor=PLATFORM, patient_id=patient_id).contact.empty
    saved = post(client, "coordonnees", email=DOMINIQUE_MAIL, telephone="06 12 34 56 78", adresse="12 rue des Lilas",
                 code_postal="51100", ville="Reims")  # fmt: skip
    assert saved.headers["location"] == f"{PAGE}?fait=contact#confirmation"  # type: ignore[attr-defined]
    page = client.get(f"{PAGE}?fait=contact").text
    assert "Vos coordonnées sont enregistrées." in html.unescape(page)
    assert f'value="{DOMINIQUE_MAIL}"' in page and 'value="0612345678"' in page and 'value="Reims"' in page
    same = post(client, "coordonnees", email=DOMINIQUE_MAIL, telephone="0612345678", adresse="12 rue des Lilas",
                code_postal="51100", ville="Reims")  # fmt: skip
    assert same.headers["location"] == f"{PAGE}?fait=contact_same#confirmation"  # type: ignore[attr-defined]


def test_a_representative_manages_the_childs_space_but_not_an_adults(
    client: TestClient, tokens: Tokens, platform: Platform
) -> None:
    parent = qualified_patient(platform)
    child, grown = elodie(platform), thomas(platform)
    with platform.uow() as uow:
        for patient_id in (child, grown):
            lifecycle_admin.add_representative(uow=uow, actor=PLATFORM, patient_id=patient_id, representative_id=parent,
                                               role="parent", name="Dominique PAT-TROIS")  # fmt: skip
        uow.commit()
    _signed_in(client, tokens.for_patient(DOMINIQUE_INS, represents=(ELODIE_INS, THOMAS_INS)))
    client.post("/espace", data={"csrf": CSRF, "espace": child, "retour": PAGE})
    page = text(client.get(PAGE))
    assert "Vous agissez dans l'espace santé de Elodie VINCENT" in page
    assert "Vous avez moins de 18 ans" in page and "Dominique PAT-TROIS" in page and "parent" in page
    client.post("/espace", data={"csrf": CSRF, "espace": grown, "retour": PAGE})
    refused = client.get(PAGE)
    assert refused.status_code == 403 and "majorité" in text(refused)
    assert ("space.admin_read", "denied", parent) in trail(platform, grown)

"""The professional portal without a browser: the home's search form, the patient search by INS and by traits
(identity status, qualified INS only, collision warnings, unreadable input said in place)."""

from __future__ import annotations

import html

from fastapi.testclient import TestClient

from carnet.access import service as access
from carnet.bootstrap import Platform
from carnet.identity import service as identities
from carnet.record import service as record
from carnet.web.pro_common import EMERGENCY_COOKIE
from tests.api.conftest import Tokens
from tests.builders import DR_HOUSE, FRONT_DESK, NURSE_JOY, PLATFORM, dominique, example, patient_as, qualified_patient
from tests.web.test_pages import _signed_in

DOMINIQUE_INS = "279035121518989"


def test_the_professional_home_is_the_patient_search(client: TestClient, tokens: Tokens) -> None:
    _signed_in(client, tokens.for_actor(DR_HOUSE))
    for path in ("/", "/pro"):
        answer = client.get(path)
        assert answer.status_code == 200
        assert "Rechercher un patient" in answer.text and 'name="ins"' in answer.text
    assert 'href="/pro/patients"' in client.get("/pro").text


def test_a_patient_is_found_by_ins_and_by_traits_with_collision_warnings(
    client: TestClient, tokens: Tokens, platform: Platform
) -> None:
    qualified_patient(platform)
    with platform.uow() as uow:  # a provisional near-duplicate: same birth date, one letter apart
        identities.register(uow=uow, actor=FRONT_DESK, traits=dominique(birth_name="Pat-Troie"))
        uow.commit()
    _signed_in(client, tokens.for_actor(DR_HOUSE))
    by_ins = html.unescape(client.get(f"/pro/patients?ins={DOMINIQUE_INS}").text)
    assert "1 patient(s) trouvé(s)" in by_ins
    assert f"INS {DOMINIQUE_INS}" in by_ins and "Identité qualifiée" in by_ins
    assert "risque de doublon" in by_ins and "PAT-TROIE" in by_ins
    by_traits = html.unescape(client.get("/pro/patients?nom=pat&naissance=1979-03-28").text)
    assert "2 patient(s) trouvé(s)" in by_traits
    assert "Identité provisoire" in by_traits and "aucun document ne peut être déposé" in by_traits
    assert "Aucun patient ne correspond." in client.get("/pro/patients?nom=inconnu").text
    bad = client.get("/pro/patients?ins=123")
    assert bad.status_code == 422 and 'role="alert"' in bad.text
    assert client.get("/pro/patients?naissance=hier").status_code == 422


def test_a_patient_has_no_professional_space(client: TestClient, tokens: Tokens, platform: Platform) -> None:
    qualified_patient(platform)
    _signed_in(client, tokens.for_patient(DOMINIQUE_INS))
    answer = client.get("/pro/patients?nom=pat")
    assert answer.status_code == 403 and "Accès refusé" in answer.text


# --- the patient page and the basis of access -----------------------------------------------------------------

VSM = "VSM_1.4_2022.01.xml"
WHY = "Patiente inconsciente admise au service des urgences"


def _summary_by_the_platform(platform: Platform, patient_id: str) -> str:
    with platform.uow() as uow:
        entry = record.deposit(uow=uow, actor=PLATFORM, patient_id=patient_id, content=example(VSM)).entry
        uow.commit()
    return entry.id


def _actions(platform: Platform, patient_id: str) -> list[tuple[str, str, str]]:
    with platform.uow() as uow:
        rows = uow.audit.chain(patient_id)
    return [(row.action, row.actor_id, row.mode) for row in rows]


def test_the_patient_page_shows_the_identity_and_what_the_decision_says(
    client: TestClient, tokens: Tokens, platform: Platform
) -> None:
    patient_id = qualified_patient(platform)
    _signed_in(client, tokens.for_actor(DR_HOUSE))
    answer = client.get(f"/pro/patients/{patient_id}")
    assert answer.status_code == 200
    text = html.unescape(answer.text)
    assert "PAT-TROIS" in text and f"INS {DOMINIQUE_INS}" in text and "Identité qualifiée" in text
    assert "Vous ne pouvez pas consulter ce dossier" in text and "n'est pas dans l'équipe de soins" in text
    for action in ("equipe", "consentement", "urgence"):
        assert f'action="/pro/patients/{patient_id}/{action}"' in text
    assert f'href="/pro/patients/{patient_id}/deposer"' in text
    assert f'href="/pro/patients/{patient_id}/documents"' not in text  # no basis yet
    # Without a basis the documents are not listed: back to the patient page, asked to state one.
    documents = client.get(f"/pro/patients/{patient_id}/documents", follow_redirects=False)
    assert documents.status_code == 303 and documents.headers["location"].endswith("?base=requise")
    assert "Indiquez d'abord" in html.unescape(client.get(documents.headers["location"]).text)
    assert client.get("/pro/patients/pas-un-patient").status_code == 404
    assert "Your access to this record" in client.get(f"/pro/patients/{patient_id}?lang=en").text
    assert 'href="/pro/patients/' + patient_id in client.get(f"/pro/patients?ins={DOMINIQUE_INS}").text


def test_consent_obtained_now_needs_the_token_and_the_box_then_opens_the_record(
    client: TestClient, tokens: Tokens, platform: Platform
) -> None:
    patient_id = qualified_patient(platform)
    _summary_by_the_platform(platform, patient_id)
    _signed_in(client, tokens.for_actor(DR_HOUSE), csrf="le-bon-jeton")
    url = f"/pro/patients/{patient_id}/consentement"
    for form in ({"consentement": "oui"}, {"consentement": "oui", "csrf": "un-autre-jeton"}):
        refused = client.post(url, data=form, follow_redirects=False)
        assert refused.status_code == 403 and "Le formulaire a expiré" in refused.text
    unticked = client.post(url, data={"csrf": "le-bon-jeton"}, follow_redirects=False)
    assert unticked.status_code == 422
    assert 'aria-invalid="true"' in unticked.text and "le consentement du patient doit être obtenu" in unticked.text
    assert ("consent.explicit", DR_HOUSE.id, "normal") not in _actions(platform, patient_id)
    done = client.post(url, data={"csrf": "le-bon-jeton", "consentement": "oui"}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"].endswith("?fait=consentement")
    page = html.unescape(client.get(done.headers["location"]).text)
    assert "Le consentement du patient est enregistré" in page
    assert "Vous pouvez consulter ce dossier" in page and "consentement explicite pour cette consultation" in page
    assert ("consent.explicit", DR_HOUSE.id, "normal") in _actions(platform, patient_id)
    listing = client.get(f"/pro/patients/{patient_id}/documents")
    assert listing.status_code == 200 and "Synthèse Médicale" in listing.text


def test_a_care_team_member_states_having_informed_the_patient(
    client: TestClient, tokens: Tokens, platform: Platform
) -> None:
    patient_id = qualified_patient(platform)
    _signed_in(client, tokens.for_actor(NURSE_JOY))
    url = f"/pro/patients/{patient_id}/equipe"
    assert client.post(url, data={"csrf": "jeton-csrf"}, follow_redirects=False).status_code == 422
    done = client.post(url, data={"csrf": "jeton-csrf", "informe": "oui"}, follow_redirects=False)
    assert done.status_code == 303
    assert "membre de l'équipe de soins" in html.unescape(client.get(f"/pro/patients/{patient_id}").text)
    assert ("consent.care_team_join", NURSE_JOY.id, "normal") in _actions(platform, patient_id)


def test_an_emergency_access_is_justified_traced_and_marks_every_read_until_ended(
    client: TestClient, tokens: Tokens, platform: Platform
) -> None:
    patient_id = qualified_patient(platform)
    document_id = _summary_by_the_platform(platform, patient_id)
    _signed_in(client, tokens.for_actor(DR_HOUSE))
    url = f"/pro/patients/{patient_id}/urgence"
    short = client.post(url, data={"csrf": "jeton-csrf", "justification": "urgent"}, follow_redirects=False)
    assert short.status_code == 422 and "au moins 20 caractères" in html.unescape(short.text)
    assert ">urgent</textarea>" in short.text  # what was written is kept in the form
    assert web_session_cookie(client) is None
    done = client.post(url, data={"csrf": "jeton-csrf", "justification": WHY}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"].endswith("?fait=urgence")
    page = html.unescape(client.get(done.headers["location"]).text)
    assert "Accès en urgence déclaré" in page and WHY in page and "accès en urgence (bris de glace)" in page
    listing = client.get(f"/pro/patients/{patient_id}/documents")
    assert listing.status_code == 200 and "cette consultation est signalée au patient" in html.unescape(listing.text)
    assert client.get(f"/pro/documents/{document_id}").status_code == 200
    actions = _actions(platform, patient_id)
    assert ("emergency.declare", DR_HOUSE.id, "emergency") in actions
    assert ("document.list", DR_HOUSE.id, "emergency") in actions
    assert ("document.read", DR_HOUSE.id, "emergency") in actions
    with platform.uow() as uow:
        history = access.read_history(uow=uow, actor=patient_as(patient_id), patient_id=patient_id)
    assert any(row.detail == {"reason": WHY} for row in history if row.action == "emergency.declare")
    # Another professional on the same browser does not inherit the declaration.
    _signed_in(client, tokens.for_actor(NURSE_JOY))
    assert client.get(f"/pro/patients/{patient_id}/documents", follow_redirects=False).status_code == 303
    _signed_in(client, tokens.for_actor(DR_HOUSE), csrf="une-autre-session")  # nor a later session
    assert client.get(f"/pro/patients/{patient_id}/documents", follow_redirects=False).status_code == 303
    client.post(url, data={"csrf": "une-autre-session", "justification": WHY}, follow_redirects=False)
    assert client.get(f"/pro/patients/{patient_id}/documents", follow_redirects=False).status_code == 200
    ended = client.post(f"{url}/fin", data={"csrf": "une-autre-session"}, follow_redirects=False)
    assert ended.status_code == 303 and web_session_cookie(client) is None
    assert client.get(f"/pro/patients/{patient_id}/documents", follow_redirects=False).status_code == 303


def test_an_emergency_access_the_holder_refused_is_refused_with_the_reason(
    client: TestClient, tokens: Tokens, platform: Platform
) -> None:
    patient_id = qualified_patient(platform)
    with platform.uow() as uow:
        access.set_emergency_refused(uow=uow, actor=patient_as(patient_id), patient_id=patient_id, refused=True)
        uow.commit()
    _signed_in(client, tokens.for_actor(DR_HOUSE))
    refused = client.post(f"/pro/patients/{patient_id}/urgence", data={"csrf": "jeton-csrf", "justification": WHY},
                          follow_redirects=False)  # fmt: skip
    assert refused.status_code == 403
    assert "le titulaire a refusé l'accès à son dossier en urgence" in html.unescape(refused.text)
    assert web_session_cookie(client) is None
    assert ("record.list", DR_HOUSE.id, "emergency") in _actions(platform, patient_id)  # the refusal is traced


def test_the_secretariat_and_patients_get_no_basis_forms(
    client: TestClient, tokens: Tokens, platform: Platform
) -> None:
    patient_id = qualified_patient(platform)
    _signed_in(client, tokens.for_actor(FRONT_DESK))
    page = client.get(f"/pro/patients/{patient_id}").text
    assert "/consentement" not in page and f'href="/pro/patients/{patient_id}/deposer"' in page
    form = {"csrf": "jeton-csrf", "consentement": "oui"}
    refused = client.post(f"/pro/patients/{patient_id}/consentement", data=form, follow_redirects=False)
    assert refused.status_code == 403 and "seul un professionnel de santé" in html.unescape(refused.text)
    _signed_in(client, tokens.for_patient(DOMINIQUE_INS))
    for path in (f"/pro/patients/{patient_id}", f"/pro/patients/{patient_id}/documents",
                 f"/pro/patients/{patient_id}/deposer"):  # fmt: skip
        assert client.get(path).status_code == 403
    assert client.post(f"/pro/patients/{patient_id}/urgence", data={"csrf": "jeton-csrf", "justification": WHY},
                       follow_redirects=False).status_code == 403  # fmt: skip


def web_session_cookie(client: TestClient) -> str | None:
    return client.cookies.get(EMERGENCY_COOKIE)

"""The professional portal without a browser: the home's search form, the patient search by INS and by traits
(identity status, qualified INS only, collision warnings, unreadable input said in place)."""

from __future__ import annotations

import html
from dataclasses import replace
from typing import Any

from fastapi.testclient import TestClient

from carnet.access import service as access
from carnet.access.model import Actor
from carnet.bootstrap import Platform
from carnet.identity import service as identities
from carnet.record import level1
from carnet.record import service as record
from carnet.record.model import Author
from carnet.web.pro_common import EMERGENCY_COOKIE
from tests.api.conftest import Tokens
from tests.builders import (
    DR_HOUSE,
    FRONT_DESK,
    NURSE_JOY,
    PLATFORM,
    dominique,
    example,
    in_care_team,
    make_person,
    minimal_pdf,
    patient_as,
    qualified_patient,
)
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


# --- the documents, the viewer, hold back and release -----------------------------------------------------------


def _operative_report(platform: Platform, patient_id: str, *, invisible: bool = False) -> str:
    """A CR opératoire (PDF in a CDA level 1) written and deposited by Dr House."""
    return _operative_report_by(platform, patient_id, DR_HOUSE, invisible=invisible)


def _operative_report_by(platform: Platform, patient_id: str, author: Actor, *, invisible: bool = False) -> str:
    """A CR opératoire (PDF in a CDA level 1) written and deposited by ``author``."""
    with platform.uow() as uow:
        identity = identities.get_or_raise(uow=uow, actor=PLATFORM, patient_id=patient_id)
        form = level1.Level1Form(type_code="34874-8", title="CR opératoire — appendicectomie",
                                 practice_setting="ETABLISSEMENT", facility_type="SA01")  # fmt: skip
        content = level1.pdf_document(pdf=minimal_pdf("Appendicectomie sans complication"), patient=identity,
                                      author=Author(id=author.id, family=author.name), form=form,
                                      created=uow.clock.now())  # fmt: skip
        entry = record.deposit(uow=uow, actor=author, patient_id=patient_id, content=content,
                               invisible_to_patient=invisible).entry  # fmt: skip
        uow.commit()
    return entry.id


def _with_consent(platform: Platform, patient_id: str, *professionals: Actor) -> None:
    with platform.uow() as uow:
        for professional in professionals:
            access.record_consent(uow=uow, actor=professional, patient_id=patient_id)
        uow.commit()


def test_the_documents_are_grouped_filtered_searched_and_hidden_ones_absent(
    client: TestClient, tokens: Tokens, platform: Platform
) -> None:
    patient_id = qualified_patient(platform)
    in_care_team(platform, patient_id, DR_HOUSE)
    summary = _summary_by_the_platform(platform, patient_id)
    operative = _operative_report(platform, patient_id)
    hidden = _summary_by_the_platform_of(platform, patient_id, "IMG_CR_IMG_2024.01.xml")
    with platform.uow() as uow:
        record.hide_from_professionals(uow=uow, actor=patient_as(patient_id), entry_id=hidden)
        uow.commit()
    _signed_in(client, tokens.for_actor(DR_HOUSE))
    url = f"/pro/patients/{patient_id}/documents"
    listing = html.unescape(client.get(url).text)
    assert f'href="/pro/documents/{summary}"' in listing and f'href="/pro/documents/{operative}"' in listing
    assert hidden not in listing  # hidden by the holder: the decision leaves it out
    assert "<h2" in listing and "Synthèse" in listing and "Compte rendu" in listing  # grouped by class (French)
    only_reports = html.unescape(client.get(f"{url}?classe=10").text)
    assert operative in only_reports and summary not in only_reports
    found = html.unescape(client.get(f"{url}?q=appendicectomie").text)
    assert "1 résultat(s)" in found and operative in found and summary not in found
    refused = client.get(f"{url}?classe=pas-une-classe&du=hier")
    assert refused.status_code == 422 and "Un filtre n'a pas été compris" in html.unescape(refused.text)
    # The author still reads what they wrote once the holder hid it (and is told so).
    with platform.uow() as uow:
        record.hide_from_professionals(uow=uow, actor=patient_as(patient_id), entry_id=operative)
        uow.commit()
    assert operative in client.get(url).text
    assert "Le patient a masqué ce document" in html.unescape(client.get(f"/pro/documents/{operative}").text)


def _summary_by_the_platform_of(platform: Platform, patient_id: str, name: str) -> str:
    with platform.uow() as uow:
        entry = record.deposit(uow=uow, actor=PLATFORM, patient_id=patient_id, content=example(name)).entry
        uow.commit()
    return entry.id


def test_the_viewer_renders_the_cda_shows_the_pdf_and_downloads(
    client: TestClient, tokens: Tokens, platform: Platform
) -> None:
    patient_id = qualified_patient(platform)
    in_care_team(platform, patient_id, DR_HOUSE)
    summary = _summary_by_the_platform(platform, patient_id)
    operative = _operative_report(platform, patient_id)
    _signed_in(client, tokens.for_actor(DR_HOUSE))
    shown = client.get(f"/pro/documents/{summary}")
    assert shown.status_code == 200 and '<article class="cda">' in shown.text and "Pathologie en cours" in shown.text
    assert "<script" not in shown.text.split("<main", 1)[1]
    report = client.get(f"/pro/documents/{operative}")
    assert f'<iframe class="document-view__frame" src="/pro/documents/{operative}/pdf"' in report.text
    pdf = client.get(f"/pro/documents/{operative}/pdf")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF") and pdf.headers["content-disposition"].startswith("inline")
    assert client.get(f"/pro/documents/{operative}/pdf?telecharger=1").headers["content-disposition"].startswith(
        "attachment")  # fmt: skip
    original = client.get(f"/pro/documents/{summary}/contenu")
    assert original.status_code == 200 and original.content == example(VSM)
    assert original.headers["content-disposition"].startswith("attachment")
    assert client.get(f"/pro/documents/{summary}/pdf").status_code == 404  # a structured CDA carries no PDF
    assert client.get("/pro/documents/pas-un-document").status_code == 404
    actions = _actions(platform, patient_id)
    assert ("document.read", DR_HOUSE.id, "normal") in actions


def test_a_nurse_cannot_read_an_operative_report(client: TestClient, tokens: Tokens, platform: Platform) -> None:
    patient_id = qualified_patient(platform)
    in_care_team(platform, patient_id, DR_HOUSE)
    summary = _summary_by_the_platform(platform, patient_id)
    operative = _operative_report(platform, patient_id)
    _with_consent(platform, patient_id, NURSE_JOY)
    _signed_in(client, tokens.for_actor(NURSE_JOY))
    listing = client.get(f"/pro/patients/{patient_id}/documents").text
    assert summary in listing and operative not in listing
    refused = client.get(f"/pro/documents/{operative}")
    assert refused.status_code == 403
    assert "un infirmier ne peut pas consulter un document « compte rendu opératoire »" in html.unescape(refused.text)
    assert client.get(f"/pro/documents/{operative}/pdf").status_code == 403
    assert ("document.read", NURSE_JOY.id, "normal") in _actions(platform, patient_id)  # the refusal is traced


def test_the_author_holds_back_and_releases_a_document(client: TestClient, tokens: Tokens, platform: Platform) -> None:
    patient_id = qualified_patient(platform)
    in_care_team(platform, patient_id, DR_HOUSE)
    operative = _operative_report(platform, patient_id, invisible=True)
    holder = patient_as(patient_id)

    def patient_sees() -> bool:
        with platform.uow() as uow:
            return operative in [
                e.id for e in record.list_documents(uow=uow, actor=holder, patient_id=patient_id).items
            ]

    assert not patient_sees()
    _signed_in(client, tokens.for_actor(DR_HOUSE))
    page = html.unescape(client.get(f"/pro/documents/{operative}").text)
    assert "Non visible par le patient" in page and "Rendre visible au patient" in page
    url = f"/pro/documents/{operative}/liberer"
    assert client.post(url, data={"csrf": "pas-le-bon"}, follow_redirects=False).status_code == 403
    assert not patient_sees()
    released = client.post(url, data={"csrf": "jeton-csrf"}, follow_redirects=False)
    assert released.status_code == 303 and released.headers["location"].endswith("?fait=libere")
    assert patient_sees()
    assert "maintenant visible par le patient" in html.unescape(client.get(released.headers["location"]).text)
    held = client.post(f"/pro/documents/{operative}/retenir", data={"csrf": "jeton-csrf"}, follow_redirects=False)
    assert held.status_code == 303 and not patient_sees()
    # Another professional may read it but neither release nor hold it back.
    _with_consent(platform, patient_id, OTHER_DOCTOR)
    _signed_in(client, tokens.for_actor(OTHER_DOCTOR))
    assert "Rendre visible au patient" not in client.get(f"/pro/documents/{operative}").text
    refused = client.post(url, data={"csrf": "jeton-csrf"}, follow_redirects=False)
    assert refused.status_code == 403 and "seul l'auteur du document" in html.unescape(refused.text)
    assert not patient_sees()


OTHER_DOCTOR = replace(DR_HOUSE, id="810000000002", name="Dr Paul LEGRAND")


# --- the deposit ----------------------------------------------------------------------------------------------

VSM_AUTHOR = b'extension="801234567897"'
RUTH = make_person(birth_name="NESSI", birth_first_names="RUTH ISABELLE", birth_date="1977-07-14", birth_place="63220")


def _vsm_by(author_id: str) -> bytes:
    """The CI-SIS summary written by ``author_id`` (author, legal authenticator and performer ids replaced)."""
    return example(VSM).replace(VSM_AUTHOR, f'extension="{author_id}"'.encode())


def _count(platform: Platform, patient_id: str) -> int:
    with platform.uow() as uow:
        return record.list_documents(uow=uow, actor=PLATFORM, patient_id=patient_id).total


def _post_cda(client: TestClient, patient_id: str, content: bytes, **fields: str) -> Any:
    return client.post(f"/pro/patients/{patient_id}/deposer/cda", data={"csrf": "jeton-csrf", **fields},
                       files={"fichier": ("document.xml", content, "text/xml")}, follow_redirects=False)  # fmt: skip


def test_the_deposit_page_offers_the_official_choices(client: TestClient, tokens: Tokens, platform: Platform) -> None:
    patient_id = qualified_patient(platform)
    _signed_in(client, tokens.for_actor(DR_HOUSE))
    form = html.unescape(client.get(f"/pro/patients/{patient_id}/deposer").text)
    assert 'action="/pro/patients/' + patient_id + '/deposer/cda"' in form
    assert '<option value="34874-8"' in form and "CR opératoire" in form  # JDV_J66, French label
    assert "DOCPAT" not in form  # the patients' own types are not offered
    assert '<option value="R"' in form and "Restreint" in form and '"INVISIBLE_PATIENT"' not in form  # JDV_J08
    assert '<option value="AMBULATOIRE" selected' in form and '<option value="SNR"' not in form  # JDV_J04
    assert '<option value="SA01"' in form and "Etablissement public de santé" in form  # JDV_J02
    assert "Non visible par le patient jusqu'à la consultation d'annonce" in form
    assert "Deposit a document for" in client.get(f"/pro/patients/{patient_id}/deposer?lang=en").text


def test_a_broken_cda_shows_every_problem_in_place_and_nothing_is_stored(
    client: TestClient, tokens: Tokens, platform: Platform
) -> None:
    patient_id = qualified_patient(platform)
    in_care_team(platform, patient_id, DR_HOUSE)
    _signed_in(client, tokens.for_actor(DR_HOUSE))
    broken = _vsm_by(DR_HOUSE.id).replace(b'code="SYNTH"', b'code="PAS-UN-TYPE"', 1)
    refused = _post_cda(client, patient_id, broken)
    assert refused.status_code == 422
    text = html.unescape(refused.text)
    assert "Document refusé" in text and "Rien n'a été déposé." in text
    assert "<code>/ClinicalDocument/code/@code</code> : type de document PAS-UN-TYPE" in text
    assert "<code>classCode</code>" in text
    malformed = _post_cda(client, patient_id, b"<ClinicalDocument")
    assert malformed.status_code == 422 and "XML mal formé" in html.unescape(malformed.text)
    assert _post_cda(client, patient_id, b"").status_code == 422
    assert _count(platform, patient_id) == 0


def test_a_cda_is_deposited_when_it_names_the_patient_and_its_author(
    client: TestClient, tokens: Tokens, platform: Platform
) -> None:
    patient_id = qualified_patient(platform)
    in_care_team(platform, patient_id, DR_HOUSE)
    _signed_in(client, tokens.for_actor(DR_HOUSE), csrf="jeton-csrf")
    not_theirs = _post_cda(client, patient_id, example(VSM))
    assert not_theirs.status_code == 403
    assert "ne dépose ou ne remplace que ses propres documents" in html.unescape(not_theirs.text)
    other = qualified_patient(platform, RUTH)
    in_care_team(platform, other, DR_HOUSE)
    wrong_patient = _post_cda(client, other, _vsm_by(DR_HOUSE.id))
    assert wrong_patient.status_code == 422 and "/ClinicalDocument/recordTarget" in wrong_patient.text
    bad_token = _post_cda(client, patient_id, _vsm_by(DR_HOUSE.id), csrf="pas-le-bon")
    assert bad_token.status_code == 403 and _count(platform, patient_id) == 0
    done = _post_cda(client, patient_id, _vsm_by(DR_HOUSE.id), invisible="oui")
    assert done.status_code == 303 and done.headers["location"].endswith("?fait=depose")
    entry_id = done.headers["location"].split("/")[-1].split("?")[0]
    page = html.unescape(client.get(done.headers["location"]).text)
    assert "Le document est déposé" in page and "Non visible par le patient" in page
    with platform.uow() as uow:
        entry = record.get_document(uow=uow, actor=PLATFORM, entry_id=entry_id)
    assert entry.metadata.invisible_to_patient and entry.metadata.submission_source == "carnet-web-pro"
    assert ("document.deposit", DR_HOUSE.id, "normal") in _actions(platform, patient_id)


def _pdf_form(**overrides: str) -> dict[str, str]:
    values = {
        "csrf": "jeton-csrf",
        "type": "34874-8",
        "titre": "CR opératoire — appendicectomie",
        "confidentialite": "N",
        "cadre": "ETABLISSEMENT",
        "etablissement": "SA01",
        "date_acte": "2026-11-20",
    }
    values.update(overrides)  # fmt: skip
    return values


def test_a_pdf_is_deposited_in_a_level1_document_with_its_metadata(
    client: TestClient, tokens: Tokens, platform: Platform
) -> None:
    patient_id = qualified_patient(platform)
    in_care_team(platform, patient_id, DR_HOUSE)
    _signed_in(client, tokens.for_actor(DR_HOUSE))
    url = f"/pro/patients/{patient_id}/deposer/pdf"
    pdf = {"fichier": ("cro.pdf", minimal_pdf("Appendicectomie sans complication"), "application/pdf")}
    wrong = {"type": "PAS-UN-TYPE", "titre": "", "confidentialite": "INVISIBLE_PATIENT", "cadre": "SNR",
             "etablissement": "ZZ", "date_acte": "2999-01-01"}  # fmt: skip
    refused = client.post(url, data=_pdf_form(**wrong), files=pdf, follow_redirects=False)
    assert refused.status_code == 422
    text = html.unescape(refused.text)
    assert "6 champ(s) à corriger" in text and text.count('aria-invalid="true"') == 6
    reasons = ("Choisissez un type de document", "Indiquez le titre", "Choisissez une confidentialité",
               "Choisissez un cadre d'exercice", "Choisissez un type d'établissement", "dans le futur")  # fmt: skip
    assert all(reason in text for reason in reasons)
    not_pdf = client.post(url, data=_pdf_form(), files={"fichier": ("cro.pdf", b"pas un pdf", "application/pdf")},
                          follow_redirects=False)  # fmt: skip
    assert not_pdf.status_code == 422 and "n'est pas un PDF valide" in html.unescape(not_pdf.text)
    assert _count(platform, patient_id) == 0
    done = client.post(url, data=_pdf_form(), files=pdf, follow_redirects=False)
    assert done.status_code == 303
    entry_id = done.headers["location"].split("/")[-1].split("?")[0]
    with platform.uow() as uow:
        meta = record.get_document(uow=uow, actor=PLATFORM, entry_id=entry_id).metadata
    assert (meta.type_code, meta.class_code, meta.confidentiality_code) == ("34874-8", "10", "N")
    assert (meta.practice_setting, meta.facility_type, meta.format_code) == (
        "ETABLISSEMENT", "SA01", "urn:ihe:iti:xds-sd:pdf:2008")  # fmt: skip
    assert meta.title == "CR opératoire — appendicectomie" and meta.author.id == DR_HOUSE.id
    assert meta.service_start is not None and meta.service_start.date().isoformat() == "2026-11-20"
    assert not meta.invisible_to_patient
    shown = client.get(f"/pro/documents/{entry_id}/pdf")
    assert shown.status_code == 200 and shown.content.startswith(b"%PDF")


def test_no_deposit_for_an_unqualified_identity(client: TestClient, tokens: Tokens, platform: Platform) -> None:
    with platform.uow() as uow:
        patient_id = identities.register(uow=uow, actor=FRONT_DESK, traits=dominique()).patient.id
        uow.commit()
    _signed_in(client, tokens.for_actor(DR_HOUSE))
    page = client.get(f"/pro/patients/{patient_id}/deposer")
    assert page.status_code == 403 and "Identité non qualifiée" in html.unescape(page.text)
    assert 'enctype="multipart/form-data"' not in page.text
    refused = client.post(f"/pro/patients/{patient_id}/deposer/pdf", data=_pdf_form(), follow_redirects=False,
                          files={"fichier": ("cro.pdf", minimal_pdf("x"), "application/pdf")})  # fmt: skip
    assert refused.status_code in (403, 422) and _count(platform, patient_id) == 0

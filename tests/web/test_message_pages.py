"""Secure messaging in both portals without a browser: a professional writes to a patient with a record document
and a file attached, the patient reads it (read receipt), downloads, replies and closes; nobody writes in a closed
conversation; a professional opens their mailbox; a document received in IHE XDM is integrated into the record
from the conversation; refusals (a patient composing, a forged form, a stranger's conversation)."""

from __future__ import annotations

import html
from dataclasses import replace

import pytest
from fastapi.testclient import TestClient

from carnet.bootstrap import Platform
from carnet.directory.demo import load_demo_directory
from carnet.messaging import service as mss
from carnet.messaging import xdm
from carnet.messaging.mime import InboundMail, MailAttachment
from carnet.record import service as record
from tests.api.conftest import Tokens
from tests.builders import DR_HOUSE, NURSE_JOY, PLATFORM, minimal_pdf
from tests.unit.messaging.test_xdm import _package
from tests.web.test_pages import DOMINIQUE_INS, _dominique_with_a_summary, _signed_in

CSRF = "jeton-csrf"
MOREAU = "claire.moreau@demo.mssante.fr"
OUTSIDE = "dr.lointain@hopital-voisin.mssante.fr"


def _text(answer: object) -> str:
    return html.unescape(answer.text)  # type: ignore[attr-defined]


@pytest.fixture
def mailboxes(platform: Platform) -> tuple[str, str]:
    """Dominique (a summary in her record, Dr MOREAU in her care team) and Dr MOREAU's mailbox."""
    patient_id, document_id = _dominique_with_a_summary(platform)
    with platform.uow() as uow:
        load_demo_directory(uow)
        mss.provision_professional(uow=uow, actor=PLATFORM, config=mss.MessagingConfig(), professional_id=DR_HOUSE.id)
        uow.commit()
    return patient_id, document_id


def _send_to_dominique(client: TestClient, patient_id: str, document_id: str) -> str:
    form = client.get(f"/pro/messages/nouveau?patient={patient_id}")
    assert form.status_code == 200
    assert f'value="{DOMINIQUE_INS}@patient.mssante.fr"' in form.text and f'value="{document_id}"' in form.text
    sent = client.post("/pro/messages/nouveau", data={"csrf": CSRF, "a": f"{DOMINIQUE_INS}@patient.mssante.fr",
                                                      "objet": "Vos résultats", "texte": "Bonjour,\nvoici la synthèse.",
                                                      "patient": patient_id, "document": document_id},
                       files=[("fichier", ("ordonnance.pdf", minimal_pdf("Ordonnance"), "application/pdf"))],
                       follow_redirects=False)  # fmt: skip
    assert sent.status_code == 303, _text(sent)
    return str(sent.headers["location"]).split("/")[-1].split("?")[0]


def test_a_professional_writes_the_patient_reads_replies_and_closes(
    client: TestClient, tokens: Tokens, platform: Platform, mailboxes: tuple[str, str]
) -> None:
    patient_id, document_id = mailboxes
    _signed_in(client, tokens.for_actor(DR_HOUSE), csrf=CSRF)
    conversation_id = _send_to_dominique(client, patient_id, document_id)
    mine = _text(client.get(f"/pro/messages/conversations/{conversation_id}?fait=envoye"))
    assert "Le message est envoyé." in mine and "ordonnance.pdf" in mine

    _signed_in(client, tokens.for_patient(DOMINIQUE_INS), csrf=CSRF)
    inbox = _text(client.get("/messages"))
    assert "Vos résultats" in inbox and "Non lu" in inbox
    home = _text(client.get("/"))
    assert "1 conversation(s) avec un message non lu" in home and f'href="/messages/{conversation_id}"' in home
    opened = _text(client.get(f"/messages/{conversation_id}"))
    assert "voici la synthèse" in opened and "ordonnance.pdf" in opened
    assert "Non lu" not in _text(client.get("/messages"))  # opening it was reading it: the receipt is recorded
    with platform.uow() as uow:
        sent = mss.get_conversation(uow=uow, actor=DR_HOUSE, conversation_id=conversation_id).messages[0]
    assert sent.recipients[0].read_at is not None
    pdf = next(a for a in sent.attachments if a.filename == "ordonnance.pdf")
    download = client.get(f"/messages/pieces/{pdf.id}")
    assert download.content.startswith(b"%PDF") and download.headers["content-disposition"].startswith("attachment")
    assert any(a.entry_id == document_id for a in sent.attachments)  # the record document, attached as itself

    answer = {"csrf": CSRF, "message": sent.id, "texte": "Merci docteur"}
    replied = client.post(f"/messages/{conversation_id}/repondre", data=answer, follow_redirects=False)
    assert replied.status_code == 303
    closed = client.post(f"/messages/{conversation_id}/fermer", data={"csrf": CSRF}, follow_redirects=False)
    assert closed.status_code == 303
    page = _text(client.get(f"/messages/{conversation_id}?fait=ferme"))
    assert "La conversation est fermée." in page and "Votre réponse" not in page
    late = client.post(f"/messages/{conversation_id}/repondre",
                       data={"csrf": CSRF, "message": sent.id, "texte": "Encore une question"})  # fmt: skip
    assert late.status_code in (403, 409) and 'role="alert"' in late.text
    assert "la conversation est close" in _text(late).split('role="alert"')[1].split("</div>")[0]

    _signed_in(client, tokens.for_actor(DR_HOUSE), csrf=CSRF)
    thread = _text(client.get(f"/pro/messages/conversations/{conversation_id}"))
    assert "Merci docteur" in thread and "Encore une question" not in thread and "est fermée depuis" in thread


def test_a_patient_cannot_compose_and_forms_need_the_token(
    client: TestClient, tokens: Tokens, platform: Platform, mailboxes: tuple[str, str]
) -> None:
    patient_id, document_id = mailboxes
    _signed_in(client, tokens.for_patient(DOMINIQUE_INS), csrf=CSRF)
    assert "Seul un professionnel de santé peut commencer" in _text(client.get("/messages"))
    assert client.get("/pro/messages/nouveau").status_code == 403
    assert client.post("/pro/messages/nouveau", data={"csrf": CSRF, "a": MOREAU, "objet": "Question",
                                                      "texte": "?"}).status_code == 403  # fmt: skip
    _signed_in(client, tokens.for_actor(DR_HOUSE), csrf=CSRF)
    forged = client.post("/pro/messages/nouveau", data={"csrf": "autre", "a": MOREAU, "objet": "x", "texte": "y"})
    assert forged.status_code == 403
    unknown = client.post("/pro/messages/nouveau", data={"csrf": CSRF, "a": "personne@demo.mssante.fr",
                                                         "objet": "Avis", "texte": "Bonjour"})  # fmt: skip
    assert unknown.status_code == 422 and "personne@demo.mssante.fr" in _text(unknown)
    assert 'value="Avis"' in unknown.text  # the form comes back as typed
    conversation_id = _send_to_dominique(client, patient_id, document_id)
    _signed_in(client, tokens.for_actor(NURSE_JOY), csrf=CSRF)
    assert client.get(f"/pro/messages/conversations/{conversation_id}").status_code == 404


def test_a_professional_opens_a_mailbox_and_finds_colleagues_in_the_directory(
    client: TestClient, tokens: Tokens, platform: Platform, mailboxes: tuple[str, str]
) -> None:
    _signed_in(client, tokens.for_actor(NURSE_JOY), csrf=CSRF)
    first = _text(client.get("/pro/messages"))
    assert "Ouvrir ma boîte aux lettres" in first
    opened = client.post("/pro/messages/boite", data={"csrf": CSRF}, follow_redirects=False)
    assert opened.status_code == 303
    page = _text(client.get("/pro/messages?fait=boite"))
    assert "Votre boîte aux lettres est ouverte." in page and "julie.petit@demo.mssante.fr" in page
    found = _text(client.get("/pro/messages/nouveau?recherche=moreau"))
    assert MOREAU in found and "Écrire à" in found
    note = {"csrf": CSRF, "a": MOREAU, "objet": "Pansement", "texte": "Fait ce matin."}
    written = client.post("/pro/messages/nouveau", data=note, follow_redirects=False)
    assert written.status_code == 303
    _signed_in(client, tokens.for_actor(DR_HOUSE), csrf=CSRF)
    assert "Pansement" in _text(client.get("/pro/messages"))


def test_a_document_received_in_xdm_is_integrated_into_the_record_from_the_conversation(
    client: TestClient, tokens: Tokens, platform: Platform, mailboxes: tuple[str, str]
) -> None:
    patient_id, document_id = mailboxes
    package = _package()
    mail = InboundMail(envelope_from=OUTSIDE, envelope_to=(MOREAU,), from_address=OUTSIDE, to=(MOREAU,), cc=(),
                       subject="Synthèse de sortie", text="Ci-joint.", html=None,
                       attachments=(MailAttachment("IHE_XDM.ZIP", "application/zip", xdm.write(package)),),
                       message_id="<xdm-1@hopital-voisin.mssante.fr>", in_reply_to=None, references=(), date=None,
                       raw_size=1000)  # fmt: skip
    config = replace(mss.MessagingConfig(), trusted_domains=frozenset({"hopital-voisin.mssante.fr"}))
    with platform.uow() as uow:
        received = mss.receive(uow=uow, mail=mail, config=config)
        uow.commit()
    offer = received.offers[0]
    assert offer.patient_id == patient_id  # matched by the INS of the package
    _signed_in(client, tokens.for_actor(DR_HOUSE), csrf=CSRF)
    page = _text(client.get(f"/pro/messages/conversations/{received.conversation_id}"))
    assert "Documents reçus à intégrer" in page and "Intégrer au dossier du patient" in page
    done = client.post(f"/pro/messages/conversations/{received.conversation_id}/offres/{offer.id}/integrer",
                       data={"csrf": CSRF}, follow_redirects=False)  # fmt: skip
    assert done.status_code == 303
    assert "Le document est intégré au dossier du patient." in _text(client.get(done.headers["location"]))
    with platform.uow() as uow:
        listing = record.list_documents(uow=uow, actor=PLATFORM, patient_id=patient_id)
        integrated = mss.search_messages(uow=uow, actor=DR_HOUSE, filters=mss.MessageFilters())[0].offers[0]
    # The same summary was already in the record (same unique id, same bytes): integrated once, not duplicated.
    assert integrated.status == "integrated" and integrated.document_entry_id == document_id
    assert [e.id for e in listing.items] == [document_id]
    again = client.post(f"/pro/messages/conversations/{received.conversation_id}/offres/{offer.id}/integrer",
                        data={"csrf": CSRF})  # fmt: skip
    assert again.status_code in (409, 422) and 'role="alert"' in again.text

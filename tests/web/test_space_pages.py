"""The patient space beyond the documents list, without a browser: the holder's own upload (PDF, JPEG), the document
filters by type and author, a PDF shown inline, the access history's filters, "who may access my record" and its
changes, and the representative's switch between the spaces they manage."""

from __future__ import annotations

import datetime as dt
import html

import pytest
from fastapi.testclient import TestClient

from carnet.access import service as access
from carnet.access.model import Mode
from carnet.bootstrap import Platform
from carnet.directory.demo import load_demo_directory
from carnet.errors import Forbidden
from carnet.record import service as record
from carnet.record.model import AuthorKind
from carnet.record.store import DocumentFilters
from tests.api.conftest import Tokens
from tests.builders import (
    DR_HOUSE,
    NURSE_JOY,
    PLATFORM,
    TODAY,
    example,
    in_care_team,
    make_person,
    minimal_pdf,
    qualified_patient,
)
from tests.web.test_pages import DOMINIQUE_INS, VSM, _dominique_with_a_summary, _signed_in

CSRF = "jeton-csrf"


def _text(answer: object) -> str:
    return html.unescape(answer.text)  # type: ignore[attr-defined]


def _upload(client: TestClient, *, content: bytes, filename: str, mime: str, type_code: str = "DOCPAT01",
            title: str = "Ordonnance de lunettes", csrf: str = CSRF) -> object:  # fmt: skip
    return client.post("/documents/ajouter", data={"csrf": csrf, "type": type_code, "titre": title},
                       files={"fichier": (filename, content, mime)}, follow_redirects=False)  # fmt: skip


# --- upload -------------------------------------------------------------------------------------------------------


def test_the_holder_adds_a_pdf_shown_inline_and_marked_as_theirs(
    client: TestClient, tokens: Tokens, platform: Platform
) -> None:
    _dominique_with_a_summary(platform)
    _signed_in(client, tokens.for_patient(DOMINIQUE_INS))
    form = client.get("/documents/ajouter")
    assert form.status_code == 200 and 'enctype="multipart/form-data"' in form.text
    assert 'value="DOCPAT01"' in form.text
    done = _upload(client, content=minimal_pdf("Lunettes"), filename="ordonnance.pdf", mime="application/pdf")
    assert done.status_code == 303, _text(done)  # type: ignore[attr-defined]
    location = done.headers["location"]  # type: ignore[attr-defined]
    assert location.endswith("?fait=ajoute")
    document_id = location.split("/")[2].split("?")[0]
    with platform.uow() as uow:
        entry = record.get_document(uow=uow, actor=DR_HOUSE, entry_id=document_id)
    assert entry.metadata.author_kind is AuthorKind.PATIENT and entry.metadata.type_code == "DOCPAT01"
    assert entry.metadata.title == "Ordonnance de lunettes" and entry.metadata.mime_type == "application/pdf"
    viewer = client.get(location)
    assert "Le document a été ajouté" in _text(viewer)
    assert f'src="/documents/{document_id}/contenu?affichage=integre"' in viewer.text and "<iframe" in viewer.text
    inline = client.get(f"/documents/{document_id}/contenu?affichage=integre")
    assert inline.headers["content-disposition"].startswith("inline;") and inline.content.startswith(b"%PDF")
    download = client.get(f"/documents/{document_id}/contenu")
    assert download.headers["content-disposition"].startswith("attachment;")
    mine = client.get("/documents?par=moi")
    assert "Ordonnance de lunettes" in _text(mine) and "Synthèse Médicale" not in _text(mine)


def test_a_refused_upload_says_why_and_stores_nothing(client: TestClient, tokens: Tokens, platform: Platform) -> None:
    patient_id, _ = _dominique_with_a_summary(platform)
    _signed_in(client, tokens.for_patient(DOMINIQUE_INS))
    fake = _upload(client, content=b"ceci n'est pas un PDF", filename="faux.pdf", mime="application/pdf")
    assert fake.status_code == 422 and "Le document n'a pas été ajouté" in _text(fake)
    wrong_kind = _upload(client, content=b"GIF89a", filename="image.gif", mime="image/gif")
    assert wrong_kind.status_code == 422 and "Seuls les fichiers PDF et JPEG" in _text(wrong_kind)
    no_type = _upload(client, content=minimal_pdf("x"), filename="a.pdf", mime="application/pdf", type_code="11506-3",
                      title="")  # fmt: skip
    assert no_type.status_code == 422
    assert "Choisissez le type" in _text(no_type) and "Donnez un titre" in _text(no_type)
    forged = _upload(client, content=minimal_pdf("x"), filename="a.pdf", mime="application/pdf", csrf="autre")
    assert forged.status_code == 403
    with platform.uow() as uow:
        listing = record.list_documents(uow=uow, actor=PLATFORM, patient_id=patient_id,
                                        filters=DocumentFilters(author_kind=AuthorKind.PATIENT.value))  # fmt: skip
    assert listing.total == 0


def test_a_jpeg_photo_is_shown_as_an_image(client: TestClient, tokens: Tokens, platform: Platform) -> None:
    _dominique_with_a_summary(platform)
    _signed_in(client, tokens.for_patient(DOMINIQUE_INS))
    jpeg = bytes.fromhex("ffd8ffe000104a46494600010100000100010000ffd9")
    done = _upload(client, content=jpeg, filename="photo.jpg", mime="image/jpeg", title="Photo de l'ordonnance")
    if done.status_code != 303:  # type: ignore[attr-defined]
        pytest.fail(_text(done))
    viewer = client.get(done.headers["location"])  # type: ignore[attr-defined]
    assert '<img class="document-view__image"' in viewer.text and 'alt="Photo de l&#39;ordonnance"' in viewer.text


# --- document filters ---------------------------------------------------------------------------------------------


def test_documents_filter_by_type_and_author(client: TestClient, tokens: Tokens, platform: Platform) -> None:
    _dominique_with_a_summary(platform)
    _signed_in(client, tokens.for_patient(DOMINIQUE_INS))
    page = client.get("/documents")
    assert '<select id="type" name="type">' in page.text and "<optgroup" in page.text
    with platform.uow() as uow:
        entry = record.list_documents(uow=uow, actor=PLATFORM, patient_id=_patient(platform)).items[0]
    assert "Synthèse Médicale" in _text(client.get(f"/documents?type={entry.metadata.type_code}"))
    assert "Synthèse Médicale" not in _text(client.get("/documents?type=11506-3"))
    family = entry.metadata.author.family or ""
    assert family and "Synthèse Médicale" in _text(client.get(f"/documents?auteur={family[:4]}"))
    assert "Synthèse Médicale" not in _text(client.get("/documents?auteur=Personne-Inconnue"))
    refused = client.get("/documents?type=pas-un-code")
    assert "Un filtre n'a pas été compris" in _text(refused) and "Synthèse Médicale" in _text(refused)


def _patient(platform: Platform) -> str:
    with platform.uow() as uow:
        row = uow.patients.by_ins(DOMINIQUE_INS)
        assert row is not None
        return row.id


# --- history filters ----------------------------------------------------------------------------------------------


def test_the_history_filters_by_mode_dates_and_action(client: TestClient, tokens: Tokens, platform: Platform) -> None:
    patient_id, document_id = _dominique_with_a_summary(platform)
    with platform.uow() as uow:
        record.get_document(uow=uow, actor=DR_HOUSE, entry_id=document_id)
        urgent = access.context(uow, mode=Mode.EMERGENCY, justification="patient inconscient aux urgences")
        record.list_documents(uow=uow, actor=NURSE_JOY, patient_id=patient_id, ctx=urgent)
        uow.commit()
    _signed_in(client, tokens.for_patient(DOMINIQUE_INS))
    everything = _text(client.get("/historique"))
    assert "Dr Claire MOREAU" in everything and "PETIT" in everything
    emergency = _text(client.get("/historique?mode=urgence"))
    assert "PETIT" in emergency and "Dr Claire MOREAU" not in emergency
    normal = _text(client.get("/historique?mode=normal"))
    assert "Dr Claire MOREAU" in normal and "row--emergency" not in normal
    today = TODAY  # the test platform's clock
    assert "Dr Claire MOREAU" in _text(client.get(f"/historique?du={today - dt.timedelta(days=1)}&au={today}"))
    future = _text(client.get(f"/historique?du={today + dt.timedelta(days=2)}"))
    assert "Aucun accès ne correspond." in future
    page = client.get("/historique")
    assert '<select id="action" name="action">' in page.text
    actions = [chunk.split('"')[0] for chunk in page.text.split('<option value="')[1:]]
    assert "document.read_metadata" in actions
    read = "document.read_metadata"
    only_reads = _text(client.get(f"/historique?action={read}"))
    assert "Dr Claire MOREAU" in only_reads
    refused = client.get("/historique?du=hier")
    assert "Un filtre n'a pas été compris" in _text(refused)


# --- who may access -----------------------------------------------------------------------------------------------


@pytest.fixture
def with_directory(platform: Platform) -> None:
    with platform.uow() as uow:
        load_demo_directory(uow)
        uow.commit()


def _post(client: TestClient, path: str, **fields: str) -> object:
    return client.post(path, data={"csrf": CSRF, **fields}, follow_redirects=False)


@pytest.mark.usefixtures("with_directory")
def test_who_may_access_shows_the_care_team_and_blocks_and_unblocks(
    client: TestClient, tokens: Tokens, platform: Platform
) -> None:
    patient_id, document_id = _dominique_with_a_summary(platform)
    _signed_in(client, tokens.for_patient(DOMINIQUE_INS))
    page = _text(client.get("/acces"))
    assert "Qui peut accéder à mon dossier" in page and "Dr Claire MOREAU" in page
    found = _text(client.get("/acces?recherche=martin"))
    assert "Dr Paul MARTIN" in found and "Centre hospitalier" not in found
    assert "Centre hospitalier de démonstration de Reims" in _text(client.get("/acces?recherche=centre"))
    blocked = _post(client, "/acces/bloquer", cible="professional", id=DR_HOUSE.id)
    assert blocked.status_code == 303 and blocked.headers["location"].startswith("/acces?fait=bloque")  # type: ignore[attr-defined]
    assert "Le blocage est enregistré." in _text(client.get("/acces?fait=bloque"))
    with platform.uow() as uow, pytest.raises(Forbidden, match="opposé"):
        access.enforce_on_record(uow=uow, actor=DR_HOUSE, patient_id=patient_id)
    _post(client, "/acces/debloquer", id=DR_HOUSE.id)
    with platform.uow() as uow:
        assert record.get_document(uow=uow, actor=DR_HOUSE, entry_id=document_id).id == document_id
    bad = _post(client, "/acces/bloquer", cible="voisin", id="x")
    assert bad.status_code == 422 and "on bloque un professionnel ou un établissement" in _text(bad)
    assert _post(client, "/acces/bloquer", cible="professional", id=DR_HOUSE.id, csrf="x").status_code == 403  # type: ignore[attr-defined]


@pytest.mark.usefixtures("with_directory")
def test_emergency_access_is_refused_then_accepted_again(
    client: TestClient, tokens: Tokens, platform: Platform
) -> None:
    patient_id, _ = _dominique_with_a_summary(platform)
    _signed_in(client, tokens.for_patient(DOMINIQUE_INS))
    assert "Refuser l'accès en urgence" in _text(client.get("/acces"))
    _post(client, "/acces/urgence", refuser="oui")
    assert "Vous avez refusé l'accès à votre dossier en urgence." in _text(client.get("/acces"))
    with platform.uow() as uow:
        urgent = access.context(uow, mode=Mode.EMERGENCY, justification="patient inconscient aux urgences")
        with pytest.raises(Forbidden, match="refusé l.accès à son dossier en urgence"):
            access.enforce_on_record(uow=uow, actor=NURSE_JOY, patient_id=patient_id, ctx=urgent)
    _post(client, "/acces/urgence", refuser="non")
    assert "Refuser l'accès en urgence" in _text(client.get("/acces"))
    assert _post(client, "/acces/urgence", refuser="peut-etre").status_code == 422  # type: ignore[attr-defined]


@pytest.mark.usefixtures("with_directory")
def test_a_grant_with_categories_and_end_date_then_revoked(
    client: TestClient, tokens: Tokens, platform: Platform
) -> None:
    patient_id, _ = _dominique_with_a_summary(platform)
    _signed_in(client, tokens.for_patient(DOMINIQUE_INS))
    form = client.get("/acces/autorisation?pro=899700000002")
    assert form.status_code == 200 and "Dr Sophie LEROY" in _text(form)
    end = (dt.date.today() + dt.timedelta(days=30)).isoformat()
    bad = client.post(
        "/acces/autorisation", data={"csrf": CSRF, "pro": "899700000002", "lecture": "oui", "fin": "demain"}
    )
    assert bad.status_code == 422 and "date de fin illisible" in _text(bad)
    done = client.post("/acces/autorisation", data={"csrf": CSRF, "pro": "899700000002", "lecture": "oui",
                                                    "classes": "11", "fin": end}, follow_redirects=False)  # fmt: skip
    assert done.status_code == 303, _text(done)
    page = _text(client.get("/acces"))
    assert "Dr Sophie LEROY" in page and "Lecture" in page
    with platform.uow() as uow:
        grants = [s for s in access.list_settings(uow=uow, actor=PLATFORM, patient_id=patient_id) if s.kind == "grant"]
    assert len(grants) == 1 and grants[0].row.can_read and not grants[0].row.can_write
    assert set(grants[0].row.class_codes) == {"11"} and grants[0].row.valid_until is not None
    revoked = _post(client, f"/acces/autorisations/{grants[0].row.id}/retirer")
    assert revoked.status_code == 303  # type: ignore[attr-defined]
    assert "Aucune autorisation en cours." in _text(client.get("/acces"))
    assert client.get("/acces/autorisation?pro=000").status_code == 404


@pytest.mark.usefixtures("with_directory")
def test_the_medecin_traitant_is_declared_and_cleared(client: TestClient, tokens: Tokens, platform: Platform) -> None:
    _dominique_with_a_summary(platform)
    _signed_in(client, tokens.for_patient(DOMINIQUE_INS))
    assert "Aucun médecin traitant n'est déclaré." in _text(client.get("/acces"))
    _post(client, "/acces/traitant", pro="899700000001")
    page = _text(client.get("/acces"))
    assert "Votre médecin traitant est enregistré." not in page  # the confirmation only follows the change
    assert "Dr Paul MARTIN" in page.split("Mon équipe de soins")[0]
    _post(client, "/acces/traitant", pro="")
    assert "Aucun médecin traitant n'est déclaré." in _text(client.get("/acces"))
    assert _post(client, "/acces/traitant", pro="inconnu").status_code == 422  # type: ignore[attr-defined]


# --- the representative's spaces ----------------------------------------------------------------------------------


def test_a_representative_switches_to_the_childs_space(client: TestClient, tokens: Tokens, platform: Platform) -> None:
    dominique, _ = _dominique_with_a_summary(platform)
    elodie = qualified_patient(platform, make_person(birth_name="VINCENT", birth_first_names="ELODIE INES",
                                                     birth_date="2015-10-25", birth_place="44109"))  # fmt: skip
    in_care_team(platform, elodie, DR_HOUSE)
    with platform.uow() as uow:
        elodie_ins = uow.patients.get(elodie).ins_matricule  # type: ignore[union-attr]
        access.add_representative(uow=uow, actor=PLATFORM, patient_id=elodie, representative_id=dominique,
                                  role="parent")  # fmt: skip
        uow.commit()
    _signed_in(client, tokens.for_patient(DOMINIQUE_INS, represents=(elodie_ins or "",)))
    own = _text(client.get("/documents"))
    assert "Vous êtes dans votre espace santé." in own and "Synthèse Médicale" in own
    assert "Espace de Elodie VINCENT" in own
    switched = client.post("/espace", data={"csrf": CSRF, "espace": elodie, "retour": "/documents"},
                           follow_redirects=False)  # fmt: skip
    assert switched.status_code == 303 and switched.headers["location"] == "/documents"
    child = _text(client.get("/documents"))
    assert "Vous agissez dans l'espace santé de Elodie VINCENT" in child and "Synthèse Médicale" not in child
    stranger = qualified_patient(platform, make_person(birth_name="NESSI", birth_first_names="RUTH ISABELLE",
                                                       birth_date="1977-07-14", birth_place="63220"))  # fmt: skip
    refused = client.post("/espace", data={"csrf": CSRF, "espace": stranger}, follow_redirects=False)
    assert refused.status_code == 403 and "n'est pas l'un de ceux que vous gérez" in _text(refused)
    assert "Vous agissez dans l'espace santé de Elodie VINCENT" in _text(client.get("/"))


def test_the_language_link_keeps_the_pages_query(client: TestClient, tokens: Tokens, platform: Platform) -> None:
    _dominique_with_a_summary(platform)
    _signed_in(client, tokens.for_patient(DOMINIQUE_INS))
    french = client.get("/documents?q=synthese&par=pro")
    assert 'href="/documents?q=synthese&amp;par=pro&amp;lang=en"' in french.text
    english = client.get("/documents?q=synthese&lang=en")
    assert 'href="/documents?q=synthese&amp;lang=fr"' in english.text


def test_the_pdf_of_a_level1_document_is_shown_in_the_holders_viewer(
    client: TestClient, tokens: Tokens, platform: Platform
) -> None:
    from tests.web.test_pro_pages import _operative_report

    patient_id = qualified_patient(platform)
    in_care_team(platform, patient_id, DR_HOUSE)
    document_id = _operative_report(platform, patient_id)
    _signed_in(client, tokens.for_patient(DOMINIQUE_INS))
    viewer = client.get(f"/documents/{document_id}")
    assert f'<iframe class="cda-pdf" src="/documents/{document_id}/pdf"' in viewer.text
    shown = client.get(f"/documents/{document_id}/pdf")
    assert shown.status_code == 200 and shown.content.startswith(b"%PDF")
    assert shown.headers["content-type"] == "application/pdf" and shown.headers["content-disposition"].startswith(
        "inline"
    )
    assert "frame-ancestors 'self'" in shown.headers["content-security-policy"]
    with platform.uow() as uow:
        summary = record.deposit(uow=uow, actor=PLATFORM, patient_id=patient_id, content=example(VSM)).entry.id
        uow.commit()
    assert client.get(f"/documents/{summary}/pdf").status_code == 404  # a structured document carries no PDF


def test_the_space_hub_links_only_to_pages_this_platform_serves(
    client: TestClient, tokens: Tokens, platform: Platform
) -> None:
    from carnet.web.space_hub import ENTRIES

    _dominique_with_a_summary(platform)
    _signed_in(client, tokens.for_patient(DOMINIQUE_INS))
    hub = client.get("/mon-espace")
    assert hub.status_code == 200 and "Mon espace santé" in _text(hub)
    for path, _title, _text_key in ENTRIES:
        linked = f'<a href="{path}">' in hub.text
        served = client.get(path, follow_redirects=False).status_code != 404
        assert linked == served, path
    assert '<a href="/applications">' in hub.text  # the catalogue is served
    assert 'href="/mon-espace" aria-current="page"' in hub.text


def test_switching_space_returns_to_the_same_kind_of_page() -> None:
    from carnet.web.patient_space import _back_in_other_space

    assert _back_in_other_space("/espace/mesures") == "/espace/mesures"
    assert _back_in_other_space("/messages/abc") == "/messages"
    assert _back_in_other_space("/documents/abc?fait=masque") == "/documents"
    assert _back_in_other_space("/historique?mode=urgence") == "/historique"  # the filters are the other space's
    assert _back_in_other_space("/pro/patients") == "/"

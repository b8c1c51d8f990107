"""« Mon export » without a browser, on both backends: the page explains and offers the button; the POST with the
CSRF token downloads the chosen space's archive (the document byte for byte); a forged form is refused; a
representative of an adult is told why they cannot export; the archive files do not stay on the server."""

from __future__ import annotations

import html
import io
import json
import zipfile

from fastapi.testclient import TestClient

from carnet.access import service as access
from carnet.bootstrap import Platform
from tests.api.conftest import Tokens
from tests.builders import PLATFORM, example, make_person, qualified_patient
from tests.web.test_pages import DOMINIQUE_INS, VSM, _dominique_with_a_summary, _signed_in

CSRF = "jeton-csrf"


def _text(answer: object) -> str:
    return html.unescape(answer.text)  # type: ignore[attr-defined]


def test_the_holder_downloads_the_archive_of_her_space(client: TestClient, tokens: Tokens, platform: Platform) -> None:
    patient_id, entry_id = _dominique_with_a_summary(platform)
    _signed_in(client, tokens.for_patient(DOMINIQUE_INS))
    shown = client.get("/mon-export")
    assert shown.status_code == 200
    text = _text(shown)
    assert "Exporter mes données" in text and "index.html" in text and "SHA-256" in text
    assert '<form method="post" action="/mon-export"' in shown.text and f'value="{CSRF}"' in shown.text
    assert "Export my data" in _text(client.get("/mon-export?lang=en"))
    answer = client.post("/mon-export", data={"csrf": CSRF}, follow_redirects=False)
    assert answer.status_code == 200, _text(answer)
    assert answer.headers["content-type"] == "application/zip"
    assert answer.headers["content-disposition"] == 'attachment; filename="mon-espace-sante-2026-11-22.zip"'
    assert answer.headers["cache-control"] == "no-store"
    with zipfile.ZipFile(io.BytesIO(answer.content)) as archive:
        (document,) = [n for n in archive.namelist() if n.startswith("documents/")]
        assert entry_id in document and archive.read(document) == example(VSM)
        bundle = json.loads(archive.read("dossier-fhir.json"))
    assert bundle["entry"][0]["resource"]["id"] == patient_id
    assert list((platform.settings.data_dir / "exports").iterdir()) == []  # sent, then deleted
    with platform.uow() as uow:
        assert "space.export" in {row.action for row in uow.audit.for_patient(patient_id)}


def test_a_forged_form_is_refused(client: TestClient, tokens: Tokens, platform: Platform) -> None:
    patient_id, _ = _dominique_with_a_summary(platform)
    _signed_in(client, tokens.for_patient(DOMINIQUE_INS))
    refused = client.post("/mon-export", data={"csrf": "autre"}, follow_redirects=False)
    assert refused.status_code == 403 and refused.headers["content-type"].startswith("text/html")
    with platform.uow() as uow:
        assert "space.export" not in {row.action for row in uow.audit.for_patient(patient_id)}


def test_signing_in_is_needed(client: TestClient) -> None:
    answer = client.get("/mon-export", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/connexion?next=%2Fmon-export"


def test_a_representative_of_an_adult_is_told_why(client: TestClient, tokens: Tokens, platform: Platform) -> None:
    adult, _ = _dominique_with_a_summary(platform)  # Dominique is of age
    guardian = qualified_patient(platform, make_person(birth_name="VINCENT", birth_first_names="ELODIE INES",
                                                       birth_date="2015-10-25", birth_place="44109"))  # fmt: skip
    with platform.uow() as uow:
        guardian_ins = uow.patients.get(guardian).ins_matricule  # type: ignore[union-attr]
        access.add_representative(uow=uow, actor=PLATFORM, patient_id=adult, representative_id=guardian,
                                  role="parent")  # fmt: skip
        uow.commit()
    assert guardian_ins
    _signed_in(client, tokens.for_patient(guardian_ins, represents=(DOMINIQUE_INS,)))
    switched = client.post("/espace", data={"csrf": CSRF, "espace": adult, "retour": "/documents"},
                           follow_redirects=False)  # fmt: skip
    assert switched.status_code == 303
    shown = _text(client.get("/mon-export"))
    assert "Vous ne pouvez pas exporter cet espace santé." in shown and "majorité" in shown
    assert 'action="/mon-export"' not in shown
    refused = client.post("/mon-export", data={"csrf": CSRF}, follow_redirects=False)
    assert refused.status_code == 403 and "majorité" in _text(refused)
    assert list((platform.settings.data_dir / "exports").iterdir()) == []

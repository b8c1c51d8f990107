"""Reading documents (DocumentReference read, ITI-68 Binary), the holder's and author's changes, and who sees what."""

from __future__ import annotations

import base64
from dataclasses import replace
from typing import Any

import pytest
from fastapi.testclient import TestClient
from fhir.resources.R4B.binary import Binary
from fhir.resources.R4B.documentreference import DocumentReference

from carnet.access import service as access
from carnet.bootstrap import Platform
from tests.api.conftest import Tokens
from tests.api.documents_support import (
    CR_BIO_PDF,
    DOMINIQUE_INS,
    DR_CAMPARINI,
    DR_MEDIONI,
    VSM,
    bundle,
    created_ids,
    deposit_examples,
    dominique_with_doctors,
    outcome,
    submit,
)
from tests.builders import DR_HOUSE, NURSE_JOY, example, in_care_team, patient_as

URL = "/fhir/DocumentReference"
JSON_PATCH = {"Content-Type": "application/json-patch+json"}
MASQUE_PS = {"system": "https://mos.esante.gouv.fr/NOS/TRE_A07-StatusVisibiliteDocument/FHIR/TRE-A07-StatusVisibiliteDocument",
             "code": "MASQUE_PS"}  # fmt: skip
OPERATIVE_REPORT = (
    example(CR_BIO_PDF)
    .replace(b'code="11502-2"', b'code="34874-8"', 1)
    .replace(b"1.3.6.1.4.1.19376.1.2.20.12345.1.1", b"1.3.6.1.4.1.19376.1.2.20.12345.9.1", 1)
)


@pytest.fixture
def dominique_id(platform: Platform) -> str:
    patient_id = dominique_with_doctors(platform)
    in_care_team(platform, patient_id, NURSE_JOY)
    return patient_id


@pytest.fixture
def vsm_id(client: TestClient, tokens: Tokens, dominique_id: str) -> str:
    return deposit_examples(client, tokens, dominique_id, VSM)[VSM]


def holder(tokens: Tokens) -> dict[str, str]:
    return tokens.headers(tokens.for_patient(DOMINIQUE_INS[0]))


def visible_to(client: TestClient, headers: dict[str, str], patient_id: str) -> list[str]:
    response = client.get(URL, params={"patient": patient_id}, headers=headers)
    assert response.status_code == 200, response.text
    return [e["resource"]["id"] for e in response.json().get("entry", [])]


# --- reading ---------------------------------------------------------------------------------------------------


def test_binary_gives_the_original_bytes_json_or_safe_html(client: TestClient, tokens: Tokens, vsm_id: str) -> None:
    headers = tokens.headers(tokens.for_actor(DR_HOUSE))
    raw = client.get(f"/fhir/Binary/{vsm_id}", headers=headers)
    assert raw.status_code == 200 and raw.content == example(VSM)
    assert raw.headers["content-type"].startswith("text/xml")
    assert raw.headers["x-content-type-options"] == "nosniff"
    as_json = client.get(f"/fhir/Binary/{vsm_id}", headers={**headers, "Accept": "application/fhir+json"})
    resource = Binary.model_validate(as_json.json())
    assert base64.b64decode(as_json.json()["data"]) == example(VSM) and resource.contentType == "text/xml"
    html = client.get(f"/fhir/Binary/{vsm_id}", headers={**headers, "Accept": "text/html"})
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    assert "Synthèse" in html.text and "<script" not in html.text.lower()
    assert "default-src 'none'" in html.headers["content-security-policy"]


def test_read_gives_a_valid_pdsm_document_reference(client: TestClient, tokens: Tokens, vsm_id: str) -> None:
    response = client.get(f"{URL}/{vsm_id}", headers=tokens.headers(tokens.for_actor(DR_HOUSE)))
    body = response.json()
    DocumentReference.model_validate(body)
    assert body["meta"]["profile"] == [
        "https://interop.esante.gouv.fr/ig/fhir/pdsm/StructureDefinition/pdsm-comprehensive-document-reference"
    ]
    assert body["identifier"] == [{"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{vsm_id}"}]
    assert body["category"][0]["coding"][0] == {
        "system": "https://mos.esante.gouv.fr/NOS/TRE_A03-ClasseDocument/FHIR/TRE-A03-ClasseDocument",
        "code": "11",
        "display": "Synthèse",
    }
    author = {c["id"]: c for c in body["contained"]}
    assert author["author"]["identifier"] == [{"system": "urn:oid:1.2.250.1.71.4.2.1", "value": "801234567897"}]
    assert author["author-role"]["code"][0]["coding"][0]["code"] == "10"
    assert body["context"]["facilityType"]["coding"][0]["code"] == "SA04"
    assert body["securityLabel"] == [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality",
                                                  "code": "N", "display": "Normal"}]}]  # fmt: skip
    assert client.get(f"{URL}/no-such-id", headers=tokens.headers(tokens.for_actor(DR_HOUSE))).status_code == 404


def test_anonymous_callers_get_401(client: TestClient, vsm_id: str, dominique_id: str) -> None:
    for path in (f"{URL}?patient={dominique_id}", f"{URL}/{vsm_id}", f"/fhir/Binary/{vsm_id}"):
        outcome(client.get(path), 401)
    outcome(client.delete(f"{URL}/{vsm_id}"), 401)


# --- who sees what ---------------------------------------------------------------------------------------------


def test_a_nurse_cannot_see_an_operative_report(client: TestClient, tokens: Tokens, dominique_id: str,
                                                 vsm_id: str) -> None:  # fmt: skip
    (report,) = created_ids(submit(client, tokens.for_actor(DR_CAMPARINI), bundle(OPERATIVE_REPORT, dominique_id)))
    nurse = tokens.headers(tokens.for_actor(NURSE_JOY))
    doctor = tokens.headers(tokens.for_actor(DR_HOUSE))
    assert set(visible_to(client, doctor, dominique_id)) == {report, vsm_id}
    assert visible_to(client, nurse, dominique_id) == [vsm_id]
    assert client.get(f"{URL}/{report}", headers=nurse).status_code in (403, 404)
    assert client.get(f"/fhir/Binary/{report}", headers=nurse).status_code in (403, 404)


def test_the_holder_sees_their_own_documents_not_others(client: TestClient, tokens: Tokens, dominique_id: str,
                                                        vsm_id: str, platform: Platform) -> None:  # fmt: skip
    assert visible_to(client, holder(tokens), dominique_id) == [vsm_id]
    assert client.get(f"/fhir/Binary/{vsm_id}", headers=holder(tokens)).content == example(VSM)
    stranger = tokens.headers(tokens.for_patient("277076322082910", oid="1.2.250.1.213.1.4.8"))
    assert client.get(URL, params={"patient": dominique_id}, headers=stranger).status_code == 403
    assert client.get(f"{URL}/{vsm_id}", headers=stranger).status_code == 403


def test_outside_the_care_team_only_in_emergency(
    client: TestClient, tokens: Tokens, dominique_id: str, vsm_id: str
) -> None:
    er_doctor = tokens.headers(tokens.for_actor(replace(DR_HOUSE, id="810000000999", name="URGENCES Paul")))
    outcome(client.get(URL, params={"patient": dominique_id}, headers=er_doctor), 403)
    emergency = {**er_doctor, "X-Carnet-Access-Mode": "emergency", "X-Carnet-Justification": "patient%20inconscient"}
    assert visible_to(client, emergency, dominique_id) == [vsm_id]
    assert client.get(f"{URL}/{vsm_id}", headers=emergency).status_code == 200
    bad_mode = {**er_doctor, "X-Carnet-Access-Mode": "panic"}
    assert outcome(client.get(URL, params={"patient": dominique_id}, headers=bad_mode), 400)[0]["expression"] == [
        "X-Carnet-Access-Mode"
    ]


def grant_app(platform: Platform, patient_id: str, client_id: str) -> None:
    with platform.uow() as uow:
        access.add_grant(uow=uow, actor=patient_as(patient_id), patient_id=patient_id, grantee_kind="app",
                         grantee_id=client_id, can_read=True, can_write=False)  # fmt: skip
        uow.commit()


def test_an_app_is_bounded_by_its_scopes_and_its_patient(client: TestClient, tokens: Tokens, platform: Platform,
                                                          dominique_id: str, vsm_id: str) -> None:  # fmt: skip
    grant_app(platform, dominique_id, "carnet-vaccins")
    reader = tokens.headers(tokens.for_app("carnet-vaccins", ["patient/DocumentReference.rs"],
                                           patient_ins=DOMINIQUE_INS[0]))  # fmt: skip
    assert visible_to(client, reader, dominique_id) == [vsm_id]
    assert client.get(f"{URL}/{vsm_id}", headers=reader).status_code == 200
    assert "Binary" in outcome(client.get(f"/fhir/Binary/{vsm_id}", headers=reader), 403)[0]["diagnostics"]
    read_only = tokens.headers(tokens.for_app("carnet-vaccins", ["patient/DocumentReference.r"],
                                              patient_ins=DOMINIQUE_INS[0]))  # fmt: skip
    outcome(client.get(URL, params={"patient": dominique_id}, headers=read_only), 403)
    outcome(client.delete(f"{URL}/{vsm_id}", headers=reader), 403)
    elsewhere = tokens.headers(tokens.for_app("carnet-vaccins", ["patient/DocumentReference.rs"],
                                              patient_ins="277076322082910"))  # fmt: skip
    outcome(client.get(URL, params={"patient": dominique_id}, headers=elsewhere), 403)
    outcome(client.get(f"{URL}/{vsm_id}", headers=elsewhere), 403)
    ungranted = tokens.headers(tokens.for_app("other-app", ["patient/DocumentReference.rs"],
                                              patient_ins=DOMINIQUE_INS[0]))  # fmt: skip
    outcome(client.get(URL, params={"patient": dominique_id}, headers=ungranted), 403)


# --- the holder's and the author's changes ---------------------------------------------------------------------


def patch(client: TestClient, headers: dict[str, str], doc_id: str, operations: Any) -> Any:
    return client.patch(
        f"{URL}/{doc_id}", content=__import__("json").dumps(operations), headers={**headers, **JSON_PATCH}
    )


def test_hiding_from_professionals_then_showing_again(client: TestClient, tokens: Tokens, dominique_id: str,
                                                       vsm_id: str) -> None:  # fmt: skip
    doctor = tokens.headers(tokens.for_actor(DR_HOUSE))
    hidden = patch(
        client, holder(tokens), vsm_id, [{"op": "add", "path": "/securityLabel/-", "value": {"coding": [MASQUE_PS]}}]
    )
    assert hidden.status_code == 200, hidden.text
    assert [c["coding"][0]["code"] for c in hidden.json()["securityLabel"]] == ["N", "MASQUE_PS"]
    assert visible_to(client, doctor, dominique_id) == []
    assert client.get(f"{URL}/{vsm_id}", headers=doctor).status_code == 404  # no trace of a hidden document
    assert visible_to(client, tokens.headers(tokens.for_actor(DR_MEDIONI)), dominique_id) == [vsm_id]  # its author
    assert visible_to(client, holder(tokens), dominique_id) == [vsm_id]
    search = client.get(URL, params={"patient": dominique_id, "security-label": "MASQUE_PS"}, headers=holder(tokens))
    assert [e["resource"]["id"] for e in search.json()["entry"]] == [vsm_id]
    # fhirpy-style merge patch: the labels as they should be.
    shown = client.patch(f"{URL}/{vsm_id}", json={"securityLabel": hidden.json()["securityLabel"][:1]},
                         headers=holder(tokens))  # fmt: skip
    assert shown.status_code == 200, shown.text
    assert visible_to(client, doctor, dominique_id) == [vsm_id]


def test_only_the_holder_hides_and_only_labels_change(client: TestClient, tokens: Tokens, vsm_id: str) -> None:
    add = [{"op": "add", "path": "/securityLabel/-", "value": {"coding": [MASQUE_PS]}}]
    outcome(patch(client, tokens.headers(tokens.for_actor(DR_HOUSE)), vsm_id, add), 403)
    issue = outcome(
        patch(client, holder(tokens), vsm_id, [{"op": "replace", "path": "/status", "value": "current"}]), 422
    )
    assert issue[0]["expression"] == ["body[0].path"]
    stricter = [{"op": "replace", "path": "/securityLabel/0/coding/0/code", "value": "V"}]
    assert outcome(patch(client, holder(tokens), vsm_id, stricter), 422)[0]["expression"] == ["securityLabel"]
    wrong_type = client.patch(f"{URL}/{vsm_id}", content=b"x", headers={**holder(tokens), "Content-Type": "text/plain"})
    assert outcome(wrong_type, 415)[0]["expression"] == ["Content-Type"]


def test_the_author_holds_back_then_releases_to_the_patient(client: TestClient, tokens: Tokens, dominique_id: str,
                                                             vsm_id: str) -> None:  # fmt: skip
    author = tokens.headers(tokens.for_actor(DR_MEDIONI))
    invisible = {"coding": [{**MASQUE_PS, "code": "INVISIBLE_PATIENT"}]}
    held = patch(client, author, vsm_id, [{"op": "add", "path": "/securityLabel/-", "value": invisible}])
    assert held.status_code == 200, held.text
    assert visible_to(client, holder(tokens), dominique_id) == []
    released = patch(client, author, vsm_id, [{"op": "remove", "path": "/securityLabel/1"}])
    assert released.status_code == 200, released.text
    assert visible_to(client, holder(tokens), dominique_id) == [vsm_id]


def test_delete_is_logical(client: TestClient, tokens: Tokens, dominique_id: str, vsm_id: str) -> None:
    assert client.delete(f"{URL}/{vsm_id}", headers=tokens.headers(tokens.for_actor(DR_HOUSE))).status_code == 403
    assert client.delete(f"{URL}/{vsm_id}", headers=holder(tokens)).status_code == 204
    assert visible_to(client, holder(tokens), dominique_id) == []
    gone = client.get(URL, params={"patient": dominique_id, "status": "entered-in-error"}, headers=holder(tokens))
    assert [e["resource"]["status"] for e in gone.json()["entry"]] == ["entered-in-error"]


def test_a_parent_reads_and_publishes_for_their_child(client: TestClient, tokens: Tokens, platform: Platform,
                                                      dominique_id: str, vsm_id: str) -> None:  # fmt: skip
    from tests.api.test_documents_submit import patient_pdf
    from tests.builders import PLATFORM, make_person, qualified_patient

    elodie = qualified_patient(platform, make_person(birth_name="VINCENT", birth_first_names="ELODIE INES",
                                                     birth_date="2015-10-25", birth_place="44109"))  # fmt: skip
    with platform.uow() as uow:
        access.add_representative(uow=uow, actor=PLATFORM, patient_id=elodie, representative_id=dominique_id,
                                  role="parent")  # fmt: skip
        child_ins = uow.patients.get(elodie).ins_matricule  # type: ignore[union-attr]
        uow.commit()
    parent = tokens.headers(tokens.for_patient(DOMINIQUE_INS[0], represents=(str(child_ins),)))
    published = client.post(URL, json=patient_pdf(elodie, uid="urn:oid:2.25.777"), headers=parent)
    assert published.status_code == 201, published.text
    child_doc = published.json()["id"]
    assert visible_to(client, parent, elodie) == [child_doc]
    assert client.get(f"{URL}/{child_doc}", headers=parent).status_code == 200  # as representative
    assert client.get(f"{URL}/{vsm_id}", headers=parent).status_code == 200  # as holder of her own record
    assert client.get(f"/fhir/Binary/{child_doc}", headers=parent).headers["content-type"] == "application/pdf"
    # Held back from her, her own document does not exist for her, whichever role the server tries.
    invisible = {"coding": [{**MASQUE_PS, "code": "INVISIBLE_PATIENT"}]}
    held = [{"op": "add", "path": "/securityLabel/-", "value": invisible}]
    assert patch(client, tokens.headers(tokens.for_actor(DR_MEDIONI)), vsm_id, held).status_code == 200
    assert client.get(f"{URL}/{vsm_id}", headers=parent).status_code == 404
    # Her reads of her child's document were made as the child's representative only: the child's access
    # history shows no refused access by her (as if she had tried the child's record as her own).
    with platform.uow() as uow:
        refused = [row for row in uow.audit.chain(elodie) if row.actor_id == dominique_id and row.outcome != "success"]
    assert refused == []

"""ITI-65 Provide Document Bundle and ITI-105 simplified publish, on both backends, through the real token path."""

from __future__ import annotations

import base64
import hashlib

import pytest
from fastapi.testclient import TestClient
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.documentreference import DocumentReference
from sqlalchemy import func, select

from carnet.bootstrap import Platform
from carnet.record.store import DocumentRow
from tests.api.conftest import Tokens
from tests.api.documents_support import (
    CR_BIO,
    DOMINIQUE_INS,
    DR_CAMPARINI,
    DR_MEDIONI,
    INS_SYSTEM,
    LDL_SES,
    VSM,
    b64,
    bundle,
    created_ids,
    dominique_with_doctors,
    expressions,
    outcome,
    pdsm_example,
    submit,
    two_document_bundle,
    with_ins,
)
from tests.builders import DR_HOUSE, example, minimal_pdf


@pytest.fixture
def dominique_id(platform: Platform) -> str:
    return dominique_with_doctors(platform)


def stored(platform: Platform) -> int:
    with platform.uow() as uow:
        return int(uow.session.scalar(select(func.count()).select_from(DocumentRow)) or 0)


def test_a_cda_bundle_is_deposited_and_answered_with_a_transaction_response(
    client: TestClient, tokens: Tokens, platform: Platform, dominique_id: str
) -> None:
    response = submit(client, tokens.for_actor(DR_MEDIONI), bundle(example(VSM), dominique_id))
    assert response.status_code == 200, response.text
    answer = Bundle.model_validate(response.json())
    assert answer.type == "transaction-response"
    statuses = [e.response.status for e in answer.entry]
    assert statuses == ["200 OK", "201 Created", "201 Created"]
    (doc_id,) = created_ids(response)
    assert answer.entry[2].response.location == f"Binary/{doc_id}"

    read = client.get(f"/fhir/DocumentReference/{doc_id}", headers=tokens.headers(tokens.for_actor(DR_MEDIONI)))
    assert read.status_code == 200, read.text
    resource = read.json()
    DocumentReference.model_validate(resource)
    assert resource["masterIdentifier"] == {
        "system": "urn:ietf:rfc:3986",
        "value": "urn:oid:1.2.250.1.213.1.1.1.13.2022.1.1",
    }
    assert resource["type"]["coding"][0]["code"] == "SYNTH"
    assert resource["subject"]["identifier"] == {"system": INS_SYSTEM, "value": DOMINIQUE_INS[0]}
    sha1 = base64.b64encode(hashlib.sha1(example(VSM)).digest()).decode()
    assert resource["content"][0]["attachment"]["hash"] == sha1
    with platform.uow() as uow:
        row = uow.session.scalars(select(DocumentRow)).one()
        assert row.sha1 == hashlib.sha1(example(VSM)).hexdigest()
        assert row.submission_source == "urn:oid:1.2.250.1.213.1.1.9.1"  # the SubmissionSet's ihe-sourceId


def test_a_failing_second_document_leaves_nothing_of_the_first(
    client: TestClient, tokens: Tokens, platform: Platform, dominique_id: str
) -> None:
    wrong_patient = example(LDL_SES).replace(b'extension="279035121518989"', b'extension="277076322082910"', 1)
    response = submit(
        client, tokens.for_actor(DR_MEDIONI), two_document_bundle(example(VSM), wrong_patient, dominique_id)
    )
    issues = outcome(response, 422)
    assert any("277076322082910" in i["diagnostics"] for i in issues)
    assert "Bundle.entry[4].resource.data" in expressions(response, 422)  # the Binary of the second document
    assert stored(platform) == 0
    # The same bundle with a correct second document goes through whole.
    response = submit(
        client, tokens.for_actor(DR_MEDIONI), two_document_bundle(example(VSM), example(LDL_SES), dominique_id)
    )
    assert len(created_ids(response)) == 2 and stored(platform) == 2


def test_resending_the_same_bundle_is_idempotent(client: TestClient, tokens: Tokens, platform: Platform,
                                                 dominique_id: str) -> None:  # fmt: skip
    token = tokens.for_actor(DR_MEDIONI)
    first = submit(client, token, bundle(example(VSM), dominique_id))
    again = submit(client, token, bundle(example(VSM), dominique_id))
    assert created_ids(first) == created_ids(again)
    assert again.json()["entry"][1]["response"]["status"] == "200 OK"
    assert stored(platform) == 1


def test_a_replacement_supersedes_the_old_version(client: TestClient, tokens: Tokens, dominique_id: str) -> None:
    token = tokens.for_actor(DR_MEDIONI)
    (old_id,) = created_ids(submit(client, token, bundle(example(VSM), dominique_id)))
    version2 = example(VSM).replace(b"1.2.250.1.213.1.1.1.13.2022.1.1", b"1.2.250.1.213.1.1.1.13.2022.1.2", 1)
    relation = {"code": "replaces", "target": {"reference": f"DocumentReference/{old_id}"}}
    replacing = bundle(version2, dominique_id, relatesTo=[relation])
    (new_id,) = created_ids(submit(client, token, replacing))
    headers = tokens.headers(token)
    old = client.get(f"/fhir/DocumentReference/{old_id}", headers=headers).json()
    new = client.get(f"/fhir/DocumentReference/{new_id}", headers=headers).json()
    assert old["status"] == "superseded"
    assert new["relatesTo"] == [{"code": "replaces", "target": {"reference": f"DocumentReference/{old_id}"}}]


def test_metadata_that_contradicts_the_cda_header_is_refused_with_the_element(
    client: TestClient, tokens: Tokens, platform: Platform, dominique_id: str
) -> None:
    claimed = {"type": {"coding": [{"system": "http://loinc.org", "code": "11488-4"}]}}
    response = submit(client, tokens.for_actor(DR_MEDIONI), bundle(example(VSM), dominique_id, **claimed))
    issues = outcome(response, 422)
    assert issues[0]["expression"] == ["Bundle.entry[1].resource.type"]
    assert "SYNTH" in issues[0]["diagnostics"] and "11488-4" in issues[0]["diagnostics"]
    assert stored(platform) == 0


def test_a_document_about_another_patient_is_refused_with_the_location(
    client: TestClient, tokens: Tokens, dominique_id: str
) -> None:
    other = example(VSM).replace(b'extension="279035121518989"', b'extension="277076322082910"', 1)
    response = submit(client, tokens.for_actor(DR_MEDIONI), bundle(other, dominique_id))
    issue = outcome(response, 422)[0]
    assert issue["expression"] == ["Bundle.entry[2].resource.data"]
    assert "/ClinicalDocument/recordTarget/patientRole/id" in issue["diagnostics"]


def test_a_subject_for_an_unknown_ins_is_refused_on_the_subject(client: TestClient, tokens: Tokens,
                                                                dominique_id: str) -> None:  # fmt: skip
    body = bundle(example(VSM), dominique_id)
    body["entry"][1]["resource"]["subject"] = {"reference": f"Patient?identifier={INS_SYSTEM}|277076322082910"}
    assert expressions(submit(client, tokens.for_actor(DR_MEDIONI), body), 422) == ["Bundle.entry[1].resource.subject"]


def test_the_patient_can_be_named_by_ins_identifier(client: TestClient, tokens: Tokens, dominique_id: str) -> None:
    body = bundle(example(VSM), dominique_id, subject={"identifier": {"system": INS_SYSTEM, "value": DOMINIQUE_INS[0]}})
    body["entry"][0]["resource"]["subject"] = {"reference": f"Patient?identifier={INS_SYSTEM}|{DOMINIQUE_INS[0]}"}
    assert len(created_ids(submit(client, tokens.for_actor(DR_MEDIONI), body))) == 1


def test_bad_bundles_get_400_naming_the_element(client: TestClient, tokens: Tokens, dominique_id: str) -> None:
    token = tokens.for_actor(DR_MEDIONI)
    document = pdsm_example("Bundle-example-annexe-fhir-document.json")
    assert expressions(submit(client, token, document), 400) == ["Bundle.type"]
    missing = bundle(example(VSM), dominique_id)
    missing["entry"][1]["resource"]["content"][0]["attachment"]["url"] = "urn:uuid:nowhere"
    assert "Bundle.entry[1].resource.content[0].attachment.url" in expressions(submit(client, token, missing), 400)
    garbled = bundle(example(VSM), dominique_id)
    garbled["entry"][2]["resource"]["data"] = "not base64 !"
    assert expressions(submit(client, token, garbled), 400)[0].startswith("Bundle.entry[2].resource.data")
    wrong_hash = bundle(example(VSM), dominique_id)
    wrong_hash["entry"][1]["resource"]["content"][0]["attachment"]["hash"] = b64(b"x" * 20)
    assert expressions(submit(client, token, wrong_hash), 422) == [
        "Bundle.entry[1].resource.content[0].attachment.hash"
    ]
    not_json = client.post(
        "/fhir", content=b"{", headers=tokens.headers(token, **{"Content-Type": "application/fhir+json"})
    )
    assert not_json.status_code == 400 and not_json.json()["resourceType"] == "OperationOutcome"


def test_someone_else_cannot_deposit_an_authors_document(client: TestClient, tokens: Tokens, dominique_id: str) -> None:
    response = submit(client, tokens.for_actor(DR_CAMPARINI), bundle(example(VSM), dominique_id))
    assert "propres documents" in outcome(response, 403)[0]["diagnostics"]


def test_no_token_is_401(client: TestClient, dominique_id: str) -> None:
    outcome(client.post("/fhir", json=bundle(example(VSM), dominique_id)), 401)


# --- the PDSm example bundles ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["Bundle-example-td2-iti65-lot-soumission.json", "Bundle-example-td2-1-remplacement.json"]
)
def test_the_pdsm_examples_are_refused_for_their_invalid_ins_key(client: TestClient, tokens: Tokens, name: str) -> None:
    response = submit(client, tokens.for_actor(DR_MEDIONI), pdsm_example(name))
    issue = outcome(response, 422)[0]
    assert issue["expression"] == ["Bundle.entry[0].resource.subject"]
    # Its 4th-5th digits (month of birth) are already impossible, before its key (11 expected, 45 given).
    assert "123456789012345" in issue["diagnostics"] and "Mois de naissance incorrect" in issue["diagnostics"]


def test_the_pdsm_example_for_a_known_patient_is_refused_as_a_fragment(client: TestClient, tokens: Tokens,
                                                                         dominique_id: str) -> None:  # fmt: skip
    """With its patient created (our example patient's INS put in), the example's CDA is an empty ClinicalDocument:
    refused for what it lacks, located in its Binary; its metadata codes outside the NOS value sets are named too."""
    body = with_ins(pdsm_example("Bundle-example-td2-iti65-lot-soumission.json"), *DOMINIQUE_INS)
    response = submit(client, tokens.for_actor(DR_MEDIONI), body)
    issues = outcome(response, 422)
    assert {e for i in issues for e in i["expression"]} >= {
        "Bundle.entry[2].resource.data",  # the CDA: no id, code, effectiveTime, recordTarget, author…
        "Bundle.entry[1].resource.category[0]",  # 11488-4 is a compte rendu (10), not a synthèse (11)
    }
    assert any("ClinicalDocument" in i["diagnostics"] or "absent" in i["diagnostics"] for i in issues)


# --- ITI-105 ---------------------------------------------------------------------------------------------------


CONFIDENTIALITY = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"


def patient_pdf(patient_id: str, uid: str = "urn:oid:2.25.4242", **extra: object) -> dict[str, object]:
    pdf = minimal_pdf("Resultats de la prise de sang")
    resource: dict[str, object] = {
        "resourceType": "DocumentReference",
        "masterIdentifier": {"system": "urn:ietf:rfc:3986", "value": uid},
        "status": "current",
        "type": {"coding": [{"system": "https://mos.esante.gouv.fr/NOS/TRE_A05-TypeDocComplementaire/FHIR/TRE-A05-TypeDocComplementaire",
                             "code": "DOCPAT05"}]},
        "subject": {"reference": f"Patient/{patient_id}"},
        "author": [{"reference": f"Patient/{patient_id}"}],
        "securityLabel": [{"coding": [{"system": CONFIDENTIALITY, "code": "N"}]}],
        "content": [{"attachment": {"contentType": "application/pdf", "data": b64(pdf), "title": "Prise de sang (scan)",
                                    "creation": "2026-11-20T08:00:00+01:00"},
                     "format": {"system": "urn:oid:1.3.6.1.4.1.19376.1.2.3", "code": "urn:ihe:iti:xds-sd:pdf:2008"}}],
    }  # fmt: skip
    resource.update(extra)
    return resource


def test_iti105_the_holder_publishes_a_pdf(client: TestClient, tokens: Tokens, dominique_id: str) -> None:
    headers = tokens.headers(tokens.for_patient(DOMINIQUE_INS[0]))
    response = client.post("/fhir/DocumentReference", json=patient_pdf(dominique_id), headers=headers)
    assert response.status_code == 201, response.text
    created = response.json()
    DocumentReference.model_validate(created)
    assert response.headers["location"].endswith(f"/fhir/DocumentReference/{created['id']}")
    assert created["type"]["coding"][0]["display"] == "CR de biologie déposé par le patient"
    assert created["author"] == [{"reference": f"Patient/{dominique_id}"}]
    again = client.post("/fhir/DocumentReference", json=patient_pdf(dominique_id), headers=headers)
    assert again.status_code == 200 and again.json()["id"] == created["id"]
    binary = client.get(f"/fhir/Binary/{created['id']}", headers=headers)
    assert binary.headers["content-type"] == "application/pdf"
    assert binary.content == minimal_pdf("Resultats de la prise de sang")


def test_iti105_a_professional_publishes_a_cda_inline(client: TestClient, tokens: Tokens, dominique_id: str) -> None:
    resource = bundle(example(CR_BIO), dominique_id)["entry"][1]["resource"]
    resource["content"][0]["attachment"] = {"contentType": "text/xml", "data": b64(example(CR_BIO))}
    response = client.post(
        "/fhir/DocumentReference", json=resource, headers=tokens.headers(tokens.for_actor(DR_CAMPARINI))
    )
    assert response.status_code == 201, response.text
    assert response.json()["content"][0]["format"]["code"] == "urn:ihe:lab:xd-lab:2008"


def test_iti105_errors_name_the_element(client: TestClient, tokens: Tokens, dominique_id: str) -> None:
    headers = tokens.headers(tokens.for_patient(DOMINIQUE_INS[0]))
    by_url = patient_pdf(dominique_id)
    by_url["content"] = [{"attachment": {"contentType": "application/pdf", "url": "https://elsewhere.example/x.pdf"}}]  # type: ignore[index]
    assert expressions(client.post("/fhir/DocumentReference", json=by_url, headers=headers), 400) == [
        "DocumentReference.content[0].attachment.data"
    ]
    no_type = patient_pdf(dominique_id)
    del no_type["type"]
    assert "DocumentReference.type" in expressions(
        client.post("/fhir/DocumentReference", json=no_type, headers=headers), 422
    )
    hidden = patient_pdf(dominique_id, securityLabel=[{"coding": [{"code": "MASQUE_PS"}]}])
    assert expressions(client.post("/fhir/DocumentReference", json=hidden, headers=headers), 422) == [
        "DocumentReference.securityLabel[0]"
    ]
    superseded = patient_pdf(dominique_id, status="superseded")
    assert expressions(client.post("/fhir/DocumentReference", json=superseded, headers=headers), 400) == [
        "DocumentReference.status"
    ]


def test_the_submission_set_lists_exactly_the_bundles_documents(client: TestClient, tokens: Tokens,
                                                                 dominique_id: str) -> None:  # fmt: skip
    token = tokens.for_actor(DR_MEDIONI)
    unlisted = two_document_bundle(example(VSM), example(LDL_SES), dominique_id)
    del unlisted["entry"][0]["resource"]["entry"][1]
    assert expressions(submit(client, token, unlisted), 400) == ["Bundle.entry[3].fullUrl"]
    stray = bundle(example(VSM), dominique_id)
    stray["entry"][0]["resource"]["entry"].append({"item": {"reference": "urn:uuid:elsewhere"}})
    assert expressions(submit(client, token, stray), 400) == ["Bundle.entry[0].resource.entry[1].item"]


def test_an_author_other_than_the_headers_is_refused_on_the_author(client: TestClient, tokens: Tokens,
                                                                    dominique_id: str) -> None:  # fmt: skip
    practitioner = {"resourceType": "Practitioner", "id": "who",
                    "identifier": [{"system": "urn:oid:1.2.250.1.71.4.2.1", "value": "810000000001"}]}  # fmt: skip
    body = bundle(example(VSM), dominique_id, contained=[practitioner], author=[{"reference": "#who"}])
    issues = outcome(submit(client, tokens.for_actor(DR_HOUSE), body), 422)  # Dr House claims Dr Medioni's letter
    assert ["Bundle.entry[1].resource.author[0]"] in [i["expression"] for i in issues]


def test_the_pdsm_iti105_example_is_refused_for_its_ins_then_as_a_fragment(client: TestClient, tokens: Tokens,
                                                                             dominique_id: str) -> None:  # fmt: skip
    example_105 = pdsm_example("DocumentReference-example-td2-iti105-publication-simplifiee.json")
    headers = tokens.headers(tokens.for_actor(DR_MEDIONI))
    issue = outcome(client.post("/fhir/DocumentReference", json=example_105, headers=headers), 422)[0]
    assert issue["expression"] == ["DocumentReference.subject"] and "123456789012345" in issue["diagnostics"]
    ours = with_ins(example_105, *DOMINIQUE_INS)
    response = client.post("/fhir/DocumentReference", json=ours, headers=headers)
    assert "DocumentReference.content[0].attachment.data" in expressions(response, 422)


def test_a_stored_document_reference_is_not_a_submission(client: TestClient, tokens: Tokens, dominique_id: str) -> None:
    """The PDSm4DMP example of a replaced entry (status superseded, content by URL) cannot be published."""
    stored_entry = with_ins(pdsm_example("DocumentReference-doc-x-id.json"), *DOMINIQUE_INS)
    response = client.post("/fhir/DocumentReference", json=stored_entry,
                           headers=tokens.headers(tokens.for_actor(DR_MEDIONI)))  # fmt: skip
    assert expressions(response, 400) == ["DocumentReference.content[0].attachment.data"]


def test_a_category_other_than_the_types_class_is_refused(client: TestClient, tokens: Tokens,
                                                          dominique_id: str) -> None:  # fmt: skip
    """An operative report filed as a synthesis would escape the rule that keeps it from nurses."""
    category = [{"coding": [{"system": "urn:oid:1.2.250.1.213.1.1.4.1", "code": "10"}]}]
    response = submit(client, tokens.for_actor(DR_MEDIONI), bundle(example(VSM), dominique_id, category=category))
    issue = outcome(response, 422)[0]
    assert issue["expression"] == ["Bundle.entry[1].resource.category[0]"] and "11 attendue" in issue["diagnostics"]


def supersede(target: str) -> dict[str, object]:
    """The PATCH entry of the PDSm replacement example (FHIRPath Patch: status → superseded)."""
    operation = {"name": "operation", "part": [{"name": "type", "valueCode": "replace"},
                                               {"name": "path", "valueString": "DocumentReference.status"},
                                               {"name": "value", "valueCode": "superseded"}]}  # fmt: skip
    return {"fullUrl": "urn:uuid:5a7c0c1e-0000-4000-8000-000000000004",
            "resource": {"resourceType": "Parameters", "parameter": [operation]},
            "request": {"method": "PATCH", "url": f"DocumentReference/{target}"}}  # fmt: skip


def test_a_replacement_bundle_may_carry_the_pdsm_supersede_patch(client: TestClient, tokens: Tokens,
                                                                  dominique_id: str) -> None:  # fmt: skip
    token = tokens.for_actor(DR_MEDIONI)
    (old_id,) = created_ids(submit(client, token, bundle(example(VSM), dominique_id)))
    (other_id,) = created_ids(submit(client, token, bundle(example(LDL_SES), dominique_id)))
    version2 = example(VSM).replace(b"1.2.250.1.213.1.1.1.13.2022.1.1", b"1.2.250.1.213.1.1.1.13.2022.1.2", 1)
    relation = [{"code": "replaces", "target": {"reference": f"DocumentReference/{old_id}"}}]
    wrong = bundle(version2, dominique_id, relatesTo=relation)
    wrong["entry"].append(supersede(other_id))  # a document this bundle does not replace
    assert expressions(submit(client, token, wrong), 422) == ["Bundle.entry[3].resource"]
    right = bundle(version2, dominique_id, relatesTo=relation)
    right["entry"].append(supersede(old_id))
    response = submit(client, token, right)
    assert response.json()["entry"][3]["response"] == {"status": "200 OK", "location": f"DocumentReference/{old_id}"}
    read = client.get(f"/fhir/DocumentReference/{old_id}", headers=tokens.headers(token)).json()
    assert read["status"] == "superseded"

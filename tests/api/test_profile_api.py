"""The health profile on the FHIR API, both backends: Observation (vital signs profile, LOINC, UCUM), Immunization,
AllergyIntolerance, QuestionnaireResponse and the Questionnaire; every resource returned validated with
fhir.resources; ranges and units refused with a 422 OperationOutcome naming the element; the access decision (care
team, matrix, apps' scopes and grants) behind every call."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from fhir.resources.R4B.allergyintolerance import AllergyIntolerance
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.immunization import Immunization
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.questionnaire import Questionnaire
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse

from carnet.access import service as access
from carnet.access.model import Actor, ActorKind, AuthMethod
from carnet.bootstrap import Platform
from tests.api.conftest import Tokens
from tests.builders import DR_HOUSE, NURSE_JOY, in_care_team, patient_as, qualified_patient

DOMINIQUE_INS = "279035121518989"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
CIS = "urn:oid:1.2.250.1.213.2.3.1"
SOCIAL_WORKER = Actor(kind=ActorKind.PROFESSIONAL, id="810000000041", auth_method=AuthMethod.CPS, profession="41",
                      name="Nina ASSISTANTE")  # fmt: skip
MODELS: dict[str, Any] = {"Observation": Observation, "Immunization": Immunization,
                          "AllergyIntolerance": AllergyIntolerance, "QuestionnaireResponse": QuestionnaireResponse,
                          "Questionnaire": Questionnaire, "Bundle": Bundle, "OperationOutcome": OperationOutcome,
                          "CapabilityStatement": CapabilityStatement}  # fmt: skip


def valid(body: dict[str, Any]) -> dict[str, Any]:
    """The resource, after fhir.resources (R4) validated it and every resource of a Bundle."""
    MODELS[body["resourceType"]].model_validate(body)
    for entry in body.get("entry", []):
        MODELS[entry["resource"]["resourceType"]].model_validate(entry["resource"])
    return body


@pytest.fixture
def dominique(platform: Platform) -> str:
    patient_id = qualified_patient(platform)
    in_care_team(platform, patient_id, DR_HOUSE, NURSE_JOY, SOCIAL_WORKER)
    return patient_id


def weight(
    patient_id: str, value: Any = 64.5, unit: str = "kg", when: str = "2026-11-22T08:15:00+01:00"
) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                  "code": "vital-signs"}]}],
        "code": {"coding": [{"system": LOINC, "code": "29463-7", "display": "Body weight"}]},
        "subject": {"reference": f"Patient/{patient_id}"},
        "effectiveDateTime": when,
        "valueQuantity": {"value": value, "unit": unit, "system": UCUM, "code": unit},
    }  # fmt: skip


def blood_pressure(patient_id: str, systolic: float, diastolic: float) -> dict[str, Any]:
    def component(code: str, value: float) -> dict[str, Any]:
        return {"code": {"coding": [{"system": LOINC, "code": code}]},
                "valueQuantity": {"value": value, "unit": "mmHg", "system": UCUM, "code": "mm[Hg]"}}  # fmt: skip

    return {"resourceType": "Observation", "status": "final",
            "code": {"coding": [{"system": LOINC, "code": "85354-9"}]},
            "subject": {"reference": f"Patient/{patient_id}"}, "effectiveDateTime": "2026-11-22T07:00:00Z",
            "component": [component("8480-6", systolic), component("8462-4", diastolic)]}  # fmt: skip


def holder(tokens: Tokens) -> dict[str, str]:
    return tokens.headers(tokens.for_patient(DOMINIQUE_INS))


def issues(answer: Any) -> list[tuple[str, list[str]]]:
    body = valid(answer.json())
    assert body["resourceType"] == "OperationOutcome"
    return [(i["details"]["text"], i.get("expression", [])) for i in body["issue"]]


def test_the_holder_records_a_weight_and_finds_it_by_code_and_date(
    client: TestClient, tokens: Tokens, dominique: str
) -> None:
    created = client.post("/fhir/Observation", json=weight(dominique), headers=holder(tokens))
    assert created.status_code == 201, created.text
    body = valid(created.json())
    assert body["meta"]["profile"] == ["http://hl7.org/fhir/StructureDefinition/vitalsigns",
                                       "http://hl7.org/fhir/StructureDefinition/bodyweight"]  # fmt: skip
    assert body["category"][0]["coding"][0]["code"] == "vital-signs"
    assert body["valueQuantity"] == {"value": 64.5, "unit": "kg", "system": UCUM, "code": "kg"}
    assert body["effectiveDateTime"] == "2026-11-22T07:15:00+00:00"
    assert body["performer"] == [{"reference": f"Patient/{dominique}"}]
    assert created.headers["location"].endswith(f"/fhir/Observation/{body['id']}")
    read = client.get(f"/fhir/Observation/{body['id']}", headers=tokens.headers(tokens.for_actor(DR_HOUSE)))
    assert read.status_code == 200 and valid(read.json())["id"] == body["id"]
    client.post("/fhir/Observation", json=blood_pressure(dominique, 128, 82), headers=holder(tokens))
    found = client.get(f"/fhir/Observation?patient=Patient/{dominique}&code={LOINC}|29463-7&date=ge2026-11-01",
                       headers=tokens.headers(tokens.for_actor(NURSE_JOY)))  # fmt: skip
    assert found.status_code == 200, found.text
    bundle = valid(found.json())
    assert bundle["total"] == 1 and bundle["entry"][0]["resource"]["id"] == body["id"]
    mine = valid(client.get("/fhir/Observation?code=8480-6", headers=holder(tokens)).json())
    assert mine["total"] == 1 and [c["code"]["coding"][0]["code"] for c in mine["entry"][0]["resource"]["component"]] \
        == ["8480-6", "8462-4"]  # fmt: skip
    none = valid(client.get("/fhir/Observation?date=lt2026-01-01", headers=holder(tokens)).json())
    assert none["total"] == 0


@pytest.mark.parametrize(
    ("change", "expression", "words"),
    [
        pytest.param(
            {"value": 900}, "Observation.valueQuantity.value", "hors des valeurs physiologiques", id="900 kg"
        ),  # fmt: skip
        pytest.param(
            {"value": 70, "unit": "[lb_av]"}, "Observation.valueQuantity.code", "unité « [lb_av] » refusée", id="pounds"
        ),  # fmt: skip
        pytest.param(
            {"value": 70, "when": "2026-12-24T10:00:00+01:00"},
            "Observation.effectiveDateTime",
            "dans le futur",
            id="in the future",
        ),  # fmt: skip
        pytest.param(
            {"value": 70, "when": "2026-11-22"},
            "Observation.effectiveDateTime",
            "fuseau horaire",
            id="a date without time",
        ),  # fmt: skip
    ],
)
def test_a_measure_out_of_range_or_in_a_wrong_unit_is_a_422_naming_the_element(
    client: TestClient, tokens: Tokens, dominique: str, change: dict[str, Any], expression: str, words: str
) -> None:
    answer = client.post("/fhir/Observation", json=weight(dominique, **change), headers=holder(tokens))
    assert answer.status_code == 422, answer.text
    found = issues(answer)
    assert found[0][1] == [expression] and words in found[0][0]
    assert valid(client.get("/fhir/Observation", headers=holder(tokens)).json())["total"] == 0


def test_a_blood_pressure_with_every_problem_has_one_issue_for_each(
    client: TestClient, tokens: Tokens, dominique: str
) -> None:
    body = blood_pressure(dominique, 80, 95)
    answer = client.post("/fhir/Observation", json=body, headers=holder(tokens))
    assert answer.status_code == 422
    assert issues(answer)[0][1] == ["Observation.component[0].valueQuantity.value"]
    body = blood_pressure(dominique, 350, 80)
    body["component"][1]["valueQuantity"]["code"] = "kPa"
    assert [e for _, e in issues(client.post("/fhir/Observation", json=body, headers=holder(tokens)))] == [
        ["Observation.component[0].valueQuantity.value"],
        ["Observation.component[1].valueQuantity.code"],
    ]


def test_a_malformed_observation_is_a_400_naming_the_element(
    client: TestClient, tokens: Tokens, dominique: str
) -> None:
    answer = client.post("/fhir/Observation", json=weight(dominique, value="beaucoup"), headers=holder(tokens))
    assert answer.status_code == 400
    assert issues(answer)[0][1][0].startswith("Observation.valueQuantity")
    unknown = weight(dominique)
    unknown["code"]["coding"][0]["code"] = "1234-5"
    answer = client.post("/fhir/Observation", json=unknown, headers=holder(tokens))
    assert answer.status_code == 422 and issues(answer)[0][1] == ["Observation.code.coding"]


def test_the_matrix_decides_what_a_professional_reads(client: TestClient, tokens: Tokens, dominique: str) -> None:
    client.post("/fhir/Observation", json=weight(dominique), headers=holder(tokens))
    refused = client.get(f"/fhir/Observation?patient={dominique}", headers=tokens.headers(
        tokens.for_actor(SOCIAL_WORKER)))  # fmt: skip
    assert refused.status_code == 403 and "constantes de santé" in issues(refused)[0][0]
    stranger = Actor(kind=ActorKind.PROFESSIONAL, id="810000000999", auth_method=AuthMethod.CPS, profession="10")
    answer = client.get(f"/fhir/Observation?patient={dominique}", headers=tokens.headers(tokens.for_actor(stranger)))
    assert answer.status_code == 403
    doctor_writes = client.post("/fhir/Observation", json=weight(dominique),
                                headers=tokens.headers(tokens.for_actor(DR_HOUSE)))  # fmt: skip
    assert doctor_writes.status_code == 403 and "titulaire" in issues(doctor_writes)[0][0]


def test_an_app_needs_its_scope_and_the_holders_write_grant(
    client: TestClient, tokens: Tokens, platform: Platform, dominique: str
) -> None:
    scoped = tokens.headers(tokens.for_app("app-tensio", ["patient/Observation.cruds"], patient_ins=DOMINIQUE_INS))
    unscoped = tokens.headers(tokens.for_app("app-tensio", ["patient/Immunization.rs"], patient_ins=DOMINIQUE_INS))
    assert (
        client.post("/fhir/Observation", json=blood_pressure(dominique, 121, 79), headers=unscoped).status_code == 403
    )
    no_grant = client.post("/fhir/Observation", json=blood_pressure(dominique, 121, 79), headers=scoped)
    assert no_grant.status_code == 403 and "autorisation" in issues(no_grant)[0][0]
    with platform.uow() as uow:
        access.add_grant(
            uow=uow,
            actor=patient_as(dominique),
            patient_id=dominique,
            grantee_kind="app",
            grantee_id="app-tensio",
            can_read=True,
            can_write=True,
            class_codes=frozenset({"vitals"}),
        )
        uow.commit()  # fmt: skip
    created = client.post("/fhir/Observation", json=blood_pressure(dominique, 121, 79), headers=scoped)
    assert created.status_code == 201, created.text
    body = valid(created.json())
    assert body["device"]["identifier"] == {"system": "https://carnet.example.org/fhir/sid/app", "value": "app-tensio"}
    assert valid(client.get("/fhir/Observation", headers=scoped).json())["total"] == 1


def test_vaccinations_are_immunizations_with_the_reference_vaccine_codes(
    client: TestClient, tokens: Tokens, dominique: str
) -> None:
    body = {
        "resourceType": "Immunization",
        "status": "completed",
        "patient": {"reference": f"Patient/{dominique}"},
        "vaccineCode": {"coding": [{"system": CIS, "code": "61920725"}]},
        "occurrenceDateTime": "2021-04-09",
        "primarySource": True,
        "lotNumber": "357904636",
        "protocolApplied": [{"doseNumberPositiveInt": 1}],
    }
    created = client.post("/fhir/Immunization", json=body, headers=tokens.headers(tokens.for_actor(NURSE_JOY)))
    assert created.status_code == 201, created.text
    resource = valid(created.json())
    assert [c["code"] for c in resource["vaccineCode"]["coding"]] == ["61920725", "J07AH"]
    assert (
        resource["primarySource"] is True and resource["performer"][0]["actor"]["identifier"]["value"] == NURSE_JOY.id
    )
    declared = {**body, "vaccineCode": {"text": "Grippe saisonnière"}, "occurrenceDateTime": "2025-10-15",
                "primarySource": False}  # fmt: skip
    declared.pop("protocolApplied")
    mine = client.post("/fhir/Immunization", json=declared, headers=holder(tokens))
    assert mine.status_code == 201 and valid(mine.json())["reportOrigin"]["coding"][0]["code"] == "recall"
    found = valid(client.get(f"/fhir/Immunization?vaccine-code={CIS}|61920725", headers=holder(tokens)).json())
    assert found["total"] == 1
    assert valid(client.get("/fhir/Immunization?date=ge2025", headers=holder(tokens)).json())["total"] == 1
    wrong = client.post("/fhir/Immunization", json={**body, "vaccineCode": {"coding": [{"system": CIS,
                                                                                          "code": "00000000"}]}},
                        headers=holder(tokens))  # fmt: skip
    assert wrong.status_code == 422 and issues(wrong)[0][1] == ["Immunization.vaccineCode.coding[0].code"]


def test_the_questionnaire_answered_through_the_api_gives_its_allergies(
    client: TestClient, tokens: Tokens, dominique: str
) -> None:
    definition = client.get("/fhir/Questionnaire/profil-medical", headers=holder(tokens))
    assert definition.status_code == 200 and valid(definition.json())["url"].endswith("/profil-medical")
    body = {"resourceType": "QuestionnaireResponse", "status": "completed",
            "questionnaire": "https://carnet.example.org/fhir/Questionnaire/profil-medical|1",
            "subject": {"reference": f"Patient/{dominique}"}, "authored": "2026-11-22T09:00:00Z",
            "item": [{"linkId": "traitements", "answer": [{"valueString": "Lévothyroxine 75 µg"}]},
                     {"linkId": "allergies", "answer": [{"valueString": "Pénicilline"}]},
                     {"linkId": "directives", "item": [
                         {"linkId": "directives.redigees", "answer": [{"valueBoolean": True}]},
                         {"linkId": "directives.lieu", "answer": [{"valueString": "Chez ma fille"}]}]}]}  # fmt: skip
    created = client.post("/fhir/QuestionnaireResponse", json=body, headers=holder(tokens))
    assert created.status_code == 201, created.text
    response = valid(created.json())
    assert response["item"][0]["answer"] == [{"valueString": "Lévothyroxine 75 µg"}]
    allergies = valid(client.get(f"/fhir/AllergyIntolerance?patient={dominique}&clinical-status=active",
                                 headers=tokens.headers(tokens.for_actor(DR_HOUSE))).json())  # fmt: skip
    assert [e["resource"]["code"]["text"] for e in allergies["entry"]] == ["Pénicilline"]
    assert allergies["entry"][0]["resource"]["verificationStatus"]["coding"][0]["code"] == "unconfirmed"
    read = client.get(f"/fhir/QuestionnaireResponse/{response['id']}", headers=tokens.headers(
        tokens.for_actor(NURSE_JOY)))  # fmt: skip
    assert read.status_code == 200 and valid(read.json())["status"] == "completed"
    unknown = {**body, "item": [{"linkId": "humeur", "answer": [{"valueString": "bonne"}]}]}
    answer = client.post("/fhir/QuestionnaireResponse", json=unknown, headers=holder(tokens))
    assert answer.status_code == 422 and issues(answer)[0][1] == ["QuestionnaireResponse.item[0].linkId"]
    by_pro = client.post("/fhir/QuestionnaireResponse", json=body, headers=tokens.headers(tokens.for_actor(DR_HOUSE)))
    assert by_pro.status_code == 403
    history = valid(client.get("/fhir/QuestionnaireResponse", headers=holder(tokens)).json())
    assert history["total"] == 1


def test_a_professional_records_an_allergy_confirmed(client: TestClient, tokens: Tokens, dominique: str) -> None:
    body = {"resourceType": "AllergyIntolerance", "patient": {"reference": f"Patient/{dominique}"},
            "code": {"text": "Latex"}, "category": ["environment"], "criticality": "high",
            "reaction": [{"manifestation": [{"text": "urticaire"}]}]}  # fmt: skip
    created = client.post("/fhir/AllergyIntolerance", json=body, headers=tokens.headers(tokens.for_actor(DR_HOUSE)))
    assert created.status_code == 201, created.text
    resource = valid(created.json())
    assert resource["verificationStatus"]["coding"][0]["code"] == "confirmed"
    assert resource["recorder"]["identifier"]["value"] == DR_HOUSE.id
    missing = client.post("/fhir/AllergyIntolerance", json={**body, "code": {"text": " "}}, headers=holder(tokens))
    assert missing.status_code == 422 and issues(missing)[0][1] == ["AllergyIntolerance.code.text"]


def test_the_capability_statement_lists_the_profile_resources(client: TestClient) -> None:
    statement = valid(client.get("/fhir/metadata").json())
    types = {r["type"]: r for r in statement["rest"][0]["resource"]}
    for name in ("Observation", "Immunization", "AllergyIntolerance", "QuestionnaireResponse", "Questionnaire"):
        assert name in types, name
    assert {"patient", "code", "date"} <= {s["name"] for s in types["Observation"]["searchParam"]}
    assert "http://hl7.org/fhir/StructureDefinition/bp" in types["Observation"]["supportedProfile"]

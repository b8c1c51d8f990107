"""The space's life through the API on both backends: ``$space``, ``$oppose``, ``$close``, ``$reopen`` on Patient,
answered as validated ``Parameters``; refusals as OperationOutcome; listed in the CapabilityStatement."""

from __future__ import annotations

from fastapi.testclient import TestClient
from fhir.resources.R4B.parameters import Parameters

from carnet.bootstrap import Platform
from carnet.space.lifecycle_admin import ContactIn
from tests.api.conftest import Tokens
from tests.builders import DR_HOUSE, in_care_team, qualified_patient
from tests.lifecycle_builders import DOMINIQUE_INS, DOMINIQUE_MAIL, campaign_of, trail

FHIR = "application/fhir+json"


def values(answer: object) -> dict[str, object]:
    body = answer.json()  # type: ignore[attr-defined]
    Parameters.model_validate(body)
    return {p["name"]: next(v for k, v in p.items() if k.startswith("value")) for p in body["parameter"]}


def test_the_holder_opposes_then_opens_closes_and_reopens_through_the_api(
    client: TestClient, tokens: Tokens, platform: Platform
) -> None:
    patient_id = qualified_patient(platform)
    holder = tokens.headers(tokens.for_patient(DOMINIQUE_INS))
    assert values(client.get(f"/fhir/Patient/{patient_id}/$space", headers=holder))["status"] == "open"

    from carnet.space import campaign

    campaign.run_campaign(platform=platform, campaign_id=campaign_of(
        platform, (DOMINIQUE_INS, ContactIn(email=DOMINIQUE_MAIL))))  # fmt: skip
    pending = values(client.get(f"/fhir/Patient/{patient_id}/$space", headers=holder))
    assert pending == {"status": "pending", "oppositionOpen": True, "opensOn": "2027-01-03"}
    opposed = client.post(f"/fhir/Patient/{patient_id}/$oppose", headers=holder)
    assert opposed.status_code == 200 and opposed.headers["content-type"].startswith(FHIR)
    assert values(opposed)["status"] == "opposed"
    again = client.post(f"/fhir/Patient/{patient_id}/$oppose", headers=holder,
                        json={"resourceType": "Parameters"})  # fmt: skip
    assert again.status_code == 409
    assert again.json()["resourceType"] == "OperationOutcome"
    assert "déjà enregistrée" in again.json()["issue"][0]["diagnostics"]

    assert values(client.post(f"/fhir/Patient/{patient_id}/$reopen", headers=holder))["status"] == "open"
    closed = values(client.post(f"/fhir/Patient/{patient_id}/$close", headers=holder))
    assert closed["status"] == "closed" and closed["keptUntil"] == "2036-11-22" and closed["purged"] is False
    assert values(client.post(f"/fhir/Patient/{patient_id}/$reopen", headers=holder))["status"] == "open"
    actions = [a for a, o, _ in trail(platform, patient_id) if o == "success"]
    for action in ("space.oppose", "space.reopen", "space.close", "space.admin_read"):
        assert action in actions


def test_others_are_refused_with_an_operation_outcome(client: TestClient, tokens: Tokens, platform: Platform) -> None:
    patient_id = qualified_patient(platform)
    in_care_team(platform, patient_id, DR_HOUSE)
    doctor = tokens.headers(tokens.for_actor(DR_HOUSE))
    refused = client.post(f"/fhir/Patient/{patient_id}/$close", headers=doctor)
    assert refused.status_code == 403 and refused.json()["resourceType"] == "OperationOutcome"
    app = tokens.headers(tokens.for_app("tensio", ["patient/*.read"], patient_ins=DOMINIQUE_INS))
    assert client.post(f"/fhir/Patient/{patient_id}/$close", headers=app).status_code == 403
    holder = tokens.headers(tokens.for_patient(DOMINIQUE_INS))
    bad = client.post(f"/fhir/Patient/{patient_id}/$close", headers=holder, content=b"{pas du json")
    assert bad.status_code == 400
    extra = client.post(
        f"/fhir/Patient/{patient_id}/$close",
        headers=holder,
        json={"resourceType": "Parameters", "parameter": [{"name": "x", "valueString": "y"}]},
    )
    assert extra.status_code == 400 and "aucun paramètre" in extra.json()["issue"][0]["diagnostics"]
    assert client.post(f"/fhir/Patient/{patient_id}/$close").status_code == 401
    assert ("space.close", "denied", DR_HOUSE.id) in trail(platform, patient_id)
    assert values(client.get(f"/fhir/Patient/{patient_id}/$space", headers=holder))["status"] == "open"


def test_the_operations_are_in_the_capability_statement(client: TestClient) -> None:
    statement = client.get("/fhir/metadata").json()
    (patient,) = [r for r in statement["rest"][0]["resource"] if r["type"] == "Patient"]
    names = {o["name"] for o in patient.get("operation", [])}
    assert {"space", "oppose", "close", "reopen"} <= names

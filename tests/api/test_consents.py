"""Consent create, read, search and revoke on both backends, with their real effect on access to the record."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from fastapi.testclient import TestClient
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.consent import Consent

from carnet.access.model import Actor, ActorKind, AuthMethod
from carnet.bootstrap import Platform
from carnet.errors import Forbidden
from carnet.record import service as record
from tests.api.conftest import Tokens
from tests.builders import DR_HOUSE, NURSE_JOY, PLATFORM, example, in_care_team, qualified_patient

DOMINIQUE_INS = "279035121518989"
CATEGORY = "https://carnet.example.org/fhir/CodeSystem/consent-category"
APP = "https://carnet.example.org/fhir/sid/app"
DR_LEROY = Actor(kind=ActorKind.PROFESSIONAL, id="899700000002", auth_method=AuthMethod.CPS, profession="10",
                 name="Sophie LEROY")  # fmt: skip


@pytest.fixture
def dominique(platform: Platform) -> str:
    patient_id = qualified_patient(platform)
    in_care_team(platform, patient_id, DR_HOUSE)
    return patient_id


@pytest.fixture
def synthesis(platform: Platform, dominique: str) -> str:
    """A medical synthesis in Dominique's record."""
    with platform.uow() as uow:
        result = record.deposit(uow=uow, actor=PLATFORM, patient_id=dominique, content=example("VSM_1.4_2022.01.xml"))
        uow.commit()
    return result.entry.id


def reads(platform: Platform, actor: Actor, entry_id: str) -> bool:
    """Whether ``actor`` may read the document now (through the record service, as the API does)."""
    with platform.uow() as uow:
        try:
            record.get_document(uow=uow, actor=actor, entry_id=entry_id)
        except Forbidden:
            return False
        uow.commit()
    return True


def consent(patient_id: str, category: str, **provision: Any) -> dict[str, Any]:
    return {
        "resourceType": "Consent",
        "status": provision.pop("status", "active"),
        "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope",
                              "code": "patient-privacy"}]},
        "category": [{"coding": [{"system": CATEGORY, "code": category}]}],
        "patient": {"reference": f"Patient/{patient_id}"},
        "policyRule": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "OPTIN"}]},
        "provision": provision,
    }  # fmt: skip


RECIPIENT = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": "IRCP"}]}


def actor_ref(reference: str) -> list[dict[str, Any]]:
    return [{"role": RECIPIENT, "reference": {"reference": reference}}]


def _check(response: Any, status: int) -> Any:
    assert response.status_code == status, response.text
    if status == 204:
        return None
    body = response.json()
    if body["resourceType"] == "Consent":
        Consent.model_validate(body)
    elif body["resourceType"] == "Bundle":
        Bundle.model_validate(body)
        for entry in body["entry"]:
            Consent.model_validate(entry["resource"])
    return body


def post(client: TestClient, token: str, body: dict[str, Any], status: int = 201) -> Any:
    response = client.post("/fhir/Consent", json=body, headers={"Authorization": f"Bearer {token}",
                                                                 "Content-Type": "application/fhir+json"})  # fmt: skip
    return _check(response, status)


def get(client: TestClient, token: str, url: str, status: int = 200) -> Any:
    return _check(client.get(url, headers={"Authorization": f"Bearer {token}"}), status)


def delete(client: TestClient, token: str, consent_id: str, status: int = 204) -> Any:
    return _check(client.delete(f"/fhir/Consent/{consent_id}", headers={"Authorization": f"Bearer {token}"}), status)


def test_explicit_consent_opens_the_record_to_the_professional_and_revoking_closes_it(
    client: TestClient, tokens: Tokens, platform: Platform, dominique: str, synthesis: str
) -> None:
    leroy = tokens.for_actor(DR_LEROY)
    assert not reads(platform, DR_LEROY, synthesis)
    end = (platform.clock.now() + dt.timedelta(hours=2)).isoformat()
    created = post(client, leroy, consent(dominique, "explicit", type="permit", period={"end": end},
                                          actor=actor_ref(f"Practitioner/{DR_LEROY.id}")))  # fmt: skip
    assert created["id"].startswith("consent-") and created["status"] == "active"
    assert created["provision"]["actor"][0]["reference"]["reference"] == f"Practitioner/{DR_LEROY.id}"
    assert created["provision"]["period"]["end"].startswith(end[:16])
    assert reads(platform, DR_LEROY, synthesis)
    assert get(client, leroy, f"/fhir/Consent/{created['id']}")["status"] == "active"
    delete(client, tokens.for_patient(DOMINIQUE_INS), created["id"])
    assert not reads(platform, DR_LEROY, synthesis)
    after = get(client, tokens.for_patient(DOMINIQUE_INS), f"/fhir/Consent/{created['id']}")
    assert after["status"] == "inactive"


def test_a_professional_joins_the_care_team_and_the_holder_refuses(
    client: TestClient, tokens: Tokens, platform: Platform, dominique: str, synthesis: str
) -> None:
    nurse = tokens.for_actor(NURSE_JOY)
    joined = post(client, nurse, consent(dominique, "care-team", type="permit",
                                         actor=actor_ref(f"Practitioner/{NURSE_JOY.id}")))  # fmt: skip
    assert joined["id"].startswith("careteam-") and joined["status"] == "active"
    holder = tokens.for_patient(DOMINIQUE_INS)
    team = get(client, holder, f"/fhir/Consent?patient=Patient/{dominique}&category=care-team")
    assert sorted(e["resource"]["provision"]["actor"][0]["reference"]["identifier"]["value"]
                  for e in team["entry"]) == sorted([DR_HOUSE.id, NURSE_JOY.id])  # fmt: skip
    delete(client, nurse, joined["id"], status=403)  # only the holder refuses a member
    delete(client, holder, joined["id"])
    assert get(client, holder, f"/fhir/Consent/{joined['id']}")["status"] == "rejected"
    # Someone else cannot be enrolled by a professional.
    body = consent(dominique, "care-team", type="permit", actor=actor_ref(f"Practitioner/{DR_LEROY.id}"))
    refused = post(client, nurse, body, status=422)
    assert refused["issue"][0]["expression"] == ["Consent.provision.actor[0].reference"]


def test_an_opposition_blocks_even_the_care_team_until_lifted(
    client: TestClient, tokens: Tokens, platform: Platform, dominique: str, synthesis: str
) -> None:
    holder = tokens.for_patient(DOMINIQUE_INS)
    assert reads(platform, DR_HOUSE, synthesis)
    blocked = post(client, holder, consent(dominique, "opposition", type="deny",
                                           actor=actor_ref(f"Practitioner/{DR_HOUSE.id}")))  # fmt: skip
    assert blocked["provision"]["type"] == "deny" and blocked["policyRule"]["coding"][0]["code"] == "OPTOUT"
    assert not reads(platform, DR_HOUSE, synthesis)
    lifted = client.put(f"/fhir/Consent/{blocked['id']}", json={**blocked, "status": "inactive"},
                        headers=tokens.headers(holder))  # fmt: skip
    assert _check(lifted, 200)["status"] == "inactive"
    assert reads(platform, DR_HOUSE, synthesis)
    # A professional cannot oppose anyone on the patient's behalf.
    body = consent(dominique, "opposition", type="deny", actor=actor_ref(f"Practitioner/{DR_HOUSE.id}"))
    post(client, tokens.for_actor(NURSE_JOY), body, status=403)


def test_emergency_refusal_grant_and_medecin_traitant(
    client: TestClient, tokens: Tokens, platform: Platform, dominique: str
) -> None:
    holder = tokens.for_patient(DOMINIQUE_INS)
    emergency = post(client, holder, consent(dominique, "emergency", type="deny",
                                             purpose=[{"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason",
                                                       "code": "ETREAT"}]))  # fmt: skip
    assert emergency["id"] == f"emergency-{dominique}"
    assert emergency["provision"]["purpose"][0]["code"] == "ETREAT"
    app = tokens.for_app("mon-suivi", ["patient/Patient.rs"], patient_ins=DOMINIQUE_INS)
    get(client, app, f"/fhir/Patient/{dominique}", status=403)
    until = (platform.clock.now() + dt.timedelta(days=30)).isoformat()
    grant = post(client, holder, consent(
        dominique, "grant", type="permit", period={"end": until},
        actor=[{"role": RECIPIENT, "reference": {"identifier": {"system": APP, "value": "mon-suivi"}}}],
        action=[{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentaction", "code": "access"}]}],
        **{"class": [{"system": "https://mos.esante.gouv.fr/NOS/TRE_A03-ClasseDocument/FHIR/TRE-A03-ClasseDocument",
                      "code": "11"}]}))  # fmt: skip
    assert grant["id"].startswith("grant-") and grant["provision"]["class"][0]["code"] == "11"
    get(client, app, f"/fhir/Patient/{dominique}")
    traitant = post(client, holder, consent(dominique, "medecin-traitant", type="permit",
                                            actor=actor_ref(f"Practitioner/{DR_HOUSE.id}")))  # fmt: skip
    assert traitant["id"] == f"traitant-{dominique}"
    everything = get(client, holder, "/fhir/Consent")
    assert {e["resource"]["id"] for e in everything["entry"]} >= {emergency["id"], grant["id"], traitant["id"]}
    by_actor = get(client, holder, f"/fhir/Consent?actor=Practitioner/{DR_HOUSE.id}&status=active")
    assert {e["resource"]["id"].split("-")[0] for e in by_actor["entry"]} == {"careteam", "traitant"}
    delete(client, holder, grant["id"])
    get(client, app, f"/fhir/Patient/{dominique}", status=403)
    delete(client, holder, emergency["id"])
    get(client, holder, f"/fhir/Consent/{emergency['id']}", status=404)
    assert get(client, holder, "/fhir/Consent?status=inactive")["entry"][0]["resource"]["id"] == grant["id"]


def test_who_sees_which_consents(client: TestClient, tokens: Tokens, platform: Platform, dominique: str) -> None:
    nurse = tokens.for_actor(NURSE_JOY)
    post(client, nurse, consent(dominique, "care-team", type="permit"))
    mine = get(client, nurse, f"/fhir/Consent?patient={dominique}")
    assert [e["resource"]["provision"]["actor"][0]["reference"]["identifier"]["value"] for e in mine["entry"]] == [
        NURSE_JOY.id
    ]
    assert get(client, nurse, "/fhir/Consent", status=400)["issue"][0]["expression"] == ["patient"]
    stranger = tokens.for_patient("277076322082910")
    get(client, stranger, f"/fhir/Consent?patient={dominique}", status=403)
    assert client.get(f"/fhir/Consent?patient={dominique}").status_code == 401
    app = tokens.for_app("mon-suivi", ["patient/Patient.rs"], patient_ins=DOMINIQUE_INS)
    get(client, app, f"/fhir/Consent?patient={dominique}", status=403)
    get(client, nurse, "/fhir/Consent/grant-00000000-0000-0000-0000-000000000000", status=404)


@pytest.mark.parametrize(
    ("body", "status", "expression"),
    [
        ("not json", 400, "Consent"),
        ({"resourceType": "Patient"}, 400, "Consent.resourceType"),
        ({**consent("P", "explicit"), "status": 12}, 400, "Consent.status"),
        ({**consent("P", "explicit"), "category": []}, 422, "Consent.category"),
        ({**consent("P", "explicit"), "status": "inactive"}, 422, "Consent.status"),
        (
            consent("P", "opposition", type="deny", actor=[{"reference": {"reference": "Practitioner/1"}}]),
            400,
            "Consent.provision.actor[0].role",
        ),
    ],
)
def test_malformed_consents_are_refused_with_the_element(
    client: TestClient, tokens: Tokens, body: Any, status: int, expression: str
) -> None:
    response = client.post("/fhir/Consent", content=body if isinstance(body, str) else None,
                           json=None if isinstance(body, str) else body,
                           headers=tokens.headers(tokens.for_patient(DOMINIQUE_INS)))  # fmt: skip
    assert response.status_code == status, response.text
    assert response.json()["issue"][0]["expression"] == [expression]


def test_rules_of_each_category_are_checked(
    client: TestClient, tokens: Tokens, platform: Platform, dominique: str
) -> None:
    leroy = tokens.for_actor(DR_LEROY)
    too_long = (platform.clock.now() + dt.timedelta(days=3)).isoformat()
    refused = post(client, leroy, consent(dominique, "explicit", type="permit", period={"end": too_long}), status=422)
    assert refused["issue"][0]["expression"] == ["Consent.provision.period.end"]
    holder = tokens.for_patient(DOMINIQUE_INS)
    wrong_type = post(client, holder, consent(dominique, "opposition", type="permit",
                                              actor=actor_ref("Practitioner/810000000060")), status=422)  # fmt: skip
    assert wrong_type["issue"][0]["expression"] == ["Consent.provision.type"]
    no_action = post(client, holder, consent(dominique, "grant", type="permit",
                                             actor=actor_ref("Organization/1519990010")), status=422)  # fmt: skip
    assert no_action["issue"][0]["expression"] == ["Consent.provision.action"]
    blocked = post(client, holder, consent(dominique, "opposition", type="deny",
                                           actor=actor_ref("Organization/1519990010")))  # fmt: skip
    response = client.put(f"/fhir/Consent/{blocked['id']}", json={**blocked, "status": "active"},
                          headers=tokens.headers(holder))  # fmt: skip
    assert response.status_code == 422 and response.json()["issue"][0]["expression"] == ["Consent.status"]
    elsewhere = {**blocked, "id": "opposition-x", "status": "inactive"}
    response = client.put(f"/fhir/Consent/{blocked['id']}", json=elsewhere, headers=tokens.headers(holder))
    assert response.status_code == 400 and response.json()["issue"][0]["expression"] == ["Consent.id"]

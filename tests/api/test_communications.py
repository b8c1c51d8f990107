"""FHIR Communication (secure messages) on both backends, with real tokens: send, read, search, reply, $read,
$close, attachments, the patient rule and OperationOutcome errors."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from fastapi.testclient import TestClient
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.communication import Communication

from carnet.bootstrap import Platform
from carnet.directory.demo import load_demo_directory
from carnet.messaging import service as mss
from tests.api.conftest import Tokens
from tests.builders import DR_HOUSE, NURSE_JOY, PLATFORM, qualified_patient

DOMINIQUE_INS = "279035121518989"
URI = "urn:ietf:rfc:3986"
PETIT = "julie.petit@demo.mssante.fr"
MOREAU = "claire.moreau@demo.mssante.fr"


@pytest.fixture
def dominique(platform: Platform) -> str:
    patient_id = qualified_patient(platform)
    config = mss.MessagingConfig()
    with platform.uow() as uow:
        load_demo_directory(uow)
        for pro in ("810000000001", "810000000060"):
            mss.provision_professional(uow=uow, actor=PLATFORM, config=config, professional_id=pro)
        mss.provision_patient(uow=uow, actor=PLATFORM, config=config, patient_id=patient_id)
        uow.commit()
    return patient_id


def message(recipients: list[dict[str, Any]], text: str = "Bonjour", **extra: Any) -> dict[str, Any]:
    """A Communication to send; ``topic=""`` leaves the subject line out (a reply)."""
    topic = extra.pop("topic", "Vos résultats")
    body: dict[str, Any] = {"resourceType": "Communication", "status": "completed", "recipient": recipients}
    if topic:
        body["topic"] = {"text": topic}
    body["payload"] = [{"contentString": text}, *extra.pop("more", [])]
    return {**body, **extra}


def mailto(address: str) -> dict[str, Any]:
    return {"identifier": {"system": URI, "value": f"mailto:{address}"}}


def test_a_professional_writes_to_a_patient_who_reads_replies_and_closes(
    client: TestClient, tokens: Tokens, dominique: str
) -> None:
    dr = Tokens.headers(tokens.for_actor(DR_HOUSE))
    holder = Tokens.headers(tokens.for_patient(DOMINIQUE_INS))
    pdf = base64.b64encode(b"%PDF-1.4 test").decode()
    attachment = {"contentAttachment": {"contentType": "application/pdf", "title": "ordonnance.pdf", "data": pdf}}
    created = client.post("/fhir/Communication", headers=dr,
                          json=message([{"reference": f"Patient/{dominique}"}], more=[attachment]))  # fmt: skip
    assert created.status_code == 201, created.text
    sent = Communication.model_validate(created.json())
    assert sent.subject is not None and sent.subject.reference == f"Patient/{dominique}"
    assert created.json()["recipient"][0]["identifier"]["value"] == f"mailto:{DOMINIQUE_INS}@patient.mssante.fr"
    assert created.headers["Location"].endswith(f"/Communication/{sent.id}")

    found = client.get("/fhir/Communication", headers=holder)
    assert found.status_code == 200, found.text
    bundle = Bundle.model_validate(found.json())
    assert bundle.total == 1 and found.json()["entry"][0]["resource"]["id"] == sent.id
    url = found.json()["entry"][0]["resource"]["payload"][1]["contentAttachment"]["url"]
    downloaded = client.get(url.split("testserver")[-1], headers=holder)
    assert downloaded.content == b"%PDF-1.4 test" and downloaded.headers["content-type"] == "application/pdf"

    read = client.post(f"/fhir/Communication/{sent.id}/$read", headers=holder)
    assert read.status_code == 200, read.text
    delivery = [e for e in read.json()["extension"] if e["url"].endswith("recipient-status")][0]
    assert {"url": "read", "valueDateTime": "2026-11-22T09:30:00+00:00"} in delivery["extension"]

    answer = client.post(
        "/fhir/Communication",
        headers=holder,
        json=message([], "Merci", topic="", inResponseTo=[{"reference": f"Communication/{sent.id}"}]),
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["partOf"] == [{"reference": f"Communication/{sent.id}"}]
    assert answer.json()["recipient"][0]["reference"] == "Practitioner/810000000001"

    thread = client.get(f"/fhir/Communication?part-of=Communication/{sent.id}", headers=dr)
    assert [e["resource"]["id"] for e in thread.json()["entry"]] == [answer.json()["id"]]

    closed = client.post(f"/fhir/Communication/{sent.id}/$close", headers=holder)
    assert closed.status_code == 200, closed.text
    assert {"url": "https://carnet.example.org/fhir/StructureDefinition/conversation-status",
            "valueCode": "closed"} in closed.json()["extension"]  # fmt: skip
    again = client.post(
        "/fhir/Communication",
        headers=holder,
        json=message([], "Encore", topic="", inResponseTo=[{"reference": f"Communication/{sent.id}"}]),
    )
    assert again.status_code == 403
    assert again.json()["issue"][0]["details"]["coding"][0]["code"] == "forbidden"


def test_a_patient_cannot_open_a_conversation(client: TestClient, tokens: Tokens, dominique: str) -> None:
    holder = Tokens.headers(tokens.for_patient(DOMINIQUE_INS))
    refused = client.post("/fhir/Communication", headers=holder, json=message([mailto(MOREAU)]))
    assert refused.status_code == 403
    assert "seul un professionnel" in refused.json()["issue"][0]["diagnostics"]


def test_professionals_message_each_other_and_others_see_nothing(
    client: TestClient, tokens: Tokens, dominique: str
) -> None:
    dr = Tokens.headers(tokens.for_actor(DR_HOUSE))
    nurse = Tokens.headers(tokens.for_actor(NURSE_JOY))
    created = client.post("/fhir/Communication", headers=dr, json=message([{"reference": "Practitioner/810000000060"}]))
    assert created.status_code == 201, created.text
    ident = created.json()["id"]
    assert client.get(f"/fhir/Communication/{ident}", headers=nurse).status_code == 200
    by_sender = client.get(f"/fhir/Communication?sender=mailto:{MOREAU}", headers=nurse)
    assert by_sender.json()["total"] == 1
    holder = Tokens.headers(tokens.for_patient(DOMINIQUE_INS))
    missing = client.get(f"/fhir/Communication/{ident}", headers=holder)
    assert missing.status_code == 404 and missing.json()["resourceType"] == "OperationOutcome"


@pytest.mark.parametrize(
    ("body", "status", "expression"),
    [
        ({"resourceType": "Patient"}, 400, "Communication.resourceType"),
        ({"resourceType": "Communication", "status": "bogus"}, 400, "Communication.status"),
        (message([mailto("pas une adresse")]), 400, "Communication.recipient[0].identifier.value"),
        (message([mailto("inconnu@demo.mssante.fr")]), 404, "to[0]"),
        (message([mailto(PETIT)], topic=""), 422, "subject"),
        (
            {
                "resourceType": "Communication",
                "status": "completed",
                "recipient": [mailto(PETIT)],
                "topic": {"text": "x"},
            },
            422,
            "Communication.payload",
        ),  # fmt: skip
    ],
)
def test_bad_input_is_an_operation_outcome_naming_the_element(
    client: TestClient, tokens: Tokens, dominique: str, body: dict[str, Any], status: int, expression: str
) -> None:
    answer = client.post("/fhir/Communication", headers=Tokens.headers(tokens.for_actor(DR_HOUSE)), json=body)
    assert answer.status_code == status, answer.text
    assert answer.json()["resourceType"] == "OperationOutcome"
    assert answer.json()["issue"][0]["expression"] == [expression]


def test_the_capability_statement_lists_communication(client: TestClient) -> None:
    statement = client.get("/fhir/metadata").json()
    types = {r["type"]: r for r in statement["rest"][0]["resource"]}
    assert {o["name"] for o in types["Communication"]["operation"]} == {"read", "close"}


def test_search_parameters_are_checked(client: TestClient, tokens: Tokens, dominique: str) -> None:
    dr = Tokens.headers(tokens.for_actor(DR_HOUSE))
    assert client.get("/fhir/Communication?status=sideways", headers=dr).status_code == 400
    assert client.get("/fhir/Communication?received=yesterday", headers=dr).status_code == 400
    assert client.get("/fhir/Communication?colour=blue", headers=dr).status_code == 400
    assert client.get("/fhir/Communication?received=ge2026-11-01", headers=dr).json()["total"] == 0

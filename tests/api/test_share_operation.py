"""``POST /fhir/DocumentReference/$share`` on both backends, with real tokens: a document deposited and sent as its
obligations say, a repeat, a document already in the record, the announcement consultation, and each error as an
OperationOutcome whose expression names the parameter at fault; the operation in the CapabilityStatement."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from fastapi.testclient import TestClient
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.parameters import Parameters

from carnet.access.model import Actor, ActorKind, AuthMethod
from carnet.bootstrap import Platform
from carnet.identity import service as identities
from carnet.record import service as record
from tests.api.conftest import Tokens
from tests.builders import DR_HOUSE, FRONT_DESK, make_person
from tests.unit.sharing.share_support import LEROY, LEROY_ID, MARTIN, PETIT, PETIT_ID, World, make_world

DOMINIQUE_INS = "279035121518989"
ID_NAT_PS = "urn:oid:1.2.250.1.71.4.2.1"
NURSE = Actor(kind=ActorKind.PROFESSIONAL, id=PETIT_ID, auth_method=AuthMethod.CPS, profession="60", name="PETIT Julie")


@pytest.fixture
def world(platform: Platform) -> World:
    return make_world(platform)


def document_reference(content: bytes, patient_id: str, **extra: Any) -> dict[str, Any]:
    return {"resourceType": "DocumentReference", "status": "current", "subject": {"reference": f"Patient/{patient_id}"},
            "content": [{"attachment": {"contentType": "text/xml", "data": base64.b64encode(content).decode()}}],
            **extra}  # fmt: skip


def parameters(*items: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Parameters", "parameter": list(items)}


def doc(world: World, content: bytes | None = None, patient_id: str | None = None) -> dict[str, Any]:
    resource = document_reference(content or world.document(), patient_id or world.patient_id)
    return {"name": "document", "resource": resource}


def _parts(answer: dict[str, Any], name: str) -> list[dict[str, Any]]:
    out = []
    for item in answer["parameter"]:
        if item["name"] == name:
            values: dict[str, Any] = {}
            for part in item["part"]:
                value = next(v for k, v in part.items() if k.startswith("value"))
                values.setdefault(part["name"], []).append(value)
            out.append({k: v[0] if len(v) == 1 else v for k, v in values.items()})
    return out


def _value(answer: dict[str, Any], name: str) -> Any:
    item = next(i for i in answer["parameter"] if i["name"] == name)
    return next(v for k, v in item.items() if k.startswith("value"))


def _issue(response: Any) -> tuple[str, list[str]]:
    body = response.json()
    assert body["resourceType"] == "OperationOutcome", body
    first = body["issue"][0]
    return first["diagnostics"], first.get("expression", [])


def _share(client: TestClient, tokens: Tokens, body: dict[str, Any], actor: Any = DR_HOUSE) -> Any:
    return client.post("/fhir/DocumentReference/$share", json=body, headers=Tokens.headers(tokens.for_actor(actor)))


def test_a_document_is_deposited_and_shared_and_the_answer_says_what_was_done(
    client: TestClient, tokens: Tokens, world: World
) -> None:
    body = parameters(doc(world), {"name": "prescriber", "valueReference": {"reference": f"Practitioner/{LEROY_ID}"}},
                      {"name": "recipient", "valueIdentifier": {"system": ID_NAT_PS, "value": PETIT_ID}})  # fmt: skip
    response = _share(client, tokens, body)
    assert response.status_code == 201, response.text
    answer = response.json()
    Parameters.model_validate(answer)
    entry_id = _value(answer, "document")["reference"].removeprefix("DocumentReference/")
    assert response.headers["location"].endswith(f"/fhir/DocumentReference/{entry_id}")
    assert (_value(answer, "created"), _value(answer, "repeated")) == (True, False)
    assert _value(answer, "type")["code"] == "11502-2"
    duties = {d["code"]: d for d in _parts(answer, "duty")}
    assert {code: (d["due"], d["rule"], d["status"]) for code, d in duties.items()} == {
        "dmp": (True, "cr-biologie", "done"),
        "mss_professionals": (True, "cr-biologie", "done"),
        "mss_patient": (True, "cr-biologie", "done"),
    }
    sent = {s["recipient"]: s for s in _parts(answer, "sent")}
    assert {a: s["role"] for a, s in sent.items()} == {MARTIN: "medecin_traitant", LEROY: "prescriber",
                                                        PETIT: "chosen", world.patient_address: "patient"}  # fmt: skip
    assert all(s["communication"]["reference"].startswith("Communication/") for s in sent.values())
    # The professional reads the message the operation sent, through the API.
    message_id = sent[PETIT]["communication"]["reference"]
    nurse = Tokens.headers(tokens.for_actor(NURSE))
    assert client.get(f"/fhir/{message_id}", headers=nurse).status_code == 200

    again = _share(client, tokens, body)
    assert again.status_code == 200
    assert (_value(again.json(), "created"), _value(again.json(), "repeated")) == (False, True)


def test_a_document_already_in_the_record_is_shared_by_reference(
    client: TestClient, tokens: Tokens, world: World
) -> None:
    with world.platform.uow() as uow:
        entry = record.deposit(uow=uow, actor=DR_HOUSE, patient_id=world.patient_id, content=world.document()).entry
        uow.commit()
    body = parameters({"name": "document", "valueReference": {"reference": f"DocumentReference/{entry.id}"}},
                      {"name": "announcementConsultation", "valueBoolean": True})  # fmt: skip
    response = _share(client, tokens, body)
    assert response.status_code == 200, response.text
    duties = {d["code"]: d for d in _parts(response.json(), "duty")}
    assert duties["mss_patient"]["status"] == "held_back"
    assert duties["dmp"]["note"] == "déjà dans le dossier"
    (held,) = [s for s in _parts(response.json(), "sent") if s["role"] == "patient"]
    assert held["status"] == "held" and "communication" not in held


def test_the_invisible_patient_label_of_the_document_reference_holds_it_back(
    client: TestClient, tokens: Tokens, world: World
) -> None:
    resource = document_reference(world.document(), world.patient_id, securityLabel=[
        {"coding": [{"system": "urn:oid:1.2.250.1.213.1.1.4.13", "code": "INVISIBLE_PATIENT"}]}])  # fmt: skip
    response = _share(client, tokens, parameters({"name": "document", "resource": resource}))
    assert response.status_code == 201, response.text
    assert {d["code"]: d["status"] for d in _parts(response.json(), "duty")}["mss_patient"] == "held_back"


@pytest.mark.parametrize(
    ("extra", "status", "expression", "message"),
    [
        (
            {"name": "recipient", "valueString": "dr.inconnu@ailleurs.mssante.fr"},
            404,
            "Parameters.parameter[1]",
            "n'est pas dans l'annuaire",
        ),
        (
            {"name": "prescriber", "valueReference": {"reference": "Practitioner/899799999999"}},
            404,
            "Parameters.parameter[1]",
            "aucun professionnel",
        ),
        (
            {"name": "prescriber", "valueReference": {"reference": "Organization/1"}},
            400,
            "Parameters.parameter[1].valueReference.reference",
            "Practitioner",
        ),
        ({"name": "hospitalStay", "valueString": "oui"}, 400, "Parameters.parameter[1].valueBoolean", "valueBoolean"),
        ({"name": "urgent", "valueBoolean": True}, 400, "Parameters.parameter[1].name", "paramètre inconnu"),
        ({"name": "recipient", "valueBoolean": True}, 400, "Parameters.parameter[1]", "professionnel attendu"),
    ],
)
def test_a_bad_parameter_is_refused_with_its_expression_and_nothing_is_written(
    client: TestClient, tokens: Tokens, world: World, extra: dict[str, Any], status: int, expression: str,
    message: str,
) -> None:  # fmt: skip
    before = world.written()
    response = _share(client, tokens, parameters(doc(world), extra))
    assert response.status_code == status, response.text
    diagnostics, expressions = _issue(response)
    assert expressions == [expression] and message in diagnostics
    assert world.written() == before


def test_an_unqualified_identity_is_refused_on_the_subject(client: TestClient, tokens: Tokens, world: World) -> None:
    with world.platform.uow() as uow:
        provisional = identities.register(uow=uow, actor=FRONT_DESK, traits=make_person()).patient.id
        uow.commit()
    response = _share(client, tokens, parameters(doc(world, patient_id=provisional)))
    assert response.status_code == 409
    diagnostics, expressions = _issue(response)
    assert "non qualifiée" in diagnostics and expressions == ["Parameters.parameter[0].resource.subject"]


def test_a_rejected_document_is_located_in_the_document_reference(
    client: TestClient, tokens: Tokens, world: World
) -> None:
    broken = world.document().replace(b"<title>", b"<titre>", 1)
    response = _share(client, tokens, parameters(doc(world, broken)))
    assert response.status_code == 422
    body = response.json()
    assert all(i["expression"][0].startswith("Parameters.parameter[0].resource") for i in body["issue"])


@pytest.mark.parametrize(
    ("body", "expression"),
    [
        ({"resourceType": "Bundle"}, "Parameters.resourceType"),
        (
            {"resourceType": "Parameters", "parameter": [{"name": "announcementConsultation", "valueBoolean": True}]},
            "Parameters.parameter",
        ),
        (
            {
                "resourceType": "Parameters",
                "parameter": [{"name": "document", "resource": {"resourceType": "Patient"}}],
            },
            "Parameters.parameter[0].resource.resourceType",
        ),
        (
            {
                "resourceType": "Parameters",
                "parameter": [{"name": "document", "valueReference": {"reference": "DocumentReference/inconnu"}}],
            },
            "Parameters.parameter[0]",
        ),
    ],
)
def test_a_malformed_operation_is_refused_with_its_expression(
    client: TestClient, tokens: Tokens, world: World, body: dict[str, Any], expression: str
) -> None:
    response = _share(client, tokens, body)
    assert response.status_code in (400, 404, 422), response.text
    assert _issue(response)[1] == [expression]


def test_the_same_authentication_and_access_rules_apply(client: TestClient, tokens: Tokens, world: World) -> None:
    body = parameters(doc(world))
    assert client.post("/fhir/DocumentReference/$share", json=body).status_code == 401
    holder = Tokens.headers(tokens.for_patient(DOMINIQUE_INS))
    assert client.post("/fhir/DocumentReference/$share", json=body, headers=holder).status_code == 403
    app = Tokens.headers(tokens.for_app("carnet-test-app", ["patient/DocumentReference.c"], patient_ins=DOMINIQUE_INS))
    refused = client.post("/fhir/DocumentReference/$share", json=body, headers=app)
    assert refused.status_code == 403 and "Communication" in _issue(refused)[0]
    assert world.written()["documents"] == 0


def test_the_operation_is_in_the_capability_statement(client: TestClient) -> None:
    statement = client.get("/fhir/metadata").json()
    CapabilityStatement.model_validate(statement)
    resources = statement["rest"][0]["resource"]
    (documents,) = [r for r in resources if r["type"] == "DocumentReference"]
    assert "share" in {o["name"] for o in documents["operation"]}
    assert client.get("/fhir/metadata").json() == statement  # built afresh, nothing accumulates


def test_releasing_through_the_document_reference_patch_sends_the_held_back_document_to_the_patient(
    client: TestClient, tokens: Tokens, world: World
) -> None:
    dr = Tokens.headers(tokens.for_actor(DR_HOUSE))
    body = parameters(doc(world), {"name": "announcementConsultation", "valueBoolean": True})
    shared = _share(client, tokens, body)
    assert shared.status_code == 201, shared.text
    entry_id = _value(shared.json(), "document")["reference"].removeprefix("DocumentReference/")
    holder = Tokens.headers(tokens.for_patient(DOMINIQUE_INS))
    assert client.get("/fhir/Communication", headers=holder).json().get("total") == 0
    labels = client.get(f"/fhir/DocumentReference/{entry_id}", headers=dr).json()["securityLabel"]
    index = next(i for i, label in enumerate(labels) if label["coding"][0]["code"] == "INVISIBLE_PATIENT")
    release = [{"op": "remove", "path": f"/securityLabel/{index}"}]
    patch_headers = {**dr, "Content-Type": "application/json-patch+json"}
    released = client.patch(f"/fhir/DocumentReference/{entry_id}", headers=patch_headers, json=release)
    assert released.status_code == 200, released.text
    inbox = client.get("/fhir/Communication", headers=holder).json()
    assert inbox["total"] == 1
    (message,) = [e["resource"] for e in inbox["entry"]]
    assert message["sender"]["identifier"]["value"] == "mailto:claire.moreau@demo.mssante.fr"

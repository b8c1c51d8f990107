"""Ordinary FHIR clients against the server under uvicorn: fhirpy submits, searches (following next links), reads,
retrieves and patches; /fhir/metadata declares what the document routes implement."""

from __future__ import annotations

import base64

from fastapi.testclient import TestClient
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhirpy import SyncFHIRClient

from carnet.bootstrap import Platform
from tests.api.conftest import LiveServer
from tests.api.documents_support import (
    CR_BIO,
    DOMINIQUE_INS,
    DR_CAMPARINI,
    DR_MEDIONI,
    LDL_SES,
    VSM,
    bundle,
    dominique_with_doctors,
)
from tests.builders import DR_HOUSE, example


def test_the_capability_statement_lists_the_document_interactions(client: TestClient) -> None:
    statement = client.get("/fhir/metadata").json()
    CapabilityStatement.model_validate(statement)
    rest = statement["rest"][0]
    resources = {r["type"]: r for r in rest["resource"]}
    document = resources["DocumentReference"]
    assert document["profile"].endswith("/pdsm-comprehensive-document-reference")
    assert {i["code"] for i in document["interaction"]} == {"read", "search-type", "create", "patch", "delete"}
    names = {p["name"] for p in document["searchParam"]}
    assert {"patient", "patient.identifier", "type", "date", "period", "security-label", "_content"} <= names
    assert resources["Binary"]["interaction"] == [{"code": "read"}]
    assert "transaction" in [i["code"] for i in rest["interaction"]]


def test_fhirpy_submits_pages_reads_and_patches(live_server: LiveServer, platform: Platform) -> None:
    patient_id = dominique_with_doctors(platform)
    tokens = live_server.tokens
    author = SyncFHIRClient(f"{live_server.url}/fhir", authorization=f"Bearer {tokens.for_actor(DR_MEDIONI)}")
    for name in (VSM, LDL_SES):
        answer = author.execute("", method="post", data=bundle(example(name), patient_id))
        assert answer["type"] == "transaction-response"
    biologist = SyncFHIRClient(f"{live_server.url}/fhir", authorization=f"Bearer {tokens.for_actor(DR_CAMPARINI)}")
    biologist.execute("", method="post", data=bundle(example(CR_BIO), patient_id))

    doctor = SyncFHIRClient(f"{live_server.url}/fhir", authorization=f"Bearer {tokens.for_actor(DR_HOUSE)}")
    every = doctor.resources("DocumentReference").search(patient=patient_id).limit(1).fetch_all()
    assert len(every) == 3  # three pages of one, through the next links
    (vsm,) = doctor.resources("DocumentReference").search(patient=patient_id, type="SYNTH").fetch()
    assert vsm["masterIdentifier"]["value"] == "urn:oid:1.2.250.1.213.1.1.1.13.2022.1.1"
    binary = doctor.get("Binary", vsm["id"])
    assert base64.b64decode(binary["data"]) == example(VSM)

    holder = SyncFHIRClient(f"{live_server.url}/fhir",
                            authorization=f"Bearer {tokens.for_patient(DOMINIQUE_INS[0])}")  # fmt: skip
    labels = [*vsm["securityLabel"], {"coding": [{"code": "MASQUE_PS"}]}]
    holder.patch("DocumentReference", vsm["id"], securityLabel=labels)
    assert len(doctor.resources("DocumentReference").search(patient=patient_id).fetch_all()) == 2


def test_smart_fhirclient_parses_what_we_send(live_server: LiveServer, platform: Platform) -> None:
    """SMART's fhirclient parses every element strictly into its R4 models: the searchset, the DocumentReference
    with its contained author, and the Binary."""
    from fhirclient.models.binary import Binary
    from fhirclient.models.bundle import Bundle
    from fhirclient.models.documentreference import DocumentReference
    from fhirclient.server import FHIRServer

    patient_id = dominique_with_doctors(platform)
    tokens = live_server.tokens
    server = FHIRServer(None, base_uri=f"{live_server.url}/fhir/")
    server.session.headers["Authorization"] = f"Bearer {tokens.for_actor(DR_MEDIONI)}"
    answer = server.post_json("", bundle(example(VSM), patient_id)).json()
    assert Bundle(answer).type == "transaction-response"
    server.session.headers["Authorization"] = f"Bearer {tokens.for_actor(DR_HOUSE)}"
    (found,) = list(DocumentReference.where(struct={"patient": patient_id}).perform_resources_iter(server))
    assert found.masterIdentifier.value == "urn:oid:1.2.250.1.213.1.1.1.13.2022.1.1"
    assert {c.resource_type for c in found.contained} == {"Patient", "Practitioner", "PractitionerRole"}
    again = DocumentReference.read(found.id, server)
    assert again.content[0].attachment.hash == found.content[0].attachment.hash
    binary = Binary.read(found.id, server)
    assert base64.b64decode(binary.data) == example(VSM)


def test_async_fhirpy_searches_and_reads(live_server: LiveServer, platform: Platform) -> None:
    import asyncio

    from fhirpy import AsyncFHIRClient

    patient_id = dominique_with_doctors(platform)
    tokens = live_server.tokens

    async def scenario() -> None:
        author = AsyncFHIRClient(f"{live_server.url}/fhir", authorization=f"Bearer {tokens.for_actor(DR_MEDIONI)}")
        for name in (VSM, LDL_SES):
            await author.execute("", method="post", data=bundle(example(name), patient_id))
        doctor = AsyncFHIRClient(f"{live_server.url}/fhir", authorization=f"Bearer {tokens.for_actor(DR_HOUSE)}")
        found = await doctor.resources("DocumentReference").search(patient=patient_id).limit(1).fetch_all()
        assert len(found) == 2
        count = await doctor.resources("DocumentReference").search(patient=patient_id, type="SYNTH").count()
        assert count == 1

    asyncio.run(scenario())


def test_the_same_bundle_sent_twice_at_once_is_stored_once(live_server: LiveServer, platform: Platform) -> None:
    """Two concurrent identical submissions: one creates, the other is told it is a repeat or a conflict."""
    from concurrent.futures import ThreadPoolExecutor

    import httpx
    from sqlalchemy import func, select

    from carnet.record.store import DocumentRow

    patient_id = dominique_with_doctors(platform)
    body = bundle(example(VSM), patient_id)
    headers = {"Authorization": f"Bearer {live_server.tokens.for_actor(DR_MEDIONI)}"}

    def send(_: int) -> int:
        return httpx.post(f"{live_server.url}/fhir", json=body, headers=headers, timeout=30).status_code

    with ThreadPoolExecutor(4) as pool:
        statuses = sorted(pool.map(send, range(4)))
    assert set(statuses) <= {200, 409}, statuses
    with platform.uow() as uow:
        assert uow.session.scalar(select(func.count()).select_from(DocumentRow)) == 1

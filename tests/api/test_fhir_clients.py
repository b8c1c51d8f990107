"""Contract tests with third-party FHIR clients over real HTTP (uvicorn on loopback), beyond the document flows
of test_documents_clients.py: errors reach fhirpy as its exceptions, the access rules hold for the same client
in different hands, and SMART's fhirclient parses our CapabilityStatement and Patient strictly (R4 models).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from fhirpy import AsyncFHIRClient, SyncFHIRClient
from fhirpy.base.exceptions import AuthorizationError, OperationOutcome, ResourceNotFound

from carnet.bootstrap import Platform
from tests.api.conftest import LiveServer
from tests.api.documents_support import (
    CR_BIO,
    CR_BIO_PDF,
    DR_CAMPARINI,
    DR_MEDIONI,
    LDL_SES,
    VSM,
    bundle,
    dominique_with_doctors,
)
from tests.builders import DR_HOUSE, example, patient_as

AUTHORS = {VSM: DR_MEDIONI, LDL_SES: DR_MEDIONI, CR_BIO: DR_CAMPARINI, CR_BIO_PDF: DR_CAMPARINI}


def _client(live: LiveServer, token: str) -> SyncFHIRClient:
    return SyncFHIRClient(f"{live.url}/fhir", authorization=f"Bearer {token}")


def _submit_all(live: LiveServer, patient_id: str) -> dict[str, str]:
    """Each example submitted by its author through fhirpy; name → DocumentReference id."""
    ids = {}
    for name, author in AUTHORS.items():
        response: dict[str, Any] = _client(live, live.tokens.for_actor(author)).execute(
            "", method="post", data=bundle(example(name), patient_id)
        )
        assert response["resourceType"] == "Bundle" and response["type"] == "transaction-response"
        locations = [e["response"].get("location", "") for e in response["entry"]]
        ids[name] = next(loc.split("/")[1] for loc in locations if loc.startswith("DocumentReference/"))
        assert response["entry"][1]["response"]["status"].startswith("201")
    return ids


def test_fhirpy_sees_errors_as_exceptions(live_server: LiveServer, platform: Platform) -> None:
    patient_id = dominique_with_doctors(platform)
    doctor = _client(live_server, live_server.tokens.for_actor(DR_HOUSE))
    with pytest.raises(ResourceNotFound):
        doctor.reference("DocumentReference", "no-such-document").to_resource()
    with pytest.raises(OperationOutcome) as missing_patient:
        doctor.resources("DocumentReference").search(status="current").fetch()
    assert "patient" in str(missing_patient.value)
    wrong = bundle(example(VSM), patient_id)
    wrong["entry"][1]["resource"]["status"] = "not-a-status"
    with pytest.raises(OperationOutcome):
        _client(live_server, live_server.tokens.for_actor(DR_MEDIONI)).execute("", method="post", data=wrong)
    anonymous = SyncFHIRClient(f"{live_server.url}/fhir")
    with pytest.raises(AuthorizationError) as refused:
        anonymous.resources("DocumentReference").search(patient=patient_id).fetch()
    assert "Authorization" in str(refused.value)


def test_fhirpy_async_searches_with_access_rules(live_server: LiveServer, platform: Platform) -> None:
    from carnet.record import service as record

    patient_id = dominique_with_doctors(platform)
    ids = _submit_all(live_server, patient_id)
    with platform.uow() as uow:  # the holder hides the VSM from professionals (its author still sees it)
        record.hide_from_professionals(uow=uow, actor=patient_as(patient_id), entry_id=ids[VSM])
        uow.commit()

    async def visible_to(token: str) -> set[str]:
        client = AsyncFHIRClient(f"{live_server.url}/fhir", authorization=f"Bearer {token}")
        found = await client.resources("DocumentReference").search(patient=patient_id).limit(2).fetch_all()
        return {d["id"] for d in found}

    doctor_sees = asyncio.run(visible_to(live_server.tokens.for_actor(DR_HOUSE)))
    author_sees = asyncio.run(visible_to(live_server.tokens.for_actor(DR_MEDIONI)))
    holder_sees = asyncio.run(visible_to(live_server.tokens.for_patient("279035121518989")))
    assert doctor_sees == set(ids.values()) - {ids[VSM]}
    assert author_sees == holder_sees == set(ids.values())


def test_smart_fhirclient_parses_our_resources(live_server: LiveServer, platform: Platform) -> None:
    from fhirclient import client
    from fhirclient.models.documentreference import DocumentReference
    from fhirclient.models.patient import Patient

    patient_id = dominique_with_doctors(platform)
    ids = _submit_all(live_server, patient_id)
    smart = client.FHIRClient(settings={"app_id": "carnet-contract-test", "api_base": f"{live_server.url}/fhir/"})
    server = smart.server
    assert server is not None
    server.session.headers["Authorization"] = f"Bearer {live_server.tokens.for_actor(DR_HOUSE)}"

    server.get_capability()
    capability = server.capabilityStatement
    assert capability.fhirVersion == "4.0.1"
    assert {r.type for r in capability.rest[0].resource} >= {"DocumentReference", "Patient", "Binary"}

    patient = Patient.read(patient_id, server)
    assert patient.birthDate.isostring == "1979-03-28"
    assert any(i.system == "urn:oid:1.2.250.1.213.1.4.10" for i in patient.identifier)

    found = list(DocumentReference.where(struct={"patient": patient_id}).perform_resources_iter(server))
    assert sorted(d.id for d in found) == sorted(ids.values())

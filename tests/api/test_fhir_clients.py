"""Contract tests: ordinary third-party FHIR clients work with Carnet unchanged, over real HTTP (uvicorn on loopback).

- ``fhirpy`` (sync and async): submit an ITI-65 bundle, search with parameters, page through ``next`` links,
  read a DocumentReference and its Binary, and get the errors as the library's exceptions;
- SMART's ``fhirclient`` (R4 models, strict parsing): the CapabilityStatement, a Patient read, a
  DocumentReference search, each parsed into its model classes.
"""

from __future__ import annotations

import asyncio
import base64
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


def test_fhirpy_sync_submits_searches_pages_and_reads(live_server: LiveServer, platform: Platform) -> None:
    patient_id = dominique_with_doctors(platform)
    ids = _submit_all(live_server, patient_id)
    doctor = _client(live_server, live_server.tokens.for_actor(DR_HOUSE))
    documents = doctor.resources("DocumentReference")

    everything = documents.search(patient=patient_id).limit(1).fetch_all()  # one per page: follows `next`
    assert sorted(d["id"] for d in everything) == sorted(ids.values())
    assert documents.search(patient=patient_id).count() == len(ids)

    lab = documents.search(patient=patient_id, type="http://loinc.org|11502-2").fetch_all()
    assert {d["id"] for d in lab} == {ids[CR_BIO], ids[CR_BIO_PDF]}
    newest_first = documents.search(patient=patient_id).sort("-date").fetch_all()
    dates = [d["date"] for d in newest_first]
    assert dates == sorted(dates, reverse=True)

    vsm = doctor.reference("DocumentReference", ids[VSM]).to_resource()
    assert vsm["subject"]["reference"] == f"Patient/{patient_id}"
    binary = doctor.execute(f"Binary/{ids[VSM]}", method="get")
    assert base64.b64decode(binary["data"]) == example(VSM)


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
    assert all(d.masterIdentifier.value.startswith("urn:oid:") for d in found)

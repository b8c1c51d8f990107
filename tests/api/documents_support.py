"""Shared builders of the document API tests (tests/api/test_documents_*.py): actors, bundles, assertions."""

from __future__ import annotations

import base64
import copy
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from httpx import Response

from carnet.access.model import Actor
from carnet.api.mhd import provide_bundle_for
from carnet.bootstrap import Platform
from tests.api.conftest import Tokens
from tests.builders import DR_HOUSE, example, in_care_team, qualified_patient

PDSM_EXAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "reference" / "fhir" / "pdsm4dmp-examples"
DOMINIQUE_INS = ("279035121518989", "1.2.250.1.213.1.4.10")
INS_SYSTEM = f"urn:oid:{DOMINIQUE_INS[1]}"

# The authors of the CI-SIS examples, signed in with their CPS (a professional deposits only their own documents).
DR_MEDIONI = replace(DR_HOUSE, id="801234567897", name="MEDIONI Stéphane", organisation_name=None)  # VSM, LDL-SES…
DR_CAMPARINI = replace(DR_HOUSE, id="801234534765", name="CAMPARINI Marcel", organisation_name=None)  # CR-BIO
DR_BIDEAULT = replace(DR_HOUSE, id="801234560801", name="BIDEAULT Jacques", organisation_name=None)  # imaging

VSM = "VSM_1.4_2022.01.xml"
LDL_SES = "LDL-SES_2022.01.xml"
CR_BIO = "BIO-CR-BIO_2021.01_Microbiologie_V1.xml"
CR_BIO_PDF = "DOC_NON_STRUCTURE_CDA-R2-N1.xml"
IMAGING = "IMG_CR_IMG_2024.01.xml"


def pdsm_example(name: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads((PDSM_EXAMPLES / name).read_text("utf-8"))
    return result


def dominique_with_doctors(platform: Platform, *doctors: Actor) -> str:
    """The CI-SIS example patient, qualified, with the example authors (and Dr House) in her care team."""
    patient_id = qualified_patient(platform)
    in_care_team(platform, patient_id, DR_HOUSE, DR_MEDIONI, DR_CAMPARINI, DR_BIDEAULT, *doctors)
    return patient_id


def bundle(content: bytes, patient_id: str, **document_reference: Any) -> dict[str, Any]:
    return provide_bundle_for(content, patient_id=patient_id, source="urn:oid:1.2.250.1.213.1.1.9.1",
                              document_reference=document_reference or None)  # fmt: skip


def two_document_bundle(first: bytes, second: bytes, patient_id: str) -> dict[str, Any]:
    one, two = bundle(first, patient_id), bundle(second, patient_id)
    one["entry"][0]["resource"]["entry"].append({"item": {"reference": two["entry"][1]["fullUrl"]}})
    one["entry"].extend(two["entry"][1:])
    return one


def submit(client: TestClient, token: str, body: dict[str, Any], **headers: str) -> Response:
    return client.post("/fhir", json=body, headers=Tokens.headers(token, **headers))


def created_ids(response: Response) -> list[str]:
    """The DocumentReference ids of a transaction-response."""
    assert response.status_code == 200, response.text
    locations = [e["response"].get("location", "") for e in response.json()["entry"]]
    return [loc.split("/", 1)[1] for loc in locations if loc.startswith("DocumentReference/")]


def deposit_examples(client: TestClient, tokens: Tokens, patient_id: str, *names: str) -> dict[str, str]:
    """Each named CI-SIS example deposited by its author; returns name → DocumentReference id."""
    authors = {VSM: DR_MEDIONI, LDL_SES: DR_MEDIONI, CR_BIO: DR_CAMPARINI, CR_BIO_PDF: DR_CAMPARINI,
               IMAGING: DR_BIDEAULT}  # fmt: skip
    ids = {}
    for name in names:
        response = submit(client, tokens.for_actor(authors[name]), bundle(example(name), patient_id))
        ids[name] = created_ids(response)[0]
    return ids


def outcome(response: Response, status: int) -> list[dict[str, Any]]:
    """The issues of an OperationOutcome answer with ``status``."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["resourceType"] == "OperationOutcome", body
    issues: list[dict[str, Any]] = body["issue"]
    return issues


def expressions(response: Response, status: int) -> list[str]:
    return [e for issue in outcome(response, status) for e in issue.get("expression", [])]


def with_ins(resource: Any, ins: str, oid: str) -> Any:
    """A deep copy of a PDSm example with its patient INS replaced."""
    text = json.dumps(resource).replace("urn:oid:1.2.250.1.213.1.4.8|123456789012345", f"urn:oid:{oid}|{ins}")
    text = text.replace('"system": "urn:oid:1.2.250.1.213.1.4.8", "value": "123456789012345"',
                        f'"system": "urn:oid:{oid}", "value": "{ins}"')  # fmt: skip
    return copy.deepcopy(json.loads(text))


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")

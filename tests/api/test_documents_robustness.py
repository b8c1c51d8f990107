"""No input makes the document routes fail with a 5xx: mutated bundles, DocumentReferences, search parameters and
patches all get an OperationOutcome naming what is wrong (a fixed-seed mutation run, on both backends)."""

from __future__ import annotations

import copy
import random
from typing import Any

from fastapi.testclient import TestClient

from carnet.bootstrap import Platform
from tests.api.conftest import Tokens
from tests.api.documents_support import (
    DOMINIQUE_INS,
    DR_MEDIONI,
    VSM,
    b64,
    bundle,
    created_ids,
    dominique_with_doctors,
    submit,
)
from tests.builders import DR_HOUSE, example

ODD_VALUES: list[Any] = [None, "x", 1, [], {}, {"reference": "#nope"}, "Patient/zzz", -5, True, "", "2021-13-99"]


def mutated(resource: dict[str, Any], rnd: random.Random) -> dict[str, Any]:
    """A copy of ``resource`` with one element, chosen at random, replaced by an odd value or removed."""
    out = copy.deepcopy(resource)
    paths: list[list[Any]] = []

    def walk(node: Any, path: list[Any]) -> None:
        paths.append(path)
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, child in items:
            walk(child, [*path, key])

    walk(out, [])
    path = rnd.choice(paths[1:])
    parent: Any = out
    for key in path[:-1]:
        parent = parent[key]
    if rnd.random() < 0.3:
        del parent[path[-1]]
    else:
        parent[path[-1]] = rnd.choice(ODD_VALUES)
    return out


def a_rich_bundle(patient_id: str) -> dict[str, Any]:
    body = bundle(example(VSM), patient_id)
    reference = body["entry"][1]["resource"]
    reference["author"] = [{"reference": "#role"}]
    reference["contained"] = [
        {"resourceType": "PractitionerRole", "id": "role", "practitioner": {"reference": "#who"}},
        {"resourceType": "Practitioner", "id": "who",
         "identifier": [{"system": "urn:oid:1.2.250.1.71.4.2.1", "value": "801234567897"}]},
    ]  # fmt: skip
    reference["securityLabel"] = [{"coding": [{"code": "N"}]}]
    reference["relatesTo"] = [{"code": "replaces", "target": {"reference": "DocumentReference/x"}}]
    return body


def test_mutated_submissions_never_fail_with_a_5xx(client: TestClient, tokens: Tokens, platform: Platform) -> None:
    patient_id = dominique_with_doctors(platform)
    headers = tokens.headers(tokens.for_actor(DR_MEDIONI))
    base = a_rich_bundle(patient_id)
    rnd = random.Random(7)
    failures = []
    for _ in range(120):
        response = client.post("/fhir", json=mutated(base, rnd), headers=headers)
        if response.status_code >= 500 or response.json()["resourceType"] not in ("Bundle", "OperationOutcome"):
            failures.append(("ITI-65", response.text[:200]))
        reference = mutated(base["entry"][1]["resource"], rnd)
        reference.setdefault("content", [{"attachment": {"contentType": "text/xml", "data": b64(example(VSM))}}])
        response = client.post("/fhir/DocumentReference", json=reference, headers=headers)
        if response.status_code >= 500:
            failures.append(("ITI-105", response.text[:200]))
    assert failures == []


def test_odd_search_parameters_and_patches_never_fail_with_a_5xx(client: TestClient, tokens: Tokens,
                                                                  platform: Platform) -> None:  # fmt: skip
    patient_id = dominique_with_doctors(platform)
    doctor = tokens.headers(tokens.for_actor(DR_HOUSE))
    queries = ["date=ge", "date=2021-02-30", "_count=-1", "_offset=x", "security-label=,", "author.given=a%00b",
               "period=gt2021-01-01T10:00", "creation=2021-01-01T10:00:00.5+02:00", "_content=%22%22", "_content=*",
               "_text=NEAR(a b)", "author.given=%25", "_sort=-creation,title", "type=a|b|c"]  # fmt: skip
    for query in queries:
        response = client.get(f"/fhir/DocumentReference?patient={patient_id}&{query}", headers=doctor)
        assert response.status_code < 500, (query, response.text)
    (doc_id,) = created_ids(submit(client, tokens.for_actor(DR_MEDIONI), bundle(example(VSM), patient_id)))
    holder = tokens.headers(tokens.for_patient(DOMINIQUE_INS[0]))
    patches = [
        (b"[]", "application/json-patch+json"),
        (b'[{"op":"add","path":"/securityLabel/99","value":1}]', "application/json-patch+json"),
        (b'[{"op":"move","path":"/securityLabel/0"}]', "application/json-patch+json"),
        (b'[{"op":"remove","path":"/meta/security/0"}]', "application/json-patch+json"),
        (b'[{"op":"add","path":"/securityLabel/-","value":"MASQUE_PS"}]', "application/json-patch+json"),
        (b'{"securityLabel": 5}', "application/json"),
        (b'"x"', "application/json"),
        (b'{"meta": {"security": [{"code":"MASQUE_PS"}]}}', "application/merge-patch+json"),
        (b'{"securityLabel": [{"coding": "x"}]}', "application/json"),
        (b"{", "application/json"),
    ]
    for target in (doc_id, "no-such-document"):
        for body, content_type in patches:
            response = client.patch(f"/fhir/DocumentReference/{target}", content=body,
                                    headers={**holder, "Content-Type": content_type})  # fmt: skip
            assert response.status_code < 500, (body, response.text)
            assert response.json()["resourceType"] in ("DocumentReference", "OperationOutcome")

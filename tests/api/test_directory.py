"""Practitioner, PractitionerRole and Organization from the professional directory, on both backends."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.organization import Organization
from fhir.resources.R4B.practitioner import Practitioner
from fhir.resources.R4B.practitionerrole import PractitionerRole

from carnet.bootstrap import Platform
from carnet.directory.demo import load_demo_directory
from tests.api.conftest import Tokens
from tests.builders import DR_HOUSE, FRONT_DESK

VALIDATORS = {"Practitioner": Practitioner, "PractitionerRole": PractitionerRole, "Organization": Organization}


@pytest.fixture(autouse=True)
def demo_directory(platform: Platform) -> None:
    with platform.uow() as uow:
        load_demo_directory(uow)
        uow.commit()


def _get(client: TestClient, tokens: Tokens, url: str, token: str | None = None, status: int = 200) -> Any:
    response = client.get(url, headers=tokens.headers(token or tokens.for_actor(DR_HOUSE)))
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    body = response.json()
    if body["resourceType"] == "Bundle":
        Bundle.model_validate(body)
        for entry in body["entry"]:
            VALIDATORS[entry["resource"]["resourceType"]].model_validate(entry["resource"])
    elif body["resourceType"] in VALIDATORS:
        VALIDATORS[body["resourceType"]].model_validate(body)
    return body


def _ids(bundle: dict[str, Any]) -> list[str]:
    return [e["resource"]["id"] for e in bundle["entry"]]


def test_read_a_practitioner_with_idnatps_rpps_and_profession(client: TestClient, tokens: Tokens) -> None:
    house = _get(client, tokens, "/fhir/Practitioner/810000000001")
    assert house["meta"]["profile"] == ["https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-practitioner"]
    assert {(i["system"], i["value"]) for i in house["identifier"]} == {
        ("urn:oid:1.2.250.1.71.4.2.1", "810000000001"), ("https://rpps.esante.gouv.fr", "10000000001"),
    }  # fmt: skip
    assert house["name"][0]["family"] == "MOREAU"
    codings = house["qualification"][0]["code"]["coding"]
    assert {"system": "urn:oid:1.2.250.1.71.1.2.7", "code": "10", "display": "Médecin"} in codings
    assert house["qualification"][1]["code"]["coding"][0]["code"] == "SM54"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("identifier=urn:oid:1.2.250.1.71.4.2.1|810000000001", ["810000000001"]),
        ("identifier=https://rpps.esante.gouv.fr|99700000070", ["899700000070"]),
        ("identifier=899700000050", ["899700000050"]),
        ("name=mart", ["899700000001"]),
        ("family=petit&given=jul", ["810000000060"]),
        ("given=Léa", ["899700000061"]),
        ("active=false", ["899700000099"]),
        ("_id=810000000001&identifier=urn:oid:1.2.250.1.71.4.2.1|899700000001", []),
        ("name=nobody", []),
    ],
)
def test_search_practitioners(client: TestClient, tokens: Tokens, query: str, expected: list[str]) -> None:
    assert _ids(_get(client, tokens, f"/fhir/Practitioner?{query}")) == expected


def test_practitioner_roles_by_profession_practitioner_organisation_specialty(
    client: TestClient, tokens: Tokens
) -> None:
    nurses = _get(client, tokens, "/fhir/PractitionerRole?role=urn:oid:1.2.250.1.71.1.2.7|60")
    assert sorted(e["resource"]["practitioner"]["reference"] for e in nurses["entry"]) == [
        "Practitioner/810000000060", "Practitioner/899700000061",
    ]  # fmt: skip
    martin = _get(client, tokens, "/fhir/PractitionerRole?practitioner=Practitioner/899700000001")
    assert sorted(e["resource"]["organization"]["reference"] for e in martin["entry"]) == [
        "Organization/1519990028", "Organization/1519990044",
    ]  # fmt: skip
    assert martin["entry"][0]["resource"]["organization"]["display"]
    msp = _get(client, tokens, "/fhir/PractitionerRole?organization=1519990044&role=70")
    assert [e["resource"]["practitioner"]["reference"] for e in msp["entry"]] == ["Practitioner/899700000070"]
    gp = _get(client, tokens, "/fhir/PractitionerRole?specialty=SM54&active=true")
    assert gp["total"] == 3
    role = _get(client, tokens, f"/fhir/PractitionerRole/{msp['entry'][0]['resource']['id']}")
    assert role["code"][0]["coding"][0]["code"] == "70"


def test_organizations_by_identifier_name_and_type(client: TestClient, tokens: Tokens) -> None:
    assert _ids(_get(client, tokens, "/fhir/Organization?identifier=urn:oid:1.2.250.1.71.4.2.2|1519990036")) == [
        "1519990036"
    ]
    assert _ids(_get(client, tokens, "/fhir/Organization?identifier=https://finess.esante.gouv.fr|519990036")) == [
        "1519990036"
    ]
    assert _ids(_get(client, tokens, "/fhir/Organization?name=hospitalier")) == ["1519990028"]
    assert _ids(_get(client, tokens, "/fhir/Organization?type=SA33")) == ["1519990036"]
    org = _get(client, tokens, "/fhir/Organization/1519990010")
    assert org["name"] == "Cabinet médical des Lilas" and org["address"][0]["city"] == "Reims"


def test_paging_with_next_links(client: TestClient, tokens: Tokens) -> None:
    first = _get(client, tokens, "/fhir/Practitioner?_count=4")
    assert first["total"] == 9 and len(first["entry"]) == 4
    seen = _ids(first)
    url = next(link["url"] for link in first["link"] if link["relation"] == "next")
    while url:
        page = _get(client, tokens, url.replace("http://testserver", ""))
        seen += _ids(page)
        url = next((link["url"] for link in page["link"] if link["relation"] == "next"), "")
    assert len(seen) == len(set(seen)) == 9


def test_any_authenticated_caller_reads_the_directory_but_not_anonymous(client: TestClient, tokens: Tokens) -> None:
    _get(client, tokens, "/fhir/Practitioner/810000000001", tokens.for_actor(FRONT_DESK))
    _get(client, tokens, "/fhir/Organization/1519990010", tokens.for_patient("279035121518989"))
    _get(client, tokens, "/fhir/Practitioner?name=moreau", tokens.for_app("agenda", ["user/Practitioner.rs"]))
    refused = _get(client, tokens, "/fhir/Organization?name=x", tokens.for_app("agenda", ["user/Practitioner.rs"]),
                   status=403)  # fmt: skip
    assert "Organization" in refused["issue"][0]["diagnostics"]
    response = client.get("/fhir/Practitioner/810000000001")
    assert response.status_code == 401 and response.json()["resourceType"] == "OperationOutcome"


@pytest.mark.parametrize(
    ("url", "status", "expression"),
    [
        ("/fhir/Practitioner/899999999999", 404, "id"),
        ("/fhir/Practitioner?identifier=http://example.org|1", 400, "identifier"),
        ("/fhir/Practitioner?speciality=SM54", 400, "speciality"),
        ("/fhir/Practitioner?_count=1000", 400, "_count"),
        ("/fhir/Practitioner?_count=abc", 400, "_count"),
        ("/fhir/Practitioner?active=maybe", 400, "active"),
        ("/fhir/Practitioner?name=a&name=b", 400, "name"),
        ("/fhir/PractitionerRole?practitioner=Organization/1", 400, "practitioner"),
        ("/fhir/PractitionerRole?role=http://example.org|x", 400, "role"),
        ("/fhir/Organization?type=http://example.org|SA01", 400, "type"),
        ("/fhir/Organization/0000", 404, "id"),
    ],
)
def test_bad_requests_name_the_parameter(
    client: TestClient, tokens: Tokens, url: str, status: int, expression: str
) -> None:
    body = _get(client, tokens, url, status=status)
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"][0]["expression"] == [expression]


def test_the_capability_statement_lists_these_resources(client: TestClient) -> None:
    from fhir.resources.R4B.capabilitystatement import CapabilityStatement

    statement = client.get("/fhir/metadata").json()
    CapabilityStatement.model_validate(statement)
    resources = {r["type"]: r for r in statement["rest"][0]["resource"]}
    for name, interactions in [
        ("Practitioner", {"read", "search-type"}),
        ("PractitionerRole", {"read", "search-type"}),
        ("Organization", {"read", "search-type"}),
        ("Patient", {"read", "search-type"}),
        ("Consent", {"read", "search-type", "create", "update", "delete"}),
        ("AuditEvent", {"search-type"}),
    ]:
        assert {i["code"] for i in resources[name]["interaction"]} == interactions, name
    assert {p["name"] for p in resources["Patient"]["searchParam"]} == {
        "_id", "identifier", "family", "given", "birthdate", "gender",
    }  # fmt: skip

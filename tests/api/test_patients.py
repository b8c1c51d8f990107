"""Patient read and search (FR Core patient INS) on both backends: INS only when qualified, who sees which record."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.patient import Patient

from carnet.access import service as access
from carnet.bootstrap import Platform
from carnet.identity import service as identities
from tests.api.conftest import Tokens
from tests.builders import DR_HOUSE, FRONT_DESK, NURSE_JOY, PLATFORM, make_person, patient_as, qualified_patient

DOMINIQUE_INS = "279035121518989"
RUTH_INS = "277076322082910"
ELODIE_INS = "215104410965730"  # a minor (born 2015)
TEST_OID = "urn:oid:1.2.250.1.213.1.4.10"
RELIABILITY = "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-identity-reliability"


@dataclass
class People:
    dominique: str  # qualified
    ruth: str  # retrieved from INSi, not checked against a document (RECUP)
    helene: str  # provisional
    elodie: str  # qualified minor, Dominique is her legal representative


@pytest.fixture
def people(platform: Platform) -> People:
    dominique = qualified_patient(platform)
    elodie = qualified_patient(platform, make_person(birth_name="VINCENT", birth_first_names="ELODIE INES",
                                                     birth_date="2015-10-25", birth_place="44109"))  # fmt: skip
    with platform.uow() as uow:
        nessi = make_person(birth_name="NESSI", birth_first_names="RUTH ISABELLE", birth_date="1977-07-14",
                            birth_place="63220")  # fmt: skip
        ruth = identities.register(uow=uow, actor=FRONT_DESK, traits=nessi)
        identities.retrieve_ins(uow=uow, actor=FRONT_DESK, insi=platform.insi, patient_id=ruth.patient.id)
        helene = identities.register(uow=uow, actor=FRONT_DESK, traits=make_person(used_name="Martin"))
        access.add_representative(uow=uow, actor=PLATFORM, patient_id=elodie, representative_id=dominique,
                                  role="parent")  # fmt: skip
        uow.commit()
    return People(dominique=dominique, ruth=ruth.patient.id, helene=helene.patient.id, elodie=elodie)


def _get(client: TestClient, tokens: Tokens, url: str, token: str | None = None, status: int = 200) -> Any:
    response = client.get(url, headers=tokens.headers(token or tokens.for_actor(DR_HOUSE)))
    assert response.status_code == status, response.text
    body = response.json()
    if body["resourceType"] == "Bundle":
        Bundle.model_validate(body)
        for entry in body["entry"]:
            Patient.model_validate(entry["resource"])
    elif body["resourceType"] == "Patient":
        Patient.model_validate(body)
    return body


def _ids(bundle: dict[str, Any]) -> list[str]:
    return [e["resource"]["id"] for e in bundle["entry"]]


def _status(patient: dict[str, Any]) -> str:
    reliability = next(e for e in patient["extension"] if e["url"] == RELIABILITY)
    return str(reliability["extension"][0]["valueCoding"]["code"])


def test_search_by_ins_with_the_urn_oid_system(client: TestClient, tokens: Tokens, people: People) -> None:
    bundle = _get(client, tokens, f"/fhir/Patient?identifier={TEST_OID}|{DOMINIQUE_INS}")
    assert _ids(bundle) == [people.dominique]
    patient = bundle["entry"][0]["resource"]
    assert patient["meta"]["profile"] == ["https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-patient-ins"]
    assert patient["identifier"] == [
        {
            "use": "official",
            "type": {"coding": [{"system": "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0203",
                                 "code": "INS-NIR-TEST"}]},
            "system": TEST_OID,
            "value": DOMINIQUE_INS,
        }
    ]  # fmt: skip
    assert _status(patient) == "QUAL"
    official = patient["name"][0]
    assert (official["use"], official["family"], official["given"]) == ("official", "PAT-TROIS", ["DOMINIQUE"])
    assert official["extension"][0]["valueString"] == "DOMINIQUE MARIE-LOUISE"
    birth_place = next(e for e in patient["extension"] if e["url"].endswith("patient-birthPlace"))
    assert birth_place["valueAddress"]["extension"][0]["valueCoding"]["code"] == "51215"
    assert (patient["gender"], patient["birthDate"]) == ("female", "1979-03-28")
    # The same matricule under another INS authority is another identifier.
    assert _ids(_get(client, tokens, f"/fhir/Patient?identifier=urn:oid:1.2.250.1.213.1.4.8|{DOMINIQUE_INS}")) == []


def test_an_identity_that_is_not_qualified_never_shows_its_ins(
    client: TestClient, tokens: Tokens, people: People
) -> None:
    assert _ids(_get(client, tokens, f"/fhir/Patient?identifier={TEST_OID}|{RUTH_INS}")) == []
    ruth = _get(client, tokens, f"/fhir/Patient/{people.ruth}")
    assert _status(ruth) == "RECUP" and "identifier" not in ruth
    assert ruth["meta"]["profile"] == ["https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-patient"]
    helene = _get(client, tokens, f"/fhir/Patient/{people.helene}")
    assert _status(helene) == "PROV" and "identifier" not in helene
    assert helene["name"][1] == {"use": "usual", "family": "MARTIN"}


@pytest.mark.parametrize(
    ("query", "who"),
    [
        ("family=pat-trois", ["dominique"]),
        ("family=Nessi&given=ruth", ["ruth"]),
        ("birthdate=1979-03-28", ["dominique"]),
        ("family=pat&birthdate=ge1979-01-01", ["dominique"]),
        ("family=pat&birthdate=lt1979", []),
        ("family=lagarde&gender=female", ["helene"]),
        ("family=lagarde&gender=male", []),
    ],
)
def test_search_by_traits(client: TestClient, tokens: Tokens, people: People, query: str, who: list[str]) -> None:
    assert _ids(_get(client, tokens, f"/fhir/Patient?{query}")) == [getattr(people, w) for w in who]


def test_professional_reads_and_searches_are_traced(
    client: TestClient, tokens: Tokens, people: People, platform: Platform
) -> None:
    _get(client, tokens, f"/fhir/Patient/{people.dominique}", tokens.for_actor(NURSE_JOY))
    _get(client, tokens, "/fhir/Patient?family=pat-trois", tokens.for_actor(FRONT_DESK))
    with platform.uow() as uow:
        trail = [(r.action, r.actor_id) for r in uow.audit.chain(people.dominique)]
    assert ("identity.read", NURSE_JOY.id) in trail
    assert ("identity.search", "0000000101") in trail


def test_a_patient_sees_their_own_and_represented_records_only(
    client: TestClient, tokens: Tokens, people: People
) -> None:
    mother = tokens.for_patient(DOMINIQUE_INS, represents=(ELODIE_INS,))
    assert _get(client, tokens, f"/fhir/Patient/{people.dominique}", mother)["id"] == people.dominique
    assert _get(client, tokens, f"/fhir/Patient/{people.elodie}", mother)["id"] == people.elodie
    refused = _get(client, tokens, f"/fhir/Patient/{people.ruth}", mother, status=403)
    assert refused["resourceType"] == "OperationOutcome"
    assert sorted(_ids(_get(client, tokens, "/fhir/Patient", mother))) == sorted([people.dominique, people.elodie])
    assert _ids(_get(client, tokens, "/fhir/Patient?family=vincent", mother)) == [people.elodie]
    # Ruth claims to represent Elodie, but is not registered as her representative.
    ruth = tokens.for_patient(RUTH_INS, represents=(ELODIE_INS,))
    _get(client, tokens, f"/fhir/Patient/{people.elodie}", ruth, status=403)
    assert _ids(_get(client, tokens, "/fhir/Patient", ruth)) == [people.ruth]  # her own only, Elodie is left out


def test_an_app_reads_only_its_patient_under_a_grant_and_a_scope(
    client: TestClient, tokens: Tokens, people: People, platform: Platform
) -> None:
    app = tokens.for_app("mon-suivi", ["patient/Patient.rs"], patient_ins=DOMINIQUE_INS)
    denied = _get(client, tokens, f"/fhir/Patient/{people.dominique}", app, status=403)
    assert "autorisation" in denied["issue"][0]["diagnostics"]
    with platform.uow() as uow:
        access.add_grant(uow=uow, actor=patient_as(people.dominique), patient_id=people.dominique,
                         grantee_kind="app", grantee_id="mon-suivi", can_read=True, can_write=False)  # fmt: skip
        uow.commit()
    assert _get(client, tokens, f"/fhir/Patient/{people.dominique}", app)["id"] == people.dominique
    assert _ids(_get(client, tokens, "/fhir/Patient", app)) == [people.dominique]
    _get(client, tokens, f"/fhir/Patient/{people.ruth}", app, status=403)
    no_scope = tokens.for_app("mon-suivi", ["patient/DocumentReference.rs"], patient_ins=DOMINIQUE_INS)
    refused = _get(client, tokens, f"/fhir/Patient/{people.dominique}", no_scope, status=403)
    assert "Patient" in refused["issue"][0]["diagnostics"]


def test_anonymous_and_operator_callers_get_nothing(client: TestClient, tokens: Tokens, people: People) -> None:
    assert client.get(f"/fhir/Patient/{people.dominique}").status_code == 401
    operator = tokens.idp.mint({"carnet_role": "operator", "name": "Audit"}, subject="ops-1")
    _get(client, tokens, f"/fhir/Patient/{people.dominique}", operator, status=403)


@pytest.mark.parametrize(
    ("query", "status", "expression"),
    [
        (f"identifier={DOMINIQUE_INS}", 400, "identifier"),
        (f"identifier=urn:oid:1.2.250.1.213.1.4.13|{DOMINIQUE_INS}", 400, "identifier"),
        (f"identifier={TEST_OID}|279035121518988", 422, "identifier"),
        ("birthdate=28/03/1979", 400, "birthdate"),
        ("birthdate=1979-02-30", 400, "birthdate"),
        ("gender=F", 400, "gender"),
        ("family=%3Cscript%3E", 400, "family"),
        ("gender=female", 400, "Patient"),
        ("address=Reims", 400, "address"),
        ("_count=-1", 400, "_count"),
    ],
)
def test_bad_searches_name_the_parameter(
    client: TestClient, tokens: Tokens, people: People, query: str, status: int, expression: str
) -> None:
    body = _get(client, tokens, f"/fhir/Patient?{query}", status=status)
    assert body["issue"][0]["expression"] == [expression]


def test_unknown_ids_are_404(client: TestClient, tokens: Tokens, people: People) -> None:
    assert _get(client, tokens, "/fhir/Patient/no-such-patient", status=404)["resourceType"] == "OperationOutcome"
    _get(client, tokens, "/fhir/Patient/bad%00id", status=404)


def test_paging_with_next_links(client: TestClient, tokens: Tokens, people: People) -> None:
    mother = tokens.for_patient(DOMINIQUE_INS, represents=(ELODIE_INS,))
    first = _get(client, tokens, "/fhir/Patient?_count=1", mother)
    assert first["total"] == 2 and len(first["entry"]) == 1
    url = next(link["url"] for link in first["link"] if link["relation"] == "next")
    second = _get(client, tokens, url.replace("http://testserver", ""), mother)
    assert len(second["entry"]) == 1 and _ids(first) != _ids(second)
    assert "next" not in [link["relation"] for link in second["link"]]

"""``Patient/$everything`` on both backends with real tokens: the holder, professionals (matrix-filtered, hidden
documents absent), an app (its scopes and the holder's grant), paging with next links, ``_type``, ``_since``,
refusals, and the CapabilityStatement."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from fhir.resources.R4B.bundle import Bundle

from carnet.access import service as access
from carnet.access.model import Actor, ActorKind, AuthMethod
from carnet.bootstrap import Platform
from carnet.record import service as record
from tests.api.conftest import Tokens
from tests.builders import DR_HOUSE, NURSE_JOY, PLATFORM, example, in_care_team, patient_as, qualified_patient

DOMINIQUE_INS = "279035121518989"
APP_ID = "tension-plus"
DR_LEROY = Actor(kind=ActorKind.PROFESSIONAL, id="899700000002", auth_method=AuthMethod.CPS, profession="10",
                 name="Sophie LEROY")  # fmt: skip


def _deposit(platform: Platform, patient_id: str, name: str, **options: Any) -> str:
    with platform.uow() as uow:
        entry = record.deposit(uow=uow, actor=PLATFORM, patient_id=patient_id, content=example(name), **options).entry
        uow.commit()
    return entry.id


@pytest.fixture
def dominique(platform: Platform) -> dict[str, str]:
    """Dominique's record: a synthesis, a biology report, reimbursement data, an imaging report she hid from
    professionals, a discharge letter held back until the announcement consultation; Dr Moreau (médecin) and Julie
    Petit (infirmière) in her care team."""
    patient_id = qualified_patient(platform)
    in_care_team(platform, patient_id, DR_HOUSE, NURSE_JOY)
    ids = {
        "id": patient_id,
        "vsm": _deposit(platform, patient_id, "VSM_1.4_2022.01.xml"),
        "bio": _deposit(platform, patient_id, "BIO-CR-BIO_2024.01_TSH_1.xml"),
        "remb": _deposit(platform, patient_id, "CNAM-HR_2021.01_sans-info.xml"),
        "img": _deposit(platform, patient_id, "IMG_CR_IMG_2024.01.xml"),
        "held": _deposit(platform, patient_id, "LDL-SES_2022.01.xml", invisible_to_patient=True),
    }
    with platform.uow() as uow:
        record.hide_from_professionals(uow=uow, actor=patient_as(patient_id), entry_id=ids["img"])
        uow.commit()
    return ids


def everything(client: TestClient, token: str, patient_id: str, query: str = "", status: int = 200) -> Any:
    response = client.get(f"/fhir/Patient/{patient_id}/$everything{query}", headers=Tokens.headers(token))
    assert response.status_code == status, response.text
    body = response.json()
    if status == 200:
        Bundle.model_validate(body)
        assert body["type"] == "searchset"
    else:
        assert body["resourceType"] == "OperationOutcome"
    return body


def of_type(bundle: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle.get("entry", []) if e["resource"]["resourceType"] == kind]


def document_ids(bundle: dict[str, Any]) -> set[str]:
    return {r["id"] for r in of_type(bundle, "DocumentReference")}


def test_the_holder_gets_everything_but_what_is_held_back(
    client: TestClient, tokens: Tokens, dominique: dict[str, str]
) -> None:
    bundle = everything(client, tokens.for_patient(DOMINIQUE_INS), dominique["id"], "?_count=200")
    kinds = [e["resource"]["resourceType"] for e in bundle["entry"]]
    assert kinds[0] == "Patient" and kinds[-1] == "AuditEvent" and "Consent" in kinds
    assert of_type(bundle, "Patient")[0]["identifier"][0]["value"] == DOMINIQUE_INS
    assert document_ids(bundle) == {dominique[k] for k in ("vsm", "bio", "remb", "img")}
    assert bundle["total"] == len(bundle["entry"])
    assert all(e["search"]["mode"] == "match" for e in bundle["entry"])
    held = dominique["held"]
    assert all(held not in str(e["resource"]) for e in bundle["entry"])  # not even named in the history
    assert bundle["entry"][0]["fullUrl"] == f"http://testserver/fhir/Patient/{dominique['id']}"


def test_a_professional_gets_what_the_matrix_lets_them_read(
    client: TestClient, tokens: Tokens, platform: Platform, dominique: dict[str, str]
) -> None:
    doctor = everything(client, tokens.for_actor(DR_HOUSE), dominique["id"], "?_count=200")
    assert document_ids(doctor) == {dominique[k] for k in ("vsm", "bio", "remb", "held")}  # hidden one absent
    assert of_type(doctor, "AuditEvent") == []  # the access history is the holder's
    consents = of_type(doctor, "Consent")
    assert consents and all(
        a["reference"]["identifier"]["value"] == DR_HOUSE.id for c in consents for a in c["provision"]["actor"]
    )
    assert dominique["img"] not in str(doctor)
    nurse = everything(client, tokens.for_actor(NURSE_JOY), dominique["id"], "?_count=200")
    assert document_ids(nurse) == {dominique[k] for k in ("vsm", "bio", "held")}  # no reimbursement data
    with platform.uow() as uow:
        trail = [(r.action, r.actor_id) for r in uow.audit.for_patient(dominique["id"])]
    assert ("space.everything", DR_HOUSE.id) in trail and ("space.everything", NURSE_JOY.id) in trail


def test_a_professional_outside_the_care_team_is_refused_and_traced(
    client: TestClient, tokens: Tokens, platform: Platform, dominique: dict[str, str]
) -> None:
    refused = everything(client, tokens.for_actor(DR_LEROY), dominique["id"], status=403)
    assert "équipe de soins" in refused["issue"][0]["diagnostics"]
    with platform.uow() as uow:
        denied = [r for r in uow.audit.for_patient(dominique["id"]) if r.actor_id == DR_LEROY.id]
    assert [r.outcome for r in denied] == ["denied"]


def test_an_app_gets_what_its_scopes_and_the_holders_grant_cover(
    client: TestClient, tokens: Tokens, platform: Platform, dominique: dict[str, str]
) -> None:
    with platform.uow() as uow:
        access.add_grant(uow=uow, actor=patient_as(dominique["id"]), patient_id=dominique["id"], grantee_kind="app",
                         grantee_id=APP_ID, can_read=True, can_write=False, class_codes=frozenset({"11"}))  # fmt: skip
        uow.commit()
    scopes = ["patient/Patient.read", "patient/DocumentReference.rs"]
    app = tokens.for_app(APP_ID, scopes, patient_ins=DOMINIQUE_INS)
    bundle = everything(client, app, dominique["id"], "?_count=200")
    assert {e["resource"]["resourceType"] for e in bundle["entry"]} == {"Patient", "DocumentReference"}
    assert document_ids(bundle) == {dominique["vsm"]}  # the grant covers syntheses only
    only_documents = tokens.for_app(APP_ID, ["patient/DocumentReference.rs"], patient_ins=DOMINIQUE_INS)
    everything(client, only_documents, dominique["id"], status=403)
    wide = tokens.for_app(APP_ID, ["patient/*.read"], patient_ins=DOMINIQUE_INS)
    kinds = {e["resource"]["resourceType"] for e in everything(client, wide, dominique["id"])["entry"]}
    assert kinds == {"Patient", "DocumentReference"}  # no Consent, no AuditEvent: they are the holder's


def test_pages_follow_next_links_to_the_end(client: TestClient, tokens: Tokens, dominique: dict[str, str]) -> None:
    holder = tokens.for_patient(DOMINIQUE_INS)
    whole = everything(client, holder, dominique["id"], "?_count=200")
    seen: list[dict[str, Any]] = []
    page = everything(client, holder, dominique["id"], "?_count=3")
    first_total, pages = page["total"], 1
    while True:
        assert len(page["entry"]) <= 3
        seen.extend(e["resource"] for e in page["entry"])
        following = [link["url"] for link in page["link"] if link["relation"] == "next"]
        if not following:
            break
        assert "_count=3" in following[0] and "_offset=" in following[0] and "history-until=" in following[0]
        assert page["total"] == first_total  # the pages share the first page's snapshot of the history
        url = following[0].split("testserver")[-1]
        response = client.get(url, headers=Tokens.headers(holder))
        assert response.status_code == 200, response.text
        page = response.json()
        pages += 1
    assert pages >= 3
    settled = [(r["resourceType"], r["id"]) for r in seen if r["resourceType"] != "AuditEvent"]
    assert settled == [(e["resource"]["resourceType"], e["resource"]["id"]) for e in whole["entry"]
                       if e["resource"]["resourceType"] != "AuditEvent"]  # fmt: skip
    # The history grows with each reading, at the end: every entry of the first reading is on a page.
    history = {r["id"] for r in seen if r["resourceType"] == "AuditEvent"}
    assert {r["id"] for r in of_type(whole, "AuditEvent")} <= history


def test_type_and_since_narrow_the_answer(client: TestClient, tokens: Tokens, dominique: dict[str, str]) -> None:
    holder = tokens.for_patient(DOMINIQUE_INS)
    documents = everything(client, holder, dominique["id"], "?_type=DocumentReference,Patient&_count=200")
    assert {e["resource"]["resourceType"] for e in documents["entry"]} == {"Patient", "DocumentReference"}
    repeated = everything(client, holder, dominique["id"], "?_type=Patient&_type=Consent")
    assert {e["resource"]["resourceType"] for e in repeated["entry"]} == {"Patient", "Consent"}
    later = everything(client, holder, dominique["id"], "?_since=2099-01-01T00:00:00Z")
    assert [e["resource"]["resourceType"] for e in later["entry"]] == ["Patient"]
    today = everything(client, holder, dominique["id"], "?_since=2026-11-22T00:00:00%2B01:00&_type=DocumentReference")
    assert document_ids(today) == {dominique[k] for k in ("vsm", "bio", "remb", "img")}
    unknown = everything(client, holder, dominique["id"], "?_type=Nope", status=400)
    assert unknown["issue"][0]["expression"] == ["_type"]
    no_time = everything(client, holder, dominique["id"], "?_since=2026-11-22", status=400)
    assert no_time["issue"][0]["expression"] == ["_since"]
    everything(client, holder, dominique["id"], "?patient=x", status=400)
    everything(client, holder, dominique["id"], "?history-until=abc", status=400)


def test_the_capability_statement_lists_the_operation(client: TestClient) -> None:
    statement = client.get("/fhir/metadata").json()
    (patient,) = [r for r in statement["rest"][0]["resource"] if r["type"] == "Patient"]
    (operation,) = [o for o in patient["operation"] if o["name"] == "everything"]
    assert operation["definition"] == "http://hl7.org/fhir/OperationDefinition/Patient-everything"

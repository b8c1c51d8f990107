"""The agenda and the reimbursements on the FHIR API, both backends: Appointment create, read, search, cancel by
PATCH and $cancel (every resource validated with fhir.resources), an app's past event a 422 naming Appointment.start,
the app's scope and grant; ExplanationOfBenefit read and search as the matrix says; the iCalendar feed at its
secret address without a session; the CapabilityStatement."""

from __future__ import annotations

import datetime as dt
from typing import Any

import icalendar
import pytest
from fastapi.testclient import TestClient
from fhir.resources.R4B.appointment import Appointment
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.explanationofbenefit import ExplanationOfBenefit

from carnet.access import service as access
from carnet.bootstrap import Platform
from carnet.space import agenda, reimbursements
from tests.api.conftest import Tokens
from tests.builders import DR_HOUSE, NURSE_JOY, in_care_team, patient_as, qualified_patient

DOMINIQUE_INS = "279035121518989"
KIND = "https://carnet.sante.fr/fhir/CodeSystem/agenda-event-kind"
MODELS: dict[str, Any] = {"Appointment": Appointment, "ExplanationOfBenefit": ExplanationOfBenefit, "Bundle": Bundle}


def valid(body: dict[str, Any]) -> dict[str, Any]:
    MODELS[body["resourceType"]].model_validate(body)
    for entry in body.get("entry", []):
        MODELS[entry["resource"]["resourceType"]].model_validate(entry["resource"])
    return body


@pytest.fixture
def dominique(platform: Platform) -> str:
    patient_id = qualified_patient(platform)
    in_care_team(platform, patient_id, DR_HOUSE, NURSE_JOY)
    return patient_id


def holder(tokens: Tokens) -> dict[str, str]:
    return tokens.headers(tokens.for_patient(DOMINIQUE_INS))


def appointment(patient_id: str, start: dt.datetime, **extra: Any) -> dict[str, Any]:
    body = {
        "resourceType": "Appointment",
        "status": "booked",
        "appointmentType": {"coding": [{"system": KIND, "code": "appointment"}]},
        "description": "Consultation dermatologie",
        "start": start.isoformat(),
        "end": (start + dt.timedelta(minutes=30)).isoformat(),
        "participant": [
            {"actor": {"reference": f"Patient/{patient_id}"}, "status": "accepted"},
            {"actor": {"type": "Location", "display": "Cabinet, 3 place Clichy"}, "status": "accepted"},
        ],
    }
    body.update(extra)
    return body


def test_the_holder_creates_reads_searches_and_cancels_appointments(
    client: TestClient, tokens: Tokens, platform: Platform, dominique: str
) -> None:
    start = platform.clock.now() + dt.timedelta(days=4)
    created = client.post("/fhir/Appointment", json=appointment(dominique, start), headers=holder(tokens))
    assert created.status_code == 201, created.text
    body = valid(created.json())
    assert body["status"] == "booked" and created.headers["location"].endswith(f"/fhir/Appointment/{body['id']}")
    assert {"actor": {"type": "Location", "display": "Cabinet, 3 place Clichy"}, "status": "accepted"} in body[
        "participant"
    ]
    read = client.get(f"/fhir/Appointment/{body['id']}", headers=tokens.headers(tokens.for_actor(DR_HOUSE)))
    assert read.status_code == 200 and valid(read.json())["description"] == "Consultation dermatologie"
    nurse = client.get(f"/fhir/Appointment?patient=Patient/{dominique}", headers=tokens.headers(
        tokens.for_actor(NURSE_JOY)))  # fmt: skip
    assert nurse.status_code == 403 and nurse.json()["resourceType"] == "OperationOutcome"
    second = valid(client.post("/fhir/Appointment", json=appointment(dominique, start + dt.timedelta(days=30)),
                               headers=holder(tokens)).json())  # fmt: skip
    found = valid(client.get(f"/fhir/Appointment?date=lt{(start + dt.timedelta(days=1)).date()}",
                             headers=holder(tokens)).json())  # fmt: skip
    assert [e["resource"]["id"] for e in found["entry"]] == [body["id"]]
    patched = client.patch(f"/fhir/Appointment/{body['id']}", headers=holder(tokens),
                           json=[{"op": "replace", "path": "/status", "value": "cancelled"}])  # fmt: skip
    assert patched.status_code == 200 and valid(patched.json())["status"] == "cancelled"
    op = client.post(f"/fhir/Appointment/{second['id']}/$cancel", headers=holder(tokens))
    assert op.status_code == 200 and op.json()["status"] == "cancelled"
    other = client.patch(f"/fhir/Appointment/{body['id']}", headers=holder(tokens),
                         json=[{"op": "replace", "path": "/status", "value": "booked"}])  # fmt: skip
    assert other.status_code == 422
    cancelled = valid(client.get("/fhir/Appointment?status=cancelled", headers=holder(tokens)).json())
    assert cancelled["total"] == 2


def test_bad_appointments_are_operation_outcomes_naming_the_element(
    client: TestClient, tokens: Tokens, platform: Platform, dominique: str
) -> None:
    start = platform.clock.now() + dt.timedelta(days=4)
    malformed = client.post("/fhir/Appointment", json={**appointment(dominique, start), "start": "demain matin"},
                            headers=holder(tokens))  # fmt: skip
    assert malformed.status_code == 400
    assert malformed.json()["issue"][0]["expression"][0].startswith("Appointment.start")
    unknown = client.post("/fhir/Appointment", json=appointment(dominique, start, status="sometime"),
                          headers=holder(tokens))  # fmt: skip
    assert unknown.status_code == 422 and unknown.json()["issue"][0]["expression"] == ["Appointment.status"]
    backwards = appointment(dominique, start, end=(start - dt.timedelta(hours=1)).isoformat())
    answer = client.post("/fhir/Appointment", json=backwards, headers=holder(tokens))
    assert answer.status_code == 422 and answer.json()["issue"][0]["expression"] == ["Appointment.end"]


def test_an_app_needs_scope_and_grant_may_not_add_a_past_event_and_cancels_only_its_own(
    client: TestClient, tokens: Tokens, platform: Platform, dominique: str
) -> None:
    now = platform.clock.now()
    scoped = tokens.headers(tokens.for_app("app-rdv", ["patient/Appointment.cruds"], patient_ins=DOMINIQUE_INS))
    unscoped = tokens.headers(tokens.for_app("app-rdv", ["patient/Observation.rs"], patient_ins=DOMINIQUE_INS))
    future = appointment(dominique, now + dt.timedelta(days=2))
    assert client.post("/fhir/Appointment", json=future, headers=unscoped).status_code == 403
    assert client.post("/fhir/Appointment", json=future, headers=scoped).status_code == 403, "no grant yet"
    with platform.uow() as uow:
        access.add_grant(
            uow=uow,
            actor=patient_as(dominique),
            patient_id=dominique,
            grantee_kind="app",
            grantee_id="app-rdv",
            can_read=True,
            can_write=True,
            class_codes=frozenset({"agenda"}),
        )
        uow.commit()
    past = client.post("/fhir/Appointment", json=appointment(dominique, now - dt.timedelta(days=1)), headers=scoped)
    assert past.status_code == 422
    assert [i["expression"] for i in past.json()["issue"]] == [["Appointment.start"]]
    made = client.post("/fhir/Appointment", json=future, headers=scoped)
    assert made.status_code == 201 and valid(made.json())["status"] == "booked"

    # The app cancels the event it added, never the holder's.
    cancelled = client.post(f"/fhir/Appointment/{made.json()['id']}/$cancel", headers=scoped)
    assert cancelled.status_code == 200 and valid(cancelled.json())["status"] == "cancelled"
    theirs = client.post("/fhir/Appointment", json=future, headers=holder(tokens))
    refused = client.post(f"/fhir/Appointment/{theirs.json()['id']}/$cancel", headers=scoped)
    assert refused.status_code == 403 and refused.json()["resourceType"] == "OperationOutcome"
    still = client.get(f"/fhir/Appointment/{theirs.json()['id']}", headers=holder(tokens))
    assert still.json()["status"] == "booked"


def test_the_feed_is_served_without_a_session_at_its_secret_address(
    client: TestClient, platform: Platform, dominique: str
) -> None:
    with platform.uow() as uow:
        agenda.add_event(
            uow=uow,
            actor=patient_as(dominique),
            patient_id=dominique,
            event=agenda.EventIn(
                kind="screening", title="Dépistage, côlon; test", start_at=platform.clock.now() + dt.timedelta(days=8)
            ),
        )
        token = agenda.feed_token(uow=uow, actor=patient_as(dominique), patient_id=dominique)
        uow.commit()
    answer = client.get(f"/agenda/{token}.ics")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/calendar")
    cal = icalendar.Calendar.from_ical(answer.content)
    assert [str(e["SUMMARY"]) for e in cal.walk("VEVENT")] == ["Dépistage, côlon; test"]
    assert client.get("/agenda/not-the-token.ics").status_code == 404


def test_reimbursements_as_explanation_of_benefit_for_the_holder_and_doctors_only(
    client: TestClient, tokens: Tokens, platform: Platform, dominique: str
) -> None:
    feed = ("line_id;ins;care_date;act_code;act_label;professional;paid;reimbursed;left_to_pay\r\n"
            f"AM-1;{DOMINIQUE_INS};2026-10-02;GS;Consultation;Dr Claire MOREAU;30.00;20.00;\r\n"
            f"AM-2;{DOMINIQUE_INS};2026-11-02;;Pharmacie;;10.00;6.50;3.50\r\n").encode()  # fmt: skip
    with platform.uow() as uow:
        reimbursements.import_feed(uow=uow, data=feed, fmt="csv")
        uow.commit()
    mine = valid(client.get("/fhir/ExplanationOfBenefit", headers=holder(tokens)).json())
    assert mine["total"] == 2
    first = mine["entry"][1]["resource"]
    assert first["item"][0]["servicedDate"] == "2026-10-02"
    assert [(t["category"]["coding"][0]["code"], t["amount"]["value"]) for t in first["total"]] == [
        ("submitted", 30.0), ("benefit", 20.0), ("copay", 10.0)]  # fmt: skip
    doctor = client.get(f"/fhir/ExplanationOfBenefit?patient=Patient/{dominique}&created=ge2026-11-01",
                        headers=tokens.headers(tokens.for_actor(DR_HOUSE)))  # fmt: skip
    assert doctor.status_code == 200 and valid(doctor.json())["total"] == 1
    one = client.get(f"/fhir/ExplanationOfBenefit/{first['id']}", headers=tokens.headers(tokens.for_actor(DR_HOUSE)))
    assert one.status_code == 200 and valid(one.json())["id"] == first["id"]
    nurse = client.get(f"/fhir/ExplanationOfBenefit?patient=Patient/{dominique}",
                       headers=tokens.headers(tokens.for_actor(NURSE_JOY)))  # fmt: skip
    assert nurse.status_code == 403


def test_the_capability_statement_lists_appointment_and_explanation_of_benefit(client: TestClient) -> None:
    statement = client.get("/fhir/metadata").json()
    types = {r["type"]: r for r in statement["rest"][0]["resource"]}
    assert {i["code"] for i in types["Appointment"]["interaction"]} == {"read", "search-type", "create", "patch"}
    assert types["Appointment"]["operation"][0]["name"] == "cancel"
    assert {i["code"] for i in types["ExplanationOfBenefit"]["interaction"]} == {"read", "search-type"}

"""Audit entries as FHIR R4 AuditEvents, validated with fhir.resources (R4B, structurally R4 for AuditEvent)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from fhir.resources.R4B.auditevent import AuditEvent
from fhir.resources.R4B.bundle import Bundle

from carnet.audit.fhir import fhir_action, history_bundle, to_audit_event
from carnet.audit.store import AuditRow

AT = dt.datetime(2026, 11, 22, 9, 30, tzinfo=dt.UTC)
HOLDER = "3f0c9a52-8a1e-4c39-9d3e-4b2f7e0b1a11"


def entry(**overrides: Any) -> AuditRow:
    values: dict[str, Any] = {
        "id": 17,
        "at": AT,
        "actor_kind": "professional",
        "actor_id": "810000000001",
        "actor_name": "Dr Grégoire House",
        "actor_profession": "10",
        "actor_organisation": "Hôpital de Princeton",
        "auth_method": "cps",
        "action": "document.read",
        "patient_id": HOLDER,
        "outcome": "success",
        "mode": "normal",
        "decision": {"allowed": True, "reasons": ["care_team"]},
        "detail": {"document": "9d7e6f1a-0000-4000-8000-000000000001"},
        "request_id": "req-1",
        "chain_key": HOLDER,
        "chain_seq": 4,
        "prev_hash": "a" * 64,
        "hash": "b" * 64,
    }
    values.update(overrides)
    return AuditRow(**values)


VARIANTS = {
    "a professional reads a document": {},
    "in an emergency": {"mode": "emergency", "decision": {"allowed": True, "reasons": ["emergency_access"]}},
    "in regulation": {"mode": "regulation", "actor_organisation": "SAMU 51"},
    "a refused read": {"outcome": "denied", "decision": {"allowed": False, "reasons": ["not_in_care_team"]}},
    "the holder lists": {
        "actor_kind": "patient",
        "actor_id": HOLDER,
        "actor_name": None,
        "actor_profession": None,
        "actor_organisation": None,
        "action": "document.list",
        "detail": {"returned": []},
        "decision": None,
    },
    "a secretariat deposits": {
        "actor_kind": "secretariat",
        "actor_id": "CPE-000000101",
        "actor_profession": None,
        "action": "document.deposit",
    },
    "the platform, about no patient": {
        "actor_kind": "system",
        "actor_id": "carnet",
        "actor_name": None,
        "actor_profession": None,
        "actor_organisation": None,
        "action": "identity.insi_call",
        "patient_id": None,
        "detail": None,
        "decision": None,
    },
    "an identity search": {"action": "identity.search", "detail": None},
    "a failure": {"outcome": "failure", "detail": {"reason": "téléservice indisponible"}},
}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_every_entry_becomes_a_valid_audit_event(variant: str) -> None:
    event = to_audit_event(entry(**VARIANTS[variant]))
    parsed = AuditEvent.model_validate(event)
    assert parsed.recorded is not None
    assert event["resourceType"] == "AuditEvent"
    assert event["agent"][0]["requestor"] is True
    assert event["source"]["observer"] == {"display": "Carnet"}


def test_a_professional_read_in_detail() -> None:
    event = to_audit_event(entry())
    assert event["type"] == {
        "system": "http://dicom.nema.org/resources/ontology/DCM",
        "code": "110110",
        "display": "Patient Record",
    }
    assert event["subtype"][0]["code"] == "document.read"
    assert (event["action"], event["outcome"], event["recorded"]) == ("R", "0", "2026-11-22T09:30:00+00:00")
    requestor = event["agent"][0]
    assert requestor["who"]["identifier"] == {"system": "urn:oid:1.2.250.1.71.4.2.1", "value": "810000000001"}
    assert requestor["name"] == "Dr Grégoire House"
    assert requestor["role"][0]["coding"][0] == {
        "system": "urn:oid:1.2.250.1.71.1.2.7",
        "code": "10",
        "display": "Médecin",
    }
    assert event["agent"][1]["who"] == {"display": "Hôpital de Princeton"}
    assert [e["what"]["reference"] for e in event["entity"]] == [
        f"Patient/{HOLDER}",
        "DocumentReference/9d7e6f1a-0000-4000-8000-000000000001",
    ]
    assert "purposeOfEvent" not in event


@pytest.mark.parametrize("mode", ["emergency", "regulation"])
def test_an_emergency_or_regulation_access_carries_etreat(mode: str) -> None:
    event = to_audit_event(entry(mode=mode))
    etreat = {"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "ETREAT"}
    coding = event["purposeOfEvent"][0]["coding"][0]
    assert {k: coding[k] for k in ("system", "code")} == etreat
    assert event["agent"][0]["purposeOfUse"][0]["coding"][0]["code"] == "ETREAT"


def test_a_refusal_is_a_minor_failure_with_its_reasons() -> None:
    event = to_audit_event(entry(outcome="denied", decision={"allowed": False, "reasons": ["not_in_care_team"]}))
    assert (event["outcome"], event["outcomeDesc"]) == ("4", "not_in_care_team")


def test_the_holder_is_referenced_as_the_patient_and_platform_entries_are_rest() -> None:
    holder = to_audit_event(entry(**VARIANTS["the holder lists"]))
    assert holder["agent"][0]["who"] == {"reference": f"Patient/{HOLDER}"}
    assert holder["type"]["code"] == "110112"  # Query
    platform = to_audit_event(entry(**VARIANTS["the platform, about no patient"]))
    assert platform["type"]["code"] == "rest"
    assert "entity" not in platform
    assert platform["agent"][0]["type"]["coding"][0]["code"] == "dataprocessor"


@pytest.mark.parametrize(
    ("action", "code"),
    [
        ("identity.create", "C"),
        ("document.deposit", "C"),
        ("document.read", "R"),
        ("document.read_metadata", "R"),
        ("audit.history", "R"),
        ("document.hide", "U"),
        ("identity.change_traits", "U"),
        ("document.delete", "D"),
        ("document.search", "E"),
        ("document.list", "E"),
        ("identity.insi_call", "E"),
        ("something.new", "E"),
    ],
)
def test_actions_map_to_crude(action: str, code: str) -> None:
    assert fhir_action(action) == code


def test_the_history_is_a_valid_collection_bundle() -> None:
    rows = [entry(id=i, hash=f"{i:064x}") for i in range(1, 4)] + [entry(id=9, mode="emergency")]
    bundle = history_bundle(rows, timestamp=AT)
    Bundle.model_validate(bundle)
    assert bundle["type"] == "collection"
    assert bundle["timestamp"] == "2026-11-22T09:30:00+00:00"
    assert [e["resource"]["id"] for e in bundle["entry"]] == ["1", "2", "3", "9"]
    assert len({e["fullUrl"] for e in bundle["entry"]}) == 4
    assert all(e["fullUrl"].startswith("urn:uuid:") for e in bundle["entry"])

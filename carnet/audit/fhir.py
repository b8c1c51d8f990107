"""The access history as FHIR: one ``AuditEvent`` per audit entry, a ``Bundle`` for the history.

FHIR release: **R4** (4.0.1), validated with ``fhir.resources.R4B`` (4.3.0). fhir.resources 8 defaults to R5,
whose AuditEvent was redesigned (``category``, ``code``, ``patient``, ``authorization``...); R4B's AuditEvent is
structurally R4's (same elements, cardinalities and bindings), so what validates against R4B is a valid R4
AuditEvent.

Mapping of one entry:

* ``type``: DICOM ``110110`` Patient Record (``110112`` Query for searches and listings); the IHE/HL7
  ``audit-event-type`` ``rest`` for entries about no patient; ``subtype``: the action code (``document.read``);
* ``action``: C, R, U, D or E from the action's verb; ``recorded``: the instant (UTC);
* ``outcome``: ``0`` success, ``4`` denied (minor failure), ``8`` failure; ``outcomeDesc``: the reasons;
* ``agent``: the requestor (``requestor`` true): identifier ``urn:oid:1.2.250.1.71.4.2.1`` (national
  identifier of health professionals, RPPS/ADELI) for professionals, a ``Patient`` reference for the holder,
  name, profession (TRE_G15, ``urn:oid:1.2.250.1.71.1.2.7``) as role; their organisation as a second agent;
* ``entity``: the patient (``Patient/<id>``, role Patient) and the document (``DocumentReference/<id>``);
* ``purposeOfEvent`` (and the agent's ``purposeOfUse``) ``ETREAT`` (v3-ActReason, emergency treatment) for an
  emergency (bris de glace) or regulation access.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from typing import Any

from carnet.audit.model import AccessMode
from carnet.audit.service import KIND_LABELS, action_label, profession_label

__all__ = ["FHIR_RELEASE", "history_bundle", "to_audit_event"]

FHIR_RELEASE = "4.0.1"

DCM = "http://dicom.nema.org/resources/ontology/DCM"
AUDIT_EVENT_TYPE = "http://terminology.hl7.org/CodeSystem/audit-event-type"
ACTION_SYSTEM = "urn:carnet:audit:action"
ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
ROLE_TYPE = "http://terminology.hl7.org/CodeSystem/extra-security-role-type"
ROLE_CLASS = "http://terminology.hl7.org/CodeSystem/v3-RoleClass"
SOURCE_TYPE = "http://terminology.hl7.org/CodeSystem/security-source-type"
ENTITY_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
OBJECT_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"
PROFESSIONAL_ID_SYSTEM = "urn:oid:1.2.250.1.71.4.2.1"
PROFESSION_SYSTEM = "urn:oid:1.2.250.1.71.1.2.7"
_BUNDLE_NAMESPACE = uuid.UUID("5b0f7c1e-8a3c-4d3e-9f1a-6c61726e6574")

_QUERY_VERBS = frozenset({"list", "search", "find_by_ins", "collisions"})
_VERB_ACTION = {
    "create": "C",
    "deposit": "C",
    "deposit_repeat": "C",
    "read": "R",
    "read_metadata": "R",
    "history": "R",
    "collisions": "R",
    "find_by_ins": "R",
    "delete": "D",
    "list": "E",
    "search": "E",
    "insi_call": "E",
}
_UPDATE_VERBS = frozenset(
    {
        "hide",
        "show",
        "hold_back",
        "release",
        "representatives",
        "change_traits",
        "attach_ins",
        "merge",
        "merged_into",
        "insi_match",
        "id_document",
        "exception_attestation",
        "trait_change",
        "trait_change_with_document",
        "insi_invalidated",
    }
)
_OUTCOME = {"success": "0", "denied": "4", "failure": "8", "error": "8"}
ETREAT = {"system": ACT_REASON, "code": "ETREAT", "display": "Emergency Treatment"}


def _verb(action: str) -> str:
    return action.rsplit(".", 1)[-1]


def fhir_action(action: str) -> str:
    """C, R, U, D or E for an action code."""
    verb = _verb(action)
    if verb in _UPDATE_VERBS:
        return "U"
    return _VERB_ACTION.get(verb, "E")


def _event_type(action: str, patient_id: str | None) -> dict[str, str]:
    if patient_id is None:
        return {"system": AUDIT_EVENT_TYPE, "code": "rest", "display": "RESTful Operation"}
    if _verb(action) in _QUERY_VERBS:
        return {"system": DCM, "code": "110112", "display": "Query"}
    return {"system": DCM, "code": "110110", "display": "Patient Record"}


def _purpose(mode: AccessMode) -> list[dict[str, Any]] | None:
    if not mode.is_emergency:
        return None
    return [{"coding": [ETREAT], "text": mode.label_fr}]


def _requestor(row: Any, mode: AccessMode) -> dict[str, Any]:
    human = row.actor_kind not in ("system", "app")
    agent: dict[str, Any] = {
        "type": {
            "coding": [
                {"system": ROLE_TYPE, "code": "humanuser", "display": "human user"}
                if human
                else {"system": ROLE_TYPE, "code": "dataprocessor", "display": "data processor"}
            ]
        },
        "requestor": True,
    }
    if row.actor_kind == "professional":
        who: dict[str, Any] = {"identifier": {"system": PROFESSIONAL_ID_SYSTEM, "value": row.actor_id}}
    elif row.actor_kind == "patient" and row.patient_id and row.actor_id == row.patient_id:
        who = {"reference": f"Patient/{row.actor_id}"}
    else:
        who = {"identifier": {"value": row.actor_id}}
    if row.actor_name:
        who["display"] = row.actor_name
        agent["name"] = row.actor_name
    agent["who"] = who
    roles: list[dict[str, Any]] = [{"text": KIND_LABELS.get(row.actor_kind, row.actor_kind)}]
    if row.actor_profession:
        roles.insert(
            0,
            {
                "coding": [
                    {
                        "system": PROFESSION_SYSTEM,
                        "code": row.actor_profession,
                        "display": profession_label(row.actor_profession),
                    }
                ]
            },
        )
    agent["role"] = roles
    purpose = _purpose(mode)
    if purpose:
        agent["purposeOfUse"] = purpose
    return agent


def _entities(row: Any) -> list[dict[str, Any]]:
    entities: list[dict[str, Any]] = []
    if row.patient_id:
        entities.append(
            {
                "what": {"reference": f"Patient/{row.patient_id}"},
                "type": {"system": ENTITY_TYPE, "code": "1", "display": "Person"},
                "role": {"system": OBJECT_ROLE, "code": "1", "display": "Patient"},
            }
        )
    document = (row.detail or {}).get("document")
    if document:
        entities.append(
            {
                "what": {"reference": f"DocumentReference/{document}"},
                "type": {"system": ENTITY_TYPE, "code": "2", "display": "System Object"},
                "role": {"system": OBJECT_ROLE, "code": "3", "display": "Report"},
            }
        )
    return entities


def _reasons(row: Any) -> list[str]:
    reasons = [str(r) for r in (row.decision or {}).get("reasons", [])]
    reason = (row.detail or {}).get("reason")
    if reason:
        reasons.append(str(reason))
    return reasons


def to_audit_event(row: Any, *, validate: bool = True) -> dict[str, Any]:
    """The FHIR R4 ``AuditEvent`` of one audit entry (an :class:`~carnet.audit.store.AuditRow`), as JSON."""
    mode = AccessMode(row.mode or "normal")
    event: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "id": str(row.id),
        "type": _event_type(row.action, row.patient_id),
        "subtype": [{"system": ACTION_SYSTEM, "code": row.action, "display": action_label(row.action)}],
        "action": fhir_action(row.action),
        "recorded": row.at.astimezone(dt.UTC).isoformat(),
        "outcome": _OUTCOME.get(row.outcome, "8"),
    }
    reasons = _reasons(row)
    if reasons:
        event["outcomeDesc"] = " ; ".join(reasons)
    purpose = _purpose(mode)
    if purpose:
        event["purposeOfEvent"] = purpose
    agents = [_requestor(row, mode)]
    if row.actor_organisation:
        agents.append(
            {
                "type": {"coding": [{"system": ROLE_CLASS, "code": "PROV", "display": "healthcare provider"}]},
                "who": {"display": row.actor_organisation},
                "requestor": False,
            }
        )
    event["agent"] = agents
    event["source"] = {
        "site": "carnet",
        "observer": {"display": "Carnet"},
        "type": [{"system": SOURCE_TYPE, "code": "4", "display": "Application Server"}],
    }
    entities = _entities(row)
    if entities:
        event["entity"] = entities
    if validate:
        from fhir.resources.R4B.auditevent import AuditEvent

        AuditEvent.model_validate(event)
    return event


def history_bundle(rows: Iterable[Any], *, timestamp: dt.datetime | None = None) -> dict[str, Any]:
    """A ``collection`` Bundle of the AuditEvents of ``rows`` (a holder's access history), as JSON."""
    entries = []
    for row in rows:
        event = to_audit_event(row, validate=False)
        name = getattr(row, "hash", None) or str(row.id)
        entries.append({"fullUrl": f"urn:uuid:{uuid.uuid5(_BUNDLE_NAMESPACE, name)}", "resource": event})
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "collection", "entry": entries}
    if timestamp is not None:
        bundle["timestamp"] = timestamp.astimezone(dt.UTC).isoformat()
    from fhir.resources.R4B.bundle import Bundle

    Bundle.model_validate(bundle)
    return bundle

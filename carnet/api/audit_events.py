"""``AuditEvent`` search: a patient's access history (who did what on the record, when, in which mode, why).

FHIR release: **R4** (4.0.1) AuditEvent (the mapping is :mod:`carnet.audit.fhir`; validated with
``fhir.resources.R4B``). The holder and their legal representatives read it (READ_AUDIT in the access decision),
and so does the platform operator (an operator token, ``carnet_role: operator``); professionals and apps do not.
Reading the history is itself traced (``audit.history``), after the entries read. Entries come in the
chain's order, oldest first: a reading appends to the history, so this order keeps the pages stable.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from carnet.access import service as access
from carnet.api import _paging as p
from carnet.api.deps import CallerDep, UowDep, actor_on, request_context, searched_patient_id
from carnet.api.outcome import FhirError, fhir_response
from carnet.audit.fhir import PROFESSIONAL_ID_SYSTEM, fhir_action, to_audit_event
from carnet.auth.scopes import require_scope

router = APIRouter(tags=["fhir"])

ACTIONS = ("C", "R", "U", "D", "E")
OUTCOMES = ("0", "4", "8", "12")
_OUTCOME_OF_ROW = {"success": "0", "denied": "4", "failure": "8", "error": "8"}

CAPABILITIES: list[dict[str, Any]] = [
    {
        "type": "AuditEvent",
        "profile": "http://hl7.org/fhir/StructureDefinition/AuditEvent",
        "interaction": [{"code": "search-type"}],
        "documentation": "Historique des accès au dossier : le titulaire, ses représentants légaux, l'opérateur",
        "searchParam": [
            {"name": "patient", "type": "reference", "documentation": "Patient/<id> (par défaut : son propre dossier)"},
            {"name": "date", "type": "date", "documentation": "date de l'accès (ge, le, gt, lt, eq), répétable"},
            {"name": "agent", "type": "reference",
             "documentation": f"qui : Practitioner/<idNatPs>, {PROFESSIONAL_ID_SYSTEM}|<idNatPs> ou l'identifiant"},
            {"name": "action", "type": "token", "documentation": "C | R | U | D | E"},
            {"name": "subtype", "type": "token", "documentation": "code Carnet de l'action (document.read...)"},
            {"name": "outcome", "type": "token", "documentation": "0 réussi | 4 refusé | 8 échec"},
        ],
    }
]  # fmt: skip


def _agent(value: str) -> str:
    if "|" in value:
        system, code = p.token(value, "agent")
        if system not in (None, PROFESSIONAL_ID_SYSTEM):
            raise FhirError(f"agent : système « {system} » inconnu ({PROFESSIONAL_ID_SYSTEM})", field="agent")
        return code
    return value.rstrip("/").split("/")[-1]


def _token_in(found: dict[str, list[str]], name: str, allowed: tuple[str, ...]) -> str | None:
    value = p.one(found, name)
    if value is None:
        return None
    _system, code = p.token(value, name)
    if code not in allowed:
        raise FhirError(f"{name} : « {code} » inconnu ({' | '.join(allowed)})", field=name)
    return code


@router.get("/fhir/AuditEvent", response_class=JSONResponse)
def search_audit_events(request: Request, caller: CallerDep, uow: UowDep) -> JSONResponse:
    """The access history of one record (``search-type``), oldest first."""
    require_scope(caller, "AuditEvent", "s")
    found = p.params(request, ("patient", "date", "agent", "action", "subtype", "outcome"), repeatable=("date",))
    page = p.paging(found)
    patient_id = searched_patient_id(uow, caller, found)
    dates = [p.date_bound(value, "date") for value in found.get("date", [])]
    agent = _agent(value) if (value := p.one(found, "agent")) is not None else None
    action = _token_in(found, "action", ACTIONS)
    outcome = _token_in(found, "outcome", OUTCOMES)
    subtype = p.token(value, "subtype")[1] if (value := p.one(found, "subtype")) is not None else None
    rows = access.read_history(uow=uow, actor=actor_on(uow, caller, patient_id), patient_id=patient_id,
                               ctx=request_context(request, uow))  # fmt: skip
    kept = [
        row
        for row in rows
        if all(bound.matches(row.at) for bound in dates)
        and (agent is None or row.actor_id == agent)
        and (action is None or fhir_action(row.action) == action)
        and (outcome is None or _OUTCOME_OF_ROW.get(row.outcome, "8") == outcome)
        and (subtype is None or row.action == subtype)
    ]
    events = [to_audit_event(row) for row in kept[page.offset : page.offset + page.count]]
    uow.commit()
    return fhir_response(p.searchset(request, events, total=len(kept), page=page))

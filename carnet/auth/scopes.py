"""SMART on FHIR scopes of app tokens: ``patient/DocumentReference.rs``, ``system/*.read`` (v1 and v2 syntax).

An app may do an interaction on a resource type only when one of its scopes covers it; the holder's grant in
the access decision bounds it further. Professionals and patients have no scopes: the access rules alone decide.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from carnet.access.model import Actor, ActorKind
from carnet.auth.claims import Caller
from carnet.errors import Forbidden

if TYPE_CHECKING:
    from carnet.storage.uow import UnitOfWork

_SCOPE = re.compile(r"^(patient|user|system)/(\*|[A-Z][A-Za-z]+)\.(\*|read|write|[cruds]+)$")
_V1 = {"read": "rs", "write": "cud", "*": "cruds"}
INTERACTIONS = frozenset("cruds")  # create, read, update, delete, search


def permits(scopes: frozenset[str], resource_type: str, interaction: str) -> bool:
    """Whether any scope covers ``interaction`` (one of c, r, u, d, s) on ``resource_type``."""
    if interaction not in INTERACTIONS:
        raise ValueError(f"unknown interaction {interaction!r}")
    for scope in scopes:
        match = _SCOPE.match(scope)
        if match is None:
            continue
        _context, target, rights = match.groups()
        if target not in ("*", resource_type):
            continue
        if interaction in _V1.get(rights, rights):
            return True
    return False


def _refusal(caller: Caller, resource_type: str, interaction: str) -> Forbidden | None:
    if caller.kind != ActorKind.APP or permits(caller.scopes, resource_type, interaction):
        return None
    return Forbidden(
        f"la portée de l'application ne couvre pas {resource_type} ({interaction}) ; portées : "
        + (" ".join(sorted(caller.scopes)) or "aucune")
    )


def require_scope(caller: Caller, resource_type: str, interaction: str) -> None:
    """Refuse an app whose scopes do not cover the interaction; other callers pass (the access rules decide)."""
    refused = _refusal(caller, resource_type, interaction)
    if refused is not None:
        raise refused


def require_scope_traced(uow: UnitOfWork, caller: Caller, resource_type: str, interaction: str, *, trace: str) -> None:
    """:func:`require_scope`, the refusal of an app traced at once (``trace``, outcome denied) in the history of the
    holder its token names: an app trying to add what the holder did not let it feed leaves a trace, as a refusal
    of the access decision does."""
    refused = _refusal(caller, resource_type, interaction)
    if refused is None:
        return
    from carnet.audit import service as audit

    patient = uow.patients.by_ins(caller.ins) if caller.ins else None
    if patient is not None:
        actor = Actor(kind=ActorKind.APP, id=caller.subject, auth_method=caller.auth_method, name=caller.name)
        audit.record_now(uow=uow, actor=actor, action=trace, patient_id=patient.id,
                         detail={"reason": refused.message[:300], "resource": resource_type,
                                 "interaction": interaction})  # fmt: skip
    raise refused

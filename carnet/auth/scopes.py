"""SMART on FHIR scopes of app tokens: ``patient/DocumentReference.rs``, ``system/*.read`` (v1 and v2 syntax).

An app may do an interaction on a resource type only when one of its scopes covers it; the holder's grant in
the access decision bounds it further. Professionals and patients have no scopes: the access rules alone decide.
"""

from __future__ import annotations

import re

from carnet.access.model import ActorKind
from carnet.auth.claims import Caller
from carnet.errors import Forbidden

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


def require_scope(caller: Caller, resource_type: str, interaction: str) -> None:
    """Refuse an app whose scopes do not cover the interaction; other callers pass (the access rules decide)."""
    if caller.kind != ActorKind.APP:
        return
    if not permits(caller.scopes, resource_type, interaction):
        raise Forbidden(
            f"la portée de l'application ne couvre pas {resource_type} ({interaction}) ; portées : "
            + (" ".join(sorted(caller.scopes)) or "aucune")
        )

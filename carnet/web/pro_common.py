"""What the professional portal's pages share: who may use them, how a patient is shown, and the emergency
declarations (bris de glace) kept per professional and patient in a signed cookie.

An emergency declaration is made through :func:`carnet.access.service.declare_emergency` (the decision in emergency
mode enforced, the declaration traced with its justification). The cookie (``carnet_urgence``, HMAC-signed, HttpOnly)
then remembers it for :data:`EMERGENCY_LIFETIME` seconds, bound to the professional and to the session it was made
in, so that every read of that patient's record made from the portal carries the emergency mode and the
justification (:func:`reading_context`) and shows up marked in the patient's access history. Nothing is trusted
from the cookie but the justification text: the decision is made again on every read.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from carnet.access import service as access
from carnet.access.model import ActorKind, Context, Mode
from carnet.auth.claims import Caller
from carnet.errors import Forbidden
from carnet.identity import service as identities
from carnet.identity.model import PatientIdentity
from carnet.identity.status import may_share
from carnet.settings import Settings
from carnet.storage.uow import UnitOfWork
from carnet.web import session as web_session

EMERGENCY_COOKIE = "carnet_urgence"
EMERGENCY_LIFETIME = 2 * 3600  # seconds an emergency declaration is used for the reads that follow it
MAX_DECLARATIONS = 3  # patients remembered at once (the oldest go first; the cookie must stay small)
_PURPOSE = "emergency"


def professional_only(caller: Caller) -> None:
    """The professional portal is for health professionals and their secretariat; anyone else is refused."""
    if caller.kind not in (ActorKind.PROFESSIONAL, ActorKind.SECRETARIAT):
        raise Forbidden("l'espace professionnel est réservé aux professionnels de santé et à leur secrétariat")


def identity_view(uow: UnitOfWork, actor: Any, identity: PatientIdentity) -> dict[str, Any]:
    """What the pages show of an identity: status, INS when qualified, collision warnings."""
    collisions = []
    for collision in identities.collisions(uow=uow, actor=actor, patient_id=identity.id):
        other = identities.get(uow=uow, actor=actor, patient_id=collision.patient_id)
        if other is not None:
            collisions.append({"name": other.display_name, "birth_date": other.traits.birth_date,
                               "status": other.status.label_fr, "reasons": ", ".join(collision.reasons)})  # fmt: skip
    qualified = identity.ins is not None and may_share(identity.status)
    return {"id": identity.id, "name": identity.display_name, "birth_date": identity.traits.birth_date,
            "sex": identity.traits.sex, "birth_place": identity.traits.birth_place,
            "status": identity.status.label_fr, "qualified": qualified,
            "ins": identity.ins.value if qualified and identity.ins else None, "collisions": collisions}  # fmt: skip


# --- emergency declarations -----------------------------------------------------------------------------------


def _session_key(request: Request) -> str:
    """A digest of this session's CSRF token: a declaration ends with the session it was made in."""
    session = web_session.session_of(request) or {}
    return hashlib.sha256(str(session.get("csrf", "")).encode()).hexdigest()[:16]


def _declarations(request: Request, caller: Caller) -> dict[str, list[Any]]:
    """The live declarations of this professional in this session: ``{patient_id: [justification, until]}``."""
    settings: Settings = request.app.state.settings
    payload = web_session.unsign(settings, _PURPOSE, request.cookies.get(EMERGENCY_COOKIE))
    if not payload or payload.get("sub") != caller.subject or payload.get("sid") != _session_key(request):
        return {}
    now = time.time()
    found = payload.get("d")
    if not isinstance(found, dict):
        return {}
    return {
        str(patient_id): [str(value[0]), int(value[1])]
        for patient_id, value in found.items()
        if isinstance(value, list) and len(value) == 2 and isinstance(value[1], int) and value[1] > now
    }


def emergency_of(request: Request, caller: Caller, patient_id: str) -> tuple[str, int] | None:
    """This professional's live declaration for ``patient_id``: the justification and its end (epoch seconds)."""
    found = _declarations(request, caller).get(patient_id)
    return (found[0], found[1]) if found else None


def reading_context(request: Request, uow: UnitOfWork, caller: Caller, patient_id: str | None) -> Context | None:
    """The context of a read of ``patient_id``'s record: emergency mode with its justification while a declaration
    lives, else None (the services then decide in normal mode)."""
    found = emergency_of(request, caller, patient_id) if patient_id else None
    if found is None:
        return None
    return access.context(uow, mode=Mode.EMERGENCY, justification=found[0])


def _store(request: Request, response: Response, caller: Caller, declarations: dict[str, list[Any]]) -> None:
    settings: Settings = request.app.state.settings
    if not declarations:
        web_session.clear_cookie(response, settings, EMERGENCY_COOKIE)
        return
    kept = dict(sorted(declarations.items(), key=lambda item: item[1][1])[-MAX_DECLARATIONS:])
    while True:
        payload = {"sub": caller.subject, "sid": _session_key(request), "d": kept,
                   "exp": max(until for _, until in kept.values())}  # fmt: skip
        value = web_session.sign(settings, _PURPOSE, payload)
        if len(value) <= web_session.MAX_COOKIE or len(kept) == 1:
            break
        kept.pop(next(iter(kept)))  # the oldest declaration goes first
    web_session.set_cookie(response, settings, EMERGENCY_COOKIE, value, EMERGENCY_LIFETIME)


def remember_emergency(
    request: Request, response: Response, caller: Caller, patient_id: str, justification: str
) -> None:
    """Keep a declaration just made (its justification as the access service normalised it)."""
    declarations = _declarations(request, caller)
    declarations[patient_id] = [justification, int(time.time()) + EMERGENCY_LIFETIME]
    _store(request, response, caller, declarations)


def forget_emergency(request: Request, response: Response, caller: Caller, patient_id: str) -> None:
    """End a declaration: the reads that follow are made in normal mode again."""
    declarations = _declarations(request, caller)
    declarations.pop(patient_id, None)
    _store(request, response, caller, declarations)

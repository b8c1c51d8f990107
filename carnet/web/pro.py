"""The professionals' access: their pages live under ``/pro`` (router included by ``carnet.web.routes``).

So far: the home (``/`` and ``/pro``, the patient search form) and the patient search (``/pro/patients``) by INS
or by traits through the identity service (each hit traced in the patient's audit trail), with the identity
status of each result, the identity-collision warnings, and whether the identity may receive a deposit
(qualified identities only).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from carnet.access.model import ActorKind
from carnet.api.deps import UowDep, actor_on
from carnet.auth.claims import Caller
from carnet.errors import Forbidden, ValidationError
from carnet.identity import service as identities
from carnet.identity.model import PatientIdentity
from carnet.identity.status import may_share
from carnet.web.auth import PageCallerDep
from carnet.web.templating import page

router = APIRouter(include_in_schema=False)

MAX_RESULTS = 20
_SEXES = ("F", "M")


def _professional(caller: Caller) -> None:
    if caller.kind not in (ActorKind.PROFESSIONAL, ActorKind.SECRETARIAT):
        raise Forbidden("l'espace professionnel est réservé aux professionnels de santé et à leur secrétariat")


def home(request: Request, caller: Caller, uow: UowDep) -> Response:
    """The professional's home (``/`` for a professional caller): the patient search form."""
    from carnet.web.patient import _display_name

    _professional(caller)
    return page(request, "pro_home.html", name=_display_name(caller), asked={}, results=None, error=None,
                secretariat=caller.kind == ActorKind.SECRETARIAT)  # fmt: skip


@router.get("/pro")
def pro_home(request: Request, caller: PageCallerDep, uow: UowDep) -> Response:
    """The professional's home under ``/pro``."""
    return home(request, caller, uow)


def _result(uow: UowDep, actor: Any, identity: PatientIdentity) -> dict[str, Any]:
    """What the results show of an identity: status, INS when qualified, collision warnings."""
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


@router.get("/pro/patients")
def search(request: Request, caller: PageCallerDep, uow: UowDep) -> Response:
    """Find a patient by INS (``?ins=``) or by traits (``?nom=&prenom=&naissance=&sexe=``)."""
    from carnet.web.patient import _display_name

    _professional(caller)
    q = request.query_params
    asked = {name: (q.get(name) or "").strip()[:100] for name in ("ins", "nom", "prenom", "naissance", "sexe")}
    actor = actor_on(uow, caller)
    found: list[PatientIdentity] = []
    error = None
    try:
        if asked["ins"]:
            hit = identities.find_by_ins(uow=uow, actor=actor, matricule=asked["ins"].replace(" ", ""))
            found = [hit] if hit is not None else []
        else:
            born = dt.date.fromisoformat(asked["naissance"]) if asked["naissance"] else None
            sex = asked["sexe"] if asked["sexe"] in _SEXES else None
            found = identities.search(uow=uow, actor=actor, birth_name=asked["nom"] or None,
                                      first_name=asked["prenom"] or None, birth_date=born, sex=sex,
                                      limit=MAX_RESULTS)  # fmt: skip
    except ValidationError as exc:
        error = exc.message
    except ValueError:
        error = "date de naissance illisible : AAAA-MM-JJ attendu"
    results = [_result(uow, actor, identity) for identity in found]
    uow.commit()
    return page(request, "pro_home.html", name=_display_name(caller), asked=asked, results=results, error=error,
                secretariat=caller.kind == ActorKind.SECRETARIAT, status=422 if error else 200)  # fmt: skip

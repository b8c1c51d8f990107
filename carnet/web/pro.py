"""The professionals' access: their pages live under ``/pro`` (router included by ``carnet.web.routes``).

Here: the home (``/`` and ``/pro``, the patient search form) and the patient search (``/pro/patients``) by INS
or by traits through the identity service (each hit traced in the patient's audit trail), with the identity
status of each result, the identity-collision warnings, and whether the identity may receive a deposit
(qualified identities only). The other pages are in the modules whose routers are included below:
:mod:`carnet.web.pro_patient` (the patient page and the basis of access: care team, consent, emergency),
:mod:`carnet.web.pro_documents` (the documents the profession may read, the viewer, release) and
:mod:`carnet.web.pro_deposit` (a CDA file or a PDF with its metadata). docs/web-pro.md describes them.
"""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Request
from fastapi.responses import Response

from carnet.access.model import ActorKind
from carnet.api.deps import UowDep, actor_on
from carnet.auth.claims import Caller
from carnet.errors import ValidationError
from carnet.identity import service as identities
from carnet.identity.model import PatientIdentity
from carnet.web import pro_deposit, pro_documents, pro_patient
from carnet.web.auth import PageCallerDep
from carnet.web.pro_common import identity_view, professional_only
from carnet.web.templating import page

router = APIRouter(include_in_schema=False)
router.include_router(pro_patient.router)
router.include_router(pro_documents.router)
router.include_router(pro_deposit.router)

MAX_RESULTS = 20
_SEXES = ("F", "M")


_professional = professional_only


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


_result = identity_view


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

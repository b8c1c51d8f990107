"""The spaces a signed-in person manages: their own record (when they have one) and the record of each person they
represent (a child), and the switch between them.

The chosen space is kept in a signed cookie (``carnet_espace``) bound to the person who chose it; a space that is
not (or no longer) one of theirs falls back to the first. Every page acts on the chosen space with the actor
``carnet.api.deps.actor_on`` gives (the holder on their own record, a representative on another), so the access
decision says what a representative may do there (nothing once the child is of age; documents invisible to
representatives stay hidden).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from carnet.access.model import Actor, ActorKind
from carnet.api.deps import actor_on
from carnet.auth.claims import Caller
from carnet.errors import Forbidden
from carnet.identity.store import PatientRow
from carnet.storage.uow import UnitOfWork
from carnet.web import session as web_session
from carnet.web.auth import SESSION_MAX, PageCallerDep, _safe_next
from carnet.web.templating import page

SPACE_COOKIE = "carnet_espace"


@dataclass(frozen=True, slots=True)
class Space:
    """One record the person may act on: ``own`` is their own record, else a represented person's."""

    patient_id: str
    label: str
    own: bool


@dataclass(frozen=True, slots=True)
class Here:
    """The space a page acts on, the access actor there, and the person's other spaces (for the switch)."""

    space: Space
    actor: Actor
    spaces: tuple[Space, ...] = field(default=())

    @property
    def patient_id(self) -> str:
        return self.space.patient_id

    def context(self) -> dict[str, Any]:
        """What ``base.html`` needs to show the switch."""
        return {"space": self.space, "spaces": self.spaces}


def _person(row: PatientRow) -> str:
    given = (row.used_first_name or row.first_name or "").strip().title()
    family = (row.used_name or row.birth_name).strip().upper()
    return f"{given} {family}".strip()


def display_name(caller: Caller) -> str:
    """The signed-in person's name (the token's, else the demo people's, else the subject)."""
    if caller.name:
        return caller.name
    from carnet.auth import devusers

    demo = devusers.patient(caller.ins or "") if caller.ins else devusers.professional(caller.subject)
    return demo.display_name if demo is not None else caller.subject


def spaces_of(uow: UnitOfWork, caller: Caller) -> tuple[Space, ...]:
    """The person's own space first (if their INS has a record), then each represented person's that exists."""
    found: list[Space] = []
    own = uow.patients.by_ins(caller.ins or "") if caller.ins else None
    if own is not None and not own.merged_into_id:
        found.append(Space(own.id, display_name(caller), True))
    for ins in caller.represents_ins:
        row = uow.patients.by_ins(ins)
        if row is not None and not row.merged_into_id and row.id not in {s.patient_id for s in found}:
            found.append(Space(row.id, _person(row), False))
    return tuple(found)


def _chosen(request: Request, caller: Caller) -> str | None:
    payload = web_session.unsign(request.app.state.settings, "espace", request.cookies.get(SPACE_COOKIE))
    if payload is None or payload.get("sub") != caller.subject:
        return None
    chosen = payload.get("patient")
    return chosen if isinstance(chosen, str) else None


def here(request: Request, uow: UnitOfWork, caller: Caller) -> Here:
    """The space this page acts on (the chosen one when it is still the person's, else the first)."""
    if caller.kind != ActorKind.PATIENT:
        raise Forbidden("l'espace santé est celui des patients et de leurs représentants")
    spaces = spaces_of(uow, caller)
    if not spaces:
        raise Forbidden("aucun espace santé ne correspond à l'INS de ce compte")
    chosen = _chosen(request, caller)
    space = next((s for s in spaces if s.patient_id == chosen), spaces[0])
    return Here(space=space, actor=actor_on(uow, caller, space.patient_id), spaces=spaces)


# The space's own pages a switch may return to; a page of one item (a document, a conversation) of the other space
# is not this one's: the switch goes back to its list.
_RETURN_TO = ("/documents", "/historique", "/acces", "/messages", "/mon-espace", "/espace/", "/mon-export",
              "/applications", "/profil", "/mesures", "/vaccinations")  # fmt: skip
_ITEM_PAGES = ("/documents/", "/messages/")


def _back_in_other_space(target: str) -> str:
    path = target.split("?")[0]
    if not path.startswith(_RETURN_TO):
        return "/"
    for prefix in _ITEM_PAGES:
        if path.startswith(prefix):
            return prefix.rstrip("/")
    return path


async def switch(request: Request, caller: PageCallerDep) -> Response:
    """Choose the space the pages act on (POST with the CSRF token): one of the person's spaces, else refused."""
    from starlette.concurrency import run_in_threadpool

    form = await request.form()
    csrf, chosen, back = (form.get(name) for name in ("csrf", "espace", "retour"))
    if not web_session.csrf_ok(request, csrf if isinstance(csrf, str) else None):
        return page(request, "error.html", status=403, title_key="error.forbidden", message_key="error.csrf")

    def mine() -> tuple[Space, ...]:
        with request.app.state.platform.uow() as uow:
            return spaces_of(uow, caller) if caller.kind == ActorKind.PATIENT else ()

    spaces = await run_in_threadpool(mine)
    if not isinstance(chosen, str) or chosen not in {s.patient_id for s in spaces}:
        return page(request, "error.html", status=403, title_key="error.forbidden", message_key="space.not_yours")
    settings = request.app.state.settings
    target = _safe_next(back if isinstance(back, str) else None)
    response = RedirectResponse(_back_in_other_space(target), status_code=303)
    value = web_session.sign(settings, "espace", {"patient": chosen, "sub": caller.subject,
                                                  "exp": int(time.time()) + SESSION_MAX})  # fmt: skip
    web_session.set_cookie(response, settings, SPACE_COOKIE, value, SESSION_MAX)
    return response

"""« Gérer mon espace » (``/espace/gestion``, own router included by :mod:`carnet.web.routes`): the state of the chosen
space and what its holder may do now (oppose its creation while it is being created, close it, re-open it), the
administrative data of the holder (identity, médecin traitant), their contact details (editable) and their legal
representatives.

Every read and change goes through :mod:`carnet.space.lifecycle` and :mod:`carnet.space.lifecycle_admin` with the
actor of the chosen space (:func:`carnet.web.patient_space.here`: the holder, or a representative, whom the access
decision refuses once the holder is of age), so the decision and the audit trail are the API's. Every change is a
POST with the session's CSRF token; a refused change is said in place, with nothing stored.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from carnet.access.model import ActorKind
from carnet.api.deps import UowDep
from carnet.auth.claims import Caller
from carnet.errors import Conflict, ValidationError
from carnet.space import lifecycle, lifecycle_admin
from carnet.space.lifecycle_admin import ContactIn
from carnet.storage.uow import UnitOfWork
from carnet.web import session as web_session
from carnet.web.auth import PageCallerDep
from carnet.web.patient_space import Here, here
from carnet.web.templating import page

router = APIRouter(include_in_schema=False)

PATH = "/espace/gestion"
MAX_INPUT = 320
DONE = frozenset({"oppose", "close", "reopen", "contact", "contact_same"})
_FORM = {"email": "email", "telephone": "phone", "adresse": "address_line", "complement": "address_complement",
         "code_postal": "postal_code", "ville": "city", "pays": "country"}  # fmt: skip


def _years(request: Request) -> int:
    return int(request.app.state.platform.settings.space_retention_years)


def _form_of(contact: ContactIn) -> dict[str, str]:
    return {name: getattr(contact, attribute) or "" for name, attribute in _FORM.items()}


def _render(request: Request, uow: UnitOfWork, at: Here, *, status: int = 200, error: str | None = None,
            errors: list[str] | None = None, chosen: dict[str, str] | None = None) -> Response:  # fmt: skip
    data = lifecycle_admin.administrative_data(uow=uow, actor=at.actor, patient_id=at.patient_id,
                                               retention_years=_years(request))  # fmt: skip
    uow.commit()
    done = request.query_params.get("fait")
    opens = data.space.opens_on
    return page(request, "space_manage.html", status=status, data=data, state=data.space, error=error,
                errors=errors or [], form=chosen or _form_of(data.contact), done=done if done in DONE else None,
                years=_years(request), last_day=opens - dt.timedelta(days=1) if opens else None,
                **at.context())  # fmt: skip


@router.get(PATH)
def manage(request: Request, caller: PageCallerDep, uow: UowDep) -> Response:
    """The page."""
    if caller.kind != ActorKind.PATIENT:
        return RedirectResponse("/", status_code=303)
    return _render(request, uow, here(request, uow, caller))


Change = Callable[[UnitOfWork, Here, FormData], str | Response]


async def _post(request: Request, caller: Caller, change: Change) -> Response:
    """Check the CSRF token, run ``change`` in one unit of work (committed), and go back to the page with its
    confirmation; a change the rules refuse is shown on the page, in place, nothing stored."""
    if caller.kind != ActorKind.PATIENT:
        return RedirectResponse("/", status_code=303)
    form = await request.form()
    csrf = form.get("csrf")
    if not web_session.csrf_ok(request, csrf if isinstance(csrf, str) else None):
        return page(request, "error.html", status=403, title_key="error.forbidden", message_key="error.csrf")
    platform = request.app.state.platform

    def run() -> Response:
        with platform.uow() as uow:
            at = here(request, uow, caller)
            try:
                done = change(uow, at, form)
            except (ValidationError, Conflict) as exc:
                uow.rollback()
                with platform.uow() as again:
                    return _render(request, again, here(request, again, caller), status=exc.http_status,
                                   error=exc.message)  # fmt: skip
            if isinstance(done, Response):
                return done
            uow.commit()
            return RedirectResponse(f"{PATH}?fait={done}#confirmation", status_code=303)

    return await run_in_threadpool(run)


@router.post(f"{PATH}/opposer")
async def oppose(request: Request, caller: PageCallerDep) -> Response:
    """Oppose the creation of the space (during the six weeks)."""

    def change(uow: UnitOfWork, at: Here, form: FormData) -> str:
        lifecycle.oppose(uow=uow, actor=at.actor, patient_id=at.patient_id, through="portal",
                         retention_years=_years(request))  # fmt: skip
        return "oppose"

    return await _post(request, caller, change)


@router.post(f"{PATH}/fermer")
async def close(request: Request, caller: PageCallerDep) -> Response:
    """Close the open space (the confirmation box ticked)."""

    def change(uow: UnitOfWork, at: Here, form: FormData) -> str | Response:
        if form.get("confirmer") != "oui":
            from carnet.web import i18n

            message = i18n.translator(i18n.language(request))("manage.close.unconfirmed")
            return _render(request, uow, at, status=422, error=message)
        lifecycle.close(uow=uow, actor=at.actor, patient_id=at.patient_id, retention_years=_years(request))
        return "close"

    return await _post(request, caller, change)


@router.post(f"{PATH}/rouvrir")
async def reopen(request: Request, caller: PageCallerDep) -> Response:
    """Re-open a closed space, or open one whose creation was opposed."""

    def change(uow: UnitOfWork, at: Here, form: FormData) -> str:
        lifecycle.reopen(uow=uow, actor=at.actor, patient_id=at.patient_id, retention_years=_years(request))
        return "reopen"

    return await _post(request, caller, change)


@router.post(f"{PATH}/coordonnees")
async def contact(request: Request, caller: PageCallerDep) -> Response:
    """Save the holder's contact details; every problem is listed in the form, nothing stored."""

    def change(uow: UnitOfWork, at: Here, form: FormData) -> str | Response:
        chosen: dict[str, str] = {}
        for name in _FORM:
            value = form.get(name)
            chosen[name] = value[:MAX_INPUT] if isinstance(value, str) else ""
        given = ContactIn(**{attribute: chosen[name] or None for name, attribute in _FORM.items()})
        problems = given.problems()
        if problems:
            return _render(request, uow, at, status=422, errors=problems, chosen=chosen)
        changed = lifecycle_admin.update_contact(uow=uow, actor=at.actor, patient_id=at.patient_id, contact=given)
        return "contact" if changed else "contact_same"

    return await _post(request, caller, change)

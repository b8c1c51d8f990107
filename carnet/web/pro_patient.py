"""The patient page of the professional portal (``/pro/patients/{id}``): the identity (status, INS when qualified,
collision warnings), what the access decision says now of this professional reading the record (allowed or not,
with its reasons), and the step that states the basis of access before reading:

- member of the care team having informed the patient (:func:`carnet.access.service.join_care_team`);
- the patient's explicit consent obtained now, for this consultation (:func:`carnet.access.service.record_consent`);
- emergency (bris de glace) with a written justification (:func:`carnet.access.service.declare_emergency`): traced
  with its justification and kept in a signed cookie (:mod:`carnet.web.pro_common`) so that every read that follows
  carries the emergency mode; it can be ended at once.

Every change is a POST carrying the session's CSRF token; a refusal is shown on the page with its reason.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from carnet.access import service as access
from carnet.access.model import ActorKind
from carnet.api.deps import UowDep, actor_on
from carnet.auth.claims import Caller
from carnet.errors import CarnetError, Forbidden, NotFound
from carnet.identity import service as identities
from carnet.storage.uow import UnitOfWork
from carnet.web import session as web_session
from carnet.web.auth import PageCallerDep
from carnet.web.pro_common import (
    emergency_of,
    forget_emergency,
    identity_view,
    professional_only,
    reading_context,
    remember_emergency,
)
from carnet.web.templating import page

router = APIRouter(include_in_schema=False)

DONE = ("equipe", "consentement", "urgence", "urgence_fin")


def patient_url(patient_id: str, suffix: str = "") -> str:
    return f"/pro/patients/{quote(patient_id, safe='')}{suffix}"


def basis_view(request: Request, uow: UnitOfWork, caller: Caller, patient_id: str) -> dict[str, Any]:
    """What the decision says now of this professional listing the record, and the live emergency declaration."""
    actor = actor_on(uow, caller, patient_id)
    decision = access.decision_on_record(uow=uow, actor=actor, patient_id=patient_id,
                                         ctx=reading_context(request, uow, caller, patient_id))  # fmt: skip
    declared = emergency_of(request, caller, patient_id)
    return {
        "allowed": decision.allowed,
        "reasons": [{"code": r.code, "fr": r.fr, "en": r.en} for r in decision.reasons],
        "codes": decision.codes,
        "emergency": {"justification": declared[0],
                      "until": dt.datetime.fromtimestamp(declared[1], dt.UTC)} if declared else None,
    }  # fmt: skip


def patient_page(request: Request, uow: UnitOfWork, caller: Caller, patient_id: str, *, status: int = 200,
                 errors: dict[str, str] | None = None, refusal: str | None = None,
                 justification: str = "") -> Response:  # fmt: skip
    """The patient page (also shown again, with the reason in place, when a change is refused)."""
    from carnet.web.patient import _display_name

    professional_only(caller)
    actor = actor_on(uow, caller, patient_id)
    identity = identities.get(uow=uow, actor=actor, patient_id=patient_id)
    if identity is None:
        raise NotFound("patient introuvable", field="patient")
    view = identity_view(uow, actor, identity)
    basis = basis_view(request, uow, caller, identity.id)
    uow.commit()
    done = request.query_params.get("fait")
    return page(request, "pro_patient.html", status=status, name=_display_name(caller), patient=view, basis=basis,
                errors=errors or {}, refusal=refusal, justification=justification,
                done=done if done in DONE else None, asked_basis=request.query_params.get("base") == "requise",
                professional=caller.kind == ActorKind.PROFESSIONAL,
                min_justification=access.EMERGENCY_JUSTIFICATION_MIN,
                max_justification=access.EMERGENCY_JUSTIFICATION_MAX)  # fmt: skip


@router.get("/pro/patients/{patient_id}")
def patient(request: Request, patient_id: str, caller: PageCallerDep, uow: UowDep) -> Response:
    """The patient page: identity, current basis of access, the forms to state one."""
    return patient_page(request, uow, caller, patient_id)


async def posted_form(request: Request) -> FormData | None:
    """The posted form when it carries this session's CSRF token, else None."""
    form = await request.form(max_files=0, max_fields=10)
    value = form.get("csrf")
    return form if web_session.csrf_ok(request, value if isinstance(value, str) else None) else None


def _refused(request: Request) -> Response:
    return page(request, "error.html", status=403, title_key="error.forbidden", message_key="error.csrf")


async def _again(request: Request, caller: Caller, patient_id: str, *, status: int,
                 errors: dict[str, str] | None = None, refusal: str | None = None,
                 justification: str = "") -> Response:  # fmt: skip
    def show() -> Response:
        with request.app.state.platform.uow() as uow:
            return patient_page(request, uow, caller, patient_id, status=status, errors=errors, refusal=refusal,
                                justification=justification)  # fmt: skip

    return await run_in_threadpool(show)


async def _basis_change(request: Request, caller: Caller, patient_id: str, *, confirm: str, error_key: str,
                        what: str) -> Response:  # fmt: skip
    """Care team or consent: the professional confirms what the patient was told / said, then it is recorded."""
    professional_only(caller)
    form = await posted_form(request)
    if form is None:
        return _refused(request)
    if form.get(confirm) != "oui":
        from carnet.web.i18n import language, translator

        message = translator(language(request))(error_key)
        return await _again(request, caller, patient_id, status=422, errors={confirm: message})

    def change() -> None:
        with request.app.state.platform.uow() as uow:
            actor = actor_on(uow, caller, patient_id)
            if what == "equipe":
                access.join_care_team(uow=uow, actor=actor, patient_id=patient_id, informed=True)
            else:
                access.record_consent(uow=uow, actor=actor, patient_id=patient_id)
            uow.commit()

    try:
        await run_in_threadpool(change)
    except Forbidden as exc:
        return await _again(request, caller, patient_id, status=403, refusal=exc.message)
    return RedirectResponse(patient_url(patient_id, f"?fait={what}"), status_code=303)


@router.post("/pro/patients/{patient_id}/equipe")
async def join_care_team(request: Request, patient_id: str, caller: PageCallerDep) -> Response:
    """The professional joins the care team, having informed the patient (``informe=oui``)."""
    return await _basis_change(request, caller, patient_id, confirm="informe", error_key="pro.basis.team.required",
                               what="equipe")  # fmt: skip


@router.post("/pro/patients/{patient_id}/consentement")
async def record_consent(request: Request, patient_id: str, caller: PageCallerDep) -> Response:
    """The patient's explicit consent, obtained now for this consultation (``consentement=oui``)."""
    return await _basis_change(request, caller, patient_id, confirm="consentement",
                               error_key="pro.basis.consent.required", what="consentement")  # fmt: skip


@router.post("/pro/patients/{patient_id}/urgence")
async def declare_emergency(request: Request, patient_id: str, caller: PageCallerDep) -> Response:
    """Emergency access (bris de glace) with its written justification: traced, then every read carries it."""
    professional_only(caller)
    form = await posted_form(request)
    if form is None:
        return _refused(request)
    raw = form.get("justification")
    written = raw if isinstance(raw, str) else ""

    def declare() -> str:
        with request.app.state.platform.uow() as uow:
            actor = actor_on(uow, caller, patient_id)
            ctx = access.declare_emergency(uow=uow, actor=actor, patient_id=patient_id, justification=written)
            uow.commit()
            return ctx.justification or ""

    try:
        justification = await run_in_threadpool(declare)
    except Forbidden as exc:
        return await _again(request, caller, patient_id, status=403, refusal=exc.message, justification=written)
    except CarnetError as exc:
        if exc.http_status != 422:
            raise
        return await _again(request, caller, patient_id, status=422, errors={"justification": exc.message},
                            justification=written[:2000])  # fmt: skip
    response = RedirectResponse(patient_url(patient_id, "?fait=urgence"), status_code=303)
    remember_emergency(request, response, caller, patient_id, justification)
    return response


@router.post("/pro/patients/{patient_id}/urgence/fin")
async def end_emergency(request: Request, patient_id: str, caller: PageCallerDep) -> Response:
    """End this professional's emergency declaration for the patient: the next reads are normal again."""
    professional_only(caller)
    if await posted_form(request) is None:
        return _refused(request)
    response = RedirectResponse(patient_url(patient_id, "?fait=urgence_fin"), status_code=303)
    forget_emergency(request, response, caller, patient_id)
    return response

"""« Qui peut accéder à mon dossier » : the care team and the médecin traitant, the professionals and
establishments blocked, emergency access on or off, the grants with their scope and end date, the consents given
at a consultation; and every change of them, through ``carnet.access.service`` (the MANAGE_CONSENT decision, each
change traced in the same transaction). Professionals and establishments are found in the directory
(``carnet.directory``). Every change is a POST with the CSRF token, followed by a confirmation message.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData

from carnet.access import service as access
from carnet.access.model import Actor, ActorKind
from carnet.api.deps import UowDep
from carnet.audit.service import profession_label
from carnet.auth.claims import Caller
from carnet.directory import service as directory
from carnet.directory.store import ProfessionalQuery
from carnet.errors import NotFound, ValidationError
from carnet.record.valuesets import value_sets
from carnet.storage.uow import UnitOfWork
from carnet.web import session as web_session
from carnet.web.auth import PageCallerDep
from carnet.web.i18n import language
from carnet.web.patient_space import Here, here
from carnet.web.templating import page

MAX_SEARCH = 100
FOUND = 20
DONE = frozenset({"traitant", "traitant_retire", "refus", "bloque", "debloque", "urgence_refusee", "urgence_acceptee",
                  "autorisation", "autorisation_retiree", "consentement_retire"})  # fmt: skip


def _professional(uow: UnitOfWork, professional_id: str) -> dict[str, Any]:
    """A professional as the page names them (the directory's name and profession; the id when unknown)."""
    row = uow.directory.professional(professional_id)
    if row is None:
        return {"id": professional_id, "name": professional_id, "detail": None, "known": False}
    civility = {"DR": "Dr", "PR": "Pr"}.get((row.civility or "").upper(), "")
    name = " ".join(p for p in (civility, row.given_name, row.family_name.upper()) if p)
    return {"id": row.id, "name": name, "detail": profession_label(row.profession_code), "known": True}


def _organisation(uow: UnitOfWork, organisation_id: str) -> dict[str, Any]:
    row = uow.directory.organisation(organisation_id)
    if row is None:
        return {"id": organisation_id, "name": organisation_id, "detail": None, "known": False}
    return {"id": row.id, "name": row.name, "detail": row.city, "known": True}


def _target(uow: UnitOfWork, kind: str, target_id: str) -> dict[str, Any]:
    if kind == "app":  # a referenced app of the catalogue, named as the holder saw it when connecting it
        from carnet.catalogue.service import app_target

        return app_target(uow, target_id)
    return _professional(uow, target_id) if kind == "professional" else _organisation(uow, target_id)


def _class_labels(codes: list[str], lang: str = "fr") -> list[str]:
    """J06 classes by their official (French) label; the space's categories of the apps' grants in ``lang``."""
    from carnet.catalogue.model import category_label

    labels = value_sets().class_code
    return [label if (label := labels.label(code)) != code else category_label(code, lang) for code in codes]


def _view(uow: UnitOfWork, at: Here, lang: str = "fr") -> dict[str, Any]:
    """Every current setting of the space (``access.list_settings``: the decision, the reading traced)."""
    now = uow.clock.now()
    settings = access.list_settings(uow=uow, actor=at.actor, patient_id=at.patient_id)
    traitant = next((s.professional_id for s in settings if s.kind == "traitant"), None)
    team = [{**_professional(uow, s.row.professional_id), "informed_at": s.row.informed_at,
             "refused_at": s.row.refused_at, "traitant": s.row.professional_id == traitant}
            for s in settings if s.kind == "careteam"]  # fmt: skip
    blocked: dict[str, dict[str, Any]] = {}
    for s in settings:
        if s.kind == "opposition" and s.row.lifted_at is None:
            blocked.setdefault(s.row.target_id, {**_target(uow, s.row.target_kind, s.row.target_id),
                                                 "kind": s.row.target_kind, "since": s.row.created_at})  # fmt: skip
    grants = [{"id": s.row.id, **_target(uow, s.row.grantee_kind, s.row.grantee_id), "kind": s.row.grantee_kind,
               "read": s.row.can_read, "write": s.row.can_write,
               "classes": _class_labels(list(s.row.class_codes), lang),
               "until": s.row.valid_until, "since": s.row.valid_from}
              for s in settings
              if s.kind == "grant" and s.row.revoked_at is None
              and (s.row.valid_until is None or _aware(s.row.valid_until) > now)]  # fmt: skip
    consents = [{"id": s.row.id, **_professional(uow, s.row.professional_id), "given_at": s.row.given_at,
                 "expires_at": s.row.expires_at}
                for s in settings
                if s.kind == "consent" and s.row.withdrawn_at is None and _aware(s.row.expires_at) > now]  # fmt: skip
    return {"team": team, "traitant": _professional(uow, traitant) if traitant else None,
            "blocked": list(blocked.values()), "emergency_refused": any(s.kind == "emergency" for s in settings),
            "grants": grants, "consents": consents}  # fmt: skip


def end_of_day(day: dt.date) -> dt.datetime:
    """The last instant of ``day`` in French legal time, in UTC."""
    from carnet.web.templating import _PARIS

    return dt.datetime.combine(day, dt.time.max, tzinfo=_PARIS).astimezone(dt.UTC)


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _search(uow: UnitOfWork, actor: Actor, query: str) -> dict[str, list[dict[str, Any]]]:
    """Active professionals and establishments of the directory whose name starts with ``query``."""
    if not query:
        return {"professionals": [], "organisations": []}
    pros = directory.search_professionals(uow=uow, actor=actor, query=ProfessionalQuery(name=query, active=True),
                                          limit=FOUND)  # fmt: skip
    orgs = directory.search_organisations(uow=uow, actor=actor, name=query, active=True, limit=FOUND)
    return {"professionals": [_professional(uow, p.id) for p in pros.items],
            "organisations": [_organisation(uow, o.id) for o in orgs.items]}  # fmt: skip


def _render(request: Request, uow: UnitOfWork, at: Here, *, status: int = 200, error: str | None = None,
            search: str = "") -> Response:  # fmt: skip
    view = _view(uow, at, language(request))
    found = _search(uow, at.actor, search)
    uow.commit()
    done = request.query_params.get("fait")
    return page(request, "access.html", status=status, error=error, done=done if done in DONE else None,
                search=search, found=found, **view, **at.context())  # fmt: skip


def settings_page(request: Request, caller: PageCallerDep, uow: UowDep) -> Response:
    """The page: current settings, and the directory search (``?recherche=``) to choose whom to block, to
    declare as médecin traitant or to authorise."""
    if caller.kind != ActorKind.PATIENT:
        return RedirectResponse("/", status_code=303)
    search = (request.query_params.get("recherche") or "").strip()[:MAX_SEARCH]
    return _render(request, uow, here(request, uow, caller), search=search)


def grant_form(request: Request, caller: PageCallerDep, uow: UowDep) -> Response:
    """The form of a new grant for a professional of the directory (``?pro=``): read and/or deposit, the
    categories (none: all), the end date."""
    if caller.kind != ActorKind.PATIENT:
        return RedirectResponse("/", status_code=303)
    at = here(request, uow, caller)
    professional = directory.get_professional(uow=uow, actor=at.actor, professional_id=request.query_params.get("pro")
                                              or "")  # fmt: skip
    return _grant_page(request, at, _professional(uow, professional.id))


def _grant_page(request: Request, at: Here, professional: dict[str, Any], *, status: int = 200,
                errors: list[str] | None = None, chosen: dict[str, Any] | None = None) -> Response:  # fmt: skip
    from carnet.web.patient import _class_options

    return page(request, "grant.html", status=status, pro=professional, classes=_class_options(),
                errors=errors or [], chosen=chosen or {"lecture": True, "ecriture": False, "classes": [], "fin": ""},
                **at.context())  # fmt: skip


# --- changes ------------------------------------------------------------------------------------------------------

Change = Callable[[UnitOfWork, Here, FormData], str]


async def _apply(request: Request, caller: Caller, change: Change) -> Response:
    """Check the CSRF token, apply ``change`` (it returns the confirmation code) in one unit of work, committed,
    and go back to the page; a refusal of the input is shown on the page, in place."""
    from starlette.concurrency import run_in_threadpool

    if caller.kind != ActorKind.PATIENT:
        return RedirectResponse("/", status_code=303)
    form = await request.form()
    csrf = form.get("csrf")
    if not web_session.csrf_ok(request, csrf if isinstance(csrf, str) else None):
        return page(request, "error.html", status=403, title_key="error.forbidden", message_key="error.csrf")
    platform = request.app.state.platform

    def run() -> str | Response:
        with platform.uow() as uow:
            at = here(request, uow, caller)
            try:
                done = change(uow, at, form)
            except (ValidationError, NotFound) as exc:
                uow.rollback()
                with platform.uow() as again:
                    return _render(request, again, here(request, again, caller), status=422, error=exc.message)
            uow.commit()
            return done

    outcome = await run_in_threadpool(run)
    if isinstance(outcome, Response):
        return outcome
    return RedirectResponse(f"/acces?fait={outcome}#confirmation", status_code=303)


def _field(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip()[:MAX_SEARCH] if isinstance(value, str) else ""


def _known_professional(uow: UnitOfWork, at: Here, form: FormData) -> str:
    return directory.get_professional(uow=uow, actor=at.actor, professional_id=_field(form, "pro")).id


async def set_traitant(request: Request, caller: PageCallerDep) -> Response:
    """Declare a professional of the directory as médecin traitant, or clear it (empty ``pro``)."""

    def change(uow: UnitOfWork, at: Here, form: FormData) -> str:
        chosen = _known_professional(uow, at, form) if _field(form, "pro") else None
        access.set_medecin_traitant(uow=uow, actor=at.actor, patient_id=at.patient_id, professional_id=chosen)
        return "traitant" if chosen else "traitant_retire"

    return await _apply(request, caller, change)


async def refuse_member(request: Request, caller: PageCallerDep) -> Response:
    """Refuse a care-team member's access (it ends the presumed consent)."""

    def change(uow: UnitOfWork, at: Here, form: FormData) -> str:
        professional_id = _field(form, "pro")
        if not professional_id:
            raise ValidationError("professionnel à retirer de l'équipe de soins absent", field="pro")
        access.refuse_care_team_member(uow=uow, actor=at.actor, patient_id=at.patient_id,
                                       professional_id=professional_id)  # fmt: skip
        return "refus"

    return await _apply(request, caller, change)


async def block(request: Request, caller: PageCallerDep) -> Response:
    """Block a professional or an establishment found in the directory."""

    def change(uow: UnitOfWork, at: Here, form: FormData) -> str:
        kind = _field(form, "cible")
        if kind == "organisation":
            target = directory.get_organisation(uow=uow, actor=at.actor, organisation_id=_field(form, "id")).id
        elif kind == "professional":
            target = directory.get_professional(uow=uow, actor=at.actor, professional_id=_field(form, "id")).id
        else:
            raise ValidationError("on bloque un professionnel ou un établissement", field="cible")
        access.block(uow=uow, actor=at.actor, patient_id=at.patient_id, target_kind=kind, target_id=target)
        return "bloque"

    return await _apply(request, caller, change)


async def unblock(request: Request, caller: PageCallerDep) -> Response:
    """Lift the opposition to a professional or an establishment."""

    def change(uow: UnitOfWork, at: Here, form: FormData) -> str:
        target = _field(form, "id")
        if not target:
            raise ValidationError("opposition à lever absente", field="id")
        access.unblock(uow=uow, actor=at.actor, patient_id=at.patient_id, target_id=target)
        return "debloque"

    return await _apply(request, caller, change)


async def emergency(request: Request, caller: PageCallerDep) -> Response:
    """Refuse (``refuser=oui``) or accept again (``refuser=non``) emergency access (bris de glace)."""

    def change(uow: UnitOfWork, at: Here, form: FormData) -> str:
        refused = {"oui": True, "non": False}.get(_field(form, "refuser"))
        if refused is None:
            raise ValidationError("choix de l'accès en urgence absent (oui ou non)", field="refuser")
        access.set_emergency_refused(uow=uow, actor=at.actor, patient_id=at.patient_id, refused=refused)
        return "urgence_refusee" if refused else "urgence_acceptee"

    return await _apply(request, caller, change)


async def revoke_grant(request: Request, grant_id: str, caller: PageCallerDep) -> Response:
    """Revoke a grant at once."""

    def change(uow: UnitOfWork, at: Here, form: FormData) -> str:
        access.revoke_grant(uow=uow, actor=at.actor, patient_id=at.patient_id, grant_id=grant_id)
        return "autorisation_retiree"

    return await _apply(request, caller, change)


async def withdraw_consent(request: Request, consent_id: str, caller: PageCallerDep) -> Response:
    """Withdraw a consent given to a professional at a consultation."""

    def change(uow: UnitOfWork, at: Here, form: FormData) -> str:
        access.withdraw_consent(uow=uow, actor=at.actor, patient_id=at.patient_id, consent_id=consent_id)
        return "consentement_retire"

    return await _apply(request, caller, change)


async def add_grant(request: Request, caller: PageCallerDep) -> Response:
    """Authorise a professional of the directory: read and/or deposit, categories (none: all), end date
    (optional, the end of that day, French legal time); refused input is shown in the form."""
    from starlette.concurrency import run_in_threadpool

    from carnet.web.patient import _class_options

    if caller.kind != ActorKind.PATIENT:
        return RedirectResponse("/", status_code=303)
    form = await request.form()
    csrf = form.get("csrf")
    if not web_session.csrf_ok(request, csrf if isinstance(csrf, str) else None):
        return page(request, "error.html", status=403, title_key="error.forbidden", message_key="error.csrf")
    known = {code for code, _ in _class_options()}
    classes = [c for c in form.getlist("classes") if isinstance(c, str)]
    chosen: dict[str, Any] = {"lecture": form.get("lecture") == "oui", "ecriture": form.get("ecriture") == "oui",
              "classes": [c for c in classes if c in known], "fin": _field(form, "fin")}  # fmt: skip
    platform = request.app.state.platform

    def run() -> Response:
        with platform.uow() as uow:
            at = here(request, uow, caller)
            professional = directory.get_professional(uow=uow, actor=at.actor, professional_id=_field(form, "pro"))
            shown = _professional(uow, professional.id)
            errors: list[str] = []
            if len(chosen["classes"]) != len(classes):
                errors.append("catégorie inconnue")
            until = None
            if chosen["fin"]:
                try:
                    until = end_of_day(dt.date.fromisoformat(chosen["fin"]))
                except ValueError:
                    errors.append("date de fin illisible (AAAA-MM-JJ)")
            if not errors:
                try:
                    access.add_grant(uow=uow, actor=at.actor, patient_id=at.patient_id, grantee_kind="professional",
                                     grantee_id=professional.id, can_read=chosen["lecture"],
                                     can_write=chosen["ecriture"], class_codes=frozenset(chosen["classes"]),
                                     valid_until=until)  # fmt: skip
                    uow.commit()
                    return RedirectResponse("/acces?fait=autorisation#confirmation", status_code=303)
                except ValidationError as exc:
                    errors.append(exc.message)
            return _grant_page(request, at, shown, status=422, errors=errors, chosen=chosen)

    return await run_in_threadpool(run)

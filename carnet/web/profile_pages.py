"""The health profile in the portals (own router, included by :mod:`carnet.web.routes`):

- ``/espace/profil`` « Mon profil médical »: the questionnaire (current treatments, past interventions, history,
  allergies, advance directives and the trusted person) and the allergies known in the record;
- ``/espace/mesures`` « Mes mesures »: a server-rendered SVG chart of each kind of measure over time, each followed by
  the table of its values (the accessible alternative), and ``/espace/mesures/ajouter?type=…`` to add one;
- ``/espace/vaccinations`` « Mes vaccinations »: the list and the form to declare one;
- ``/pro/patients/{id}/profil``: what the matrice d'habilitation lets the signed-in professional read of a patient's
  profile (each refused part with its reason), read in the emergency mode a live declaration gives.

Every read and write goes through :mod:`carnet.space.profile` with the actor of the chosen space
(:func:`carnet.web.patient_space.here`: the holder, or a representative), so the access decision and the audit trail
are the API's. Every change is a POST with the session's CSRF token; a refused input is shown in place, in the
page's language, with nothing stored.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from carnet.access.model import ActorKind, SpaceCategory
from carnet.api.deps import UowDep, actor_on
from carnet.auth.claims import Caller
from carnet.errors import Forbidden
from carnet.identity import service as identities
from carnet.space import profile
from carnet.space.profile_model import (
    Answers,
    ImmunizationIn,
    Measurement,
    ProfileRejected,
    Quantity,
    VitalKind,
    entry_kinds,
    vaccines,
    vital_kind,
)
from carnet.storage.uow import UnitOfWork
from carnet.web import i18n
from carnet.web import session as web_session
from carnet.web.auth import PageCallerDep
from carnet.web.patient_space import Here, here
from carnet.web.pro_common import professional_only, reading_context
from carnet.web.profile_chart import svg_chart
from carnet.web.templating import _PARIS, page

router = APIRouter(include_in_schema=False)

MAX_FIELD = 2000  # characters read of a text area (the rules then say what is too long)
MAX_INPUT = 600


def _field(form: FormData, name: str, limit: int = MAX_INPUT) -> str:
    value = form.get(name)
    return value[:limit] if isinstance(value, str) else ""


def _lang(request: Request) -> str:
    return i18n.language(request)


def _messages(request: Request, problems: list[Any]) -> list[str]:
    lang = _lang(request)
    return [p.en if lang == "en" else p.fr for p in problems]


def _who(request: Request, source: profile.Source) -> str:
    t = i18n.translator(_lang(request))
    if source.kind == "patient":
        return t("measures.by_you")
    return source.name or source.id


async def _post(request: Request, caller: Caller, change: Callable[[UnitOfWork, Here, FormData], Response]) -> Response:
    """Check the CSRF token, then run ``change`` in a unit of work (it commits, or renders the refusal)."""
    if caller.kind != ActorKind.PATIENT:
        return RedirectResponse("/", status_code=303)
    form = await request.form()
    csrf = form.get("csrf")
    if not web_session.csrf_ok(request, csrf if isinstance(csrf, str) else None):
        return page(request, "error.html", status=403, title_key="error.forbidden", message_key="error.csrf")
    platform = request.app.state.platform

    def run() -> Response:
        with platform.uow() as uow:
            return change(uow, here(request, uow, caller), form)

    return await run_in_threadpool(run)


def _again(request: Request, uow: UnitOfWork, render: Callable[[UnitOfWork, Here], Response]) -> Response:
    """After a refused change: a fresh unit of work (the refused one is rolled back) to show the page again."""
    uow.rollback()
    with request.app.state.platform.uow() as again:
        return render(again, here(request, again, request.state.profile_caller))


# --- « Mon profil médical » -------------------------------------------------------------------------------------


def _form_of(answers: Answers) -> dict[str, str]:
    written = answers.directives_written
    return {
        "traitements": "\n".join(answers.treatments),
        "interventions": "\n".join(answers.interventions),
        "antecedents": "\n".join(answers.history),
        "allergies": "\n".join(answers.allergies),
        "redigees": "" if written is None else "oui" if written else "non",
        "lieu": answers.directives_where,
        "confiance": answers.trusted_person,
    }


def _profile_page(
    request: Request,
    uow: UnitOfWork,
    at: Here,
    *,
    status: int = 200,
    errors: list[str] | None = None,
    chosen: dict[str, str] | None = None,
) -> Response:
    current = profile.current_questionnaire(uow=uow, actor=at.actor, patient_id=at.patient_id)
    allergies = profile.list_allergies(uow=uow, actor=at.actor, patient_id=at.patient_id)
    uow.commit()
    form = chosen or _form_of(current.answers if current else Answers())
    done = request.query_params.get("fait") == "enregistre"
    shown = [
        {
            "substance": a.substance,
            "criticality": a.criticality,
            "reaction": a.reaction,
            "by_you": a.source.is_holder,
            "by": _who(request, a.source),
        }
        for a in allergies
    ]
    return page(
        request,
        "profile.html",
        status=status,
        form=form,
        current=current,
        allergies=shown,
        done=done,
        errors=errors or [],
        **at.context(),
    )


def profile_page(request: Request, caller: PageCallerDep, uow: UowDep) -> Response:
    """« Mon profil médical »: the questionnaire, filled with the current answers, and the known allergies."""
    if caller.kind != ActorKind.PATIENT:
        return RedirectResponse("/", status_code=303)
    return _profile_page(request, uow, here(request, uow, caller))


async def save_profile(request: Request, caller: PageCallerDep) -> Response:
    """Save the questionnaire (a new current answering); a refusal is shown in place."""
    request.state.profile_caller = caller

    def change(uow: UnitOfWork, at: Here, form: FormData) -> Response:
        written = {"oui": True, "non": False}.get(_field(form, "redigees"))
        chosen = {
            name: _field(form, name, MAX_FIELD)
            for name in ("traitements", "interventions", "antecedents", "allergies", "lieu", "confiance", "redigees")
        }
        answers = Answers.from_text(
            treatments=chosen["traitements"],
            interventions=chosen["interventions"],
            history=chosen["antecedents"],
            allergies=chosen["allergies"],
            directives_written=written,
            directives_where=chosen["lieu"],
            trusted_person=chosen["confiance"],
        )
        try:
            profile.save_questionnaire(uow=uow, actor=at.actor, patient_id=at.patient_id, answers=answers)
        except ProfileRejected as exc:
            problems = _messages(request, exc.problems)
            return _again(
                request, uow, lambda u, a: _profile_page(request, u, a, status=422, errors=problems, chosen=chosen)
            )
        uow.commit()
        return RedirectResponse("/espace/profil?fait=enregistre#confirmation", status_code=303)

    return await _post(request, caller, change)


# --- « Mes mesures » --------------------------------------------------------------------------------------------


def _value_text(kind: VitalKind, m: profile.MeasureView, lang: str) -> str:
    def number(value: float) -> str:
        text = f"{value:g}"
        return text.replace(".", ",") if lang == "fr" else text

    if kind.components:
        return " / ".join(number(m.values[p.key][0]) for p in kind.components if p.key in m.values) + (f" {kind.unit}")
    value, unit = m.values[kind.key]
    return f"{number(value)} {unit}"


def measures_page(request: Request, caller: PageCallerDep, uow: UowDep) -> Response:
    """« Mes mesures »: each kind measured, its chart and the table of its values, newest first."""
    if caller.kind != ActorKind.PATIENT:
        return RedirectResponse("/", status_code=303)
    at = here(request, uow, caller)
    measures = profile.list_measures(uow=uow, actor=at.actor, patient_id=at.patient_id)
    uow.commit()
    lang = _lang(request)
    groups = []
    for kind in entry_kinds():
        mine = [m for m in measures if m.kind.key == kind.key]
        if not mine:
            continue
        rows = [
            {
                "id": m.id,
                "at": m.effective_at,
                "value": _value_text(kind, m, lang),
                "by": _who(request, m.source),
                "removable": m.source.is_holder or at.actor.kind == ActorKind.PATIENT,
            }
            for m in reversed(mine)
        ]
        groups.append(
            {
                "kind": kind,
                "label": kind.label(lang),
                "chart": Markup(svg_chart(kind, mine, lang)),  # noqa: S704 - escaped
                "rows": rows,
            }
        )
    done = request.query_params.get("fait")
    return page(
        request,
        "measures.html",
        groups=groups,
        kinds=[(k.key, k.label(lang)) for k in entry_kinds()],
        done=done if done in ("ajoutee", "retiree") else None,
        **at.context(),
    )


def _measure_form(
    request: Request,
    at: Here,
    kind: VitalKind,
    uow: UnitOfWork,
    *,
    status: int = 200,
    errors: list[str] | None = None,
    invalid: frozenset[str] = frozenset(),
    chosen: dict[str, str] | None = None,
) -> Response:
    now = uow.clock.now().astimezone(_PARIS)
    lang = _lang(request)
    parts = kind.components or (kind,)
    ranges = [
        {"label": p.label(lang), "low": _fr(p.low, lang), "high": _fr(p.high, lang), "unit": p.unit} for p in parts
    ]
    values = chosen or {"date": now.date().isoformat(), "heure": now.strftime("%H:%M"), "unite": kind.unit}
    return page(
        request,
        "measure_add.html",
        status=status,
        kind=kind,
        label=kind.label(lang),
        ranges=ranges,
        chosen=values,
        errors=errors or [],
        invalid=invalid,
        **at.context(),
    )


def _fr(value: float | None, lang: str) -> str:
    text = f"{value or 0:g}"
    return text.replace(".", ",") if lang == "fr" else text


def add_measure_form(request: Request, caller: PageCallerDep, uow: UowDep) -> Response:
    """The form of one kind of measure (``?type=weight``): its value(s) and unit, the date and time, a note."""
    if caller.kind != ActorKind.PATIENT:
        return RedirectResponse("/", status_code=303)
    kind = vital_kind(request.query_params.get("type") or "")
    if kind is None:
        return RedirectResponse("/espace/mesures", status_code=303)
    return _measure_form(request, here(request, uow, caller), kind, uow)


_FIELD_OF = (
    ("component[0]", "systolique"),
    ("component[1]", "diastolique"),
    ("valueQuantity.code", "unite"),
    ("valueQuantity.system", "unite"),
    ("valueQuantity.value", "valeur"),
    ("effectiveDateTime", "date"),
    ("note", "note"),
)


def _invalid(expressions: list[str]) -> frozenset[str]:
    return frozenset(next((name for part, name in _FIELD_OF if part in e), "") for e in expressions) - {""}


def _number(text: str) -> float | None:
    try:
        return float(text.strip().replace(",", ".").replace("\u202f", "").replace(" ", ""))
    except ValueError:
        return None


async def add_measure(request: Request, caller: PageCallerDep) -> Response:
    """Record the measure of the form; a value out of range or in a wrong unit is refused in place."""
    request.state.profile_caller = caller

    def change(uow: UnitOfWork, at: Here, form: FormData) -> Response:
        kind = vital_kind(_field(form, "type"))
        if kind is None:
            return RedirectResponse("/espace/mesures", status_code=303)
        t = i18n.translator(_lang(request))
        chosen = {
            name: _field(form, name)
            for name in ("valeur", "unite", "systolique", "diastolique", "date", "heure", "note")
        }
        errors: list[str] = []
        invalid: set[str] = set()
        values: dict[str, Quantity] = {}
        if kind.components:
            for index, (part, name) in enumerate(zip(kind.components, ("systolique", "diastolique"), strict=False)):
                number = _number(chosen[name])
                if number is None:
                    errors.append(t("measure.error.number", name=part.label(_lang(request))))
                    invalid.add(name)
                else:
                    values[part.key] = Quantity(
                        number, part.unit, where=f"Observation.component[{index}].valueQuantity"
                    )
        else:
            number = _number(chosen["valeur"])
            if number is None:
                errors.append(t("measure.error.number", name=kind.label(_lang(request))))
                invalid.add("valeur")
            else:
                values[kind.key] = Quantity(number, chosen["unite"] or kind.unit)
        try:
            moment = dt.datetime.combine(
                dt.date.fromisoformat(chosen["date"]), dt.time.fromisoformat(chosen["heure"] or "12:00"), tzinfo=_PARIS
            )
        except ValueError:
            moment = None
            errors.append(t("measure.error.date"))
            invalid.add("date")
        if errors or moment is None:
            return _measure_form(
                request, at, kind, uow, status=422, errors=errors, invalid=frozenset(invalid), chosen=chosen
            )
        measurement = Measurement(
            kind=kind.key, values=values, effective_at=moment, note=chosen["note"].strip() or None
        )
        try:
            profile.add_measure(uow=uow, actor=at.actor, patient_id=at.patient_id, measurement=measurement)
        except ProfileRejected as exc:
            problems = _messages(request, exc.problems)
            fields = _invalid([p.expression for p in exc.problems])
            return _again(
                request,
                uow,
                lambda u, a: _measure_form(
                    request, a, kind, u, status=422, errors=problems, invalid=fields, chosen=chosen
                ),
            )
        uow.commit()
        return RedirectResponse(f"/espace/mesures?fait=ajoutee#mesure-{kind.key}", status_code=303)

    return await _post(request, caller, change)


async def remove_measure(request: Request, measure_id: str, caller: PageCallerDep) -> Response:
    """Remove a measure entered in error (kept in the record, no longer shown)."""
    request.state.profile_caller = caller

    def change(uow: UnitOfWork, at: Here, form: FormData) -> Response:
        if profile.patient_of(uow=uow, resource_type="Observation", resource_id=measure_id) != at.patient_id:
            raise Forbidden("cette mesure n'est pas dans l'espace santé choisi")
        profile.remove_measure(uow=uow, actor=at.actor, measure_id=measure_id)
        uow.commit()
        return RedirectResponse("/espace/mesures?fait=retiree#confirmation", status_code=303)

    return await _post(request, caller, change)


# --- « Mes vaccinations » ---------------------------------------------------------------------------------------


def _vaccinations_page(
    request: Request,
    uow: UnitOfWork,
    at: Here,
    *,
    status: int = 200,
    errors: list[str] | None = None,
    chosen: dict[str, str] | None = None,
) -> Response:
    given = profile.list_immunizations(uow=uow, actor=at.actor, patient_id=at.patient_id)
    uow.commit()
    rows = [
        {
            "date": i.occurrence,
            "vaccine": i.vaccine_display,
            "dose": i.dose_number,
            "lot": i.lot_number,
            "by": _who(request, i.source),
        }
        for i in reversed(given)
    ]
    today = uow.clock.now().astimezone(_PARIS).date().isoformat()
    return page(
        request,
        "vaccinations.html",
        status=status,
        rows=rows,
        vaccines=vaccines(),
        errors=errors or [],
        chosen=chosen or {"date": today},
        done=request.query_params.get("fait") == "ajoutee",
        **at.context(),
    )


def vaccinations_page(request: Request, caller: PageCallerDep, uow: UowDep) -> Response:
    """« Mes vaccinations »: the list, newest first, and the form to declare one."""
    if caller.kind != ActorKind.PATIENT:
        return RedirectResponse("/", status_code=303)
    return _vaccinations_page(request, uow, here(request, uow, caller))


async def add_vaccination(request: Request, caller: PageCallerDep) -> Response:
    """Declare a vaccination (a coded vaccine of the list, or another one by its name)."""
    request.state.profile_caller = caller

    def change(uow: UnitOfWork, at: Here, form: FormData) -> Response:
        t = i18n.translator(_lang(request))
        chosen = {name: _field(form, name) for name in ("vaccin", "nom", "date", "dose", "lot")}
        errors: list[str] = []
        try:
            day = dt.date.fromisoformat(chosen["date"])
        except ValueError:
            day = None
            errors.append(t("vaccinations.error.date"))
        dose = chosen["dose"].strip()
        if dose and not dose.isdigit():
            errors.append(t("vaccinations.error.dose"))
        if errors or day is None:
            return _vaccinations_page(request, uow, at, status=422, errors=errors, chosen=chosen)
        coded = chosen["vaccin"] if chosen["vaccin"] not in ("", "autre") else None
        given = ImmunizationIn(
            occurrence=day,
            vaccine_cis=coded,
            vaccine_text=None if coded else chosen["nom"],
            dose_number=int(dose) if dose else None,
            lot_number=chosen["lot"] or None,
        )
        try:
            profile.add_immunization(uow=uow, actor=at.actor, patient_id=at.patient_id, immunization=given)
        except ProfileRejected as exc:
            problems = _messages(request, exc.problems)
            return _again(
                request, uow, lambda u, a: _vaccinations_page(request, u, a, status=422, errors=problems, chosen=chosen)
            )
        uow.commit()
        return RedirectResponse("/espace/vaccinations?fait=ajoutee#confirmation", status_code=303)

    return await _post(request, caller, change)


# --- the professional's view ------------------------------------------------------------------------------------


def pro_profile_url(patient_id: str) -> str:
    """The professional's view of a patient's health profile (for a link from the patient page)."""
    return f"/pro/patients/{quote(patient_id, safe='')}/profil"


def pro_profile(request: Request, patient_id: str, caller: PageCallerDep, uow: UowDep) -> Response:
    """What the matrix lets this professional read of the patient's profile; each read traced (in emergency mode
    while a declaration lives)."""
    professional_only(caller)
    actor = actor_on(uow, caller, patient_id)
    identity = identities.get(uow=uow, actor=actor, patient_id=patient_id)
    if identity is None:
        from carnet.errors import NotFound

        raise NotFound("patient introuvable", field="patient")
    ctx = reading_context(request, uow, caller, identity.id)
    lang = _lang(request)
    parts: list[dict[str, Any]] = []
    for category in profile.overview(uow=uow, actor=actor, patient_id=identity.id, ctx=ctx):
        part: dict[str, Any] = {
            "key": category.category.value,
            "allowed": category.allowed,
            "reason": "; ".join(r.en if lang == "en" else r.fr for r in category.decision.reasons),
        }
        if category.allowed:
            args: dict[str, Any] = {"uow": uow, "actor": actor, "patient_id": identity.id, "ctx": ctx}
            if category.category == SpaceCategory.PROFILE:
                part["questionnaire"] = profile.current_questionnaire(**args)
            elif category.category == SpaceCategory.ALLERGIES:
                part["allergies"] = profile.list_allergies(**args)
            elif category.category == SpaceCategory.VITALS:
                measures = profile.list_measures(**args)
                part["groups"] = [
                    {
                        "label": k.label(lang),
                        "chart": Markup(svg_chart(k, mine, lang, chart_id=f"pro-{k.key}")),  # noqa: S704 - escaped
                        "rows": [{"at": m.effective_at, "value": _value_text(k, m, lang)} for m in reversed(mine)],
                    }
                    for k in entry_kinds()
                    if (mine := [m for m in measures if m.kind.key == k.key])
                ]
            else:
                part["vaccinations"] = list(reversed(profile.list_immunizations(**args)))
        parts.append(part)
    uow.commit()
    return page(
        request,
        "pro_profile.html",
        name=identity.display_name,
        patient_id=identity.id,
        parts=parts,
        emergency=ctx is not None,
    )


def _moved(target: str) -> Callable[[Request], Response]:
    def redirect(request: Request) -> Response:
        query = request.url.query
        return RedirectResponse(f"{target}?{query}" if query else target, status_code=303)

    redirect.__doc__ = f"The short address of ``{target}`` (the space's hub links to it)."
    return redirect


# The pages live under /espace (a web path: errors are HTML pages); the short addresses the hub of the space
# (carnet.web.space_hub) links to lead there.
for short, target in (("/profil", "/espace/profil"), ("/mesures", "/espace/mesures"),
                      ("/vaccinations", "/espace/vaccinations")):  # fmt: skip
    router.add_api_route(short, _moved(target), methods=["GET"])
router.add_api_route("/espace/profil", profile_page, methods=["GET"])
router.add_api_route("/espace/profil", save_profile, methods=["POST"])
router.add_api_route("/espace/mesures", measures_page, methods=["GET"])
router.add_api_route("/espace/mesures/ajouter", add_measure_form, methods=["GET"])
router.add_api_route("/espace/mesures/ajouter", add_measure, methods=["POST"])
router.add_api_route("/espace/mesures/{measure_id}/retirer", remove_measure, methods=["POST"])
router.add_api_route("/espace/vaccinations", vaccinations_page, methods=["GET"])
router.add_api_route("/espace/vaccinations", add_vaccination, methods=["POST"])
router.add_api_route("/pro/patients/{patient_id}/profil", pro_profile, methods=["GET"])

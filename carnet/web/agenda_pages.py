"""The agenda and the reimbursements in the patient portal (own router, included by :mod:`carnet.web.routes`):

- ``/espace/agenda?mois=AAAA-MM`` « Mon agenda »: the month's events day by day (Paris time), the previous and next
  months, the form to add an event, a button to cancel each one, and the secret address of the iCalendar feed with
  a copy button, a download link, « regenerate » (the old address stops working) and « revoke »;
- ``/espace/remboursements?du=&au=`` « Mes remboursements »: the reimbursed acts by date with the amounts paid,
  reimbursed and left to pay, and their totals, filtered by dates.

Every read and write goes through :mod:`carnet.space.agenda` / :mod:`carnet.space.reimbursements` with the actor of
the chosen space (:func:`carnet.web.patient_space.here`), so the access decision and the audit trail are the API's.
Every change is a POST with the session's CSRF token; a refused input is shown in place, with nothing stored.
The only script (the copy button, ``/espace/agenda/copier.js``) is served by this router and allowed on its page
only (``script-src 'self'``); without it the address stays selectable in its field.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from carnet.access.model import ActorKind
from carnet.api.deps import UowDep
from carnet.auth.claims import Caller
from carnet.errors import CarnetError
from carnet.space import agenda, reimbursements
from carnet.space.profile_model import ProfileRejected
from carnet.storage.uow import UnitOfWork
from carnet.web import i18n
from carnet.web import session as web_session
from carnet.web.auth import PageCallerDep
from carnet.web.patient_space import Here, here
from carnet.web.templating import _PARIS, page

router = APIRouter(include_in_schema=False)

MAX_INPUT = 600
_COPY_JS = b"""document.addEventListener("DOMContentLoaded", function () {
  var button = document.getElementById("copier-adresse");
  var field = document.getElementById("adresse-ics");
  var said = document.getElementById("copie-faite");
  if (!button || !field) { return; }
  button.hidden = false;
  button.addEventListener("click", function () {
    field.select();
    var done = function () { if (said) { said.textContent = button.getAttribute("data-done"); } };
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(field.value).then(done, function () { document.execCommand("copy"); done(); });
    } else { document.execCommand("copy"); done(); }
  });
});
"""


def _field(form: FormData, name: str, limit: int = MAX_INPUT) -> str:
    value = form.get(name)
    return value[:limit].strip() if isinstance(value, str) else ""


def _lang(request: Request) -> str:
    return i18n.language(request)


def _with_script(response: Response) -> Response:
    policy = response.headers.get("Content-Security-Policy", "")
    response.headers["Content-Security-Policy"] = policy + "; script-src 'self'"
    return response


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


# --- « Mon agenda » ---------------------------------------------------------------------------------------------


def _month(text: str | None, today: dt.date) -> dt.date:
    try:
        year, month = (int(x) for x in (text or "").split("-"))
        return dt.date(year, month, 1)
    except ValueError:
        return today.replace(day=1)


def _next(month: dt.date) -> dt.date:
    return (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


def _previous(month: dt.date) -> dt.date:
    return (month - dt.timedelta(days=1)).replace(day=1)


def _month_label(month: dt.date, t: Callable[..., str]) -> str:
    return f"{t(f'agenda.month.{month.month}')} {month.year}"


def _feed_url(request: Request, token: str | None) -> str | None:
    return f"{str(request.base_url).rstrip('/')}/agenda/{token}.ics" if token else None


def _agenda_page(
    request: Request,
    uow: UnitOfWork,
    at: Here,
    *,
    status: int = 200,
    errors: list[str] | None = None,
    chosen: dict[str, str] | None = None,
) -> Response:
    lang = _lang(request)
    t = i18n.translator(lang)
    now = uow.clock.now().astimezone(_PARIS)
    month = _month(request.query_params.get("mois"), now.date())
    since = dt.datetime.combine(month, dt.time(0), tzinfo=_PARIS).astimezone(dt.UTC)
    before = dt.datetime.combine(_next(month), dt.time(0), tzinfo=_PARIS).astimezone(dt.UTC)
    events = agenda.list_events(uow=uow, actor=at.actor, patient_id=at.patient_id, since=since, before=before)
    token = (
        agenda.feed_token(uow=uow, actor=at.actor, patient_id=at.patient_id, create=False)
        if at.actor.kind in (ActorKind.PATIENT, ActorKind.REPRESENTATIVE)
        else None
    )
    uow.commit()
    days: list[dict[str, Any]] = []
    for e in events:
        local = e.start_at.astimezone(_PARIS)
        if not days or days[-1]["date"] != local.date():
            days.append({"date": local.date(), "events": []})
        days[-1]["events"].append(
            {
                "id": e.id,
                "title": e.title,
                "kind": t(f"agenda.kind.{e.kind}"),
                "start": local,
                "end": e.end_at.astimezone(_PARIS) if e.end_at else None,
                "place": e.place,
                "description": e.description,
                "status": e.status,
                "status_label": t(f"agenda.status.{e.status}"),
                "by": t("agenda.by_you") if e.source_kind in ("patient", "representative") else e.source_name or "",
                "cancellable": e.status != "cancelled",
            }
        )
    values = chosen or {"date": (now.date() + dt.timedelta(days=1)).isoformat(), "heure": "09:00", "duree": "30",
                        "type": "appointment"}  # fmt: skip
    done = request.query_params.get("fait")
    response = page(
        request,
        "agenda.html",
        status=status,
        days=days,
        month_label=_month_label(month, t),
        previous=_previous(month).strftime("%Y-%m"),
        following=_next(month).strftime("%Y-%m"),
        kinds=[(k, t(f"agenda.kind.{k}")) for k in agenda.KINDS],
        chosen=values,
        errors=errors or [],
        done=done if done in ("ajoute", "annule", "adresse", "revoquee") else None,
        feed_url=_feed_url(request, token),
        **at.context(),
    )
    return _with_script(response)


def agenda_page(request: Request, caller: PageCallerDep, uow: UowDep) -> Response:
    """« Mon agenda »: the month's events, the form to add one, the feed's address."""
    if caller.kind != ActorKind.PATIENT:
        return RedirectResponse("/", status_code=303)
    return _agenda_page(request, uow, here(request, uow, caller))


def _again(
    request: Request, uow: UnitOfWork, caller: Caller, render: Callable[[UnitOfWork, Here], Response]
) -> Response:
    uow.rollback()
    with request.app.state.platform.uow() as again:
        return render(again, here(request, again, caller))


async def add_event(request: Request, caller: PageCallerDep) -> Response:
    """Add the event of the form; a refusal is shown in place with the form as filled."""

    def change(uow: UnitOfWork, at: Here, form: FormData) -> Response:
        lang = _lang(request)
        t = i18n.translator(lang)
        chosen = {name: _field(form, name) for name in ("type", "titre", "date", "heure", "duree", "lieu", "note")}
        errors: list[str] = []
        start: dt.datetime | None = None
        try:
            day = dt.date.fromisoformat(chosen["date"])
            hour = dt.time.fromisoformat(chosen["heure"] or "09:00")
            start = dt.datetime.combine(day, hour, tzinfo=_PARIS)
        except ValueError:
            errors.append(t("agenda.error.when"))
        minutes = 0
        if chosen["duree"]:
            try:
                minutes = int(chosen["duree"])
                if not 0 <= minutes <= 24 * 60:
                    raise ValueError
            except ValueError:
                errors.append(t("agenda.error.duration"))
        if start is not None and not errors:
            event = agenda.EventIn(
                kind=chosen["type"],
                title=chosen["titre"],
                start_at=start,
                end_at=start + dt.timedelta(minutes=minutes) if minutes else None,
                place=chosen["lieu"] or None,
                description=chosen["note"] or None,
            )
            try:
                agenda.add_event(uow=uow, actor=at.actor, patient_id=at.patient_id, event=event)
            except ProfileRejected as exc:
                errors = [p.en if lang == "en" else p.fr for p in exc.problems]
            else:
                uow.commit()
                month = start.strftime("%Y-%m")
                return RedirectResponse(f"/espace/agenda?mois={month}&fait=ajoute#confirmation", status_code=303)
        return _again(request, uow, caller,
                      lambda u, a: _agenda_page(request, u, a, status=422, errors=errors, chosen=chosen))  # fmt: skip

    return await _post(request, caller, change)


async def cancel_event(request: Request, caller: PageCallerDep, event_id: str) -> Response:
    """Cancel one event of the agenda."""

    def change(uow: UnitOfWork, at: Here, form: FormData) -> Response:
        if agenda.patient_of(uow=uow, event_id=event_id) != at.patient_id:
            return RedirectResponse("/espace/agenda", status_code=303)
        view = agenda.cancel_event(uow=uow, actor=at.actor, event_id=event_id)
        uow.commit()
        month = view.start_at.astimezone(_PARIS).strftime("%Y-%m")
        return RedirectResponse(f"/espace/agenda?mois={month}&fait=annule#confirmation", status_code=303)

    return await _post(request, caller, change)


async def regenerate_address(request: Request, caller: PageCallerDep) -> Response:
    """A new secret address for the feed (the old one stops working)."""

    def change(uow: UnitOfWork, at: Here, form: FormData) -> Response:
        agenda.regenerate_feed(uow=uow, actor=at.actor, patient_id=at.patient_id)
        uow.commit()
        return RedirectResponse("/espace/agenda?fait=adresse#adresse", status_code=303)

    return await _post(request, caller, change)


async def revoke_address(request: Request, caller: PageCallerDep) -> Response:
    """No secret address any more."""

    def change(uow: UnitOfWork, at: Here, form: FormData) -> Response:
        agenda.revoke_feed(uow=uow, actor=at.actor, patient_id=at.patient_id)
        uow.commit()
        return RedirectResponse("/espace/agenda?fait=revoquee#adresse", status_code=303)

    return await _post(request, caller, change)


def copy_script() -> Response:
    return Response(_COPY_JS, media_type="text/javascript; charset=utf-8",
                    headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"})  # fmt: skip


# --- « Mes remboursements » -------------------------------------------------------------------------------------


def _euros(cents: int | None, lang: str) -> str:
    if cents is None:
        return "—"
    text = f"{cents / 100:,.2f}"
    if lang == "fr":
        text = text.replace(",", "\u202f").replace(".", ",")
        return f"{text}\u00a0€"
    return f"€{text}"


def _day(text: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text) if text else None
    except ValueError:
        return None


def reimbursements_page(request: Request, caller: PageCallerDep, uow: UowDep) -> Response:
    """« Mes remboursements »: the acts by date (newest first), the amounts and their totals; ``du`` / ``au``."""
    if caller.kind != ActorKind.PATIENT:
        return RedirectResponse("/", status_code=303)
    at = here(request, uow, caller)
    lang = _lang(request)
    since, until = _day(request.query_params.get("du")), _day(request.query_params.get("au"))
    bad_range = since is not None and until is not None and since > until
    try:
        lines = [] if bad_range else reimbursements.list_lines(uow=uow, actor=at.actor, patient_id=at.patient_id,
                                                               since=since, until=until)  # fmt: skip
    except CarnetError:
        raise
    uow.commit()
    sums = reimbursements.totals(lines)
    rows = [
        {
            "date": line.care_date,
            "act": line.act_label,
            "code": line.act_code,
            "category": line.category,
            "professional": line.professional,
            "paid": _euros(line.paid_cents, lang),
            "reimbursed": _euros(line.reimbursed_cents, lang),
            "left": _euros(line.left_cents, lang),
        }
        for line in lines
    ]
    return page(
        request,
        "reimbursements.html",
        rows=rows,
        totals={
            "paid": _euros(sums.paid_cents, lang),
            "reimbursed": _euros(sums.reimbursed_cents, lang),
            "left": _euros(sums.left_cents, lang),
            "count": sums.lines,
        },  # fmt: skip
        since=since.isoformat() if since else "",
        until=until.isoformat() if until else "",
        bad_range=bad_range,
        **at.context(),
    )


router.add_api_route("/espace/agenda", agenda_page, methods=["GET"])
router.add_api_route("/espace/agenda", add_event, methods=["POST"])
router.add_api_route("/espace/agenda/copier.js", copy_script, methods=["GET"])
router.add_api_route("/espace/agenda/adresse", regenerate_address, methods=["POST"])
router.add_api_route("/espace/agenda/adresse/revoquer", revoke_address, methods=["POST"])
router.add_api_route("/espace/agenda/{event_id}/annuler", cancel_event, methods=["POST"])
router.add_api_route("/espace/remboursements", reimbursements_page, methods=["GET"])

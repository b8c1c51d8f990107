"""The patient's space: home (notifications, latest documents), documents grouped by class with search, the
document viewer, download, hide from / show to professionals. Every read and write goes through the record and
notification services with the holder's access actor, so the access decision and the audit trail are the API's.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from carnet.access.model import ActorKind
from carnet.api.deps import UowDep, actor_on, own_patient_id
from carnet.auth.claims import Caller
from carnet.notify import service as notify
from carnet.record import service as record
from carnet.record.model import AuthorKind, DocumentEntry
from carnet.record.store import DocumentFilters
from carnet.record.valuesets import value_sets
from carnet.web import session as web_session
from carnet.web.auth import PageCallerDep
from carnet.web.templating import page

LATEST = 5
MAX_QUERY = 200


def _view(entry: DocumentEntry) -> dict[str, Any]:
    """What a page shows of a document entry."""
    m = entry.metadata
    sets = value_sets()
    return {
        "id": entry.id,
        "title": m.title or sets.type_code.label(m.type_code),
        "type": sets.type_code.label(m.type_code),
        "date": m.creation_time,
        "author": m.author.display_name,
        "organisation": m.author.organisation_name,
        "duplicate": entry.probable_duplicate,
        "hidden": entry.hidden_from_professionals,
        "mime_type": m.mime_type,
    }


def _display_name(caller: Caller) -> str:
    if caller.name:
        return caller.name
    from carnet.auth import devusers

    demo = devusers.patient(caller.ins or "") if caller.ins else devusers.professional(caller.subject)
    return demo.display_name if demo is not None else caller.subject


def home(request: Request, caller: PageCallerDep, uow: UowDep) -> Response:
    """The holder's home: greeting, notifications, latest documents; professionals see their (future) space."""
    if caller.kind != ActorKind.PATIENT:
        from carnet.web import pro

        return pro.home(request, caller, uow)
    patient_id = own_patient_id(uow, caller)
    actor = actor_on(uow, caller)
    notifications = notify.list_for(uow=uow, patient_id=patient_id)[:10]
    latest = record.list_documents(uow=uow, actor=actor, patient_id=patient_id, limit=LATEST)
    uow.commit()
    return page(request, "home.html", name=_display_name(caller), notifications=notifications,
                latest=[_view(e) for e in latest.items], total=latest.total)  # fmt: skip


def _class_options() -> list[tuple[str, str]]:
    return sorted(((c.code, c.display) for c in value_sets().class_code.codes.values()), key=lambda o: o[1])


def _day(raw: str | None) -> dt.date | None | str:
    """A ``YYYY-MM-DD`` field: the date, None when empty, the raw text when unreadable."""
    if not raw:
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        return raw[:20]


def _filters(request: Request) -> tuple[DocumentFilters, dict[str, str], list[str]]:
    """The document filters of the query (class, deposited by, dates), the form's values, and what was refused."""
    q = request.query_params
    chosen = {name: (q.get(name) or "").strip() for name in ("classe", "par", "du", "au")}
    refused: list[str] = []
    classes = {code for code, _ in _class_options()}
    if chosen["classe"] and chosen["classe"] not in classes:
        refused.append("classe")
        chosen["classe"] = ""
    kind = {"pro": AuthorKind.PROFESSIONAL.value, "moi": AuthorKind.PATIENT.value}.get(chosen["par"])
    if chosen["par"] and kind is None:
        refused.append("par")
        chosen["par"] = ""
    bounds: dict[str, dt.datetime | None] = {"du": None, "au": None}
    for name in ("du", "au"):
        day = _day(chosen[name])
        if isinstance(day, str):
            refused.append(name)
            chosen[name] = ""
        elif day is not None:
            moment = dt.time.min if name == "du" else dt.time.max
            bounds[name] = dt.datetime.combine(day, moment, tzinfo=dt.UTC)
    filters = DocumentFilters(class_codes=(chosen["classe"],) if chosen["classe"] else (), author_kind=kind,
                              created_from=bounds["du"], created_to=bounds["au"])  # fmt: skip
    return filters, chosen, refused


def documents(request: Request, caller: PageCallerDep, uow: UowDep) -> Response:
    """The holder's documents grouped by class (French labels), filtered, or the results of a full-text search."""
    if caller.kind != ActorKind.PATIENT:
        return RedirectResponse("/", status_code=303)
    patient_id = own_patient_id(uow, caller)
    actor = actor_on(uow, caller)
    query = (request.query_params.get("q") or "").strip()[:MAX_QUERY]
    filters, chosen, refused = _filters(request)
    groups: list[tuple[str, str, list[dict[str, Any]]]] = []
    results: list[dict[str, Any]] | None = None
    if query:
        found = record.search_documents(uow=uow, actor=actor, patient_id=patient_id, query=query, filters=filters)
        results = [_view(e) for e in found.items]
    else:
        grouped = record.grouped_by_class(uow=uow, actor=actor, patient_id=patient_id, filters=filters)
        groups = [(code, label, [_view(e) for e in entries]) for code, label, entries in grouped]
    uow.commit()
    return page(request, "documents.html", query=query, groups=groups, results=results, chosen=chosen,
                refused=refused, classes=_class_options(), filtered=any(chosen.values()))  # fmt: skip


def document(request: Request, document_id: str, caller: PageCallerDep, uow: UowDep) -> Response:
    """One document: the CDA rendered safely (record.render_document), its download link, its visibility."""
    actor = actor_on(uow, caller)
    entry = record.get_document(uow=uow, actor=actor, entry_id=document_id)
    html = None
    if entry.metadata.mime_type in record.CDA_MIME_TYPES:
        html = record.render_document(uow=uow, actor=actor, entry_id=entry.id,
                                      pdf_url=f"/documents/{quote(entry.id)}/contenu")  # fmt: skip
    uow.commit()
    done = request.query_params.get("fait")
    return page(request, "document.html", doc=_view(entry), rendered=html,
                done=done if done in ("masque", "visible") else None)  # fmt: skip


def content(document_id: str, caller: PageCallerDep, uow: UowDep) -> Response:
    """The original bytes, as a download."""
    entry, data = record.get_content(uow=uow, actor=actor_on(uow, caller), entry_id=document_id)
    uow.commit()
    extension = {"application/pdf": "pdf", "image/jpeg": "jpg"}.get(entry.metadata.mime_type, "xml")
    return Response(data, media_type=entry.metadata.mime_type, headers={
        "Content-Disposition": f'attachment; filename="document-{entry.id}.{extension}"',
        "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})  # fmt: skip


async def _csrf_checked(request: Request) -> bool:
    form = await request.form()
    value = form.get("csrf")
    return web_session.csrf_ok(request, value if isinstance(value, str) else None)


async def hide(request: Request, document_id: str, caller: PageCallerDep) -> Response:
    return await _visibility(request, document_id, caller, hidden=True)


async def show(request: Request, document_id: str, caller: PageCallerDep) -> Response:
    return await _visibility(request, document_id, caller, hidden=False)


async def _visibility(request: Request, document_id: str, caller: Caller, *, hidden: bool) -> Response:
    from starlette.concurrency import run_in_threadpool

    if not await _csrf_checked(request):
        return page(request, "error.html", status=403, title_key="error.forbidden", message_key="error.csrf")

    def change() -> str:
        with request.app.state.platform.uow() as uow:
            actor = actor_on(uow, caller)
            change_visibility = record.hide_from_professionals if hidden else record.show_to_professionals
            entry = change_visibility(uow=uow, actor=actor, entry_id=document_id)
            uow.commit()
            return entry.id

    entry_id = await run_in_threadpool(change)
    return RedirectResponse(f"/documents/{quote(entry_id)}?fait={'masque' if hidden else 'visible'}", status_code=303)


_OUTCOMES = {"success": "history.outcome.success", "denied": "history.outcome.denied"}


def history(request: Request, caller: PageCallerDep, uow: UowDep) -> Response:
    """The holder's access history, newest first: who, when, what, how (emergency marked); filterable by person
    and by mode. Read through ``access.read_history`` (the READ_AUDIT decision; the reading is itself traced)."""
    if caller.kind != ActorKind.PATIENT:
        return RedirectResponse("/", status_code=303)
    from carnet.access import service as access
    from carnet.audit.service import to_access_entry

    patient_id = own_patient_id(uow, caller)
    rows = access.read_history(uow=uow, actor=actor_on(uow, caller), patient_id=patient_id)
    uow.commit()
    who = (request.query_params.get("qui") or "").strip()[:MAX_QUERY]
    emergency_only = request.query_params.get("mode") == "urgence"
    entries = [to_access_entry(row) for row in reversed(rows)]
    kept = [
        e for e in entries if (not who or who.casefold() in e.who.casefold()) and (not emergency_only or e.emergency)
    ]
    lines = [{"at": e.at, "who": e.who, "what": e.action_label, "mode": e.mode.label_fr, "emergency": e.emergency,
              "outcome_key": _OUTCOMES.get(e.outcome, "history.outcome.other"), "document_id": e.document_id}
             for e in kept]  # fmt: skip
    return page(request, "history.html", lines=lines, who=who, emergency_only=emergency_only, total=len(entries))


async def notification_read(request: Request, notification_id: str, caller: PageCallerDep) -> Response:
    """Mark one of the holder's notifications as read (POST with the CSRF token), back to the home page."""
    from starlette.concurrency import run_in_threadpool

    if caller.kind != ActorKind.PATIENT:
        return RedirectResponse("/", status_code=303)
    if not await _csrf_checked(request):
        return page(request, "error.html", status=403, title_key="error.forbidden", message_key="error.csrf")

    def mark() -> None:
        with request.app.state.platform.uow() as uow:
            notify.mark_read(uow=uow, patient_id=own_patient_id(uow, caller), notification_id=notification_id)
            uow.commit()

    await run_in_threadpool(mark)
    return RedirectResponse("/#notifications-titre", status_code=303)

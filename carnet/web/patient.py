"""The patient's space: home (what is new: documents, accesses, notifications), documents grouped by class with
search and filters, the document viewer (CDA rendered safely, PDF and JPEG shown inline), download, hide from /
show to professionals. Every read and write goes through the record, access and notification services with the
actor of the chosen space (:mod:`carnet.web.patient_space`), so the access decision and the audit trail are the
API's.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from carnet.access.model import Action, Actor, ActorKind
from carnet.api.deps import UowDep, actor_on
from carnet.auth.claims import Caller
from carnet.notify import service as notify
from carnet.record import service as record
from carnet.record.model import AuthorKind, DocumentEntry
from carnet.record.store import DocumentFilters
from carnet.record.valuesets import class_for_type, value_sets
from carnet.storage.uow import UnitOfWork
from carnet.web import session as web_session
from carnet.web.auth import PageCallerDep
from carnet.web.patient_space import display_name, here
from carnet.web.templating import page

LATEST = 5
MAX_QUERY = 200
MAX_AUTHOR = 100
INLINE = {"application/pdf": "pdf", "image/jpeg": "jpg"}  # shown in the page; anything else is downloaded
FILE_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    # Shown only in this site's own pages; nothing in the file may load or run anything else.
    "Content-Security-Policy": "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; "
    "frame-ancestors 'self'",
    "X-Frame-Options": "SAMEORIGIN",
    "Referrer-Policy": "same-origin",
}
_FILE_HEADERS = FILE_HEADERS


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
        "by_me": m.author_kind is AuthorKind.PATIENT,
        "duplicate": entry.probable_duplicate,
        "hidden": entry.hidden_from_professionals,
        "mime_type": m.mime_type,
    }


def _display_name(caller: Caller) -> str:
    return display_name(caller)


def _latest_accesses(uow: UnitOfWork, actor: Actor, patient_id: str, holder_ids: set[str]) -> list[dict[str, Any]]:
    """The latest accesses by others (``access.read_history``: the READ_AUDIT decision, the reading traced)."""
    from carnet.access import service as access
    from carnet.audit.service import to_access_entry

    rows = access.read_history(uow=uow, actor=actor, patient_id=patient_id)
    entries = [to_access_entry(row) for row in reversed(rows)]
    others = [e for e in entries if e.actor_id not in holder_ids and e.actor_kind not in ("system", "operator")]
    return [{"at": e.at, "who": e.who, "what": e.action_label, "emergency": e.emergency, "mode": e.mode.label_fr}
            for e in others[:LATEST]]  # fmt: skip


def home(request: Request, caller: PageCallerDep, uow: UowDep) -> Response:
    """The holder's home: what is new (notifications, latest documents, latest accesses by others)."""
    if caller.kind != ActorKind.PATIENT:
        from carnet.web import pro

        return pro.home(request, caller, uow)
    from carnet.access import service as access

    at = here(request, uow, caller)
    latest = record.list_documents(uow=uow, actor=at.actor, patient_id=at.patient_id, limit=LATEST)
    # The notifications are the record's: shown to whoever may list it (the decision, enforced).
    access.enforce_on_record(uow=uow, actor=at.actor, patient_id=at.patient_id)
    notifications = notify.list_for(uow=uow, patient_id=at.patient_id)[:10]
    accesses = _latest_accesses(uow, at.actor, at.patient_id, {at.actor.id, at.patient_id})
    from carnet.web.messages import space_conversations

    conversations = space_conversations(request, uow, caller)
    uow.commit()
    return page(request, "home.html", name=display_name(caller), notifications=notifications,
                latest=[_view(e) for e in latest.items], total=latest.total, accesses=accesses,
                conversations=conversations[:LATEST], unread=sum(1 for c in conversations if c["unread"]),
                **at.context())  # fmt: skip


def _class_options() -> list[tuple[str, str]]:
    return sorted(((c.code, c.display) for c in value_sets().class_code.codes.values()), key=lambda o: o[1])


def _type_options() -> list[tuple[str, list[tuple[str, str]]]]:
    """The official document types (JDV_J07) with their French labels, grouped by the label of their class."""
    classes = dict(_class_options())
    groups: dict[str, list[tuple[str, str]]] = {}
    seen: set[str] = set()
    for code in value_sets().type_code:
        if code.code in seen:
            continue
        seen.add(code.code)
        klass = class_for_type(code.code)
        groups.setdefault(classes.get(klass or "", "—"), []).append((code.code, code.display))
    return [(label, sorted(options, key=lambda o: o[1])) for label, options in sorted(groups.items())]


def _day(raw: str | None) -> dt.date | None | str:
    """A ``YYYY-MM-DD`` field: the date, None when empty, the raw text when unreadable."""
    if not raw:
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        return raw[:20]


def day_bounds(chosen: dict[str, str], refused: list[str]) -> dict[str, dt.datetime | None]:
    """The ``du``/``au`` fields as instants (start of the first day, end of the last); an unreadable one is
    refused (named in ``refused``, emptied in ``chosen``)."""
    bounds: dict[str, dt.datetime | None] = {"du": None, "au": None}
    for name in ("du", "au"):
        day = _day(chosen[name])
        if isinstance(day, str):
            refused.append(name)
            chosen[name] = ""
        elif day is not None:
            moment = dt.time.min if name == "du" else dt.time.max
            bounds[name] = dt.datetime.combine(day, moment, tzinfo=dt.UTC)
    return bounds


def _filters(request: Request) -> tuple[DocumentFilters, dict[str, str], list[str]]:
    """The document filters of the query (class, type, author, deposited by, dates), the form's values, and what
    was refused."""
    q = request.query_params
    chosen = {name: (q.get(name) or "").strip() for name in ("classe", "type", "auteur", "par", "du", "au")}
    refused: list[str] = []
    if chosen["classe"] and chosen["classe"] not in {code for code, _ in _class_options()}:
        refused.append("classe")
        chosen["classe"] = ""
    if chosen["type"] and chosen["type"] not in value_sets().type_code:
        refused.append("type")
        chosen["type"] = ""
    if len(chosen["auteur"]) > MAX_AUTHOR:
        refused.append("auteur")
        chosen["auteur"] = ""
    kind = {"pro": AuthorKind.PROFESSIONAL.value, "moi": AuthorKind.PATIENT.value}.get(chosen["par"])
    if chosen["par"] and kind is None:
        refused.append("par")
        chosen["par"] = ""
    bounds = day_bounds(chosen, refused)
    filters = DocumentFilters(class_codes=(chosen["classe"],) if chosen["classe"] else (),
                              type_codes=(chosen["type"],) if chosen["type"] else (),
                              author=chosen["auteur"] or None, author_kind=kind,
                              created_from=bounds["du"], created_to=bounds["au"])  # fmt: skip
    return filters, chosen, refused


def documents(request: Request, caller: PageCallerDep, uow: UowDep) -> Response:
    """The documents of the chosen space grouped by class (French labels), filtered, or a full-text search."""
    if caller.kind != ActorKind.PATIENT:
        return RedirectResponse("/", status_code=303)
    at = here(request, uow, caller)
    query = (request.query_params.get("q") or "").strip()[:MAX_QUERY]
    filters, chosen, refused = _filters(request)
    groups: list[tuple[str, str, list[dict[str, Any]]]] = []
    results: list[dict[str, Any]] | None = None
    if query:
        found = record.search_documents(uow=uow, actor=at.actor, patient_id=at.patient_id, query=query,
                                        filters=filters)  # fmt: skip
        results = [_view(e) for e in found.items]
    else:
        grouped = record.grouped_by_class(uow=uow, actor=at.actor, patient_id=at.patient_id, filters=filters)
        groups = [(code, label, [_view(e) for e in entries]) for code, label, entries in grouped]
    uow.commit()
    added = request.query_params.get("ajoute")
    return page(request, "documents.html", query=query, groups=groups, results=results, chosen=chosen,
                refused=refused, classes=_class_options(), types=_type_options(), filtered=any(chosen.values()),
                added=added if added else None, **at.context())  # fmt: skip


def _document_actor(uow: UnitOfWork, caller: Caller, document_id: str) -> Actor:
    """The caller's role on this document: chosen from the document's patient (holder on their own record,
    representative on another's), the decision then says whether they may see it."""
    return actor_on(uow, caller, record.patient_of(uow=uow, entry_id=document_id))


def document(request: Request, document_id: str, caller: PageCallerDep, uow: UowDep) -> Response:
    """One document: the CDA rendered safely (record.render_document), a PDF or JPEG shown inline, its download
    link, its visibility."""
    actor = _document_actor(uow, caller, document_id)
    entry = record.get_document(uow=uow, actor=actor, entry_id=document_id)
    html = None
    if entry.metadata.mime_type in record.CDA_MIME_TYPES:
        html = record.render_document(uow=uow, actor=actor, entry_id=entry.id,
                                      pdf_url=f"/documents/{quote(entry.id)}/pdf")  # fmt: skip
    uow.commit()
    done = request.query_params.get("fait")
    return page(request, "document.html", doc=_view(entry), rendered=html,
                inline=INLINE.get(entry.metadata.mime_type),
                holder=actor.kind in (ActorKind.PATIENT, ActorKind.REPRESENTATIVE),
                done=done if done in ("masque", "visible", "ajoute") else None)  # fmt: skip


def content(request: Request, document_id: str, caller: PageCallerDep, uow: UowDep) -> Response:
    """The original bytes: a download; ``?affichage=integre`` shows a PDF or a JPEG in the viewer's frame."""
    entry, data = record.get_content(uow=uow, actor=_document_actor(uow, caller, document_id), entry_id=document_id)
    uow.commit()
    mime = entry.metadata.mime_type
    extension = INLINE.get(mime, "xml")
    inline = request.query_params.get("affichage") == "integre" and mime in INLINE
    disposition = "inline" if inline else "attachment"
    headers = {**_FILE_HEADERS, "Content-Disposition": f'{disposition}; filename="document-{entry.id}.{extension}"'}
    return Response(data, media_type=mime, headers=headers)


def embedded_pdf(request: Request, document_id: str, caller: PageCallerDep, uow: UowDep) -> Response:
    """The PDF a level-1 document carries, shown in the viewer's frame (``?telecharger=1``: downloaded)."""
    entry, data = record.get_embedded_pdf(uow=uow, actor=_document_actor(uow, caller, document_id),
                                          entry_id=document_id)  # fmt: skip
    uow.commit()
    disposition = "attachment" if request.query_params.get("telecharger") == "1" else "inline"
    headers = {**_FILE_HEADERS, "Content-Disposition": f'{disposition}; filename="document-{entry.id}.pdf"'}
    return Response(data, media_type="application/pdf", headers=headers)


async def csrf_checked(request: Request) -> bool:
    form = await request.form()
    value = form.get("csrf")
    return web_session.csrf_ok(request, value if isinstance(value, str) else None)


_csrf_checked = csrf_checked


def csrf_refused(request: Request) -> Response:
    return page(request, "error.html", status=403, title_key="error.forbidden", message_key="error.csrf")


async def hide(request: Request, document_id: str, caller: PageCallerDep) -> Response:
    return await _visibility(request, document_id, caller, hidden=True)


async def show(request: Request, document_id: str, caller: PageCallerDep) -> Response:
    return await _visibility(request, document_id, caller, hidden=False)


async def _visibility(request: Request, document_id: str, caller: Caller, *, hidden: bool) -> Response:
    from starlette.concurrency import run_in_threadpool

    if not await csrf_checked(request):
        return csrf_refused(request)

    def change() -> str:
        with request.app.state.platform.uow() as uow:
            actor = _document_actor(uow, caller, document_id)
            change_visibility = record.hide_from_professionals if hidden else record.show_to_professionals
            entry = change_visibility(uow=uow, actor=actor, entry_id=document_id)
            uow.commit()
            return entry.id

    entry_id = await run_in_threadpool(change)
    return RedirectResponse(f"/documents/{quote(entry_id)}?fait={'masque' if hidden else 'visible'}", status_code=303)


async def notification_read(request: Request, notification_id: str, caller: PageCallerDep) -> Response:
    """Mark one of the space's notifications as read (POST with the CSRF token), back to the home page."""
    from starlette.concurrency import run_in_threadpool

    from carnet.access import service as access

    if caller.kind != ActorKind.PATIENT:
        return RedirectResponse("/", status_code=303)
    if not await csrf_checked(request):
        return csrf_refused(request)

    def mark() -> None:
        with request.app.state.platform.uow() as uow:
            at = here(request, uow, caller)
            access.enforce_on_record(uow=uow, actor=at.actor, patient_id=at.patient_id, action=Action.LIST)
            notify.mark_read(uow=uow, patient_id=at.patient_id, notification_id=notification_id)
            uow.commit()

    await run_in_threadpool(mark)
    return RedirectResponse("/#notifications-titre", status_code=303)

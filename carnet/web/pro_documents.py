"""The patient's documents in the professional portal: the list the profession may read (``/pro/patients/{id}/
documents``), grouped by class and filtered like the patient's own view (the patient pages' filters), or a full-text
search; the viewer (``/pro/documents/{id}``: the CDA rendered safely, the PDF of a level-1 document shown inline,
the download); and the author's hold back / release of a document until the announcement consultation.

Every read goes through :mod:`carnet.record.service` with the professional's actor and, while an emergency
declaration lives, the emergency context (:func:`carnet.web.pro_common.reading_context`): the access decision
leaves out what the matrix refuses and what the holder hid, and every read is traced (marked emergency then).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from carnet.access import service as access
from carnet.access.model import Actor
from carnet.api.deps import UowDep, actor_on
from carnet.auth.claims import Caller
from carnet.errors import NotFound
from carnet.identity import service as identities
from carnet.record import service as record
from carnet.record.model import DocumentEntry
from carnet.record.valuesets import value_sets
from carnet.storage.uow import UnitOfWork
from carnet.web.auth import PageCallerDep
from carnet.web.patient import FILE_HEADERS, MAX_QUERY, _class_options, _filters, _type_options, _view
from carnet.web.pro_common import professional_only, reading_context
from carnet.web.pro_patient import patient_url, posted_form
from carnet.web.templating import page

router = APIRouter(include_in_schema=False)

LEVEL1_PDF = "urn:ihe:iti:xds-sd:pdf:2008"  # JDV_J10 format code of a CDA level 1 carrying a PDF
DONE = ("depose", "libere", "retenu")
_HEADERS = FILE_HEADERS


def document_url(entry_id: str, suffix: str = "") -> str:
    return f"/pro/documents/{quote(entry_id, safe='')}{suffix}"


def pro_view(entry: DocumentEntry, actor: Actor) -> dict[str, Any]:
    """What the professional's pages show of a document: the patient pages' view, plus whether it is held back
    from the patient and whether this professional (or the one a secretariat works for) wrote it."""
    view = _view(entry)
    author = entry.metadata.author.id
    view.update(held_back=entry.metadata.invisible_to_patient, own=author in (actor.id, actor.acting_for),
                level1_pdf=entry.metadata.format_code == LEVEL1_PDF)  # fmt: skip
    return view


def _grouped(entries: list[DocumentEntry], actor: Actor) -> list[tuple[str, str, list[dict[str, Any]]]]:
    """The entries grouped by class, with the French label of each class (as ``record.grouped_by_class``)."""
    labels = value_sets().class_code
    groups: dict[str, list[dict[str, Any]]] = {}
    for entry in entries:
        groups.setdefault(entry.metadata.class_code, []).append(pro_view(entry, actor))
    return [(code, labels.label(code), groups[code]) for code in sorted(groups)]


@router.get("/pro/patients/{patient_id}/documents")
def documents(request: Request, patient_id: str, caller: PageCallerDep, uow: UowDep) -> Response:
    """The documents the profession may read, grouped by class and filtered, or a full-text search (``?q=``); without
    a basis of access, back to the patient page to state one."""
    from carnet.web.patient import _display_name

    professional_only(caller)
    actor = actor_on(uow, caller, patient_id)
    identity = identities.get(uow=uow, actor=actor, patient_id=patient_id)
    if identity is None:
        raise NotFound("patient introuvable", field="patient")
    ctx = reading_context(request, uow, caller, identity.id)
    if not access.decision_on_record(uow=uow, actor=actor, patient_id=identity.id, ctx=ctx).allowed:
        uow.commit()
        return RedirectResponse(patient_url(identity.id, "?base=requise"), status_code=303)
    query = (request.query_params.get("q") or "").strip()[:MAX_QUERY]
    filters, chosen, refused = _filters(request)
    groups: list[tuple[str, str, list[dict[str, Any]]]] = []
    results: list[dict[str, Any]] | None = None
    if query:
        found = record.search_documents(uow=uow, actor=actor, patient_id=identity.id, query=query, filters=filters,
                                        ctx=ctx)  # fmt: skip
        results = [pro_view(e, actor) for e in found.items]
    else:
        listing = record.list_documents(uow=uow, actor=actor, patient_id=identity.id, filters=filters,
                                        limit=10_000, ctx=ctx)  # fmt: skip
        groups = _grouped(listing.items, actor)
    uow.commit()
    return page(request, "pro_documents.html", status=422 if refused else 200, name=_display_name(caller),
                patient={"id": identity.id, "name": identity.display_name}, query=query, groups=groups,
                results=results, chosen=chosen, refused=refused, classes=_class_options(), types=_type_options(),
                filtered=any(chosen.values()), emergency=ctx is not None)  # fmt: skip


def _reader(request: Request, uow: UnitOfWork, caller: Caller, document_id: str) -> tuple[Actor, Any, str]:
    """The professional's actor on the document's record, the reading context, and the patient's id (a document
    that does not exist is NotFound, as one the decision must hide)."""
    professional_only(caller)
    patient_id = record.patient_of(uow=uow, entry_id=document_id)
    if patient_id is None:
        raise NotFound("document introuvable", field="document")
    return actor_on(uow, caller, patient_id), reading_context(request, uow, caller, patient_id), patient_id


@router.get("/pro/documents/{document_id}")
def document(request: Request, document_id: str, caller: PageCallerDep, uow: UowDep) -> Response:
    """One document: its metadata, the CDA rendered safely (``record.render_document``), a level-1 PDF inline,
    the download; for its author, hold back from / release to the patient."""
    actor, ctx, patient_id = _reader(request, uow, caller, document_id)
    entry = record.get_document(uow=uow, actor=actor, entry_id=document_id, ctx=ctx)
    html = None
    if entry.metadata.mime_type in record.CDA_MIME_TYPES:
        html = record.render_document(uow=uow, actor=actor, entry_id=entry.id, ctx=ctx)
    identity = identities.get(uow=uow, actor=actor, patient_id=patient_id)
    uow.commit()
    done = request.query_params.get("fait")
    return page(request, "pro_document.html", doc=pro_view(entry, actor), rendered=html, emergency=ctx is not None,
                patient={"id": patient_id, "name": identity.display_name if identity else patient_id},
                done=done if done in DONE else None)  # fmt: skip


def _download(data: bytes, mime: str, filename: str, *, inline: bool) -> Response:
    headers = dict(_HEADERS)
    headers["Content-Disposition"] = f'{"inline" if inline else "attachment"}; filename="{filename}"'
    return Response(data, media_type=mime, headers=headers)


@router.get("/pro/documents/{document_id}/contenu")
def content(request: Request, document_id: str, caller: PageCallerDep, uow: UowDep) -> Response:
    """The original bytes (the CDA document), as a download."""
    actor, ctx, _ = _reader(request, uow, caller, document_id)
    entry, data = record.get_content(uow=uow, actor=actor, entry_id=document_id, ctx=ctx)
    uow.commit()
    extension = "xml" if entry.metadata.mime_type in record.CDA_MIME_TYPES else "bin"
    return _download(data, entry.metadata.mime_type, f"document-{entry.id}.{extension}", inline=False)


@router.get("/pro/documents/{document_id}/pdf")
def pdf(request: Request, document_id: str, caller: PageCallerDep, uow: UowDep) -> Response:
    """The PDF a level-1 document carries, shown in the viewer's frame (``?telecharger=1``: downloaded)."""
    actor, ctx, _ = _reader(request, uow, caller, document_id)
    entry, pdf_bytes = record.get_embedded_pdf(uow=uow, actor=actor, entry_id=document_id, ctx=ctx)
    uow.commit()
    inline = request.query_params.get("telecharger") != "1"
    return _download(pdf_bytes, "application/pdf", f"document-{entry.id}.pdf", inline=inline)


async def _lifecycle(request: Request, document_id: str, caller: Caller, *, release: bool) -> Response:
    professional_only(caller)
    if await posted_form(request) is None:
        return page(request, "error.html", status=403, title_key="error.forbidden", message_key="error.csrf")

    def change() -> str:
        with request.app.state.platform.uow() as uow:
            actor, _, _ = _reader(request, uow, caller, document_id)
            changed = record.release_to_patient if release else record.hold_back_from_patient
            entry = changed(uow=uow, actor=actor, entry_id=document_id)
            uow.commit()
            return entry.id

    entry_id = await run_in_threadpool(change)
    return RedirectResponse(document_url(entry_id, f"?fait={'libere' if release else 'retenu'}"), status_code=303)


@router.post("/pro/documents/{document_id}/liberer")
async def release(request: Request, document_id: str, caller: PageCallerDep) -> Response:
    """The author releases a held-back document to the patient (after the announcement consultation)."""
    return await _lifecycle(request, document_id, caller, release=True)


@router.post("/pro/documents/{document_id}/retenir")
async def hold_back(request: Request, document_id: str, caller: PageCallerDep) -> Response:
    """The author holds a document back from the patient until the announcement consultation."""
    return await _lifecycle(request, document_id, caller, release=False)

"""The holder adds their own document (PDF or JPEG) with its type and a title: a multipart form with the CSRF
token, deposited through ``carnet.record.service.deposit`` with the holder as author (as the API's ITI-105 does
for a patient), so it is checked (a "PDF" that is not one is refused), indexed, traced and decided like any
deposit. Errors are shown in the form, never as a traceback.
"""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData, UploadFile

from carnet.access.model import ActorKind
from carnet.api.deps import UowDep
from carnet.errors import DocumentRejected
from carnet.record import service as record
from carnet.record.model import Author, AuthorKind, DocumentMetadata
from carnet.record.valuesets import class_for_type, value_sets
from carnet.web import session as web_session
from carnet.web.auth import PageCallerDep
from carnet.web.patient_space import Here, here
from carnet.web.templating import page

MAX_UPLOAD = 10 * 1024 * 1024  # bytes of one file
MAX_TITLE = 200
# The XDS format codes (JDV_J10 / TRE_A11) of the two kinds of file a holder may deposit.
FORMATS = {"application/pdf": "urn:ihe:iti:xds-sd:pdf:2008", "image/jpeg": "urn:ihe:iti-fr:xds-sd:jpeg:2010"}
_EXTENSIONS = {".pdf": "application/pdf", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}
_FRIENDLY = {"not_pdf": "upload.error.not_pdf", "not_jpeg": "upload.error.not_jpeg", "too_large": "upload.error.size"}


@functools.cache
def patient_types() -> tuple[tuple[str, str], ...]:
    """The document types a holder deposits: the ``DOCPAT`` codes of the DMP's value set (JDV_J66, TRE_A05) that
    JDV_J07 and the class of their type (ASS_X04, JDV_J06) accept, with their French labels."""
    sets = value_sets()
    return tuple(
        (c.code, c.display)
        for c in sets.type_code_dmp
        if c.code.startswith("DOCPAT")
        and c.code in sets.type_code
        and (class_for_type(c.code) or "") in sets.class_code
    )


def _form_page(request: Request, at: Here, *, status: int = 200, errors: list[str] | None = None,
               chosen: dict[str, str] | None = None) -> Response:  # fmt: skip
    return page(request, "upload.html", status=status, types=patient_types(), errors=errors or [],
                chosen=chosen or {"type": "", "titre": ""}, max_mb=MAX_UPLOAD // (1024 * 1024),
                **at.context())  # fmt: skip


def upload_form(request: Request, caller: PageCallerDep, uow: UowDep) -> Response:
    """The form: type (the patient document types), title, file (PDF or JPEG)."""
    if caller.kind != ActorKind.PATIENT:
        return RedirectResponse("/", status_code=303)
    return _form_page(request, here(request, uow, caller))


def _mime_of(upload: UploadFile) -> str | None:
    declared = (upload.content_type or "").split(";")[0].strip().lower()
    if declared in FORMATS:
        return declared
    name = (upload.filename or "").lower()
    return next((mime for ext, mime in _EXTENSIONS.items() if name.endswith(ext)), None)


def metadata_for(*, patient_id: str, type_code: str, title: str, mime_type: str, now: dt.datetime) -> DocumentMetadata:
    """The metadata of a holder's own file: the holder is the author, the class is the type's (ASS_X04)."""
    return DocumentMetadata(
        unique_id=f"urn:oid:2.25.{uuid.uuid4().int}",
        type_code=type_code,
        class_code=class_for_type(type_code) or "",
        format_code=FORMATS[mime_type],
        confidentiality_code="N",
        title=title,
        author=Author(id=patient_id),
        author_kind=AuthorKind.PATIENT,
        mime_type=mime_type,
        creation_time=now,
    )


async def upload(request: Request, caller: PageCallerDep) -> Response:
    """Deposit the holder's file; the form again with every reason when it is refused."""
    from starlette.concurrency import run_in_threadpool

    if caller.kind != ActorKind.PATIENT:
        return RedirectResponse("/", status_code=303)
    platform = request.app.state.platform

    def where() -> Here:
        with platform.uow() as uow:
            return here(request, uow, caller)

    at = await run_in_threadpool(where)
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_UPLOAD + 64 * 1024:
        too_big = _t(request, "upload.error.size", mb=MAX_UPLOAD // (1024 * 1024))
        return _form_page(request, at, status=413, errors=[too_big])
    form = await request.form(max_files=1, max_fields=8)
    try:
        read = await _read(request, form)
    finally:
        await form.close()
    if read is None:
        return page(request, "error.html", status=403, title_key="error.forbidden", message_key="error.csrf")
    chosen, content, mime, errors = read
    if errors or mime is None:
        return _form_page(request, at, status=422, errors=errors, chosen=chosen)

    def deposit() -> str:
        with platform.uow() as uow:
            current = here(request, uow, caller)
            meta = metadata_for(patient_id=current.patient_id, type_code=chosen["type"], title=chosen["titre"],
                                mime_type=mime, now=uow.clock.now())  # fmt: skip
            result = record.deposit(uow=uow, actor=current.actor, patient_id=current.patient_id, content=content,
                                    mime_type=mime, metadata=meta, max_bytes=MAX_UPLOAD,
                                    submission_source="carnet-web")  # fmt: skip
            uow.commit()
            return result.entry.id

    try:
        entry_id = await run_in_threadpool(deposit)
    except DocumentRejected as exc:
        reasons = [_problem(request, p) for p in exc.problems] or [exc.message]
        return _form_page(request, at, status=422, errors=reasons, chosen=chosen)
    return RedirectResponse(f"/documents/{quote(entry_id)}?fait=ajoute", status_code=303)


async def _read(request: Request, form: FormData) -> tuple[dict[str, str], bytes, str | None, list[str]] | None:
    """The form's fields, the file's bytes and kind, and every reason to refuse them; None without the CSRF token."""
    csrf = form.get("csrf")
    if not web_session.csrf_ok(request, csrf if isinstance(csrf, str) else None):
        return None
    chosen = {name: str(form.get(name) or "").strip() for name in ("type", "titre")}
    errors: list[str] = []
    if chosen["type"] not in dict(patient_types()):
        errors.append(_t(request, "upload.error.type"))
        chosen["type"] = ""
    if not chosen["titre"]:
        errors.append(_t(request, "upload.error.title"))
    elif len(chosen["titre"]) > MAX_TITLE:
        errors.append(_t(request, "upload.error.title_long", max=MAX_TITLE))
    file = form.get("fichier")
    content = b""
    mime: str | None = None
    if not isinstance(file, UploadFile) or not file.filename:
        errors.append(_t(request, "upload.error.file"))
    else:
        content = await file.read(MAX_UPLOAD + 1)
        mime = _mime_of(file)
        if len(content) > MAX_UPLOAD:
            errors.append(_t(request, "upload.error.size", mb=MAX_UPLOAD // (1024 * 1024)))
        elif not content:
            errors.append(_t(request, "upload.error.empty"))
        elif mime is None:
            errors.append(_t(request, "upload.error.kind"))
    return chosen, content, mime, errors


def _t(request: Request, key: str, **values: Any) -> str:
    from carnet.web import i18n

    return i18n.translator(i18n.language(request))(key, **values)


def _problem(request: Request, problem: Any) -> str:
    key = _FRIENDLY.get(getattr(problem, "code", ""))
    return _t(request, key, mb=MAX_UPLOAD // (1024 * 1024)) if key else str(getattr(problem, "message", problem))

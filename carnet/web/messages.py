"""Secure messaging in both portals: the inbox (conversations, unread marked), a conversation (read receipts,
attachments, reply while it is open, close), and for professionals the composer (a patient's mailbox or the
directory's, a document of the record or a file attached) and the documents received in IHE XDM to integrate into
a record. Every read and write goes through ``carnet.messaging.service`` with the portal's actor, so the patient
rule (only a professional opens a conversation with a patient; nobody writes in a closed one), the access
decision on a patient's mailbox and the audit trail are those of the FHIR ``Communication`` API.

Patients act on the chosen space's mailbox (:mod:`carnet.web.patient_space`); professionals on their personal and
organisational mailboxes, and open their personal one from the inbox the first time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile

from carnet.access.model import Actor, ActorKind
from carnet.api.deps import UowDep, actor_on
from carnet.auth.claims import Caller
from carnet.errors import CarnetError, Forbidden
from carnet.messaging import service as mss
from carnet.messaging.model import patient_address
from carnet.record import service as record
from carnet.storage.uow import UnitOfWork
from carnet.web import session as web_session
from carnet.web.auth import PageCallerDep
from carnet.web.patient_space import here
from carnet.web.templating import page

router = APIRouter(include_in_schema=False)

MAX_UPLOAD = 10 * 1024 * 1024  # bytes of one attached file
MAX_FILES = 5
MAX_SEARCH = 100
ATTACHABLE = 50  # record documents offered in the composer
MAX_FIELDS = 20 + ATTACHABLE


@dataclass(frozen=True, slots=True)
class Portal:
    """Where the pages are (``/messages`` or ``/pro/messages``), their base template, and the actor's mailboxes."""

    prefix: str
    base: str
    actor: Actor
    boxes: tuple[str, ...]  # addresses the pages act on
    patient_id: str | None  # the patient space's record (patient portal)
    context: dict[str, Any]


def _patient_portal(request: Request, uow: UnitOfWork, caller: Caller) -> Portal:
    at = here(request, uow, caller)
    boxes = tuple(b.address for b in mss.mailboxes_of(uow=uow, actor=at.actor) if b.patient_id == at.patient_id)
    return Portal("/messages", "base.html", at.actor, boxes, at.patient_id, at.context())


def _pro_portal(uow: UnitOfWork, caller: Caller) -> Portal:
    if caller.kind not in (ActorKind.PROFESSIONAL, ActorKind.SECRETARIAT):
        raise Forbidden("la messagerie professionnelle est réservée aux professionnels et à leur secrétariat")
    actor = actor_on(uow, caller, None)
    boxes = tuple(b.address for b in mss.mailboxes_of(uow=uow, actor=actor))
    return Portal("/pro/messages", "pro_base.html", actor, boxes, None, {})


def _portal(request: Request, uow: UnitOfWork, caller: Caller, pro: bool) -> Portal:
    return _pro_portal(uow, caller) if pro else _patient_portal(request, uow, caller)


def _config(request: Request) -> mss.MessagingConfig:
    return mss.MessagingConfig.from_settings(request.app.state.settings)


def _unread(view: mss.MessageView, boxes: tuple[str, ...]) -> bool:
    return any(r.address in boxes and r.read_at is None for r in view.recipients)


def _conversations(views: list[mss.MessageView], boxes: tuple[str, ...]) -> list[dict[str, Any]]:
    """One line a conversation: its latest message, how many messages, whether one is unread, open or closed."""
    lines: dict[str, dict[str, Any]] = {}
    for v in views:  # newest first
        line = lines.setdefault(v.conversation_id, {"id": v.conversation_id, "subject": v.subject, "latest": v,
                                                    "count": 0, "unread": False,
                                                    "closed": v.conversation_status == "closed"})  # fmt: skip
        line["count"] += 1
        line["unread"] = line["unread"] or _unread(v, boxes)
    return list(lines.values())


def conversations_of(uow: UnitOfWork, actor: Actor, boxes: tuple[str, ...]) -> list[dict[str, Any]]:
    """The conversations of these mailboxes (the actor's), newest first; the reading is traced."""
    views: list[mss.MessageView] = []
    for address in boxes:
        views += mss.search_messages(uow=uow, actor=actor, filters=mss.MessageFilters(mailbox_address=address))
    views.sort(key=lambda v: (v.received_at, v.id), reverse=True)
    return _conversations(views, boxes)


def space_conversations(request: Request, uow: UnitOfWork, caller: Caller) -> list[dict[str, Any]]:
    """The chosen patient space's conversations (for the home page)."""
    at = _patient_portal(request, uow, caller)
    return conversations_of(uow, at.actor, at.boxes)


def _inbox(request: Request, caller: Caller, uow: UnitOfWork, *, pro: bool) -> Response:
    at = _portal(request, uow, caller, pro)
    lines = conversations_of(uow, at.actor, at.boxes)
    uow.commit()
    done = request.query_params.get("fait")
    return page(request, "messages.html", base=at.base, prefix=at.prefix, lines=lines,
                boxes=at.boxes, pro=pro, may_open=pro and at.actor.kind is ActorKind.PROFESSIONAL and not at.boxes,
                done=done if done in ("envoye", "boite") else None, **at.context)  # fmt: skip


@router.get("/messages")
def patient_inbox(request: Request, caller: PageCallerDep, uow: UowDep) -> Response:
    """The chosen space's mailbox: its conversations, newest first."""
    return _inbox(request, caller, uow, pro=False)


@router.get("/pro/messages")
def pro_inbox(request: Request, caller: PageCallerDep, uow: UowDep) -> Response:
    """The professional's mailboxes: their conversations, newest first."""
    return _inbox(request, caller, uow, pro=True)


def _conversation(request: Request, caller: Caller, uow: UnitOfWork, conversation_id: str, *, pro: bool,
                  status: int = 200, error: str | None = None, text: str = "") -> Response:  # fmt: skip
    at = _portal(request, uow, caller, pro)
    conv = mss.get_conversation(uow=uow, actor=at.actor, conversation_id=conversation_id)
    # Opening the conversation is reading it: the read receipts of what was received here.
    for view in conv.messages:
        if _unread(view, at.boxes):
            mss.mark_read(uow=uow, actor=at.actor, message_id=view.id)
    received = [m for m in conv.messages if any(r.address in at.boxes for r in m.recipients)]
    uow.commit()
    done = request.query_params.get("fait")
    return page(request, "conversation.html", status=status, base=at.base, prefix=at.prefix, conv=conv,
                boxes=at.boxes, pro=pro, answerable=received[-1].id if received else None, error=error, text=text,
                done=done if done in ("envoye", "ferme", "integre", "rejete") else None, **at.context)  # fmt: skip


@router.get("/messages/{conversation_id}")
def patient_conversation(request: Request, conversation_id: str, caller: PageCallerDep, uow: UowDep) -> Response:
    return _conversation(request, caller, uow, conversation_id, pro=False)


@router.get("/pro/messages/conversations/{conversation_id}")
def pro_conversation(request: Request, conversation_id: str, caller: PageCallerDep, uow: UowDep) -> Response:
    return _conversation(request, caller, uow, conversation_id, pro=True)


def _attachment(request: Request, caller: Caller, uow: UnitOfWork, attachment_id: str, pro: bool) -> Response:
    at = _portal(request, uow, caller, pro)
    view, data = mss.get_attachment(uow=uow, actor=at.actor, attachment_id=attachment_id)
    uow.commit()
    filename = quote(view.filename)
    return Response(data, media_type=view.content_type, headers={
        "Content-Disposition": f"attachment; filename*=UTF-8''{filename}", "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff", "Content-Security-Policy": "default-src 'none'; sandbox"})  # fmt: skip


@router.get("/messages/pieces/{attachment_id}")
def patient_attachment(request: Request, attachment_id: str, caller: PageCallerDep, uow: UowDep) -> Response:
    return _attachment(request, caller, uow, attachment_id, pro=False)


@router.get("/pro/messages/pieces/{attachment_id}")
def pro_attachment(request: Request, attachment_id: str, caller: PageCallerDep, uow: UowDep) -> Response:
    return _attachment(request, caller, uow, attachment_id, pro=True)


# --- writing ------------------------------------------------------------------------------------------------------


def _field(form: FormData, name: str, limit: int = MAX_SEARCH) -> str:
    value = form.get(name)
    return value.strip()[:limit] if isinstance(value, str) else ""


async def _posted(request: Request) -> FormData | None:
    """The form, None when its CSRF token is not the session's."""
    form = await request.form(max_files=MAX_FILES, max_fields=MAX_FIELDS)
    csrf = form.get("csrf")
    if not web_session.csrf_ok(request, csrf if isinstance(csrf, str) else None):
        await form.close()
        return None
    return form


def _refused(request: Request) -> Response:
    return page(request, "error.html", status=403, title_key="error.forbidden", message_key="error.csrf")


async def _write(request: Request, caller: Caller, pro: bool, conversation_id: str,
                 act: Callable[[UnitOfWork, Portal, FormData], str]) -> Response:  # fmt: skip
    """Apply ``act`` (reply, close, integrate...) in one unit of work; back to the conversation with its outcome,
    or the conversation again with the refusal's reason (the text typed kept)."""
    form = await _posted(request)
    if form is None:
        return _refused(request)
    platform = request.app.state.platform

    def run() -> Response:
        with platform.uow() as uow:
            at = _portal(request, uow, caller, pro)
            try:
                done = act(uow, at, form)
            except CarnetError as exc:
                uow.rollback()
                if exc.http_status == 404:
                    raise
                with platform.uow() as again:
                    return _conversation(request, caller, again, conversation_id, pro=pro, status=exc.http_status,
                                         error=exc.message, text=_field(form, "texte", mss.MAX_TEXT))  # fmt: skip
            uow.commit()
        return RedirectResponse(f"{_conversation_url(pro, conversation_id)}?fait={done}", status_code=303)

    try:
        return await run_in_threadpool(run)
    finally:
        await form.close()


def _conversation_url(pro: bool, conversation_id: str) -> str:
    return f"/pro/messages/conversations/{quote(conversation_id)}" if pro else f"/messages/{quote(conversation_id)}"


def _reply(request: Request) -> Callable[[UnitOfWork, Portal, FormData], str]:
    def act(uow: UnitOfWork, at: Portal, form: FormData) -> str:
        mss.reply(uow=uow, actor=at.actor, config=_config(request), message_id=_field(form, "message"),
                  text=_field(form, "texte", mss.MAX_TEXT))  # fmt: skip
        return "envoye"

    return act


def _close(conversation_id: str) -> Callable[[UnitOfWork, Portal, FormData], str]:
    def act(uow: UnitOfWork, at: Portal, form: FormData) -> str:
        mss.close(uow=uow, actor=at.actor, conversation_id=conversation_id)
        return "ferme"

    return act


@router.post("/messages/{conversation_id}/repondre")
async def patient_reply(request: Request, conversation_id: str, caller: PageCallerDep) -> Response:
    return await _write(request, caller, False, conversation_id, _reply(request))


@router.post("/pro/messages/conversations/{conversation_id}/repondre")
async def pro_reply(request: Request, conversation_id: str, caller: PageCallerDep) -> Response:
    return await _write(request, caller, True, conversation_id, _reply(request))


@router.post("/messages/{conversation_id}/fermer")
async def patient_close(request: Request, conversation_id: str, caller: PageCallerDep) -> Response:
    return await _write(request, caller, False, conversation_id, _close(conversation_id))


@router.post("/pro/messages/conversations/{conversation_id}/fermer")
async def pro_close(request: Request, conversation_id: str, caller: PageCallerDep) -> Response:
    return await _write(request, caller, True, conversation_id, _close(conversation_id))


@router.post("/pro/messages/conversations/{conversation_id}/offres/{offer_id}/{decision}")
async def pro_offer(request: Request, conversation_id: str, offer_id: str, decision: str,
                    caller: PageCallerDep) -> Response:  # fmt: skip
    """Integrate into the record (``integrer``) or decline (``rejeter``) a document received in an XDM package."""

    def act(uow: UnitOfWork, at: Portal, form: FormData) -> str:
        if decision == "integrer":
            mss.integrate_offer(uow=uow, actor=at.actor, offer_id=offer_id)
            return "integre"
        if decision == "rejeter":
            mss.reject_offer(uow=uow, actor=at.actor, offer_id=offer_id)
            return "rejete"
        raise Forbidden("décision inconnue (integrer ou rejeter)")

    return await _write(request, caller, True, conversation_id, act)


@router.post("/pro/messages/boite")
async def pro_open_mailbox(request: Request, caller: PageCallerDep) -> Response:
    """A professional opens their personal mailbox (from the directory's MSSanté address or their name)."""
    form = await _posted(request)
    if form is None:
        return _refused(request)
    await form.close()

    def run() -> None:
        with request.app.state.platform.uow() as uow:
            at = _pro_portal(uow, caller)
            mss.provision_professional(uow=uow, actor=at.actor, config=_config(request), professional_id=at.actor.id)
            uow.commit()

    await run_in_threadpool(run)
    return RedirectResponse("/pro/messages?fait=boite", status_code=303)


# --- the professional's composer ----------------------------------------------------------------------------------


def _patient_choice(uow: UnitOfWork, actor: Actor, config: mss.MessagingConfig, patient_id: str) -> dict[str, Any]:
    """The patient written to: their mailbox address and the record documents the professional may attach."""
    row = uow.patients.get(patient_id)
    if row is None or not row.ins_matricule:
        return {"id": patient_id, "address": None, "documents": []}
    listing = record.list_documents(uow=uow, actor=actor, patient_id=patient_id, limit=ATTACHABLE)
    from carnet.web.patient import _view

    name = f"{(row.used_first_name or row.first_name or '').title()} {(row.used_name or row.birth_name).upper()}"
    address = patient_address(row.ins_matricule, config.patient_domain)
    return {"id": patient_id, "name": name.strip(), "address": address,
            "documents": [_view(e) for e in listing.items]}  # fmt: skip


def _compose_page(request: Request, uow: UnitOfWork, at: Portal, *, status: int = 200, error: str | None = None,
                  chosen: dict[str, Any] | None = None) -> Response:  # fmt: skip
    q = request.query_params
    chosen = chosen or {"a": q.get("a", "")[:320], "cc": "", "objet": "", "texte": "", "patient": q.get("patient", "")}
    config = _config(request)
    patient = None
    if chosen["patient"]:
        patient = _patient_choice(uow, at.actor, config, str(chosen["patient"]))
        if patient["address"] and not chosen["a"]:
            chosen["a"] = patient["address"]
    search = (q.get("recherche") or "").strip()[:MAX_SEARCH]
    found = mss.search_directory(uow=uow, actor=at.actor, name=search, limit=20).items if search else []
    uow.commit()
    return page(request, "compose.html", status=status, base=at.base, prefix=at.prefix, error=error, chosen=chosen,
                patient=patient, search=search, found=found, boxes=at.boxes,
                max_mb=MAX_UPLOAD // (1024 * 1024), max_files=MAX_FILES)  # fmt: skip


@router.get("/pro/messages/nouveau")
def pro_compose(request: Request, caller: PageCallerDep, uow: UowDep) -> Response:
    """The composer: ``?patient=`` writes to a patient (their mailbox, their documents to attach), ``?a=`` to an
    address, ``?recherche=`` searches the directory of professional mailboxes."""
    return _compose_page(request, uow, _pro_portal(uow, caller))


def _addresses(raw: str) -> list[str]:
    return [a.strip() for a in raw.replace(";", ",").split(",") if a.strip()]


@router.post("/pro/messages/nouveau")
async def pro_send(request: Request, caller: PageCallerDep) -> Response:
    """Send: to/cc addresses, subject, text, record documents (``document``) and files (``fichier``)."""
    form = await _posted(request)
    if form is None:
        return _refused(request)
    platform = request.app.state.platform
    try:
        chosen: dict[str, Any] = {"a": _field(form, "a", 2000), "cc": _field(form, "cc", 2000),
                                  "objet": _field(form, "objet", mss.MAX_SUBJECT + 1),
                                  "texte": _field(form, "texte", mss.MAX_TEXT), "patient": _field(form, "patient"),
                                  "documents": [d for d in form.getlist("document") if isinstance(d, str)]}  # fmt: skip
        uploads: list[mss.Upload | mss.DocumentAttachment] = [mss.DocumentAttachment(d) for d in chosen["documents"]]
        problem = None
        for file in form.getlist("fichier"):
            if isinstance(file, UploadFile) and file.filename:
                data = await file.read(MAX_UPLOAD + 1)
                if len(data) > MAX_UPLOAD:
                    problem = f"« {file.filename} » dépasse {MAX_UPLOAD // (1024 * 1024)} Mo"
                uploads.append(mss.Upload(filename=file.filename, content_type=file.content_type or
                                          "application/octet-stream", data=data))  # fmt: skip
    finally:
        await form.close()

    def run() -> Response:
        with platform.uow() as uow:
            at = _pro_portal(uow, caller)
            if problem is None:
                try:
                    sent = mss.send(uow=uow, actor=at.actor, config=_config(request), to=_addresses(chosen["a"]),
                                    cc=_addresses(chosen["cc"]), subject=chosen["objet"], text=chosen["texte"],
                                    attachments=uploads)  # fmt: skip
                    uow.commit()
                    return RedirectResponse(f"{_conversation_url(True, sent.conversation_id)}?fait=envoye",
                                            status_code=303)  # fmt: skip
                except CarnetError as exc:
                    uow.rollback()
                    error = exc.message
            else:
                error = problem
        with platform.uow() as again:
            return _compose_page(request, again, _pro_portal(again, caller), status=422, error=error, chosen=chosen)

    return await run_in_threadpool(run)

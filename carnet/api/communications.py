"""``Communication``: secure messages (MSSanté) on the FHIR API.

FHIR release: **R4** (4.0.1) Communication, validated with ``fhir.resources.R4B`` (R4's Communication). One
message is one Communication:

- ``identifier``: the RFC 5322 Message-ID (``https://carnet.example.org/fhir/sid/message-id``);
- ``sender`` / ``recipient``: the mailbox, as an identifier ``urn:ietf:rfc:3986`` | ``mailto:<address>``, with a
  reference to the Practitioner, Organization, Patient or Device owning it when it is local;
- ``subject``: Patient/<id> when the conversation concerns a patient (a patient's mailbox takes part);
- ``topic.text``: the subject line; ``payload``: the text (``contentString``), then each attachment
  (``contentReference`` DocumentReference/<id> for a document of the record, ``contentAttachment`` with ``url``
  for a file; on create a file is given inline in ``contentAttachment.data``, base64);
- ``partOf``: the first message of the conversation (the thread); ``inResponseTo``: the message answered;
- ``status``: ``completed`` when every recipient has it, ``in-progress`` while an external one waits in the outbox;
- ``sent``, ``received``; extensions ``conversation-status`` (open | closed) and ``recipient-status`` (for each
  recipient: its address, delivery status delivered | pending | sent | failed | bounced, and when it was read).

Operations: ``POST /fhir/Communication/{id}/$read`` (the read receipt of the caller's mailboxes) and
``POST /fhir/Communication/{id}/$close`` (closes the conversation the message belongs to; either side may). The
rules are :mod:`carnet.messaging.service`'s: only a professional opens a conversation with a patient, etc.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import ValidationError as PydanticValidationError

from carnet.access.model import Actor, ActorKind
from carnet.api import _paging as p
from carnet.api.deps import CallerDep, UowDep, actor_on
from carnet.api.outcome import FhirError, fhir_response
from carnet.auth.claims import Caller
from carnet.auth.scopes import require_scope
from carnet.errors import NotFound
from carnet.messaging import service as mss
from carnet.messaging.model import MailboxKind, normalise_address
from carnet.storage.uow import UnitOfWork

router = APIRouter(tags=["fhir"])

URI = "urn:ietf:rfc:3986"
MESSAGE_ID = "https://carnet.example.org/fhir/sid/message-id"
EXT = "https://carnet.example.org/fhir/StructureDefinition"
ID_NAT_PS = "urn:oid:1.2.250.1.71.4.2.1"
ID_NAT_ST = "urn:oid:1.2.250.1.71.4.2.2"
STATUSES = ("in-progress", "completed")
# The R4 event-status value set (http://hl7.org/fhir/ValueSet/event-status), which fhir.resources does not enforce.
EVENT_STATUSES = ("preparation", "in-progress", "not-done", "on-hold", "stopped", "completed", "entered-in-error",
                  "unknown")  # fmt: skip

CAPABILITIES: list[dict[str, Any]] = [
    {
        "type": "Communication",
        "profile": "http://hl7.org/fhir/StructureDefinition/Communication",
        "interaction": [{"code": "read"}, {"code": "search-type"}, {"code": "create"}],
        "documentation": "Messagerie sécurisée de santé (MSSanté) : un message par Communication ; réponse par "
        "inResponseTo ; accusé de lecture par $read ; clôture de la conversation par $close",
        "searchParam": [
            {"name": "subject", "type": "reference", "documentation": "Patient/<id> : conversations de ce patient"},
            {"name": "sender", "type": "reference", "documentation": "mailto:<adresse> ou Practitioner/<id>"},
            {"name": "recipient", "type": "reference", "documentation": "mailto:<adresse> ou Practitioner/<id>"},
            {"name": "part-of", "type": "reference", "documentation": "Communication/<premier message du fil>"},
            {"name": "status", "type": "token", "documentation": "in-progress | completed"},
            {"name": "received", "type": "date", "documentation": "date de réception"},
        ],
        "operation": [
            {"name": "read", "definition": f"{EXT}/OperationDefinition/Communication-read"},
            {"name": "close", "definition": f"{EXT}/OperationDefinition/Communication-close"},
        ],
    }
]


def _iso(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.UTC).isoformat() if value is not None else None


def _party(address: str, kind: str, owner: str | None, name: str) -> dict[str, Any]:
    out: dict[str, Any] = {"identifier": {"system": URI, "value": f"mailto:{address}"}, "display": name}
    if owner and kind == MailboxKind.PERSONAL.value:
        out["reference"] = f"Practitioner/{owner}"
    elif owner and kind == MailboxKind.ORGANISATIONAL.value:
        out["reference"] = f"Organization/{owner}"
    elif owner and kind == MailboxKind.PATIENT.value:
        out["reference"] = f"Patient/{owner}"
    elif owner and kind == MailboxKind.APPLICATIVE.value:
        out["reference"] = f"Device/{owner}"
    return out


def communication(view: mss.MessageView, base: str, boxes: dict[str, tuple[str, str | None]]) -> dict[str, Any]:
    """The R4 Communication of one message; ``boxes`` maps recipient addresses to (kind, owner)."""
    payload: list[dict[str, Any]] = [{"contentString": view.text}]
    for a in view.attachments:
        if a.entry_id:
            payload.append(
                {"contentReference": {"reference": f"DocumentReference/{a.entry_id}", "display": a.filename}}
            )
        else:
            payload.append({"contentAttachment": {
                "contentType": a.content_type, "title": a.filename, "size": a.size,
                "url": f"{base}/Communication/{view.id}/attachment/{a.id}",
            }})  # fmt: skip
    pending = any(r.status == "pending" for r in view.recipients)
    resource: dict[str, Any] = {
        "resourceType": "Communication",
        "id": view.id,
        "meta": {"lastUpdated": _iso(view.received_at)},
        "identifier": [{"system": MESSAGE_ID, "value": view.message_id}],
        "status": "in-progress" if pending else "completed",
        "topic": {"text": view.subject},
        "sent": _iso(view.sent_at),
        "received": _iso(view.received_at),
        "sender": _party(view.sender_address, view.sender_kind, view.sender_owner_id, view.sender_name),
        "recipient": [
            _party(r.address, r.kind, boxes.get(r.address, (r.kind, None))[1], r.display_name) for r in view.recipients
        ],  # fmt: skip
        "payload": payload,
        "extension": [
            {"url": f"{EXT}/conversation-status", "valueCode": view.conversation_status},
            *(
                {
                    "url": f"{EXT}/recipient-status",
                    "extension": [
                        {"url": "recipient", "valueString": r.address},
                        {"url": "status", "valueCode": r.status},
                        *([{"url": "read", "valueDateTime": _iso(r.read_at)}] if r.read_at else []),
                    ],
                }  # fmt: skip
                for r in view.recipients
            ),
        ],
    }
    if view.patient_id:
        resource["subject"] = {"reference": f"Patient/{view.patient_id}"}
    if view.thread_root_id != view.id:
        resource["partOf"] = [{"reference": f"Communication/{view.thread_root_id}"}]
    if view.in_reply_to_id:
        resource["inResponseTo"] = [{"reference": f"Communication/{view.in_reply_to_id}"}]
    return resource


def _owners(uow: UnitOfWork, views: list[mss.MessageView]) -> dict[str, tuple[str, str | None]]:
    from carnet.messaging.store import MessagingRepository

    repo = MessagingRepository(uow.session)
    out: dict[str, tuple[str, str | None]] = {}
    for view in views:
        for r in view.recipients:
            if r.address not in out:
                box = repo.mailbox_by_address(r.address)
                out[r.address] = (r.kind, box.owner_id if box is not None else None)
    return out


def _render(uow: UnitOfWork, request: Request, views: list[mss.MessageView]) -> list[dict[str, Any]]:
    owners = _owners(uow, views)
    return [communication(v, p.fhir_base(request), owners) for v in views]


def _config(request: Request) -> mss.MessagingConfig:
    return mss.MessagingConfig.from_settings(request.app.state.settings)


def _actor(uow: UnitOfWork, caller: Caller, patient_id: str | None) -> Actor:
    if caller.kind is ActorKind.PATIENT:
        return actor_on(uow, caller, patient_id)
    return actor_on(uow, caller, None)


# --- read and search --------------------------------------------------------------------------------------------


@router.get("/fhir/Communication/{resource_id}", response_class=JSONResponse)
def read_communication(resource_id: str, request: Request, caller: CallerDep, uow: UowDep) -> JSONResponse:
    """One message the caller sent or received (``read``)."""
    require_scope(caller, "Communication", "r")
    message_id = p.resource_id(resource_id, "Communication")
    actor = _actor(uow, caller, mss.patient_of_message(uow=uow, message_id=message_id))
    view = mss.get_message(uow=uow, actor=actor, message_id=message_id)
    resource = _render(uow, request, [view])[0]
    uow.commit()
    return fhir_response(resource)


def _address(value: str, name: str, uow: UnitOfWork) -> str:
    """A mailbox from a search or body reference: ``mailto:<address>``, ``<address>`` or Practitioner/<id>."""
    text = value.strip()
    if text.lower().startswith("mailto:"):
        text = text[7:]
    if "@" in text:
        address = normalise_address(text)
        if address is None:
            raise FhirError(f"{name} : adresse invalide « {value[:80]} »", field=name)
        return address
    ident = p.reference_id(text, "Practitioner", name)
    found = mss.professional_mailbox(uow=uow, professional_id=ident)
    if found is None:
        raise NotFound(f"{name} : aucune boîte aux lettres pour Practitioner/{ident}", field=name)
    return found


@router.get("/fhir/Communication", response_class=JSONResponse)
def search_communications(request: Request, caller: CallerDep, uow: UowDep) -> JSONResponse:
    """The caller's messages (``search-type``), newest first."""
    require_scope(caller, "Communication", "s")
    found = p.params(request, ("subject", "sender", "recipient", "part-of", "status", "received"))
    page = p.paging(found)
    subject = p.one(found, "subject")
    patient_id = p.reference_id(subject, "Patient", "subject") if subject else None
    status = p.one(found, "status")
    if status is not None and status not in STATUSES:
        raise FhirError(f"status : « {status} » inconnu ({', '.join(STATUSES)})", field="status")
    part_of = p.one(found, "part-of")
    received = p.date_bound(value, "received") if (value := p.one(found, "received")) is not None else None
    sender = _address(value, "sender", uow) if (value := p.one(found, "sender")) is not None else None
    recipient = _address(value, "recipient", uow) if (value := p.one(found, "recipient")) is not None else None
    filters = mss.MessageFilters(
        patient_id=patient_id,
        sender=sender,
        recipient=recipient,
        thread_root_id=p.reference_id(part_of, "Communication", "part-of") if part_of else None,
    )
    views = mss.search_messages(uow=uow, actor=_actor(uow, caller, patient_id), filters=filters)
    if filters.thread_root_id is not None:  # part-of: the messages whose partOf is that one, not itself
        views = [v for v in views if v.id != filters.thread_root_id]
    if received is not None:
        views = [v for v in views if received.matches(v.received_at)]
    resources = _render(uow, request, views)
    if status is not None:
        resources = [r for r in resources if r["status"] == status]
    uow.commit()
    window = resources[page.offset : page.offset + page.count]
    return fhir_response(p.searchset(request, window, total=len(resources), page=page))


# --- create ---------------------------------------------------------------------------------------------------


async def _body(request: Request) -> dict[str, Any]:
    from fhir.resources.R4B.communication import Communication

    raw = await request.body()
    try:
        body = json.loads(raw or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise FhirError(f"corps JSON invalide : {exc}", field="Communication") from None
    if not isinstance(body, dict) or body.get("resourceType") != "Communication":
        raise FhirError("une ressource Communication est attendue", field="Communication.resourceType")
    try:
        Communication.model_validate(body)
    except PydanticValidationError as exc:
        errors = [(f"{_fhirpath(e['loc'])} : {e['msg']}", _fhirpath(e["loc"])) for e in exc.errors()]
        raise FhirError(errors[0][0], field=errors[0][1], issues=errors[1:]) from None
    return body


def _fhirpath(loc: Any) -> str:
    out = "Communication"
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _recipient(uow: UnitOfWork, config: mss.MessagingConfig, item: dict[str, Any], where: str) -> str:
    identifier = item.get("identifier") or {}
    if identifier.get("value"):
        if identifier.get("system") not in (None, URI):
            raise FhirError(f"{where}.identifier.system : {URI} (mailto:) attendu", field=f"{where}.identifier.system",
                            status=422)  # fmt: skip
        return _address(str(identifier["value"]), f"{where}.identifier.value", uow)
    reference = str(item.get("reference") or "")
    if reference.startswith("Patient/"):
        patient_id = p.reference_id(reference, "Patient", f"{where}.reference")
        actor = mss.GATEWAY
        return mss.provision_patient(uow=uow, actor=actor, config=config, patient_id=patient_id).address
    if reference:
        return _address(reference, f"{where}.reference", uow)
    raise FhirError(f"{where} : identifiant mailto: ou référence obligatoire", field=where, status=422)


def _attachments(body: dict[str, Any]) -> tuple[str, list[mss.Upload | mss.DocumentAttachment]]:
    text: str | None = None
    out: list[mss.Upload | mss.DocumentAttachment] = []
    for index, item in enumerate(body.get("payload") or []):
        where = f"Communication.payload[{index}]"
        if "contentString" in item:
            if text is not None:
                raise FhirError(f"{where} : un seul texte (contentString)", field=where, status=422)
            text = str(item["contentString"])
        elif "contentReference" in item:
            ref = str((item["contentReference"] or {}).get("reference") or "")
            out.append(mss.DocumentAttachment(p.reference_id(ref, "DocumentReference", f"{where}.contentReference")))
        else:
            att = item.get("contentAttachment") or {}
            if not att.get("data"):
                raise FhirError(f"{where}.contentAttachment.data : contenu (base64) obligatoire",
                                field=f"{where}.contentAttachment.data", status=422)  # fmt: skip
            try:
                data = base64.b64decode(str(att["data"]), validate=True)
            except (binascii.Error, ValueError):
                raise FhirError(f"{where}.contentAttachment.data : base64 invalide",
                                field=f"{where}.contentAttachment.data") from None  # fmt: skip
            out.append(mss.Upload(str(att.get("title") or "piece-jointe"), str(att.get("contentType") or ""), data))
    if text is None:
        raise FhirError("Communication.payload : le texte du message (contentString) est obligatoire",
                        field="Communication.payload", status=422)  # fmt: skip
    return text, out


@router.post("/fhir/Communication", response_class=JSONResponse, status_code=201)
async def create_communication(request: Request, caller: CallerDep, uow: UowDep) -> JSONResponse:
    """Send a message (``create``); with ``inResponseTo``, a reply in that conversation. 201 with the message."""
    require_scope(caller, "Communication", "c")
    body = await _body(request)
    config = _config(request)
    if body.get("status") not in EVENT_STATUSES:
        raise FhirError(f"Communication.status : code inconnu ({', '.join(EVENT_STATUSES)})",
                        field="Communication.status")  # fmt: skip
    if body.get("status") not in STATUSES:
        raise FhirError("Communication.status : completed (envoyer) attendu", field="Communication.status", status=422)
    recipients = [_recipient(uow, config, item, f"Communication.recipient[{i}]")
                  for i, item in enumerate(body.get("recipient") or [])]  # fmt: skip
    text, attachments = _attachments(body)
    replied = body.get("inResponseTo") or []
    parent = (p.reference_id(str(replied[0].get("reference") or ""), "Communication", "Communication.inResponseTo")
              if replied else None)  # fmt: skip
    sender = body.get("sender")
    from_address = _recipient(uow, config, sender, "Communication.sender") if sender else None
    subject_ref = (body.get("subject") or {}).get("reference")
    patient_id = p.reference_id(str(subject_ref), "Patient", "Communication.subject") if subject_ref else None
    topic = str((body.get("topic") or {}).get("text") or "")
    actor = _actor(uow, caller, patient_id)
    if parent is not None and not topic:
        view = mss.reply(uow=uow, actor=actor, config=config, message_id=parent, text=text, attachments=attachments)
    else:
        view = mss.send(uow=uow, actor=actor, config=config, to=recipients, subject=topic, text=text,
                        attachments=attachments, from_address=from_address, in_reply_to=parent)  # fmt: skip
    resource = _render(uow, request, [view])[0]
    uow.commit()
    return fhir_response(resource, 201, {"Location": f"{p.fhir_base(request)}/Communication/{view.id}"})


# --- operations -----------------------------------------------------------------------------------------------


@router.post("/fhir/Communication/{resource_id}/$read", response_class=JSONResponse)
def read_receipt(resource_id: str, request: Request, caller: CallerDep, uow: UowDep) -> JSONResponse:
    """The read receipt: the caller's mailboxes among the recipients mark the message read."""
    require_scope(caller, "Communication", "u")
    message_id = p.resource_id(resource_id, "Communication")
    actor = _actor(uow, caller, mss.patient_of_message(uow=uow, message_id=message_id))
    view = mss.mark_read(uow=uow, actor=actor, message_id=message_id)
    resource = _render(uow, request, [view])[0]
    uow.commit()
    return fhir_response(resource)


@router.post("/fhir/Communication/{resource_id}/$close", response_class=JSONResponse)
def close_conversation(resource_id: str, request: Request, caller: CallerDep, uow: UowDep) -> JSONResponse:
    """Close the conversation of this message (either side); returns the message, conversation-status closed."""
    require_scope(caller, "Communication", "u")
    message_id = p.resource_id(resource_id, "Communication")
    actor = _actor(uow, caller, mss.patient_of_message(uow=uow, message_id=message_id))
    view = mss.get_message(uow=uow, actor=actor, message_id=message_id)
    mss.close(uow=uow, actor=actor, conversation_id=view.conversation_id)
    view = mss.get_message(uow=uow, actor=actor, message_id=message_id)
    resource = _render(uow, request, [view])[0]
    uow.commit()
    return fhir_response(resource)


@router.get("/fhir/Communication/{resource_id}/attachment/{attachment_id}")
def attachment_content(resource_id: str, attachment_id: str, caller: CallerDep, uow: UowDep) -> Response:
    """The bytes of an attached file."""
    require_scope(caller, "Communication", "r")
    message_id = p.resource_id(resource_id, "Communication")
    actor = _actor(uow, caller, mss.patient_of_message(uow=uow, message_id=message_id))
    view, data = mss.get_attachment(uow=uow, actor=actor, attachment_id=p.resource_id(attachment_id, "Attachment"))
    uow.commit()
    safe = view.filename.replace('"', "")
    headers = {"Content-Disposition": f'attachment; filename="{safe}"', "X-Content-Type-Options": "nosniff"}
    return Response(data, media_type=view.content_type, headers=headers)

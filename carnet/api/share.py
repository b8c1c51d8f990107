"""``POST /fhir/DocumentReference/$share``: the automatic sharing on validation (:mod:`carnet.sharing.share`).

FHIR release **R4** (4.0.1): the operation takes and answers a ``Parameters`` resource (validated with
``fhir.resources.R4B``, R4's Parameters). In:

===========================  ===========================================================================
``document`` (1)             ``resource``: a DocumentReference with its content inline
                             (``content[0].attachment.data``, as ITI-105), deposited then shared; or
                             ``valueReference`` ``DocumentReference/<id>``: a document already in the record
``prescriber`` (0..1)        ``valueReference`` ``Practitioner/<idNatPs>``, ``valueIdentifier`` (idNatPs,
                             ``urn:oid:1.2.250.1.71.4.2.1``) or ``valueString`` (an MSSanté address)
``recipient`` (0..*)         a professional chosen by the author, same forms
``announcementConsultation`` ``valueBoolean``: held back from the patient until the announcement consultation
``hospitalStay``,            ``valueBoolean``: the circumstances of the exclusions (docs/sharing.md)
``constitutionalGenetics``,
``priorAgreement``
``sendToPatient``            ``valueBoolean``: send it to the patient even when no duty says so
===========================  ===========================================================================

Out (``201 Created`` when the document was deposited now, ``200`` otherwise, ``Location`` of the entry):
``document`` (valueReference), ``created``, ``repeated`` (already shared: nothing sent again), ``documentDate``,
``type`` (valueCoding), one ``duty`` per duty (parts ``code`` dmp | mss_professionals | mss_patient, ``due``,
``rule``, ``reason``, ``status`` done | held_back | released | partial | no_recipient | not_sent, ``fulfilled``,
``note``), one ``sent`` per recipient (``recipient`` address, ``role``, ``status`` delivered | pending | held,
``communication``), and ``warning``\\ s.

Same authentication and access rules as the rest of the API (the deposit's access decision, app scopes
``DocumentReference`` and ``Communication`` create). Every error is an ``OperationOutcome`` whose ``expression``
names the parameter at fault (``Parameters.parameter[2].valueString``), or the element of the DocumentReference.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError as PydanticValidationError
from sqlalchemy.exc import IntegrityError

from carnet.access.model import Actor
from carnet.api import mhd_submit
from carnet.api._paging import fhir_base
from carnet.api.deps import CallerDep, UowDep
from carnet.api.documents import actor_for_patient
from carnet.api.mhd_read import Submission, decode, metadata_for, read_document_reference, resolve_patient
from carnet.api.outcome import FhirError, fhir_response
from carnet.auth.claims import Caller
from carnet.auth.scopes import require_scope
from carnet.errors import CarnetError, Conflict, DocumentRejected
from carnet.messaging import service as mss
from carnet.record import service as record
from carnet.sharing import Context
from carnet.sharing import share as sharing
from carnet.storage.uow import UnitOfWork

router = APIRouter(prefix="/fhir", tags=["fhir: sharing"])

EXT = "https://carnet.example.org/fhir"
OPERATION = f"{EXT}/OperationDefinition/DocumentReference-share"
ID_NAT_PS = "urn:oid:1.2.250.1.71.4.2.1"
_FLAGS = {
    "announcementConsultation": "announcement",
    "hospitalStay": "hospital_stay",
    "constitutionalGenetics": "constitutional_genetics",
    "priorAgreement": "prior_agreement",
    "sendToPatient": "to_patient",
}
_NAMES = frozenset({"document", "prescriber", "recipient", *_FLAGS})

# Merged into the DocumentReference entry of the CapabilityStatement (carnet.api.metadata).
OPERATIONS: list[dict[str, Any]] = [
    {
        "type": "DocumentReference",
        "operation": {
            "name": "share",
            "definition": OPERATION,
            "documentation": "Partage à la validation : versement au DMP et envois MSSanté (médecin traitant, "
            "prescripteur, professionnels désignés, patient) selon les obligations de l'arrêté du 26 avril 2022 "
            "modifié ; consultation d'annonce ; idempotent",
        },
    }
]


@dataclass
class _Request:
    """The operation's parameters, read, with the index of each in ``Parameters.parameter``."""

    document: tuple[int, dict[str, Any]] | None = None
    prescriber: tuple[int, str] | None = None
    recipients: list[tuple[int, str]] = field(default_factory=list)
    flags: dict[str, bool] = field(default_factory=dict)


def _where(index: int, element: str = "") -> str:
    return f"Parameters.parameter[{index}]{element}"


async def _body(request: Request) -> dict[str, Any]:
    from fhir.resources.R4B.parameters import Parameters

    raw = await request.body()
    try:
        body = json.loads(raw or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise FhirError(f"corps JSON invalide : {exc}", field="Parameters") from None
    if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
        raise FhirError("une ressource Parameters est attendue (opération $share)", field="Parameters.resourceType",
                        issue_code="structure")  # fmt: skip
    try:
        Parameters.model_validate(body)
    except PydanticValidationError as exc:
        errors = [(f"{_fhirpath(e['loc'])} : {e['msg']}", _fhirpath(e["loc"])) for e in exc.errors()]
        raise FhirError(errors[0][0], field=errors[0][1], issues=errors[1:], issue_code="structure") from None
    return body


def _fhirpath(loc: Any) -> str:
    out = "Parameters"
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _professional(item: dict[str, Any], index: int) -> str:
    """A professional as the service takes it: a national id (idNatPs) or an MSSanté address."""
    if "valueString" in item:
        return str(item["valueString"])
    if "valueReference" in item:
        reference = str((item["valueReference"] or {}).get("reference") or "")
        if not reference.startswith("Practitioner/") or not reference.removeprefix("Practitioner/"):
            raise FhirError(f"référence Practitioner/<idNatPs> attendue, reçu {reference!r}",
                            field=_where(index, ".valueReference.reference"))  # fmt: skip
        return reference.removeprefix("Practitioner/")
    if "valueIdentifier" in item:
        identifier = item["valueIdentifier"] or {}
        if identifier.get("system") not in (ID_NAT_PS, "urn:ietf:rfc:3986"):
            raise FhirError(f"identifiant de professionnel : système {ID_NAT_PS} (idNatPs) attendu",
                            field=_where(index, ".valueIdentifier.system"))  # fmt: skip
        return str(identifier.get("value") or "").removeprefix("mailto:")
    raise FhirError("professionnel attendu en valueReference (Practitioner/<idNatPs>), valueIdentifier ou "
                    "valueString (adresse MSSanté)", field=_where(index))  # fmt: skip


def _read(body: dict[str, Any]) -> _Request:
    asked = _Request()
    for index, item in enumerate(body.get("parameter") or []):
        name = item.get("name")
        if name not in _NAMES:
            raise FhirError(f"paramètre inconnu de $share : {name!r} ({', '.join(sorted(_NAMES))})",
                            field=_where(index, ".name"), issue_code="not-supported")  # fmt: skip
        if name == "document":
            if asked.document is not None:
                raise FhirError("un seul paramètre document", field=_where(index))
            asked.document = (index, item)
        elif name == "prescriber":
            if asked.prescriber is not None:
                raise FhirError("un seul prescripteur", field=_where(index))
            asked.prescriber = (index, _professional(item, index))
        elif name == "recipient":
            asked.recipients.append((index, _professional(item, index)))
        else:
            if not isinstance(item.get("valueBoolean"), bool):
                raise FhirError(f"{name} : valueBoolean attendu", field=_where(index, ".valueBoolean"))
            asked.flags[_FLAGS[str(name)]] = item["valueBoolean"]
    if asked.document is None:
        raise FhirError("paramètre document obligatoire (DocumentReference en ressource ou en référence)",
                        field="Parameters.parameter", issue_code="required")  # fmt: skip
    return asked


def _located(exc: CarnetError, asked: _Request, submission: Submission | None) -> None:
    """The service's field (``recipients[1]``, ``prescriber``, ``patient``…) as the FHIRPath of the parameter."""
    if isinstance(exc, FhirError) or exc.field is None:
        return
    assert asked.document is not None
    document_index = asked.document[0]
    if exc.field.startswith("recipients[") and exc.field.endswith("]"):
        position = int(exc.field[len("recipients[") : -1])
        exc.field = _where(asked.recipients[position][0])
    elif exc.field == "prescriber" and asked.prescriber is not None:
        exc.field = _where(asked.prescriber[0])
    elif exc.field == "patient":
        exc.field = _where(document_index, ".resource.subject" if submission is not None else ".valueReference")
    elif submission is not None:
        exc.field = mhd_submit._located(submission, exc.field)  # the MHD mapping of record fields
    else:
        exc.field = _where(document_index)


def _submission(uow: UnitOfWork, index: int, item: dict[str, Any]) -> tuple[Submission, str]:
    """The DocumentReference given inline: its content, its metadata, its patient."""
    from fhir.resources.R4B.documentreference import DocumentReference

    resource = item.get("resource")
    where = _where(index, ".resource")
    if not isinstance(resource, dict) or resource.get("resourceType") != "DocumentReference":
        raise FhirError("document : une ressource DocumentReference (ou valueReference) est attendue",
                        field=f"{where}.resourceType", issue_code="structure")  # fmt: skip
    try:
        DocumentReference.model_validate(resource)
    except PydanticValidationError as exc:
        first = exc.errors()[0]
        path = where + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in first["loc"])
        raise FhirError(f"{path} : {first['msg']}", field=path, issue_code="structure") from None
    patient = resolve_patient(uow, resource.get("subject"), f"{where}.subject")
    contents = resource.get("content") or [{}]
    attachment = contents[0].get("attachment") if isinstance(contents[0], dict) else None
    if not isinstance(attachment, dict) or not attachment.get("data"):
        raise FhirError("le contenu du document est transmis dans content[0].attachment.data (base64)",
                        field=f"{where}.content[0].attachment.data", issue_code="required")  # fmt: skip
    mime_type = str(attachment.get("contentType") or "").split(";")[0].strip()
    if not mime_type:
        raise FhirError("type MIME absent", field=f"{where}.content[0].attachment.contentType",
                        issue_code="required")  # fmt: skip
    data_where = f"{where}.content[0].attachment.data"
    content = decode(attachment["data"], data_where)
    submission = read_document_reference(resource, where=where, content=content, content_where=data_where,
                                         mime_type=mime_type)  # fmt: skip
    return submission, patient.id


def _parameters(result: sharing.ShareResult) -> dict[str, Any]:
    parameter: list[dict[str, Any]] = [
        {"name": "document", "valueReference": {"reference": f"DocumentReference/{result.entry_id}"}},
        {"name": "created", "valueBoolean": result.created},
        {"name": "repeated", "valueBoolean": result.repeated},
        {"name": "documentDate", "valueDate": result.document_date.isoformat()},
        {"name": "type", "valueCoding": {"code": result.type_code, "display": result.type_label}},
    ]
    for duty in result.duties:
        parts: list[dict[str, Any]] = [
            {"name": "code", "valueCode": duty.duty.value},
            {"name": "due", "valueBoolean": duty.due},
            {"name": "reason", "valueString": duty.reason_fr},
            {"name": "status", "valueCode": duty.status.value},
        ]
        if duty.rule_id:
            parts.insert(2, {"name": "rule", "valueString": duty.rule_id})
        if duty.at is not None:
            parts.append({"name": "fulfilled", "valueDateTime": duty.at.isoformat()})
        if duty.note:
            parts.append({"name": "note", "valueString": duty.note})
        parameter.append({"name": "duty", "part": parts})
    for delivery in result.deliveries:
        to_patient = sharing.Role.PATIENT in delivery.roles
        message = result.patient_message_id if to_patient else result.professional_message_id
        parts = [{"name": "recipient", "valueString": delivery.address},
                 *({"name": "role", "valueCode": role.value} for role in delivery.roles),
                 {"name": "status", "valueCode": delivery.status}]  # fmt: skip
        if delivery.status != "held" and message:
            parts.append({"name": "communication", "valueReference": {"reference": f"Communication/{message}"}})
        parameter.append({"name": "sent", "part": parts})
    parameter += [{"name": "warning", "valueString": w} for w in result.warnings]
    return {"resourceType": "Parameters", "parameter": parameter}


def _share(uow: UnitOfWork, caller: Caller, request: Request, asked: _Request) -> sharing.ShareResult:
    config = mss.MessagingConfig.from_settings(request.app.state.settings)
    assert asked.document is not None
    index, item = asked.document
    flags = asked.flags
    context = Context(hospital_stay=flags.get("hospital_stay", False),
                      constitutional_genetics=flags.get("constitutional_genetics", False),
                      prior_agreement=flags.get("prior_agreement", False))  # fmt: skip
    options: dict[str, Any] = {
        "prescriber": asked.prescriber[1] if asked.prescriber else None,
        "recipients": [value for _index, value in asked.recipients],
        "context": context,
        "announcement": flags.get("announcement", False),
        "to_patient": flags.get("to_patient", False),
    }
    submission: Submission | None = None
    try:
        if "valueReference" in item:
            reference = str((item["valueReference"] or {}).get("reference") or "")
            entry_id = reference.removeprefix("DocumentReference/")
            if not reference.startswith("DocumentReference/") or not entry_id:
                raise FhirError(f"référence DocumentReference/<id> attendue, reçu {reference!r}",
                                field=_where(index, ".valueReference.reference"))  # fmt: skip
            patient_id = record.patient_of(uow=uow, entry_id=entry_id)
            actor: Actor = actor_for_patient(uow, caller, patient_id) if patient_id else _any_actor(uow, caller)
            return sharing.share_existing(uow=uow, actor=actor, config=config, entry_id=entry_id, **options)
        submission, patient_id = _submission(uow, index, item)
        actor = actor_for_patient(uow, caller, patient_id)
        metadata = metadata_for(submission, actor=actor, patient=_patient(uow, patient_id), now=uow.clock.now())
        # The INVISIBLE_PATIENT security label of the DocumentReference says the same as announcementConsultation.
        options["announcement"] = options["announcement"] or submission.invisible_to_patient
        return sharing.share(uow=uow, actor=actor, config=config, patient_id=patient_id, content=submission.content,
                             mime_type=submission.mime_type, metadata=metadata, replaces=submission.replaces,
                             invisible_to_representatives=submission.invisible_to_representatives,
                             **options)  # fmt: skip
    except DocumentRejected as exc:
        if submission is None:
            raise
        raise DocumentRejected(exc.message, problems=mhd_submit._issues(submission, exc.problems)) from None
    except IntegrityError:
        # The same document committed by a concurrent request between the checks and the insert.
        raise Conflict("ce document vient d'être partagé par une autre requête : renvoyer l'opération pour "
                       "confirmation", field=_where(index)) from None  # fmt: skip
    except CarnetError as exc:
        _located(exc, asked, submission)
        raise


def _patient(uow: UnitOfWork, patient_id: str) -> Any:
    row = uow.patients.get(patient_id)
    assert row is not None  # resolved just before
    return row


def _any_actor(uow: UnitOfWork, caller: Caller) -> Actor:
    from carnet.api.deps import actor_on

    return actor_on(uow, caller, None)


@router.post("/DocumentReference/$share", response_class=JSONResponse)
async def share_operation(request: Request, caller: CallerDep, uow: UowDep) -> JSONResponse:
    """Deposit a validated document and send it as its sharing obligations say (``$share``)."""
    from starlette.concurrency import run_in_threadpool

    require_scope(caller, "DocumentReference", "c")
    require_scope(caller, "Communication", "c")
    body = await _body(request)
    asked = _read(body)
    result: sharing.ShareResult = await run_in_threadpool(_share, uow, caller, request, asked)
    answer = _parameters(result)
    uow.commit()
    location = f"{fhir_base(request)}/DocumentReference/{result.entry_id}"
    return fhir_response(answer, 201 if result.created else 200, {"Location": location})

"""Submitted FHIR R4 resources to record deposits: ITI-65 Provide Document Bundle and ITI-105 simplified publish.

A ``transaction`` Bundle (PDSm comprehensive provide bundle: the SubmissionSet ``List``, ``DocumentReference``s,
``Binary``s or inline ``attachment.data``) is deposited in one unit of work: every document or none. Metadata
the DocumentReference gives is compared with the CDA header by the record service (uniqueId, type,
confidentiality, author, creation time); metadata it leaves out is taken from the header. Every refusal names the
offending element as a FHIRPath ``expression`` from the submitted resource (``Bundle.entry[1].resource.type``).
Reading the resources: :mod:`carnet.api.mhd_read`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError

from carnet.access.model import Actor
from carnet.api import mhd
from carnet.api.mhd_read import (
    EXPRESSION,
    Submission,
    as_object,
    code_of,
    decode,
    fail,
    metadata_for,
    read_document_reference,
    resolve_patient,
    validate,
)
from carnet.api.outcome import FhirError
from carnet.errors import CarnetError, Conflict, DocumentRejected
from carnet.identity.store import PatientRow
from carnet.record import service as record
from carnet.record.model import DocumentEntry, DocumentMetadata
from carnet.record.valuesets import class_for_type
from carnet.storage.uow import UnitOfWork


@dataclass(frozen=True, slots=True)
class Issue:
    """One refusal reason located in the submitted resources (read by :func:`carnet.api.outcome.operation_outcome`)."""

    code: str
    message: str
    location: str


def _located(submission: Submission, location: str | None) -> str:
    """A record-service location (metadata field name or XPath in the CDA) as a FHIRPath of the submission."""
    if not location:
        return submission.where
    if location.startswith("/"):
        return submission.content_where
    if location == "content":
        return submission.content_where
    relative = EXPRESSION.get(location)
    if relative is None:
        return submission.where
    return f"{submission.where}.{relative}" if relative else submission.where


def _issues(submission: Submission, problems: list[Any]) -> list[Issue]:
    """The record service's problems located in the submission (an XPath in the CDA goes in the diagnostics)."""
    return [
        Issue(
            p.code,
            f"{p.message} [{p.location}]" if p.location.startswith("/") else p.message,
            _located(submission, p.location),
        )  # fmt: skip
        for p in problems
    ]


def _class_issue(submission: Submission, metadata: DocumentMetadata | None) -> Issue | None:
    """A category other than the class of the type: the access rules read the class with the type, and a wrong
    class would let a document escape a rule written for it (an operative report filed as a synthesis)."""
    if metadata is None or "class_code" not in submission.overrides:
        return None
    expected = class_for_type(metadata.type_code)
    if not expected or metadata.class_code == expected:
        return None
    return Issue("class_mismatch", f"classe {metadata.class_code} incohérente avec le type {metadata.type_code} : "
                 f"classe {expected} attendue (JDV_J06 / JDV_J07)", f"{submission.where}.category[0]")  # fmt: skip


def deposit(*, uow: UnitOfWork, actor: Actor, patient: PatientRow, submission: Submission) -> record.DepositResult:
    """Deposit one submitted document; every refusal is re-raised with the FHIRPath of what is wrong."""
    metadata = metadata_for(submission, actor=actor, patient=patient, now=uow.clock.now())
    if (wrong_class := _class_issue(submission, metadata)) is not None:
        checked = record.check_document(submission.content, mime_type=submission.mime_type, metadata=metadata,
                                        max_bytes=record.DEFAULT_MAX_BYTES)  # fmt: skip
        issues = [*_issues(submission, checked.errors), wrong_class]
        raise DocumentRejected(f"document refusé : {issues[0].message}", problems=issues)
    try:
        return record.deposit(
            uow=uow,
            actor=actor,
            patient_id=patient.id,
            content=submission.content,
            mime_type=submission.mime_type,
            metadata=metadata,
            replaces=submission.replaces,
            invisible_to_patient=submission.invisible_to_patient,
            invisible_to_representatives=submission.invisible_to_representatives,
            submission_source=submission.submission_source,
        )
    except DocumentRejected as exc:
        raise DocumentRejected(exc.message, problems=_issues(submission, exc.problems)) from None
    except IntegrityError:
        # The same uniqueId committed by a concurrent request between the service's check and its insert.
        raise Conflict("ce document vient d'être reçu par une autre requête : renvoyer le lot pour confirmation",
                       field=f"{submission.where}.masterIdentifier") from None  # fmt: skip
    except CarnetError as exc:
        if not isinstance(exc, FhirError):
            exc.field = _located(submission, exc.field)
        raise


def entry_location(entry: DocumentEntry) -> str:
    return f"DocumentReference/{entry.id}"


# --- ITI-65 and ITI-105 ---------------------------------------------------------------------------------------

ActorFor = Callable[[PatientRow], Actor]
_SUBMISSION_SET = "submissionset"
_SOURCE_ID = "https://profiles.ihe.net/ITI/MHD/StructureDefinition/ihe-sourceId"


def _content_of(
    resource: dict[str, Any], where: str, binaries: dict[str, tuple[int, dict[str, Any]]], used: set[int]
) -> tuple[bytes, str, str]:
    """The bytes of a DocumentReference (inline ``attachment.data`` or a Binary of the bundle), their MIME type and
    the FHIRPath of the bytes."""
    contents = resource.get("content") or []
    if not contents or not isinstance(contents[0], dict) or not isinstance(contents[0].get("attachment"), dict):
        raise fail("content[0].attachment absent", f"{where}.content", status=400, issue_code="required")
    attachment = contents[0]["attachment"]
    mime_type = str(attachment.get("contentType") or "").split(";")[0].strip()
    if not mime_type:
        raise fail("type MIME absent", f"{where}.content[0].attachment.contentType", status=400, issue_code="required")
    if attachment.get("data"):
        data_where = f"{where}.content[0].attachment.data"
        return decode(attachment["data"], data_where), mime_type, data_where
    url = str(attachment.get("url") or "")
    found = binaries.get(url)
    if found is None:
        raise fail(f"contenu introuvable : ni attachment.data ni Binary du lot à l'adresse {url!r}",
                   f"{where}.content[0].attachment.url", status=400, issue_code="required")  # fmt: skip
    index, binary = found
    used.add(index)
    data_where = f"Bundle.entry[{index}].resource.data"
    binary_type = str(binary.get("contentType") or "").split(";")[0].strip()
    if binary_type and binary_type != mime_type:
        raise fail(f"type MIME du Binary ({binary_type}) différent de celui du DocumentReference ({mime_type})",
                   f"Bundle.entry[{index}].resource.contentType")  # fmt: skip
    return decode(binary.get("data"), data_where), mime_type, data_where


def _source_id(submission_set: dict[str, Any]) -> str | None:
    for extension in submission_set.get("extension") or []:
        if isinstance(extension, dict) and extension.get("url") == _SOURCE_ID:
            value = extension.get("valueIdentifier") or {}
            return str(value.get("value") or "") or None
    return None


def _check_patch(entry: dict[str, Any], where: str, replaced: set[str]) -> str:
    """A PATCH of the bundle may only mark as superseded a document this bundle replaces (PDSm replacement
    example): the replacement already does it, so it is checked, not applied."""
    target = str((entry.get("request") or {}).get("url") or "").removeprefix("DocumentReference/")
    parameters = entry.get("resource") or {}
    operations = [p for p in parameters.get("parameter") or [] if isinstance(p, dict) and p.get("name") == "operation"]
    parts = {part.get("name"): part for op in operations for part in op.get("part") or [] if isinstance(part, dict)}
    supersedes = (
        len(operations) == 1
        and (parts.get("type") or {}).get("valueCode") == "replace"
        and (parts.get("path") or {}).get("valueString") == "DocumentReference.status"
        and (parts.get("value") or {}).get("valueCode") == "superseded"
    )
    if not supersedes or target not in replaced:
        raise fail("dans un lot, un PATCH ne peut que passer au statut « superseded » un document que ce lot "
                   "remplace (relatesTo replaces)", f"{where}.resource", issue_code="not-supported")  # fmt: skip
    return target


def _check_listed(entries: list[dict[str, Any]], list_index: int, documents: list[int]) -> None:
    """The SubmissionSet lists exactly the DocumentReferences of the bundle (by their ``fullUrl``)."""
    where = f"Bundle.entry[{list_index}].resource"
    by_url = {str(entries[i].get("fullUrl")): i for i in documents if entries[i].get("fullUrl")}
    listed: set[int] = set()
    items = entries[list_index]["resource"].get("entry") or []
    for number, item in enumerate(items if isinstance(items, list) else []):
        reference = str(as_object(as_object(item).get("item")).get("reference") or "")
        if reference not in by_url:
            raise fail(f"le lot de soumission référence {reference!r}, qui n'est pas un DocumentReference du Bundle",
                       f"{where}.entry[{number}].item", status=400, issue_code="value")  # fmt: skip
        listed.add(by_url[reference])
    for index in documents:
        if index not in listed:
            raise fail("DocumentReference absent du lot de soumission (List.entry.item, par son fullUrl)",
                       f"Bundle.entry[{index}].fullUrl", status=400, issue_code="required")  # fmt: skip


def provide_bundle(*, uow: UnitOfWork, bundle: dict[str, Any], actor_for: ActorFor) -> dict[str, Any]:
    """ITI-65: deposit every document of a transaction Bundle, or none; the transaction-response Bundle."""
    from fhir.resources.R4B.bundle import Bundle

    if bundle.get("resourceType") != "Bundle":
        raise fail(f"ressource Bundle attendue, reçu {bundle.get('resourceType')!r}", "Bundle.resourceType",
                   status=400, issue_code="structure")  # fmt: skip
    if bundle.get("type") != "transaction":
        raise fail(f"Bundle.type « transaction » attendu (ITI-65), reçu « {bundle.get('type')} »", "Bundle.type",
                   status=400, issue_code="value")  # fmt: skip
    validate(Bundle, bundle, "Bundle")
    entries = [e for e in bundle.get("entry") or [] if isinstance(e, dict)]
    binaries: dict[str, tuple[int, dict[str, Any]]] = {}
    lists: list[int] = []
    documents: list[int] = []
    patches: list[int] = []
    for index, entry in enumerate(entries):
        resource = entry.get("resource") or {}
        kind = resource.get("resourceType")
        method = str((entry.get("request") or {}).get("method") or "")
        where = f"Bundle.entry[{index}]"
        if kind == "Parameters" and method == "PATCH":
            patches.append(index)
            continue
        if method != "POST":
            raise fail(f"{kind} : seule la création (POST) est prise en charge dans un lot ITI-65",
                       f"{where}.request.method", status=400, issue_code="not-supported")  # fmt: skip
        if kind == "List":
            codes = [code_of(resource.get("code"))]
            if _SUBMISSION_SET not in codes:
                raise fail("List : seul le lot de soumission (code submissionset) est pris en charge",
                           f"{where}.resource.code", status=400, issue_code="not-supported")  # fmt: skip
            lists.append(index)
        elif kind == "DocumentReference":
            documents.append(index)
        elif kind == "Binary":
            if entry.get("fullUrl"):
                binaries[str(entry["fullUrl"])] = (index, resource)
            if resource.get("id"):
                binaries[f"Binary/{resource['id']}"] = (index, resource)
        else:
            raise fail(f"ressource {kind} non prise en charge dans un lot ITI-65", f"{where}.resource.resourceType",
                       status=400, issue_code="not-supported")  # fmt: skip
    if not documents:
        raise fail("le lot ne contient aucun DocumentReference", "Bundle.entry", status=400, issue_code="required")
    if len(lists) > 1:
        raise fail("un seul lot de soumission (List) par Bundle", f"Bundle.entry[{lists[1]}]", status=400)
    patient = None
    source_id = None
    if lists:
        submission_set = entries[lists[0]]["resource"]
        patient = resolve_patient(uow, submission_set.get("subject"), f"Bundle.entry[{lists[0]}].resource.subject")
        source_id = _source_id(submission_set)
    used: set[int] = set()
    submissions: dict[int, Submission] = {}
    for index in documents:
        resource, where = entries[index]["resource"], f"Bundle.entry[{index}].resource"
        subject_patient = resolve_patient(uow, resource.get("subject"), f"{where}.subject")
        if patient is None:
            patient = subject_patient
        elif subject_patient.id != patient.id:
            raise fail("tous les documents d'un lot concernent le patient du lot de soumission", f"{where}.subject")
        content, mime_type, content_where = _content_of(resource, where, binaries, used)
        submission = read_document_reference(resource, where=where, content=content, content_where=content_where,
                                              mime_type=mime_type)  # fmt: skip
        submission.submission_source = source_id[:128] if source_id else None
        submissions[index] = submission
    for _url, (index, _binary) in binaries.items():
        if index not in used:
            raise fail("Binary qu'aucun DocumentReference du lot ne référence", f"Bundle.entry[{index}]", status=400)
    if lists:
        _check_listed(entries, lists[0], documents)
    assert patient is not None
    actor = actor_for(patient)
    results = {i: deposit(uow=uow, actor=actor, patient=patient, submission=s) for i, s in submissions.items()}
    replaced = {r.entry.replaces_id for r in results.values() if r.entry.replaces_id}
    replaced |= {s.replaces for s in submissions.values() if s.replaces}
    patched = {i: _check_patch(entries[i], f"Bundle.entry[{i}]", {str(r) for r in replaced}) for i in patches}
    binary_owner = {}
    for index, submission in submissions.items():
        if submission.content_where.startswith("Bundle.entry["):
            binary_owner[int(submission.content_where.split("[", 1)[1].split("]", 1)[0])] = results[index].entry.id
    response: list[dict[str, Any]] = []
    for index, _entry in enumerate(entries):
        if index in results:
            result = results[index]
            status = "201 Created" if result.created else "200 OK"
            response.append({"response": {"status": status, "location": entry_location(result.entry),
                                          "lastModified": mhd.instant(result.entry.submission_time)}})  # fmt: skip
        elif index in binary_owner:
            response.append({"response": {"status": "201 Created", "location": f"Binary/{binary_owner[index]}"}})
        elif index in patched:
            response.append({"response": {"status": "200 OK", "location": f"DocumentReference/{patched[index]}"}})
        else:  # the submission set: checked and traced with the deposits, not kept as a resource of its own
            response.append({"response": {"status": "200 OK"}})
    return {"resourceType": "Bundle", "type": "transaction-response", "entry": response}


def publish(
    *, uow: UnitOfWork, resource: dict[str, Any], actor_for: ActorFor
) -> tuple[record.DepositResult, PatientRow]:
    """ITI-105 simplified publish: one DocumentReference with its content inline (``attachment.data``)."""
    from fhir.resources.R4B.documentreference import DocumentReference

    if resource.get("resourceType") != "DocumentReference":
        raise fail(f"ressource DocumentReference attendue, reçu {resource.get('resourceType')!r}",
                   "DocumentReference.resourceType", status=400, issue_code="structure")  # fmt: skip
    validate(DocumentReference, resource, "DocumentReference")
    where = "DocumentReference"
    patient = resolve_patient(uow, resource.get("subject"), f"{where}.subject")
    contents = resource.get("content") or [{}]
    attachment = contents[0].get("attachment") if isinstance(contents[0], dict) else None
    if not isinstance(attachment, dict) or not attachment.get("data"):
        raise fail("ITI-105 : le contenu est transmis dans content[0].attachment.data (base64)",
                   f"{where}.content[0].attachment.data", status=400, issue_code="required")  # fmt: skip
    content, mime_type, content_where = _content_of(resource, where, {}, set())
    submission = read_document_reference(resource, where=where, content=content, content_where=content_where,
                                          mime_type=mime_type)  # fmt: skip
    result = deposit(uow=uow, actor=actor_for(patient), patient=patient, submission=submission)
    return result, patient

"""Submitted FHIR R4 resources to record deposits: ITI-65 Provide Document Bundle and ITI-105 simplified publish.

A ``transaction`` Bundle (PDSm comprehensive provide bundle: the SubmissionSet ``List``, ``DocumentReference``s,
``Binary``s or inline ``attachment.data``) is deposited in one unit of work: every document or none. Metadata
the DocumentReference gives is compared with the CDA header by the record service (uniqueId, type,
confidentiality, author, creation time); metadata it leaves out is taken from the header. Every refusal names the
offending element as a FHIRPath ``expression`` from the submitted resource (``Bundle.entry[1].resource.type``).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from pydantic import ValidationError as PydanticValidationError
from sqlalchemy.exc import IntegrityError

from carnet.access.model import Actor, ActorKind
from carnet.api import mhd
from carnet.api.outcome import FhirError
from carnet.errors import CarnetError, Conflict, DocumentRejected, InvalidMatricule
from carnet.identity.matricule import Ins
from carnet.identity.store import PatientRow
from carnet.record import service as record
from carnet.record.model import IDNATPS_OID, Author, AuthorKind, DocumentEntry, DocumentMetadata
from carnet.record.valuesets import class_for_type
from carnet.storage.uow import UnitOfWork

# Where each metadata problem of the record service lies in a DocumentReference.
_EXPRESSION = {
    "uniqueId": "masterIdentifier",
    "unique_id": "masterIdentifier",
    "typeCode": "type",
    "type_code": "type",
    "classCode": "category[0]",
    "formatCode": "content[0].format",
    "confidentialityCode": "securityLabel",
    "confidentiality_code": "securityLabel",
    "healthcareFacilityTypeCode": "context.facilityType",
    "practiceSettingCode": "context.practiceSetting",
    "author": "author[0]",
    "authorKind": "author[0]",
    "title": "content[0].attachment.title",
    "creationTime": "content[0].attachment.creation",
    "mimeType": "content[0].attachment.contentType",
    "patient": "subject",
    "relatesTo": "relatesTo[0].target",
    "metadata": "",
    "document": "",
}


@dataclass(frozen=True, slots=True)
class Issue:
    """One refusal reason located in the submitted resources (read by :func:`carnet.api.outcome.operation_outcome`)."""

    code: str
    message: str
    location: str


@dataclass(slots=True)
class Submission:
    """One DocumentReference of a submission with its content, ready for the record service."""

    where: str  # FHIRPath of the DocumentReference: "Bundle.entry[1].resource" or "DocumentReference"
    content_where: str  # FHIRPath of the bytes (attachment.data or the Binary's data)
    resource: dict[str, Any]
    content: bytes
    mime_type: str
    replaces: str | None = None
    invisible_to_patient: bool = False
    invisible_to_representatives: bool = False
    overrides: dict[str, Any] = field(default_factory=dict)
    author: Author | None = None
    author_kind: AuthorKind | None = None
    submission_source: str | None = None  # the SubmissionSet's ihe-sourceId


def fail(message: str, where: str, *, status: int = 422, issue_code: str | None = None) -> FhirError:
    return FhirError(message, status=status, field=where, issue_code=issue_code)


def validate(model: Any, data: dict[str, Any], prefix: str) -> None:
    """Structural validation against FHIR R4 (fhir.resources R4B classes); 400 naming each offending element."""
    _check_resource_types(data, prefix)
    try:
        model.model_validate(data)
    except (KeyError, TypeError, AttributeError) as exc:  # fhir.resources on some malformed shapes
        raise FhirError(f"{prefix} : ressource FHIR mal formée ({type(exc).__name__})", status=400, field=prefix,
                        issue_code="structure") from None  # fmt: skip
    except PydanticValidationError as exc:
        issues = []
        for error in exc.errors():
            where = prefix
            for part in error.get("loc", ()):
                where += f"[{part}]" if isinstance(part, int) else f".{part}"
            issues.append((f"{where} : {error.get('msg', 'invalide')}", where))
        first, *more = issues or [(f"{prefix} : ressource FHIR invalide", prefix)]
        raise FhirError(first[0], status=400, field=first[1], issue_code="structure", issues=more) from None


def _check_resource_types(value: Any, where: str) -> None:
    """Every ``resourceType`` (the resource, its contained ones, the bundle's) names a FHIR R4 resource, and no
    string holds a NUL character (no database stores it)."""
    from fhir.resources.R4B import get_fhir_model_class

    if isinstance(value, list):
        for index, item in enumerate(value):
            _check_resource_types(item, f"{where}[{index}]")
        return
    if isinstance(value, str) and "\x00" in value:
        raise FhirError(f"{where} : caractère nul interdit", status=400, field=where, issue_code="value")
    if not isinstance(value, dict):
        return
    if "resourceType" in value:
        kind = value["resourceType"]
        try:
            known = isinstance(kind, str) and kind.isalpha() and get_fhir_model_class(kind) is not None
        except (KeyError, ValueError):
            known = False
        if not known:
            raise FhirError(f"{where}.resourceType : type de ressource FHIR inconnu {kind!r}", status=400,
                            field=f"{where}.resourceType", issue_code="structure")  # fmt: skip
    for key, item in value.items():
        if isinstance(item, (dict, list, str)):
            _check_resource_types(item, f"{where}.{key}")


def decode(data: Any, where: str) -> bytes:
    if not isinstance(data, str) or not data:
        raise fail("contenu absent : données base64 attendues", where, status=400, issue_code="required")
    try:
        return base64.b64decode(data.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise fail("contenu illisible : base64 invalide", where, status=400, issue_code="value") from None


# --- the patient ----------------------------------------------------------------------------------------------


def _ins_of_reference(reference: str) -> tuple[str, str] | None:
    """``Patient?identifier=system|value`` (a conditional reference, as the PDSm examples write the subject)."""
    if not reference.startswith("Patient?identifier="):
        return None
    system, _, value = reference.removeprefix("Patient?identifier=").partition("|")
    return system, value


def resolve_patient(uow: UnitOfWork, subject: Any, where: str) -> PatientRow:
    """The record a ``subject`` names: ``Patient/{id}``, ``Patient?identifier=<INS system>|<INS>`` or an INS
    identifier; the INS must be valid (key, OID) and known here."""
    if not isinstance(subject, dict) or not (subject.get("reference") or subject.get("identifier")):
        raise fail("patient absent : référence Patient/{id} ou identifiant INS attendu", where, status=400,
                   issue_code="required")  # fmt: skip
    reference = str(subject.get("reference") or "")
    identifier = subject.get("identifier") if isinstance(subject.get("identifier"), dict) else None
    ins = _ins_of_reference(reference)
    if ins is None and identifier is not None:
        ins = (str(identifier.get("system") or ""), str(identifier.get("value") or ""))
    if ins is not None:
        system, value = ins
        try:
            parsed = Ins.parse(value, system)
        except InvalidMatricule as exc:
            raise fail(f"INS du patient refusé ({value}) : {exc.message}", where) from None
        row = uow.patients.by_ins(parsed.value)
        if row is None or row.ins_oid != str(parsed.oid.value):
            raise fail(f"aucun dossier pour l'INS {parsed.value} ({parsed.system})", where, issue_code="not-found")
        return row
    if reference.startswith("Patient/"):
        row = uow.patients.get(reference.removeprefix("Patient/"))
        if row is None:
            raise fail(f"patient {reference} introuvable", where, issue_code="not-found")
        return row
    raise fail(f"référence de patient non prise en charge : {reference!r} (Patient/{{id}} ou INS attendu)", where,
               status=400, issue_code="value")  # fmt: skip


# --- the DocumentReference ------------------------------------------------------------------------------------


def _code(value: Any) -> str | None:
    """The code of the first coding of a CodeableConcept (or of a Coding)."""
    if not isinstance(value, dict):
        return None
    codings = value.get("coding") if "coding" in value else [value]
    for item in codings or []:
        if isinstance(item, dict) and item.get("code"):
            return str(item["code"]).strip()
    return None


def _time(value: Any, where: str) -> dt.datetime | None:
    if value is None:
        return None
    try:
        parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise fail(f"date invalide : {value!r}", where, status=400, issue_code="value") from None
    if parsed.tzinfo is None:
        raise fail(f"date sans fuseau horaire : {value!r}", where, status=400, issue_code="value")
    return parsed


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _contained(resource: dict[str, Any], reference: str) -> dict[str, Any] | None:
    if not reference.startswith("#"):
        return None
    for item in resource.get("contained") or []:
        if isinstance(item, dict) and item.get("id") == reference[1:]:
            return item
    return None


def _idnatps(resource: dict[str, Any]) -> str | None:
    for identifier in resource.get("identifier") or []:
        if isinstance(identifier, dict) and identifier.get("system") == f"urn:oid:{IDNATPS_OID}":
            return str(identifier.get("value") or "").strip() or None
    return None


def _author(resource: dict[str, Any], where: str) -> tuple[Author | None, AuthorKind | None]:
    """The author of a DocumentReference: a (contained) Practitioner / PractitionerRole with its idNatPs, or a
    Patient reference; None when the DocumentReference gives none (taken from the CDA header)."""
    authors = resource.get("author") or []
    if not authors:
        return None, None
    first = authors[0] if isinstance(authors[0], dict) else {}
    reference = str(first.get("reference") or "")
    if reference.startswith("Patient/"):
        return Author(id=reference.removeprefix("Patient/")), AuthorKind.PATIENT
    target = _contained(resource, reference)
    if target is None:
        raise fail("auteur : ressource contenue (#id) Practitioner ou PractitionerRole attendue", f"{where}.author[0]",
                   status=400, issue_code="value")  # fmt: skip
    role: dict[str, Any] = {}
    practitioner = target
    if target.get("resourceType") == "PractitionerRole":
        role = target
        inner = role.get("practitioner")
        found = _contained(resource, str(inner.get("reference") or "")) if isinstance(inner, dict) else None
        practitioner = found or {"identifier": role.get("identifier") or []}
    national_id = _idnatps(practitioner) or _idnatps(role)
    if not national_id:
        raise fail(f"auteur sans identifiant national (identifier.system urn:oid:{IDNATPS_OID})",
                   f"{where}.author[0]", issue_code="required")  # fmt: skip
    names = practitioner.get("name") or [{}]
    name = names[0] if isinstance(names[0], dict) else {}
    given = name.get("given") or []
    organisation = _object(role.get("organization"))
    org_identifier = _object(organisation.get("identifier"))
    specialties = role.get("specialty") or []
    professions = role.get("code") or []
    return (
        Author(
            id=national_id,
            family=name.get("family"),
            given=given[0] if given else None,
            profession=_code(professions[0]) if professions else None,
            specialty=_code(specialties[0]) if specialties else None,
            organisation_id=org_identifier.get("value"),
            organisation_name=organisation.get("display"),
        ),
        AuthorKind.PROFESSIONAL,
    )


def _labels(resource: dict[str, Any], where: str) -> tuple[str | None, set[str]]:
    """The confidentiality code (N, R, V) and the visibility flags (TRE_A07) of ``securityLabel``."""
    confidentiality, flags = None, set()
    for index, label in enumerate(resource.get("securityLabel") or []):
        code = _code(label)
        if code in mhd.FLAGS:
            flags.add(code)
        elif code:
            confidentiality = confidentiality or code
        if code == mhd.MASQUE_PS:
            raise fail("MASQUE_PS : seul le titulaire masque un document aux professionnels, après son dépôt",
                       f"{where}.securityLabel[{index}]")  # fmt: skip
    return confidentiality, flags


def _replaces(resource: dict[str, Any], where: str) -> str | None:
    for index, relation in enumerate(resource.get("relatesTo") or []):
        if not isinstance(relation, dict):
            continue
        if relation.get("code") != "replaces":
            raise fail(f"relatesTo.code « {relation.get('code')} » non pris en charge : « replaces » attendu",
                       f"{where}.relatesTo[{index}].code", status=400, issue_code="not-supported")  # fmt: skip
        target = _object(relation.get("target"))
        reference = str(target.get("reference") or "")
        if reference.startswith("DocumentReference/"):
            return reference.removeprefix("DocumentReference/")
        identifier = target.get("identifier") if isinstance(target.get("identifier"), dict) else None
        if identifier and identifier.get("value"):
            return mhd.unique_id_of(str(identifier["value"]))
        raise fail("document remplacé : DocumentReference/{id} attendu", f"{where}.relatesTo[{index}].target",
                   status=400, issue_code="value")  # fmt: skip
    return None


def read_document_reference(
    resource: dict[str, Any], *, where: str, content: bytes, content_where: str, mime_type: str
) -> Submission:
    """The metadata a DocumentReference gives (the fields it leaves out are taken from the CDA header later)."""
    status = resource.get("status")
    if status != "current":
        raise fail(f"un document soumis a le statut « current », pas « {status} »", f"{where}.status", status=400,
                   issue_code="value")  # fmt: skip
    overrides: dict[str, Any] = {}
    master = resource.get("masterIdentifier")
    if isinstance(master, dict) and master.get("value"):
        overrides["unique_id"] = mhd.unique_id_of(str(master["value"]))
    if type_code := _code(resource.get("type")):
        overrides["type_code"] = type_code
    categories = resource.get("category") or []
    if categories and (class_code := _code(categories[0])):
        overrides["class_code"] = class_code
    content_item = (resource.get("content") or [{}])[0]
    attachment = content_item.get("attachment") or {}
    if format_code := _code(content_item.get("format")):
        overrides["format_code"] = format_code
    confidentiality, flags = _labels(resource, where)
    if confidentiality:
        overrides["confidentiality_code"] = confidentiality
    if title := (attachment.get("title") or resource.get("description")):
        overrides["title"] = str(title)
    if resource.get("description") and resource.get("description") != overrides.get("title"):
        overrides["comment"] = str(resource["description"])
    if creation := _time(attachment.get("creation"), f"{where}.content[0].attachment.creation"):
        overrides["creation_time"] = creation
    if attachment.get("language"):
        overrides["language"] = str(attachment["language"])
    context = resource.get("context") or {}
    if facility := _code(context.get("facilityType")):
        overrides["facility_type"] = facility
    if setting := _code(context.get("practiceSetting")):
        overrides["practice_setting"] = setting
    period = context.get("period") or {}
    if start := _time(period.get("start"), f"{where}.context.period.start"):
        overrides["service_start"] = start
    if end := _time(period.get("end"), f"{where}.context.period.end"):
        overrides["service_stop"] = end
    _check_size_and_hash(attachment, content, content_where, where)
    author, author_kind = _author(resource, where)
    return Submission(
        where=where,
        content_where=content_where,
        resource=resource,
        content=content,
        mime_type=mime_type,
        replaces=_replaces(resource, where),
        invisible_to_patient=mhd.INVISIBLE_PATIENT in flags,
        invisible_to_representatives=mhd.INVISIBLE_REPRESENTANTS_LEGAUX in flags,
        overrides=overrides,
        author=author,
        author_kind=author_kind,
    )


def _check_size_and_hash(attachment: dict[str, Any], content: bytes, content_where: str, where: str) -> None:
    """``size`` and ``hash`` (SHA-1, base64), when given, must be those of the bytes received."""
    size = attachment.get("size")
    if size is not None and size != len(content):
        raise fail(f"taille annoncée {size} octets, contenu reçu {len(content)} octets",
                   f"{where}.content[0].attachment.size")  # fmt: skip
    declared = attachment.get("hash")
    if declared:
        actual = base64.b64encode(hashlib.sha1(content, usedforsecurity=False).digest()).decode("ascii")
        if declared != actual:
            raise fail(f"empreinte SHA-1 annoncée {declared}, celle du contenu reçu est {actual}",
                       f"{where}.content[0].attachment.hash")  # fmt: skip


def _author_kind_of(actor: Actor) -> AuthorKind:
    if actor.kind in (ActorKind.PATIENT, ActorKind.REPRESENTATIVE):
        return AuthorKind.PATIENT
    if actor.kind == ActorKind.APP:
        return AuthorKind.APP
    return AuthorKind.PROFESSIONAL


def metadata_for(
    submission: Submission, *, actor: Actor, patient: PatientRow, now: dt.datetime
) -> DocumentMetadata | None:
    """The metadata to deposit: the CDA header's, with what the DocumentReference says over it (the record
    service then checks that both agree); for a PDF or JPEG, the DocumentReference's alone. None when a
    professional's DocumentReference adds nothing to the header: the record service reads the header itself (the
    document is parsed once)."""
    o = dict(submission.overrides)
    kind = submission.author_kind or _author_kind_of(actor)
    cda = submission.mime_type in record.CDA_MIME_TYPES
    if cda and not o and submission.author is None and kind is AuthorKind.PROFESSIONAL:
        return None
    if cda:
        checked = record.check_document(submission.content, mime_type=submission.mime_type,
                                        max_bytes=record.DEFAULT_MAX_BYTES)  # fmt: skip
        base = checked.metadata
        if base is not None:
            author = base.author
            if submission.author is not None and submission.author.id != author.id:
                author = submission.author
            return replace(base, **o, author=author, author_kind=kind)
    author = submission.author or Author(id=patient.id if kind is AuthorKind.PATIENT else actor.id)
    type_code = o.get("type_code", "")
    return DocumentMetadata(
        unique_id=o.get("unique_id", ""),
        type_code=type_code,
        class_code=o.get("class_code") or class_for_type(type_code) or "",
        format_code=o.get("format_code", ""),
        confidentiality_code=o.get("confidentiality_code", "N"),
        title=o.get("title", ""),
        author=author,
        author_kind=kind,
        mime_type=submission.mime_type,
        creation_time=o.get("creation_time") or now,
        language=o.get("language", "fr-FR"),
        comment=o.get("comment"),
        facility_type=o.get("facility_type"),
        practice_setting=o.get("practice_setting"),
        service_start=o.get("service_start"),
        service_stop=o.get("service_stop"),
        submission_source=submission.submission_source,
    )


def _located(submission: Submission, location: str | None) -> str:
    """A record-service location (metadata field name or XPath in the CDA) as a FHIRPath of the submission."""
    if not location:
        return submission.where
    if location.startswith("/"):
        return submission.content_where
    if location == "content":
        return submission.content_where
    relative = _EXPRESSION.get(location)
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
        reference = str(_object(_object(item).get("item")).get("reference") or "")
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
            codes = [_code(resource.get("code"))]
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

"""Submitted FHIR R4 resources read into what the record service deposits (ITI-65 and ITI-105 inputs).

A DocumentReference gives the metadata it has (what it leaves out of a CDA is read from the header), its content
(inline ``attachment.data`` or a ``Binary`` of the bundle) and its patient (``subject``). Every refusal names the
offending element as a FHIRPath ``expression`` from the submitted resource (``Bundle.entry[1].resource.type``).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
from dataclasses import dataclass, field, replace
from typing import Any

from pydantic import ValidationError as PydanticValidationError

from carnet.access.model import Actor, ActorKind
from carnet.api import mhd
from carnet.api.outcome import FhirError
from carnet.errors import InvalidMatricule
from carnet.identity.matricule import Ins
from carnet.identity.store import PatientRow
from carnet.record import service as record
from carnet.record.model import IDNATPS_OID, Author, AuthorKind, DocumentMetadata
from carnet.record.valuesets import class_for_type
from carnet.storage.uow import UnitOfWork

# Where each metadata problem of the record service lies in a DocumentReference.
EXPRESSION = {
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


def code_of(value: Any) -> str | None:
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


def as_object(value: Any) -> dict[str, Any]:
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
    organisation = as_object(role.get("organization"))
    org_identifier = as_object(organisation.get("identifier"))
    specialties = role.get("specialty") or []
    professions = role.get("code") or []
    return (
        Author(
            id=national_id,
            family=name.get("family"),
            given=given[0] if given else None,
            profession=code_of(professions[0]) if professions else None,
            specialty=code_of(specialties[0]) if specialties else None,
            organisation_id=org_identifier.get("value"),
            organisation_name=organisation.get("display"),
        ),
        AuthorKind.PROFESSIONAL,
    )


def _labels(resource: dict[str, Any], where: str) -> tuple[str | None, set[str]]:
    """The confidentiality code (N, R, V) and the visibility flags (TRE_A07) of ``securityLabel``."""
    confidentiality, flags = None, set()
    for index, label in enumerate(resource.get("securityLabel") or []):
        code = code_of(label)
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
        target = as_object(relation.get("target"))
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
    if type_code := code_of(resource.get("type")):
        overrides["type_code"] = type_code
    categories = resource.get("category") or []
    if categories and (class_code := code_of(categories[0])):
        overrides["class_code"] = class_code
    content_item = (resource.get("content") or [{}])[0]
    attachment = content_item.get("attachment") or {}
    if format_code := code_of(content_item.get("format")):
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
    if facility := code_of(context.get("facilityType")):
        overrides["facility_type"] = facility
    if setting := code_of(context.get("practiceSetting")):
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

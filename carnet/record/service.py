"""Use cases of the shared record: deposit, versions, visibility, listing, search, retrieval, rendering.

Each function takes the unit of work and the acting person, asks :mod:`carnet.record.policy` first, and
writes an audit entry in the same transaction as what it does.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields, replace
from typing import Any, cast

from carnet.access import service as access
from carnet.access.model import Actor, ActorKind, Context, DocumentFacts
from carnet.audit import service as audit
from carnet.errors import Conflict, DocumentRejected, Forbidden, NotFound
from carnet.identity.store import PatientRow
from carnet.notify import service as notify
from carnet.record import cda, render
from carnet.record.model import (
    Author,
    AuthorKind,
    DocumentEntry,
    DocumentMetadata,
    DocumentStatus,
)
from carnet.record.policy import Action, Filter, authorize, facts_of_new_document
from carnet.record.store import DocumentFilters, DocumentRow
from carnet.record.valuesets import class_for_type, value_sets
from carnet.storage.uow import UnitOfWork

DEFAULT_MAX_BYTES = 20 * 1024 * 1024
CDA_MIME_TYPES = frozenset({"text/xml", "application/xml", "application/hl7-v3+xml"})
PATIENT_FILE_TYPES = {"application/pdf": "PDF", "image/jpeg": "JPEG"}


@dataclass(frozen=True, slots=True)
class Problem:
    """One reason a document is refused, with where it is (XPath in the document, or metadata field)."""

    code: str
    message: str
    location: str
    severity: str = "error"


@dataclass(frozen=True, slots=True)
class DepositResult:
    entry: DocumentEntry
    created: bool
    same_content_as: tuple[str, ...]
    warnings: tuple[Problem, ...] = ()


@dataclass(frozen=True, slots=True)
class DocumentPage:
    items: list[DocumentEntry]
    total: int


# --- conversions ----------------------------------------------------------------------------------------------


def _metadata(row: DocumentRow) -> DocumentMetadata:
    return DocumentMetadata(
        unique_id=row.unique_id,
        type_code=row.type_code,
        class_code=row.class_code,
        format_code=row.format_code,
        confidentiality_code=row.confidentiality_code,
        title=row.title,
        author=Author(
            id=row.author_id,
            family=row.author_family,
            given=row.author_given,
            profession=row.author_profession,
            specialty=row.author_specialty,
            organisation_id=row.author_org_id,
            organisation_name=row.author_org_name,
        ),
        author_kind=AuthorKind(row.author_kind),
        mime_type=row.mime_type,
        creation_time=row.creation_time,
        language=row.language,
        comment=row.comment,
        facility_type=row.facility_type,
        practice_setting=row.practice_setting,
        service_start=row.service_start,
        service_stop=row.service_stop,
        submission_source=row.submission_source,
        invisible_to_patient=row.invisible_to_patient,
        invisible_to_representatives=row.invisible_to_representatives,
    )


def _entry(row: DocumentRow, *, probable_duplicate: bool = False, same: tuple[str, ...] = ()) -> DocumentEntry:
    return DocumentEntry(
        id=row.id,
        patient_id=row.patient_id,
        metadata=_metadata(row),
        status=DocumentStatus(row.status),
        size=row.size,
        sha256=row.sha256,
        sha1=row.sha1,
        submission_time=row.submission_time,
        replaces_id=row.replaces_id,
        replaced_by_id=row.replaced_by_id,
        hidden_from_professionals=row.hidden_from_professionals,
        invisible_to_patient=row.invisible_to_patient,
        invisible_to_representatives=row.invisible_to_representatives,
        deleted_at=row.deleted_at,
        probable_duplicate=probable_duplicate,
        same_content_as=same,
    )


def _profession_from_specialty(code: str | None) -> str | None:
    # JDV_J01 specialty codes carry the TRE_G15 profession: "G15_10/SM26" is a médecin (10).
    if code and code.startswith("G15_"):
        return code[4:].split("/", 1)[0]
    return None


def metadata_from_header(header: cda.CdaHeader, *, submission_source: str | None = None) -> DocumentMetadata:
    """The XDS metadata a CDA header implies (what `carnet doc check --json` prints)."""
    author = header.authors[0] if header.authors else None
    specialty = author.profession.code if author and author.profession else None
    format_code = cda.format_code_for(header)
    return DocumentMetadata(
        unique_id=header.unique_id,
        type_code=header.type_code.code,
        class_code=class_for_type(header.type_code.code) or "",
        format_code=format_code.code if format_code else "",
        confidentiality_code=header.confidentiality.code,
        title=header.title,
        author=Author(
            id=(author.id_extension or author.id_root or "") if author else "",
            family=author.family if author else None,
            given=author.given if author else None,
            profession=_profession_from_specialty(specialty),
            specialty=specialty,
            organisation_id=author.organisation_id if author else None,
            organisation_name=author.organisation_name if author else None,
        ),
        author_kind=AuthorKind.PROFESSIONAL,
        mime_type="text/xml",
        creation_time=header.effective_time,
        language=header.language or "fr-FR",
        facility_type=header.facility_type.code if header.facility_type else None,
        practice_setting=header.practice_setting.code if header.practice_setting else None,
        service_start=header.service_start,
        service_stop=header.service_stop,
        submission_source=submission_source,
    )


# --- checks ---------------------------------------------------------------------------------------------------


def check_metadata(m: DocumentMetadata) -> list[Problem]:
    """Every code checked against the official value sets shipped with the package."""
    vs = value_sets()
    problems: list[Problem] = []

    def need(ok: bool, code: str, message: str, location: str) -> None:
        if not ok:
            problems.append(Problem(code, message, location))

    need(bool(m.unique_id), "missing_unique_id", "identifiant unique du document absent", "uniqueId")
    need(
        m.type_code in vs.type_code, "unknown_type", f"type de document inconnu de JDV_J07 : {m.type_code}", "typeCode"
    )
    need(m.class_code in vs.class_code, "unknown_class", f"classe inconnue de JDV_J06 : {m.class_code!r}", "classCode")
    need(
        m.format_code in vs.format_code,
        "unknown_format",
        f"format inconnu de JDV_J10 : {m.format_code!r}",
        "formatCode",
    )
    need(
        m.confidentiality_code in vs.confidentiality,
        "unknown_confidentiality",
        f"confidentialité inconnue de JDV_J08 : {m.confidentiality_code}",
        "confidentialityCode",
    )
    if m.facility_type:
        need(
            m.facility_type in vs.facility_type,
            "unknown_facility_type",
            f"type d'établissement inconnu de JDV_J02 : {m.facility_type}",
            "healthcareFacilityTypeCode",
        )
    if m.practice_setting:
        need(
            m.practice_setting in vs.practice_setting,
            "unknown_practice_setting",
            f"cadre d'exercice inconnu de JDV_J04 : {m.practice_setting}",
            "practiceSettingCode",
        )
    need(bool(m.author.id), "missing_author", "auteur sans identifiant", "author")
    need(bool(m.title.strip()), "missing_title", "titre absent", "title")
    if m.creation_time.tzinfo is None:
        problems.append(Problem("naive_time", "date de création sans fuseau horaire", "creationTime"))
    return problems


_COMPARED = ("unique_id", "type_code", "confidentiality_code")


def _agreement(header_meta: DocumentMetadata, submitted: DocumentMetadata) -> list[Problem]:
    problems = [
        Problem(
            "metadata_mismatch",
            f"{name} : le document dit {getattr(header_meta, name)!r}, les métadonnées {getattr(submitted, name)!r}",
            name,
        )
        for name in _COMPARED
        if getattr(header_meta, name) != getattr(submitted, name)
    ]
    if header_meta.author.id != submitted.author.id:
        problems.append(
            Problem(
                "metadata_mismatch",
                f"auteur : le document dit {header_meta.author.id!r}, les métadonnées {submitted.author.id!r}",
                "author",
            )
        )
    if abs(header_meta.creation_time - submitted.creation_time) > dt.timedelta(seconds=1):
        problems.append(
            Problem("metadata_mismatch", "date de création différente de celle du document", "creationTime")
        )
    return problems


def _patient_problems(header: cda.CdaHeader, patient: PatientRow) -> list[Problem]:
    where = "/ClinicalDocument/recordTarget/patientRole/id"
    if header.patient_ins is None:
        return [Problem("missing_ins", "aucun INS dans le document", where)]
    if patient.ins_matricule is None:
        return [Problem("patient_without_ins", "le patient destinataire n'a pas d'INS", "patient")]
    if (header.patient_ins.value, header.patient_ins.oid.value) != (patient.ins_matricule, patient.ins_oid):
        return [
            Problem(
                "wrong_patient",
                f"le document concerne l'INS {header.patient_ins.value} ({header.patient_ins.oid.value}), "
                f"pas le patient destinataire ({patient.ins_matricule}, {patient.ins_oid})",
                where,
            )
        ]
    return []


def _reject(problems: list[Problem]) -> DocumentRejected:
    first = problems[0]
    more = f" (et {len(problems) - 1} autre(s) problème(s))" if len(problems) > 1 else ""
    return DocumentRejected(f"document refusé : {first.message} [{first.location}]{more}", problems=problems)


@dataclass(frozen=True, slots=True)
class CheckedDocument:
    """A document read and checked: its metadata, its text for search, its problems."""

    metadata: DocumentMetadata | None
    text: str
    problems: list[Problem]
    header: cda.CdaHeader | None = None

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]


def check_document(
    content: bytes, *, mime_type: str = "text/xml", metadata: DocumentMetadata | None = None, max_bytes: int
) -> CheckedDocument:
    """Read and check a document without storing anything (the vendors' document checker)."""
    if len(content) > max_bytes:
        return CheckedDocument(
            None, "", [Problem("too_large", f"{len(content)} octets, maximum {max_bytes}", "content")]
        )
    if mime_type in CDA_MIME_TYPES:
        header, cda_problems, tree = cda.read_cda(content, max_bytes=max_bytes)
        problems = [Problem(p.code, p.message, p.xpath, p.severity) for p in cda_problems]
        if header is None or tree is None:
            return CheckedDocument(None, "", problems)
        derived = metadata_from_header(header)
        if metadata is not None:
            problems += _agreement(derived, metadata)
            derived = metadata
        problems += check_metadata(derived)
        return CheckedDocument(derived, render.narrative_text(tree), problems, header)
    kind = PATIENT_FILE_TYPES.get(mime_type)
    if kind is None:
        return CheckedDocument(
            None, "", [Problem("unsupported_type", f"type de contenu refusé : {mime_type}", "mimeType")]
        )
    ok = render.is_pdf(content) if kind == "PDF" else render.is_jpeg(content)
    problems = [] if ok else [Problem("not_" + kind.lower(), f"le fichier n'est pas un {kind} valide", "content")]
    if metadata is None:
        problems.append(
            Problem("missing_metadata", "un fichier PDF ou JPEG doit être accompagné de ses métadonnées", "metadata")
        )
    else:
        problems += check_metadata(metadata)
    text = render.pdf_text(content) if ok and kind == "PDF" else ""
    return CheckedDocument(metadata, text, problems)


# --- deposit --------------------------------------------------------------------------------------------------


def _patient_or_raise(uow: UnitOfWork, patient_id: str) -> PatientRow:
    row = uow.patients.get(patient_id)
    if row is None:
        raise NotFound(f"patient {patient_id} introuvable", field="patient")
    if row.merged_into_id:
        raise Conflict(f"le dossier {patient_id} a été fusionné dans {row.merged_into_id}", field="patient")
    return row


def deposit(
    *,
    uow: UnitOfWork,
    actor: Actor,
    patient_id: str,
    content: bytes,
    mime_type: str = "text/xml",
    metadata: DocumentMetadata | None = None,
    replaces: str | None = None,
    invisible_to_patient: bool = False,
    invisible_to_representatives: bool = False,
    max_bytes: int = DEFAULT_MAX_BYTES,
    submission_source: str | None = None,
) -> DepositResult:
    """Deposit one document: checked, content in the blob store and entry in the database, nothing half-done."""
    patient = _patient_or_raise(uow, patient_id)
    checked = check_document(content, mime_type=mime_type, metadata=metadata, max_bytes=max_bytes)
    granted = None
    if checked.metadata is not None:
        granted = authorize(
            uow=uow,
            actor=actor,
            action=Action.REPLACE if replaces else Action.DEPOSIT,
            patient=patient,
            document=facts_of_new_document(
                type_code=checked.metadata.type_code,
                class_code=checked.metadata.class_code,
                author_id=checked.metadata.author.id,
                author_kind=checked.metadata.author_kind.value,
            ),
        )
    problems = list(checked.errors)
    if checked.header is not None:
        problems += _patient_problems(checked.header, patient)
    # A legal representative deposits for the holder, with the holder's rights (DESIGN.md).
    on_behalf_of_holder = actor.kind in (ActorKind.PATIENT, ActorKind.REPRESENTATIVE)
    if on_behalf_of_holder and checked.metadata and checked.metadata.author_kind is not AuthorKind.PATIENT:
        problems.append(
            Problem("author_kind", "un document déposé par le patient a le patient pour auteur", "authorKind")
        )
    if mime_type not in CDA_MIME_TYPES and not on_behalf_of_holder:
        problems.append(
            Problem(
                "cda_required",
                "un professionnel dépose un document CDA R2 (le PDF va dans un CDA niveau 1)",
                "mimeType",
            )
        )
    if problems or checked.metadata is None or granted is None:
        raise _reject(problems or [Problem("unreadable", "document illisible", "content")])
    meta = replace(
        checked.metadata,
        mime_type=mime_type,
        invisible_to_patient=invisible_to_patient or checked.metadata.invisible_to_patient,
        invisible_to_representatives=invisible_to_representatives or checked.metadata.invisible_to_representatives,
        submission_source=submission_source or checked.metadata.submission_source,
    )
    sha = hashlib.sha256(content).hexdigest()

    existing, same_rows = uow.documents.by_unique_id_or_content(meta.unique_id, patient.id, sha)
    if existing is not None:
        if existing.sha256 == sha and existing.patient_id == patient.id:
            audit.record(
                uow=uow,
                actor=actor,
                action="document.deposit_repeat",
                patient_id=patient.id,
                detail={"document": existing.id},
            )
            return DepositResult(entry=_entry(existing), created=False, same_content_as=())
        raise Conflict(
            f"l'identifiant unique {meta.unique_id} est déjà utilisé par un autre contenu : "
            "une nouvelle version doit porter un nouvel identifiant et remplacer l'ancienne",
            field="uniqueId",
        )
    target_ref = replaces or (checked.header.replaces if checked.header else None)
    target = None
    extra_warnings: list[Problem] = []
    if target_ref:
        target = uow.documents.by_unique_id(target_ref) or uow.documents.get(target_ref)
        if target is not None and target.patient_id != patient.id:
            target = None
        if target is None and replaces:
            raise NotFound(f"document à remplacer introuvable : {target_ref}", field="relatesTo")
        if target is None:
            # The header declares a replacement of a document this record never received (it may have been
            # shared by messaging only): the new version is kept as a new document, and the producer told.
            extra_warnings.append(
                Problem(
                    "replaced_unknown",
                    f"le document remplacé ({target_ref}) n'est pas dans ce dossier : déposé comme nouveau document",
                    "/ClinicalDocument/relatedDocument/parentDocument/id",
                    "warning",
                )
            )
        if target is not None and target.status != DocumentStatus.CURRENT.value:
            raise Conflict(
                f"le document {target_ref} n'est plus la version en vigueur ({target.status})", field="relatesTo"
            )
    same = tuple(r.id for r in same_rows)

    uow.blobs.put(content)
    now = uow.clock.now()
    row = DocumentRow(
        patient_id=patient.id,
        unique_id=meta.unique_id,
        status=DocumentStatus.CURRENT.value,
        type_code=meta.type_code,
        class_code=meta.class_code,
        format_code=meta.format_code,
        confidentiality_code=meta.confidentiality_code,
        title=meta.title,
        comment=meta.comment,
        language=meta.language,
        mime_type=meta.mime_type,
        size=len(content),
        sha256=sha,
        sha1=hashlib.sha1(content, usedforsecurity=False).hexdigest(),
        author_id=meta.author.id,
        author_family=meta.author.family,
        author_given=meta.author.given,
        author_profession=meta.author.profession,
        author_specialty=meta.author.specialty,
        author_org_id=meta.author.organisation_id,
        author_org_name=meta.author.organisation_name,
        author_kind=meta.author_kind.value,
        facility_type=meta.facility_type,
        practice_setting=meta.practice_setting,
        creation_time=meta.creation_time,
        service_start=meta.service_start,
        service_stop=meta.service_stop,
        submission_source=meta.submission_source,
        submission_time=now,
        hidden_from_professionals=False,
        invisible_to_patient=meta.invisible_to_patient,
        invisible_to_representatives=meta.invisible_to_representatives,
        deposited_by=actor.id,
        created_at=now,
        updated_at=now,
    )
    uow.documents.add(row, text_content=checked.text)
    if target is not None:
        target.status = DocumentStatus.SUPERSEDED.value
        target.replaced_by_id = row.id
        target.updated_at = now
        row.replaces_id = target.id
    audit.record(
        uow=uow,
        actor=actor,
        action="document.deposit",
        patient_id=patient.id,
        detail={"document": row.id, "unique_id": row.unique_id, "type": row.type_code, "replaces": row.replaces_id},
        **granted.audit_kwargs(),
    )
    if not _holder_is(actor, patient.id) and not row.invisible_to_patient:
        notify.notify(
            uow=uow,
            patient_id=patient.id,
            kind="document_replaced" if target is not None else "document_added",
            actor_label=_label(actor),
            detail={"document_id": row.id, "document_title": row.title},
        )
    uow.flush()
    warnings = tuple(p for p in checked.problems if p.severity != "error") + tuple(extra_warnings)
    return DepositResult(entry=_entry(row, same=same), created=True, same_content_as=same, warnings=warnings)


# --- reading --------------------------------------------------------------------------------------------------


def _flag_duplicates(rows: Sequence[Any]) -> set[str]:
    """Ids of the current entries sharing their :func:`duplicate_key` with another one.

    The key is read from the columns (the rule of :func:`duplicate_key`: type, author, day of the service start
    else of the creation, as ``duplicate_day`` computed by the database: see ``matching_columns``) rather than
    from ``_metadata(row)``: building the metadata of every entry of a listing cost more than the rest of the rule.
    """
    seen: dict[tuple[str, str, str], list[str]] = {}
    for r in rows:
        if r.status == DocumentStatus.CURRENT.value:
            seen.setdefault((r.type_code, r.author_id, r.duplicate_day), []).append(r.id)
    return {i for ids in seen.values() if len(ids) > 1 for i in ids}


# What a listing reads of every matching entry: the facts the access decision is made on
# (access.document_facts) and what probable duplicates are found by. Only the page is loaded in full.
_LISTING_COLUMNS = tuple(
    dict.fromkeys([*(f.name for f in fields(DocumentFacts)), "status", "type_code", "author_id", "duplicate_day"])
)


def _holder_is(actor: Actor, patient_id: str) -> bool:
    return actor.kind == ActorKind.PATIENT and actor.id == patient_id


def _label(actor: Actor) -> str:
    return actor.name or actor.organisation_name or f"{actor.kind.value} {actor.id}"


def _after_access(uow: UnitOfWork, actor: Actor, patient_id: str, granted: access.Access) -> None:
    """The holder is told of a professional's first access and, at once, of every emergency access."""
    if actor.kind != ActorKind.PROFESSIONAL:
        return
    if "notify_holder_emergency" in granted.decision.obligations:
        notify.notify(uow=uow, patient_id=patient_id, kind="emergency_access", actor_label=_label(actor),
                      detail={"reason": granted.context.justification, "professional": actor.id})  # fmt: skip
    if notify.first_access_needed(uow, patient_id, actor.id):
        notify.notify(uow=uow, patient_id=patient_id, kind="first_access", actor_label=_label(actor),
                      detail={"professional": actor.id})  # fmt: skip


def _listing_filter(
    uow: UnitOfWork, actor: Actor, patient: PatientRow, *, action: Action = Action.LIST, ctx: Context | None = None
) -> Filter:
    facts = access.facts_for(uow, patient)
    granted = authorize(uow=uow, actor=actor, action=action, patient=patient, ctx=ctx, facts=facts)
    _after_access(uow, actor, patient.id, granted)
    return Filter(uow=uow, actor=actor, facts=facts, ctx=granted.context)


def list_documents(
    *,
    uow: UnitOfWork,
    actor: Actor,
    patient_id: str,
    filters: DocumentFilters | None = None,
    sort: str = "-date",
    offset: int = 0,
    limit: int = 50,
    ctx: Context | None = None,
) -> DocumentPage:
    """The patient's documents the actor may see, filtered, sorted and paged; probable duplicates flagged."""
    patient = _patient_or_raise(uow, patient_id)
    visible = _listing_filter(uow, actor, patient, ctx=ctx)
    found = uow.documents.matching_columns(patient.id, filters or DocumentFilters(), _LISTING_COLUMNS, sort=sort)
    # A summary row carries every attribute the access decision reads (_LISTING_COLUMNS).
    rows = [r for r in found if visible.allows(cast(DocumentRow, r))]
    duplicates = _flag_duplicates(rows)
    # The page in full; decided again on the full rows, in case one changed since the first statement (another
    # transaction may commit in between on PostgreSQL): a document hidden meanwhile is never shown.
    page = [r for r in uow.documents.by_ids([r.id for r in rows[offset : offset + limit]]) if visible.allows(r)]
    audit.record(uow=uow, actor=actor, action="document.list", patient_id=patient.id,
                 detail={"returned": [r.id for r in page]}, **visible.audit_kwargs())  # fmt: skip
    return DocumentPage(items=[_entry(r, probable_duplicate=r.id in duplicates) for r in page], total=len(rows))


def search_documents(
    *,
    uow: UnitOfWork,
    actor: Actor,
    patient_id: str,
    query: str,
    filters: DocumentFilters | None = None,
    limit: int = 50,
    offset: int = 0,
    ctx: Context | None = None,
) -> DocumentPage:
    """Full-text search in the patient's documents (accent- and case-insensitive, ranked), with filters."""
    patient = _patient_or_raise(uow, patient_id)
    visible = _listing_filter(uow, actor, patient, action=Action.SEARCH, ctx=ctx)
    hits = [r for r, _rank in uow.documents.search(patient.id, query, filters or DocumentFilters())]
    rows = [r for r in hits if visible.allows(r)]
    audit.record(
        uow=uow,
        actor=actor,
        action="document.search",
        patient_id=patient.id,
        detail={"query_length": len(query), "returned": [r.id for r in rows[offset : offset + limit]]},
        **visible.audit_kwargs(),
    )
    return DocumentPage(items=[_entry(r) for r in rows[offset : offset + limit]], total=len(rows))


def grouped_by_class(
    *, uow: UnitOfWork, actor: Actor, patient_id: str, filters: DocumentFilters | None = None
) -> list[tuple[str, str, list[DocumentEntry]]]:
    """The visible documents grouped by class, with the French label of each class."""
    page = list_documents(uow=uow, actor=actor, patient_id=patient_id, filters=filters, limit=10_000)
    labels = value_sets().class_code
    groups: dict[str, list[DocumentEntry]] = {}
    for entry in page.items:
        groups.setdefault(entry.metadata.class_code, []).append(entry)
    return [(code, labels.label(code), groups[code]) for code in sorted(groups)]


@dataclass(frozen=True, slots=True)
class AuthoredDocument:
    """What the sharing compliance report reads of a document a professional wrote: no title, no content."""

    id: str
    patient_id: str
    unique_id: str
    type_code: str
    creation_time: dt.datetime
    submission_time: dt.datetime
    invisible_to_patient: bool


def authored_documents(
    *,
    uow: UnitOfWork,
    actor: Actor,
    author_id: str | None = None,
    organisation_id: str | None = None,
    created_from: dt.datetime,
    created_before: dt.datetime,
) -> list[AuthoredDocument]:
    """The current or superseded documents a professional (``author_id``) or the professionals of an organisation
    (``organisation_id``) wrote, created in ``[created_from, created_before)``: the professional for themself (or
    their secretariat), a member for their organisation, the platform for anyone; traced on the platform chain."""
    if (author_id is None) == (organisation_id is None):
        raise ValueError("author_id or organisation_id, one of them")
    own = author_id is not None and (
        (actor.kind == ActorKind.PROFESSIONAL and actor.id == author_id)
        or (actor.kind == ActorKind.SECRETARIAT and actor.acting_for == author_id)
    )
    member = (
        organisation_id is not None
        and actor.kind in (ActorKind.PROFESSIONAL, ActorKind.SECRETARIAT)
        and (actor.organisation_id == organisation_id)
    )
    if not (own or member or actor.kind in (ActorKind.SYSTEM, ActorKind.OPERATOR)):
        raise Forbidden("seuls l'auteur, sa structure et la plateforme listent les documents qu'un professionnel a "
                        "écrits")  # fmt: skip
    from sqlalchemy import select

    column = DocumentRow.author_id if author_id is not None else DocumentRow.author_org_id
    stmt = select(DocumentRow).where(
        column == (author_id or organisation_id),
        DocumentRow.author_kind == AuthorKind.PROFESSIONAL.value,
        DocumentRow.creation_time >= created_from,
        DocumentRow.creation_time < created_before,
        DocumentRow.status != DocumentStatus.DELETED.value,
    )
    rows = list(uow.session.scalars(stmt.order_by(DocumentRow.creation_time, DocumentRow.id)))
    audit.record(uow=uow, actor=actor, action="document.list_authored", patient_id=None,
                 detail={"author": author_id, "organisation": organisation_id, "returned": len(rows)})  # fmt: skip
    return [AuthoredDocument(r.id, r.patient_id, r.unique_id, r.type_code, r.creation_time, r.submission_time,
                             r.invisible_to_patient) for r in rows]  # fmt: skip


def patient_of(*, uow: UnitOfWork, entry_id: str) -> str | None:
    """The patient a document (entry id or unique id) belongs to, so a caller's role on it can be chosen before
    the access decision; nothing of the document is returned."""
    row = uow.documents.get(entry_id) or uow.documents.by_unique_id(entry_id)
    return row.patient_id if row is not None else None


def _document_or_raise(uow: UnitOfWork, entry_id: str) -> DocumentRow:
    row = uow.documents.get(entry_id) or uow.documents.by_unique_id(entry_id)
    if row is None:
        raise NotFound("document introuvable", field="document")
    return row


def _checked_row(
    uow: UnitOfWork, actor: Actor, entry_id: str, action: Action, ctx: Context | None = None
) -> DocumentRow:
    return _checked(uow, actor, entry_id, action, ctx)[0]


def _checked(
    uow: UnitOfWork, actor: Actor, entry_id: str, action: Action, ctx: Context | None = None
) -> tuple[DocumentRow, access.Access]:
    row = _document_or_raise(uow, entry_id)
    patient = _patient_or_raise(uow, row.patient_id)
    granted = authorize(uow=uow, actor=actor, action=action, patient=patient, row=row, ctx=ctx)
    if action == Action.READ:
        _after_access(uow, actor, patient.id, granted)
    return row, granted


def get_document(*, uow: UnitOfWork, actor: Actor, entry_id: str, ctx: Context | None = None) -> DocumentEntry:
    """One entry's metadata (entry id or unique id)."""
    row, granted = _checked(uow, actor, entry_id, Action.READ, ctx)
    audit.record(uow=uow, actor=actor, action="document.read_metadata", patient_id=row.patient_id,
                 detail={"document": row.id}, **granted.audit_kwargs())  # fmt: skip
    return _entry(row)


def get_content(
    *, uow: UnitOfWork, actor: Actor, entry_id: str, ctx: Context | None = None
) -> tuple[DocumentEntry, bytes]:
    """The original bytes of a document (verified against its SHA-256)."""
    row, granted = _checked(uow, actor, entry_id, Action.READ, ctx)
    data = uow.blobs.get(row.sha256)
    audit.record(
        uow=uow,
        actor=actor,
        action="document.read",
        patient_id=row.patient_id,
        detail={"document": row.id},
        **granted.audit_kwargs(),
    )
    return _entry(row), data


def render_document(
    *,
    uow: UnitOfWork,
    actor: Actor,
    entry_id: str,
    pdf_url: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    ctx: Context | None = None,
) -> str:
    """Safe HTML of a CDA document for display."""
    entry, data = get_content(uow=uow, actor=actor, entry_id=entry_id, ctx=ctx)
    if entry.metadata.mime_type not in CDA_MIME_TYPES:
        raise Conflict("seuls les documents CDA ont un rendu HTML ; télécharger le fichier", field="document")
    from carnet.record.xml import parse_xml

    return render.render_html(parse_xml(data, max_bytes=max(max_bytes, len(data))), pdf_url=pdf_url)


def get_embedded_pdf(
    *, uow: UnitOfWork, actor: Actor, entry_id: str, ctx: Context | None = None
) -> tuple[DocumentEntry, bytes]:
    """The PDF a CDA level-1 document carries in its nonXMLBody (read, decided and traced as the document's
    content); NotFound when the document carries no readable PDF."""
    entry, data = get_content(uow=uow, actor=actor, entry_id=entry_id, ctx=ctx)
    embedded = None
    if entry.metadata.mime_type in CDA_MIME_TYPES:
        from carnet.record.xml import parse_xml

        embedded = cda.embedded_content(parse_xml(data, max_bytes=max(DEFAULT_MAX_BYTES, len(data))))
    if embedded is None or embedded[0] != "application/pdf" or not render.is_pdf(embedded[1]):
        raise NotFound("ce document ne contient pas de PDF", field="document")
    return entry, embedded[1]


# --- visibility and lifecycle ---------------------------------------------------------------------------------


def _change(*, uow: UnitOfWork, actor: Actor, entry_id: str, action: Action, changes: dict[str, Any]) -> DocumentEntry:
    row = _checked_row(uow, actor, entry_id, action)
    now = uow.clock.now()
    for name, value in changes.items():
        setattr(row, name, value)
    row.updated_at = now
    audit.record(
        uow=uow,
        actor=actor,
        action=f"document.{action.value}",
        patient_id=row.patient_id,
        detail={"document": row.id, **{k: str(v) for k, v in changes.items()}},
    )
    uow.flush()
    return _entry(row)


def hide_from_professionals(*, uow: UnitOfWork, actor: Actor, entry_id: str) -> DocumentEntry:
    """The holder hides a document from professionals (except its author)."""
    return _change(
        uow=uow, actor=actor, entry_id=entry_id, action=Action.HIDE, changes={"hidden_from_professionals": True}
    )


def show_to_professionals(*, uow: UnitOfWork, actor: Actor, entry_id: str) -> DocumentEntry:
    """The holder shows a hidden document to professionals again."""
    return _change(
        uow=uow, actor=actor, entry_id=entry_id, action=Action.SHOW, changes={"hidden_from_professionals": False}
    )


def hold_back_from_patient(*, uow: UnitOfWork, actor: Actor, entry_id: str) -> DocumentEntry:
    """The author holds a document back from the patient until the announcement consultation."""
    return _change(
        uow=uow, actor=actor, entry_id=entry_id, action=Action.HOLD_BACK, changes={"invisible_to_patient": True}
    )


ReleaseHook = Callable[[UnitOfWork, Actor, DocumentEntry], None]
_RELEASE_HOOKS: list[ReleaseHook] = []


def on_release(hook: ReleaseHook) -> ReleaseHook:
    """Subscribe ``hook`` to releases: it is called in the release's unit of work, after the change (the sharing
    package sends a document shared held back to the patient's messaging then: ``carnet.sharing.share``); a hook
    that raises undoes the release with it."""
    if hook not in _RELEASE_HOOKS:
        _RELEASE_HOOKS.append(hook)
    return hook


def release_to_patient(*, uow: UnitOfWork, actor: Actor, entry_id: str) -> DocumentEntry:
    """The author releases a held-back document: the patient sees it from now on (and the release hooks run)."""
    entry = _change(
        uow=uow, actor=actor, entry_id=entry_id, action=Action.RELEASE, changes={"invisible_to_patient": False}
    )
    for hook in tuple(_RELEASE_HOOKS):
        hook(uow, actor, entry)
    return entry


def set_invisible_to_representatives(*, uow: UnitOfWork, actor: Actor, entry_id: str, invisible: bool) -> DocumentEntry:
    """Make a document invisible (or visible again) to the holder's legal representatives."""
    return _change(
        uow=uow,
        actor=actor,
        entry_id=entry_id,
        action=Action.SET_REPRESENTATIVE_VISIBILITY,
        changes={"invisible_to_representatives": invisible},
    )


def delete(*, uow: UnitOfWork, actor: Actor, entry_id: str) -> DocumentEntry:
    """Logical deletion by the holder or the author: the entry and its content are kept for the retention period."""
    row = _checked_row(uow, actor, entry_id, Action.DELETE)
    if row.status == DocumentStatus.DELETED.value:
        return _entry(row)
    if not _holder_is(actor, row.patient_id):
        notify.notify(uow=uow, patient_id=row.patient_id, kind="document_deleted", actor_label=_label(actor),
                      detail={"document_id": row.id, "document_title": row.title})  # fmt: skip
    return _change(
        uow=uow,
        actor=actor,
        entry_id=entry_id,
        action=Action.DELETE,
        changes={"status": DocumentStatus.DELETED.value, "deleted_at": uow.clock.now(), "deleted_by": actor.id},
    )


def purge(*, uow: UnitOfWork, actor: Actor, patient_id: str) -> list[DocumentEntry]:
    """The retention purge of a closed space (the platform's job, :mod:`carnet.space.lifecycle`): every entry of the
    record is deleted logically and marked deleted by ``actor``, decided and traced one by one like :func:`delete`,
    nobody notified (the holder closed the space); returns the entries, for the job to remove the contents that no
    other row needs."""
    patient = _patient_or_raise(uow, patient_id)
    rows = uow.documents.matching(patient.id, DocumentFilters(statuses=tuple(s.value for s in DocumentStatus)))
    now = uow.clock.now()
    return [
        _change(uow=uow, actor=actor, entry_id=row.id, action=Action.DELETE,
                changes={"status": DocumentStatus.DELETED.value, "deleted_at": row.deleted_at or now,
                         "deleted_by": actor.id})
        for row in rows
    ]  # fmt: skip

"""Taking one's data away: the export archive of a health space, and the resources of ``Patient/$everything``.

FHIR release: **R4** (4.0.1); every resource is validated with ``fhir.resources.R4B`` (R4's structures).

:func:`export` writes one ZIP archive, streamed to a file: the documents are read one by one through the record
service (:func:`carnet.record.service.get_content`: the access decision and a trace for each) and written to the
archive at once, so the record is never held in memory. The archive holds (docs/export.md):

* ``documents/<date>_<type>_<id>.<ext>``: every document of the record the actor may see, current or replaced
  version, in its original format and bytes (CDA R2 as ``.xml``, the holder's PDF and JPEG files as they came);
* ``dossier-fhir.json``: a FHIR ``Bundle`` of type ``collection`` of everything structured, in this order: the
  ``Patient`` (FR Core, with the INS when the identity is qualified), the ``Consent`` of each access setting, the
  ``DocumentReference`` of each document (the API's MHD mapping; ``attachment.url`` names the file in the
  archive), the ``Communication`` of each secure message (the API's mapping), the resources of the registered
  sections (:func:`register_resources`), and the ``AuditEvent`` of each entry of the access history;
* ``historique-des-acces.csv``: the access history (UTF-8, comma-separated, one line per entry);
* ``index.html``: a page to read all of it offline (French, inline CSS, no script, no external resource), with a
  link to each document file and the history table;
* ``manifest.json``: each file's size and SHA-256.

Who exports: the holder; a legal representative while the access decision lets them act for the holder (a minor,
a protected adult); the platform itself at the holder's request (``carnet space export``), which exports what the
holder sees. Documents held back until the announcement consultation are never exported to the holder's side,
documents invisible to the representatives never to a representative, and the history and the messages of the
archive do not even name them (their references are left out). The export is traced (``space.export``, "export du
dossier") in the caller's unit of work, after the traces of the reads it made.

:func:`everything` gives the same resources (no files) to ``GET /fhir/Patient/{id}/$everything``, within the
access rules of the caller: a professional gets the documents the matrix lets them read, the settings and messages
that name them, no access history; an app gets what the holder's grant covers.

Other parts of the space add their resources (health profile, agenda, reimbursements) with
:func:`register_resources`: a function given a :class:`Scope` that returns the FHIR resources (JSON dicts) the
actor may read, read through its own service (access decision and audit trail), and the module that registers it
named in :data:`PROVIDER_MODULES` so it is imported before every export.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import importlib
import io
import json
import re
import uuid
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import IO, Any

from carnet.access import service as access
from carnet.access.model import Action, Actor, ActorKind, Context, Decision
from carnet.audit import service as audit
from carnet.errors import Forbidden, NotFound, ValidationError
from carnet.record import service as record
from carnet.record.model import DocumentEntry, DocumentStatus
from carnet.record.store import DocumentFilters
from carnet.storage.uow import UnitOfWork

__all__ = [
    "BUNDLE_NAME",
    "CORE_TYPES",
    "HISTORY_NAME",
    "INDEX_NAME",
    "MANIFEST_NAME",
    "PROVIDER_MODULES",
    "ExportArchive",
    "ResourceProvider",
    "Scope",
    "Section",
    "document_file_name",
    "everything",
    "export",
    "export_decision",
    "register_resources",
    "resource_types",
    "unregister_resources",
    "validated",
]

BUNDLE_NAME = "dossier-fhir.json"
HISTORY_NAME = "historique-des-acces.csv"
INDEX_NAME = "index.html"
MANIFEST_NAME = "manifest.json"
DOCUMENTS_FOLDER = "documents"
RFC3986 = "urn:ietf:rfc:3986"
_NAMESPACE = uuid.UUID("0d7c3f52-5e0b-4f43-9c39-6578706f7274")
_BATCH = 1000  # documents listed per call of the record service
_EXPORTERS = frozenset({ActorKind.PATIENT, ActorKind.REPRESENTATIVE, ActorKind.SYSTEM})
# What the holder side never receives: the access decision already keeps these from the holder and the
# representatives; the platform exporting at the holder's request applies the same rule here.
_HOLDER_SIDE = frozenset({ActorKind.PATIENT, ActorKind.REPRESENTATIVE, ActorKind.SYSTEM, ActorKind.APP})
_EXTENSIONS = {"text/xml": "xml", "application/xml": "xml", "application/hl7-v3+xml": "xml",
               "application/pdf": "pdf", "image/jpeg": "jpg"}  # fmt: skip
_STATUS_LABELS = {"current": "en vigueur", "superseded": "remplacé par une version plus récente"}

# The resource types of the core sections, in the order of the bundle (the registered sections come between
# Communication and AuditEvent: the history, which grows with every reading, stays last so pages stay stable).
CORE_TYPES = ("Patient", "Consent", "DocumentReference", "Communication", "AuditEvent")


# --- the registry of further sections ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Scope:
    """What a section is asked for: whose record, for whom, when, and which resources.

    ``visible_documents`` are the ids of the documents the actor may see (the export's documents): a resource
    must not name another one. ``types`` is None for every type; ``since`` keeps only what changed since then.
    """

    uow: UnitOfWork
    actor: Actor
    patient_id: str
    ctx: Context
    fhir_base: str | None = None
    since: dt.datetime | None = None
    types: frozenset[str] | None = None
    visible_documents: frozenset[str] = frozenset()
    history_until: int | None = None  # the access history up to this entry (a paged $everything's snapshot)

    def wants(self, resource_type: str) -> bool:
        """Whether resources of this type are asked for."""
        return self.types is None or resource_type in self.types


ResourceProvider = Callable[[Scope], Iterable[dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class Section:
    """A registered section: its name, the FHIR resource types it gives, and the function that gives them."""

    name: str
    resource_types: tuple[str, ...]
    provider: ResourceProvider


_SECTIONS: dict[str, Section] = {}

# Modules that register sections when imported (``carnet.space.profile``...): imported before every export and
# every $everything, so their sections are always there. Add yours here (one line).
PROVIDER_MODULES: tuple[str, ...] = ("carnet.space.profile_export", "carnet.space.agenda_export")


def register_resources(name: str, resource_types: Iterable[str], provider: ResourceProvider) -> ResourceProvider:
    """Add a section to the export and to ``Patient/$everything`` (registering the same name again replaces it).

    ``provider(scope)`` returns the FHIR R4 resources (JSON dicts with ``resourceType`` and ``id``, of the
    declared ``resource_types``) of ``scope.patient_id`` that ``scope.actor`` may read. It reads them through its
    own service, which asks the access decision and writes the audit trail in ``scope.uow``; it returns nothing
    (rather than raising) for an actor who may read none of them (a :class:`~carnet.errors.Forbidden` it raises
    leaves the section out). It may skip the work when ``scope.wants(type)`` is false, and filter on
    ``scope.since``; the export checks every resource against FHIR R4 and filters on ``since`` again. Its
    resources must not name documents outside ``scope.visible_documents``.
    """
    types = tuple(resource_types)
    if not name or not types:
        raise ValueError("a section needs a name and at least one resource type")
    clash = set(types) & set(CORE_TYPES)
    if clash:
        raise ValueError(f"resource types already exported by the core sections: {sorted(clash)}")
    _SECTIONS[name] = Section(name, types, provider)
    return provider


def unregister_resources(name: str) -> None:
    """Take a registered section out (nothing happens for a name not registered)."""
    _SECTIONS.pop(name, None)


def _sections() -> tuple[Section, ...]:
    for module in PROVIDER_MODULES:
        importlib.import_module(module)
    return tuple(_SECTIONS.values())


def resource_types() -> tuple[str, ...]:
    """Every resource type an export may hold: the core ones, then those of the registered sections."""
    registered = [t for section in _sections() for t in section.resource_types if t not in CORE_TYPES]
    return (*CORE_TYPES[:-1], *dict.fromkeys(registered), CORE_TYPES[-1])


# --- who exports ----------------------------------------------------------------------------------------------


def _patient_row(uow: UnitOfWork, patient_id: str) -> Any:
    row = uow.patients.get(patient_id)
    if row is None:
        raise NotFound(f"patient {patient_id} introuvable", field="patient_id")
    return row


def export_decision(*, uow: UnitOfWork, actor: Actor, patient_id: str, ctx: Context | None = None) -> Decision | None:
    """What the access decision says of ``actor`` exporting this space (decided, neither enforced nor traced);
    None for an actor who never exports (a professional, an app, an operator)."""
    if actor.kind not in _EXPORTERS:
        return None
    patient = _patient_row(uow, patient_id)
    facts = access.facts_for(uow, patient)
    # The archive holds the access history: the holder's own kind of reading (READ_AUDIT), which a
    # representative has only while acting for a minor or a protected adult.
    return access.evaluate(uow=uow, actor=actor, action=Action.READ_AUDIT, facts=facts, ctx=ctx or access.context(uow))


def _enforce_export(uow: UnitOfWork, actor: Actor, patient_id: str, ctx: Context) -> Decision:
    decision = export_decision(uow=uow, actor=actor, patient_id=patient_id, ctx=ctx)
    if decision is not None and decision.allowed:
        return decision
    audit.record_now(uow=uow, actor=actor, action="space.export", patient_id=patient_id, decision=decision,
                     mode=ctx.mode.value, request_id=ctx.request_id,
                     detail=None if decision else {"reason": "export_holder_only"})  # fmt: skip
    if decision is None:
        raise Forbidden("seul le titulaire de l'espace santé (ou son représentant légal) exporte son dossier")
    raise Forbidden("export refusé : " + " ; ".join(reason.fr for reason in decision.reasons))


# --- the resources ----------------------------------------------------------------------------------------------


def validated(resource: dict[str, Any]) -> dict[str, Any]:
    """The resource, checked against FHIR R4 (``fhir.resources.R4B``; pydantic's ValidationError otherwise)."""
    from fhir.resources.R4B import get_fhir_model_class

    get_fhir_model_class(str(resource["resourceType"])).model_validate(resource)
    return resource


def _parse_instant(value: Any) -> dt.datetime | None:
    if not isinstance(value, str) or "T" not in value:
        return None
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def changed_at(resource: dict[str, Any]) -> dt.datetime | None:
    """When a resource last changed: ``meta.lastUpdated``, else the ``recorded`` of an AuditEvent or the ``date``
    of a DocumentReference (its submission)."""
    meta = resource.get("meta")
    found = _parse_instant(meta.get("lastUpdated")) if isinstance(meta, dict) else None
    if found is None and resource.get("resourceType") == "AuditEvent":
        found = _parse_instant(resource.get("recorded"))
    if found is None and resource.get("resourceType") == "DocumentReference":
        found = _parse_instant(resource.get("date"))
    return found


def _since_ok(scope: Scope, resource: dict[str, Any]) -> bool:
    if scope.since is None:
        return True
    moment = changed_at(resource)
    return moment is None or moment >= scope.since


def _ins_of(identity: Any) -> tuple[str, str] | None:
    from carnet.identity.status import may_share

    if identity.ins is None or not may_share(identity.status):
        return None
    return identity.ins.value, identity.ins.oid.value


def _visible_documents(scope: Scope) -> list[DocumentEntry]:
    """The documents the actor may see, current and replaced versions, oldest first (the record service: the
    listing decided per document and traced)."""
    filters = DocumentFilters(statuses=(DocumentStatus.CURRENT.value, DocumentStatus.SUPERSEDED.value))
    found: list[DocumentEntry] = []
    offset = 0
    while True:
        page = record.list_documents(uow=scope.uow, actor=scope.actor, patient_id=scope.patient_id, filters=filters,
                                     sort="date", offset=offset, limit=_BATCH, ctx=scope.ctx)  # fmt: skip
        found.extend(page.items)
        offset += _BATCH
        if offset >= page.total or not page.items:
            break
    kind = scope.actor.kind
    return [
        e
        for e in found
        if not (kind in _HOLDER_SIDE and e.invisible_to_patient)
        and not (kind == ActorKind.REPRESENTATIVE and e.invisible_to_representatives)
    ]


def _patient(scope: Scope) -> tuple[dict[str, Any], Any]:
    from carnet.api.patients import patient_resource
    from carnet.identity import service as identities

    identity = identities.get_or_raise(uow=scope.uow, actor=scope.actor, patient_id=scope.patient_id)
    return patient_resource(identity), identity


def _consents(scope: Scope) -> list[dict[str, Any]]:
    """The access settings: all of them for the holder's side, those naming them for a professional."""
    if scope.actor.kind not in (*_EXPORTERS, ActorKind.PROFESSIONAL):
        return []
    from carnet.api.consents import consent_resource

    settings = access.list_settings(uow=scope.uow, actor=scope.actor, patient_id=scope.patient_id, ctx=scope.ctx)
    now = scope.uow.clock.now()
    return [consent_resource(setting, now) for setting in settings]


def _document_references(scope: Scope, documents: list[DocumentEntry], ins: tuple[str, str] | None,
                         in_archive: bool) -> list[dict[str, Any]]:  # fmt: skip
    from carnet.api.mhd import document_reference

    out = []
    for entry in documents:
        resource = document_reference(entry, ins=ins)
        if in_archive:  # the file is beside the bundle; the API's Binary/<id> is no address here
            resource["content"][0]["attachment"]["url"] = document_file_name(entry)
        out.append(resource)
    return out


def _mailbox_owners(uow: UnitOfWork, views: list[Any]) -> dict[str, tuple[str, str | None]]:
    from carnet.messaging.store import MessagingRepository

    repo = MessagingRepository(uow.session)
    owners: dict[str, tuple[str, str | None]] = {}
    for view in views:
        for recipient in view.recipients:
            if recipient.address not in owners:
                box = repo.mailbox_by_address(recipient.address)
                owners[recipient.address] = (recipient.kind, box.owner_id if box is not None else None)
    return owners


def _communications(scope: Scope) -> list[dict[str, Any]]:
    """The secure messages about this patient the actor sent or received (the messaging service: traced)."""
    if scope.actor.kind in (ActorKind.SYSTEM, ActorKind.OPERATOR, ActorKind.SECRETARIAT):
        return []  # they hold no mailbox of the patient's (docs/export.md)
    from carnet.api.communications import communication
    from carnet.messaging import service as mss

    views = mss.search_messages(uow=scope.uow, actor=scope.actor,
                                filters=mss.MessageFilters(patient_id=scope.patient_id))  # fmt: skip
    views = sorted(views, key=lambda v: (v.received_at, v.id))
    owners = _mailbox_owners(scope.uow, views)
    out = []
    for view in views:
        resource = communication(view, scope.fhir_base or "", owners)
        payload = []
        for item in resource["payload"]:
            reference = (item.get("contentReference") or {}).get("reference", "")
            if reference.startswith("DocumentReference/") and reference.split("/", 1)[1] not in scope.visible_documents:
                continue  # a document this actor may not see is not even named
            attachment = item.get("contentAttachment")
            if attachment and not scope.fhir_base:
                attachment["url"] = str(attachment["url"]).lstrip("/")
            payload.append(item)
        resource["payload"] = payload
        out.append(resource)
    return out


def _history_rows(scope: Scope) -> list[Any]:
    """The access history when the actor may read it (READ_AUDIT; decided first so that nobody else leaves a
    refused reading in the trail for an export that simply does not include it)."""
    patient = _patient_row(scope.uow, scope.patient_id)
    facts = access.facts_for(scope.uow, patient)
    decision = access.evaluate(uow=scope.uow, actor=scope.actor, action=Action.READ_AUDIT, facts=facts, ctx=scope.ctx)
    if not decision.allowed:
        return []
    return access.read_history(uow=scope.uow, actor=scope.actor, patient_id=scope.patient_id, ctx=scope.ctx)


def _audit_event(row: Any, visible: frozenset[str]) -> dict[str, Any]:
    from carnet.audit.fhir import to_audit_event

    event = to_audit_event(row)
    kept = [e for e in event.get("entity", []) if _names_visible(e["what"].get("reference", ""), visible)]
    if kept:
        event["entity"] = kept
    else:
        event.pop("entity", None)
    return event


def _names_visible(reference: str, visible: frozenset[str]) -> bool:
    return not reference.startswith("DocumentReference/") or reference.split("/", 1)[1] in visible


def _registered(scope: Scope) -> Iterator[dict[str, Any]]:
    for section in _sections():
        if not any(scope.wants(t) for t in section.resource_types):
            continue
        try:
            produced = list(section.provider(scope))
        except Forbidden:
            continue  # the section's service refused (and traced it): nothing of it for this actor
        for resource in produced:
            kind = resource.get("resourceType")
            if kind not in section.resource_types or not resource.get("id"):
                raise ValueError(f"section {section.name}: resource {kind!r} without id or of an undeclared type")
            if scope.wants(str(kind)):
                yield resource


@dataclass(slots=True)
class _Collected:
    """What an export reads: the resources by section, the visible documents, the identity and the history."""

    identity: Any = None
    documents: list[DocumentEntry] = field(default_factory=list)
    history: list[Any] = field(default_factory=list)


def _resources(scope: Scope, collected: _Collected, *, in_archive: bool) -> Iterator[dict[str, Any]]:
    """Every resource of the record for the scope's actor, section by section (see the module docstring)."""
    patient, collected.identity = _patient(scope)
    if scope.wants("Patient"):
        yield patient
    if scope.wants("Consent"):
        yield from (r for r in _consents(scope) if _since_ok(scope, r))
    if scope.wants("DocumentReference"):
        references = _document_references(scope, collected.documents, _ins_of(collected.identity), in_archive)
        yield from (r for r in references if _since_ok(scope, r))
    if scope.wants("Communication"):
        yield from (r for r in _communications(scope) if _since_ok(scope, r))
    yield from (r for r in _registered(scope) if _since_ok(scope, r))
    if scope.wants("AuditEvent") or in_archive:
        collected.history = _history_rows(scope)
        if scope.history_until is not None:
            collected.history = [row for row in collected.history if row.id <= scope.history_until]
    if scope.wants("AuditEvent"):
        events = (_audit_event(row, scope.visible_documents) for row in collected.history)
        yield from (e for e in events if _since_ok(scope, e))


def _scope(uow: UnitOfWork, actor: Actor, patient_id: str, ctx: Context, **options: Any) -> Scope:
    return Scope(uow=uow, actor=actor, patient_id=patient_id, ctx=ctx, **options)


def everything(
    *,
    uow: UnitOfWork,
    actor: Actor,
    patient_id: str,
    ctx: Context | None = None,
    since: dt.datetime | None = None,
    types: Iterable[str] | None = None,
    fhir_base: str | None = None,
    history_until: int | None = None,
) -> list[dict[str, Any]]:
    """The resources of ``Patient/$everything``: everything of the record ``actor`` may read, in the bundle's order
    (the Patient first, the access history last), of ``types`` only when given, changed since ``since`` when
    given (the Patient is given whatever its date), the access history up to the entry ``history_until`` when
    given (the history grows with every reading, this one included: the pages of one answer share the snapshot
    of the first page). The record is decided as a whole first (LIST: a refusal is
    traced and raised), then each section through its own service; the reading is traced (``space.everything``).
    Not validated here: the API validates the page it answers."""
    ctx = ctx or access.context(uow)
    wanted = frozenset(types) if types is not None else None
    unknown = sorted((wanted or frozenset()) - set(resource_types()))
    if unknown:
        raise ValidationError(f"type de ressource non exporté : {', '.join(unknown)}", field="_type")
    granted = access.enforce_on_record(uow=uow, actor=actor, patient_id=patient_id, action=Action.LIST, ctx=ctx)
    probe = _scope(uow, actor, patient_id, ctx, fhir_base=fhir_base)
    documents = _visible_documents(probe)
    scope = _scope(uow, actor, patient_id, ctx, fhir_base=fhir_base, since=since, types=wanted,
                   visible_documents=frozenset(e.id for e in documents), history_until=history_until)  # fmt: skip
    collected = _Collected(documents=documents)
    found = [r for r in _resources(scope, collected, in_archive=False)]
    by_type: dict[str, int] = {}
    for resource in found:
        by_type[resource["resourceType"]] = by_type.get(resource["resourceType"], 0) + 1
    audit.record(uow=uow, actor=actor, action="space.everything", patient_id=patient_id,
                 detail={"returned": by_type, "since": since.isoformat() if since else None,
                         "types": sorted(wanted) if wanted is not None else None},
                 **granted.audit_kwargs())  # fmt: skip
    return found


# --- the archive ------------------------------------------------------------------------------------------------


def document_file_name(entry: DocumentEntry) -> str:
    """``documents/<date>_<type>_<id>.<ext>``: the document's creation day (French legal time), its type code and
    entry id, the extension of its format."""
    day = _local(entry.metadata.creation_time).date().isoformat()
    kind = re.sub(r"[^A-Za-z0-9-]+", "-", entry.metadata.type_code).strip("-") or "document"
    extension = _EXTENSIONS.get(entry.metadata.mime_type, "bin")
    return f"{DOCUMENTS_FOLDER}/{day}_{kind}_{entry.id}.{extension}"


def _paris() -> dt.tzinfo:
    try:
        from zoneinfo import ZoneInfo

        return ZoneInfo("Europe/Paris")
    except Exception:  # noqa: BLE001 - no time-zone database: UTC rather than fail the export
        return dt.UTC


_PARIS = _paris()


def _local(moment: dt.datetime) -> dt.datetime:
    return (moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)).astimezone(_PARIS)


@dataclass(frozen=True, slots=True)
class ArchiveFile:
    """One file of the archive, as the manifest lists it."""

    name: str
    size: int
    sha256: str
    media_type: str


@dataclass(frozen=True, slots=True)
class ExportArchive:
    """What :func:`export` wrote: the files (the manifest's list), the number of documents and of FHIR resources by
    type, and the SHA-256 of the manifest."""

    files: tuple[ArchiveFile, ...]
    documents: int
    resources: dict[str, int]
    manifest_sha256: str

    @property
    def size(self) -> int:
        """The bytes of the files listed (uncompressed)."""
        return sum(f.size for f in self.files)


class _Hashing(io.RawIOBase):
    """A writer into one archive member that counts and hashes what goes through it."""

    def __init__(self, target: IO[bytes]) -> None:
        self.target = target
        self.digest = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = memoryview(data)  # no copy of a document's bytes
        self.target.write(chunk)
        self.digest.update(chunk)
        self.size += chunk.nbytes
        return chunk.nbytes


class _Writer:
    """The ZIP being written: each member streamed, hashed and listed for the manifest."""

    def __init__(self, archive: zipfile.ZipFile, now: dt.datetime) -> None:
        self.archive = archive
        self.stamp = _local(now).timetuple()[:6]
        self.files: list[ArchiveFile] = []

    def _info(self, name: str) -> zipfile.ZipInfo:
        info = zipfile.ZipInfo(name, date_time=self.stamp)
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = 0o644 << 16
        return info

    def member(self, name: str, media_type: str, chunks: Iterable[bytes]) -> ArchiveFile:
        with self.archive.open(self._info(name), "w", force_zip64=True) as raw:
            out = _Hashing(raw)
            for chunk in chunks:
                out.write(chunk)
        listed = ArchiveFile(name, out.size, out.digest.hexdigest(), media_type)
        self.files.append(listed)
        return listed


def _bundle_chunks(scope: Scope, resources_: Iterable[dict[str, Any]], now: dt.datetime,
                   counts: dict[str, int]) -> Iterator[bytes]:  # fmt: skip
    """The collection Bundle as JSON, one entry at a time (each resource validated first)."""
    bundle_id = str(uuid.uuid5(_NAMESPACE, f"{scope.patient_id}/{now.isoformat()}"))
    head = {"resourceType": "Bundle", "id": bundle_id, "meta": {"lastUpdated": now.isoformat()},
            "identifier": {"system": RFC3986, "value": f"urn:uuid:{bundle_id}"}, "type": "collection",
            "timestamp": now.isoformat()}  # fmt: skip
    yield json.dumps(head, ensure_ascii=False)[:-1].encode() + b', "entry": ['
    first = True
    for resource in resources_:
        kind = str(resource["resourceType"])
        if kind != "AuditEvent":  # AuditEvents are validated by their mapping already
            validated(resource)
        counts[kind] = counts.get(kind, 0) + 1
        entry = {"fullUrl": _full_url(scope.fhir_base, kind, str(resource["id"])), "resource": resource}
        yield (b"" if first else b",\n") + json.dumps(entry, ensure_ascii=False).encode()
        first = False
    yield b"]}\n"


def _full_url(base: str | None, kind: str, ident: str) -> str:
    if base:
        return f"{base.rstrip('/')}/{kind}/{ident}"
    return f"urn:uuid:{uuid.uuid5(_NAMESPACE, f'{kind}/{ident}')}"


_CSV_COLUMNS = ("date_utc", "date_heure_paris", "qui", "type_acteur", "identifiant_acteur", "profession",
                "organisation", "action", "libelle", "mode", "resultat", "document", "motifs",
                "identifiant_requete")  # fmt: skip


def _history_lines(rows: list[Any], visible: frozenset[str]) -> list[dict[str, Any]]:
    out = []
    for row in rows:
        entry = audit.to_access_entry(row)
        document = entry.document_id if entry.document_id in visible else None
        out.append({
            "date_utc": entry.at.astimezone(dt.UTC).isoformat(),
            "date_heure_paris": _local(entry.at).strftime("%d/%m/%Y %H:%M"),
            "qui": entry.who, "type_acteur": audit.KIND_LABELS.get(entry.actor_kind, entry.actor_kind),
            "identifiant_acteur": entry.actor_id, "profession": entry.profession_label or "",
            "organisation": entry.actor_organisation or "", "action": entry.action, "libelle": entry.action_label,
            "mode": entry.mode.label_fr, "resultat": audit.OUTCOME_LABELS.get(entry.outcome, entry.outcome),
            "document": document or "", "motifs": " ; ".join(entry.reasons),
            "identifiant_requete": entry.request_id or "", "emergency": entry.emergency,
        })  # fmt: skip
    return out


def _csv_chunks(lines: list[dict[str, Any]]) -> Iterator[bytes]:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=_CSV_COLUMNS, extrasaction="ignore", lineterminator="\r\n")
    writer.writeheader()
    for line in lines:
        writer.writerow(line)
        if buffer.tell() > 64 * 1024:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()


def _index_html(**context: Any) -> bytes:
    from jinja2 import Environment, select_autoescape

    template = resources.files("carnet.space").joinpath("export_index.html").read_text("utf-8")
    env = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
    env.filters["local"] = lambda moment: _local(moment).strftime("%d/%m/%Y %H:%M") if moment else ""
    env.filters["day"] = lambda moment: _local(moment).strftime("%d/%m/%Y") if moment else ""
    env.filters["size"] = _human_size
    return env.from_string(template).render(**context).encode()


def _human_size(size: int) -> str:
    if size < 1024:
        return f"{size} o"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} Ko".replace(".", ",")
    return f"{size / (1024 * 1024):.1f} Mo".replace(".", ",")


def _document_rows(documents: list[DocumentEntry], files: dict[str, ArchiveFile]) -> list[dict[str, Any]]:
    from carnet.record.valuesets import value_sets

    sets = value_sets()
    rows = []
    for entry in documents:
        meta = entry.metadata
        name = document_file_name(entry)
        rows.append({"date": meta.creation_time, "type": sets.type_code.label(meta.type_code),
                     "title": meta.title or sets.type_code.label(meta.type_code), "author": meta.author.display_name,
                     "by_holder": meta.author_kind.value == "patient", "organisation": meta.author.organisation_name,
                     "status": _STATUS_LABELS.get(entry.status.value, entry.status.value), "file": name,
                     "format": _EXTENSIONS.get(meta.mime_type, "bin").upper(), "size": files[name].size,
                     "sha256": files[name].sha256})  # fmt: skip
    return rows


def _message_rows(communications: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for resource in communications:
        sender = resource.get("sender") or {}
        recipients = ", ".join(str(r.get("display") or "") for r in resource.get("recipient") or [])
        text = next((str(p["contentString"]) for p in resource.get("payload", []) if "contentString" in p), "")
        rows.append({"sent": _parse_instant(resource.get("sent")), "from": sender.get("display") or "",
                     "to": recipients, "subject": (resource.get("topic") or {}).get("text") or "", "text": text,
                     "attachments": max(0, len(resource.get("payload", [])) - 1)})  # fmt: skip
    return rows


def _setting_rows(consents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    statuses = {"active": "en vigueur", "inactive": "terminé", "proposed": "en attente", "rejected": "refusé"}
    rows = []
    for resource in consents:
        category = resource["category"][-1]["coding"][0].get("display", "")
        provision = resource.get("provision", {})
        who = ", ".join(
            str(a["reference"].get("identifier", {}).get("value") or a["reference"].get("reference") or "")
            for a in provision.get("actor", [])
        )  # fmt: skip
        period = provision.get("period") or {}
        rows.append({"category": category, "status": statuses.get(resource["status"], resource["status"]),
                     "who": who, "deny": provision.get("type") == "deny", "start": _parse_instant(period.get("start")),
                     "end": _parse_instant(period.get("end"))})  # fmt: skip
    return rows


def export(
    *,
    uow: UnitOfWork,
    actor: Actor,
    patient_id: str,
    destination: str | Path | IO[bytes],
    fhir_base: str | None = None,
    ctx: Context | None = None,
) -> ExportArchive:
    """Write the export archive of ``patient_id``'s space (see the module docstring) to ``destination`` (a path or a
    binary file open for writing), as ``actor`` may take it; traced as ``space.export`` in ``uow`` (the caller
    commits). ``fhir_base`` (the API's ``…/fhir``) makes the bundle's ``fullUrl``s absolute; ``urn:uuid:`` ones
    without it."""
    ctx = ctx or access.context(uow)
    decision = _enforce_export(uow, actor, patient_id, ctx)
    now = uow.clock.now()
    probe = _scope(uow, actor, patient_id, ctx, fhir_base=fhir_base)
    documents = _visible_documents(probe)
    scope = _scope(uow, actor, patient_id, ctx, fhir_base=fhir_base,
                   visible_documents=frozenset(e.id for e in documents))  # fmt: skip
    counts: dict[str, int] = {}
    with zipfile.ZipFile(destination, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
        writer = _Writer(archive, now)
        for entry in documents:
            # One document at a time: read (decided and traced), checked, written, let go.
            read, data = record.get_content(uow=uow, actor=actor, entry_id=entry.id, ctx=ctx)
            if hashlib.sha256(data).hexdigest() != read.sha256:
                raise ValueError(f"document {entry.id}: content differs from its SHA-256")
            writer.member(document_file_name(read), read.metadata.mime_type, (data,))
            del data
        collected = _Collected(documents=documents)
        kept: dict[str, list[dict[str, Any]]] = {"Consent": [], "Communication": []}

        def keep(items: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
            for resource in items:
                if resource["resourceType"] in kept:
                    kept[resource["resourceType"]].append(resource)
                yield resource

        writer.member(
            BUNDLE_NAME,
            "application/fhir+json",
            _bundle_chunks(scope, keep(_resources(scope, collected, in_archive=True)), now, counts),
        )
        lines = _history_lines(collected.history, scope.visible_documents)
        writer.member(HISTORY_NAME, "text/csv", _csv_chunks(lines))
        files = {f.name: f for f in writer.files}
        identity = collected.identity
        index = _index_html(
            identity=identity, ins=_ins_of(identity), generated_at=now, actor=actor,
            actor_label=_actor_label(actor), documents=_document_rows(documents, files),
            messages=_message_rows(kept["Communication"]), settings=_setting_rows(kept["Consent"]), history=lines,
            counts=counts, other_types=[t for t in counts if t not in CORE_TYPES], bundle_name=BUNDLE_NAME,
            history_name=HISTORY_NAME, manifest_name=MANIFEST_NAME,
        )  # fmt: skip
        writer.member(INDEX_NAME, "text/html", (index,))
        ins = _ins_of(identity)
        manifest = {
            "format": "carnet-export/1",
            "generated_at": now.isoformat(),
            "patient": {"id": patient_id, "ins": ins[0] if ins else None},
            "fhir_version": "4.0.1",
            "algorithm": "SHA-256",
            "documents": len(documents),
            "resources": counts,
            "files": [{"name": f.name, "size": f.size, "sha256": f.sha256, "media_type": f.media_type}
                      for f in writer.files],
        }  # fmt: skip
        listed = tuple(writer.files)
        written = writer.member(MANIFEST_NAME, "application/json",
                                (json.dumps(manifest, ensure_ascii=False, indent=2).encode() + b"\n",))  # fmt: skip
    audit.record(uow=uow, actor=actor, action="space.export", patient_id=patient_id, decision=decision,
                 mode=ctx.mode.value, request_id=ctx.request_id,
                 detail={"documents": len(documents), "resources": counts, "files": len(listed),
                         "manifest_sha256": written.sha256})  # fmt: skip
    return ExportArchive(files=listed, documents=len(documents), resources=counts, manifest_sha256=written.sha256)


def _actor_label(actor: Actor) -> str:
    if actor.kind == ActorKind.SYSTEM:
        return "la plateforme, à la demande du titulaire"
    if actor.kind == ActorKind.REPRESENTATIVE:
        return f"{actor.name or actor.id}, représentant légal"
    return actor.name or "le titulaire"

"""Automatic sharing on validation: the one call practice software makes when a professional validates a document.

:func:`share` does, in the caller's unit of work (one transaction, committed by the caller):

1. refuses a patient whose INS is not **qualified** (the INS may be used to share health data only once
   qualified), with the reason, traced;
2. resolves the recipients the author names (the prescriber, the chosen professionals: a professional of the
   directory by national id, or an MSSanté address that a local mailbox or the directory knows); an unknown one
   refuses the whole call with the reason, before anything is written;
3. **deposits** the document in the record (:func:`carnet.record.service.deposit`: checked, with the acting
   professional and the access decision);
4. asks :func:`carnet.sharing.obligations` which duties apply to its type, context and date (the date of the
   document, in French legal time) and acts on the answer:

   - ``mss_professionals``: one message (the document as an IHE XDM attachment, :func:`carnet.messaging.xdm.write`)
     to the **médecin traitant** (the holder's access settings), the prescriber and the chosen professionals;
     when the duty does not apply, only the professionals the author named explicitly receive it;
   - ``mss_patient``: a message to the patient's mailbox ``<INS matricule>@<patient domain>`` — unless the author
     marks the document as needing an **announcement consultation**: it is then deposited invisible to the
     patient, nothing goes to the patient, and its release (:func:`carnet.record.service.release_to_patient`,
     which calls :func:`after_release`) sends it;

5. writes the sharing log (:class:`~carnet.sharing.store.ShareRow`) and an audit entry ``sharing.share`` on the
   patient's chain.

**Durable**: local mailboxes receive the messages in this same transaction, and each external recipient gets a row
of the messaging outbox (:mod:`carnet.messaging.outbox`) in it too, so a crash before the commit leaves nothing
and after it loses nothing; a relay that is down is retried with backoff. **Idempotent**: a document already
shared (same unique id, same content) is neither deposited nor sent again: the answer is the first share's, marked
``repeated``; the same unique id with another content is refused by the record (a new version needs a new id).

Refusals are :class:`~carnet.errors.CarnetError` with a ``field`` (``patient``, ``prescriber``, ``recipients[i]``,
``announcement``…) and are traced at once (``sharing.share_refused``), surviving the rollback.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from carnet.access.model import Actor, ActorKind
from carnet.audit import service as audit
from carnet.directory.store import OrganisationRow, ProfessionalRoleRow, ProfessionalRow
from carnet.errors import CarnetError, Conflict, NotFound, ValidationError
from carnet.identity.status import IdentityStatus, may_share
from carnet.messaging import service as mss
from carnet.messaging import xdm
from carnet.messaging.model import MailboxKind, domain_of, normalise_address, patient_address
from carnet.messaging.store import MailboxRow, MessagingRepository
from carnet.record import service as record
from carnet.record.model import IDNATPS_OID, DocumentEntry, DocumentMetadata
from carnet.record.valuesets import ValueSet, value_sets
from carnet.sharing.model import Context, Duty
from carnet.sharing.obligations import obligations, type_label
from carnet.sharing.store import ShareRepository, ShareRow
from carnet.storage.orm import new_id

if TYPE_CHECKING:
    from carnet.identity.store import PatientRow
    from carnet.storage.uow import UnitOfWork

__all__ = [
    "Delivery",
    "DutyOutcome",
    "DutyStatus",
    "Role",
    "ShareResult",
    "after_release",
    "document_date",
    "release",
    "share",
    "share_existing",
]

PARIS = ZoneInfo("Europe/Paris")
IDNATST_OID = "1.2.250.1.71.4.2.2"
XDM_FILENAME = "IHE_XDM.ZIP"
# The XDS sourceId of the packages this platform writes: an OID under the UUID arc 2.25 (ISO/IEC 9834-8), so no
# organisation's arc is borrowed.
SOURCE_ID = f"2.25.{uuid.uuid5(uuid.NAMESPACE_URL, 'https://carnet.example.org/sharing/xdm-source').int}"


class DutyStatus(StrEnum):
    """What was done for one duty."""

    DONE = "done"  # deposited / sent to every recipient
    HELD_BACK = "held_back"  # patient: waits for the announcement consultation (sent at the release)
    RELEASED = "released"  # patient: sent at the release
    PARTIAL = "partial"  # professionals: a recipient the duty names (the médecin traitant) has no reachable mailbox
    NO_RECIPIENT = "no_recipient"  # professionals: no médecin traitant declared, no prescriber, nobody chosen
    NOT_SENT = "not_sent"  # not due and not asked for: nothing sent


FULFILLED = frozenset({DutyStatus.DONE, DutyStatus.RELEASED})


class Role(StrEnum):
    """Why a recipient receives the document."""

    MEDECIN_TRAITANT = "medecin_traitant"
    PRESCRIBER = "prescriber"
    CHOSEN = "chosen"
    PATIENT = "patient"


_ROLE_LABELS = {
    Role.MEDECIN_TRAITANT: "médecin traitant",
    Role.PRESCRIBER: "prescripteur",
    Role.CHOSEN: "professionnel désigné",
    Role.PATIENT: "patient",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Delivery:
    """One recipient: its address, why it receives the document, and where the message stands (``delivered`` in a
    local mailbox, ``pending`` in the outbox for an external one, ``held`` until the release)."""

    address: str
    roles: tuple[Role, ...]
    display_name: str
    professional_id: str | None = None
    status: str = "delivered"

    def to_dict(self) -> dict[str, Any]:
        return {"address": self.address, "roles": [r.value for r in self.roles], "display_name": self.display_name,
                "professional_id": self.professional_id, "status": self.status}  # fmt: skip

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Delivery:
        return cls(address=data["address"], roles=tuple(Role(r) for r in data["roles"]),
                   display_name=data["display_name"], professional_id=data.get("professional_id"),
                   status=data["status"])  # fmt: skip


@dataclass(frozen=True, slots=True, kw_only=True)
class DutyOutcome:
    """One duty: due or not (with the rule and the reason of the obligations), what was done, when."""

    duty: Duty
    due: bool
    rule_id: str | None
    reason_code: str
    reason_fr: str
    reason_en: str
    status: DutyStatus
    at: dt.datetime | None = None
    note: str = ""

    @property
    def fulfilled(self) -> bool:
        return self.status in FULFILLED

    def to_dict(self) -> dict[str, Any]:
        return {"duty": self.duty.value, "due": self.due, "rule_id": self.rule_id, "reason_code": self.reason_code,
                "reason_fr": self.reason_fr, "reason_en": self.reason_en, "status": self.status.value,
                "at": self.at.isoformat() if self.at else None, "note": self.note}  # fmt: skip

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DutyOutcome:
        return cls(duty=Duty(data["duty"]), due=bool(data["due"]), rule_id=data.get("rule_id"),
                   reason_code=data["reason_code"], reason_fr=data["reason_fr"], reason_en=data["reason_en"],
                   status=DutyStatus(data["status"]), note=data.get("note", ""),
                   at=dt.datetime.fromisoformat(data["at"]) if data.get("at") else None)  # fmt: skip


@dataclass(frozen=True, slots=True, kw_only=True)
class ShareResult:
    """What :func:`share` did: the entry, each duty with its rule and status, each recipient, the messages."""

    share_id: str
    entry_id: str
    unique_id: str
    patient_id: str
    type_code: str
    type_label: str
    document_date: dt.date
    created: bool  # the deposit created the entry (False: the document was already in the record)
    repeated: bool  # already shared before: nothing deposited nor sent this time
    announcement: bool
    duties: tuple[DutyOutcome, ...]
    deliveries: tuple[Delivery, ...]
    professional_message_id: str | None = None
    patient_message_id: str | None = None
    warnings: tuple[str, ...] = ()

    def duty(self, duty: Duty) -> DutyOutcome:
        """The outcome of one duty."""
        return next(d for d in self.duties if d.duty is duty)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view (stored in the sharing log; the API and the CLI print it)."""
        return {
            "share_id": self.share_id,
            "entry_id": self.entry_id,
            "unique_id": self.unique_id,
            "patient_id": self.patient_id,
            "type_code": self.type_code,
            "type_label": self.type_label,
            "document_date": self.document_date.isoformat(),
            "created": self.created,
            "repeated": self.repeated,
            "announcement": self.announcement,
            "duties": [d.to_dict() for d in self.duties],
            "deliveries": [d.to_dict() for d in self.deliveries],
            "professional_message_id": self.professional_message_id,
            "patient_message_id": self.patient_message_id,
            "warnings": list(self.warnings),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ShareResult:
        return cls(
            share_id=data["share_id"],
            entry_id=data["entry_id"],
            unique_id=data["unique_id"],
            patient_id=data["patient_id"],
            type_code=data["type_code"],
            type_label=data["type_label"],
            document_date=dt.date.fromisoformat(data["document_date"]),
            created=bool(data["created"]),
            repeated=bool(data["repeated"]),
            announcement=bool(data["announcement"]),
            duties=tuple(DutyOutcome.from_dict(d) for d in data["duties"]),
            deliveries=tuple(Delivery.from_dict(d) for d in data["deliveries"]),
            professional_message_id=data.get("professional_message_id"),
            patient_message_id=data.get("patient_message_id"),
            warnings=tuple(data.get("warnings", ())),
        )


def document_date(metadata: DocumentMetadata) -> dt.date:
    """The date the obligations are asked for: the day the document was made (its creation time), in French legal
    time (a report validated at 00:30 in Paris is of that day, not of the day before in UTC)."""
    return metadata.creation_time.astimezone(PARIS).date()


# --- recipients -------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Target:
    address: str
    display_name: str
    professional_id: str | None
    roles: list[Role] = field(default_factory=list)
    box: MailboxRow | None = None  # the mailbox row when read here (the message does not read it again)


class _Unreachable(Exception):
    """A professional the duty names without a mailbox one can write to (a reason, not yet an error)."""


def _repo(uow: UnitOfWork) -> MessagingRepository:
    return MessagingRepository(uow.session)


class _PersonalBoxes:
    """The personal mailboxes hosted here of the professionals of one share (those the author names by national
    id, the author, the médecin traitant) and the patient's mailbox, read in one statement; another professional's
    is read when asked for."""

    def __init__(self, uow: UnitOfWork, professional_ids: Sequence[str], patient_box_address: str) -> None:
        self.repo = _repo(uow)
        self.rows: dict[str, MailboxRow | None] = dict.fromkeys(professional_ids)
        owned, at = self.repo.mailboxes_owned_or_at(MailboxKind.PERSONAL.value, sorted(self.rows),
                                                    [patient_box_address])  # fmt: skip
        for row in owned:  # by address, as mailboxes_owned gives them
            if row.owner_id is not None and self.rows.get(row.owner_id) is None:
                self.rows[row.owner_id] = row
        self.patient_box = at.get(patient_box_address)

    def of(self, professional_id: str) -> MailboxRow | None:
        if professional_id not in self.rows:
            owned = self.repo.mailboxes_owned(MailboxKind.PERSONAL.value, [professional_id])
            self.rows[professional_id] = owned[0] if owned else None
        return self.rows[professional_id]


def _directory_knows(uow: UnitOfWork, address: str) -> str | None:
    """The name the professional directory gives to an MSSanté address (a professional, a role, an organisation)."""
    lowered = address.lower()
    pro = uow.session.scalars(
        select(ProfessionalRow).where(func.lower(ProfessionalRow.mssante_address) == lowered).limit(1)
    ).first()
    if pro is not None:
        return f"{pro.given_name} {pro.family_name}"
    role = uow.session.scalars(
        select(ProfessionalRoleRow).where(func.lower(ProfessionalRoleRow.mssante_address) == lowered).limit(1)
    ).first()
    if role is not None:
        found = uow.directory.professional(role.professional_id)
        return f"{found.given_name} {found.family_name}" if found is not None else address
    org = uow.session.scalars(
        select(OrganisationRow).where(func.lower(OrganisationRow.mssante_address) == lowered).limit(1)
    ).first()
    return org.name if org is not None else None


def _professional(
    uow: UnitOfWork, config: mss.MessagingConfig, professional_id: str, personal: _PersonalBoxes
) -> _Target:
    """The mailbox of a professional of the directory: their local personal box, else their directory address
    (a hosted one is opened here; another operator's goes through the outbox). Raise _Unreachable otherwise."""
    local = personal.of(professional_id)
    pro = uow.directory.professional(professional_id)
    if local is not None:
        name = f"{pro.given_name} {pro.family_name}" if pro is not None else local.address
        return _Target(local.address, name, professional_id, box=local)
    if pro is None:
        raise _Unreachable(f"aucun professionnel {professional_id} dans l'annuaire")
    name = f"{pro.given_name} {pro.family_name}"
    if not pro.active:
        raise _Unreachable(f"{name} ({professional_id}) n'exerce plus (annuaire)")
    address = normalise_address(pro.mssante_address or "")
    if address is None:
        roles, _ = uow.directory.roles(professional_ids=[pro.id], active=True, limit=5)
        address = next((a for r in roles if (a := normalise_address(r.mssante_address or "")) is not None), None)
    if address is None:
        raise _Unreachable(f"{name} ({professional_id}) n'a pas d'adresse MSSanté dans l'annuaire")
    if domain_of(address) in config.hosted_domains:
        box = mss.provision_professional(uow=uow, actor=mss.GATEWAY, config=config, professional_id=pro.id,
                                         address=address)  # fmt: skip
        if box.kind == MailboxKind.PERSONAL.value and box.owner_id == professional_id:
            personal.rows[professional_id] = box
        return _Target(box.address, name, professional_id, box=box)
    return _Target(address, name, professional_id)


def _by_address(uow: UnitOfWork, config: mss.MessagingConfig, value: str, where: str) -> _Target:
    address = normalise_address(value)
    if address is None:
        raise ValidationError(f"destinataire illisible : « {value[:120]} » n'est ni un identifiant national de "
                              "professionnel ni une adresse MSSanté", field=where)  # fmt: skip
    if domain_of(address) == config.patient_domain:
        raise ValidationError("le patient reçoit le document dans sa propre messagerie (son devoir est calculé) : "
                              "il n'est pas un destinataire professionnel", field=where)  # fmt: skip
    box = _repo(uow).mailbox_by_address(address)
    if box is not None and box.active and box.kind != MailboxKind.PATIENT.value:
        return _Target(
            address, box.display_name, box.owner_id if box.kind == MailboxKind.PERSONAL.value else None, box=box
        )
    if domain_of(address) in config.hosted_domains:
        raise NotFound(f"destinataire inconnu : aucune boîte aux lettres {address} sur cette plateforme", field=where)
    name = _directory_knows(uow, address)
    if name is None:
        raise NotFound(f"destinataire inconnu : {address} n'est pas dans l'annuaire des messageries de santé",
                       field=where)  # fmt: skip
    return _Target(address, name, None)


def _named(uow: UnitOfWork, config: mss.MessagingConfig, value: str, where: str, personal: _PersonalBoxes) -> _Target:
    """A recipient the author names: a professional's national id (idNatPs) or an MSSanté address."""
    text = value.strip()
    if "@" in text:
        return _by_address(uow, config, text.removeprefix("mailto:"), where)
    if not text or len(text) > 32:
        raise ValidationError(f"destinataire illisible : « {value[:120]} »", field=where)
    try:
        return _professional(uow, config, text, personal)
    except _Unreachable as exc:
        raise NotFound(f"destinataire inconnu : {exc}", field=where) from None


def _add(targets: dict[str, _Target], target: _Target, role: Role) -> None:
    existing = targets.setdefault(target.address, target)
    if role not in existing.roles:
        existing.roles.append(role)


# --- the XDM package --------------------------------------------------------------------------------------------


def _code(vs: ValueSet, code: str) -> xdm.XdmCode:
    found = vs.get(code, include_expired=True)
    return xdm.XdmCode(code, found.system if found is not None else "", found.display if found is not None else "")


def _package(entry: DocumentEntry, content: bytes, patient: PatientRow, now: dt.datetime,
             recipients: Sequence[str]) -> bytes:  # fmt: skip
    """The IHE XDM package of one record document for an MSSanté message (ebRIM metadata from the entry)."""
    m = entry.metadata
    vs = value_sets()
    assert patient.ins_matricule is not None and patient.ins_oid is not None  # a qualified identity
    patient_id = xdm.PatientId(patient.ins_matricule, patient.ins_oid, "NH")
    person = f"{m.author.id}^{m.author.family or ''}^{m.author.given or ''}^^^^^^&{IDNATPS_OID}&ISO^D^^^IDNPS"
    institutions: tuple[str, ...] = ()
    if m.author.organisation_id or m.author.organisation_name:
        institutions = (f"{m.author.organisation_name or ''}^^^^^&{IDNATST_OID}&ISO^IDNST^^^"
                        f"{m.author.organisation_id or ''}",)  # fmt: skip
    author = xdm.XdmAuthor(person=person, institutions=institutions)
    type_code = vs.type_code.get(m.type_code, include_expired=True) or vs.type_code_dmp.get(m.type_code)
    document = xdm.XdmDocument(
        unique_id=m.unique_id,
        patient_id=patient_id,
        type_code=xdm.XdmCode(
            m.type_code, type_code.system if type_code else "", type_code.display if type_code else ""
        ),
        class_code=_code(vs.class_code, m.class_code),
        format_code=_code(vs.format_code, m.format_code),
        confidentiality=(_code(vs.confidentiality, m.confidentiality_code),),
        creation_time=m.creation_time,
        title=m.title,
        mime_type=m.mime_type,
        data=content,
        authors=(author,),
        language_code=m.language,
        healthcare_facility_type=_code(vs.facility_type, m.facility_type) if m.facility_type else None,
        practice_setting=_code(vs.practice_setting, m.practice_setting) if m.practice_setting else None,
        service_start=m.service_start,
        service_stop=m.service_stop,
    )
    submission = xdm.XdmSubmissionSet(
        unique_id=f"2.25.{uuid.uuid4().int}",
        source_id=SOURCE_ID,
        submission_time=now,
        patient_id=patient_id,
        authors=(author,),
        intended_recipients=tuple(f"||^^Internet^{address}" for address in recipients),
        title=m.title,
    )
    return xdm.write(xdm.XdmPackage(submission_set=submission, documents=(document,)))


def _attachment(entry: DocumentEntry, package: bytes) -> mss.Upload:
    m = entry.metadata
    return mss.Upload(XDM_FILENAME, "application/zip", package, unique_id=m.unique_id,
                      detail={"format": "IHE_XDM", "type_code": m.type_code, "title": m.title[:200]})  # fmt: skip


def _texts(entry: DocumentEntry, label: str, day: dt.date, patient_name: str, author: str) -> tuple[str, str, str]:
    """Subject, text to the professionals, text to the patient (no clinical content: the document is attached)."""
    title = entry.metadata.title
    subject = f"{title} — {patient_name}"[: mss.MAX_SUBJECT]
    to_pros = (f"Bonjour,\n\nVeuillez trouver ci-joint le document « {title} » ({label}) du {day:%d/%m/%Y} "
               f"concernant {patient_name}, validé par {author} et versé à son dossier médical partagé.\n\n"
               "Le document est joint au format IHE XDM (IHE_XDM.ZIP). Message envoyé automatiquement à la "
               "validation du document (arrêté du 26 avril 2022 modifié).")  # fmt: skip
    to_patient = (f"Bonjour,\n\nVotre document « {title} » ({label}) du {day:%d/%m/%Y}, validé par {author}, est "
                  "joint à ce message et disponible dans votre dossier médical partagé (Mon espace santé).\n\n"
                  "Message envoyé automatiquement à la validation du document.")  # fmt: skip
    return subject, to_pros, to_patient


# --- the sender -------------------------------------------------------------------------------------------------


def _sender(uow: UnitOfWork, actor: Actor, config: mss.MessagingConfig, known: _PersonalBoxes) -> MailboxRow:
    """The author's mailbox: their personal box here (opened from the directory when needed), else one of theirs."""
    mine = known.of(actor.id) if actor.kind is ActorKind.PROFESSIONAL else None
    if mine is not None:
        return mine  # what mailboxes_of would put first: the professional's own personal box
    boxes = mss.mailboxes_of(uow=uow, actor=actor)
    personal = [b for b in boxes if b.kind == MailboxKind.PERSONAL.value]
    if personal or boxes:
        return (personal or boxes)[0]
    if actor.kind is ActorKind.PROFESSIONAL and uow.directory.professional(actor.id) is not None:
        try:
            return mss.provision_professional(uow=uow, actor=actor, config=config, professional_id=actor.id)
        except (ValidationError, Conflict) as exc:
            raise Conflict(f"l'auteur n'a pas de boîte aux lettres MSSanté : {exc.message}", field="author") from None
    raise Conflict("l'auteur n'a pas de boîte aux lettres MSSanté sur cette plateforme (annuaire) : le document ne "
                   "peut pas être envoyé", field="author")  # fmt: skip


# --- share ------------------------------------------------------------------------------------------------------


def _qualified(uow: UnitOfWork, patient_id: str) -> PatientRow:
    patient = uow.patients.get(patient_id)
    if patient is None or patient.merged_into_id:
        raise NotFound(f"patient {patient_id} introuvable", field="patient")
    status = IdentityStatus(patient.status)
    if not patient.ins_matricule or not may_share(status):
        raise Conflict(f"identité INS non qualifiée ({status.label_fr}) : un document n'est partagé (versé au DMP, "
                       "envoyé par messagerie) que pour une identité qualifiée", field="patient")  # fmt: skip
    return patient


def share(
    *,
    uow: UnitOfWork,
    actor: Actor,
    config: mss.MessagingConfig,
    patient_id: str,
    content: bytes,
    mime_type: str = "text/xml",
    metadata: DocumentMetadata | None = None,
    prescriber: str | None = None,
    recipients: Sequence[str] = (),
    context: Context | None = None,
    announcement: bool = False,
    to_patient: bool = False,
    invisible_to_representatives: bool = False,
    replaces: str | None = None,
    submission_source: str | None = None,
) -> ShareResult:
    """Deposit a validated document and send it as its sharing obligations say (see the module docstring).

    ``prescriber`` and ``recipients``: professionals' national ids (idNatPs) or MSSanté addresses; ``context``: the
    exclusions' circumstances (hospital stay, constitutional genetics, prior agreement); ``announcement``: hold it
    back from the patient until the announcement consultation; ``to_patient``: send it to the patient even when no
    duty says so. The caller commits.
    """
    try:
        return _share(uow=uow, actor=actor, config=config, patient_id=patient_id, content=content,
                      mime_type=mime_type, metadata=metadata, prescriber=prescriber, recipients=recipients,
                      context=context or Context(), announcement=announcement, to_patient=to_patient,
                      invisible_to_representatives=invisible_to_representatives, replaces=replaces,
                      submission_source=submission_source)  # fmt: skip
    except CarnetError as exc:
        _trace_refusal(uow, actor, patient_id, exc)
        raise


def share_existing(
    *,
    uow: UnitOfWork,
    actor: Actor,
    config: mss.MessagingConfig,
    entry_id: str,
    prescriber: str | None = None,
    recipients: Sequence[str] = (),
    context: Context | None = None,
    announcement: bool = False,
    to_patient: bool = False,
) -> ShareResult:
    """Share a document already in the record (entry id or unique id), as :func:`share` does after its deposit."""
    entry, content = record.get_content(uow=uow, actor=actor, entry_id=entry_id)
    return share(uow=uow, actor=actor, config=config, patient_id=entry.patient_id, content=content,
                 mime_type=entry.metadata.mime_type, prescriber=prescriber, recipients=recipients, context=context,
                 announcement=announcement, to_patient=to_patient)  # fmt: skip


def _trace_refusal(uow: UnitOfWork, actor: Actor, patient_id: str, exc: CarnetError) -> None:
    """The refusal on the patient's chain, in its own transaction (it survives the caller's rollback)."""
    try:
        with uow.session.no_autoflush:
            known = uow.patients.get(patient_id) is not None
        if known:
            audit.record_now(uow=uow, actor=actor, action="sharing.share_refused", patient_id=patient_id,
                             detail={"error": exc.code, "field": exc.field})  # fmt: skip
    except Exception:  # noqa: BLE001, S110 - the refusal itself is what the caller must hear about
        pass


def _share(
    *,
    uow: UnitOfWork,
    actor: Actor,
    config: mss.MessagingConfig,
    patient_id: str,
    content: bytes,
    mime_type: str,
    metadata: DocumentMetadata | None,
    prescriber: str | None,
    recipients: Sequence[str],
    context: Context,
    announcement: bool,
    to_patient: bool,
    invisible_to_representatives: bool,
    replaces: str | None,
    submission_source: str | None,
) -> ShareResult:
    patient = _qualified(uow, patient_id)
    shares = ShareRepository(uow.session)
    # The recipients the author names are resolved first: an unknown one refuses the call before anything is written.
    named: dict[str, _Target] = {}
    ids = [v.strip() for v in (prescriber or "", *recipients) if v.strip() and "@" not in v and len(v.strip()) <= 32]
    if actor.kind is ActorKind.PROFESSIONAL:
        ids.append(actor.id)
    profile = uow.access.profile(patient.id)  # read again below (from the session) when the duty applies
    if profile is not None and profile.medecin_traitant_id:
        ids.append(profile.medecin_traitant_id)
    assert patient.ins_matricule is not None  # a qualified identity
    personal = _PersonalBoxes(uow, ids, patient_address(patient.ins_matricule, config.patient_domain))
    if prescriber is not None and prescriber.strip():
        _add(named, _named(uow, config, prescriber, "prescriber", personal), Role.PRESCRIBER)
    for index, value in enumerate(recipients):
        _add(named, _named(uow, config, value, f"recipients[{index}]", personal), Role.CHOSEN)

    deposited = record.deposit(uow=uow, actor=actor, patient_id=patient.id, content=content, mime_type=mime_type,
                               metadata=metadata, replaces=replaces, invisible_to_patient=announcement,
                               invisible_to_representatives=invisible_to_representatives,
                               submission_source=submission_source)  # fmt: skip
    entry = deposited.entry
    warnings = [f"{p.message} [{p.location}]" for p in deposited.warnings]
    if not deposited.created:
        previous = shares.by_entry(entry.id, for_update=True)
        if previous is not None:
            audit.record(uow=uow, actor=actor, action="sharing.share_repeat", patient_id=patient.id,
                         detail={"document": entry.id, "share": previous.id})  # fmt: skip
            return replace(ShareResult.from_dict(previous.outcome), repeated=True, created=False)
        if announcement and not entry.invisible_to_patient:
            entry = record.hold_back_from_patient(uow=uow, actor=actor, entry_id=entry.id)
            warnings.append("document déjà versé et visible du patient : il lui est masqué à partir de maintenant")

    day = document_date(entry.metadata)
    answer = obligations(type_code=entry.metadata.type_code, context=context, on_date=day)
    now = uow.clock.now()
    held = announcement or entry.invisible_to_patient

    # Professionals: the médecin traitant when the duty applies, and whoever the author named.
    targets: dict[str, _Target] = {}
    pros_due = answer.applies(Duty.MSS_PROFESSIONALS)
    unreachable: list[str] = []
    if pros_due:
        profile = uow.access.profile(patient.id)
        traitant = profile.medecin_traitant_id if profile is not None else None
        if traitant and traitant != actor.id:
            try:
                _add(targets, _professional(uow, config, traitant, personal), Role.MEDECIN_TRAITANT)
            except _Unreachable as exc:
                unreachable.append(f"médecin traitant : {exc}")
    for target in named.values():
        for role in target.roles:
            _add(targets, _Target(target.address, target.display_name, target.professional_id, box=target.box), role)

    patient_due = answer.applies(Duty.MSS_PATIENT)
    patient_wanted = patient_due or to_patient
    sender = _sender(uow, actor, config, personal) if (targets or patient_wanted) else None
    if sender is not None:
        targets.pop(sender.address, None)  # the author does not write to themself
    patient_box = None
    if patient_wanted:
        # The patient's mailbox read above, else opened now (provision_patient's checks are _qualified's).
        patient_box = personal.patient_box or mss.provision_patient(uow=uow, actor=actor, config=config,
                                                                    patient_id=patient.id)  # fmt: skip

    patient_name = f"{patient.first_name} {patient.birth_name}"
    author_name = entry.metadata.author.display_name
    label = type_label(entry.metadata.type_code)
    subject, text_pros, text_patient = _texts(entry, label, day, patient_name, author_name)
    deliveries: list[Delivery] = []
    pro_message_id = patient_message_id = None
    if targets and sender is not None:
        package = _package(entry, content, patient, now, list(targets))
        known = [sender, *(t.box for t in targets.values() if t.box is not None)]
        sent = mss.submit(uow=uow, actor=actor, config=config, to=list(targets), subject=subject, text=text_pros,
                          attachments=[_attachment(entry, package)], from_address=sender.address,
                          mailboxes=known)  # fmt: skip
        pro_message_id = sent.id
        deliveries += [Delivery(address=t.address, roles=tuple(t.roles), display_name=t.display_name,
                                professional_id=t.professional_id, status=sent.statuses.get(t.address, "delivered"))
                       for t in targets.values()]  # fmt: skip
    if patient_box is not None and sender is not None:
        if held:
            deliveries.append(Delivery(address=patient_box.address, roles=(Role.PATIENT,),
                                       display_name=patient_box.display_name, status="held"))  # fmt: skip
        else:
            package = _package(entry, content, patient, now, [patient_box.address])
            sent = mss.submit(uow=uow, actor=actor, config=config, to=[patient_box.address],
                              subject=entry.metadata.title, text=text_patient,
                              attachments=[_attachment(entry, package)], from_address=sender.address,
                              mailboxes=[sender, patient_box])  # fmt: skip
            patient_message_id = sent.id
            deliveries.append(Delivery(address=patient_box.address, roles=(Role.PATIENT,),
                                       display_name=patient_box.display_name,
                                       status=sent.statuses[patient_box.address]))  # fmt: skip

    def outcome(duty: Duty, status: DutyStatus, at: dt.datetime | None, note: str = "") -> DutyOutcome:
        item = answer.for_duty(duty)
        return DutyOutcome(duty=duty, due=item.applies, rule_id=item.rule_id, reason_code=item.reason.code.value,
                           reason_fr=item.reason.fr, reason_en=item.reason.en, status=status, at=at,
                           note=note)  # fmt: skip

    dmp = outcome(Duty.DMP, DutyStatus.DONE, entry.submission_time,
                  "versé au dossier" if deposited.created else "déjà dans le dossier")  # fmt: skip
    if pro_message_id is not None and unreachable:
        pros = outcome(Duty.MSS_PROFESSIONALS, DutyStatus.PARTIAL, now, " ; ".join(unreachable))
    elif pro_message_id is not None:
        names = ", ".join(f"{t.display_name} ({', '.join(_ROLE_LABELS[r] for r in t.roles)})" for t in targets.values())
        pros = outcome(Duty.MSS_PROFESSIONALS, DutyStatus.DONE, now, f"envoyé à {names}")
    elif pros_due:
        note = " ; ".join(unreachable) or "aucun médecin traitant déclaré, aucun prescripteur ni professionnel désigné"
        pros = outcome(Duty.MSS_PROFESSIONALS, DutyStatus.PARTIAL if unreachable else DutyStatus.NO_RECIPIENT, None,
                       note)  # fmt: skip
    else:
        pros = outcome(Duty.MSS_PROFESSIONALS, DutyStatus.NOT_SENT, None, "non dû, aucun destinataire désigné")
    if patient_message_id is not None:
        to_pat = outcome(Duty.MSS_PATIENT, DutyStatus.DONE, now, "envoyé à la messagerie du patient")
    elif patient_box is not None:
        to_pat = outcome(Duty.MSS_PATIENT, DutyStatus.HELD_BACK, None,
                         "en attente de la consultation d'annonce : envoyé à la levée de la restriction")  # fmt: skip
    else:
        to_pat = outcome(Duty.MSS_PATIENT, DutyStatus.NOT_SENT, None, "non dû : rien n'est envoyé au patient")
    for line in unreachable:
        warnings.append(line)

    share_id = new_id()
    result = ShareResult(
        share_id=share_id, entry_id=entry.id, unique_id=entry.metadata.unique_id, patient_id=patient.id,
        type_code=entry.metadata.type_code, type_label=label, document_date=day, created=deposited.created,
        repeated=False, announcement=held, duties=(dmp, pros, to_pat), deliveries=tuple(deliveries),
        professional_message_id=pro_message_id, patient_message_id=patient_message_id, warnings=tuple(warnings),
    )  # fmt: skip
    row = ShareRow(
        id=share_id,
        patient_id=patient.id,
        entry_id=entry.id,
        unique_id=entry.metadata.unique_id,
        sha256=hashlib.sha256(content).hexdigest(),
        type_code=entry.metadata.type_code,
        author_id=entry.metadata.author.id,
        organisation_id=entry.metadata.author.organisation_id or actor.organisation_id,
        document_date=day,
        shared_at=now,
        hospital_stay=context.hospital_stay,
        constitutional_genetics=context.constitutional_genetics,
        prior_agreement=context.prior_agreement,
        announcement=held,
        dmp_due=dmp.due,
        dmp_status=dmp.status.value,
        dmp_at=dmp.at,
        pros_due=pros.due,
        pros_status=pros.status.value,
        pros_at=pros.at,
        patient_due=to_pat.due,
        patient_status=to_pat.status.value,
        patient_at=to_pat.at,
        professional_message_id=pro_message_id,
        patient_message_id=patient_message_id,
        sender_address=sender.address if sender is not None else None,
        patient_address=patient_box.address if patient_box is not None else None,
        outcome=result.to_dict(),
        created_at=now,
        updated_at=now,
    )
    shares.add(row)  # written with the audit entry's flush, its outcome in the same INSERT
    audit.record(
        uow=uow,
        actor=actor,
        action="sharing.share",
        patient_id=patient.id,
        detail={
            "document": entry.id,
            "share": row.id,
            "duties": {d.duty.value: {"due": d.due, "rule": d.rule_id, "status": d.status.value}
                       for d in result.duties},
            "recipients": [{"address": d.address, "roles": [r.value for r in d.roles], "status": d.status}
                           for d in deliveries],
            "messages": [m for m in (pro_message_id, patient_message_id) if m],
        },
    )  # fmt: skip
    uow.flush()
    return result


# --- the release of a held-back document ------------------------------------------------------------------------


def after_release(uow: UnitOfWork, actor: Actor, entry: DocumentEntry) -> None:
    """Called by :func:`carnet.record.service.release_to_patient` in its unit of work: a document shared while
    held back for an announcement consultation is sent to the patient's mailbox now (once)."""
    shares = ShareRepository(uow.session)
    row = shares.by_entry(entry.id, for_update=True)
    if row is None or row.patient_status != DutyStatus.HELD_BACK.value or not row.patient_address:
        return
    patient = _qualified(uow, row.patient_id)
    boxes = mss.mailboxes_of(uow=uow, actor=actor)
    sender = next((b for b in boxes if b.address == row.sender_address), None) or next(
        (b for b in boxes if b.kind == MailboxKind.PERSONAL.value), None) or (boxes[0] if boxes else None)  # fmt: skip
    if sender is None:
        raise Conflict("la levée envoie le document à la messagerie du patient : aucune boîte aux lettres MSSanté "
                       "pour ce compte", field="author")  # fmt: skip
    patient_domain = domain_of(row.patient_address)
    config = mss.MessagingConfig(patient_domain=patient_domain,
                                 hosted_domains=frozenset({patient_domain, domain_of(sender.address)}))  # fmt: skip
    _entry, content = record.get_content(uow=uow, actor=actor, entry_id=entry.id)
    now = uow.clock.now()
    day = document_date(entry.metadata)
    patient_name = f"{patient.first_name} {patient.birth_name}"
    _subject, _pros, text = _texts(entry, type_label(entry.metadata.type_code), day, patient_name,
                                   entry.metadata.author.display_name)  # fmt: skip
    package = _package(entry, content, patient, now, [row.patient_address])
    sent = mss.submit(uow=uow, actor=actor, config=config, to=[row.patient_address], subject=entry.metadata.title,
                      text=text, attachments=[_attachment(entry, package)], from_address=sender.address)  # fmt: skip
    row.patient_status, row.patient_at, row.patient_message_id, row.updated_at = (
        DutyStatus.RELEASED.value, now, sent.id, now)  # fmt: skip
    stored = ShareResult.from_dict(row.outcome)
    duties = tuple(
        replace(d, status=DutyStatus.RELEASED, at=now, note="envoyé au patient à la levée de la restriction")
        if d.duty is Duty.MSS_PATIENT else d
        for d in stored.duties
    )  # fmt: skip
    deliveries = tuple(replace(d, status=sent.statuses[row.patient_address]) if Role.PATIENT in d.roles else d
                       for d in stored.deliveries)  # fmt: skip
    row.outcome = replace(stored, duties=duties, deliveries=deliveries, patient_message_id=sent.id).to_dict()
    audit.record(uow=uow, actor=actor, action="sharing.release", patient_id=row.patient_id,
                 detail={"document": entry.id, "share": row.id, "message": sent.id})  # fmt: skip
    uow.flush()


def release(*, uow: UnitOfWork, actor: Actor, entry_id: str) -> tuple[DocumentEntry, ShareResult | None]:
    """The author releases a held-back document (the record's release: the patient sees it and, when it was
    shared held back, receives it in their mailbox); the share as it stands now, if the document was shared."""
    entry = record.release_to_patient(uow=uow, actor=actor, entry_id=entry_id)
    row = ShareRepository(uow.session).by_entry(entry.id)
    return entry, ShareResult.from_dict(row.outcome) if row is not None else None


def result_of(*, uow: UnitOfWork, entry_id: str) -> ShareResult | None:
    """The sharing log of a document (entry id), if it was shared; nothing of the document itself."""
    row = ShareRepository(uow.session).by_entry(entry_id)
    return ShareResult.from_dict(row.outcome) if row is not None else None


record.on_release(after_release)

"""Use cases of secure messaging: mailboxes, sending, replying, closing, read receipts, reading, attachments,
receiving mail from the SMTP gateway and the documents it carries (IHE XDM), offered for integration.

Every function takes the unit of work and the acting person (keyword-only). Who may use a mailbox: its
professional (personal), the members of its organisation (organisational), its software (applicative), and for
a patient's mailbox the holder and their legal representatives, as the access decision says
(:func:`carnet.access.service.enforce_on_record`). The patient rule is :func:`carnet.messaging.model.decide_post`.
Every read or write of a patient's messages leaves an audit entry on that patient's chain, in the same
transaction; a refusal is traced at once (it survives the rollback).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import unicodedata
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import IntegrityError

from carnet.access import service as access
from carnet.access.model import Action, Actor, ActorKind, AuthMethod, Decision
from carnet.audit import service as audit
from carnet.errors import CarnetError, Conflict, DatabaseUnavailable, Forbidden, NotFound, ValidationError
from carnet.identity.status import IdentityStatus, may_share
from carnet.messaging import mime
from carnet.messaging.mime import InboundMail, RejectMail
from carnet.messaging.model import (
    ConversationFacts,
    ConversationStatus,
    DeliveryStatus,
    MailboxKind,
    OfferStatus,
    Party,
    decide_close,
    decide_post,
    domain_of,
    normalise_address,
    patient_address,
)
from carnet.messaging.store import (
    AttachmentRow,
    ConversationRow,
    IntegrationOfferRow,
    MailboxRow,
    MessageOutboxRow,
    MessageRow,
    MessagingRepository,
    ParticipantRow,
    RecipientRow,
)
from carnet.record import service as record
from carnet.storage.orm import new_id

if TYPE_CHECKING:
    from carnet.bootstrap import Platform
    from carnet.settings import Settings
    from carnet.storage.uow import UnitOfWork

__all__ = [
    "GATEWAY",
    "AttachmentView",
    "ConversationView",
    "DocumentAttachment",
    "MessageView",
    "MessagingConfig",
    "OfferView",
    "Upload",
    "close",
    "get_attachment",
    "get_conversation",
    "get_message",
    "integrate_offer",
    "list_inbox",
    "mailboxes_of",
    "make_handler",
    "mark_read",
    "patient_of_message",
    "professional_mailbox",
    "provision_applicative",
    "provision_organisation",
    "provision_patient",
    "provision_professional",
    "receive",
    "reject_offer",
    "reply",
    "search_directory",
    "search_messages",
    "send",
    "submit",
]

_RECEIVE_ATTEMPTS = 3
GATEWAY = Actor(kind=ActorKind.SYSTEM, id="mss-gateway", auth_method=AuthMethod.SYSTEM, name="Passerelle MSSanté")
MAX_SUBJECT = 255
MAX_TEXT = 1_000_000
MAX_ATTACHMENTS = 50
_CONTENT_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$")
_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f/\\:*?\"<>|]+")
_ZIP_TYPES = frozenset({"application/zip", "application/x-zip-compressed", "application/octet-stream"})


@dataclass(frozen=True, slots=True, kw_only=True)
class MessagingConfig:
    """What the service needs of the settings: the domains hosted here and the limits."""

    patient_domain: str = "patient.mssante.fr"
    hosted_domains: frozenset[str] = frozenset({"patient.mssante.fr", "demo.mssante.fr"})
    trusted_domains: frozenset[str] = frozenset()
    max_message_bytes: int = 25 * 1024 * 1024

    @classmethod
    def from_settings(cls, settings: Settings) -> MessagingConfig:
        return cls(
            patient_domain=settings.mss_patient_domain,
            hosted_domains=settings.mss_hosted_domains,
            trusted_domains=frozenset(settings.mss_trusted_domains),
            max_message_bytes=settings.mss_max_message_bytes,
        )

    @property
    def professional_domains(self) -> list[str]:
        return sorted(self.hosted_domains - {self.patient_domain})


@dataclass(frozen=True, slots=True)
class Upload:
    """A file the sender uploads with the message; ``unique_id`` and ``detail`` describe the document it carries
    when it is one (an IHE XDM package of a record document: :mod:`carnet.sharing.share`)."""

    filename: str
    content_type: str
    data: bytes
    unique_id: str | None = None
    detail: dict[str, str] | None = None


@dataclass(frozen=True, slots=True)
class DocumentAttachment:
    """A document of the record (entry id or unique id), attached if the sender may read it."""

    entry_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AttachmentView:
    id: str
    filename: str
    content_type: str
    size: int
    sha256: str
    entry_id: str | None
    unique_id: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class OfferView:
    id: str
    unique_id: str
    title: str | None
    ins_matricule: str | None
    patient_id: str | None
    status: str
    match_note: str
    document_entry_id: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class RecipientView:
    address: str
    kind: str
    display_name: str
    role: str
    status: str
    read_at: dt.datetime | None


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageView:
    id: str
    conversation_id: str
    thread_root_id: str
    message_id: str
    in_reply_to: str | None
    in_reply_to_id: str | None
    sender_address: str
    sender_kind: str
    sender_name: str
    sender_owner_id: str | None
    recipients: tuple[RecipientView, ...]
    subject: str
    text: str
    html: str | None
    attachments: tuple[AttachmentView, ...]
    offers: tuple[OfferView, ...]
    sent_at: dt.datetime
    received_at: dt.datetime
    inbound: bool
    patient_id: str | None
    conversation_status: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ConversationView:
    id: str
    subject: str
    status: str
    patient_id: str | None
    opened_by: str
    closed_by: str | None
    closed_at: dt.datetime | None
    participants: tuple[str, ...]
    messages: tuple[MessageView, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class Page:
    items: list[MailboxRow]
    total: int


def _repo(uow: UnitOfWork) -> MessagingRepository:
    return MessagingRepository(uow.session)


# --- mailboxes ------------------------------------------------------------------------------------------------


def _checked_address(value: str, field_name: str) -> str:
    address = normalise_address(value)
    if address is None:
        raise ValidationError(f"adresse de messagerie invalide : « {value[:120]} »", field=field_name)
    return address


def _slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text).strip("-") or "boite"


def _new_mailbox(uow: UnitOfWork, **values: Any) -> MailboxRow:
    repo = _repo(uow)
    existing = repo.mailbox_by_address(values["address"])
    if existing is not None:
        if (existing.kind, existing.owner_id) != (values["kind"], values.get("owner_id")):
            raise Conflict(f"l'adresse {values['address']} est déjà attribuée", field="address")
        return existing
    now = uow.clock.now()
    row = MailboxRow(created_at=now, updated_at=now, local=True, active=True, **values)
    repo.add(row)
    uow.flush()
    return row


def _hosted_address(config: MessagingConfig, address: str) -> str:
    address = _checked_address(address, "address")
    domain = domain_of(address)
    if domain not in config.hosted_domains or domain == config.patient_domain:
        raise ValidationError(
            f"le domaine {domain} n'est pas hébergé ici (domaines : {', '.join(config.professional_domains)})",
            field="address",
        )
    return address


def _may_provision(actor: Actor, owner_id: str | None) -> None:
    if actor.kind in (ActorKind.SYSTEM, ActorKind.OPERATOR):
        return
    if owner_id is not None and actor.kind is ActorKind.PROFESSIONAL and actor.id == owner_id:
        return
    raise Forbidden("seule la plateforme (ou le professionnel pour lui-même) ouvre une boîte aux lettres")


def provision_professional(
    *, uow: UnitOfWork, actor: Actor, config: MessagingConfig, professional_id: str, address: str | None = None
) -> MailboxRow:
    """The personal mailbox of a professional of the directory (its MSSanté address there, or one made from the
    name on the first hosted domain); idempotent."""
    _may_provision(actor, professional_id)
    pro = uow.directory.professional(professional_id)
    if pro is None:
        raise NotFound(f"professionnel {professional_id} introuvable dans l'annuaire", field="professional")
    if address is None and pro.mssante_address and domain_of(pro.mssante_address) in config.hosted_domains:
        address = pro.mssante_address
    if address is None:
        if not config.professional_domains:
            raise ValidationError("aucun domaine de messagerie hébergé (CARNET_MSS_LOCAL_DOMAINS)", field="address")
        address = f"{_slug(pro.given_name)}.{_slug(pro.family_name)}@{config.professional_domains[0]}"
    roles, _total = uow.directory.roles(professional_ids=[pro.id], active=True, limit=5)
    places = []
    for role in roles:
        organisation = uow.directory.organisation(role.organisation_id) if role.organisation_id else None
        if organisation is not None:
            places.append(" ".join(p for p in (organisation.name, organisation.city) if p))
    return _new_mailbox(
        uow,
        address=_hosted_address(config, address),
        kind=MailboxKind.PERSONAL.value,
        owner_id=pro.id,
        display_name=f"{pro.given_name} {pro.family_name}",
        profession=pro.profession_code,
        rpps=pro.id,
        place="; ".join(places)[:255] or None,
    )


def provision_organisation(
    *, uow: UnitOfWork, actor: Actor, config: MessagingConfig, organisation_id: str, address: str | None = None
) -> MailboxRow:
    """The organisational mailbox of a service or practice of the directory; idempotent."""
    _may_provision(actor, None)
    org = uow.directory.organisation(organisation_id)
    if org is None:
        raise NotFound(f"structure {organisation_id} introuvable dans l'annuaire", field="organisation")
    address = address or org.mssante_address
    if address is None:
        raise ValidationError("adresse de la boîte organisationnelle obligatoire", field="address")
    return _new_mailbox(uow, address=_hosted_address(config, address), kind=MailboxKind.ORGANISATIONAL.value,
                        owner_id=org.id, display_name=org.name, place=org.city)  # fmt: skip


def provision_applicative(
    *, uow: UnitOfWork, actor: Actor, config: MessagingConfig, software_id: str, display_name: str, address: str
) -> MailboxRow:
    """The applicative mailbox of a software (a laboratory system, a hospital's discharge letters); idempotent."""
    _may_provision(actor, None)
    return _new_mailbox(uow, address=_hosted_address(config, address), kind=MailboxKind.APPLICATIVE.value,
                        owner_id=software_id, display_name=display_name[:255])  # fmt: skip


def provision_patient(*, uow: UnitOfWork, actor: Actor, config: MessagingConfig, patient_id: str) -> MailboxRow:
    """The patient's mailbox ``<matricule INS>@<patient domain>``: only for a qualified INS (the INS may only be
    used to exchange health data once qualified); idempotent."""
    patient = uow.patients.get(patient_id)
    if patient is None or patient.merged_into_id:
        raise NotFound(f"patient {patient_id} introuvable", field="patient")
    if not patient.ins_matricule or not may_share(IdentityStatus(patient.status)):
        raise Conflict("la messagerie du patient demande une identité INS qualifiée", field="patient")
    address = patient_address(patient.ins_matricule, config.patient_domain)
    existing = _repo(uow).mailbox_by_address(address)
    if existing is not None:
        return existing
    row = _new_mailbox(uow, address=address, kind=MailboxKind.PATIENT.value, owner_id=patient.id,
                       patient_id=patient.id, display_name=f"{patient.first_name} {patient.birth_name}")  # fmt: skip
    audit.record(uow=uow, actor=actor, action="message.mailbox", patient_id=patient.id, detail={"address": address})
    return row


class _Boxes:
    """The mailboxes of one call, looked up once: the sender's and every recipient's in one statement (rows the
    caller already holds are taken as they are); an address not asked for at first is looked up alone."""

    def __init__(self, uow: UnitOfWork, addresses: Iterable[str], known: Iterable[MailboxRow] = ()) -> None:
        self.repo = _repo(uow)
        self.rows = {row.address: row for row in known}
        wanted = {a for a in addresses if a not in self.rows}
        self.rows.update(self.repo.mailboxes_by_address(sorted(wanted)))
        self.asked = wanted | set(self.rows)

    def get(self, address: str) -> MailboxRow | None:
        if address not in self.asked:
            self.asked.add(address)
            row = self.repo.mailbox_by_address(address)
            if row is not None:
                self.rows[address] = row
        return self.rows.get(address)

    def add(self, row: MailboxRow) -> MailboxRow:
        self.asked.add(row.address)
        self.rows[row.address] = row
        return row


def _external(uow: UnitOfWork, address: str, name: str | None = None, boxes: _Boxes | None = None) -> MailboxRow:
    repo = _repo(uow)
    row = boxes.get(address) if boxes is not None else repo.mailbox_by_address(address)
    if row is None:
        now = uow.clock.now()
        # The id is set here, so the row is written with the next flush (the message that names it).
        row = MailboxRow(id=new_id(), address=address, kind=MailboxKind.EXTERNAL.value, owner_id=None,
                         display_name=name or address, local=False, active=True, created_at=now,
                         updated_at=now)  # fmt: skip
        repo.add(row)
        if boxes is not None:
            boxes.add(row)
    return row


def _resolve(
    uow: UnitOfWork, config: MessagingConfig, address: str, field_name: str, boxes: _Boxes | None = None
) -> MailboxRow:
    """The mailbox of a recipient: a local one (a patient's is opened on first use), or an external one."""
    address = _checked_address(address, field_name)
    domain = domain_of(address)
    if domain not in config.hosted_domains:
        return _external(uow, address, boxes=boxes)
    row = boxes.get(address) if boxes is not None else _repo(uow).mailbox_by_address(address)
    if row is None and domain == config.patient_domain:
        patient = uow.patients.by_ins(address.partition("@")[0].upper())  # matricules are stored in capitals
        if patient is not None:
            opened = provision_patient(uow=uow, actor=GATEWAY, config=config, patient_id=patient.id)
            return boxes.add(opened) if boxes is not None else opened
    if row is None or not row.active:
        raise NotFound(f"aucune boîte aux lettres {address} sur cette plateforme", field=field_name)
    return row


def _holds(actor: Actor, box: MailboxRow) -> bool:
    """Whether the actor may use the mailbox, before the access decision (patient boxes)."""
    kind = box.kind
    if kind == MailboxKind.PERSONAL.value:
        return (actor.kind is ActorKind.PROFESSIONAL and actor.id == box.owner_id) or (
            actor.kind is ActorKind.SECRETARIAT and actor.acting_for == box.owner_id
        )
    if kind == MailboxKind.ORGANISATIONAL.value:
        return actor.kind in (ActorKind.PROFESSIONAL, ActorKind.SECRETARIAT) and (
            actor.organisation_id is not None and actor.organisation_id == box.owner_id
        )
    if kind == MailboxKind.APPLICATIVE.value:
        return actor.kind is ActorKind.APP and actor.id == box.owner_id
    if kind == MailboxKind.PATIENT.value:
        return (actor.kind is ActorKind.PATIENT and actor.id == box.patient_id) or (
            actor.kind is ActorKind.REPRESENTATIVE and box.patient_id in actor.represented_patient_ids
        )
    return False


def _use(uow: UnitOfWork, actor: Actor, box: MailboxRow) -> Decision | None:
    """Check that the actor may use the mailbox (raise Forbidden); for a patient's, the access decision taken."""
    if not _holds(actor, box):
        if box.patient_id:
            audit.record_now(uow=uow, actor=actor, action="message.mailbox_denied", patient_id=box.patient_id,
                             detail={"address": box.address})  # fmt: skip
        raise Forbidden(f"la boîte aux lettres {box.address} n'est pas la vôtre")
    if box.patient_id:
        granted = access.enforce_on_record(uow=uow, actor=actor, patient_id=box.patient_id, action=Action.LIST)
        return granted.decision
    return None


def mailboxes_of(*, uow: UnitOfWork, actor: Actor) -> list[MailboxRow]:
    """The local mailboxes the actor may use."""
    repo = _repo(uow)
    if actor.kind is ActorKind.PATIENT:
        boxes = repo.mailboxes_owned(MailboxKind.PATIENT.value, [actor.id])
    elif actor.kind is ActorKind.REPRESENTATIVE:
        boxes = repo.mailboxes_owned(MailboxKind.PATIENT.value, sorted(actor.represented_patient_ids))
    elif actor.kind is ActorKind.APP:
        boxes = repo.mailboxes_owned(MailboxKind.APPLICATIVE.value, [actor.id])
    elif actor.kind in (ActorKind.PROFESSIONAL, ActorKind.SECRETARIAT):
        owner = actor.id if actor.kind is ActorKind.PROFESSIONAL else (actor.acting_for or "")
        boxes = repo.mailboxes_owned(MailboxKind.PERSONAL.value, [owner])
        if actor.organisation_id:
            boxes += repo.mailboxes_owned(MailboxKind.ORGANISATIONAL.value, [actor.organisation_id])
    else:
        boxes = []
    return [b for b in boxes if _holds(actor, b)]


def search_directory(
    *,
    uow: UnitOfWork,
    actor: Actor,
    name: str | None = None,
    profession: str | None = None,
    rpps: str | None = None,
    place: str | None = None,
    offset: int = 0,
    limit: int = 50,
) -> Page:
    """The directory of the professional mailboxes hosted here, by name, profession (TRE_G15), RPPS and place."""
    if limit < 0 or limit > 200 or offset < 0:
        raise ValidationError("pagination : 0 ≤ limit ≤ 200, offset ≥ 0", field="limit")
    rows, total = _repo(uow).directory(name=name, profession=profession, rpps=rpps, place=place, offset=offset,
                                       limit=limit)  # fmt: skip
    return Page(rows, total)


# --- views ----------------------------------------------------------------------------------------------------


def _views(uow: UnitOfWork, messages: Sequence[MessageRow]) -> list[MessageView]:
    repo = _repo(uow)
    ids = [m.id for m in messages]
    recipients: dict[str, list[RecipientRow]] = {}
    for r in repo.recipients(ids):
        recipients.setdefault(r.message_id, []).append(r)
    attachments: dict[str, list[AttachmentRow]] = {}
    for a in repo.attachments(ids):
        attachments.setdefault(a.message_id, []).append(a)
    offers: dict[str, list[IntegrationOfferRow]] = {}
    for o in repo.offers_of(ids):
        offers.setdefault(o.message_id, []).append(o)
    boxes: dict[str, MailboxRow] = {}

    def box(mailbox_id: str) -> MailboxRow:
        if mailbox_id not in boxes:
            found = repo.mailbox(mailbox_id)
            assert found is not None
            boxes[mailbox_id] = found
        return boxes[mailbox_id]

    conversations: dict[str, tuple[ConversationRow, str]] = {}
    out = []
    for m in messages:
        if m.conversation_id not in conversations:
            conv = repo.conversation(m.conversation_id)
            first = repo.first_message(m.conversation_id)
            assert conv is not None and first is not None
            conversations[m.conversation_id] = (conv, first.id)
        conv, root = conversations[m.conversation_id]
        parent = repo.message_by_message_id(m.in_reply_to) if m.in_reply_to else None
        sender = box(m.sender_mailbox_id)
        out.append(
            MessageView(
                id=m.id,
                conversation_id=m.conversation_id,
                thread_root_id=root,
                message_id=m.message_id,
                in_reply_to=m.in_reply_to,
                in_reply_to_id=parent.id if parent is not None else None,
                sender_address=m.sender_address,
                sender_kind=sender.kind,
                sender_name=sender.display_name,
                sender_owner_id=sender.owner_id,
                recipients=tuple(
                    RecipientView(
                        address=r.address,
                        kind=box(r.mailbox_id).kind,
                        display_name=box(r.mailbox_id).display_name,
                        role=r.role,
                        status=r.status,
                        read_at=r.read_at,
                    )  # fmt: skip
                    for r in recipients.get(m.id, [])
                ),
                subject=m.subject,
                text=m.text,
                html=m.html,
                attachments=tuple(
                    AttachmentView(
                        id=a.id,
                        filename=a.filename,
                        content_type=a.content_type,
                        size=a.size,
                        sha256=a.sha256,
                        entry_id=a.entry_id,
                        unique_id=a.unique_id,
                    )  # fmt: skip
                    for a in attachments.get(m.id, [])
                ),
                offers=tuple(
                    OfferView(
                        id=o.id,
                        unique_id=o.unique_id,
                        title=o.title,
                        ins_matricule=o.ins_matricule,
                        patient_id=o.patient_id,
                        status=o.status,
                        match_note=o.match_note,
                        document_entry_id=o.document_entry_id,
                    )  # fmt: skip
                    for o in offers.get(m.id, [])
                ),
                sent_at=m.sent_at,
                received_at=m.received_at,
                inbound=m.inbound,
                patient_id=conv.patient_id,
                conversation_status=conv.status,
            )
        )
    return out


def _facts(uow: UnitOfWork, conv: ConversationRow, participants: Iterable[str] | None = None) -> ConversationFacts:
    if participants is None:
        participants = (p.address for p in _repo(uow).participants(conv.id))
    return ConversationFacts(
        status=ConversationStatus(conv.status),
        participants=frozenset(participants),
        patient_address=conv.patient_address,
        opened_by=conv.opened_by,
        closed_at=conv.closed_at,
    )


def _party(box: MailboxRow) -> Party:
    return Party(box.address, MailboxKind(box.kind))


def _refuse(uow: UnitOfWork, actor: Actor, decision: Decision, patient_id: str | None, what: str) -> None:
    if patient_id:
        audit.record_now(uow=uow, actor=actor, action=f"message.{what}", patient_id=patient_id,
                         detail={"rule": decision.rule_id}, decision=decision)  # fmt: skip
    raise Forbidden(" ; ".join(r.fr for r in decision.reasons))


# --- sending --------------------------------------------------------------------------------------------------


def _sender_box(uow: UnitOfWork, actor: Actor, from_address: str | None, lookup: _Boxes) -> MailboxRow:
    if from_address is not None:
        box = lookup.get(_checked_address(from_address, "from"))
        if box is None or not box.local:
            raise NotFound(f"aucune boîte aux lettres {from_address} sur cette plateforme", field="from")
        return box
    boxes = mailboxes_of(uow=uow, actor=actor)
    if not boxes:
        raise Forbidden("aucune boîte aux lettres de messagerie sécurisée pour ce compte")
    personal = [b for b in boxes if b.kind in (MailboxKind.PERSONAL.value, MailboxKind.PATIENT.value)]
    return (personal or boxes)[0]


def _safe_filename(name: str) -> str:
    cleaned = _UNSAFE_NAME.sub("_", unicodedata.normalize("NFC", name)).strip(" .")
    return cleaned[:200] or "piece-jointe"


def _new_message_id(domain: str) -> str:
    return f"<{uuid.uuid4()}@{domain}>"


def send(
    *,
    uow: UnitOfWork,
    actor: Actor,
    config: MessagingConfig,
    to: Sequence[str],
    subject: str,
    text: str,
    cc: Sequence[str] = (),
    html: str | None = None,
    attachments: Sequence[Upload | DocumentAttachment] = (),
    from_address: str | None = None,
    in_reply_to: str | None = None,
) -> MessageView:
    """Send a message: local recipients get it in this transaction, external ones through the outbox (same
    transaction); ``in_reply_to`` is the id of the message answered (the conversation continues)."""
    message, _statuses = _send(uow=uow, actor=actor, config=config, to=to, subject=subject, text=text, cc=cc,
                               html=html, attachments=attachments, from_address=from_address,
                               in_reply_to=in_reply_to)  # fmt: skip
    return _views(uow, [message])[0]


@dataclass(frozen=True, slots=True, kw_only=True)
class Submitted:
    """What :func:`submit` sent: the message's id and Message-ID, and each recipient's delivery status."""

    id: str
    message_id: str
    statuses: dict[str, str]


def submit(
    *,
    uow: UnitOfWork,
    actor: Actor,
    config: MessagingConfig,
    to: Sequence[str],
    subject: str,
    text: str,
    attachments: Sequence[Upload | DocumentAttachment] = (),
    from_address: str | None = None,
    mailboxes: Sequence[MailboxRow] = (),
) -> Submitted:
    """:func:`send` (same rules, same transaction, same trail) without building the message's view: for the
    services that send on a professional's behalf (:mod:`carnet.sharing.share`). ``mailboxes``: rows of the
    sender's or the recipients' mailboxes the caller already read in this unit of work (not read again)."""
    message, statuses = _send(uow=uow, actor=actor, config=config, to=to, subject=subject, text=text, cc=(),
                              html=None, attachments=attachments, from_address=from_address, in_reply_to=None,
                              known=mailboxes)  # fmt: skip
    return Submitted(id=message.id, message_id=message.message_id, statuses=statuses)


def _send(
    *,
    uow: UnitOfWork,
    actor: Actor,
    config: MessagingConfig,
    to: Sequence[str],
    subject: str,
    text: str,
    cc: Sequence[str],
    html: str | None,
    attachments: Sequence[Upload | DocumentAttachment],
    from_address: str | None,
    in_reply_to: str | None,
    known: Sequence[MailboxRow] = (),
) -> tuple[MessageRow, dict[str, str]]:
    """The message written (one flush for the conversation, the message and a new external mailbox, then one
    statement each for the participants, the recipients, the outbox rows), and each recipient's status."""
    asked = [from_address or "", *to, *cc]
    boxes = _Boxes(uow, [a for a in map(normalise_address, asked) if a is not None], known)
    sender = _sender_box(uow, actor, from_address, boxes)
    decision_on_box = _use(uow, actor, sender)
    subject = " ".join(subject.split())
    if not subject or len(subject) > MAX_SUBJECT:
        raise ValidationError(f"objet obligatoire, {MAX_SUBJECT} caractères au plus", field="subject")
    if len(text) > MAX_TEXT or "\x00" in text:
        raise ValidationError("texte trop long ou caractère NUL", field="text")
    if len(attachments) > MAX_ATTACHMENTS:
        raise ValidationError(f"{MAX_ATTACHMENTS} pièces jointes au plus", field="attachments")
    repo = _repo(uow)
    recipients: list[tuple[MailboxRow, str]] = []
    seen: set[str] = set()
    for role, addresses in (("to", to), ("cc", cc)):
        for index, address in enumerate(addresses):
            box = _resolve(uow, config, address, f"{role}[{index}]", boxes)
            if box.address not in seen:
                seen.add(box.address)
                recipients.append((box, role))
    parent = None
    conv = None
    if in_reply_to is not None:
        parent = repo.message(in_reply_to) or repo.message_by_message_id(in_reply_to)
        if parent is None:
            raise NotFound("message auquel répondre introuvable", field="inResponseTo")
        conv = repo.conversation(parent.conversation_id, for_update=True)
        assert conv is not None
    facts = _facts(uow, conv) if conv is not None else None
    present = set(facts.participants) if facts is not None else set()
    decision = decide_post(_party(sender), tuple(_party(b) for b, _r in recipients), facts)
    patient_boxes = [b for b, _r in recipients if b.patient_id] + ([sender] if sender.patient_id else [])
    patient_id = conv.patient_id if conv is not None else (patient_boxes[0].patient_id if patient_boxes else None)
    if not decision.allowed:
        _refuse(uow, actor, decision, patient_id, "send_denied")
    now = uow.clock.now()
    if conv is None:
        patient_box = patient_boxes[0] if patient_boxes else None
        conv = ConversationRow(id=new_id(), subject=subject, patient_id=patient_id,
                               patient_address=patient_box.address if patient_box else None, opened_by=sender.address,
                               status=ConversationStatus.OPEN.value, created_at=now, updated_at=now)  # fmt: skip
        repo.add(conv)
    elif conv.patient_id is None and patient_boxes:
        conv.patient_id, conv.patient_address = patient_boxes[0].patient_id, patient_boxes[0].address
    conv.updated_at = now
    html_clean = mime.sanitize_html(html) if html else None
    message = MessageRow(
        id=new_id(),
        conversation_id=conv.id,
        message_id=_new_message_id(domain_of(sender.address)),
        in_reply_to=parent.message_id if parent else None,
        references=[*(parent.references if parent else []), parent.message_id] if parent else [],
        sender_mailbox_id=sender.id,
        sender_address=sender.address,
        sent_by=actor.id[:64],
        subject=subject,
        text=text,
        html=html_clean,
        inbound=False,
        sent_at=now,
        received_at=now,
    )
    repo.add(message)
    _join(uow, conv.id, [sender, *(b for b, _r in recipients)], now, present)
    rows: list[dict[str, Any]] = []
    outbox: list[dict[str, Any]] = []
    statuses: dict[str, str] = {}
    for box, role in recipients:
        status = DeliveryStatus.DELIVERED if box.local else DeliveryStatus.PENDING
        row = _recipient(message.id, box, role, status.value)
        rows.append(row)
        statuses[box.address] = status.value
        if not box.local:
            outbox.append({"id": new_id(), "message_id": message.id, "recipient_id": row["id"],
                           "to_address": box.address, "status": "pending", "attempts": 0, "next_attempt_at": now,
                           "created_at": now})  # fmt: skip
    repo.insert_rows(RecipientRow, rows)
    repo.insert_rows(MessageOutboxRow, outbox)  # in this transaction: durable with the message
    total = 0
    for position, item in enumerate(attachments):
        total += _attach(uow, actor, message, position, item, conv.patient_id)
    if total > config.max_message_bytes:
        raise ValidationError(f"pièces jointes trop volumineuses ({total} octets ; {config.max_message_bytes} au plus)",
                              field="attachments")  # fmt: skip
    if conv.patient_id:
        audit.record(uow=uow, actor=actor, action="message.send", patient_id=conv.patient_id,
                     detail={"message": message.id, "conversation": conv.id, "recipients": len(recipients),
                             "attachments": len(attachments)},
                     decision=decision_on_box or decision)  # fmt: skip
    uow.flush()
    return message, statuses


def _recipient(message_id: str, box: MailboxRow, role: str, status: str) -> dict[str, Any]:
    return {"id": new_id(), "message_id": message_id, "mailbox_id": box.id, "address": box.address, "role": role,
            "status": status}  # fmt: skip


def _join(uow: UnitOfWork, conv_id: str, boxes: Sequence[MailboxRow], now: dt.datetime, present: set[str]) -> None:
    """The mailboxes not yet in the conversation (``present``: its participants' addresses) join it."""
    rows = []
    for box in boxes:
        if box.address not in present:
            present.add(box.address)
            rows.append({"conversation_id": conv_id, "address": box.address, "mailbox_id": box.id, "joined_at": now})
    _repo(uow).insert_rows(ParticipantRow, rows)


def _attach(
    uow: UnitOfWork,
    actor: Actor,
    message: MessageRow,
    position: int,
    item: Upload | DocumentAttachment,
    conversation_patient: str | None,
) -> int:
    """Store one attachment; a document of the record only if the sender may read it (the record service decides
    and traces the reading). Returns its size."""
    if isinstance(item, DocumentAttachment):
        entry, data = record.get_content(uow=uow, actor=actor, entry_id=item.entry_id)
        if conversation_patient is not None and entry.patient_id != conversation_patient:
            raise ValidationError("un document du dossier d'un autre patient ne peut pas être joint à cette "
                                  "conversation", field=f"attachments[{position}]")  # fmt: skip
        meta = entry.metadata
        extension = ".xml" if meta.mime_type in record.CDA_MIME_TYPES else ".pdf"
        row = AttachmentRow(message_id=message.id, position=position,
                            filename=_safe_filename(f"{meta.title}{extension}"), content_type=meta.mime_type,
                            size=len(data), sha256=entry.sha256, entry_id=entry.id, unique_id=meta.unique_id,
                            detail={"type_code": meta.type_code, "class_code": meta.class_code,
                                    "title": meta.title})  # fmt: skip
        _repo(uow).add(row)
        audit.record(uow=uow, actor=actor, action="message.attach", patient_id=entry.patient_id,
                     detail={"document": entry.id, "message": message.id})  # fmt: skip
        return len(data)
    content_type = item.content_type.strip().lower().partition(";")[0]
    if not _CONTENT_TYPE.match(content_type):
        raise ValidationError(f"type MIME invalide : « {item.content_type[:80]} »", field=f"attachments[{position}]")
    if not item.data:
        raise ValidationError("pièce jointe vide", field=f"attachments[{position}]")
    digest = uow.blobs.put(item.data)
    _repo(uow).insert_rows(AttachmentRow, [{"id": new_id(), "message_id": message.id, "position": position,
                                            "filename": _safe_filename(item.filename), "content_type": content_type,
                                            "size": len(item.data), "sha256": digest,
                                            "unique_id": item.unique_id[:128] if item.unique_id else None,
                                            "detail": dict(item.detail or {})}])  # fmt: skip
    return len(item.data)


def _readable(uow: UnitOfWork, actor: Actor, message: MessageRow) -> tuple[list[MailboxRow], Decision | None]:
    """The actor's mailboxes that sent or received the message (raise NotFound when none: a message one may not
    read does not exist for them), and the access decision for a patient's mailbox."""
    repo = _repo(uow)
    ids = {message.sender_mailbox_id, *(r.mailbox_id for r in repo.recipients([message.id]))}
    boxes = [b for b in (repo.mailbox(i) for i in ids) if b is not None and _holds(actor, b)]
    if not boxes:
        raise NotFound("message introuvable", field="message")
    decision = None
    for box in boxes:
        decision = _use(uow, actor, box) or decision
    return boxes, decision


def reply(
    *,
    uow: UnitOfWork,
    actor: Actor,
    config: MessagingConfig,
    message_id: str,
    text: str,
    html: str | None = None,
    attachments: Sequence[Upload | DocumentAttachment] = (),
) -> MessageView:
    """Answer a message: to its sender and its other recipients, from the actor's mailbox that received it."""
    repo = _repo(uow)
    parent = repo.message(message_id)
    if parent is None:
        raise NotFound("message introuvable", field="message")
    boxes, _decision = _readable(uow, actor, parent)
    mine = {b.address for b in boxes}
    everyone = [parent.sender_address, *(r.address for r in repo.recipients([parent.id]))]
    to = [a for a in dict.fromkeys(everyone) if a not in mine]
    subject = parent.subject if parent.subject.lower().startswith("re:") else f"Re: {parent.subject}"
    return send(uow=uow, actor=actor, config=config, to=to, subject=subject[:MAX_SUBJECT], text=text, html=html,
                attachments=attachments, from_address=boxes[0].address, in_reply_to=parent.id)  # fmt: skip


def close(*, uow: UnitOfWork, actor: Actor, conversation_id: str) -> ConversationView:
    """Close a conversation (either side): nobody writes in it any more."""
    repo = _repo(uow)
    conv = repo.conversation(conversation_id, for_update=True)
    if conv is None:
        raise NotFound("conversation introuvable", field="conversation")
    participants = {p.mailbox_id for p in repo.participants(conv.id)}
    boxes = [b for b in (repo.mailbox(i) for i in participants) if b is not None and _holds(actor, b)]
    if not boxes:
        raise NotFound("conversation introuvable", field="conversation")
    box = boxes[0]
    on_box = _use(uow, actor, box)
    decision = decide_close(_party(box), _facts(uow, conv))
    if not decision.allowed:
        if decision.codes == ("already_closed",):
            raise Conflict(decision.reasons[0].fr, field="status")
        _refuse(uow, actor, decision, conv.patient_id, "close_denied")
    now = uow.clock.now()
    conv.status, conv.closed_by, conv.closed_at, conv.updated_at = (
        ConversationStatus.CLOSED.value,
        box.address,
        now,
        now,
    )
    if conv.patient_id:
        audit.record(uow=uow, actor=actor, action="message.close", patient_id=conv.patient_id,
                     detail={"conversation": conv.id}, decision=on_box or decision)  # fmt: skip
    uow.flush()
    return _conversation_view(uow, conv, [])


def mark_read(*, uow: UnitOfWork, actor: Actor, message_id: str) -> MessageView:
    """The read receipt: the actor's mailboxes among the recipients mark the message read (the first time)."""
    repo = _repo(uow)
    message = repo.message(message_id)
    if message is None:
        raise NotFound("message introuvable", field="message")
    boxes, decision = _readable(uow, actor, message)
    mine = {b.id for b in boxes}
    now = uow.clock.now()
    marked = 0
    for row in repo.recipients([message.id]):
        if row.mailbox_id in mine and row.read_at is None:
            row.read_at, row.read_by = now, actor.id[:64]
            marked += 1
    conv = repo.conversation(message.conversation_id)
    if conv is not None and conv.patient_id:
        audit.record(uow=uow, actor=actor, action="message.mark_read", patient_id=conv.patient_id,
                     detail={"message": message.id, "marked": marked}, decision=decision)  # fmt: skip
    uow.flush()
    return _views(uow, [message])[0]


# --- reading --------------------------------------------------------------------------------------------------


def _trace_reading(uow: UnitOfWork, actor: Actor, views: Sequence[MessageView], what: str) -> None:
    by_patient: dict[str, list[str]] = {}
    for view in views:
        if view.patient_id:
            by_patient.setdefault(view.patient_id, []).append(view.id)
    for patient_id, ids in sorted(by_patient.items()):
        audit.record(uow=uow, actor=actor, action=f"message.{what}", patient_id=patient_id,
                     detail={"messages": ids[:50], "returned": len(ids)})  # fmt: skip


def get_message(*, uow: UnitOfWork, actor: Actor, message_id: str) -> MessageView:
    """One message the actor sent or received (NotFound otherwise); the reading is traced."""
    message = _repo(uow).message(message_id)
    if message is None:
        raise NotFound("message introuvable", field="message")
    _readable(uow, actor, message)
    view = _views(uow, [message])[0]
    _trace_reading(uow, actor, [view], "read")
    return view


def list_inbox(
    *, uow: UnitOfWork, actor: Actor, mailbox_address: str | None = None, unread_only: bool = False
) -> list[MessageView]:
    """The messages received in the actor's mailboxes (or one of them), newest first; the listing is traced."""
    boxes = mailboxes_of(uow=uow, actor=actor)
    if mailbox_address is not None:
        wanted = _checked_address(mailbox_address, "mailbox")
        boxes = [b for b in boxes if b.address == wanted]
        if not boxes:
            raise Forbidden(f"la boîte aux lettres {wanted} n'est pas la vôtre")
    repo = _repo(uow)
    messages: dict[str, MessageRow] = {}
    for box in boxes:
        _use(uow, actor, box)
        for message, _recipient in repo.inbox(box.id, unread_only=unread_only):
            messages[message.id] = message
    ordered = sorted(messages.values(), key=lambda m: (m.received_at, m.id), reverse=True)
    views = _views(uow, ordered)
    _trace_reading(uow, actor, views, "list")
    return views


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageFilters:
    """Search criteria (each given one must match)."""

    patient_id: str | None = None
    sender: str | None = None  # address
    recipient: str | None = None  # address
    conversation_id: str | None = None
    thread_root_id: str | None = None
    received_from: dt.datetime | None = None
    received_before: dt.datetime | None = None
    mailbox_address: str | None = None


def search_messages(*, uow: UnitOfWork, actor: Actor, filters: MessageFilters) -> list[MessageView]:
    """The messages the actor sent or received matching ``filters``, newest first; the search is traced."""
    boxes = mailboxes_of(uow=uow, actor=actor)
    if filters.mailbox_address is not None:
        boxes = [b for b in boxes if b.address == filters.mailbox_address]
    if filters.patient_id is not None:
        boxes = [b for b in boxes if b.patient_id in (None, filters.patient_id)]
    for box in boxes:
        _use(uow, actor, box)
    views = _views(uow, _repo(uow).messages_for_mailboxes([b.id for b in boxes]))
    out = []
    for v in views:
        if filters.patient_id is not None and v.patient_id != filters.patient_id:
            continue
        if filters.sender is not None and v.sender_address != filters.sender:
            continue
        if filters.recipient is not None and filters.recipient not in {r.address for r in v.recipients}:
            continue
        if filters.conversation_id is not None and v.conversation_id != filters.conversation_id:
            continue
        if filters.thread_root_id is not None and v.thread_root_id != filters.thread_root_id:
            continue
        if filters.received_from is not None and v.received_at < filters.received_from:
            continue
        if filters.received_before is not None and v.received_at >= filters.received_before:
            continue
        out.append(v)
    _trace_reading(uow, actor, out, "search")
    return out


def _conversation_view(uow: UnitOfWork, conv: ConversationRow, messages: Sequence[MessageRow]) -> ConversationView:
    return ConversationView(
        id=conv.id,
        subject=conv.subject,
        status=conv.status,
        patient_id=conv.patient_id,
        opened_by=conv.opened_by,
        closed_by=conv.closed_by,
        closed_at=conv.closed_at,
        participants=tuple(p.address for p in _repo(uow).participants(conv.id)),
        messages=tuple(_views(uow, messages)),
    )


def get_conversation(*, uow: UnitOfWork, actor: Actor, conversation_id: str) -> ConversationView:
    """A conversation with the messages the actor sent or received in it (NotFound when none); traced."""
    repo = _repo(uow)
    conv = repo.conversation(conversation_id)
    if conv is None:
        raise NotFound("conversation introuvable", field="conversation")
    visible = []
    for message in repo.messages_of(conv.id):
        try:
            _readable(uow, actor, message)
        except NotFound:
            continue
        visible.append(message)
    if not visible:
        raise NotFound("conversation introuvable", field="conversation")
    view = _conversation_view(uow, conv, visible)
    _trace_reading(uow, actor, view.messages, "read")
    return view


def get_attachment(*, uow: UnitOfWork, actor: Actor, attachment_id: str) -> tuple[AttachmentView, bytes]:
    """The bytes of an attachment of a message the actor may read; traced."""
    repo = _repo(uow)
    row = repo.attachment(attachment_id)
    message = repo.message(row.message_id) if row is not None else None
    if row is None or message is None:
        raise NotFound("pièce jointe introuvable", field="attachment")
    _readable(uow, actor, message)
    data = uow.blobs.get(row.sha256)
    conv = repo.conversation(message.conversation_id)
    if conv is not None and conv.patient_id:
        audit.record(uow=uow, actor=actor, action="message.attachment", patient_id=conv.patient_id,
                     detail={"message": message.id, "attachment": row.id})  # fmt: skip
    view = AttachmentView(id=row.id, filename=row.filename, content_type=row.content_type, size=row.size,
                          sha256=row.sha256, entry_id=row.entry_id, unique_id=row.unique_id)  # fmt: skip
    return view, data


# --- receiving from the SMTP gateway ----------------------------------------------------------------------------


def receive(*, uow: UnitOfWork, mail: InboundMail, config: MessagingConfig) -> MessageView:
    """Turn an accepted e-mail into a message (raise :class:`RejectMail` to refuse it): every recipient must be a
    local mailbox; the thread is found from In-Reply-To / References; a Message-ID already received is not
    stored twice (the outbox of the sender delivers at least once); IHE XDM attachments become integration
    offers, matched to the patient by INS."""
    message = _repo(uow).message(_receive(uow=uow, mail=mail, config=config))
    assert message is not None
    return _views(uow, [message])[0]


def _receive(*, uow: UnitOfWork, mail: InboundMail, config: MessagingConfig) -> str:
    """The received message's id. Nothing reads the rows written here as objects before the commit (the gateway
    answers 250): a new conversation, the message, its participants, recipients and attachments are each one
    ``INSERT`` (Core), no ORM flush but for a sender's mailbox new here or the thread answered."""
    repo = _repo(uow)
    sender_address = normalise_address(mail.from_address or mail.envelope_from)
    if sender_address is None:
        raise RejectMail(550, "adresse d'expéditeur invalide")
    sender_domain = domain_of(sender_address)
    # The threat: someone outside writing as one of our own mailboxes (a patient, a local professional).
    if sender_domain in config.hosted_domains:
        raise RejectMail(550, f"le domaine {sender_domain} est hébergé ici : il ne peut pas venir de l'extérieur")
    if config.trusted_domains and sender_domain not in config.trusted_domains:
        raise RejectMail(550, f"domaine expéditeur non autorisé : {sender_domain}")
    envelope = {address: normalise_address(address) for address in dict.fromkeys(mail.envelope_to)}
    # One statement for the mailboxes of the recipients and of the sender, one for the Message-IDs (this mail's,
    # received already?, and those it answers).
    boxes = _Boxes(uow, [*(n for n in envelope.values() if n is not None), sender_address])
    recipients: list[MailboxRow] = []
    for address, normal in envelope.items():
        try:
            box = _resolve(uow, config, normal, "to", boxes) if normal else None
        except (NotFound, ValidationError, Conflict):
            box = None
        if box is None or not box.local:
            raise RejectMail(550, f"destinataire inconnu : {address}")
        recipients.append(box)
    if not recipients:
        raise RejectMail(554, "aucun destinataire")
    refs = [ref for ref in [mail.in_reply_to, *reversed(mail.references)] if ref]
    known = repo.messages_by_message_id([*refs, *([mail.message_id] if mail.message_id else [])])
    if mail.message_id:
        existing = known.get(mail.message_id)
        if existing is not None:
            return _again(uow, existing, recipients)
    sender = _external(uow, sender_address, boxes=boxes)
    conv = None
    for ref in refs:
        parent = known.get(ref)
        if parent is not None:
            conv = repo.conversation(parent.conversation_id, for_update=True)
            break
    present: set[str] = set()
    if conv is not None:
        present = {p.address for p in repo.participants(conv.id)}
        if conv.status == ConversationStatus.CLOSED.value or sender.address not in present:
            conv, present = None, set()  # a closed thread stays closed: the answer opens a new conversation
    facts = _facts(uow, conv, present) if conv is not None else None
    decision = decide_post(_party(sender), tuple(_party(b) for b in recipients), facts)
    if not decision.allowed:
        raise RejectMail(550, " ; ".join(r.fr for r in decision.reasons))
    now = uow.clock.now()
    subject = " ".join((mail.subject or "(sans objet)").split())[:MAX_SUBJECT] or "(sans objet)"
    patient_box = next((b for b in recipients if b.patient_id), None)
    if conv is None:
        conv_id, patient_id = new_id(), patient_box.patient_id if patient_box else None
        repo.insert_rows(ConversationRow, [{"id": conv_id, "subject": subject, "patient_id": patient_id,
                                            "patient_address": patient_box.address if patient_box else None,
                                            "opened_by": sender.address, "status": ConversationStatus.OPEN.value,
                                            "created_at": now, "updated_at": now}])  # fmt: skip
    else:
        conv_id, patient_id = conv.id, conv.patient_id
        conv.updated_at = now
    message_id = new_id()
    repo.insert_rows(MessageRow, [{
        "id": message_id,
        "conversation_id": conv_id,
        "message_id": mail.message_id or _new_message_id(sender_domain),
        "in_reply_to": mail.in_reply_to,
        "references": list(mail.references),
        "sender_mailbox_id": sender.id,
        "sender_address": sender.address,
        "sent_by": GATEWAY.id,
        "subject": subject,
        "text": mail.text[:MAX_TEXT],
        "html": mime.sanitize_html(mail.html) if mail.html else None,
        "inbound": True,
        "sent_at": mail.date or now,
        "received_at": now,
    }])  # fmt: skip
    _join(uow, conv_id, [sender, *recipients], now, present)
    repo.insert_rows(RecipientRow, [_recipient(message_id, box, "cc" if box.address in mail.cc else "to",
                                               "delivered") for box in recipients])  # fmt: skip
    files: list[dict[str, Any]] = [{"id": new_id(), "message_id": message_id, "position": position,
              "filename": _safe_filename(item.filename), "content_type": item.content_type[:127],
              "size": len(item.data), "sha256": uow.blobs.put(item.data), "detail": {}}
             for position, item in enumerate(mail.attachments)]  # fmt: skip
    repo.insert_rows(AttachmentRow, files)
    for item, row in zip(mail.attachments, files, strict=True):
        if item.content_type in _ZIP_TYPES or item.filename.lower().endswith(".zip"):
            _offers(uow, message_id, row["id"], item.data)
    if patient_id:
        audit.record(uow=uow, actor=GATEWAY, action="message.receive", patient_id=patient_id,
                     detail={"message": message_id, "conversation": conv_id, "from": sender.address})  # fmt: skip
    uow.flush()
    return message_id


def _again(uow: UnitOfWork, existing: MessageRow, recipients: Sequence[MailboxRow]) -> str:
    """The same Message-ID delivered again: only recipients not yet recorded are added (no duplicate message)."""
    repo = _repo(uow)
    present = {r.address for r in repo.recipients([existing.id])}
    for box in recipients:
        if box.address not in present:
            repo.add(RecipientRow(message_id=existing.id, mailbox_id=box.id, address=box.address, role="to",
                                  status="delivered"))  # fmt: skip
    uow.flush()
    return existing.id


def _xdm_documents(data: bytes) -> list[dict[str, Any]] | None:
    """The documents of an IHE XDM package (None when the ZIP is not one or cannot be read safely)."""
    import importlib

    try:
        xdm: Any = importlib.import_module("carnet.messaging.xdm")
    except ImportError:  # pragma: no cover - the XDM reader ships with the gateway
        return None
    try:
        package: Any = xdm.read(data)
    except (CarnetError, ValueError):
        return None
    out = []
    for doc in getattr(package, "documents", ()):
        out.append(
            {
                "unique_id": str(getattr(doc, "unique_id", "")),
                "entry_uuid": getattr(doc, "entry_uuid", None),
                "matricule": getattr(getattr(doc, "patient_id", None), "id", None),
                "title": getattr(doc, "title", None),
                "type_code": getattr(getattr(doc, "type_code", None), "code", getattr(doc, "type_code", None)),
                "mime_type": getattr(doc, "mime_type", "text/xml"),
                "content": bytes(getattr(doc, "content", b"") or getattr(doc, "data", b"")),
            }
        )
    return out


def _offers(uow: UnitOfWork, message_id: str, attachment_id: str, data: bytes) -> None:
    documents = _xdm_documents(data)
    if not documents:
        return
    now = uow.clock.now()
    for doc in documents:
        if not doc["unique_id"] or not doc["content"]:
            continue
        matricule = str(doc["matricule"]) if doc["matricule"] else None
        patient = uow.patients.by_ins(matricule) if matricule else None
        if patient is None or patient.merged_into_id:
            patient_id, note = None, "aucune identité INS correspondante : rapprochement manuel"
        elif not may_share(IdentityStatus(patient.status)):
            patient_id, note = None, "identité correspondante non qualifiée : rapprochement manuel"
        else:
            patient_id, note = patient.id, "rapproché par INS qualifié"
        status, entry = OfferStatus.OFFERED.value, None
        if patient_id is not None and record.patient_of(uow=uow, entry_id=doc["unique_id"]) == patient_id:
            status, note, entry = OfferStatus.INTEGRATED.value, "déjà dans le dossier (même identifiant unique)", None
        digest = uow.blobs.put(doc["content"])
        offer = IntegrationOfferRow(message_id=message_id, attachment_id=attachment_id,
                                    unique_id=doc["unique_id"][:128],
                                    entry_uuid=(str(doc["entry_uuid"])[:128] if doc["entry_uuid"] else None),
                                    ins_matricule=matricule[:15] if matricule else None, patient_id=patient_id,
                                    title=(str(doc["title"])[:255] if doc["title"] else None),
                                    type_code=(str(doc["type_code"])[:32] if doc["type_code"] else None),
                                    mime_type=str(doc["mime_type"])[:127], size=len(doc["content"]), sha256=digest,
                                    status=status, match_note=note, document_entry_id=entry, created_at=now,
                                    updated_at=now)  # fmt: skip
        _repo(uow).add(offer)
        if patient_id is not None:
            uow.flush()
            audit.record(uow=uow, actor=GATEWAY, action="message.offer", patient_id=patient_id,
                         detail={"offer": offer.id, "unique_id": offer.unique_id, "message": message_id})  # fmt: skip


def _offer_for(uow: UnitOfWork, actor: Actor, offer_id: str) -> IntegrationOfferRow:
    repo = _repo(uow)
    offer = repo.offer(offer_id)
    message = repo.message(offer.message_id) if offer is not None else None
    if offer is None or message is None:
        raise NotFound("proposition d'intégration introuvable", field="offer")
    boxes, _ = _readable(uow, actor, message)
    if not any(b.kind != MailboxKind.PATIENT.value for b in boxes):
        raise Forbidden("un document reçu est intégré au dossier par le professionnel destinataire")
    if offer.status != OfferStatus.OFFERED.value:
        raise Conflict(f"proposition déjà traitée ({offer.status})", field="status")
    return offer


def integrate_offer(*, uow: UnitOfWork, actor: Actor, offer_id: str, patient_id: str | None = None) -> OfferView:
    """The professional who received a document integrates it into the patient's record (the record's deposit
    checks it; the same unique id deposited twice is not duplicated)."""
    offer = _offer_for(uow, actor, offer_id)
    target = offer.patient_id or patient_id
    if target is None:
        raise ValidationError("patient à désigner : l'INS du document n'a pas été rapproché", field="patient")
    if offer.patient_id is not None and patient_id is not None and patient_id != offer.patient_id:
        raise Conflict("le document est rapproché d'un autre patient par son INS", field="patient")
    content = uow.blobs.get(offer.sha256)
    depositor = Actor(kind=ActorKind.SYSTEM, id="mss-integration", auth_method=AuthMethod.SYSTEM,
                      name=f"Messagerie sécurisée, intégré par {actor.name or actor.id}")  # fmt: skip
    result = record.deposit(uow=uow, actor=depositor, patient_id=target, content=content, mime_type=offer.mime_type,
                            submission_source="mssante")  # fmt: skip
    now = uow.clock.now()
    offer.status, offer.patient_id, offer.document_entry_id = OfferStatus.INTEGRATED.value, target, result.entry.id
    offer.decided_by, offer.decided_at, offer.updated_at = actor.id[:64], now, now
    audit.record(uow=uow, actor=actor, action="message.offer_integrated", patient_id=target,
                 detail={"offer": offer.id, "document": result.entry.id, "created": result.created})  # fmt: skip
    uow.flush()
    return _offer_view(offer)


def reject_offer(*, uow: UnitOfWork, actor: Actor, offer_id: str) -> OfferView:
    """The recipient declines to integrate a received document (kept, marked rejected)."""
    offer = _offer_for(uow, actor, offer_id)
    now = uow.clock.now()
    offer.status, offer.decided_by, offer.decided_at, offer.updated_at = "rejected", actor.id[:64], now, now
    if offer.patient_id:
        audit.record(uow=uow, actor=actor, action="message.offer_rejected", patient_id=offer.patient_id,
                     detail={"offer": offer.id})  # fmt: skip
    uow.flush()
    return _offer_view(offer)


def _offer_view(o: IntegrationOfferRow) -> OfferView:
    return OfferView(id=o.id, unique_id=o.unique_id, title=o.title, ins_matricule=o.ins_matricule,
                     patient_id=o.patient_id, status=o.status, match_note=o.match_note,
                     document_entry_id=o.document_entry_id)  # fmt: skip


def make_handler(platform: Platform, config: MessagingConfig) -> Callable[[InboundMail], None]:
    """The SMTP gateway's handler: one unit of work per accepted mail, committed before the gateway answers 250."""

    def handle(mail: InboundMail) -> None:
        for attempt in range(_RECEIVE_ATTEMPTS):
            try:
                with platform.uow() as uow:
                    _receive(uow=uow, mail=mail, config=config)  # the gateway answers 250, no view needed
                    uow.commit()
                return
            except IntegrityError as exc:
                # Two mails received at once from a sender new here (or for a patient's mailbox opened on first
                # use) both create the same mailbox row: the loser's unit of work is rolled back and tried again,
                # and finds the row the other committed.
                if attempt == _RECEIVE_ATTEMPTS - 1:
                    raise RejectMail(451, "écriture concurrente : réessayer plus tard") from exc
            except DatabaseUnavailable as exc:
                raise RejectMail(451, f"stockage momentanément indisponible : {exc.message}") from exc
            except CarnetError as exc:
                raise RejectMail(550, exc.message) from exc

    return handle


def content_sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def patient_of_message(*, uow: UnitOfWork, message_id: str) -> str | None:
    """The patient a message's conversation concerns, so a caller's role can be chosen before the decision
    (nothing of the message is returned)."""
    repo = _repo(uow)
    message = repo.message(message_id)
    conv = repo.conversation(message.conversation_id) if message is not None else None
    return conv.patient_id if conv is not None else None


def professional_mailbox(*, uow: UnitOfWork, professional_id: str) -> str | None:
    """The address of a professional's personal mailbox hosted here, if any."""
    boxes = _repo(uow).mailboxes_owned(MailboxKind.PERSONAL.value, [professional_id])
    return boxes[0].address if boxes else None

"""Secure health messaging (MSSanté): mailboxes, conversations, messages, attachments and the patient rule.

Pure Python: no SQLAlchemy, no I/O. The service gathers the facts, asks :func:`decide_post` or
:func:`decide_close`, enforces the answer and records it in the audit trail, as :mod:`carnet.access.decide`
does for the record. Decisions reuse :class:`carnet.access.model.Decision` and :class:`~carnet.access.model.Reason`
(a stable code, a French and an English text).

The rules (DESIGN.md, "Messaging (MSSanté)"; issue 7):

- **Only a professional opens a conversation with a patient.** The professional side is every mailbox that is
  not a patient's: personal (a professional), organisational (a service, a practice), applicative (a software),
  and the external MSSanté mailboxes of trusted operators. A patient never opens a conversation.
- A conversation concerns **one patient at most**: a patient box never writes to another patient box, and a
  message cannot bring a second patient into a conversation.
- The patient **replies while the conversation is open**, only to its participants (a patient cannot bring a new
  person into the conversation).
- **Either side closes** it (any participant); once closed **nobody writes in it** any more: the patient cannot,
  and a professional who needs to write again opens a new conversation (so a closed conversation stays closed,
  for the patient and in the trail).
- Professionals write to each other freely (new conversation or any open one they take part in).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from enum import StrEnum

from carnet.access.model import Decision, Reason

__all__ = [
    "REASONS",
    "Attachment",
    "ConversationFacts",
    "ConversationStatus",
    "DeliveryStatus",
    "Mailbox",
    "MailboxKind",
    "OfferStatus",
    "Party",
    "decide_close",
    "decide_post",
    "domain_of",
    "normalise_address",
    "patient_address",
]


class MailboxKind(StrEnum):
    PERSONAL = "personal"  # a professional (owner: national id idNatPs)
    ORGANISATIONAL = "organisational"  # a service, a practice (owner: idNatSt)
    APPLICATIVE = "applicative"  # a software (owner: its client id)
    PATIENT = "patient"  # <matricule INS>@<patient domain> (owner: patient id)
    EXTERNAL = "external"  # a mailbox of another MSSanté operator, reached through the SMTP gateway


class ConversationStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class DeliveryStatus(StrEnum):
    """Where a message stands for one recipient (local: delivered at once; external: the outbox)."""

    DELIVERED = "delivered"  # in a local mailbox
    PENDING = "pending"  # external, waiting in the outbox
    SENT = "sent"  # accepted by the relay
    FAILED = "failed"  # given up after too many temporary failures
    BOUNCED = "bounced"  # refused for good (5xx)


class OfferStatus(StrEnum):
    """A document received in an IHE XDM attachment, offered for integration into a record."""

    OFFERED = "offered"
    INTEGRATED = "integrated"
    REJECTED = "rejected"


_ADDRESS = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                      r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$")  # fmt: skip


def normalise_address(address: str) -> str | None:
    """The address in its stored form (trimmed, lower case), or None when it is not an ``local@domain`` address.

    Local parts are case-insensitive in MSSanté directories; storing one spelling keeps one mailbox per address.
    """
    value = address.strip().strip("<>").strip().lower()
    if len(value) > 254 or not _ADDRESS.match(value):
        return None
    return value


def domain_of(address: str) -> str:
    """The domain of an address (lower case)."""
    return address.rpartition("@")[2].lower()


def patient_address(matricule: str, domain: str) -> str:
    """The patient's MSSanté address: ``<matricule INS>@<patient domain>`` (``patient.mssante.fr`` nationally), in
    its stored form: lower case, like every address (a Corsican matricule ``2A…`` is written ``2a…``)."""
    return f"{matricule}@{domain}".lower()


@dataclass(frozen=True, slots=True, kw_only=True)
class Mailbox:
    """A mailbox; ``owner_id`` is the professional's national id, the organisation's, the software's client id or
    the patient's record id, by ``kind``."""

    address: str
    kind: MailboxKind
    owner_id: str
    display_name: str
    profession: str | None = None  # TRE_G15 (personal boxes)
    place: str | None = None  # city / organisation name, for the directory
    id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Attachment:
    """A file attached to a message: a document of the record (``entry_id`` + ``unique_id``) or an uploaded file."""

    filename: str
    content_type: str
    size: int
    sha256: str
    entry_id: str | None = None  # a document of the record
    unique_id: str | None = None
    metadata: dict[str, str] | None = None


@dataclass(frozen=True, slots=True)
class Party:
    """One side of a message for the rule: its address and the kind of its mailbox."""

    address: str
    kind: MailboxKind

    @property
    def is_patient(self) -> bool:
        return self.kind is MailboxKind.PATIENT


@dataclass(frozen=True, slots=True, kw_only=True)
class ConversationFacts:
    """What the rule needs of an existing conversation."""

    status: ConversationStatus
    participants: frozenset[str]  # addresses
    patient_address: str | None = None
    opened_by: str = ""
    closed_at: dt.datetime | None = None


REASONS: dict[str, Reason] = {}


def _reason(code: str, fr: str, en: str) -> Reason:
    reason = Reason(code, fr, en)
    REASONS[code] = reason
    return reason


R_PRO_OPENS = _reason(
    "professional_opens",
    "un professionnel ouvre la conversation",
    "a professional opens the conversation",
)
R_PRO_WRITES = _reason(
    "professional_writes",
    "un professionnel écrit dans une conversation ouverte à laquelle il participe",
    "a professional writes in an open conversation they take part in",
)
R_PATIENT_REPLIES = _reason(
    "patient_replies",
    "le patient répond dans une conversation ouverte par un professionnel",
    "the patient replies in a conversation a professional opened",
)
R_PARTICIPANT_CLOSES = _reason(
    "participant_closes",
    "un participant clôt la conversation",
    "a participant closes the conversation",
)
R_PATIENT_CANNOT_OPEN = _reason(
    "patient_cannot_open",
    "seul un professionnel peut ouvrir une conversation avec un patient",
    "only a professional can open a conversation with a patient",
)
R_CLOSED = _reason(
    "conversation_closed",
    "la conversation est close : on ne peut plus y écrire (un professionnel peut en ouvrir une nouvelle)",
    "the conversation is closed: nobody writes in it any more (a professional may open a new one)",
)
R_NOT_PARTICIPANT = _reason(
    "not_a_participant",
    "l'expéditeur ne participe pas à cette conversation",
    "the sender does not take part in this conversation",
)
R_PATIENT_NEW_RECIPIENT = _reason(
    "patient_new_recipient",
    "le patient ne répond qu'aux participants de la conversation",
    "the patient replies to the conversation's participants only",
)
R_ONE_PATIENT = _reason(
    "one_patient_per_conversation",
    "une conversation concerne un seul patient",
    "a conversation concerns one patient only",
)
R_NO_RECIPIENT = _reason("no_recipient", "aucun destinataire", "no recipient")
R_SELF_ONLY = _reason(
    "sender_is_only_recipient",
    "l'expéditeur ne peut pas être son seul destinataire",
    "the sender cannot be their only recipient",
)
R_ALREADY_CLOSED = _reason("already_closed", "la conversation est déjà close", "the conversation is already closed")


def _deny(reason: Reason) -> Decision:
    return Decision(False, (reason,), frozenset({"trace_denial"}), "messaging." + reason.code)


def _allow(reason: Reason) -> Decision:
    return Decision(True, (reason,), frozenset(), "messaging." + reason.code)


def decide_post(sender: Party, recipients: tuple[Party, ...], conversation: ConversationFacts | None) -> Decision:
    """May ``sender`` write to ``recipients``, in ``conversation`` (None: a new conversation)? Pure and total."""
    try:
        return _decide_post(sender, recipients, conversation)
    except Exception:  # noqa: BLE001 - fail closed, never raise to deny
        return _deny(Reason("decision_error", "erreur dans la règle : refusé", "error in the rule: denied"))


def _decide_post(sender: Party, recipients: tuple[Party, ...], conversation: ConversationFacts | None) -> Decision:
    if not recipients:
        return _deny(R_NO_RECIPIENT)
    if all(r.address == sender.address for r in recipients):
        return _deny(R_SELF_ONLY)
    patients = {p.address for p in (sender, *recipients) if p.is_patient}
    if conversation is None:
        if sender.is_patient:
            return _deny(R_PATIENT_CANNOT_OPEN)
        if len(patients) > 1:
            return _deny(R_ONE_PATIENT)
        return _allow(R_PRO_OPENS)
    if sender.address not in conversation.participants:
        return _deny(R_NOT_PARTICIPANT)
    if conversation.status is ConversationStatus.CLOSED:
        return _deny(R_CLOSED)
    if conversation.patient_address is not None:
        patients.add(conversation.patient_address)
    if len(patients) > 1:
        return _deny(R_ONE_PATIENT)
    if sender.is_patient:
        if any(r.address not in conversation.participants for r in recipients):
            return _deny(R_PATIENT_NEW_RECIPIENT)
        return _allow(R_PATIENT_REPLIES)
    return _allow(R_PRO_WRITES)


def decide_close(closer: Party, conversation: ConversationFacts) -> Decision:
    """May ``closer`` close ``conversation``? Any participant, on either side, while it is open."""
    if closer.address not in conversation.participants:
        return _deny(R_NOT_PARTICIPANT)
    if conversation.status is ConversationStatus.CLOSED:
        return _deny(R_ALREADY_CLOSED)
    return _allow(R_PARTICIPANT_CLOSES)

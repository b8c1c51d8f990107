"""Tables of secure messaging and their repository: mailboxes, conversations, messages, recipients (with read
receipts), attachments (contents in the blob store), the outbound outbox and the integration offers.

Nothing is ever deleted: a message, a bounce, a rejected offer stay as they were (the trail of what was said).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    func,
    insert,
    or_,
    select,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from carnet.storage.orm import Base, IdColumn, TimestampMixin, UTCDateTime, new_id

ADDRESS = String(320)


class MailboxRow(TimestampMixin, Base):
    """A local mailbox (hosted here) or an external one already written to or received from."""

    __tablename__ = "mailboxes"

    id: Mapped[str] = mapped_column(IdColumn, primary_key=True, default=new_id)
    address: Mapped[str] = mapped_column(ADDRESS, nullable=False, unique=True)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    owner_id: Mapped[str | None] = mapped_column(String(64))
    patient_id: Mapped[str | None] = mapped_column(IdColumn, ForeignKey("patients.id"))
    display_name: Mapped[str] = mapped_column(String(255), nullable=False)
    profession: Mapped[str | None] = mapped_column(String(8))
    rpps: Mapped[str | None] = mapped_column(String(32))
    place: Mapped[str | None] = mapped_column(String(255))
    local: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)

    __table_args__ = (
        Index("ix_mailboxes_owner", "kind", "owner_id"),
        Index("ix_mailboxes_display_name", "display_name"),
    )


class ConversationRow(TimestampMixin, Base):
    """A thread; ``patient_id`` is the patient it concerns, if a patient mailbox takes part."""

    __tablename__ = "conversations"

    id: Mapped[str] = mapped_column(IdColumn, primary_key=True, default=new_id)
    subject: Mapped[str] = mapped_column(String(255), nullable=False)
    patient_id: Mapped[str | None] = mapped_column(IdColumn, ForeignKey("patients.id"))
    patient_address: Mapped[str | None] = mapped_column(ADDRESS)
    opened_by: Mapped[str] = mapped_column(ADDRESS, nullable=False)
    status: Mapped[str] = mapped_column(String(8), nullable=False, default="open")
    closed_by: Mapped[str | None] = mapped_column(ADDRESS)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_conversations_patient", "patient_id"),)


class ParticipantRow(Base):
    """An address taking part in a conversation."""

    __tablename__ = "conversation_participants"

    conversation_id: Mapped[str] = mapped_column(IdColumn, ForeignKey("conversations.id"), primary_key=True)
    address: Mapped[str] = mapped_column(ADDRESS, primary_key=True)
    mailbox_id: Mapped[str] = mapped_column(IdColumn, ForeignKey("mailboxes.id"), nullable=False)
    joined_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False)

    __table_args__ = (Index("ix_conversation_participants_mailbox", "mailbox_id"),)


class MessageRow(Base):
    """One message; ``message_id`` is its RFC 5322 Message-ID, the same on every delivery attempt."""

    __tablename__ = "messages"

    id: Mapped[str] = mapped_column(IdColumn, primary_key=True, default=new_id)
    conversation_id: Mapped[str] = mapped_column(IdColumn, ForeignKey("conversations.id"), nullable=False)
    message_id: Mapped[str] = mapped_column(String(255), nullable=False, unique=True)
    in_reply_to: Mapped[str | None] = mapped_column(String(255))
    references: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    sender_mailbox_id: Mapped[str] = mapped_column(IdColumn, ForeignKey("mailboxes.id"), nullable=False)
    sender_address: Mapped[str] = mapped_column(ADDRESS, nullable=False)
    sent_by: Mapped[str] = mapped_column(String(64), nullable=False)  # the actor's id (a person or the gateway)
    subject: Mapped[str] = mapped_column(String(255), nullable=False)
    text: Mapped[str] = mapped_column(Text, nullable=False)
    html: Mapped[str | None] = mapped_column(Text)  # sanitised
    inbound: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    sent_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False)

    __table_args__ = (Index("ix_messages_conversation", "conversation_id", "sent_at"),)


class RecipientRow(Base):
    """A recipient of a message, with its delivery state and read receipt."""

    __tablename__ = "message_recipients"

    id: Mapped[str] = mapped_column(IdColumn, primary_key=True, default=new_id)
    message_id: Mapped[str] = mapped_column(IdColumn, ForeignKey("messages.id"), nullable=False)
    mailbox_id: Mapped[str] = mapped_column(IdColumn, ForeignKey("mailboxes.id"), nullable=False)
    address: Mapped[str] = mapped_column(ADDRESS, nullable=False)
    role: Mapped[str] = mapped_column(String(4), nullable=False, default="to")  # to | cc
    status: Mapped[str] = mapped_column(String(10), nullable=False)  # model.DeliveryStatus
    read_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    read_by: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        UniqueConstraint("message_id", "address", name="uq_message_recipients_message_address"),
        Index("ix_message_recipients_mailbox", "mailbox_id"),
    )


class AttachmentRow(Base):
    """A file attached to a message; the bytes are in the blob store under ``sha256``."""

    __tablename__ = "message_attachments"

    id: Mapped[str] = mapped_column(IdColumn, primary_key=True, default=new_id)
    message_id: Mapped[str] = mapped_column(IdColumn, ForeignKey("messages.id"), nullable=False, index=True)
    position: Mapped[int] = mapped_column(Integer, nullable=False)
    filename: Mapped[str] = mapped_column(String(255), nullable=False)
    content_type: Mapped[str] = mapped_column(String(127), nullable=False)
    size: Mapped[int] = mapped_column(Integer, nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    entry_id: Mapped[str | None] = mapped_column(IdColumn)  # a document of the record
    unique_id: Mapped[str | None] = mapped_column(String(128))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)


class MessageOutboxRow(Base):
    """A message waiting for one external recipient: pending, sent, failed (gave up) or bounced (refused, 5xx)."""

    __tablename__ = "message_outbox"

    id: Mapped[str] = mapped_column(IdColumn, primary_key=True, default=new_id)
    message_id: Mapped[str] = mapped_column(IdColumn, ForeignKey("messages.id"), nullable=False)
    recipient_id: Mapped[str] = mapped_column(IdColumn, ForeignKey("message_recipients.id"), nullable=False)
    to_address: Mapped[str] = mapped_column(ADDRESS, nullable=False)
    status: Mapped[str] = mapped_column(String(8), nullable=False, default="pending")
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_code: Mapped[int | None] = mapped_column(Integer)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False)

    __table_args__ = (Index("ix_message_outbox_status_next", "status", "next_attempt_at"),)


class IntegrationOfferRow(TimestampMixin, Base):
    """A document received in an IHE XDM attachment, matched to a patient by INS and offered for integration."""

    __tablename__ = "integration_offers"

    id: Mapped[str] = mapped_column(IdColumn, primary_key=True, default=new_id)
    message_id: Mapped[str] = mapped_column(IdColumn, ForeignKey("messages.id"), nullable=False, index=True)
    attachment_id: Mapped[str] = mapped_column(IdColumn, ForeignKey("message_attachments.id"), nullable=False)
    unique_id: Mapped[str] = mapped_column(String(128), nullable=False)
    entry_uuid: Mapped[str | None] = mapped_column(String(128))
    ins_matricule: Mapped[str | None] = mapped_column(String(15))
    patient_id: Mapped[str | None] = mapped_column(IdColumn, ForeignKey("patients.id"))
    title: Mapped[str | None] = mapped_column(String(255))
    type_code: Mapped[str | None] = mapped_column(String(32))
    mime_type: Mapped[str] = mapped_column(String(127), nullable=False)
    size: Mapped[int] = mapped_column(Integer, nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    status: Mapped[str] = mapped_column(String(10), nullable=False, default="offered")
    match_note: Mapped[str] = mapped_column(String(255), nullable=False)
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    document_entry_id: Mapped[str | None] = mapped_column(IdColumn)

    __table_args__ = (Index("ix_integration_offers_patient", "patient_id", "status"),)


def _prefix(column: Any, value: str) -> Any:
    return func.lower(column).startswith(value.strip().lower(), autoescape=True)


class MessagingRepository:
    """Queries of messaging; the unit of work owns the session and the commit."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, row: Any) -> None:
        self.session.add(row)

    def flush(self) -> None:
        self.session.flush()

    def insert_rows(self, table: type[Base], rows: Sequence[dict[str, Any]]) -> None:
        """Insert rows that need no ORM life in this unit of work (participants, recipients, attachments, outbox
        rows: nothing reads them back as objects before the commit) in one statement (an ``executemany``), now:
        the session's pending objects are flushed first, so the rows they reference exist (the ORM's flush orders
        the tables of unrelated mappers by name, not by foreign key)."""
        if rows:
            self.session.flush()
            self.session.execute(insert(cast(Table, table.__table__)), list(rows))

    # --- mailboxes
    def mailbox(self, mailbox_id: str) -> MailboxRow | None:
        return self.session.get(MailboxRow, mailbox_id)

    def mailbox_by_address(self, address: str) -> MailboxRow | None:
        return self.session.scalars(select(MailboxRow).where(MailboxRow.address == address)).one_or_none()

    def mailboxes_by_address(self, addresses: Sequence[str]) -> dict[str, MailboxRow]:
        """The mailboxes among these addresses (normalised), by address: one statement for several look-ups."""
        wanted = sorted(set(addresses))
        if not wanted:
            return {}
        rows = self.session.scalars(select(MailboxRow).where(MailboxRow.address.in_(wanted)))
        return {row.address: row for row in rows}

    def mailboxes_owned_or_at(
        self, kind: str, owner_ids: Sequence[str], addresses: Sequence[str]
    ) -> tuple[list[MailboxRow], dict[str, MailboxRow]]:
        """:meth:`mailboxes_owned` and :meth:`mailboxes_by_address` in one statement."""
        owners, wanted = sorted(set(owner_ids)), sorted(set(addresses))
        if not owners and not wanted:
            return [], {}
        stmt = select(MailboxRow).where(
            or_(
                and_(MailboxRow.kind == kind, MailboxRow.owner_id.in_(owners), MailboxRow.active.is_(True)),
                MailboxRow.address.in_(wanted),
            )
        )
        rows = list(self.session.scalars(stmt.order_by(MailboxRow.address)))
        owned = [r for r in rows if r.kind == kind and r.owner_id in owners and r.active]
        return owned, {r.address: r for r in rows if r.address in wanted}

    def mailboxes_owned(self, kind: str, owner_ids: Sequence[str]) -> list[MailboxRow]:
        if not owner_ids:
            return []
        stmt = select(MailboxRow).where(
            MailboxRow.kind == kind, MailboxRow.owner_id.in_(list(owner_ids)), MailboxRow.active.is_(True)
        )
        return list(self.session.scalars(stmt.order_by(MailboxRow.address)))

    def directory(
        self,
        *,
        name: str | None = None,
        profession: str | None = None,
        rpps: str | None = None,
        place: str | None = None,
        kinds: Sequence[str] = ("personal", "organisational", "applicative"),
        offset: int = 0,
        limit: int = 50,
    ) -> tuple[list[MailboxRow], int]:
        """Local professional-side mailboxes matching every given criterion (names and places match a word's start)."""
        stmt = select(MailboxRow).where(MailboxRow.local.is_(True), MailboxRow.active.is_(True),
                                        MailboxRow.kind.in_(list(kinds)))  # fmt: skip
        if name:
            needle, lowered = name.strip().lower(), func.lower(MailboxRow.display_name)
            stmt = stmt.where(or_(lowered.startswith(needle, autoescape=True),
                                  lowered.contains(" " + needle, autoescape=True)))  # fmt: skip
        if profession:
            stmt = stmt.where(MailboxRow.profession == profession)
        if rpps:
            stmt = stmt.where(or_(MailboxRow.rpps == rpps, MailboxRow.rpps == "8" + rpps))
        if place:
            needle, lowered = place.strip().lower(), func.lower(MailboxRow.place)
            stmt = stmt.where(or_(lowered.startswith(needle, autoescape=True),
                                  lowered.contains(" " + needle, autoescape=True)))  # fmt: skip
        total = int(self.session.scalar(select(func.count()).select_from(stmt.subquery())) or 0)
        rows = list(self.session.scalars(stmt.order_by(MailboxRow.display_name, MailboxRow.address)
                                         .offset(offset).limit(limit)))  # fmt: skip
        return rows, total

    # --- conversations and messages
    def conversation(self, conversation_id: str, *, for_update: bool = False) -> ConversationRow | None:
        stmt = select(ConversationRow).where(ConversationRow.id == conversation_id)
        if for_update and self.session.get_bind().dialect.name == "postgresql":
            stmt = stmt.with_for_update()
        return self.session.scalars(stmt).one_or_none()

    def participants(self, conversation_id: str) -> list[ParticipantRow]:
        stmt = select(ParticipantRow).where(ParticipantRow.conversation_id == conversation_id)
        return list(self.session.scalars(stmt.order_by(ParticipantRow.joined_at, ParticipantRow.address)))

    def message(self, message_id: str) -> MessageRow | None:
        return self.session.get(MessageRow, message_id)

    def message_by_message_id(self, rfc_message_id: str) -> MessageRow | None:
        stmt = select(MessageRow).where(MessageRow.message_id == rfc_message_id)
        return self.session.scalars(stmt).one_or_none()

    def messages_by_message_id(self, rfc_message_ids: Sequence[str]) -> dict[str, MessageRow]:
        """The messages among these Message-IDs, by Message-ID (one statement)."""
        wanted = sorted(set(rfc_message_ids))
        if not wanted:
            return {}
        rows = self.session.scalars(select(MessageRow).where(MessageRow.message_id.in_(wanted)))
        return {row.message_id: row for row in rows}

    def messages_of(self, conversation_id: str) -> list[MessageRow]:
        stmt = select(MessageRow).where(MessageRow.conversation_id == conversation_id)
        return list(self.session.scalars(stmt.order_by(MessageRow.sent_at, MessageRow.received_at, MessageRow.id)))

    def first_message(self, conversation_id: str) -> MessageRow | None:
        stmt = select(MessageRow).where(MessageRow.conversation_id == conversation_id)
        # The opening message answers nothing here: it wins a tie on sent_at (a frozen or coarse clock).
        order = (MessageRow.sent_at, MessageRow.in_reply_to.is_not(None), MessageRow.received_at, MessageRow.id)
        return self.session.scalars(stmt.order_by(*order).limit(1)).first()

    def recipients(self, message_ids: Sequence[str]) -> list[RecipientRow]:
        if not message_ids:
            return []
        stmt = select(RecipientRow).where(RecipientRow.message_id.in_(list(message_ids)))
        return list(self.session.scalars(stmt.order_by(RecipientRow.message_id, RecipientRow.role,
                                                       RecipientRow.address)))  # fmt: skip

    def attachments(self, message_ids: Sequence[str]) -> list[AttachmentRow]:
        if not message_ids:
            return []
        stmt = select(AttachmentRow).where(AttachmentRow.message_id.in_(list(message_ids)))
        return list(self.session.scalars(stmt.order_by(AttachmentRow.message_id, AttachmentRow.position)))

    def attachment(self, attachment_id: str) -> AttachmentRow | None:
        return self.session.get(AttachmentRow, attachment_id)

    def messages_for_mailboxes(self, mailbox_ids: Sequence[str]) -> list[MessageRow]:
        """Every message sent from or to one of the mailboxes, newest first."""
        if not mailbox_ids:
            return []
        ids = list(mailbox_ids)
        received = select(RecipientRow.message_id).where(RecipientRow.mailbox_id.in_(ids))
        stmt = select(MessageRow).where(or_(MessageRow.sender_mailbox_id.in_(ids), MessageRow.id.in_(received)))
        return list(self.session.scalars(stmt.order_by(MessageRow.sent_at.desc(), MessageRow.id)))

    def inbox(self, mailbox_id: str, *, unread_only: bool = False) -> list[tuple[MessageRow, RecipientRow]]:
        """The messages a mailbox received, newest first, with its recipient row (the read receipt)."""
        stmt = (
            select(MessageRow, RecipientRow)
            .join(RecipientRow, RecipientRow.message_id == MessageRow.id)
            .where(RecipientRow.mailbox_id == mailbox_id)
        )
        if unread_only:
            stmt = stmt.where(RecipientRow.read_at.is_(None))
        rows = self.session.execute(stmt.order_by(MessageRow.received_at.desc(), MessageRow.id))
        return [(m, r) for m, r in rows]

    # --- outbox and offers
    def outbox_for(self, message_id: str) -> list[MessageOutboxRow]:
        stmt = select(MessageOutboxRow).where(MessageOutboxRow.message_id == message_id)
        return list(self.session.scalars(stmt.order_by(MessageOutboxRow.to_address)))

    def offer(self, offer_id: str) -> IntegrationOfferRow | None:
        return self.session.get(IntegrationOfferRow, offer_id)

    def offers_of(self, message_ids: Sequence[str]) -> list[IntegrationOfferRow]:
        if not message_ids:
            return []
        stmt = select(IntegrationOfferRow).where(IntegrationOfferRow.message_id.in_(list(message_ids)))
        return list(self.session.scalars(stmt.order_by(IntegrationOfferRow.created_at, IntegrationOfferRow.id)))

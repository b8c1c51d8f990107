"""Persistence of the space's life (tables ``space_*``, migration 0009): opening campaigns and their members, the
notices sent (e-mails queued in the notifications' outbox, letters rendered to PDF for post), closures and their
purge, contact details, protection measures, and the transfers of a space to its holder.

The state of the space itself (pending, open, opposed, closed) stays where the access decision reads it
(``access_profiles.space_status``, :func:`carnet.access.service.set_space_status`); these tables keep the history
and the dates that state comes from.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Index, Integer, String, Text, func, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from carnet.storage.orm import Base, IdColumn, TimestampMixin, UTCDateTime, new_id


class CampaignRow(TimestampMixin, Base):
    """A campaign opening the spaces of a population: each member is informed, then has six weeks to oppose."""

    __tablename__ = "space_campaigns"

    id: Mapped[str] = mapped_column(IdColumn, primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    population: Mapped[str] = mapped_column(String(16), nullable=False)  # file | all_qualified
    source: Mapped[str | None] = mapped_column(String(255))  # the population file's name
    opposition_days: Mapped[int] = mapped_column(Integer, nullable=False)
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)
    last_run_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class MemberRow(TimestampMixin, Base):
    """One person of a campaign (a person belongs to one campaign at most): to inform, informed (the opposition
    period runs until ``opens_on``), opened, or opposed."""

    __tablename__ = "space_campaign_members"

    id: Mapped[str] = mapped_column(IdColumn, primary_key=True, default=new_id)
    campaign_id: Mapped[str] = mapped_column(IdColumn, ForeignKey("space_campaigns.id"), nullable=False)
    patient_id: Mapped[str] = mapped_column(IdColumn, ForeignKey("patients.id"), nullable=False, unique=True)
    status: Mapped[str] = mapped_column(String(12), nullable=False)  # to_inform | informed | opened | opposed
    # SHA-256 of the code printed on the letter (the front desk opposes with it): the code itself is only in what
    # was sent, so a copy of the database does not let anyone oppose in a person's name.
    code_sha256: Mapped[str | None] = mapped_column(String(64), unique=True)  # set when the person is informed
    informed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    opens_on: Mapped[dt.date | None] = mapped_column(Date)
    opened_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    opposed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    opposed_by: Mapped[str | None] = mapped_column(String(64))
    opposed_through: Mapped[str | None] = mapped_column(String(16))  # portal | api | front_desk
    unreachable: Mapped[str | None] = mapped_column(String(200))  # why nobody could be informed (last run)

    __table_args__ = (Index("ix_space_campaign_members_campaign_status", "campaign_id", "status"),
                      Index("ix_space_campaign_members_status_opens", "status", "opens_on"))  # fmt: skip


class NoticeRow(Base):
    """A notice sent about a space: the campaign's information, a transfer at majority, the end of a protection.
    An e-mail is a row of the notifications' outbox (``outbox_id``); a letter is a PDF in the blob store
    (``sha256``), handed to the printer once (``exported_at``)."""

    __tablename__ = "space_notices"

    id: Mapped[str] = mapped_column(IdColumn, primary_key=True, default=new_id)
    patient_id: Mapped[str] = mapped_column(IdColumn, ForeignKey("patients.id"), nullable=False)
    member_id: Mapped[str | None] = mapped_column(IdColumn, ForeignKey("space_campaign_members.id"))
    kind: Mapped[str] = mapped_column(String(16), nullable=False)  # campaign | majority | protection_end
    recipient_kind: Mapped[str] = mapped_column(String(16), nullable=False)  # holder | representative
    recipient_id: Mapped[str] = mapped_column(String(64), nullable=False)
    channel: Mapped[str] = mapped_column(String(8), nullable=False)  # email | post
    outbox_id: Mapped[str | None] = mapped_column(IdColumn)
    sha256: Mapped[str | None] = mapped_column(String(64))
    exported_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False)

    __table_args__ = (Index("ix_space_notices_member_recipient", "member_id", "recipient_id", unique=True),
                      Index("ix_space_notices_patient", "patient_id"))  # fmt: skip


class ClosureRow(TimestampMixin, Base):
    """The holder closed the space: documents kept for the retention period, then purged (logically, then the
    contents no other row references), unless the space is re-opened before."""

    __tablename__ = "space_closures"

    id: Mapped[str] = mapped_column(IdColumn, primary_key=True, default=new_id)
    patient_id: Mapped[str] = mapped_column(IdColumn, ForeignKey("patients.id"), nullable=False)
    closed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False)
    closed_by: Mapped[str] = mapped_column(String(64), nullable=False)
    reopened_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    reopened_by: Mapped[str | None] = mapped_column(String(64))
    purged_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    purged_documents: Mapped[int | None] = mapped_column(Integer)
    contents: Mapped[list[str] | None] = mapped_column(JSON)  # SHA-256 of the purged documents' contents
    blobs_removed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    purged_blobs: Mapped[int | None] = mapped_column(Integer)

    __table_args__ = (Index("ix_space_closures_patient", "patient_id"),
                      Index("ix_space_closures_closed_at", "closed_at"))  # fmt: skip


class ContactRow(TimestampMixin, Base):
    """Contact details of a holder (``party_id`` = the patient id) or of a legal representative (their actor id):
    e-mail, phone, postal address; a representative's name too."""

    __tablename__ = "space_contacts"

    party_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    party_kind: Mapped[str] = mapped_column(String(16), nullable=False)  # holder | representative
    display_name: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(20))
    address_line: Mapped[str | None] = mapped_column(String(200))
    address_complement: Mapped[str | None] = mapped_column(String(200))
    postal_code: Mapped[str | None] = mapped_column(String(10))
    city: Mapped[str | None] = mapped_column(String(100))
    country: Mapped[str | None] = mapped_column(String(60))


class ProtectionRow(TimestampMixin, Base):
    """A legal protection measure of an adult (tutelle, curatelle, habilitation familiale…) with its end date:
    while it lasts the representatives act for the holder; when it ends the space passes to the holder."""

    __tablename__ = "space_protections"

    id: Mapped[str] = mapped_column(IdColumn, primary_key=True, default=new_id)
    patient_id: Mapped[str] = mapped_column(IdColumn, ForeignKey("patients.id"), nullable=False)
    measure: Mapped[str] = mapped_column(String(40), nullable=False)
    starts_on: Mapped[dt.date] = mapped_column(Date, nullable=False)
    ends_on: Mapped[dt.date | None] = mapped_column(Date)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_space_protections_patient", "patient_id"),)


class TransferRow(Base):
    """The space passed to its holder (majority, end of a protection measure): the representatives whose access
    ended then."""

    __tablename__ = "space_transfers"

    id: Mapped[str] = mapped_column(IdColumn, primary_key=True, default=new_id)
    patient_id: Mapped[str] = mapped_column(IdColumn, ForeignKey("patients.id"), nullable=False)
    reason: Mapped[str] = mapped_column(String(16), nullable=False)  # majority | protection_end
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False)
    representatives: Mapped[list[str]] = mapped_column(JSON, nullable=False)
    note: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_space_transfers_patient", "patient_id"),)


class SpaceRepository:
    """Queries of the space's life; the unit of work owns the session and the commit."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, row: Any) -> None:
        self.session.add(row)

    def campaign(self, campaign_id: str) -> CampaignRow | None:
        return self.session.get(CampaignRow, campaign_id)

    def campaigns(self) -> list[CampaignRow]:
        return list(self.session.scalars(select(CampaignRow).order_by(CampaignRow.created_at, CampaignRow.id)))

    def member_of(self, patient_id: str) -> MemberRow | None:
        return self.session.scalars(select(MemberRow).where(MemberRow.patient_id == patient_id)).one_or_none()

    def member_by_code(self, code_sha256: str) -> MemberRow | None:
        return self.session.scalars(select(MemberRow).where(MemberRow.code_sha256 == code_sha256)).one_or_none()

    def member_ids(self, campaign_id: str, status: str) -> list[str]:
        stmt = (
            select(MemberRow.id)
            .where(MemberRow.campaign_id == campaign_id, MemberRow.status == status)
            .order_by(MemberRow.created_at, MemberRow.id)
        )
        return list(self.session.scalars(stmt))

    def due_member_ids(self, today: dt.date, limit: int) -> list[str]:
        """Members informed whose opposition period ended by ``today``."""
        stmt = (
            select(MemberRow.id)
            .where(MemberRow.status == "informed", MemberRow.opens_on <= today)
            .order_by(MemberRow.opens_on, MemberRow.id)
            .limit(limit)
        )
        return list(self.session.scalars(stmt))

    def locked_member(self, member_id: str, status: str) -> MemberRow | None:
        """The member, claimed for this transaction, if still in ``status`` (another run may have handled it
        meanwhile, or holds it now): the caller changes its status in the same transaction, so two runners of the
        same step never both handle a member.

        PostgreSQL: ``SELECT … FOR UPDATE SKIP LOCKED`` (a member another runner holds is skipped; once that runner
        committed, the row no longer matches ``status``). SQLite: the claim is a conditional ``UPDATE`` issued
        first, which takes the database's write lock (waiting for another writer's commit, then reading the
        committed row) and matches only while the member is in ``status``; the lock is held until this
        transaction ends. A plain ``SELECT`` would not do: pysqlite reads outside any transaction, so two runners
        both saw the member still to handle (the concurrent-campaign test)."""
        where = (MemberRow.id == member_id, MemberRow.status == status)
        stmt = select(MemberRow).where(*where).execution_options(populate_existing=True)
        dialect = self.session.get_bind().dialect.name
        if dialect == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True)
        elif dialect == "sqlite":
            claim = update(MemberRow).where(*where).values(updated_at=MemberRow.updated_at)
            claimed = self.session.execute(claim.execution_options(synchronize_session=False))
            if getattr(claimed, "rowcount", 0) != 1:
                return None
        return self.session.scalars(stmt).one_or_none()

    def counts(self, campaign_id: str) -> dict[str, int]:
        stmt = (
            select(MemberRow.status, func.count())
            .where(MemberRow.campaign_id == campaign_id)
            .group_by(MemberRow.status)
        )
        return {status: int(n) for status, n in self.session.execute(stmt)}

    def unreachable_count(self, campaign_id: str) -> int:
        stmt = select(func.count()).where(MemberRow.campaign_id == campaign_id, MemberRow.status == "to_inform",
                                          MemberRow.unreachable.is_not(None))  # fmt: skip
        return int(self.session.scalar(stmt) or 0)

    def channel_counts(self, campaign_id: str) -> dict[str, int]:
        stmt = (
            select(NoticeRow.channel, func.count())
            .join(MemberRow, MemberRow.id == NoticeRow.member_id)
            .where(MemberRow.campaign_id == campaign_id)
            .group_by(NoticeRow.channel)
        )
        return {channel: int(n) for channel, n in self.session.execute(stmt)}

    def next_opening(self, campaign_id: str) -> dt.date | None:
        stmt = select(func.min(MemberRow.opens_on)).where(MemberRow.campaign_id == campaign_id,
                                                          MemberRow.status == "informed")  # fmt: skip
        value = self.session.scalar(stmt)
        return value if isinstance(value, dt.date) else None

    def notices(self, patient_id: str) -> list[NoticeRow]:
        stmt = select(NoticeRow).where(NoticeRow.patient_id == patient_id).order_by(NoticeRow.created_at, NoticeRow.id)
        return list(self.session.scalars(stmt))

    def letters_to_export(self, campaign_id: str | None) -> list[NoticeRow]:
        stmt = select(NoticeRow).where(NoticeRow.channel == "post", NoticeRow.exported_at.is_(None))
        if campaign_id is not None:
            stmt = stmt.join(MemberRow, MemberRow.id == NoticeRow.member_id).where(MemberRow.campaign_id == campaign_id)
        return list(self.session.scalars(stmt.order_by(NoticeRow.created_at, NoticeRow.id)))

    def claimed_letter(self, notice_id: str, now: dt.datetime) -> NoticeRow | None:
        """The letter, marked handed to the printer at ``now`` in this transaction, if nobody had: a conditional
        ``UPDATE … WHERE exported_at IS NULL`` is the claim (on PostgreSQL it waits for a concurrent claim's commit,
        then matches no more; on SQLite it takes the write lock first)."""
        claim = (update(NoticeRow)
                 .where(NoticeRow.id == notice_id, NoticeRow.channel == "post", NoticeRow.exported_at.is_(None))
                 .values(exported_at=now))  # fmt: skip
        claimed = self.session.execute(claim.execution_options(synchronize_session=False))
        if getattr(claimed, "rowcount", 0) != 1:
            return None
        stmt = select(NoticeRow).where(NoticeRow.id == notice_id).execution_options(populate_existing=True)
        return self.session.scalars(stmt).one_or_none()

    def open_closure(self, patient_id: str) -> ClosureRow | None:
        """The closure in force (neither re-opened nor purged), if any."""
        stmt = (
            select(ClosureRow)
            .where(ClosureRow.patient_id == patient_id, ClosureRow.reopened_at.is_(None))
            .order_by(ClosureRow.closed_at.desc(), ClosureRow.id)
            .limit(1)
        )
        return self.session.scalars(stmt).first()

    def closures_due(self, closed_before: dt.datetime, limit: int) -> list[str]:
        """Closures in force, not yet purged, closed before ``closed_before``."""
        stmt = (
            select(ClosureRow.id)
            .where(ClosureRow.reopened_at.is_(None), ClosureRow.purged_at.is_(None),
                   ClosureRow.closed_at < closed_before)
            .order_by(ClosureRow.closed_at, ClosureRow.id)
            .limit(limit)
        )  # fmt: skip
        return list(self.session.scalars(stmt))

    def closures_with_blobs_left(self, limit: int) -> list[str]:
        stmt = (
            select(ClosureRow.id)
            .where(ClosureRow.purged_at.is_not(None), ClosureRow.blobs_removed_at.is_(None))
            .order_by(ClosureRow.purged_at, ClosureRow.id)
            .limit(limit)
        )
        return list(self.session.scalars(stmt))

    def closure(self, closure_id: str) -> ClosureRow | None:
        return self.session.get(ClosureRow, closure_id)

    def locked_closure(self, closure_id: str) -> ClosureRow | None:
        """The closure, locked for this transaction and read as committed: two purge runs, or the purge and a
        re-opening at the same moment, take turns on it (the second sees what the first did). PostgreSQL:
        ``SELECT … FOR UPDATE`` (waits for the other's commit). SQLite: a no-op ``UPDATE`` first takes the write
        lock, as :meth:`locked_member` does."""
        stmt = select(ClosureRow).where(ClosureRow.id == closure_id).execution_options(populate_existing=True)
        dialect = self.session.get_bind().dialect.name
        if dialect == "postgresql":
            stmt = stmt.with_for_update()
        elif dialect == "sqlite":
            claim = update(ClosureRow).where(ClosureRow.id == closure_id).values(updated_at=ClosureRow.updated_at)
            self.session.execute(claim.execution_options(synchronize_session=False))
        return self.session.scalars(stmt).one_or_none()

    def contact(self, party_id: str) -> ContactRow | None:
        return self.session.get(ContactRow, party_id)

    def protection(self, patient_id: str) -> ProtectionRow | None:
        """The protection measure in force (not ended), if any."""
        stmt = (
            select(ProtectionRow)
            .where(ProtectionRow.patient_id == patient_id, ProtectionRow.ended_at.is_(None))
            .order_by(ProtectionRow.starts_on.desc(), ProtectionRow.id)
            .limit(1)
        )
        return self.session.scalars(stmt).first()

    def protections_ending(self, today: dt.date, limit: int) -> list[str]:
        stmt = (
            select(ProtectionRow.patient_id)
            .where(ProtectionRow.ended_at.is_(None), ProtectionRow.ends_on <= today)
            .order_by(ProtectionRow.ends_on, ProtectionRow.patient_id)
            .limit(limit)
        )
        return list(self.session.scalars(stmt))

    def transfers(self, patient_id: str) -> list[TransferRow]:
        stmt = select(TransferRow).where(TransferRow.patient_id == patient_id).order_by(TransferRow.at, TransferRow.id)
        return list(self.session.scalars(stmt))


def contents_referenced(session: Session, digest: str, *, ignoring_deleted_by: str) -> bool:
    """Whether any row of any table with a ``sha256`` column still needs the content ``digest``.

    The blob store is content-addressed: the same bytes are kept once for every row naming them (the same file in
    two records, a document attached to a message or logged by the sharing, a letter of a campaign). Rows logically
    deleted by ``ignoring_deleted_by`` (the retention purge) no longer need it; every other row does, a document
    deleted by its author included (kept for the retention period of its own record).
    """
    for table in Base.metadata.sorted_tables:
        column = table.c.get("sha256")
        if column is None:
            continue
        stmt = select(func.count()).select_from(table).where(column == digest)
        deleted_by = table.c.get("deleted_by")
        if deleted_by is not None:
            stmt = stmt.where((deleted_by.is_(None)) | (deleted_by != ignoring_deleted_by))
        if session.scalar(stmt):
            return True
    return False

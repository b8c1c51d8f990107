"""What the retention purge removes from a closed space, and what it keeps (docs/space.md, "The retention purge").

:data:`RETENTION` is the inventory: every table holding a patient's data (a ``patient_id`` column, or a row hanging
on a purged one), with what the purge does to it and why. ``tests/integration/test_space_purge.py`` checks that every
such table of the metadata is listed, so that a table added later cannot be forgotten by the purge.

- **Removed** — the space's content (DESIGN.md, "Space (ENS) — its content"): the health profile (measures,
  vaccinations, allergies, questionnaire responses), the agenda (events, their reminders, the calendar feed), the
  reimbursements, the directory of authorisations (grants, the app connections they come from, consents, the care
  team), the holder's notifications and the e-mails copying them, their notification settings and contact
  details, the médecin traitant they declared, and the holder's own mailbox (retired: see below). The record's
  documents are deleted by :func:`carnet.record.service.purge` (logically, then their contents: two phases in
  :func:`carnet.space.lifecycle.purge_due`); here their full-text index rows go and their tombstones lose their
  title and comment.
- **Kept** — what makes the purge traceable and protects the person: the identity and its history, the audit trail
  (legal evidence, append-only), the space's status and the closure row (re-opening says "purged"), the campaign
  membership and the notices sent (proof the person was informed), the representatives, protection measures and
  transfers (legal status), the oppositions to professionals and the refusal of emergency access (removing them
  would widen access if the space is re-opened), the space's own notifications (its life: closed, re-opened), and
  what belongs to the professionals (their sharing log, the messages they exchanged with the holder — one row per
  message, their copy — and the documents offered to them for integration).

The holder's mailbox: its messages are the professionals' copies too and stay; the mailbox is retired (inactive,
detached from its holder, its address freed), so the holder no longer sees them and a re-opened space gets a new,
empty mailbox at the same address.

Everything runs in the caller's unit of work (one transaction per space with the documents' deletion and the
closure's ``purged_at``): a crash leaves either nothing or everything of the space purged.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, Literal

from sqlalchemy import delete, select, text, update
from sqlalchemy.orm import Session

from carnet.access.store import AccessProfileRow, CareTeamRow, ConsentRow, GrantRow
from carnet.catalogue.store import ConnectionRow
from carnet.messaging.model import MailboxKind
from carnet.messaging.store import MailboxRow
from carnet.notify.store import MailOutboxRow, NotificationPreferenceRow, NotificationRow, ProfessionalFirstAccessRow
from carnet.notify.templates import NotificationKind
from carnet.record.store import SEARCH_TABLE, DocumentRow
from carnet.space.agenda_store import AgendaEventRow, AgendaFeedRow, AgendaReminderRow, ReimbursementLineRow
from carnet.space.profile_store import AllergyRow, ImmunizationRow, ObservationRow, QuestionnaireResponseRow
from carnet.space.store import ContactRow

__all__ = ["PURGED_TITLE", "RETENTION", "STEPS", "optimize_search_index", "purge_space_data"]

Fate = Literal["purged", "kept"]  # what the purge does to a table

RETENTION: dict[str, tuple[Fate, str]] = {
    # --- removed: the space's content
    "documents": ("purged", "the record: deleted logically, contents removed, title and comment erased"),
    SEARCH_TABLE: ("purged", "the full-text index of the documents (title, comment, narrative text)"),
    "profile_observations": ("purged", "health profile: measures (vitals)"),
    "profile_immunizations": ("purged", "health profile: vaccinations"),
    "profile_allergies": ("purged", "health profile: allergies"),
    "profile_questionnaire_responses": ("purged", "health profile: the holder's questionnaire"),
    "agenda_events": ("purged", "agenda"),
    "agenda_reminders": ("purged", "agenda: reminders of the events"),
    "agenda_feeds": ("purged", "agenda: the holder's calendar feed (a bearer token)"),
    "reimbursement_lines": ("purged", "reimbursements"),
    "catalogue_connections": ("purged", "directory of authorisations: the holder's app connections"),
    "access_grants": ("purged", "directory of authorisations: grants to professionals, organisations, apps"),
    "consents": ("purged", "directory of authorisations: consents given to professionals"),
    "care_team_members": ("purged", "directory of authorisations: the care team (presumed consent)"),
    "notifications": ("purged", "the holder's notifications, except those of the space's life (kind space)"),
    "mail_outbox": ("purged", "the e-mails copying the notifications removed"),
    "notification_preferences": ("purged", "the holder's notification settings and e-mail"),
    "professional_first_accesses": ("purged", "who accessed first (for the notification; the audit trail keeps it)"),
    "space_contacts": ("purged", "the holder's contact details (representatives' own rows stay)"),
    "access_profiles": ("kept", "the space's status and the emergency refusal; the médecin traitant is cleared"),
    "mailboxes": ("kept", "the holder's mailbox is retired (inactive, detached, address freed)"),
    # --- kept: evidence, identity, legal status, protections, the professionals' side
    "patients": ("kept", "the identity: the purge stays traceable, re-opening is possible"),
    "identity_events": ("kept", "the identity's history (identity vigilance)"),
    "audit_events": ("kept", "the audit trail: legal evidence, append-only"),
    "space_closures": ("kept", "the closure and its purge (re-opening says purged)"),
    "space_campaign_members": ("kept", "the campaign membership: never included again, the opposition code digest"),
    "space_notices": ("kept", "proof the person was informed (e-mail, letter)"),
    "space_protections": ("kept", "legal status: protection measures"),
    "space_transfers": ("kept", "legal status: the space passed to its holder"),
    "representatives": ("kept", "legal status: who acts for the holder"),
    "oppositions": ("kept", "the holder's refusals of professionals: removing them would widen access"),
    "document_shares": ("kept", "the professionals' sharing log (their obligation to feed the record)"),
    "conversations": ("kept", "the professionals' messaging: conversations concerning the holder"),
    "conversation_participants": ("kept", "the professionals' messaging"),
    "messages": ("kept", "the professionals' copies of the messages exchanged with the holder"),
    "message_recipients": ("kept", "the professionals' messaging: delivery and read receipts"),
    "message_attachments": ("kept", "the professionals' messaging"),
    "message_outbox": ("kept", "the professionals' messaging"),
    "integration_offers": ("kept", "documents offered to a professional for integration into their software"),
}

Step = Callable[[Session, str, dt.datetime], int]


def _rows(session: Session, stmt: Any) -> int:
    return int(getattr(session.execute(stmt.execution_options(synchronize_session=False)), "rowcount", 0) or 0)


def _by_patient(row: Any) -> Step:
    def step(session: Session, patient_id: str, _now: dt.datetime) -> int:
        return _rows(session, delete(row).where(row.patient_id == patient_id))

    return step


def _reminders(session: Session, patient_id: str, _now: dt.datetime) -> int:
    events = select(AgendaEventRow.id).where(AgendaEventRow.patient_id == patient_id)
    return _rows(session, delete(AgendaReminderRow).where(AgendaReminderRow.event_id.in_(events)))


def _notifications_removed(patient_id: str) -> Any:
    return (NotificationRow.patient_id == patient_id) & (NotificationRow.kind != NotificationKind.SPACE.value)


def _mails(session: Session, patient_id: str, _now: dt.datetime) -> int:
    removed = select(NotificationRow.id).where(_notifications_removed(patient_id))
    return _rows(session, delete(MailOutboxRow).where(MailOutboxRow.notification_id.in_(removed)))


def _notifications(session: Session, patient_id: str, _now: dt.datetime) -> int:
    return _rows(session, delete(NotificationRow).where(_notifications_removed(patient_id)))


def _contact(session: Session, patient_id: str, _now: dt.datetime) -> int:
    holder = (ContactRow.party_id == patient_id) & (ContactRow.party_kind == "holder")
    return _rows(session, delete(ContactRow).where(holder))


def _medecin_traitant(session: Session, patient_id: str, now: dt.datetime) -> int:
    stmt = (update(AccessProfileRow)
            .where(AccessProfileRow.patient_id == patient_id, AccessProfileRow.medecin_traitant_id.is_not(None))
            .values(medecin_traitant_id=None, updated_at=now))  # fmt: skip
    return _rows(session, stmt)


def _mailbox(session: Session, patient_id: str, now: dt.datetime) -> int:
    """Retire the holder's mailbox: inactive, no owner, its address freed for a new one if the space re-opens (the
    messages keep their own copy of the addresses)."""
    boxes = session.scalars(select(MailboxRow).where(MailboxRow.kind == MailboxKind.PATIENT.value,
                                                     MailboxRow.patient_id == patient_id,
                                                     MailboxRow.owner_id.is_not(None)))  # fmt: skip
    retired = 0
    for box in boxes:
        domain = box.address.rpartition("@")[2]
        box.address, box.owner_id, box.active, box.updated_at = f"purged-{box.id}@{domain}", None, False, now
        retired += 1
    session.flush()
    return retired


PURGED_TITLE = "Document supprimé à la fin de sa durée de conservation"


def _search_index(session: Session, patient_id: str, _now: dt.datetime) -> int:
    """The documents' full-text rows (outside the ORM: an FTS5 table on SQLite, a tsvector table on PostgreSQL):
    the words of their title, comment and narrative text."""
    stmt = text(f"DELETE FROM {SEARCH_TABLE} WHERE document_id IN (SELECT id FROM documents WHERE patient_id = :p)")
    return int(getattr(session.execute(stmt, {"p": patient_id}), "rowcount", 0) or 0)


def _document_texts(session: Session, patient_id: str, _now: dt.datetime) -> int:
    """The tombstones of the deleted documents keep what makes them traceable (unique id, codes, author, dates,
    digest), not what they said: the title and the comment are erased."""
    stmt = (update(DocumentRow)
            .where(DocumentRow.patient_id == patient_id, DocumentRow.status == "deleted",
                   DocumentRow.title != PURGED_TITLE)
            .values(title=PURGED_TITLE, comment=None, version=DocumentRow.version + 1))  # fmt: skip
    return _rows(session, stmt)


# (kind reported, step): children before their parents (foreign keys); the kinds are the audit entry's keys.
STEPS: list[tuple[str, Step]] = [
    ("search_index", _search_index),
    ("document_texts", _document_texts),
    ("observations", _by_patient(ObservationRow)),
    ("immunizations", _by_patient(ImmunizationRow)),
    ("allergies", _by_patient(AllergyRow)),
    ("questionnaire_responses", _by_patient(QuestionnaireResponseRow)),
    ("agenda_reminders", _reminders),
    ("agenda_events", _by_patient(AgendaEventRow)),
    ("agenda_feeds", _by_patient(AgendaFeedRow)),
    ("reimbursement_lines", _by_patient(ReimbursementLineRow)),
    ("app_connections", _by_patient(ConnectionRow)),
    ("grants", _by_patient(GrantRow)),
    ("consents", _by_patient(ConsentRow)),
    ("care_team", _by_patient(CareTeamRow)),
    ("notification_mails", _mails),
    ("notifications", _notifications),
    ("notification_preferences", _by_patient(NotificationPreferenceRow)),
    ("first_accesses", _by_patient(ProfessionalFirstAccessRow)),
    ("contact_details", _contact),
    ("medecin_traitant", _medecin_traitant),
    ("mailboxes_retired", _mailbox),
]


def purge_space_data(session: Session, patient_id: str, now: dt.datetime) -> dict[str, int]:
    """Remove the space's content beyond the documents (:data:`STEPS`) in the caller's transaction; returns the
    rows removed (or changed) per kind, every kind named (0 when there was none)."""
    session.flush()
    counts = {kind: step(session, patient_id, now) for kind, step in STEPS}
    session.expire_all()  # the bulk statements bypassed the objects the session holds
    return counts


def optimize_search_index(session: Session) -> None:
    """SQLite: an FTS5 ``DELETE`` leaves the words of the removed rows in the index's segments (with delete markers)
    until they are merged; ``optimize`` merges them all and the words are gone. PostgreSQL: the deleted rows are
    reclaimed by (auto)vacuum."""
    if session.get_bind().dialect.name == "sqlite":
        session.execute(text(f"INSERT INTO {SEARCH_TABLE}({SEARCH_TABLE}) VALUES ('optimize')"))

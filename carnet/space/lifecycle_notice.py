"""Informing a person about their space: by e-mail through the notifications' outbox (sent over SMTP by
:func:`carnet.notify.mailer.deliver_pending`), or by a letter rendered to PDF for post, kept in the blob store
until it is handed to the printer (``carnet space letters``).

Who is informed: the holder; for a minor, their legal representatives instead; for a protected adult, the holder
and their representatives. Each recipient is reached by e-mail when an address is known (the space's contact
details, else the e-mail the holder gave for notifications), else by post when a postal address is known, else
not at all (the caller says so and tries again later). Everything is written in the caller's unit of work: if it
rolls back, nothing was sent and nobody counts as informed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from carnet.notify.store import MailOutboxRow, NotificationRow
from carnet.notify.templates import NotificationKind
from carnet.space.lifecycle_letter import Letter, render_pdf
from carnet.space.store import ContactRow, NoticeRow, SpaceRepository
from carnet.storage.orm import new_id

if TYPE_CHECKING:
    from carnet.identity.store import PatientRow
    from carnet.storage.uow import UnitOfWork

__all__ = ["SENDER", "Recipient", "holder_name", "inform", "recipients", "space_notification"]

SENDER = ("Mon espace santé", "Service d'information des titulaires", "Carnet — plateforme de l'espace santé")
_FOOTER = (
    "\n\nCe message vous est envoyé automatiquement, merci de ne pas y répondre."
    "\nMon espace santé — l'espace numérique de santé de chaque personne."
)


@dataclass(frozen=True, slots=True)
class Recipient:
    """Someone to inform: the holder or a legal representative, with what is known to reach them."""

    kind: str  # holder | representative
    id: str
    name: str
    email: str | None
    address: tuple[str, ...]  # the postal address lines, empty when unknown

    @property
    def channel(self) -> str | None:
        """email, post, or None when they cannot be reached."""
        return "email" if self.email else "post" if self.address else None


def holder_name(patient: PatientRow) -> str:
    """« Mme Dominique PAT-TROIS »: civility, used (else first) first name, used (else birth) name."""
    civility = {"F": "Mme", "M": "M."}.get(patient.sex, "")
    given = (patient.used_first_name or patient.first_name or "").strip().title()
    family = (patient.used_name or patient.birth_name).strip().upper()
    return " ".join(p for p in (civility, given, family) if p)


def _address(contact: ContactRow | None) -> tuple[str, ...]:
    if contact is None or not (contact.address_line and contact.postal_code and contact.city):
        return ()
    lines = [contact.address_line, contact.address_complement or "", f"{contact.postal_code} {contact.city.upper()}"]
    if contact.country and contact.country.strip().lower() != "france":
        lines.append(contact.country.upper())
    return tuple(line for line in lines if line)


def _holder(uow: UnitOfWork, patient: PatientRow) -> Recipient:
    contact = SpaceRepository(uow.session).contact(patient.id)
    email = contact.email if contact else None
    if not email:
        prefs = uow.notifications.preferences(patient.id)
        email = prefs.email if prefs is not None else None
    return Recipient(kind="holder", id=patient.id, name=holder_name(patient), email=email, address=_address(contact))


def _representative(uow: UnitOfWork, patient: PatientRow, representative_id: str) -> Recipient:
    contact = SpaceRepository(uow.session).contact(representative_id)
    name = (contact.display_name if contact else None) or f"Représentant légal de {holder_name(patient)}"
    return Recipient(kind="representative", id=representative_id, name=name,
                     email=contact.email if contact else None, address=_address(contact))  # fmt: skip


def recipients(uow: UnitOfWork, patient: PatientRow, *, minor: bool, protected: bool,
               representatives: list[str] | None = None) -> list[Recipient]:  # fmt: skip
    """Whom to inform about ``patient``'s space: the holder, or for a minor their representatives, or for a
    protected adult both (``representatives``: these ids rather than the current ones, e.g. those who just lost
    access)."""
    ids = representatives if representatives is not None else [
        r.representative_id for r in uow.access.representatives(patient.id)]  # fmt: skip
    reps = [_representative(uow, patient, rid) for rid in sorted(set(ids))]
    if minor:
        return reps
    return [_holder(uow, patient), *reps] if protected or representatives is not None else [_holder(uow, patient)]


def space_notification(uow: UnitOfWork, patient_id: str, *, title: str, body: str, detail: dict[str, str]) -> str:
    """An in-space notification of the holder's (kind ``space``); returns its id (the e-mails hang on it)."""
    row = NotificationRow(id=new_id(), patient_id=patient_id, kind=NotificationKind.SPACE.value,
                          created_at=uow.clock.now(), title_fr=title[:200], body_fr=body, read_at=None,
                          detail={**detail, "reason": body})  # fmt: skip
    uow.notifications.add(row)
    uow.flush()
    return row.id


def inform(
    uow: UnitOfWork,
    *,
    patient: PatientRow,
    kind: str,
    to: list[Recipient],
    title: str,
    body: Callable[[Recipient], str],
    letter: Callable[[Recipient], Letter],
    notification_id: str,
    member_id: str | None = None,
) -> list[NoticeRow]:
    """Send each reachable recipient the notice (an e-mail queued in the outbox, or a letter stored as PDF) and
    record it; the unreachable ones get nothing (the caller reports them)."""
    now = uow.clock.now()
    space = SpaceRepository(uow.session)
    sent: list[NoticeRow] = []
    for person in to:
        channel = person.channel
        if channel is None:
            continue
        notice = NoticeRow(id=new_id(), patient_id=patient.id, member_id=member_id, kind=kind,
                           recipient_kind=person.kind, recipient_id=person.id[:64], channel=channel,
                           created_at=now)  # fmt: skip
        if channel == "email":
            assert person.email is not None
            outbox = MailOutboxRow(id=new_id(), notification_id=notification_id, to_address=person.email,
                                   subject=title[:200], body=f"Bonjour {person.name},\n\n{body(person)}{_FOOTER}\n",
                                   status="pending", attempts=0, next_attempt_at=now, created_at=now)  # fmt: skip
            uow.notifications.add(outbox)
            notice.outbox_id = outbox.id
        else:
            notice.sha256 = uow.blobs.put(render_pdf(letter(person), title=title))
        space.add(notice)
        sent.append(notice)
    uow.flush()
    return sent


def letter_date(now: dt.datetime) -> str:
    """« Le 22 novembre 2026 » (French legal date of ``now``)."""
    from zoneinfo import ZoneInfo

    day = now.astimezone(ZoneInfo("Europe/Paris")).date()
    return f"Le {french_date(day)}"


_MONTHS = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre", "novembre",
           "décembre")  # fmt: skip


def french_date(day: dt.date) -> str:
    """« 3 janvier 2027 »."""
    return f"{'1er' if day.day == 1 else day.day} {_MONTHS[day.month - 1]} {day.year}"

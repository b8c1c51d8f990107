"""Opening campaigns: the spaces of a population are created, each person is informed, and without opposition
during six weeks the space opens (DESIGN.md, "Space (ENS)").

- :func:`create_campaign` includes a population (a file from the insurer, or every qualified identity of the
  index): each person's space becomes ``PENDING``; a person belongs to one campaign at most, and a person whose
  space was closed or whose creation they opposed is never included again.
- :func:`run_campaign` informs every member not yet informed (or their representatives for a minor: e-mail
  through the notifications' outbox, else a one-page PDF letter for post) with the code the front desk opposes
  with, and starts their six weeks. One transaction per person: a run stopped half-way is finished by the next
  one, and nobody is ever informed twice (a second run says so).
- :func:`open_due` (the daily job ``carnet space open-due``) opens every space whose six weeks ended without
  opposition; idempotent and resumable the same way.

The jobs act as the platform (:class:`carnet.access.model.ActorKind` SYSTEM); every change goes through
:func:`carnet.access.service.set_space_status` and is traced in the person's audit trail.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select

from carnet.access import service as access
from carnet.access.model import Actor, ActorKind, AuthMethod, SpaceStatus
from carnet.access.store import AccessProfileRow
from carnet.audit import service as audit
from carnet.errors import NotFound, ValidationError
from carnet.identity.matricule import parse_matricule
from carnet.identity.status import IdentityStatus
from carnet.identity.store import PatientRow
from carnet.space.lifecycle import OPPOSITION_DAYS, code_digest, local_today, new_code
from carnet.space.lifecycle_admin import ContactIn, store_contact
from carnet.space.lifecycle_letter import Letter
from carnet.space.lifecycle_notice import (
    SENDER,
    Recipient,
    french_date,
    holder_name,
    inform,
    letter_date,
    recipients,
    space_notification,
)
from carnet.space.store import CampaignRow, MemberRow, SpaceRepository

if TYPE_CHECKING:
    from carnet.bootstrap import Platform
    from carnet.storage.uow import UnitOfWork

__all__ = [
    "CAMPAIGN_ACTOR",
    "CampaignCreated",
    "CampaignStatus",
    "OPEN_ACTOR",
    "OpenReport",
    "PersonIn",
    "RunReport",
    "campaign_status",
    "create_campaign",
    "export_letters",
    "open_due",
    "read_population",
    "run_campaign",
]

CAMPAIGN_ACTOR = Actor(kind=ActorKind.SYSTEM, id="space-campaign", auth_method=AuthMethod.SYSTEM,
                       name="campagne d'ouverture des espaces santé")  # fmt: skip
OPEN_ACTOR = Actor(kind=ActorKind.SYSTEM, id="space-open-due", auth_method=AuthMethod.SYSTEM,
                   name="ouverture des espaces santé à la fin du délai d'opposition")  # fmt: skip
POPULATION_COLUMNS = ("ins", "email", "telephone", "adresse", "complement", "code_postal", "ville", "pays")


# --- the population ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PersonIn:
    """One line of a population file: the INS, and the contact details the insurer knows (all optional)."""

    ins: str
    contact: ContactIn = field(default_factory=ContactIn)
    line: int = 0


def read_population(text: str) -> list[PersonIn]:
    """The population file (CSV, ``;`` or ``,``, UTF-8, a header line naming the columns of
    :data:`POPULATION_COLUMNS`, ``ins`` required): every bad line is reported at once (line, column, reason), and
    nothing is read if one is bad."""
    if text.startswith("\ufeff"):
        text = text[1:]
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") >= first.count(",") else ","
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    if "ins" not in header:
        raise ValidationError("fichier de population : la ligne d'en-tête doit nommer la colonne « ins » (colonnes : "
                              + ", ".join(POPULATION_COLUMNS) + ")", field="population")  # fmt: skip
    unknown = [h for h in header if h not in POPULATION_COLUMNS]
    if unknown:
        raise ValidationError(f"fichier de population : colonnes inconnues {', '.join(unknown)} (colonnes : "
                              + ", ".join(POPULATION_COLUMNS) + ")", field="population")  # fmt: skip
    reader.fieldnames = header
    people: list[PersonIn] = []
    problems: list[str] = []
    seen: dict[str, int] = {}
    for number, raw in enumerate(reader, start=2):
        values = {k: (v or "").strip() for k, v in raw.items() if isinstance(k, str)}
        if not any(values.values()):
            continue
        try:
            ins = parse_matricule(values.get("ins", "")).value
        except ValidationError as exc:
            problems.append(f"ligne {number}, ins : {exc.message}")
            continue
        if ins in seen:
            problems.append(f"ligne {number}, ins : {ins} figure déjà ligne {seen[ins]}")
            continue
        seen[ins] = number
        contact = ContactIn(email=values.get("email") or None, phone=values.get("telephone") or None,
                            address_line=values.get("adresse") or None,
                            address_complement=values.get("complement") or None,
                            postal_code=values.get("code_postal") or None, city=values.get("ville") or None,
                            country=values.get("pays") or None)  # fmt: skip
        problems += [f"ligne {number}, {p}" for p in contact.problems()]
        people.append(PersonIn(ins=ins, contact=contact, line=number))
    if problems:
        raise ValidationError(f"fichier de population refusé ({len(problems)} erreur(s), rien n'a été enregistré) :\n"
                              + "\n".join(problems), field="population")  # fmt: skip
    if not people:
        raise ValidationError("fichier de population vide : aucune personne", field="population")
    return people


@dataclass(frozen=True, slots=True)
class CampaignCreated:
    id: str
    name: str
    included: int
    skipped: tuple[tuple[str, str], ...]  # (INS or patient, why)


def _why_not(uow: UnitOfWork, patient: PatientRow) -> str | None:
    if patient.merged_into_id:
        return "dossier fusionné dans un autre"
    member = SpaceRepository(uow.session).member_of(patient.id)
    if member is not None:
        return f"déjà dans la campagne {member.campaign_id}"
    profile = uow.access.profile(patient.id)
    if profile is not None and profile.space_status in (SpaceStatus.CLOSED.value, SpaceStatus.OPPOSED.value):
        return "espace fermé ou création refusée par la personne : jamais réinclus"
    return None


def _qualified_not_included(uow: UnitOfWork) -> list[PatientRow]:
    members = select(MemberRow.patient_id)
    refused = select(AccessProfileRow.patient_id).where(
        AccessProfileRow.space_status.in_([SpaceStatus.CLOSED.value, SpaceStatus.OPPOSED.value]))  # fmt: skip
    stmt = (
        select(PatientRow)
        .where(PatientRow.status == IdentityStatus.QUAL.value, PatientRow.merged_into_id.is_(None),
               PatientRow.id.not_in(members), PatientRow.id.not_in(refused))
        .order_by(PatientRow.birth_name, PatientRow.id)
    )  # fmt: skip
    return list(uow.session.scalars(stmt))


def create_campaign(*, uow: UnitOfWork, actor: Actor, name: str, population: list[PersonIn] | None = None,
                    all_qualified: bool = False, source: str | None = None) -> CampaignCreated:  # fmt: skip
    """A campaign for ``population`` (from a file) or every qualified identity not yet included; each included
    person's space becomes PENDING (traced in their trail), the contact details of the file are kept."""
    name = " ".join(name.split())
    if not name or len(name) > 200:
        raise ValidationError("nom de campagne obligatoire (200 caractères au plus)", field="name")
    if (population is None) == (not all_qualified):
        raise ValidationError("indiquer la population (un fichier) ou toutes les identités qualifiées, pas les deux",
                              field="population")  # fmt: skip
    now = uow.clock.now()
    campaign = CampaignRow(name=name, population="all_qualified" if all_qualified else "file",
                           source=(source or "")[:255] or None, opposition_days=OPPOSITION_DAYS,
                           created_by=actor.id[:64], created_at=now, updated_at=now)  # fmt: skip
    space = SpaceRepository(uow.session)
    space.add(campaign)
    uow.flush()
    skipped: list[tuple[str, str]] = []
    chosen: list[tuple[PatientRow, PersonIn | None]] = []
    if all_qualified:
        chosen = [(p, None) for p in _qualified_not_included(uow)]
    else:
        for given in population or []:
            row = uow.patients.by_ins(given.ins)
            why = "INS inconnu de l'index des patients" if row is None else _why_not(uow, row)
            if why is not None:
                skipped.append((given.ins, why))
            elif row is not None:
                chosen.append((row, given))
    for patient, person in chosen:
        space.add(MemberRow(campaign_id=campaign.id, patient_id=patient.id, status="to_inform", created_at=now,
                            updated_at=now))  # fmt: skip
        access.set_space_status(uow=uow, actor=actor, patient_id=patient.id, status=SpaceStatus.PENDING)
        fields: list[str] = []
        if person is not None and not person.contact.empty:
            fields = store_contact(uow, patient.id, "holder", person.contact)
        audit.record(uow=uow, actor=actor, action="space.campaign_member", patient_id=patient.id,
                     detail={"campaign": campaign.id, "contact": fields})  # fmt: skip
    audit.record(uow=uow, actor=actor, action="space.campaign_create", patient_id=None,
                 detail={"campaign": campaign.id, "included": len(chosen), "skipped": len(skipped),
                         "population": campaign.population})  # fmt: skip
    uow.flush()
    return CampaignCreated(id=campaign.id, name=name, included=len(chosen), skipped=tuple(skipped))


# --- informing ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RunReport:
    informed: int = 0  # people informed in this run
    emails: int = 0
    letters: int = 0
    unreachable: int = 0  # members nobody could be told about (no address): tried again at the next run
    already_informed: int = 0  # members informed by an earlier run (never again)


def _information(patient: PatientRow, person: Recipient, *, code: str, opens_on: dt.date, portal: str) -> list[str]:
    whose = "vous" if person.kind == "holder" else holder_name(patient)
    last = french_date(opens_on - dt.timedelta(days=1))
    return [
        f"Un espace numérique de santé, « Mon espace santé », va être créé pour {whose}. Il conserve les documents de "
        "santé (comptes rendus, ordonnances, résultats d'examens), permet d'échanger en toute sécurité avec les "
        "professionnels de santé et de choisir qui peut y accéder.",
        f"Sans opposition, il sera ouvert le {french_date(opens_on)}. Vous pouvez vous opposer à sa création "
        f"jusqu'au {last} inclus : sur {portal}/espace/gestion (connexion avec FranceConnect), ou à l'accueil de "
        "votre caisse d'assurance maladie avec ce message et le code d'opposition ci-dessous.",
        "Une fois l'espace ouvert, il peut être fermé à tout moment.",
    ]


def _letter(patient: PatientRow, person: Recipient, paragraphs: list[str], code: str, now: dt.datetime) -> Letter:
    subject = ("Objet : création de votre espace santé" if person.kind == "holder"
               else f"Objet : création de l'espace santé de {holder_name(patient)}")  # fmt: skip
    return Letter(sender=SENDER, recipient=(person.name, *person.address), place_and_date=letter_date(now),
                  subject=subject, paragraphs=("Madame, Monsieur,", *paragraphs),
                  highlight=f"Code d'opposition : {code}",
                  closing=("Nous vous prions d'agréer, Madame, Monsieur, nos salutations distinguées.",
                           "Le service Mon espace santé"))  # fmt: skip


def _inform_member(uow: UnitOfWork, member: MemberRow, portal: str) -> tuple[int, int] | str:
    """Inform one member; (e-mails, letters) sent, or why nobody could be informed."""
    patient = uow.patients.get(member.patient_id)
    if patient is None:
        return "dossier introuvable"
    facts = access.facts_for(uow, patient)
    to = recipients(uow, patient, minor=facts.is_minor, protected=facts.protected_adult)
    reachable = [r for r in to if r.channel is not None]
    if not reachable:
        return ("mineur sans représentant légal joignable (ni courriel ni adresse postale)" if facts.is_minor
                else "ni courriel ni adresse postale connus")  # fmt: skip
    now = uow.clock.now()
    code = new_code()
    opens_on = local_today(uow) + dt.timedelta(days=OPPOSITION_DAYS)
    member.status, member.code_sha256, member.informed_at = "informed", code_digest(code), now
    member.opens_on, member.unreachable, member.updated_at = opens_on, None, now
    title = "Création de votre espace santé" if not facts.is_minor else "Création de l'espace santé de votre enfant"
    paragraphs = {r.id: _information(patient, r, code=code, opens_on=opens_on, portal=portal) for r in reachable}
    holder_text = " ".join(_information(patient, Recipient("holder", patient.id, "", None, ()), code=code,
                                        opens_on=opens_on, portal=portal))  # fmt: skip
    note = space_notification(uow, patient.id, title=title, body=holder_text, detail={"event": "campaign"})
    sent = inform(uow, patient=patient, kind="campaign", to=reachable, title=title, member_id=member.id,
                  notification_id=note,
                  body=lambda r: "\n\n".join(paragraphs[r.id]) + f"\n\nCode d'opposition : {code}",
                  letter=lambda r: _letter(patient, r, paragraphs[r.id], code, now))  # fmt: skip
    emails = sum(1 for n in sent if n.channel == "email")
    audit.record(uow=uow, actor=CAMPAIGN_ACTOR, action="space.inform", patient_id=patient.id,
                 detail={"campaign": member.campaign_id, "emails": emails, "letters": len(sent) - emails,
                         "recipients": [n.recipient_kind for n in sent], "opens_on": opens_on.isoformat()})  # fmt: skip
    return emails, len(sent) - emails


def run_campaign(*, platform: Platform, campaign_id: str, limit: int | None = None) -> RunReport:
    """Inform every member not yet informed, one transaction each (resumable; nobody informed twice)."""
    with platform.uow() as uow:
        space = SpaceRepository(uow.session)
        if space.campaign(campaign_id) is None:
            raise NotFound(f"campagne {campaign_id} introuvable", field="campaign")
        todo = space.member_ids(campaign_id, "to_inform")
        counts = space.counts(campaign_id)
    if limit is not None:
        todo = todo[:limit]
    already = sum(n for status, n in counts.items() if status != "to_inform")
    informed = emails = letters = unreachable = 0
    portal = platform.settings.public_url.rstrip("/")
    for member_id in todo:
        with platform.uow() as uow:
            member = SpaceRepository(uow.session).locked_member(member_id, "to_inform")
            if member is None:  # informed meanwhile by another run, or opposed before being informed
                continue
            outcome = _inform_member(uow, member, portal)
            if isinstance(outcome, str):
                member.unreachable = outcome[:200]
                unreachable += 1
            else:
                informed, emails, letters = informed + 1, emails + outcome[0], letters + outcome[1]
            uow.commit()
    with platform.uow() as uow:
        campaign = SpaceRepository(uow.session).campaign(campaign_id)
        assert campaign is not None
        campaign.last_run_at = campaign.updated_at = uow.clock.now()
        audit.record(uow=uow, actor=CAMPAIGN_ACTOR, action="space.campaign_run", patient_id=None,
                     detail={"campaign": campaign_id, "informed": informed, "emails": emails, "letters": letters,
                             "unreachable": unreachable, "already_informed": already})  # fmt: skip
        uow.commit()
    return RunReport(informed=informed, emails=emails, letters=letters, unreachable=unreachable,
                     already_informed=already)  # fmt: skip


@dataclass(frozen=True, slots=True)
class CampaignStatus:
    id: str
    name: str
    created_at: dt.datetime
    last_run_at: dt.datetime | None
    members: int
    to_inform: int
    unreachable: int
    informed: int  # informed, within their six weeks
    opened: int
    opposed: int
    emails: int
    letters: int
    next_opening: dt.date | None


def campaign_status(*, uow: UnitOfWork, campaign_id: str) -> CampaignStatus:
    """Where a campaign stands (counts only: nobody's data)."""
    space = SpaceRepository(uow.session)
    campaign = space.campaign(campaign_id)
    if campaign is None:
        raise NotFound(f"campagne {campaign_id} introuvable", field="campaign")
    counts = space.counts(campaign_id)
    channels = space.channel_counts(campaign_id)
    return CampaignStatus(id=campaign.id, name=campaign.name, created_at=campaign.created_at,
                          last_run_at=campaign.last_run_at, members=sum(counts.values()),
                          to_inform=counts.get("to_inform", 0), unreachable=space.unreachable_count(campaign_id),
                          informed=counts.get("informed", 0), opened=counts.get("opened", 0),
                          opposed=counts.get("opposed", 0), emails=channels.get("email", 0),
                          letters=channels.get("post", 0), next_opening=space.next_opening(campaign_id))  # fmt: skip


def list_campaigns(*, uow: UnitOfWork) -> list[CampaignStatus]:
    """Every campaign, oldest first, with its counts."""
    return [campaign_status(uow=uow, campaign_id=c.id) for c in SpaceRepository(uow.session).campaigns()]


# --- opening at the end of the six weeks --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OpenReport:
    opened: int = 0


def open_due(*, platform: Platform, limit: int = 10_000) -> OpenReport:
    """Open every space whose six weeks ended without opposition (today on or after ``opens_on``); one
    transaction each, so a run stopped half-way is finished by the next and a second run opens nothing more."""
    with platform.uow() as uow:
        due = SpaceRepository(uow.session).due_member_ids(local_today(uow), limit)
    opened = 0
    for member_id in due:
        with platform.uow() as uow:
            member = SpaceRepository(uow.session).locked_member(member_id, "informed")
            today = local_today(uow)
            if member is None or member.opens_on is None or member.opens_on > today:
                continue
            profile = uow.access.profile(member.patient_id)
            status = SpaceStatus(profile.space_status) if profile is not None else SpaceStatus.OPEN
            now = uow.clock.now()
            if status == SpaceStatus.OPPOSED:  # opposed through access directly: never opened
                member.status, member.opposed_at, member.updated_at = "opposed", member.opposed_at or now, now
                uow.commit()
                continue
            if status == SpaceStatus.PENDING:
                access.set_space_status(uow=uow, actor=OPEN_ACTOR, patient_id=member.patient_id,
                                        status=SpaceStatus.OPEN)  # fmt: skip
            member.status, member.opened_at, member.updated_at = "opened", now, now
            audit.record(uow=uow, actor=OPEN_ACTOR, action="space.open", patient_id=member.patient_id,
                         detail={"campaign": member.campaign_id, "informed_at": member.informed_at,
                                 "opens_on": member.opens_on.isoformat()})  # fmt: skip
            space_notification(uow, member.patient_id, title="Votre espace santé est ouvert",
                               body=f"Votre espace santé est ouvert depuis le {french_date(today)}, sans opposition "
                               "dans les six semaines qui ont suivi votre information. Vous pouvez le fermer à tout "
                               "moment depuis « Gérer mon espace ».", detail={"event": "opened"})  # fmt: skip
            uow.commit()
            opened += 1
    return OpenReport(opened=opened)


# --- letters for post ----------------------------------------------------------------------------------------------


def export_letters(*, platform: Platform, output_dir: Path, campaign_id: str | None = None) -> list[Path]:
    """Write every letter not yet handed to the printer as ``<date>_<notice>.pdf`` in ``output_dir`` and mark it
    handed (each traced in its person's trail); a run stopped half-way writes the rest next time, and two runs at
    once write each letter once (each letter is claimed first: :meth:`SpaceRepository.claimed_letter`)."""
    output_dir.mkdir(parents=True, exist_ok=True)
    with platform.uow() as uow:
        ids = [n.id for n in SpaceRepository(uow.session).letters_to_export(campaign_id)]
    written: list[Path] = []
    for notice_id in ids:
        with platform.uow() as uow:
            notice = SpaceRepository(uow.session).claimed_letter(notice_id, uow.clock.now())
            if notice is None or notice.sha256 is None:  # handed out meanwhile, by another run at the same time
                continue
            path = output_dir / f"{notice.created_at.date().isoformat()}_{notice.kind}_{notice.id}.pdf"
            path.write_bytes(uow.blobs.get(notice.sha256))
            audit.record(uow=uow, actor=CAMPAIGN_ACTOR, action="space.letters_export", patient_id=notice.patient_id,
                         detail={"notice": notice.id, "kind": notice.kind, "file": path.name})  # fmt: skip
            uow.commit()
            written.append(path)
    return written

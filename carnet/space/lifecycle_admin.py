"""The space's administrative data, its holder's contact details, legal representatives and protection measures,
and the passing of the space to its holder at majority or at the end of a protection measure.

Administrative data (DESIGN.md, "Space (ENS) — its content"): names, sex, birth date and place, INS come from the
identity (:mod:`carnet.identity`); the contact details (e-mail, phone, postal address) are kept here
(``space_contacts``); the médecin traitant is an access setting (:mod:`carnet.access`); the legal representatives
are the access's (``representatives``), with their name and contact details kept here. Reading them and changing
the contact details is decided like managing the space (MANAGE_CONSENT: the holder, a representative while they act
for the holder, the platform) and traced.

Minors and protected adults: the access decision already refuses a representative once the holder is of age and not
protected (``representative_after_majority``). :func:`majority_due` makes it explicit: on the 18th birthday (the
injected clock, French legal day) the representatives' access ends (their rows are ended), the transfer is recorded
(``space_transfers``), traced, and notified to the holder and the former representatives; a protection measure
reaching its end date does the same (:func:`end_protection`).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

from sqlalchemy import select

from carnet.access import service as access
from carnet.access.model import Action, Actor, ActorKind, AuthMethod, SpaceStatus
from carnet.access.store import AccessProfileRow, RepresentativeRow
from carnet.audit import service as audit
from carnet.clock import MAJORITY_AGE, age_on
from carnet.errors import Conflict, Forbidden, NotFound, ValidationError
from carnet.identity.status import IdentityStatus
from carnet.identity.store import PatientRow
from carnet.space import lifecycle
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
from carnet.space.store import ContactRow, ProtectionRow, SpaceRepository, TransferRow

if TYPE_CHECKING:
    from carnet.bootstrap import Platform
    from carnet.storage.uow import UnitOfWork

__all__ = [
    "MAJORITY_ACTOR",
    "AdministrativeData",
    "ContactIn",
    "Representative",
    "TransferReport",
    "add_representative",
    "administrative_data",
    "end_protection",
    "majority_due",
    "set_protection",
    "store_contact",
    "update_contact",
]

MAJORITY_ACTOR = Actor(kind=ActorKind.SYSTEM, id="space-majority", auth_method=AuthMethod.SYSTEM,
                       name="passage de l'espace à son titulaire")  # fmt: skip
_EMAIL = re.compile(r"^[^@\s<>()\[\],;:\"]{1,64}@[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9-]{1,63})+$")
_PHONE_FR = re.compile(r"^0[1-9]\d{8}$")
_PHONE_INTL = re.compile(r"^\+[1-9]\d{7,14}$")
_POSTCODE_FR = re.compile(r"^(?:\d{5})$")


# --- contact details ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ContactIn:
    """Contact details as given (None or empty: not known). ``problems()`` says what is wrong, field by field."""

    email: str | None = None
    phone: str | None = None
    address_line: str | None = None
    address_complement: str | None = None
    postal_code: str | None = None
    city: str | None = None
    country: str | None = None

    @property
    def empty(self) -> bool:
        return not any((getattr(self, f.name) or "").strip() for f in fields(self))

    def cleaned(self) -> ContactIn:
        """Blank parts as None, spaces collapsed, the e-mail in lower case, the phone without separators."""
        values = {f.name: " ".join((getattr(self, f.name) or "").split()) or None for f in fields(self)}
        if values["email"]:
            values["email"] = values["email"].lower()
        if values["phone"]:
            phone = re.sub(r"[\s.\-()]", "", values["phone"])
            values["phone"] = "+" + phone[2:] if phone.startswith("00") else phone
        return ContactIn(**values)

    def problems(self) -> list[str]:
        """Every problem of the details, « champ : raison »."""
        c = self.cleaned()
        out: list[str] = []
        if c.email and (len(c.email) > 254 or not _EMAIL.match(c.email)):
            out.append(f"email : adresse électronique invalide « {c.email} »")
        if c.phone and not (_PHONE_FR.match(c.phone) or _PHONE_INTL.match(c.phone)):
            out.append(f"telephone : numéro invalide « {c.phone} » (10 chiffres commençant par 0, ou +33…)")
        france = not c.country or c.country.lower() == "france"
        if c.postal_code and france and not _POSTCODE_FR.match(c.postal_code):
            out.append(f"code_postal : 5 chiffres attendus, « {c.postal_code} » reçu")
        if c.postal_code and not france and not re.fullmatch(r"[A-Za-z0-9 -]{2,10}", c.postal_code):
            out.append(f"code_postal : code postal invalide « {c.postal_code} »")
        parts = [c.address_line, c.postal_code, c.city]
        if any(parts) and not all(parts):
            out.append("adresse : une adresse postale a une voie, un code postal et une ville")
        if c.address_complement and not c.address_line:
            out.append("complement : un complément d'adresse accompagne une adresse")
        for name, limit in (("address_line", 200), ("address_complement", 200), ("city", 100), ("country", 60)):
            value = getattr(c, name)
            if value and len(value) > limit:
                out.append(f"{name} : {limit} caractères au plus")
        return out


_CONTACT_FIELDS = ("email", "phone", "address_line", "address_complement", "postal_code", "city", "country")


def store_contact(uow: UnitOfWork, party_id: str, party_kind: str, contact: ContactIn,
                  name: str | None = None) -> list[str]:  # fmt: skip
    """Write the contact details of a holder or a representative (validated); returns the names of the fields that
    changed (what the trail records: never the values)."""
    problems = contact.problems()
    if problems:
        raise ValidationError("coordonnées refusées : " + " ; ".join(problems), field=problems[0].split(" ")[0])
    clean = contact.cleaned()
    space = SpaceRepository(uow.session)
    row = space.contact(party_id)
    now = uow.clock.now()
    if row is None:
        row = ContactRow(party_id=party_id, party_kind=party_kind, created_at=now, updated_at=now)
        space.add(row)
    changed = [f for f in _CONTACT_FIELDS if getattr(row, f) != getattr(clean, f)]
    for f in changed:
        setattr(row, f, getattr(clean, f))
    if name is not None and row.display_name != (" ".join(name.split()) or None):
        row.display_name = " ".join(name.split())[:200] or None
        changed.append("display_name")
    row.updated_at = now
    uow.flush()
    return changed


# --- reading the administrative data -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Representative:
    id: str
    role: str
    name: str | None
    email: str | None
    since: dt.datetime


@dataclass(frozen=True, slots=True)
class AdministrativeData:
    """What the space says of its holder (DESIGN.md: the holder's administrative data) and where it stands."""

    patient_id: str
    birth_name: str
    used_name: str | None
    first_name: str
    birth_first_names: str
    used_first_name: str | None
    sex: str
    birth_date: dt.date
    birth_place: str  # INSEE code of the commune (or 99xxx: the country)
    ins: str | None  # the matricule, shown once the identity is qualified
    ins_oid: str | None
    identity_status: IdentityStatus
    contact: ContactIn
    medecin_traitant: tuple[str, str] | None  # (RPPS, name as the directory has it)
    representatives: tuple[Representative, ...]
    minor: bool
    protection: str | None  # the measure in force
    protection_ends_on: dt.date | None
    space: lifecycle.SpaceState


def _patient(uow: UnitOfWork, patient_id: str) -> PatientRow:
    row = uow.patients.get(patient_id)
    if row is None or row.merged_into_id:
        raise NotFound(f"patient {patient_id} introuvable", field="patient")
    return row


def _contact_of(uow: UnitOfWork, party_id: str) -> ContactIn:
    row = SpaceRepository(uow.session).contact(party_id)
    if row is None:
        return ContactIn()
    return ContactIn(**{f: getattr(row, f) for f in _CONTACT_FIELDS})


def _traitant(uow: UnitOfWork, patient_id: str) -> tuple[str, str] | None:
    profile = uow.access.profile(patient_id)
    if profile is None or not profile.medecin_traitant_id:
        return None
    pro = uow.directory.professional(profile.medecin_traitant_id)
    name = " ".join(p for p in (pro.given_name, pro.family_name.upper()) if p) if pro else profile.medecin_traitant_id
    return profile.medecin_traitant_id, name


def administrative_data(*, uow: UnitOfWork, actor: Actor, patient_id: str,
                        retention_years: int = lifecycle.DEFAULT_RETENTION_YEARS) -> AdministrativeData:  # fmt: skip
    """The holder's administrative data and the state of the space, for the holder, a representative acting for them
    or the platform (decided as managing the space; the reading is traced)."""
    patient = _patient(uow, patient_id)
    granted = access.enforce(uow=uow, actor=actor, action=Action.MANAGE_CONSENT, patient=patient,
                             trace="space.admin_read")  # fmt: skip
    facts = access.facts_for(uow, patient)
    space = SpaceRepository(uow.session)
    reps = []
    for row in uow.access.representatives(patient.id):
        contact = space.contact(row.representative_id)
        reps.append(Representative(id=row.representative_id, role=row.role,
                                   name=contact.display_name if contact else None,
                                   email=contact.email if contact else None, since=row.created_at))  # fmt: skip
    protection = space.protection(patient.id)
    qualified = patient.status == IdentityStatus.QUAL.value
    audit.record(uow=uow, actor=actor, action="space.admin_read", patient_id=patient.id, **granted.audit_kwargs())
    return AdministrativeData(
        patient_id=patient.id, birth_name=patient.birth_name, used_name=patient.used_name,
        first_name=patient.first_name, birth_first_names=patient.birth_first_names,
        used_first_name=patient.used_first_name, sex=patient.sex, birth_date=patient.birth_date,
        birth_place=patient.birth_place, ins=patient.ins_matricule if qualified else None,
        ins_oid=patient.ins_oid if qualified else None, identity_status=IdentityStatus(patient.status),
        contact=_contact_of(uow, patient.id), medecin_traitant=_traitant(uow, patient.id),
        representatives=tuple(reps), minor=facts.is_minor,
        protection=protection.measure if protection else None,
        protection_ends_on=protection.ends_on if protection else None,
        space=lifecycle.state(uow, patient.id, retention_years=retention_years),
    )  # fmt: skip


def update_contact(*, uow: UnitOfWork, actor: Actor, patient_id: str, contact: ContactIn) -> list[str]:
    """The holder (or a representative acting for them, or the platform) updates the holder's contact details;
    every problem is said at once and nothing is stored; returns the fields changed (traced by name only)."""
    patient = _patient(uow, patient_id)
    granted = access.enforce(uow=uow, actor=actor, action=Action.MANAGE_CONSENT, patient=patient,
                             trace="space.contact_update")  # fmt: skip
    changed = store_contact(uow, patient.id, "holder", contact)
    audit.record(uow=uow, actor=actor, action="space.contact_update", patient_id=patient.id,
                 detail={"fields": changed}, **granted.audit_kwargs())  # fmt: skip
    return changed


def _platform_only(actor: Actor, what: str) -> None:
    if actor.kind not in (ActorKind.SYSTEM, ActorKind.OPERATOR):
        raise Forbidden(f"{what} : enregistré par la plateforme (données de l'assurance maladie ou du tribunal)")


def add_representative(*, uow: UnitOfWork, actor: Actor, patient_id: str, representative_id: str, role: str,
                       name: str | None = None, contact: ContactIn | None = None) -> None:  # fmt: skip
    """The platform records a legal representative (:func:`carnet.access.service.add_representative`) with their
    name and contact details (to inform them: the campaign, the majority)."""
    _platform_only(actor, "un représentant légal")
    representative_id = representative_id.strip()
    if not representative_id or len(representative_id) > 64:
        raise ValidationError("identifiant du représentant légal : 1 à 64 caractères", field="representative")
    if role not in ("parent", "tuteur", "curateur", "habilitation_familiale", "mandataire"):
        raise ValidationError("rôle : parent, tuteur, curateur, habilitation_familiale ou mandataire", field="role")
    if any(r.representative_id == representative_id for r in uow.access.representatives(patient_id)):
        raise Conflict("ce représentant légal est déjà enregistré pour ce titulaire", field="representative")
    access.add_representative(uow=uow, actor=actor, patient_id=patient_id, representative_id=representative_id,
                              role=role)  # fmt: skip
    changed = store_contact(uow, representative_id, "representative", contact or ContactIn(), name=name)
    audit.record(uow=uow, actor=actor, action="space.representative_contact", patient_id=patient_id,
                 detail={"representative": representative_id, "fields": changed})  # fmt: skip


def set_protection(*, uow: UnitOfWork, actor: Actor, patient_id: str, measure: str,
                   ends_on: dt.date | None = None) -> None:  # fmt: skip
    """The platform records a protection measure of an adult (from the court's decision): the representatives keep
    acting for the holder until ``ends_on`` (None: until it is lifted)."""
    _platform_only(actor, "une mesure de protection")
    patient = _patient(uow, patient_id)
    measure = " ".join(measure.split())
    if not measure or len(measure) > 40:
        raise ValidationError("mesure de protection : tutelle, curatelle, habilitation familiale… (40 caractères au "
                              "plus)", field="measure")  # fmt: skip
    today = lifecycle.local_today(uow)
    if ends_on is not None and ends_on <= today:
        raise ValidationError("la fin de la mesure doit être future", field="ends_on")
    now = uow.clock.now()
    space = SpaceRepository(uow.session)
    current = space.protection(patient.id)
    if current is not None:
        current.ended_at, current.updated_at = now, now  # replaced by the new decision
    space.add(ProtectionRow(patient_id=patient.id, measure=measure, starts_on=today, ends_on=ends_on,
                            created_at=now, updated_at=now))  # fmt: skip
    _profile(uow, patient.id).protected_adult = True
    audit.record(uow=uow, actor=actor, action="space.protection", patient_id=patient.id,
                 detail={"measure": measure, "ends_on": ends_on.isoformat() if ends_on else None})  # fmt: skip
    uow.flush()


def _profile(uow: UnitOfWork, patient_id: str) -> AccessProfileRow:
    profile = uow.access.profile(patient_id)
    if profile is None:
        now = uow.clock.now()
        profile = AccessProfileRow(patient_id=patient_id, space_status=SpaceStatus.OPEN.value, emergency_refused=False,
                                   protected_adult=False, created_at=now, updated_at=now)  # fmt: skip
        uow.access.add(profile)
    profile.updated_at = uow.clock.now()
    return profile


# --- the space passes to its holder ------------------------------------------------------------------------------


def _transfer_texts(patient: PatientRow, reason: str, today: dt.date) -> tuple[str, str, str]:
    """(title, text for the holder, text for a former representative)."""
    why = "de sa majorité" if reason == "majority" else "de la fin de sa mesure de protection"
    title = "Votre espace santé vous est confié"
    holder = (f"Depuis le {french_date(today)}, à la suite {why.replace('sa ', 'votre ')}, vous gérez seul(e) votre "
              "espace santé : vos représentants légaux n'y ont plus accès. Connectez-vous avec FranceConnect pour y "
              "accéder et choisir qui peut consulter vos documents.")  # fmt: skip
    former = (f"Depuis le {french_date(today)}, à la suite {why}, {holder_name(patient)} gère seul(e) son espace "
              "santé : vous n'y avez plus accès en tant que représentant légal.")  # fmt: skip
    return title, holder, former


def _transfer(uow: UnitOfWork, patient: PatientRow, reason: str, actor: Actor) -> list[str]:
    """End the representatives' access, record, trace and notify the transfer; returns the representatives."""
    now = uow.clock.now()
    rows: list[RepresentativeRow] = uow.access.representatives(patient.id)
    for row in rows:
        row.ended_at, row.updated_at = now, now
    ended = [r.representative_id for r in rows]
    SpaceRepository(uow.session).add(TransferRow(patient_id=patient.id, reason=reason, at=now,
                                                 representatives=ended))  # fmt: skip
    audit.record(uow=uow, actor=actor, action="space.majority" if reason == "majority" else "space.protection_end",
                 patient_id=patient.id, detail={"representatives": ended})  # fmt: skip
    today = lifecycle.local_today(uow)
    title, holder_text, former_text = _transfer_texts(patient, reason, today)
    note = space_notification(uow, patient.id, title=title, body=holder_text, detail={"event": reason})
    to = recipients(uow, patient, minor=False, protected=False, representatives=ended)

    def body(person: Recipient) -> str:
        return holder_text if person.kind == "holder" else former_text

    def letter(person: Recipient) -> Letter:
        return Letter(sender=SENDER, recipient=(person.name, *person.address), place_and_date=letter_date(now),
                      subject="Objet : " + ("votre espace santé vous est confié" if person.kind == "holder"
                                            else f"espace santé de {holder_name(patient)}"),
                      paragraphs=("Madame, Monsieur,", body(person)),
                      closing=("Nous vous prions d'agréer, Madame, Monsieur, nos salutations distinguées.",
                               "Le service Mon espace santé"))  # fmt: skip

    inform(uow, patient=patient, kind=reason, to=to, title=title, body=body, letter=letter, notification_id=note)
    uow.flush()
    return ended


def end_protection(*, uow: UnitOfWork, actor: Actor, patient_id: str) -> list[str]:
    """The protection measure ends (lifted by the court, or its end date reached): the space passes to the adult
    holder (representatives' access ended, recorded, traced, notified); returns the former representatives."""
    _platform_only(actor, "la fin d'une mesure de protection")
    patient = _patient(uow, patient_id)
    space = SpaceRepository(uow.session)
    current = space.protection(patient.id)
    profile = uow.access.profile(patient.id)
    if current is None and (profile is None or not profile.protected_adult):
        raise Conflict("aucune mesure de protection en cours pour ce titulaire", field="protection")
    now = uow.clock.now()
    if current is not None:
        current.ended_at, current.updated_at = now, now
    _profile(uow, patient.id).protected_adult = False
    if age_on(patient.birth_date, lifecycle.local_today(uow)) < MAJORITY_AGE:  # a minor: the parents stay
        audit.record(uow=uow, actor=actor, action="space.protection_end", patient_id=patient.id,
                     detail={"representatives": [], "minor": True})  # fmt: skip
        return []
    return _transfer(uow, patient, "protection_end", actor)


@dataclass(frozen=True, slots=True)
class TransferReport:
    majorities: int = 0  # spaces passed to their holder at 18
    protections_ended: int = 0
    representatives: int = 0  # representatives whose access ended


def _of_age_with_representatives(uow: UnitOfWork, today: dt.date, limit: int) -> list[str]:
    born_by = lifecycle.years_after(today, -MAJORITY_AGE)
    protected = select(AccessProfileRow.patient_id).where(AccessProfileRow.protected_adult.is_(True))
    stmt = (
        select(RepresentativeRow.patient_id)
        .join(PatientRow, PatientRow.id == RepresentativeRow.patient_id)
        .where(RepresentativeRow.ended_at.is_(None), PatientRow.birth_date <= born_by,
               PatientRow.merged_into_id.is_(None), RepresentativeRow.patient_id.not_in(protected))
        .distinct()
        .limit(limit)
    )  # fmt: skip
    return sorted(uow.session.scalars(stmt))


def majority_due(*, platform: Platform, limit: int = 10_000) -> TransferReport:
    """The daily job: every holder who is 18 today or was before (and not protected) takes their space over from
    their representatives; every protection measure whose end date came ends. One transaction per person;
    idempotent (a space already passed has no representative left) and resumable."""
    majorities = ended = representatives = 0
    with platform.uow() as uow:
        today = lifecycle.local_today(uow)
        adults = _of_age_with_representatives(uow, today, limit)
        ending = SpaceRepository(uow.session).protections_ending(today, limit)
    for patient_id in ending:
        with platform.uow() as uow:
            current = SpaceRepository(uow.session).protection(patient_id)
            if current is None or current.ends_on is None or current.ends_on > lifecycle.local_today(uow):
                continue
            representatives += len(end_protection(uow=uow, actor=MAJORITY_ACTOR, patient_id=patient_id))
            uow.commit()
            ended += 1
    for patient_id in adults:
        with platform.uow() as uow:
            patient = uow.patients.get(patient_id)
            profile = uow.access.profile(patient_id)
            if (patient is None or (profile is not None and profile.protected_adult)
                    or age_on(patient.birth_date, lifecycle.local_today(uow)) < MAJORITY_AGE
                    or not uow.access.representatives(patient_id)):  # fmt: skip
                continue
            representatives += len(_transfer(uow, patient, "majority", MAJORITY_ACTOR))
            uow.commit()
            majorities += 1
    return TransferReport(majorities=majorities, protections_ended=ended, representatives=representatives)

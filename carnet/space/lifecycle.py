"""The life of a holder's space: opposition to its creation, closure, re-opening, and the retention purge.

The state the access decision reads is :class:`carnet.access.model.SpaceStatus` (set only through
:func:`carnet.access.service.set_space_status`, which decides MANAGE_CONSENT and traces ``consent.space_status``);
this module says when each change is allowed, keeps its dates (:mod:`carnet.space.store`) and traces it under its
own action. Dates are French legal days of the injected clock (``uow.clock``).

- **Opposition** (DESIGN.md: "after six weeks without opposition the space is opened"): while the space is being
  created (a campaign member not yet opened) and the six weeks since the information have not ended, the holder or
  their representative (portal, API) or the front desk with the letter's code sets ``OPPOSED``; the space is then
  never opened by the campaign. After the six weeks, the holder may close the space instead.
- **Closure**: the holder closes an open space; the documents are kept for the retention period (setting
  ``CARNET_SPACE_RETENTION_YEARS``, ten years by default), during which re-opening restores everything as it was.
- **Purge** (:func:`purge_due`, ``carnet space purge-due``): past the retention period the record's documents are
  deleted logically (:func:`carnet.record.service.purge`, traced one by one) and the rest of the space's content
  removed (:mod:`carnet.space.lifecycle_purge`: profile, agenda, reimbursements, authorisations, notifications…;
  what is kept and why is its inventory), in one transaction per space traced ``space.purge`` with the counts per
  kind; then the documents' contents are removed from the blob store unless another row still needs them;
  idempotent and resumable (two phases, each committed per space).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from carnet.access import service as access
from carnet.access.model import Action, Actor, ActorKind, AuthMethod, SpaceStatus
from carnet.audit import service as audit
from carnet.clock import PLATFORM_TZ, local_date
from carnet.errors import Conflict, NotFound, ValidationError
from carnet.space.lifecycle_notice import french_date, space_notification
from carnet.space.store import ClosureRow, MemberRow, SpaceRepository, contents_referenced

if TYPE_CHECKING:
    from carnet.bootstrap import Platform
    from carnet.identity.store import PatientRow
    from carnet.storage.uow import UnitOfWork

__all__ = [
    "DEFAULT_RETENTION_YEARS",
    "OPPOSITION_DAYS",
    "PURGE_ACTOR",
    "PurgeReport",
    "SpaceState",
    "close",
    "code_digest",
    "front_desk",
    "local_today",
    "new_code",
    "oppose",
    "oppose_with_code",
    "purge_due",
    "reopen",
    "state",
    "years_after",
]

OPPOSITION_DAYS = 42  # six weeks (DESIGN.md, the décret on the health space)
DEFAULT_RETENTION_YEARS = 10  # documents of a closed space: the DMP's ten years after closure (docs/space.md)
PARIS = PLATFORM_TZ
PURGE_ACTOR = Actor(kind=ActorKind.SYSTEM, id="space-purge", auth_method=AuthMethod.SYSTEM,
                    name="purge des espaces fermés")  # fmt: skip
_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud at a front desk


def local_today(uow: UnitOfWork) -> dt.date:
    """Today in French legal time, from the injected clock (:func:`carnet.clock.local_date`)."""
    return local_date(uow.clock.now())


def years_after(day: dt.date, years: int) -> dt.date:
    """The same day ``years`` later (29 February → 28 February in a common year)."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def new_code() -> str:
    """A fresh opposition code, « K7QF-93XM-2P4A » (60 bits of randomness)."""
    raw = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(12))
    return f"{raw[:4]}-{raw[4:8]}-{raw[8:]}"


def code_digest(code: str) -> str:
    """The stored form of a code: its SHA-256, read case- and separator-insensitively."""
    clean = "".join(c for c in code.upper() if c.isalnum())
    return hashlib.sha256(clean.encode()).hexdigest()


def front_desk(account: str, name: str | None = None) -> Actor:
    """The front desk opposing in a person's name with the letter's code (``carnet space oppose``), traced as the
    platform acting at that desk."""
    return Actor(kind=ActorKind.SYSTEM, id=f"guichet:{account}"[:64], auth_method=AuthMethod.CLI,
                 name=name or f"guichet {account}")  # fmt: skip


@dataclass(frozen=True, slots=True)
class SpaceState:
    """Where a space stands, and what its holder may do now."""

    patient_id: str
    status: SpaceStatus
    campaign_id: str | None = None
    informed_at: dt.datetime | None = None
    opens_on: dt.date | None = None  # being created: the day it opens without opposition
    opposition_open: bool = False  # the holder may still oppose its creation
    opposed_at: dt.datetime | None = None
    opened_at: dt.datetime | None = None
    closed_at: dt.datetime | None = None
    kept_until: dt.date | None = None  # closed: the documents are purged after this day
    purged_at: dt.datetime | None = None

    @property
    def can_close(self) -> bool:
        return self.status == SpaceStatus.OPEN

    @property
    def can_reopen(self) -> bool:
        return self.status in (SpaceStatus.CLOSED, SpaceStatus.OPPOSED)


def _space(uow: UnitOfWork) -> SpaceRepository:
    return SpaceRepository(uow.session)


def _patient(uow: UnitOfWork, patient_id: str) -> PatientRow:
    row = uow.patients.get(patient_id)
    if row is None or row.merged_into_id:
        raise NotFound(f"patient {patient_id} introuvable", field="patient")
    return row


def _status(uow: UnitOfWork, patient_id: str) -> SpaceStatus:
    profile = uow.access.profile(patient_id)
    return SpaceStatus(profile.space_status) if profile is not None else SpaceStatus.OPEN


def _kept_until(closure: ClosureRow, years: int) -> dt.date:
    return years_after(closure.closed_at.astimezone(PARIS).date(), years)


def state(uow: UnitOfWork, patient_id: str, *, retention_years: int = DEFAULT_RETENTION_YEARS) -> SpaceState:
    """The state of the space (no decision, no trace: for the services, after they decided)."""
    status = _status(uow, patient_id)
    space = _space(uow)
    member = space.member_of(patient_id)
    closure = space.open_closure(patient_id) if status == SpaceStatus.CLOSED else None
    today = local_today(uow)
    opposable = (status == SpaceStatus.PENDING and member is not None and member.status in ("to_inform", "informed")
                 and (member.opens_on is None or today < member.opens_on))  # fmt: skip
    return SpaceState(
        patient_id=patient_id,
        status=status,
        campaign_id=member.campaign_id if member else None,
        informed_at=member.informed_at if member else None,
        opens_on=member.opens_on if member and status == SpaceStatus.PENDING else None,
        opposition_open=opposable,
        opposed_at=member.opposed_at if member and status == SpaceStatus.OPPOSED else None,
        opened_at=member.opened_at if member else None,
        closed_at=closure.closed_at if closure else None,
        kept_until=_kept_until(closure, retention_years) if closure else None,
        purged_at=closure.purged_at if closure else None,
    )


def _refuse(uow: UnitOfWork, actor: Actor, patient_id: str, action: str, message: str) -> Conflict:
    """A change the rules refuse now: traced in its own transaction (it survives the rollback), then raised."""
    audit.record_now(uow=uow, actor=actor, action=action, patient_id=patient_id, detail={"reason": message})
    return Conflict(message, field="status")


def _opposition_problem(uow: UnitOfWork, patient_id: str, member: MemberRow | None) -> str | None:
    status = _status(uow, patient_id)
    if status == SpaceStatus.OPPOSED:
        return "l'opposition à la création de cet espace santé est déjà enregistrée"
    if status == SpaceStatus.CLOSED:
        return "cet espace santé est fermé : il n'y a pas de création à laquelle s'opposer"
    if member is None or status == SpaceStatus.OPEN or member.status == "opened":
        return ("cet espace santé est ouvert : le délai d'opposition à sa création est écoulé ; "
                "le titulaire peut le fermer")  # fmt: skip
    if member.opens_on is not None and local_today(uow) >= member.opens_on:
        last = member.opens_on - dt.timedelta(days=1)
        return (f"le délai d'opposition de six semaines a pris fin le {french_date(last)} : l'espace santé s'ouvre ; "
                "le titulaire pourra le fermer")  # fmt: skip
    return None


def oppose(*, uow: UnitOfWork, actor: Actor, patient_id: str, through: str = "portal",
           retention_years: int = DEFAULT_RETENTION_YEARS) -> SpaceState:  # fmt: skip
    """Oppose the creation of the space during the six weeks (the holder, a representative acting for them, the
    front desk): the space is then never opened by its campaign."""
    if through not in ("portal", "api", "front_desk"):
        raise ValidationError("opposition par le portail, l'API ou le guichet", field="through")
    patient = _patient(uow, patient_id)
    granted = access.enforce(uow=uow, actor=actor, action=Action.MANAGE_CONSENT, patient=patient, trace="space.oppose")
    member = _space(uow).member_of(patient.id)
    problem = _opposition_problem(uow, patient.id, member)
    if problem is not None:
        raise _refuse(uow, actor, patient.id, "space.oppose_refused", problem)
    assert member is not None
    access.set_space_status(uow=uow, actor=actor, patient_id=patient.id, status=SpaceStatus.OPPOSED)
    now = uow.clock.now()
    member.status, member.opposed_at, member.updated_at = "opposed", now, now
    member.opposed_by, member.opposed_through = actor.id[:64], through
    audit.record(uow=uow, actor=actor, action="space.oppose", patient_id=patient.id,
                 detail={"campaign": member.campaign_id, "through": through}, **granted.audit_kwargs())  # fmt: skip
    space_notification(uow, patient.id, title="Opposition à la création de votre espace santé enregistrée",
                       body=f"Le {french_date(local_today(uow))}, l'opposition à la création de votre espace santé a "
                       "été enregistrée : il ne sera pas ouvert. Vous pourrez l'ouvrir plus tard si vous changez "
                       "d'avis.", detail={"event": "opposed"})  # fmt: skip
    uow.flush()
    return state(uow, patient.id, retention_years=retention_years)


def oppose_with_code(*, uow: UnitOfWork, desk: Actor, code: str) -> SpaceState:
    """The front desk opposes in the person's name with the code printed on their letter (or e-mail)."""
    if len("".join(c for c in code if c.isalnum())) != 12:
        raise ValidationError("code d'opposition illisible : 12 lettres et chiffres, comme K7QF-93XM-2P4A",
                              field="code")  # fmt: skip
    member = _space(uow).member_by_code(code_digest(code))
    if member is None:
        raise NotFound("code d'opposition inconnu : vérifier le code imprimé sur le courrier", field="code")
    return oppose(uow=uow, actor=desk, patient_id=member.patient_id, through="front_desk")


def close(*, uow: UnitOfWork, actor: Actor, patient_id: str,
          retention_years: int = DEFAULT_RETENTION_YEARS) -> SpaceState:  # fmt: skip
    """The holder (or a representative acting for them) closes the open space: nobody else has access any more,
    nothing can be deposited, the documents are kept for the retention period (then purged)."""
    patient = _patient(uow, patient_id)
    granted = access.enforce(uow=uow, actor=actor, action=Action.MANAGE_CONSENT, patient=patient, trace="space.close")
    status = _status(uow, patient.id)
    if status != SpaceStatus.OPEN:
        message = {
            SpaceStatus.PENDING: "l'espace santé est en cours de création : pendant le délai d'opposition, on "
            "s'oppose à sa création plutôt que de le fermer",
            SpaceStatus.CLOSED: "l'espace santé est déjà fermé",
            SpaceStatus.OPPOSED: "l'espace santé n'a pas été ouvert (opposition à sa création) : rien à fermer",
        }[status]
        raise _refuse(uow, actor, patient.id, "space.close", message)
    access.set_space_status(uow=uow, actor=actor, patient_id=patient.id, status=SpaceStatus.CLOSED)
    now = uow.clock.now()
    closure = ClosureRow(patient_id=patient.id, closed_at=now, closed_by=actor.id[:64], created_at=now, updated_at=now)
    _space(uow).add(closure)
    kept = _kept_until(closure, retention_years)
    audit.record(uow=uow, actor=actor, action="space.close", patient_id=patient.id,
                 detail={"kept_until": kept.isoformat(), "retention_years": retention_years},
                 **granted.audit_kwargs())  # fmt: skip
    space_notification(uow, patient.id, title="Votre espace santé est fermé",
                       body=f"Votre espace santé a été fermé le {french_date(local_today(uow))}. Plus aucun "
                       f"professionnel n'y accède. Vos documents sont conservés jusqu'au {french_date(kept)} ; "
                       "jusque-là, vous pouvez rouvrir votre espace et tout retrouver.",
                       detail={"event": "closed"})  # fmt: skip
    uow.flush()
    return state(uow, patient.id, retention_years=retention_years)


def reopen(*, uow: UnitOfWork, actor: Actor, patient_id: str,
           retention_years: int = DEFAULT_RETENTION_YEARS) -> SpaceState:  # fmt: skip
    """The holder re-opens a closed space (everything kept is back as it was) or opens a space whose creation
    they had opposed."""
    patient = _patient(uow, patient_id)
    granted = access.enforce(uow=uow, actor=actor, action=Action.MANAGE_CONSENT, patient=patient, trace="space.reopen")
    status = _status(uow, patient.id)
    if status not in (SpaceStatus.CLOSED, SpaceStatus.OPPOSED):
        message = ("l'espace santé est en cours de création : il s'ouvrira à la fin du délai d'opposition"
                   if status == SpaceStatus.PENDING else "l'espace santé est déjà ouvert")  # fmt: skip
        raise _refuse(uow, actor, patient.id, "space.reopen", message)
    now = uow.clock.now()
    closure = _space(uow).open_closure(patient.id) if status == SpaceStatus.CLOSED else None
    if closure is not None:  # a purge running now finishes first: the holder is told whether it happened
        closure = _space(uow).locked_closure(closure.id)
    purged = closure is not None and closure.purged_at is not None
    if closure is not None:
        closure.reopened_at, closure.reopened_by, closure.updated_at = now, actor.id[:64], now
    access.set_space_status(uow=uow, actor=actor, patient_id=patient.id, status=SpaceStatus.OPEN)
    audit.record(uow=uow, actor=actor, action="space.reopen", patient_id=patient.id,
                 detail={"from": status.value, "purged": purged}, **granted.audit_kwargs())  # fmt: skip
    body = ("Votre espace santé est de nouveau ouvert."
            + (" Les documents et les données de l'espace fermé (profil de santé, agenda, remboursements, "
               "autorisations, messagerie) ont été supprimés à la fin de leur durée de conservation."
               if purged else " Vous retrouvez tout ce qu'il contenait."))  # fmt: skip
    space_notification(uow, patient.id, title="Votre espace santé est ouvert", body=body, detail={"event": "reopened"})
    uow.flush()
    return state(uow, patient.id, retention_years=retention_years)


# --- the retention purge -----------------------------------------------------------------------------------------


@runtime_checkable
class DeletableBlobs(Protocol):
    """A blob store that can remove a content (:class:`carnet.storage.blobs.FileBlobStore`, the in-memory fake)."""

    def delete(self, digest: str) -> bool: ...


@dataclass(frozen=True, slots=True)
class PurgeReport:
    spaces: int = 0  # closed spaces purged in this run
    documents: int = 0
    blobs_removed: int = 0
    blobs_kept: int = 0  # contents still needed by another row
    data: dict[str, int] = field(default_factory=dict)  # other rows removed (or changed), per kind, over the spaces

    @property
    def data_rows(self) -> int:
        return sum(self.data.values())


def _closed_before(today: dt.date, years: int) -> dt.datetime:
    """Spaces closed before this instant are past retention today: closed on a day D, they are kept until D + years
    included and purged from the next day, i.e. when D is before today - years."""
    last_day = years_after(today, -years)
    return dt.datetime.combine(last_day, dt.time.min, tzinfo=PARIS).astimezone(dt.UTC)


def purge_due(*, platform: Platform, retention_years: int | None = None, limit: int = 1000) -> PurgeReport:
    """Purge every closed space past retention (documents deleted logically and the space's other content removed,
    in one transaction per space; then the contents no other row needs removed from the blob store). A run stopped
    half-way is finished by the next one; a space re-opened meanwhile is left alone."""
    from carnet.space.lifecycle_purge import optimize_search_index, purge_space_data

    years = retention_years or platform.settings.space_retention_years
    with platform.uow() as uow:
        due = SpaceRepository(uow.session).closures_due(_closed_before(local_today(uow), years), limit)
    spaces = documents = 0
    data: dict[str, int] = {}
    for closure_id in due:
        with platform.uow() as uow:
            # Locked: another purge run, or a re-opening, at the same moment waits for this one (or this one for it,
            # and then sees the space purged or re-opened).
            closure = SpaceRepository(uow.session).locked_closure(closure_id)
            if (closure is None or closure.reopened_at is not None or closure.purged_at is not None
                    or _status(uow, closure.patient_id) != SpaceStatus.CLOSED):  # fmt: skip
                continue
            from carnet.record import service as record

            patient_id = closure.patient_id
            entries = record.purge(uow=uow, actor=PURGE_ACTOR, patient_id=patient_id)
            now = uow.clock.now()
            removed = purge_space_data(uow.session, patient_id, now)
            closure = SpaceRepository(uow.session).closure(closure_id)
            assert closure is not None
            closure.purged_at, closure.purged_documents, closure.updated_at = now, len(entries), now
            closure.contents = sorted({e.sha256 for e in entries})
            audit.record(uow=uow, actor=PURGE_ACTOR, action="space.purge", patient_id=patient_id,
                         detail={"documents": len(entries), "removed": removed,
                                 "closed_at": closure.closed_at.isoformat(), "retention_years": years})  # fmt: skip
            uow.commit()
            spaces, documents = spaces + 1, documents + len(entries)
            for kind, n in removed.items():
                if n:
                    data[kind] = data.get(kind, 0) + n
    if spaces:  # the words of the purged documents leave the SQLite full-text index's segments
        with platform.uow() as uow:
            optimize_search_index(uow.session)
            uow.commit()
    removed_blobs, kept = _remove_contents(platform, limit)
    return PurgeReport(spaces=spaces, documents=documents, blobs_removed=removed_blobs, blobs_kept=kept, data=data)


def _remove_contents(platform: Platform, limit: int) -> tuple[int, int]:
    """The second phase: the contents of purged spaces that no other row needs leave the blob store."""
    blobs = platform.blobs
    if not isinstance(blobs, DeletableBlobs):
        return 0, 0
    removed = kept = 0
    with platform.uow() as uow:
        pending = SpaceRepository(uow.session).closures_with_blobs_left(limit)
    for closure_id in pending:
        with platform.uow() as uow:
            closure = SpaceRepository(uow.session).locked_closure(closure_id)  # another run waits, then skips it
            if closure is None or closure.blobs_removed_at is not None:
                continue
            gone = 0
            for digest in closure.contents or []:
                # Known window: a deposit of these very bytes committing between this check and the removal loses
                # its content; the job runs at a quiet hour and such a coincidence needs identical files.
                if contents_referenced(uow.session, digest, ignoring_deleted_by=PURGE_ACTOR.id):
                    kept += 1
                    continue
                blobs.delete(digest)
                gone += 1
            now = uow.clock.now()
            closure.blobs_removed_at, closure.purged_blobs, closure.updated_at = now, gone, now
            audit.record(uow=uow, actor=PURGE_ACTOR, action="space.purge_blobs", patient_id=closure.patient_id,
                         detail={"removed": gone, "kept": len(closure.contents or []) - gone})  # fmt: skip
            uow.commit()
            removed += gone
    return removed, kept

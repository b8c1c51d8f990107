"""Use cases of the holder's agenda: events, their iCalendar feed, the reminders the day before.

Every function takes the unit of work and the acting person and asks the access decision first, exactly as the
health profile does (:func:`carnet.access.service.enforce` on :func:`carnet.access.model.space_facts` of category
``space:agenda``): the holder and the representatives, the apps' grants (read, or write to add), the matrice
d'habilitation for professionals (médecins read it; the other professions do not). Every read and write leaves its
audit entry in the same transaction; a refusal (of access or of the input) is traced at once and raised, nothing is
stored.

Who adds events: the holder (or a representative), a professional, an establishment (CPE staff of the establishment,
or the platform's import of an establishment's bookings) and a referenced app with a write grant on the agenda. An
app may not add an event in the past. Events added by the holder are ``booked``; the others come ``proposed`` unless
they say ``booked``. The holder cancels any event of their agenda; a professional, an establishment or an app
cancels the events it added (``Action.DELETE`` on the event: the holder, or its author). A cancelled event is kept
(``status = cancelled``) and stays in the feed as ``STATUS:CANCELLED`` so that calendar apps remove it.

The feed (:mod:`carnet.space.agenda_ics`) is read at a secret address ``/agenda/<token>.ics``, without a session:
the token is the holder's capability (32 random bytes, URL-safe), regenerable (the old address then opens nothing)
and revocable from the portal. Each reading is traced (``agenda.feed_read``) as a platform read for the holder.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo

from carnet.access import service as access
from carnet.access.model import Action, Actor, ActorKind, AuthMethod, AuthorKind, Context, SpaceCategory, space_facts
from carnet.audit import service as audit
from carnet.errors import Forbidden, NotFound
from carnet.notify import service as notify
from carnet.space.agenda_store import AgendaEventRow, AgendaFeedRow, AgendaReminderRow, AgendaRepository
from carnet.space.profile_model import Problem, ProfileRejected
from carnet.space.trace import traced

if TYPE_CHECKING:
    from carnet.identity.store import PatientRow
    from carnet.storage.uow import UnitOfWork

__all__ = [
    "KINDS",
    "PARIS",
    "EventIn",
    "EventView",
    "ReminderReport",
    "add_event",
    "cancel_event",
    "feed",
    "feed_token",
    "get_event",
    "list_events",
    "patient_of",
    "regenerate_feed",
    "revoke_feed",
    "send_reminders",
]

PARIS = ZoneInfo("Europe/Paris")
EventKind = Literal["appointment", "reminder", "vaccination", "screening"]
KINDS: dict[str, tuple[str, str]] = {
    "appointment": ("Rendez-vous", "Appointment"),
    "reminder": ("Rappel", "Reminder"),
    "vaccination": ("Vaccination prévue", "Planned vaccination"),
    "screening": ("Dépistage prévu", "Planned screening"),
}
STATUSES = ("proposed", "booked", "cancelled")
WRITERS = frozenset(
    {
        ActorKind.PATIENT,
        ActorKind.REPRESENTATIVE,
        ActorKind.PROFESSIONAL,
        ActorKind.SECRETARIAT,
        ActorKind.APP,
        ActorKind.SYSTEM,
    }
)
FEED_READER = Actor(
    kind=ActorKind.SYSTEM,
    id="agenda-feed",
    auth_method=AuthMethod.SYSTEM,
    name="flux iCalendar de l'agenda (adresse secrète du titulaire)",
)
REMINDER_JOB = Actor(
    kind=ActorKind.SYSTEM, id="agenda-reminders", auth_method=AuthMethod.SYSTEM, name="rappels de l'agenda"
)
MAX_TITLE = 200


@dataclass(frozen=True, slots=True, kw_only=True)
class EventIn:
    """An event as given (by the portal, the API, an import). Times are aware datetimes."""

    kind: str
    title: str
    start_at: dt.datetime
    end_at: dt.datetime | None = None
    place: str | None = None
    description: str | None = None
    status: str | None = None  # proposed | booked; None: booked for the holder, proposed for the others


@dataclass(frozen=True, slots=True)
class EventView:
    """One event as recorded."""

    id: str
    patient_id: str
    kind: str
    title: str
    start_at: dt.datetime
    end_at: dt.datetime | None
    place: str | None
    description: str | None
    status: str
    sequence: int
    source_kind: str
    source_id: str
    source_name: str | None
    created_at: dt.datetime
    updated_at: dt.datetime

    @property
    def kind_label(self) -> str:
        return KINDS.get(self.kind, (self.kind, self.kind))[0]


@dataclass(frozen=True, slots=True)
class ReminderReport:
    """What one run of the reminders' job did."""

    reminded: int = 0  # reminders written now (a notification, and an e-mail when the holder wants them)
    already: int = 0  # reminders sent by an earlier run, left alone


# --- helpers ----------------------------------------------------------------------------------------------------


def _repo(uow: UnitOfWork) -> AgendaRepository:
    return AgendaRepository(uow.session)


def _patient(uow: UnitOfWork, patient_id: str) -> PatientRow:
    row = uow.patients.get(patient_id)
    if row is None or row.merged_into_id:
        raise NotFound(f"patient {patient_id} introuvable", field="patient")
    return row


def _source_kind(actor: Actor) -> str:
    """Who added an event, as shown to the holder: an establishment is CPE staff, or an import naming one."""
    if actor.kind == ActorKind.SECRETARIAT or (actor.kind == ActorKind.SYSTEM and actor.organisation_id):
        return "establishment"
    return actor.kind.value


def _author_kind(source_kind: str) -> AuthorKind:
    if source_kind in ("professional", "secretariat", "establishment"):
        return "professional"
    if source_kind == "app":
        return "app"
    return "patient"


def _view(row: AgendaEventRow) -> EventView:
    return EventView(
        row.id,
        row.patient_id,
        row.kind,
        row.title,
        row.start_at,
        row.end_at,
        row.place,
        row.description,
        row.status,
        row.sequence,
        row.source_kind,
        row.source_id,
        row.source_name,
        row.created_at,
        row.updated_at,
    )


def _category_facts() -> Any:
    return space_facts(SpaceCategory.AGENDA, id=SpaceCategory.AGENDA.value, author_id="", author_kind="patient")


def _event_facts(row: AgendaEventRow) -> Any:
    return space_facts(
        SpaceCategory.AGENDA, id=row.id, author_id=row.source_id, author_kind=_author_kind(row.source_kind)
    )


def _reject(uow: UnitOfWork, actor: Actor, patient_id: str, problems: list[Problem]) -> ProfileRejected:
    audit.record_now(
        uow=uow,
        actor=actor,
        action="agenda.event_refused",
        patient_id=patient_id,
        detail={"problems": [{"rule": p.code, "where": p.expression} for p in problems]},
    )
    return ProfileRejected(problems)


def check_event(event: EventIn, *, actor: Actor, now: dt.datetime) -> list[Problem]:
    """Every reason the event is refused (FHIR ``Appointment`` expressions), empty when it is acceptable."""
    problems: list[Problem] = []
    if event.kind not in KINDS:
        problems.append(
            Problem(
                "unknown_kind",
                f"type d'événement inconnu « {event.kind} » (rendez-vous, rappel, vaccination ou dépistage prévus)",
                f"unknown event type '{event.kind}'",
                "Appointment.appointmentType",
            )
        )
    title = (event.title or "").strip()
    if not title:
        problems.append(
            Problem(
                "title_missing",
                "l'intitulé de l'événement est obligatoire",
                "the title is required",
                "Appointment.description",
            )
        )
    elif len(title) > MAX_TITLE:
        problems.append(
            Problem(
                "title_too_long",
                f"l'intitulé dépasse {MAX_TITLE} caractères",
                f"the title is longer than {MAX_TITLE} characters",
                "Appointment.description",
            )
        )
    if event.start_at.tzinfo is None or event.start_at.utcoffset() is None:
        problems.append(
            Problem(
                "naive_time",
                "l'heure de début doit indiquer son fuseau horaire",
                "the start time needs its time zone",
                "Appointment.start",
            )
        )
        return problems
    if event.end_at is not None:
        if event.end_at.tzinfo is None or event.end_at.utcoffset() is None:
            problems.append(
                Problem(
                    "naive_time",
                    "l'heure de fin doit indiquer son fuseau horaire",
                    "the end time needs its time zone",
                    "Appointment.end",
                )
            )
        elif event.end_at <= event.start_at:
            problems.append(
                Problem(
                    "end_before_start",
                    "la fin de l'événement doit suivre son début",
                    "the event must end after it starts",
                    "Appointment.end",
                )
            )
    if actor.kind == ActorKind.APP and event.start_at < now:
        problems.append(
            Problem(
                "in_the_past",
                "une application ne peut pas ajouter un événement passé",
                "an app may not add an event in the past",
                "Appointment.start",
            )
        )
    if event.status is not None and event.status not in ("proposed", "booked"):
        problems.append(
            Problem(
                "bad_status",
                "un nouvel événement est proposé (proposed) ou réservé (booked)",
                "a new event is proposed or booked",
                "Appointment.status",
            )
        )
    if event.place is not None and len(event.place) > 300:
        problems.append(
            Problem(
                "place_too_long", "le lieu dépasse 300 caractères", "the place is too long", "Appointment.participant"
            )
        )
    return problems


def patient_of(*, uow: UnitOfWork, event_id: str) -> str | None:
    """The patient an event belongs to (to choose the caller's role before the decision); nothing else of it."""
    row = _repo(uow).event(event_id)
    return str(row.patient_id) if row is not None else None


# --- events -----------------------------------------------------------------------------------------------------


def add_event(
    *, uow: UnitOfWork, actor: Actor, patient_id: str, event: EventIn, ctx: Context | None = None
) -> EventView:
    """Add an event to the holder's agenda: decided (write on ``space:agenda``), checked, traced."""
    patient = _patient(uow, patient_id)
    if actor.kind not in WRITERS:
        audit.record_now(
            uow=uow,
            actor=actor,
            action="agenda.event_refused",
            patient_id=patient.id,
            detail={"reason": "cet acteur n'ajoute pas d'événement à l'agenda"},
        )
        raise Forbidden("cet acteur n'ajoute pas d'événement à l'agenda du titulaire")
    source_kind = _source_kind(actor)
    author = actor.acting_for if actor.kind == ActorKind.SECRETARIAT and actor.acting_for else actor.id
    facts = space_facts(SpaceCategory.AGENDA, id="(nouveau)", author_id=author, author_kind=_author_kind(source_kind))
    granted = access.enforce(
        uow=uow,
        actor=actor,
        action=Action.DEPOSIT,
        patient=patient,
        document=facts,
        ctx=ctx,
        trace="agenda.event_refused",
    )
    now = uow.clock.now()
    problems = check_event(event, actor=actor, now=now)
    if problems:
        raise _reject(uow, actor, patient.id, problems)
    holder = actor.kind in (ActorKind.PATIENT, ActorKind.REPRESENTATIVE)
    name = actor.organisation_name if source_kind == "establishment" and actor.organisation_name else actor.name
    row = AgendaEventRow(
        patient_id=patient.id,
        kind=event.kind,
        title=event.title.strip(),
        start_at=event.start_at.astimezone(dt.UTC),
        end_at=event.end_at.astimezone(dt.UTC) if event.end_at is not None else None,
        place=(event.place or "").strip() or None,
        description=(event.description or "").strip() or None,
        status=event.status or ("booked" if holder else "proposed"),
        sequence=0,
        source_kind=source_kind,
        source_id=actor.id[:64],
        source_name=name[:200] if name else None,
        created_at=now,
        updated_at=now,
    )
    _repo(uow).add(row)
    uow.flush()
    traced(
        uow, actor, "agenda.event_add", patient.id, granted, {"event": row.id, "kind": row.kind, "status": row.status}
    )
    return _view(row)


def list_events(
    *,
    uow: UnitOfWork,
    actor: Actor,
    patient_id: str,
    since: dt.datetime | None = None,
    before: dt.datetime | None = None,
    include_cancelled: bool = True,
    ctx: Context | None = None,
) -> list[EventView]:
    """The holder's events starting in ``[since, before)``, in order; the reading is traced."""
    patient = _patient(uow, patient_id)
    granted = access.enforce(
        uow=uow,
        actor=actor,
        action=Action.LIST,
        patient=patient,
        document=_category_facts(),
        ctx=ctx,
        trace="agenda.event_list",
    )
    rows = _repo(uow).events(patient.id, since=since, before=before)
    found = [_view(r) for r in rows if include_cancelled or r.status != "cancelled"]
    traced(uow, actor, "agenda.event_list", patient.id, granted, {"returned": len(found)})
    return found


def get_event(*, uow: UnitOfWork, actor: Actor, event_id: str, ctx: Context | None = None) -> EventView:
    """One event by id."""
    row = _repo(uow).event(event_id)
    if row is None:
        raise NotFound(f"Appointment/{event_id} introuvable", field="id")
    patient = _patient(uow, row.patient_id)
    granted = access.enforce(
        uow=uow,
        actor=actor,
        action=Action.READ,
        patient=patient,
        document=_event_facts(row),
        ctx=ctx,
        trace="agenda.event_read",
    )
    traced(uow, actor, "agenda.event_read", patient.id, granted, {"event": row.id})
    return _view(row)


def cancel_event(*, uow: UnitOfWork, actor: Actor, event_id: str, ctx: Context | None = None) -> EventView:
    """Cancel an event (the holder, or whoever added it); cancelling a cancelled event changes nothing."""
    row = _repo(uow).event(event_id)
    if row is None:
        raise NotFound(f"Appointment/{event_id} introuvable", field="id")
    patient = _patient(uow, row.patient_id)
    holder = actor.kind in (ActorKind.PATIENT, ActorKind.REPRESENTATIVE, ActorKind.SYSTEM)
    if not holder and actor.id[:64] != row.source_id:
        audit.record_now(
            uow=uow,
            actor=actor,
            action="agenda.event_cancel",
            patient_id=patient.id,
            detail={"event": row.id, "reason": "seul le titulaire ou l'auteur annule"},
        )
        raise Forbidden("seul le titulaire ou celui qui a ajouté l'événement peut l'annuler")
    granted = access.enforce(
        uow=uow,
        actor=actor,
        action=Action.DELETE,
        patient=patient,
        document=_event_facts(row),
        ctx=ctx,
        trace="agenda.event_cancel",
    )
    if row.status != "cancelled":
        now = uow.clock.now()
        row.status = "cancelled"
        row.cancelled_at = now
        row.updated_at = now
        row.sequence += 1
        uow.flush()
    traced(uow, actor, "agenda.event_cancel", patient.id, granted, {"event": row.id})
    return _view(row)


# --- the iCalendar feed -----------------------------------------------------------------------------------------


def _holder_only(uow: UnitOfWork, actor: Actor, patient: PatientRow, trace: str) -> access.Access:
    """The feed's address is managed by the holder (or a representative) only: MANAGE_CONSENT on the space."""
    if actor.kind not in (ActorKind.PATIENT, ActorKind.REPRESENTATIVE):
        audit.record_now(
            uow=uow,
            actor=actor,
            action=trace,
            patient_id=patient.id,
            detail={"reason": "seul le titulaire gère l'adresse de son agenda"},
        )
        raise Forbidden("seul le titulaire (ou son représentant légal) gère l'adresse de son agenda")
    return access.enforce(uow=uow, actor=actor, action=Action.MANAGE_CONSENT, patient=patient, trace=trace)


def feed_token(*, uow: UnitOfWork, actor: Actor, patient_id: str, create: bool = True) -> str | None:
    """The holder's feed token (made on first use when ``create``); None when revoked and not re-created."""
    patient = _patient(uow, patient_id)
    granted = _holder_only(uow, actor, patient, "agenda.feed_token")
    row = _repo(uow).feed(patient.id)
    if row is None and create:
        row = AgendaFeedRow(patient_id=patient.id, token=secrets.token_urlsafe(32), created_at=uow.clock.now())
        _repo(uow).add(row)
        uow.flush()
        traced(uow, actor, "agenda.feed_token", patient.id, granted, {"created": True})
    return row.token if row is not None else None


def regenerate_feed(*, uow: UnitOfWork, actor: Actor, patient_id: str) -> str:
    """A new secret address; the old one opens nothing from now on."""
    patient = _patient(uow, patient_id)
    granted = _holder_only(uow, actor, patient, "agenda.feed_regenerate")
    repo = _repo(uow)
    row = repo.feed(patient.id)
    token = secrets.token_urlsafe(32)
    if row is None:
        row = AgendaFeedRow(patient_id=patient.id, token=token, created_at=uow.clock.now())
        repo.add(row)
    else:
        row.token = token
        row.created_at = uow.clock.now()
    uow.flush()
    traced(uow, actor, "agenda.feed_regenerate", patient.id, granted, {})
    return token


def revoke_feed(*, uow: UnitOfWork, actor: Actor, patient_id: str) -> None:
    """No secret address any more (until the holder asks for a new one)."""
    patient = _patient(uow, patient_id)
    granted = _holder_only(uow, actor, patient, "agenda.feed_revoke")
    row = _repo(uow).feed(patient.id)
    if row is not None:
        uow.session.delete(row)
        uow.flush()
    audit.record(
        uow=uow, actor=actor, action="agenda.feed_revoke", patient_id=patient.id, detail={}, **granted.audit_kwargs()
    )


def feed(*, uow: UnitOfWork, token: str, request_id: str | None = None) -> tuple[str, list[EventView]]:
    """The patient and the events of the feed at ``token`` (NotFound for an unknown or revoked token); traced."""
    row = _repo(uow).feed_by_token(token) if token else None
    if row is None or not secrets.compare_digest(row.token, token):
        raise NotFound("adresse d'agenda inconnue ou révoquée", field="token")
    patient = _patient(uow, row.patient_id)
    ctx = access.context(uow, request_id=request_id)
    granted = access.enforce(
        uow=uow,
        actor=FEED_READER,
        action=Action.LIST,
        patient=patient,
        document=_category_facts(),
        ctx=ctx,
        trace="agenda.feed_read",
    )
    events = [_view(r) for r in _repo(uow).events(patient.id)]
    audit.record(
        uow=uow,
        actor=FEED_READER,
        action="agenda.feed_read",
        patient_id=patient.id,
        detail={"returned": len(events)},
        **granted.audit_kwargs(),
    )
    return patient.id, events


# --- reminders --------------------------------------------------------------------------------------------------


def _paris_text(at: dt.datetime) -> str:
    local = at.astimezone(PARIS)
    return local.strftime("%d/%m/%Y à %H h %M") + " (heure de Paris)"


def send_reminders(*, uow: UnitOfWork) -> ReminderReport:
    """Write the reminders of the events starting tomorrow (the day after today in Paris): a notification to the
    holder and, when they asked for e-mails, a message in the outbox (sent by :func:`carnet.notify.mailer
    .deliver_pending`). Idempotent: a reminder already written for an event at this start is not written again
    (``agenda_reminders`` is unique on the event and its start). The caller commits."""
    now = uow.clock.now()
    tomorrow = now.astimezone(PARIS).date() + dt.timedelta(days=1)
    since = dt.datetime.combine(tomorrow, dt.time(0), tzinfo=PARIS).astimezone(dt.UTC)
    before = dt.datetime.combine(tomorrow + dt.timedelta(days=1), dt.time(0), tzinfo=PARIS).astimezone(dt.UTC)
    repo = _repo(uow)
    reminded = already = 0
    for row in repo.starting_between(since, before):
        if repo.reminded(row.id, row.start_at):
            already += 1
            continue
        patient = _patient(uow, row.patient_id)
        granted = access.enforce(
            uow=uow,
            actor=REMINDER_JOB,
            action=Action.READ,
            patient=patient,
            document=_event_facts(row),
            trace="agenda.reminder",
        )
        sent = notify.notify(
            uow=uow,
            patient_id=patient.id,
            kind="agenda_reminder",
            actor_label="votre agenda santé",
            detail={
                "document_title": row.title[:150],
                "event_at": _paris_text(row.start_at),
                "place": (row.place or "")[:200],
                "event": row.id,
            },
        )
        repo.add(AgendaReminderRow(event_id=row.id, start_at=row.start_at, notification_id=sent.id, created_at=now))
        uow.flush()
        audit.record(
            uow=uow,
            actor=REMINDER_JOB,
            action="agenda.reminder",
            patient_id=patient.id,
            detail={"event": row.id},
            **granted.audit_kwargs(),
        )
        reminded += 1
    return ReminderReport(reminded=reminded, already=already)

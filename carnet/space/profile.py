"""Use cases of the holder's health profile: the questionnaire, vitals, vaccinations, allergies.

Every function takes the unit of work and the acting person, asks the access decision first
(:func:`carnet.access.service.enforce` on the facts of :func:`carnet.access.model.space_facts`: the category is the
resource's class code, so the holder, the representatives, the care team, the holder's blocks, emergency access and
the apps' grants apply unchanged, and a professional reads what the matrice d'habilitation allows), and writes its
audit entry in the same transaction as what it does. A refusal, of access or of the input (a measure out of range, in
a wrong unit, in the future…), is traced at once in its own transaction and raised; nothing is stored.

Who may record what (on top of the decision): vitals come from the holder (or a representative) or a referenced
app; vaccinations and allergies also from a professional; the questionnaire from the holder only. Saving the
questionnaire keeps the allergies it lists as AllergyIntolerance rows (``origin = questionnaire``): a new line adds
one, a line removed makes it inactive; allergies recorded directly (a professional, an app) are left alone.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from carnet.access import service as access
from carnet.access.decide import decide
from carnet.access.model import (
    Action,
    Actor,
    ActorKind,
    AuthorKind,
    Context,
    Decision,
    SpaceCategory,
    space_facts,
)
from carnet.audit import service as audit
from carnet.errors import Forbidden, NotFound
from carnet.notify import service as notify
from carnet.space.profile_model import (
    QUESTIONNAIRE_URL,
    AllergyIn,
    Answers,
    ImmunizationIn,
    Measurement,
    Problem,
    ProfileRejected,
    VitalKind,
    check_allergy,
    check_answers,
    check_immunization,
    check_measurement,
    vaccine,
    vital_kind,
)
from carnet.space.profile_store import (
    AllergyRow,
    ImmunizationRow,
    ObservationRow,
    ProfileRepository,
    QuestionnaireResponseRow,
)
from carnet.space.trace import traced

if TYPE_CHECKING:
    from carnet.identity.store import PatientRow
    from carnet.storage.uow import UnitOfWork

__all__ = [
    "AllergyView",
    "CategoryAccess",
    "ImmunizationView",
    "MeasureView",
    "QuestionnaireView",
    "Source",
    "add_allergy",
    "add_immunization",
    "add_measure",
    "current_questionnaire",
    "get_allergy",
    "get_immunization",
    "get_measure",
    "get_questionnaire_response",
    "list_allergies",
    "list_immunizations",
    "list_measures",
    "list_questionnaire_responses",
    "overview",
    "patient_of",
    "remove_measure",
    "save_questionnaire",
]

# Who may record each category (the decision then says whether they may, here and now).
_HOLDER = frozenset({ActorKind.PATIENT, ActorKind.REPRESENTATIVE, ActorKind.SYSTEM})
WRITERS: dict[SpaceCategory, frozenset[ActorKind]] = {
    SpaceCategory.VITALS: _HOLDER | {ActorKind.APP},
    SpaceCategory.VACCINATIONS: _HOLDER | {ActorKind.APP, ActorKind.PROFESSIONAL},
    SpaceCategory.ALLERGIES: _HOLDER | {ActorKind.APP, ActorKind.PROFESSIONAL},
    SpaceCategory.PROFILE: _HOLDER,
}
_WHO_WRITES = {
    SpaceCategory.VITALS: (
        "les constantes sont saisies par le titulaire, son représentant ou une application référencée autorisée",
        "vitals are entered by the holder, a representative or an authorised referenced app",
    ),
    SpaceCategory.VACCINATIONS: (
        "une vaccination est enregistrée par le titulaire, un professionnel de santé ou une application référencée",
        "a vaccination is recorded by the holder, a health professional or a referenced app",
    ),
    SpaceCategory.ALLERGIES: (
        "une allergie est enregistrée par le titulaire, un professionnel de santé ou une application référencée",
        "an allergy is recorded by the holder, a health professional or a referenced app",
    ),
    SpaceCategory.PROFILE: (
        "le questionnaire de santé est rempli par le titulaire (ou son représentant légal)",
        "the health questionnaire is filled in by the holder (or a legal representative)",
    ),
}


@dataclass(frozen=True, slots=True)
class Source:
    """Who recorded an item: the kind of actor, their id, their name as shown to the holder."""

    kind: str
    id: str
    name: str | None

    @property
    def is_holder(self) -> bool:
        return self.kind in ("patient", "representative")


@dataclass(frozen=True, slots=True)
class MeasureView:
    """One measure as recorded: ``values`` as entered (``{key: (value, UCUM unit)}``, one per component)."""

    id: str
    patient_id: str
    kind: VitalKind
    values: dict[str, tuple[float, str]]
    effective_at: dt.datetime
    recorded_at: dt.datetime
    source: Source
    note: str | None
    status: str

    def canonical(self, key: str | None = None) -> float:
        """The value of ``key`` (the kind's own key by default) in the canonical unit of its kind."""
        key = key or self.kind.key
        part = self.kind if not self.kind.components else next(c for c in self.kind.components if c.key == key)
        value, unit = self.values[key]
        return part.canonical(value, unit)


@dataclass(frozen=True, slots=True)
class ImmunizationView:
    """One vaccination."""

    id: str
    patient_id: str
    occurrence: dt.date
    vaccine_cis: str | None
    vaccine_display: str
    atc: str | None
    dose_number: int | None
    lot_number: str | None
    primary_source: bool
    source: Source
    recorded_at: dt.datetime
    note: str | None


@dataclass(frozen=True, slots=True)
class AllergyView:
    """One allergy or intolerance."""

    id: str
    patient_id: str
    substance: str
    category: str | None
    criticality: str | None
    reaction: str | None
    clinical_status: str
    origin: str
    source: Source
    recorded_at: dt.datetime
    updated_at: dt.datetime


@dataclass(frozen=True, slots=True)
class QuestionnaireView:
    """One answering of the questionnaire."""

    id: str
    patient_id: str
    questionnaire: str
    status: str
    authored_at: dt.datetime
    answers: Answers
    source: Source


@dataclass(frozen=True, slots=True)
class CategoryAccess:
    """What the decision says of an actor reading one category (the professional's view of the profile)."""

    category: SpaceCategory
    decision: Decision

    @property
    def allowed(self) -> bool:
        return self.decision.allowed


# --- helpers ----------------------------------------------------------------------------------------------------


def _repo(uow: UnitOfWork) -> ProfileRepository:
    return ProfileRepository(uow.session)


def _patient(uow: UnitOfWork, patient_id: str) -> PatientRow:
    row = uow.patients.get(patient_id)
    if row is None or row.merged_into_id:
        raise NotFound(f"patient {patient_id} introuvable", field="patient")
    return row


def _author_kind(actor: Actor) -> AuthorKind:
    if actor.kind in (ActorKind.PROFESSIONAL, ActorKind.SECRETARIAT):
        return "professional"
    if actor.kind == ActorKind.APP:
        return "app"
    return "patient"  # the holder, a representative acting as the holder, the platform's imports


def _source(row: Any) -> Source:
    return Source(row.source_kind, row.source_id, row.source_name)


def _set_source(row: Any, actor: Actor) -> None:
    row.source_kind = actor.kind.value
    row.source_id = actor.id[:64]
    name = actor.name or actor.organisation_name
    row.source_name = name[:200] if name else None


def _category_facts(category: SpaceCategory) -> Any:
    """The facts of the category as a whole (a listing): decided like one of its items written by someone else."""
    return space_facts(category, id=category.value, author_id="", author_kind="patient")


def _item_facts(category: SpaceCategory, row: Any) -> Any:
    kind: AuthorKind = "patient"
    if row.source_kind in ("professional", "secretariat"):
        kind = "professional"
    elif row.source_kind == "app":
        kind = "app"
    return space_facts(category, id=row.id, author_id=row.source_id, author_kind=kind)


def _after_access(uow: UnitOfWork, actor: Actor, patient_id: str, granted: access.Access) -> None:
    """The holder is told of a professional's first access and, at once, of every emergency access."""
    if actor.kind != ActorKind.PROFESSIONAL:
        return
    label = actor.name or actor.organisation_name or f"{actor.kind.value} {actor.id}"
    if "notify_holder_emergency" in granted.decision.obligations:
        notify.notify(
            uow=uow,
            patient_id=patient_id,
            kind="emergency_access",
            actor_label=label,
            detail={"reason": granted.context.justification, "professional": actor.id},
        )
    if notify.first_access_needed(uow, patient_id, actor.id):
        notify.notify(
            uow=uow, patient_id=patient_id, kind="first_access", actor_label=label, detail={"professional": actor.id}
        )


def _read(
    uow: UnitOfWork,
    actor: Actor,
    patient: PatientRow,
    category: SpaceCategory,
    *,
    trace: str,
    action: Action = Action.LIST,
    item: Any = None,
    ctx: Context | None = None,
) -> access.Access:
    """Enforce a read of the category (or of one item); a refusal is traced under ``trace`` and raised."""
    facts = _item_facts(category, item) if item is not None else _category_facts(category)
    granted = access.enforce(uow=uow, actor=actor, action=action, patient=patient, document=facts, ctx=ctx, trace=trace)
    _after_access(uow, actor, patient.id, granted)
    return granted


def _write(
    uow: UnitOfWork, actor: Actor, patient: PatientRow, category: SpaceCategory, *, trace: str, ctx: Context | None
) -> access.Access:
    """Enforce recording an item of the category by ``actor``; a refusal is traced under ``trace`` and raised."""
    if actor.kind not in WRITERS[category]:
        fr, en = _WHO_WRITES[category]
        audit.record_now(
            uow=uow, actor=actor, action=trace, patient_id=patient.id, detail={"reason": fr, "category": category.value}
        )
        raise Forbidden(fr)
    facts = space_facts(category, id="(nouveau)", author_id=actor.id, author_kind=_author_kind(actor))
    return access.enforce(
        uow=uow, actor=actor, action=Action.DEPOSIT, patient=patient, document=facts, ctx=ctx, trace=trace
    )


def _reject(uow: UnitOfWork, actor: Actor, patient_id: str, trace: str, problems: list[Problem]) -> ProfileRejected:
    """Trace a refused input (which elements, which rules; never the values) and return the error to raise."""
    audit.record_now(
        uow=uow,
        actor=actor,
        action=trace,
        patient_id=patient_id,
        detail={"problems": [{"rule": p.code, "where": p.expression} for p in problems]},
    )
    return ProfileRejected(problems)


def _birth_date(patient: PatientRow) -> dt.date | None:
    born = patient.birth_date
    return born if isinstance(born, dt.date) else None


def patient_of(*, uow: UnitOfWork, resource_type: str, resource_id: str) -> str | None:
    """The patient an item (Observation, Immunization, AllergyIntolerance, QuestionnaireResponse) belongs to, so that
    a caller's role on it can be chosen before the access decision; nothing else of it is returned."""
    row = _repo(uow).get(resource_type, resource_id)
    return str(row.patient_id) if row is not None else None


def _one(uow: UnitOfWork, resource_type: str, resource_id: str) -> Any:
    row = _repo(uow).get(resource_type, resource_id)
    if row is None:
        raise NotFound(f"{resource_type}/{resource_id} introuvable", field="id")
    return row


# --- vitals -----------------------------------------------------------------------------------------------------


def _measure(row: ObservationRow) -> MeasureView:
    kind = vital_kind(row.kind)
    if kind is None:  # a kind removed from the table since: the stored row is kept, never shown half-understood
        raise NotFound(f"mesure de type inconnu « {row.kind} »", field="code")
    values = {key: (float(pair[0]), str(pair[1])) for key, pair in row.values.items()}
    return MeasureView(
        row.id, row.patient_id, kind, values, row.effective_at, row.created_at, _source(row), row.note, row.status
    )


def add_measure(
    *, uow: UnitOfWork, actor: Actor, patient_id: str, measurement: Measurement, ctx: Context | None = None
) -> MeasureView:
    """Record a measure (the holder, a representative, an app with a write grant on the vitals): checked against its
    kind's unit and physiological range; refused with every reason, traced, nothing stored."""
    patient = _patient(uow, patient_id)
    granted = _write(uow, actor, patient, SpaceCategory.VITALS, trace="profile.vital_refused", ctx=ctx)
    problems = check_measurement(measurement, now=uow.clock.now(), birth_date=_birth_date(patient))
    if problems:
        raise _reject(uow, actor, patient.id, "profile.vital_refused", problems)
    kind = vital_kind(measurement.kind)
    assert kind is not None  # checked above
    now = uow.clock.now()
    row = ObservationRow(
        patient_id=patient.id,
        kind=kind.key,
        code=kind.loinc,
        status="final",
        effective_at=measurement.effective_at.astimezone(dt.UTC),
        values={k: [q.value, q.unit] for k, q in measurement.values.items()},
        note=measurement.note or None,
        created_at=now,
        updated_at=now,
    )
    _set_source(row, actor)
    _repo(uow).add(row)
    uow.flush()
    traced(uow, actor, "profile.vital_add", patient.id, granted, {"measure": row.id, "kind": kind.key})
    return _measure(row)


def list_measures(
    *,
    uow: UnitOfWork,
    actor: Actor,
    patient_id: str,
    kinds: Sequence[str] = (),
    since: dt.datetime | None = None,
    before: dt.datetime | None = None,
    ctx: Context | None = None,
) -> list[MeasureView]:
    """The patient's measures (of these kinds, taken in ``[since, before)``), oldest first; the reading is traced."""
    patient = _patient(uow, patient_id)
    granted = _read(uow, actor, patient, SpaceCategory.VITALS, trace="profile.vital_list", ctx=ctx)
    rows = _repo(uow).observations(patient.id, kinds=kinds, since=since, before=before)
    found = [_measure(r) for r in rows if vital_kind(r.kind) is not None]
    traced(uow, actor, "profile.vital_list", patient.id, granted, {"kinds": list(kinds), "returned": len(found)})
    return found


def get_measure(*, uow: UnitOfWork, actor: Actor, measure_id: str, ctx: Context | None = None) -> MeasureView:
    """One measure by id."""
    row = _one(uow, "Observation", measure_id)
    patient = _patient(uow, row.patient_id)
    granted = _read(
        uow, actor, patient, SpaceCategory.VITALS, trace="profile.vital_read", action=Action.READ, item=row, ctx=ctx
    )
    traced(uow, actor, "profile.vital_read", patient.id, granted, {"measure": row.id})
    return _measure(row)


def remove_measure(*, uow: UnitOfWork, actor: Actor, measure_id: str) -> MeasureView:
    """The holder removes a measure entered in error (kept, marked ``entered-in-error``, no longer shown)."""
    row = _one(uow, "Observation", measure_id)
    patient = _patient(uow, row.patient_id)
    if actor.kind not in (ActorKind.PATIENT, ActorKind.REPRESENTATIVE):
        audit.record_now(
            uow=uow,
            actor=actor,
            action="profile.vital_remove",
            patient_id=patient.id,
            detail={"measure": row.id, "reason": "seul le titulaire retire une mesure"},
        )
        raise Forbidden("seul le titulaire (ou son représentant légal) retire une mesure de son espace")
    granted = access.enforce(
        uow=uow,
        actor=actor,
        action=Action.DELETE,
        patient=patient,
        document=_item_facts(SpaceCategory.VITALS, row),
        trace="profile.vital_remove",
    )
    row.status = "entered-in-error"
    row.updated_at = uow.clock.now()
    uow.flush()
    traced(uow, actor, "profile.vital_remove", patient.id, granted, {"measure": row.id, "kind": row.kind})
    return _measure(row)


# --- vaccinations -----------------------------------------------------------------------------------------------


def _immunization(row: ImmunizationRow) -> ImmunizationView:
    return ImmunizationView(
        row.id,
        row.patient_id,
        row.occurrence_date,
        row.vaccine_code,
        row.vaccine_display,
        row.atc_code,
        row.dose_number,
        row.lot_number,
        row.primary_source,
        _source(row),
        row.created_at,
        row.note,
    )


def add_immunization(
    *, uow: UnitOfWork, actor: Actor, patient_id: str, immunization: ImmunizationIn, ctx: Context | None = None
) -> ImmunizationView:
    """Record a vaccination (the holder declaring it, the professional who gave it, an app with a write grant)."""
    patient = _patient(uow, patient_id)
    granted = _write(uow, actor, patient, SpaceCategory.VACCINATIONS, trace="profile.immunization_refused", ctx=ctx)
    problems = check_immunization(immunization, now=uow.clock.now(), birth_date=_birth_date(patient))
    if problems:
        raise _reject(uow, actor, patient.id, "profile.immunization_refused", problems)
    coded = vaccine(immunization.vaccine_cis) if immunization.vaccine_cis else None
    now = uow.clock.now()
    row = ImmunizationRow(
        patient_id=patient.id,
        status="completed",
        occurrence_date=immunization.occurrence,
        vaccine_code=coded.cis if coded else None,
        vaccine_display=coded.display if coded else " ".join((immunization.vaccine_text or "").split()),
        atc_code=coded.atc if coded else None,
        dose_number=immunization.dose_number,
        lot_number=(immunization.lot_number or "").strip() or None,
        primary_source=actor.kind == ActorKind.PROFESSIONAL,
        note=immunization.note or None,
        created_at=now,
        updated_at=now,
    )
    _set_source(row, actor)
    _repo(uow).add(row)
    uow.flush()
    traced(
        uow,
        actor,
        "profile.immunization_add",
        patient.id,
        granted,
        {"immunization": row.id, "vaccine": row.vaccine_code},
    )
    return _immunization(row)


def list_immunizations(
    *, uow: UnitOfWork, actor: Actor, patient_id: str, ctx: Context | None = None
) -> list[ImmunizationView]:
    """The patient's vaccinations, oldest first; the reading is traced."""
    patient = _patient(uow, patient_id)
    granted = _read(uow, actor, patient, SpaceCategory.VACCINATIONS, trace="profile.immunization_list", ctx=ctx)
    found = [_immunization(r) for r in _repo(uow).immunizations(patient.id)]
    traced(uow, actor, "profile.immunization_list", patient.id, granted, {"returned": len(found)})
    return found


def get_immunization(
    *, uow: UnitOfWork, actor: Actor, immunization_id: str, ctx: Context | None = None
) -> ImmunizationView:
    """One vaccination by id."""
    row = _one(uow, "Immunization", immunization_id)
    patient = _patient(uow, row.patient_id)
    granted = _read(
        uow,
        actor,
        patient,
        SpaceCategory.VACCINATIONS,
        trace="profile.immunization_read",
        action=Action.READ,
        item=row,
        ctx=ctx,
    )
    traced(uow, actor, "profile.immunization_read", patient.id, granted, {"immunization": row.id})
    return _immunization(row)


# --- allergies --------------------------------------------------------------------------------------------------


def _allergy(row: AllergyRow) -> AllergyView:
    return AllergyView(
        row.id,
        row.patient_id,
        row.substance,
        row.category,
        row.criticality,
        row.reaction,
        row.clinical_status,
        row.origin,
        _source(row),
        row.created_at,
        row.updated_at,
    )


def add_allergy(
    *, uow: UnitOfWork, actor: Actor, patient_id: str, allergy: AllergyIn, ctx: Context | None = None
) -> AllergyView:
    """Record an allergy or intolerance directly (the holder, a professional, an app with a write grant)."""
    patient = _patient(uow, patient_id)
    granted = _write(uow, actor, patient, SpaceCategory.ALLERGIES, trace="profile.allergy_refused", ctx=ctx)
    problems = check_allergy(allergy)
    if problems:
        raise _reject(uow, actor, patient.id, "profile.allergy_refused", problems)
    row = _new_allergy(uow, actor, patient.id, allergy, origin="direct")
    traced(uow, actor, "profile.allergy_add", patient.id, granted, {"allergy": row.id})
    return _allergy(row)


def _new_allergy(uow: UnitOfWork, actor: Actor, patient_id: str, allergy: AllergyIn, *, origin: str) -> AllergyRow:
    now = uow.clock.now()
    row = AllergyRow(
        patient_id=patient_id,
        substance=" ".join(allergy.substance.split()),
        category=allergy.category,
        criticality=allergy.criticality,
        reaction=(allergy.reaction or "").strip() or None,
        clinical_status=allergy.clinical_status,
        origin=origin,
        created_at=now,
        updated_at=now,
    )
    _set_source(row, actor)
    _repo(uow).add(row)
    uow.flush()
    return row


def list_allergies(
    *, uow: UnitOfWork, actor: Actor, patient_id: str, active_only: bool = True, ctx: Context | None = None
) -> list[AllergyView]:
    """The patient's allergies (the active ones by default), in the order they were recorded; traced."""
    patient = _patient(uow, patient_id)
    granted = _read(uow, actor, patient, SpaceCategory.ALLERGIES, trace="profile.allergy_list", ctx=ctx)
    found = [_allergy(r) for r in _repo(uow).allergies(patient.id, active_only=active_only)]
    traced(uow, actor, "profile.allergy_list", patient.id, granted, {"returned": len(found)})
    return found


def get_allergy(*, uow: UnitOfWork, actor: Actor, allergy_id: str, ctx: Context | None = None) -> AllergyView:
    """One allergy by id."""
    row = _one(uow, "AllergyIntolerance", allergy_id)
    patient = _patient(uow, row.patient_id)
    granted = _read(
        uow,
        actor,
        patient,
        SpaceCategory.ALLERGIES,
        trace="profile.allergy_read",
        action=Action.READ,
        item=row,
        ctx=ctx,
    )
    traced(uow, actor, "profile.allergy_read", patient.id, granted, {"allergy": row.id})
    return _allergy(row)


def _key(substance: str) -> str:
    """A substance compared without case, accents or repeated spaces (« Pénicilline » = « penicilline »)."""
    decomposed = unicodedata.normalize("NFKD", " ".join(substance.split()).casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _sync_allergies(uow: UnitOfWork, actor: Actor, patient_id: str, declared: Sequence[str]) -> tuple[int, int]:
    """Keep the questionnaire's allergies as AllergyIntolerance rows; returns (added or reactivated, made inactive)."""
    wanted = {_key(s): s for s in declared}
    rows = _repo(uow).allergies(patient_id)
    now = uow.clock.now()
    removed = 0
    for row in rows:
        if row.origin == "questionnaire" and row.clinical_status == "active" and _key(row.substance) not in wanted:
            row.clinical_status, row.updated_at = "inactive", now
            removed += 1
    active = {_key(r.substance) for r in rows if r.clinical_status == "active"}
    added = 0
    for key, substance in wanted.items():
        if key in active:
            continue
        again = next((r for r in rows if r.origin == "questionnaire" and _key(r.substance) == key), None)
        if again is not None:
            again.clinical_status, again.updated_at = "active", now
        else:
            _new_allergy(uow, actor, patient_id, AllergyIn(substance=substance), origin="questionnaire")
        added += 1
    uow.flush()
    return added, removed


# --- the questionnaire ------------------------------------------------------------------------------------------


def _questionnaire(row: QuestionnaireResponseRow) -> QuestionnaireView:
    return QuestionnaireView(
        row.id,
        row.patient_id,
        row.questionnaire,
        row.status,
        row.authored_at,
        Answers.from_json(row.answers),
        _source(row),
    )


def save_questionnaire(
    *, uow: UnitOfWork, actor: Actor, patient_id: str, answers: Answers, ctx: Context | None = None
) -> QuestionnaireView:
    """The holder answers the questionnaire (again): a new response, the current one from now on (the previous ones
    are kept); the allergies it lists are kept as AllergyIntolerance rows."""
    patient = _patient(uow, patient_id)
    granted = _write(uow, actor, patient, SpaceCategory.PROFILE, trace="profile.questionnaire_refused", ctx=ctx)
    _write(uow, actor, patient, SpaceCategory.ALLERGIES, trace="profile.questionnaire_refused", ctx=ctx)
    problems = check_answers(answers)
    if problems:
        raise _reject(uow, actor, patient.id, "profile.questionnaire_refused", problems)
    previous = _repo(uow).questionnaire_responses(patient.id)
    now = uow.clock.now()
    row = QuestionnaireResponseRow(
        patient_id=patient.id,
        questionnaire=f"{QUESTIONNAIRE_URL}|1",
        status="amended" if previous else "completed",
        authored_at=now,
        answers=answers.as_json(),
        created_at=now,
        updated_at=now,
    )
    _set_source(row, actor)
    _repo(uow).add(row)
    uow.flush()
    added, removed = _sync_allergies(uow, actor, patient.id, answers.allergies)
    traced(
        uow,
        actor,
        "profile.questionnaire_save",
        patient.id,
        granted,
        {"response": row.id, "allergies_added": added, "allergies_inactive": removed},
    )
    return _questionnaire(row)


def current_questionnaire(
    *, uow: UnitOfWork, actor: Actor, patient_id: str, ctx: Context | None = None
) -> QuestionnaireView | None:
    """The latest answers, or None when the questionnaire was never filled; the reading is traced."""
    patient = _patient(uow, patient_id)
    granted = _read(uow, actor, patient, SpaceCategory.PROFILE, trace="profile.questionnaire_read", ctx=ctx)
    rows = _repo(uow).questionnaire_responses(patient.id)
    traced(uow, actor, "profile.questionnaire_read", patient.id, granted, {"response": rows[0].id if rows else None})
    return _questionnaire(rows[0]) if rows else None


def list_questionnaire_responses(
    *, uow: UnitOfWork, actor: Actor, patient_id: str, ctx: Context | None = None
) -> list[QuestionnaireView]:
    """Every answering of the questionnaire, newest first; traced."""
    patient = _patient(uow, patient_id)
    granted = _read(uow, actor, patient, SpaceCategory.PROFILE, trace="profile.questionnaire_list", ctx=ctx)
    found = [_questionnaire(r) for r in _repo(uow).questionnaire_responses(patient.id)]
    traced(uow, actor, "profile.questionnaire_list", patient.id, granted, {"returned": len(found)})
    return found


def get_questionnaire_response(
    *, uow: UnitOfWork, actor: Actor, response_id: str, ctx: Context | None = None
) -> QuestionnaireView:
    """One answering of the questionnaire by id."""
    row = _one(uow, "QuestionnaireResponse", response_id)
    patient = _patient(uow, row.patient_id)
    granted = _read(
        uow,
        actor,
        patient,
        SpaceCategory.PROFILE,
        trace="profile.questionnaire_read",
        action=Action.READ,
        item=row,
        ctx=ctx,
    )
    traced(uow, actor, "profile.questionnaire_read", patient.id, granted, {"response": row.id})
    return _questionnaire(row)


# --- what an actor may read -------------------------------------------------------------------------------------

PROFILE_CATEGORIES = (SpaceCategory.PROFILE, SpaceCategory.ALLERGIES, SpaceCategory.VITALS, SpaceCategory.VACCINATIONS)


def overview(*, uow: UnitOfWork, actor: Actor, patient_id: str, ctx: Context | None = None) -> list[CategoryAccess]:
    """What the decision says now of ``actor`` reading each category of the profile, with its reasons: decided,
    neither enforced nor traced (the reads that follow are)."""
    patient = _patient(uow, patient_id)
    facts = access.facts_for(uow, patient)
    context = ctx or access.context(uow)
    return [
        CategoryAccess(c, decide(actor, Action.LIST, facts, _category_facts(c), context)) for c in PROFILE_CATEGORIES
    ]

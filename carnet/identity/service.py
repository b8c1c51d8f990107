"""Use cases of the patient index: register, find, retrieve the INS from INSi, qualify, change traits, merge.

Every function takes the unit of work and the acting person, writes the identity history and an audit
entry in the same transaction, and commits only when everything is consistent.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from carnet.access.model import Actor
from carnet.audit import service as audit
from carnet.clock import local_date
from carnet.errors import Conflict, NotFound, QualificationNotAllowed, ValidationError
from carnet.identity.insi import CarteVitaleRead, InsiClient, InsiOutcome, InsiResult, TraitsQuery
from carnet.identity.matricule import Ins, parse_matricule
from carnet.identity.model import Collision, PatientIdentity, find_collisions, phonetic_key
from carnet.identity.status import (
    ActorKind,
    Evidence,
    IdDocumentType,
    IdentityStatus,
    QualificationActor,
    transition,
)
from carnet.identity.store import IdentityEventRow, PatientRow
from carnet.identity.traits import INS_TRAIT_FIELDS, Traits, changed_ins_traits, trait_label
from carnet.storage.uow import UnitOfWork

if TYPE_CHECKING:
    from sqlalchemy import Row

    _Found = PatientRow | Row[Any] | None

SYSTEM = QualificationActor(kind=ActorKind.SYSTEM, profession_code=None, id="carnet")


@dataclass(frozen=True, slots=True)
class Registration:
    patient: PatientIdentity
    collisions: list[Collision]


@dataclass(frozen=True, slots=True)
class InsiRetrieval:
    """What an INSi call did to an identity: the outcome, the resulting identity and the trait check."""

    outcome: InsiOutcome
    patient: PatientIdentity
    perfect_match: bool
    differences: tuple[str, ...]


IdentityActor = Actor | QualificationActor


def qualification_actor(actor: IdentityActor) -> QualificationActor:
    """The identity rules' view of whoever acts (an access ``Actor`` or already a ``QualificationActor``)."""
    if isinstance(actor, QualificationActor):
        return actor
    try:
        kind = ActorKind(actor.kind.value)
    except ValueError:
        raise QualificationNotAllowed(
            f"un acteur de type {actor.kind.value} ne peut pas modifier une identité", field="actor"
        ) from None
    profession = getattr(actor, "profession", None) or getattr(actor, "profession_code", None)
    return QualificationActor(kind=kind, profession_code=profession, id=actor.id)


def _to_domain(row: PatientRow | Row[Any]) -> PatientIdentity:
    traits = Traits(
        birth_name=row.birth_name,
        first_name=row.first_name,
        birth_first_names=row.birth_first_names,
        sex=row.sex,
        birth_date=row.birth_date,
        birth_place=row.birth_place,
        used_name=row.used_name,
        used_first_name=row.used_first_name,
    )
    ins = Ins.parse(row.ins_matricule, row.ins_oid) if row.ins_matricule and row.ins_oid else None
    return PatientIdentity(
        id=row.id,
        status=IdentityStatus(row.status),
        traits=traits,
        ins=ins,
        merged_into_id=row.merged_into_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _apply_traits(row: PatientRow, traits: Traits) -> None:
    for name in (*INS_TRAIT_FIELDS, "used_name", "used_first_name"):
        setattr(row, name, getattr(traits, name))
    row.name_key = phonetic_key(traits.birth_name)
    row.first_name_key = phonetic_key(traits.first_name)


def _event(
    uow: UnitOfWork,
    row: PatientRow,
    *,
    kind: str,
    actor: IdentityActor,
    from_status: str | None = None,
    evidence: Evidence | None = None,
    document_type: IdDocumentType | None = None,
    note: str | None = None,
    detail: dict[str, Any] | None = None,
    at: dt.datetime | None = None,
) -> None:
    actor = qualification_actor(actor)
    uow.patients.add_event(
        IdentityEventRow(
            patient_id=row.id,
            at=at or uow.clock.now(),
            kind=kind,
            from_status=from_status,
            to_status=row.status,
            evidence=evidence.value if evidence else None,
            document_type=document_type.value if document_type else None,
            actor_kind=actor.kind.value,
            actor_id=actor.id,
            actor_profession=actor.profession_code,
            note=note,
            detail=detail,
        )
    )


def _row_or_raise(uow: UnitOfWork, patient_id: str) -> PatientRow:
    row = uow.patients.get(patient_id)
    if row is None:
        raise NotFound(f"patient {patient_id} introuvable", field="patient_id")
    if row.merged_into_id:
        raise Conflict(
            f"le dossier {patient_id} a été fusionné dans {row.merged_into_id} : utiliser ce dernier",
            field="patient_id",
        )
    return row


def _collisions(uow: UnitOfWork, traits: Traits, *, exclude: str | None = None) -> list[Collision]:
    rows = {r.id: r for r in uow.patients.active_by_birth_date(traits.birth_date)}
    for r in uow.patients.active_by_name_keys(phonetic_key(traits.birth_name), phonetic_key(traits.first_name)):
        rows.setdefault(r.id, r)
    rows.pop(exclude, None) if exclude else None
    return find_collisions(traits, ((pid, _to_domain(r).traits) for pid, r in rows.items()))


def register(*, uow: UnitOfWork, actor: IdentityActor, traits: Traits) -> Registration:
    """Create a provisional identity from local traits and report possible collisions (not committed)."""
    collisions = _collisions(uow, traits)
    now = uow.clock.now()
    row = PatientRow(status=IdentityStatus.PROV.value, created_at=now, updated_at=now)
    _apply_traits(row, traits)
    uow.patients.add(row)
    uow.flush()
    _event(uow, row, kind="created", actor=actor, detail={"collisions": [c.patient_id for c in collisions]})
    audit.record(uow=uow, actor=actor, action="identity.create", patient_id=row.id)
    return Registration(patient=_to_domain(row), collisions=collisions)


def get(*, uow: UnitOfWork, actor: IdentityActor, patient_id: str) -> PatientIdentity | None:
    """The identity (following merges to the surviving record), or None."""
    row = _surviving(uow.patients.get(patient_id), uow.patients.get)
    if row is None:
        return None
    audit.record(uow=uow, actor=actor, action="identity.read", patient_id=row.id)
    return _to_domain(row)


def _surviving(row: _Found, load: Callable[[str], _Found]) -> _Found:
    """The record ``row`` was merged into, following merges (a cycle stops where it closes)."""
    seen = set()
    while row is not None and row.merged_into_id and row.id not in seen:
        seen.add(row.id)
        row = load(row.merged_into_id)
    return row


def get_or_raise(*, uow: UnitOfWork, actor: IdentityActor, patient_id: str) -> PatientIdentity:
    """The identity, or NotFound."""
    found = get(uow=uow, actor=actor, patient_id=patient_id)
    if found is None:
        raise NotFound(f"patient {patient_id} introuvable", field="patient_id")
    return found


def read_or_raise(*, uow: UnitOfWork, actor: IdentityActor, patient_id: str) -> PatientIdentity:
    """As :func:`get_or_raise`, for a caller that needs nothing else of the patient's row (the FHIR ``read``): the
    row is read with a Core select unless the session holds it, and is not kept in the session."""
    row = _surviving(uow.patients.columns(patient_id), uow.patients.columns)
    if row is None:
        raise NotFound(f"patient {patient_id} introuvable", field="patient_id")
    audit.record(uow=uow, actor=actor, action="identity.read", patient_id=row.id)
    return _to_domain(row)


def find_by_ins(*, uow: UnitOfWork, actor: IdentityActor, matricule: str) -> PatientIdentity | None:
    """Look a patient up by matricule INS (validated first: a malformed one is an error, not a miss)."""
    parsed = parse_matricule(matricule)
    row = uow.patients.by_ins(parsed.value)
    if row is None:
        return None
    audit.record(uow=uow, actor=actor, action="identity.find_by_ins", patient_id=row.id)
    return _to_domain(row)


def search(
    *,
    uow: UnitOfWork,
    actor: IdentityActor,
    birth_name: str | None = None,
    first_name: str | None = None,
    birth_date: dt.date | None = None,
    sex: str | None = None,
    limit: int = 50,
) -> list[PatientIdentity]:
    """Search active identities by (normalised) traits; each hit is audited."""
    from carnet.identity.traits import normalise_name

    if not any([birth_name, first_name, birth_date]):
        raise ValidationError("indiquer au moins un nom, un prénom ou une date de naissance", field="traits")
    rows = uow.patients.search(
        birth_name=normalise_name(birth_name, field="birth_name") if birth_name else None,
        first_name=normalise_name(first_name, field="first_name") if first_name else None,
        birth_date=birth_date,
        sex=sex,
        limit=limit,
    )
    for row in rows:
        audit.record(uow=uow, actor=actor, action="identity.search", patient_id=row.id)
    return [_to_domain(r) for r in rows]


def collisions(*, uow: UnitOfWork, actor: IdentityActor, patient_id: str) -> list[Collision]:
    """Other records that may be the same person as ``patient_id``."""
    row = _row_or_raise(uow, patient_id)
    audit.record(uow=uow, actor=actor, action="identity.collisions", patient_id=row.id)
    return _collisions(uow, _to_domain(row).traits, exclude=row.id)


def _differences(local: Traits, reference: Traits) -> tuple[str, ...]:
    return tuple(sorted(changed_ins_traits(local, reference)))


def retrieve_ins(
    *,
    uow: UnitOfWork,
    actor: IdentityActor,
    insi: InsiClient,
    patient_id: str,
    carte_vitale: CarteVitaleRead | None = None,
) -> InsiRetrieval:
    """Call INSi (Carte Vitale if given, else traits) and, on a coherent single match, attach the INS.

    The INSi traits become the identity's reference traits. A match whose sex or birth date disagree with
    the local identity is refused: it is another person, or the local identity is wrong and must be
    corrected first.
    """
    row = _row_or_raise(uow, patient_id)
    local = _to_domain(row)
    if carte_vitale is not None:
        result: InsiResult = insi.read_carte_vitale(carte_vitale)
        how = "carte_vitale"
    else:
        t = local.traits
        query = TraitsQuery(
            birth_name=t.birth_name,
            sex=t.sex,
            birth_date=t.birth_date,
            first_names=tuple(t.birth_first_names.split(" ")),
            birth_place=t.birth_place if t.birth_place != "99999" else None,
        )
        result = insi.search_by_traits(query)
        how = "traits"
    audit.record(
        uow=uow,
        actor=actor,
        action="identity.insi_call",
        patient_id=row.id,
        outcome="success" if result.outcome is InsiOutcome.FOUND else "no_match",
        detail={"mode": how, "code": result.outcome.value},
    )
    if result.outcome is not InsiOutcome.FOUND or result.ins is None or result.traits is None:
        return InsiRetrieval(outcome=result.outcome, patient=local, perfect_match=False, differences=())
    reference = result.traits
    differences = _differences(local.traits, reference)
    blocking = {"sex", "birth_date"} & set(differences)
    if blocking:
        raise Conflict(
            "l'identité renvoyée par l'INSi ne correspond pas à celle du patient : "
            f"{' et '.join(trait_label(f) for f in sorted(blocking))} ne concordent pas ; "
            "vérifier l'identité avant de recommencer",
            field="traits",
        )
    holder = uow.patients.by_ins(result.ins.value)
    if holder is not None and holder.id != row.id:
        raise Conflict(
            f"ce matricule INS est déjà attaché au dossier {holder.id} : doublon probable, fusionner les dossiers",
            field="ins",
        )
    if row.ins_matricule and row.ins_matricule != result.ins.value:
        raise Conflict("l'INSi renvoie un autre matricule INS que celui du dossier : vérifier l'identité", field="ins")
    before = _move(uow, row, evidence=Evidence.INSI_MATCH, actor=actor, note=how)
    row.ins_matricule = result.ins.value
    row.ins_oid = result.ins.oid.value
    _apply_traits(
        row,
        dataclasses.replace(reference, used_name=local.traits.used_name, used_first_name=local.traits.used_first_name),
    )
    _event(
        uow,
        row,
        kind="status",
        actor=actor,
        from_status=before,
        evidence=Evidence.INSI_MATCH,
        detail={"mode": how, "perfect_match": not differences, "differences": list(differences)},
    )
    audit.record(uow=uow, actor=actor, action="identity.attach_ins", patient_id=row.id)
    uow.flush()
    return InsiRetrieval(
        outcome=result.outcome, patient=_to_domain(row), perfect_match=not differences, differences=differences
    )


def _last_insi_was_perfect(uow: UnitOfWork, patient_id: str) -> bool:
    events = [e for e in uow.patients.events([patient_id]) if e.evidence == Evidence.INSI_MATCH.value]
    return bool(events) and bool((events[-1].detail or {}).get("perfect_match"))


def record_document_check(
    *,
    uow: UnitOfWork,
    actor: IdentityActor,
    patient_id: str,
    document_type: IdDocumentType,
    note: str | None = None,
) -> PatientIdentity:
    """A high-trust identity document was checked: PROV→VALI, RECUP→QUAL."""
    return _apply_evidence(
        uow=uow,
        actor=actor,
        patient_id=patient_id,
        evidence=Evidence.ID_DOCUMENT,
        document_type=document_type,
        note=note,
    )


def attest_exception(
    *, uow: UnitOfWork, actor: IdentityActor, patient_id: str, note: str | None = None
) -> PatientIdentity:
    """Exception procedure: a doctor who personally knows the patient qualifies after a perfect INSi match."""
    return _apply_evidence(
        uow=uow,
        actor=actor,
        patient_id=patient_id,
        evidence=Evidence.EXCEPTION_ATTESTATION,
        perfect_insi_match=_last_insi_was_perfect(uow, patient_id),
        note=note,
    )


def _move(
    uow: UnitOfWork,
    row: PatientRow,
    *,
    evidence: Evidence,
    actor: IdentityActor,
    document_type: IdDocumentType | None = None,
    perfect_insi_match: bool = False,
    note: str | None = None,
) -> str:
    """Apply one status transition to ``row`` (the rules decide); return the status it had before."""
    actor = qualification_actor(actor)
    current = _to_domain(row)
    now = uow.clock.now()
    step = transition(
        current=current.status,
        evidence=evidence,
        actor=actor,
        at=now,
        document_type=document_type,
        is_minor=current.is_minor(local_date(now)),
        perfect_insi_match=perfect_insi_match,
        note=note,
    )
    before = row.status
    row.status = step.to_status.value
    row.updated_at = step.at
    return before


def _apply_evidence(
    *,
    uow: UnitOfWork,
    actor: IdentityActor,
    patient_id: str,
    evidence: Evidence,
    document_type: IdDocumentType | None = None,
    perfect_insi_match: bool = False,
    note: str | None = None,
) -> PatientIdentity:
    row = _row_or_raise(uow, patient_id)
    before = _move(
        uow,
        row,
        evidence=evidence,
        actor=actor,
        document_type=document_type,
        perfect_insi_match=perfect_insi_match,
        note=note,
    )
    _event(
        uow,
        row,
        kind="status",
        actor=actor,
        from_status=before,
        evidence=evidence,
        document_type=document_type,
        note=note,
    )
    audit.record(uow=uow, actor=actor, action=f"identity.{evidence.value}", patient_id=row.id)
    uow.flush()
    return _to_domain(row)


def change_traits(
    *,
    uow: UnitOfWork,
    actor: IdentityActor,
    patient_id: str,
    traits: Traits,
    document_type: IdDocumentType | None = None,
    note: str | None = None,
) -> PatientIdentity:
    """Replace the traits; changing an INS trait drops the status (VALI with a checked document, else PROV).

    The INS link is lost with an INS trait change: the matricule no longer vouches for these traits, so it is
    detached and must be retrieved again from INSi.
    """
    row = _row_or_raise(uow, patient_id)
    current = _to_domain(row)
    changed = changed_ins_traits(current.traits, traits)
    before = row.status
    detail: dict[str, Any] = {
        "changed": sorted(changed),
        "before": {f: str(getattr(current.traits, f)) for f in changed},
    }
    if changed:
        evidence = Evidence.TRAIT_CHANGE_WITH_DOCUMENT if document_type else Evidence.TRAIT_CHANGE
        _move(uow, row, evidence=evidence, actor=actor, document_type=document_type, note=note)
        if row.ins_matricule:
            detail["detached_ins"] = row.ins_matricule
        row.ins_matricule = None
        row.ins_oid = None
    else:
        evidence = None
    _apply_traits(row, traits)
    row.updated_at = uow.clock.now()
    _event(
        uow,
        row,
        kind="traits",
        actor=actor,
        from_status=before,
        evidence=evidence,
        document_type=document_type,
        note=note,
        detail=detail,
    )
    audit.record(
        uow=uow, actor=actor, action="identity.change_traits", patient_id=row.id, detail={"changed": sorted(changed)}
    )
    uow.flush()
    return _to_domain(row)


def merge(
    *, uow: UnitOfWork, actor: IdentityActor, survivor_id: str, absorbed_id: str, note: str | None = None
) -> PatientIdentity:
    """Merge a duplicate into the surviving record; both histories stay, the duplicate points to the survivor."""
    if actor.kind not in (ActorKind.PROFESSIONAL, ActorKind.SECRETARIAT):
        from carnet.errors import Forbidden

        raise Forbidden("seuls un professionnel ou le secrétariat peuvent fusionner des identités", field="actor")
    if survivor_id == absorbed_id:
        raise ValidationError("un dossier ne peut pas être fusionné avec lui-même", field="absorbed_id")
    survivor = _row_or_raise(uow, survivor_id)
    absorbed = _row_or_raise(uow, absorbed_id)
    if absorbed.ins_matricule and survivor.ins_matricule != absorbed.ins_matricule:
        if survivor.ins_matricule:
            raise Conflict(
                "les deux dossiers portent des matricules INS différents : ce sont deux personnes", field="ins"
            )
        raise Conflict(
            "le dossier à absorber porte un INS et pas le dossier conservé : conserver celui qui porte l'INS",
            field="survivor_id",
        )
    now = uow.clock.now()
    absorbed.merged_into_id = survivor.id
    absorbed.updated_at = now
    survivor.updated_at = now
    _event(uow, survivor, kind="merge", actor=actor, note=note, detail={"absorbed": absorbed.id})
    _event(uow, absorbed, kind="merged_into", actor=actor, note=note, detail={"survivor": survivor.id})
    audit.record(
        uow=uow, actor=actor, action="identity.merge", patient_id=survivor.id, detail={"absorbed": absorbed.id}
    )
    audit.record(
        uow=uow, actor=actor, action="identity.merged_into", patient_id=absorbed.id, detail={"survivor": survivor.id}
    )
    uow.flush()
    return _to_domain(survivor)


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    patient_id: str
    at: dt.datetime
    kind: str
    from_status: str | None
    to_status: str | None
    evidence: str | None
    document_type: str | None
    actor_kind: str
    actor_id: str
    note: str | None
    detail: dict[str, Any] | None


def history(*, uow: UnitOfWork, actor: IdentityActor, patient_id: str) -> list[HistoryEntry]:
    """The identity's history, including the histories of every record merged into it."""
    row = _row_or_raise(uow, patient_id)
    ids = [row.id, *uow.patients.merged_into(row.id)]
    audit.record(uow=uow, actor=actor, action="identity.history", patient_id=row.id)
    return [
        HistoryEntry(
            patient_id=e.patient_id,
            at=e.at,
            kind=e.kind,
            from_status=e.from_status,
            to_status=e.to_status,
            evidence=e.evidence,
            document_type=e.document_type,
            actor_kind=e.actor_kind,
            actor_id=e.actor_id,
            note=e.note,
            detail=e.detail,
        )
        for e in uow.patients.events(ids)
    ]

"""Gathering the facts, enforcing the decision, and the holder's management of access.

``enforce`` is the only way the record services ask for access: it loads the patient's facts, calls the pure
:func:`carnet.access.decide.decide`, records a refusal at once (in its own transaction, so it survives the
rollback of the refused unit of work) and raises; an allowed decision is returned so that the caller records
it with the action it traces.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from carnet.access.decide import decide
from carnet.access.model import (
    Action,
    Actor,
    CareTeamMember,
    Consent,
    Context,
    Decision,
    DocumentFacts,
    Grant,
    Mode,
    PatientFacts,
    SpaceStatus,
    grant_class_codes,
)
from carnet.access.store import (
    AccessProfileRow,
    CareTeamRow,
    ConsentRow,
    GrantRow,
    OppositionRow,
    RepresentativeRow,
)
from carnet.audit import service as audit
from carnet.clock import MAJORITY_AGE, age_at
from carnet.errors import Forbidden, NotFound, ValidationError
from carnet.identity.status import IdentityStatus

if TYPE_CHECKING:
    from carnet.identity.store import PatientRow
    from carnet.storage.uow import UnitOfWork

# Reason codes under which a professional must not even learn that the document exists.
_NO_TRACE = frozenset({"hidden_by_holder", "invisible_to_patient", "invisible_to_representatives"})


def facts_for(uow: UnitOfWork, patient: PatientRow) -> PatientFacts:
    """Everything the holder decided, as of now (one statement: :meth:`AccessRepository.decision_rows`)."""
    rows = uow.access.decision_rows(patient.id)
    profile = rows["profile"][0] if rows["profile"] else None
    traitant = profile.s2 if profile else None
    team = tuple(
        CareTeamMember(
            professional_id=m.s1,
            informed_at=m.t1,
            refused_at=m.t2,
            is_medecin_traitant=m.s1 == traitant,
        )
        for m in rows["team"]
    )
    if traitant and traitant not in {m.professional_id for m in team}:
        team += (CareTeamMember(professional_id=traitant, is_medecin_traitant=True),)
    oppositions = rows["opposition"]
    return PatientFacts(
        patient_id=patient.id,
        identity_status=IdentityStatus(patient.status),
        space_status=SpaceStatus(profile.s1) if profile else SpaceStatus.OPEN,
        care_team=team,
        consents=tuple(Consent(professional_id=c.s1, given_at=c.t1, expires_at=c.t2) for c in rows["consent"]),
        blocked_professionals=frozenset(o.s2 for o in oppositions if o.s1 == "professional"),
        blocked_organisations=frozenset(o.s2 for o in oppositions if o.s1 == "organisation"),
        emergency_refused=bool(profile.b1) if profile else False,
        grants=tuple(
            Grant(
                grantee_kind=g.s1,
                grantee_id=g.s2,
                can_read=bool(g.b1),
                can_write=bool(g.b2),
                class_codes=grant_class_codes(g.j),
                valid_from=g.t1,
                valid_until=g.t2,
                revoked_at=g.t3,
            )
            for g in rows["grant"]
        ),
        representatives=frozenset(r.s1 for r in rows["representative"]),
        is_minor=age_at(patient.birth_date, uow.clock.now()) < MAJORITY_AGE,
        protected_adult=bool(profile.b2) if profile else False,
    )


def document_facts(row: Any) -> DocumentFacts:
    """The facts of a stored document entry (``carnet.record.store.DocumentRow``)."""
    return DocumentFacts(
        id=row.id,
        type_code=row.type_code,
        class_code=row.class_code,
        author_id=row.author_id,
        author_kind=row.author_kind,
        hidden_from_professionals=row.hidden_from_professionals,
        invisible_to_patient=row.invisible_to_patient,
        invisible_to_representatives=row.invisible_to_representatives,
        status=row.status,
    )


@dataclass(frozen=True, slots=True)
class Access:
    """An allowed decision with the context it was made in (the caller records both)."""

    decision: Decision
    context: Context

    def audit_kwargs(self) -> dict[str, Any]:
        return {"decision": self.decision, "mode": self.context.mode.value, "request_id": self.context.request_id}


def context(uow: UnitOfWork, *, mode: Mode = Mode.NORMAL, justification: str | None = None,
            request_id: str | None = None) -> Context:  # fmt: skip
    """The decision context for now."""
    return Context(
        now=uow.clock.now(), mode=mode, justification=justification, request_id=request_id or audit.current_request_id()
    )


def evaluate(
    *,
    uow: UnitOfWork,
    actor: Actor,
    action: Action,
    facts: PatientFacts,
    document: DocumentFacts | None = None,
    ctx: Context,
) -> Decision:
    """The pure decision (no enforcement, no trace): for filtering listings."""
    return decide(actor, action, facts, document, ctx)


def enforce(
    *,
    uow: UnitOfWork,
    actor: Actor,
    action: Action,
    patient: PatientRow,
    facts: PatientFacts | None = None,
    document: DocumentFacts | None = None,
    ctx: Context | None = None,
    trace: str | None = None,
) -> Access:
    """Decide; on refusal trace it at once and raise (NotFound when the document must leave no trace).

    ``trace``: the action code of the refusal's audit entry (default ``document.<action>`` or ``record.<action>``),
    e.g. ``profile.vital_list`` for the space's data decided as a category (:func:`carnet.access.model.space_facts`).
    """
    ctx = ctx or context(uow)
    facts = facts or facts_for(uow, patient)
    decision = decide(actor, action, facts, document, ctx)
    if decision.allowed:
        return Access(decision=decision, context=ctx)
    audit.record_now(
        uow=uow,
        actor=actor,
        action=trace or f"{'document' if document else 'record'}.{action.value}",
        patient_id=patient.id,
        detail={"document": document.id} if document else None,
        mode=ctx.mode.value,
        decision=decision,
        request_id=ctx.request_id,
    )
    if document is not None:
        # Whoever may not read a hidden or held-back document must not learn that it exists, whatever they tried.
        read = decision if action == Action.READ else decide(actor, Action.READ, facts, document, ctx)
        if not read.allowed and set(read.codes) & _NO_TRACE:
            raise NotFound("document introuvable", field="document")
    raise Forbidden(" ; ".join(r.fr for r in decision.reasons) or "accès refusé")


# --- the holder's (and the professionals') management of access ------------------------------------------------


def _patient(uow: UnitOfWork, patient_id: str) -> PatientRow:
    row = uow.patients.get(patient_id)
    if row is None or row.merged_into_id:
        raise NotFound(f"patient {patient_id} introuvable", field="patient")
    return row


def _profile(uow: UnitOfWork, patient_id: str) -> AccessProfileRow:
    profile = uow.access.profile(patient_id)
    if profile is None:
        now = uow.clock.now()
        profile = AccessProfileRow(patient_id=patient_id, space_status="open", emergency_refused=False,
                                   protected_adult=False, created_at=now, updated_at=now)  # fmt: skip
        uow.access.add(profile)
    return profile


def _manage(uow: UnitOfWork, actor: Actor, patient_id: str, what: str, detail: dict[str, Any]) -> PatientRow:
    patient = _patient(uow, patient_id)
    access = enforce(uow=uow, actor=actor, action=Action.MANAGE_CONSENT, patient=patient)
    audit.record(uow=uow, actor=actor, action=f"consent.{what}", patient_id=patient.id, detail=detail,
                 **access.audit_kwargs())  # fmt: skip
    return patient


def _professional_records(
    uow: UnitOfWork, actor: Actor, patient_id: str, what: str, detail: dict[str, Any]
) -> PatientRow:
    """A professional records what the patient said at a consultation (traced, not a holder setting)."""
    patient = _patient(uow, patient_id)
    if actor.kind.value not in ("professional", "system"):
        raise Forbidden("seul un professionnel de santé enregistre l'information ou le consentement du patient")
    audit.record(uow=uow, actor=actor, action=f"consent.{what}", patient_id=patient.id, detail=detail)
    return patient


def set_medecin_traitant(*, uow: UnitOfWork, actor: Actor, patient_id: str, professional_id: str | None) -> None:
    """The holder declares (or clears) the médecin traitant, who is a care-team member with its own rights."""
    _manage(uow, actor, patient_id, "medecin_traitant", {"professional": professional_id})
    profile = _profile(uow, patient_id)
    profile.medecin_traitant_id = professional_id
    profile.updated_at = uow.clock.now()
    uow.flush()


def join_care_team(*, uow: UnitOfWork, actor: Actor, patient_id: str, informed: bool = True) -> str:
    """A professional joins the care team, having informed the patient (presumed consent from then on); returns
    the membership's id."""
    _professional_records(uow, actor, patient_id, "care_team_join", {"professional": actor.id, "informed": informed})
    now = uow.clock.now()
    member = uow.access.care_team_member(patient_id, actor.id)
    if member is None:
        member = CareTeamRow(patient_id=patient_id, professional_id=actor.id, recorded_by=actor.id,
                             created_at=now, updated_at=now)  # fmt: skip
        uow.access.add(member)
    if informed:
        member.informed_at = now
    member.updated_at = now
    uow.flush()
    return member.id


def refuse_care_team_member(*, uow: UnitOfWork, actor: Actor, patient_id: str, professional_id: str) -> None:
    """The patient refuses a care-team member's access (recorded; it blocks the presumed consent)."""
    _manage(uow, actor, patient_id, "care_team_refusal", {"professional": professional_id})
    now = uow.clock.now()
    member = uow.access.care_team_member(patient_id, professional_id)
    if member is None:
        member = CareTeamRow(patient_id=patient_id, professional_id=professional_id, recorded_by=actor.id,
                             created_at=now, updated_at=now)  # fmt: skip
        uow.access.add(member)
    member.refused_at = now
    member.updated_at = now
    uow.flush()


def record_consent(
    *, uow: UnitOfWork, actor: Actor, patient_id: str, valid_for: dt.timedelta = dt.timedelta(hours=24)
) -> str:
    """A professional outside the care team records the patient's explicit consent for this consultation; returns
    the consent's id."""
    if valid_for <= dt.timedelta(0) or valid_for > dt.timedelta(days=1):
        raise ValidationError(
            "un consentement vaut pour une consultation : durée entre 0 et 24 heures", field="valid_for"
        )
    _professional_records(
        uow, actor, patient_id, "explicit", {"professional": actor.id, "valid_for_s": valid_for.total_seconds()}
    )
    now = uow.clock.now()
    row = ConsentRow(patient_id=patient_id, professional_id=actor.id, given_at=now, expires_at=now + valid_for,
                     recorded_by=actor.id, created_at=now, updated_at=now)  # fmt: skip
    uow.access.add(row)
    uow.flush()
    return row.id


EMERGENCY_JUSTIFICATION_MIN = 20  # characters: a reason a reader of the trail can understand, not "urgent"
EMERGENCY_JUSTIFICATION_MAX = 400


def declare_emergency(
    *, uow: UnitOfWork, actor: Actor, patient_id: str, justification: str, mode: Mode = Mode.EMERGENCY
) -> Context:
    """A professional declares an emergency access (bris de glace) with a written justification: the decision in
    that mode is enforced (the holder's refusal of emergency access refuses it, traced), the declaration is traced
    with its justification, and the returned context is the one every read made under it must carry."""
    text = " ".join(justification.split())
    if mode == Mode.NORMAL:
        raise ValidationError("un accès en urgence se déclare en mode urgence ou régulation", field="mode")
    if len(text) < EMERGENCY_JUSTIFICATION_MIN:
        raise ValidationError(f"justification trop courte : au moins {EMERGENCY_JUSTIFICATION_MIN} caractères "
                              "disant pourquoi l'urgence impose cet accès", field="justification")  # fmt: skip
    if len(text) > EMERGENCY_JUSTIFICATION_MAX:
        raise ValidationError(f"justification trop longue : au plus {EMERGENCY_JUSTIFICATION_MAX} caractères",
                              field="justification")  # fmt: skip
    if actor.kind.value != "professional":
        raise Forbidden("seul un professionnel de santé déclare un accès en urgence")
    patient = _patient(uow, patient_id)
    ctx = context(uow, mode=mode, justification=text)
    granted = enforce(uow=uow, actor=actor, action=Action.LIST, patient=patient, ctx=ctx)
    audit.record(uow=uow, actor=actor, action="emergency.declare", patient_id=patient.id, detail={"reason": text},
                 **granted.audit_kwargs())  # fmt: skip
    return ctx


def decision_on_record(*, uow: UnitOfWork, actor: Actor, patient_id: str, ctx: Context | None = None) -> Decision:
    """What the access decision says now of ``actor`` listing the record, with its reasons (the basis of access a
    professional's page shows before reading): decided, neither enforced nor traced."""
    patient = _patient(uow, patient_id)
    return decide(actor, Action.LIST, facts_for(uow, patient), None, ctx or context(uow))


def block(*, uow: UnitOfWork, actor: Actor, patient_id: str, target_kind: str, target_id: str) -> str:
    """The holder opposes access by a professional or an establishment; returns the opposition's id."""
    if target_kind not in ("professional", "organisation"):
        raise ValidationError("opposition à un professionnel ou à un établissement", field="target_kind")
    _manage(uow, actor, patient_id, "opposition", {"target_kind": target_kind, "target": target_id})
    now = uow.clock.now()
    row = OppositionRow(patient_id=patient_id, target_kind=target_kind, target_id=target_id, created_at=now,
                        updated_at=now)  # fmt: skip
    uow.access.add(row)
    uow.flush()
    return row.id


def unblock(*, uow: UnitOfWork, actor: Actor, patient_id: str, target_id: str) -> None:
    """The holder lifts an opposition."""
    _manage(uow, actor, patient_id, "opposition_lifted", {"target": target_id})
    now = uow.clock.now()
    for o in uow.access.oppositions(patient_id):
        if o.target_id == target_id:
            o.lifted_at = now
            o.updated_at = now
    uow.flush()


def set_emergency_refused(*, uow: UnitOfWork, actor: Actor, patient_id: str, refused: bool) -> None:
    """The holder refuses (or accepts again) emergency access to the record."""
    _manage(uow, actor, patient_id, "emergency_setting", {"refused": refused})
    profile = _profile(uow, patient_id)
    profile.emergency_refused = refused
    profile.updated_at = uow.clock.now()
    uow.flush()


def set_space_status(*, uow: UnitOfWork, actor: Actor, patient_id: str, status: SpaceStatus) -> None:
    """Open, oppose or close the space (the holder; the platform's lifecycle jobs)."""
    _manage(uow, actor, patient_id, "space_status", {"status": status.value})
    profile = _profile(uow, patient_id)
    profile.space_status = status.value
    profile.updated_at = uow.clock.now()
    uow.flush()


def add_grant(
    *,
    uow: UnitOfWork,
    actor: Actor,
    patient_id: str,
    grantee_kind: str,
    grantee_id: str,
    can_read: bool,
    can_write: bool,
    class_codes: frozenset[str] = frozenset(),
    valid_until: dt.datetime | None = None,
) -> str:
    """The holder authorises a professional, an establishment or an app (directory of grants); returns its id."""
    if grantee_kind not in ("professional", "organisation", "app"):
        raise ValidationError("bénéficiaire : professional, organisation ou app", field="grantee_kind")
    if not (can_read or can_write):
        raise ValidationError("une autorisation permet de lire et/ou d'alimenter", field="permissions")
    now = uow.clock.now()
    if valid_until is not None and valid_until <= now:
        raise ValidationError("la date de fin d'une autorisation doit être future", field="valid_until")
    _manage(uow, actor, patient_id, "grant", {"grantee": grantee_id, "kind": grantee_kind, "read": can_read,
                                              "write": can_write, "classes": sorted(class_codes)})  # fmt: skip
    row = GrantRow(patient_id=patient_id, grantee_kind=grantee_kind, grantee_id=grantee_id, can_read=can_read,
                   can_write=can_write, class_codes=sorted(class_codes), valid_from=now, valid_until=valid_until,
                   created_at=now, updated_at=now)  # fmt: skip
    uow.access.add(row)
    uow.flush()
    return row.id


def revoke_grant(*, uow: UnitOfWork, actor: Actor, patient_id: str, grant_id: str) -> None:
    """The holder revokes a grant, at once."""
    row = uow.access.grant(grant_id)
    if row is None or row.patient_id != patient_id:
        raise NotFound("autorisation introuvable", field="grant")
    _manage(uow, actor, patient_id, "grant_revoked", {"grant": grant_id})
    row.revoked_at = uow.clock.now()
    row.updated_at = row.revoked_at
    uow.flush()


def add_representative(*, uow: UnitOfWork, actor: Actor, patient_id: str, representative_id: str, role: str) -> None:
    """Record a legal representative (the platform, from the insurer's or the court's data)."""
    if actor.kind.value not in ("system", "operator"):
        raise Forbidden("les représentants légaux sont enregistrés par la plateforme")
    patient = _patient(uow, patient_id)
    now = uow.clock.now()
    uow.access.add(RepresentativeRow(patient_id=patient.id, representative_id=representative_id, role=role,
                                     created_at=now, updated_at=now))  # fmt: skip
    audit.record(uow=uow, actor=actor, action="consent.representative", patient_id=patient.id,
                 detail={"representative": representative_id, "role": role})  # fmt: skip
    uow.flush()


# --- reading and revoking the settings one by one (the API's Consent resources) ---------------------------------

_SETTING_TABLES: dict[str, type[Any]] = {
    "careteam": CareTeamRow,
    "consent": ConsentRow,
    "opposition": OppositionRow,
    "grant": GrantRow,
}
SETTING_KINDS = ("careteam", "consent", "opposition", "grant", "emergency", "traitant")


@dataclass(frozen=True, slots=True)
class Setting:
    """One access setting of a patient: a row (care team, consent, opposition, grant) or a flag of the profile
    (``emergency``: emergency access refused; ``traitant``: the médecin traitant). ``id`` is stable:
    ``<kind>-<row id>``, or ``<kind>-<patient id>`` for the profile's flags."""

    kind: str
    id: str
    patient_id: str
    row: Any

    @property
    def professional_id(self) -> str | None:
        """The professional the setting names, if it names one."""
        if self.kind in ("careteam", "consent"):
            return str(self.row.professional_id)
        if self.kind == "traitant":
            return str(self.row.medecin_traitant_id)
        if self.kind in ("opposition", "grant"):
            kind = self.row.target_kind if self.kind == "opposition" else self.row.grantee_kind
            target = self.row.target_id if self.kind == "opposition" else self.row.grantee_id
            return str(target) if kind == "professional" else None
        return None


def _settings(uow: UnitOfWork, patient_id: str) -> list[Setting]:
    rows = uow.access.all_rows(patient_id)
    out = [Setting(kind, f"{kind}-{row.id}", patient_id, row) for kind in _SETTING_TABLES for row in rows[kind]]
    profile = uow.access.profile(patient_id)
    if profile is not None and profile.emergency_refused:
        out.append(Setting("emergency", f"emergency-{patient_id}", patient_id, profile))
    if profile is not None and profile.medecin_traitant_id:
        out.append(Setting("traitant", f"traitant-{patient_id}", patient_id, profile))
    return out


def _sees_all(uow: UnitOfWork, actor: Actor, patient: PatientRow, ctx: Context | None) -> Access | None:
    """The holder and representatives see every setting (MANAGE_CONSENT); a professional only the entries naming
    them (what they recorded: care team, consent); anyone else is refused (and traced)."""
    if actor.kind.value == "professional":
        return None
    return enforce(uow=uow, actor=actor, action=Action.MANAGE_CONSENT, patient=patient, ctx=ctx)


def _visible(setting: Setting, actor: Actor, all_visible: bool) -> bool:
    return all_visible or (setting.kind in ("careteam", "consent") and setting.professional_id == actor.id)


def list_settings(*, uow: UnitOfWork, actor: Actor, patient_id: str, ctx: Context | None = None) -> list[Setting]:
    """Every setting of the patient, past ones included, as far as ``actor`` may see them; the reading is traced."""
    patient = _patient(uow, patient_id)
    access = _sees_all(uow, actor, patient, ctx)
    found = [s for s in _settings(uow, patient.id) if _visible(s, actor, access is not None)]
    extra = access.audit_kwargs() if access else {}
    audit.record(uow=uow, actor=actor, action="consent.list", patient_id=patient.id,
                 detail={"returned": len(found)}, **extra)  # fmt: skip
    return found


def _find_setting(uow: UnitOfWork, setting_id: str) -> Setting:
    kind, _, key = setting_id.partition("-")
    missing = NotFound(f"consentement {setting_id} introuvable", field="id")
    if kind in _SETTING_TABLES:
        row = uow.access.row(_SETTING_TABLES[kind], key) if key else None
        if row is None:
            raise missing
        return Setting(kind, setting_id, row.patient_id, row)
    if kind in ("emergency", "traitant") and key:
        for setting in _settings(uow, key):
            if setting.id == setting_id:
                return setting
    raise missing


def setting_patient(*, uow: UnitOfWork, setting_id: str) -> str:
    """The patient a setting belongs to (NotFound when unknown), to know the caller's role on that record."""
    return _find_setting(uow, setting_id).patient_id


def get_setting(*, uow: UnitOfWork, actor: Actor, setting_id: str, ctx: Context | None = None) -> Setting:
    """One setting by id; a setting the actor may not see is NotFound for a professional, refused for others."""
    setting = _find_setting(uow, setting_id)
    patient = _patient(uow, setting.patient_id)
    access = _sees_all(uow, actor, patient, ctx)
    if not _visible(setting, actor, access is not None):
        raise NotFound(f"consentement {setting_id} introuvable", field="id")
    extra = access.audit_kwargs() if access else {}
    audit.record(uow=uow, actor=actor, action="consent.read", patient_id=patient.id,
                 detail={"setting": setting_id}, **extra)  # fmt: skip
    return setting


def withdraw_consent(*, uow: UnitOfWork, actor: Actor, patient_id: str, consent_id: str) -> None:
    """An explicit consent is withdrawn, by the holder (or a representative) or the professional who recorded it."""
    row = uow.access.row(ConsentRow, consent_id)
    if row is None or row.patient_id != patient_id:
        raise NotFound("consentement introuvable", field="consent")
    detail = {"consent": consent_id, "professional": row.professional_id}
    if actor.kind.value == "professional" and actor.id == row.professional_id:
        _professional_records(uow, actor, patient_id, "explicit_withdrawn", detail)
    else:
        _manage(uow, actor, patient_id, "explicit_withdrawn", detail)
    row.withdrawn_at = uow.clock.now()
    row.updated_at = row.withdrawn_at
    uow.flush()


def revoke_setting(*, uow: UnitOfWork, actor: Actor, setting_id: str) -> Setting:
    """Revoke one setting with the use case it stands for (refuse a care-team member, withdraw a consent, lift an
    opposition, revoke a grant, accept emergency access again, clear the médecin traitant); returns it as it was."""
    setting = _find_setting(uow, setting_id)
    row, patient_id = setting.row, setting.patient_id
    if setting.kind == "careteam":
        if row.refused_at is not None:
            raise ValidationError("l'accès de ce membre de l'équipe de soins est déjà refusé", field="status")
        refuse_care_team_member(uow=uow, actor=actor, patient_id=patient_id, professional_id=row.professional_id)
    elif setting.kind == "consent":
        if row.withdrawn_at is not None:
            raise ValidationError("ce consentement est déjà retiré", field="status")
        withdraw_consent(uow=uow, actor=actor, patient_id=patient_id, consent_id=row.id)
    elif setting.kind == "opposition":
        if row.lifted_at is not None:
            raise ValidationError("cette opposition est déjà levée", field="status")
        unblock(uow=uow, actor=actor, patient_id=patient_id, target_id=row.target_id)
    elif setting.kind == "grant":
        if row.revoked_at is not None:
            raise ValidationError("cette autorisation est déjà retirée", field="status")
        revoke_grant(uow=uow, actor=actor, patient_id=patient_id, grant_id=row.id)
    elif setting.kind == "emergency":
        set_emergency_refused(uow=uow, actor=actor, patient_id=patient_id, refused=False)
    else:
        set_medecin_traitant(uow=uow, actor=actor, patient_id=patient_id, professional_id=None)
    return setting


def enforce_on_record(
    *, uow: UnitOfWork, actor: Actor, patient_id: str, action: Action = Action.LIST, ctx: Context | None = None
) -> Access:
    """The decision on the record as a whole (no document), enforced: e.g. whether a patient, a representative or
    an app may see this record's identity. The caller records the access it traces."""
    return enforce(uow=uow, actor=actor, action=action, patient=_patient(uow, patient_id), ctx=ctx)


def read_history(*, uow: UnitOfWork, actor: Actor, patient_id: str, ctx: Context | None = None) -> list[Any]:
    """The patient's audit entries (``AuditRow``), for the holder, a representative or an operator (READ_AUDIT);
    the reading is traced."""
    patient = _patient(uow, patient_id)
    enforce(uow=uow, actor=actor, action=Action.READ_AUDIT, patient=patient, ctx=ctx)
    return audit.history_rows(uow=uow, actor=actor, patient_id=patient.id)

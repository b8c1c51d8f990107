"""The access decision: ``decide(actor, action, facts, resource, context) -> Decision``. Pure and total.

No I/O: the services gather the facts, call :func:`decide`, enforce the answer and record it in the audit trail.
It never raises to deny (an unexpected error is itself a refusal, ``decision_error``: fail closed); deny
overrides allow; anything no rule allows is denied. Every decision lists its reasons, each with a stable code
and a French and English text a patient can read (``REASONS`` lists them all; ``docs/access-matrix.md`` explains them).

The rules, by actor (DESIGN.md, "The rules the system must enforce"; issue 4):

- **SYSTEM** (the platform's own jobs) may do everything, except depositing for an unqualified identity or into
  an opposed/closed space. **OPERATOR** may only read the audit trail, and not on an opposed/closed space.
- **The holder** reads, lists and searches their record except documents held back until the announcement
  consultation; hides/shows, deletes, manages consents and grants, reads the access history, sets the
  visibility to representatives; deposits only patient-authored documents; never holds back or releases;
  never changes the identity status. Another patient gets nothing.
- **A representative** listed in the facts acts as the holder while the holder is a minor or a protected adult
  (at majority the access ends), except that documents invisible to representatives stay hidden and a
  representative cannot change that visibility.
- **A professional** is refused outright on an opposed/closed space, when blocked by the holder (in person or
  through the organisation), and in an emergency mode without justification or when the holder refused
  emergency access. Reading needs a basis: care team (patient informed, no refusal), médecin traitant, a valid
  explicit consent, a valid read grant covering the category, or the emergency / regulation mode; then the
  matrice d'habilitation must allow the profession to read the category/type; documents hidden by the holder
  stay invisible except to their author and the médecin traitant. A professional always reads their own
  documents. Depositing/replacing: own documents, a qualified identity and a basis (care team, médecin
  traitant, consent, write grant, emergency/regulation). Hold back/release, delete and set the visibility to
  representatives: the author only. Hide/show, consents and the access history: never.
- **Secretariat** (CPE) deposits on behalf of the professional it works for (``acting_for``, with that
  professional's basis) and qualifies identities; it never reads clinical documents.
- **An app** acts only on a valid grant of the holder (read or write, category covered, not expired or revoked),
  never on hidden or held-back documents.

Emergency vs regulation: the holder's refusal of emergency access (``emergency_refused``) also refuses the
regulation mode (SAMU / centre 15). The DMP historically offered two separate settings; with one setting in the
facts, refusing both is the reading that never opens access the holder may have meant to refuse. The
regulation mode is for médecins (the médecin régulateur). Both modes need a justification, and an allowed
access carries the obligations ``flag_emergency`` and ``notify_holder_emergency``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from carnet.access.matrix import Matrix, default_matrix
from carnet.access.model import (
    AUTH_METHODS_FOR_KIND,
    Action,
    Actor,
    ActorKind,
    Context,
    Decision,
    DocumentFacts,
    Mode,
    PatientFacts,
    Reason,
    SpaceStatus,
)
from carnet.identity.status import may_share

__all__ = ["EMERGENCY_OBLIGATIONS", "MEDECIN", "REASONS", "TRACE_DENIAL", "decide", "document_key"]

MEDECIN = "10"  # TRE_G15: médecin
TRACE_DENIAL = frozenset({"trace_denial"})
EMERGENCY_OBLIGATIONS = frozenset({"flag_emergency", "notify_holder_emergency"})
_NONE: frozenset[str] = frozenset()

_READS = frozenset({Action.READ, Action.LIST, Action.SEARCH})
_WRITES = frozenset({Action.DEPOSIT, Action.REPLACE})
_AUTHOR_ACTIONS = frozenset({Action.HOLD_BACK, Action.RELEASE, Action.DELETE, Action.SET_REPRESENTATIVE_VISIBILITY})
_HOLDER_ON_DOCUMENT = frozenset({Action.HIDE, Action.SHOW, Action.DELETE, Action.SET_REPRESENTATIVE_VISIBILITY})
_HOLDER_ON_SPACE = frozenset({Action.MANAGE_CONSENT, Action.READ_AUDIT})
_CLOSED = frozenset({SpaceStatus.OPPOSED, SpaceStatus.CLOSED})

REASONS: dict[str, Reason] = {}


def _reason(code: str, fr: str, en: str) -> Reason:
    reason = Reason(code, fr, en)
    REASONS[code] = reason
    return reason


# --- allowing reasons ------------------------------------------------------------------------------------------
R_SYSTEM = _reason("system_job", "traitement automatique de la plateforme", "platform job")
R_OPERATOR_AUDIT = _reason(
    "operator_audit",
    "l'opérateur de la plateforme contrôle les traces d'accès",
    "the platform operator audits the trail",
)
R_HOLDER = _reason(
    "holder_own_record", "le titulaire accède à son propre dossier", "the holder accesses their own record"
)
R_REP_MINOR = _reason(
    "representative_of_minor",
    "représentant légal d'un patient mineur, agissant pour lui",
    "legal representative of a minor patient, acting for them",
)
R_REP_PROTECTED = _reason(
    "representative_of_protected_adult",
    "représentant légal d'un majeur protégé, agissant pour lui",
    "legal representative of a protected adult, acting for them",
)
R_PATIENT_DOCUMENT = _reason(
    "patient_document", "document déposé par le patient lui-même", "document deposited by the patient themselves"
)
R_OWN_DOCUMENT = _reason(
    "own_document", "document rédigé par ce professionnel", "document written by this professional"
)
R_MEDECIN_TRAITANT = _reason("medecin_traitant", "médecin traitant du patient", "the patient's referring doctor")
R_CARE_TEAM = _reason(
    "care_team_member",
    "membre de l'équipe de soins : le patient a été informé et ne s'y est pas opposé",
    "care team member: the patient was informed and did not refuse",
)
R_CONSENT = _reason(
    "consent_given",
    "le patient a donné son consentement explicite pour cette consultation",
    "the patient gave explicit consent for this consultation",
)
R_GRANT_READ = _reason(
    "grant_read",
    "autorisation de consultation donnée par le titulaire (répertoire des autorisations)",
    "read grant given by the holder (directory of grants)",
)
R_GRANT_WRITE = _reason(
    "grant_write",
    "autorisation d'alimentation donnée par le titulaire (répertoire des autorisations)",
    "write grant given by the holder (directory of grants)",
)
R_EMERGENCY = _reason(
    "emergency_access",
    "accès en urgence (bris de glace), justifié ; le titulaire en est informé",
    "emergency access (break-glass), justified; the holder is notified",
)
R_REGULATION = _reason(
    "regulation_access",
    "accès par la régulation médicale (SAMU – centre 15), justifié ; le titulaire en est informé",
    "access by the emergency medical regulation (SAMU – centre 15), justified; the holder is notified",
)
R_HIDDEN_MEDECIN_TRAITANT = _reason(
    "hidden_visible_to_medecin_traitant",
    "document masqué par le titulaire, qui reste visible pour son médecin traitant",
    "document hidden by the holder, still visible to the referring doctor",
)
R_IDENTITY_QUALIFIED = _reason(
    "identity_qualified", "l'identité INS du patient est qualifiée", "the patient's INS identity is qualified"
)
R_AUTHOR_ACTION = _reason(
    "author_action", "action de l'auteur du document sur son document", "the author acting on their own document"
)
R_HOLDER_MANAGES = _reason(
    "holder_manages_space", "le titulaire gère son espace santé", "the holder manages their health space"
)
R_IDENTITY_VIGILANCE = _reason(
    "identity_vigilance",
    "qualification de l'identité INS (identitovigilance)",
    "qualification of the INS identity (identity vigilance)",
)
R_SECRETARIAT_FOR = _reason(
    "secretariat_for_professional",
    "le secrétariat dépose pour le professionnel qu'il assiste",
    "the secretariat deposits for the professional it works for",
)
R_APP_GRANT_READ = _reason(
    "app_grant_read",
    "application référencée autorisée par le titulaire à consulter cette catégorie",
    "referenced app the holder allowed to read this category",
)
R_APP_GRANT_WRITE = _reason(
    "app_grant_write",
    "application référencée autorisée par le titulaire à alimenter cette catégorie",
    "referenced app the holder allowed to feed this category",
)

# --- denying reasons -------------------------------------------------------------------------------------------
R_DECISION_ERROR = _reason(
    "decision_error",
    "la demande n'a pas pu être évaluée ; l'accès est refusé par précaution",
    "the request could not be evaluated; access is refused as a precaution",
)
R_INVALID_CONTEXT = _reason(
    "invalid_context",
    "l'heure de la demande n'est pas datée avec son fuseau horaire",
    "the request time has no time zone",
)
R_ACTOR_INVALID = _reason(
    "actor_invalid",
    "la personne qui agit n'est pas identifiée de façon valide",
    "the acting person is not validly identified",
)
R_SPACE_OPPOSED = _reason(
    "space_opposed",
    "le titulaire s'est opposé à la création de son espace santé : personne d'autre n'y a accès",
    "the holder opposed the creation of their health space: nobody else has access",
)
R_SPACE_CLOSED = _reason(
    "space_closed",
    "l'espace santé a été fermé : personne d'autre n'y a accès et rien ne peut y être déposé",
    "the health space was closed: nobody else has access and nothing can be deposited",
)
R_NOT_OWN_RECORD = _reason(
    "not_own_record", "un patient n'accède qu'à son propre dossier", "a patient only accesses their own record"
)
R_NOT_REPRESENTATIVE = _reason(
    "not_a_representative",
    "cette personne n'est pas enregistrée comme représentant légal du titulaire",
    "this person is not registered as the holder's legal representative",
)
R_AFTER_MAJORITY = _reason(
    "representative_after_majority",
    "majorité : les représentants légaux perdent l'accès au dossier",
    "majority: the legal representatives lose access to the record",
)
R_HELD_BACK = _reason(
    "invisible_to_patient",
    "document pas encore visible par le patient (il le sera après la consultation d'annonce)",
    "document not yet visible to the patient (until the announcement consultation)",
)
R_HIDDEN_FROM_REPRESENTATIVES = _reason(
    "invisible_to_representatives",
    "document rendu invisible aux représentants légaux",
    "document made invisible to the legal representatives",
)
R_REPRESENTATIVE_VISIBILITY = _reason(
    "representative_cannot_set_visibility",
    "un représentant légal ne peut pas changer ce qui est visible par les représentants",
    "a legal representative cannot change what the representatives see",
)
R_HOLDER_DEPOSIT = _reason(
    "holder_deposits_own_documents_only",
    "le titulaire ne dépose que ses propres documents",
    "the holder only deposits their own documents",
)
R_AUTHOR_ONLY = _reason(
    "author_only_action",
    "seul l'auteur du document peut le retenir, le rendre visible, le supprimer ou régler sa visibilité",
    "only the document's author may hold it back, release, delete it or set its visibility",
)
R_PATIENT_QUALIFY = _reason(
    "patient_cannot_qualify_identity",
    "le patient ne peut pas modifier le statut de son identité",
    "the patient cannot change the status of their identity",
)
R_RESOURCE_MISSING = _reason("resource_missing", "aucun document n'est désigné", "no document is designated")
R_BLOCKED = _reason(
    "blocked_by_holder",
    "le titulaire s'est opposé à l'accès de ce professionnel",
    "the holder opposed access by this professional",
)
R_BLOCKED_ORGANISATION = _reason(
    "organisation_blocked_by_holder",
    "le titulaire s'est opposé à l'accès de cet établissement",
    "the holder opposed access by this organisation",
)
R_EMERGENCY_REFUSED = _reason(
    "emergency_refused_by_holder",
    "le titulaire a refusé l'accès à son dossier en urgence",
    "the holder refused emergency access to their record",
)
R_EMERGENCY_JUSTIFICATION = _reason(
    "emergency_justification_missing",
    "un accès en urgence doit être justifié",
    "an emergency access must be justified",
)
R_REGULATION_MEDECIN = _reason(
    "regulation_medecin_only",
    "l'accès en régulation (SAMU – centre 15) est réservé au médecin régulateur",
    "regulation access (SAMU – centre 15) is for the regulating doctor",
)
R_MODE_NOT_ALLOWED = _reason(
    "mode_not_allowed",
    "l'accès en urgence est réservé aux professionnels de santé",
    "emergency access is for health professionals only",
)
R_NO_BASIS = _reason(
    "no_basis",
    "ce professionnel n'est pas dans l'équipe de soins et n'a ni le consentement du patient ni son autorisation",
    "this professional is not in the care team and has neither the patient's consent nor a grant",
)
R_CARE_TEAM_REFUSED = _reason(
    "care_team_refused",
    "le patient a refusé l'accès de ce membre de son équipe de soins",
    "the patient refused access by this care team member",
)
R_CARE_TEAM_NOT_INFORMED = _reason(
    "care_team_not_informed",
    "le patient n'a pas encore été informé par ce membre de son équipe de soins",
    "the patient has not yet been informed by this care team member",
)
R_CONSENT_EXPIRED = _reason(
    "consent_expired", "le consentement du patient a expiré", "the patient's consent has expired"
)
R_CONSENT_NOT_YET = _reason(
    "consent_not_yet_valid", "le consentement du patient n'est pas encore valable", "the consent is not yet valid"
)
R_GRANT_EXPIRED = _reason("grant_expired", "l'autorisation du titulaire a expiré", "the holder's grant has expired")
R_GRANT_REVOKED = _reason("grant_revoked", "le titulaire a retiré son autorisation", "the holder revoked the grant")
R_GRANT_NOT_YET = _reason(
    "grant_not_yet_valid", "l'autorisation du titulaire n'est pas encore valable", "the grant is not yet valid"
)
R_GRANT_NO_READ = _reason(
    "grant_does_not_allow_reading",
    "l'autorisation du titulaire ne permet pas de consulter",
    "the holder's grant does not allow reading",
)
R_GRANT_NO_WRITE = _reason(
    "grant_does_not_allow_writing",
    "l'autorisation du titulaire ne permet pas d'alimenter le dossier",
    "the holder's grant does not allow feeding the record",
)
R_GRANT_CLASS = _reason(
    "grant_class_not_covered",
    "l'autorisation du titulaire ne couvre pas cette catégorie de documents",
    "the holder's grant does not cover this category of documents",
)
R_PROFESSION_MISSING = _reason(
    "profession_missing",
    "la profession de ce professionnel n'est pas connue : la matrice d'habilitation ne peut pas s'appliquer",
    "the professional's profession is unknown: the authorisation matrix cannot apply",
)
R_HIDDEN = _reason(
    "hidden_by_holder",
    "document masqué par le titulaire aux professionnels",
    "document hidden from professionals by the holder",
)
R_IDENTITY_NOT_QUALIFIED = _reason(
    "identity_not_qualified",
    "l'identité INS du patient n'est pas qualifiée : aucun document ne peut être partagé",
    "the patient's INS identity is not qualified: no document can be shared",
)
R_DEPOSIT_NOT_OWN = _reason(
    "deposit_not_own_document",
    "un professionnel ne dépose ou ne remplace que ses propres documents",
    "a professional only deposits or replaces their own documents",
)
R_HOLDER_ONLY = _reason(
    "holder_only_action",
    "seuls le titulaire et ses représentants masquent un document, gèrent les consentements et voient l'historique",
    "only the holder and representatives hide documents, manage consents and see the access history",
)
R_SECRETARIAT_NO_READ = _reason(
    "secretariat_no_clinical_read",
    "le secrétariat dépose pour un professionnel mais ne consulte pas les documents médicaux",
    "the secretariat deposits for a professional but never reads clinical documents",
)
R_SECRETARIAT_NO_PROFESSIONAL = _reason(
    "secretariat_acting_for_missing",
    "le secrétariat doit agir pour un professionnel désigné",
    "the secretariat must act for a designated professional",
)
R_SECRETARIAT_NOT_FOR = _reason(
    "secretariat_not_for_professional",
    "le secrétariat ne dépose que les documents du professionnel qu'il assiste",
    "the secretariat only deposits documents of the professional it works for",
)
R_SECRETARIAT_ACTION = _reason(
    "secretariat_action_not_allowed",
    "le secrétariat ne peut pas faire cela",
    "the secretariat may not do this",
)
R_OPERATOR_NO_CLINICAL = _reason(
    "operator_no_clinical_access",
    "l'opérateur de la plateforme n'accède pas aux données de santé",
    "the platform operator has no access to health data",
)
R_APP_NO_GRANT = _reason(
    "app_no_grant",
    "cette application n'a pas d'autorisation valable du titulaire",
    "this app has no valid grant from the holder",
)
R_APP_NOT_AUTHOR = _reason(
    "app_not_author", "une application ne dépose que ses propres documents", "an app only deposits its own documents"
)
R_APP_ACTION = _reason("app_action_not_allowed", "une application ne peut pas faire cela", "an app may not do this")


# --- combining -------------------------------------------------------------------------------------------------
def _deny(reasons: tuple[Reason, ...]) -> Decision:
    return Decision(False, reasons, TRACE_DENIAL, "access." + reasons[0].code)


def _deny_matrix(reason: Reason, rule_id: str) -> Decision:
    return Decision(False, (reason,), TRACE_DENIAL, rule_id)


def _allow(reasons: tuple[Reason, ...], obligations: frozenset[str] = _NONE, rule_id: str = "") -> Decision:
    return Decision(True, reasons, obligations, rule_id or "access." + reasons[-1].code)


def document_key(actor: Actor, resource: Any) -> tuple[object, ...]:
    """What :func:`decide` reads of a document (``resource``: :class:`DocumentFacts` or a stored entry with the
    same attributes) when ``actor`` asks: two documents with the same key get the same decision for the same
    actor, action, patient facts and context, so a listing decides once per key. The entry id is never read, and
    the author only through whether it is the actor or the professional a secretariat works for.

    Keep in step with the rules below (``tests/unit/access/test_decide_properties.py`` checks it).
    """
    author = resource.author_id
    return (
        resource.type_code,
        resource.class_code,
        resource.author_kind,
        author == actor.id,
        author == actor.acting_for,
        resource.hidden_from_professionals,
        resource.invisible_to_patient,
        resource.invisible_to_representatives,
        resource.status,
    )


def decide(
    actor: Actor,
    action: Action,
    facts: PatientFacts,
    resource: DocumentFacts | None,
    context: Context,
    *,
    matrix: Matrix | None = None,
) -> Decision:
    """Whether ``actor`` may do ``action`` on ``facts.patient_id``'s record (on ``resource`` if given), and why."""
    try:
        return _decide(actor, action, facts, resource, context, default_matrix() if matrix is None else matrix)
    except Exception:  # fail closed: a malformed fact must refuse, never open access or crash the caller
        return _deny((R_DECISION_ERROR,))


def _decide(
    actor: Actor,
    action: Action,
    facts: PatientFacts,
    resource: DocumentFacts | None,
    context: Context,
    matrix: Matrix,
) -> Decision:
    now = context.now
    if now.tzinfo is None or now.utcoffset() is None:
        return _deny((R_INVALID_CONTEXT,))
    kind = actor.kind
    methods = AUTH_METHODS_FOR_KIND.get(kind)
    # A credential of one kind of actor replayed as another kind (an app token presented as a professional).
    if not actor.id or methods is None or actor.auth_method not in methods:
        return _deny((R_ACTOR_INVALID,))
    closed = facts.space_status in _CLOSED
    if kind == ActorKind.PROFESSIONAL:
        return _professional(actor, action, facts, resource, context, matrix, closed)
    if kind == ActorKind.PATIENT:
        if actor.id != facts.patient_id:
            return _deny((R_NOT_OWN_RECORD,))
        return _holder(action, facts, resource, closed, None)
    if kind == ActorKind.REPRESENTATIVE:
        if actor.id not in facts.representatives:
            return _deny((R_NOT_REPRESENTATIVE,))
        if facts.is_minor:
            return _holder(action, facts, resource, closed, R_REP_MINOR)
        if facts.protected_adult:
            return _holder(action, facts, resource, closed, R_REP_PROTECTED)
        return _deny((R_AFTER_MAJORITY,))
    if kind == ActorKind.SYSTEM:
        if action in _WRITES:
            if closed:
                return _deny((_closed_reason(facts),))
            if not may_share(facts.identity_status):
                return _deny((R_IDENTITY_NOT_QUALIFIED,))
        return _allow((R_SYSTEM,))
    if kind == ActorKind.SECRETARIAT:
        return _secretariat(actor, action, facts, resource, context, closed)
    if kind == ActorKind.APP:
        return _app(actor, action, facts, resource, context, closed)
    if kind == ActorKind.OPERATOR:
        if closed:
            return _deny((_closed_reason(facts),))
        if action == Action.READ_AUDIT:
            return _allow((R_OPERATOR_AUDIT,))
        return _deny((R_OPERATOR_NO_CLINICAL,))
    return _deny((R_ACTOR_INVALID,))


def _closed_reason(facts: PatientFacts) -> Reason:
    return R_SPACE_OPPOSED if facts.space_status == SpaceStatus.OPPOSED else R_SPACE_CLOSED


# --- the holder and the representatives ------------------------------------------------------------------------
def _holder(
    action: Action,
    facts: PatientFacts,
    resource: DocumentFacts | None,
    closed: bool,
    representative: Reason | None,
) -> Decision:
    basis = R_HOLDER if representative is None else representative
    denies: list[Reason] = []
    if resource is not None:
        # Held-back documents do not exist for the holder and the representatives until released.
        if resource.invisible_to_patient:
            denies.append(R_HELD_BACK)
        if representative is not None and resource.invisible_to_representatives:
            denies.append(R_HIDDEN_FROM_REPRESENTATIVES)
    if action in _READS:
        if action == Action.READ and resource is None:
            return _deny((R_RESOURCE_MISSING,))
        return _deny(tuple(denies)) if denies else _allow((basis,))
    if action in _HOLDER_ON_DOCUMENT:
        if resource is None:
            return _deny((R_RESOURCE_MISSING,))
        if representative is not None and action == Action.SET_REPRESENTATIVE_VISIBILITY:
            denies.append(R_REPRESENTATIVE_VISIBILITY)
        return _deny(tuple(denies)) if denies else _allow((basis, R_HOLDER_MANAGES))
    if action in _HOLDER_ON_SPACE:
        return _allow((basis, R_HOLDER_MANAGES))
    if action in _WRITES:
        if resource is None:
            return _deny((R_RESOURCE_MISSING,))
        if closed:
            denies.insert(0, _closed_reason(facts))
        if resource.author_kind != "patient":
            denies.append(R_HOLDER_DEPOSIT)
        return _deny(tuple(denies)) if denies else _allow((basis, R_PATIENT_DOCUMENT))
    if action == Action.QUALIFY_IDENTITY:
        return _deny((R_PATIENT_QUALIFY,))
    return _deny((*denies, R_AUTHOR_ONLY))  # HOLD_BACK, RELEASE (and anything unknown)


# --- professionals ---------------------------------------------------------------------------------------------
def _grant_is_valid(
    revoked_at: dt.datetime | None, valid_from: dt.datetime, until: dt.datetime | None, now: dt.datetime
) -> bool:
    return revoked_at is None and valid_from <= now and (until is None or now < until)


def _basis(
    professional_id: str,
    organisation_id: str | None,
    facts: PatientFacts,
    class_code: str | None,
    now: dt.datetime,
    write: bool,
) -> Reason | None:
    """The first ground for a professional to access the record (read, or feed when ``write``), or None."""
    for member in facts.care_team:
        if member.professional_id == professional_id:
            if member.refused_at is None:
                if member.is_medecin_traitant:
                    return R_MEDECIN_TRAITANT
                informed = member.informed_at
                if informed is not None and informed <= now:
                    return R_CARE_TEAM
            break
    for consent in facts.consents:
        if consent.professional_id == professional_id and consent.given_at <= now < consent.expires_at:
            return R_CONSENT
    for grant in facts.grants:
        kind = grant.grantee_kind
        if not (
            (kind == "professional" and grant.grantee_id == professional_id)
            or (kind == "organisation" and organisation_id is not None and grant.grantee_id == organisation_id)
        ):
            continue
        if (
            (grant.can_write if write else grant.can_read)
            and _grant_is_valid(grant.revoked_at, grant.valid_from, grant.valid_until, now)
            and (class_code is None or not grant.class_codes or class_code in grant.class_codes)
        ):
            return R_GRANT_WRITE if write else R_GRANT_READ
    return None


def _diagnose(
    grantee_kind: str,
    grantee_id: str,
    organisation_id: str | None,
    facts: PatientFacts,
    class_code: str | None,
    now: dt.datetime,
    write: bool,
    fallback: Reason,
) -> tuple[Reason, ...]:
    """Why no ground was found: every refused, expired, revoked or too narrow one (or ``fallback``)."""
    found: list[Reason] = []
    if grantee_kind == "professional":
        for member in facts.care_team:
            if member.professional_id == grantee_id:
                found.append(R_CARE_TEAM_REFUSED if member.refused_at is not None else R_CARE_TEAM_NOT_INFORMED)
        for consent in facts.consents:
            if consent.professional_id == grantee_id:
                found.append(R_CONSENT_EXPIRED if now >= consent.expires_at else R_CONSENT_NOT_YET)
    for grant in facts.grants:
        kind = grant.grantee_kind
        if not (
            (kind == grantee_kind and grant.grantee_id == grantee_id)
            or (
                grantee_kind == "professional"
                and kind == "organisation"
                and organisation_id is not None
                and grant.grantee_id == organisation_id
            )
        ):
            continue
        if grant.revoked_at is not None:
            found.append(R_GRANT_REVOKED)
        elif now < grant.valid_from:
            found.append(R_GRANT_NOT_YET)
        elif grant.valid_until is not None and now >= grant.valid_until:
            found.append(R_GRANT_EXPIRED)
        elif not (grant.can_write if write else grant.can_read):
            found.append(R_GRANT_NO_WRITE if write else R_GRANT_NO_READ)
        elif class_code is not None and grant.class_codes and class_code not in grant.class_codes:
            found.append(R_GRANT_CLASS)
    if not found:
        return (fallback,)
    return tuple(dict.fromkeys(found))


def _is_medecin_traitant(professional_id: str, facts: PatientFacts) -> bool:
    for member in facts.care_team:
        if member.professional_id == professional_id:
            return member.is_medecin_traitant and member.refused_at is None
    return False


def _professional(
    actor: Actor,
    action: Action,
    facts: PatientFacts,
    resource: DocumentFacts | None,
    context: Context,
    matrix: Matrix,
    closed: bool,
) -> Decision:
    denies: list[Reason] = []
    if closed:
        denies.append(_closed_reason(facts))
    if actor.id in facts.blocked_professionals:
        denies.append(R_BLOCKED)
    organisation = actor.organisation_id
    if organisation is not None and organisation in facts.blocked_organisations:
        denies.append(R_BLOCKED_ORGANISATION)
    mode = context.mode
    emergency: Reason | None = None
    if mode != Mode.NORMAL:
        if mode == Mode.REGULATION:
            emergency = R_REGULATION
            if actor.profession != MEDECIN:
                denies.append(R_REGULATION_MEDECIN)
        else:
            emergency = R_EMERGENCY
        if facts.emergency_refused:
            denies.append(R_EMERGENCY_REFUSED)
        justification = context.justification
        if justification is None or not justification.strip():
            denies.append(R_EMERGENCY_JUSTIFICATION)
    if denies:
        return _deny(tuple(denies))

    if action in _READS:
        if resource is None:
            if action == Action.READ:
                return _deny((R_RESOURCE_MISSING,))
            class_code = None
        else:
            # A professional always reads what they wrote (their own documents, hidden or not).
            if resource.author_id == actor.id and resource.author_kind == "professional":
                return _allow((R_OWN_DOCUMENT,))
            class_code = resource.class_code
        basis = emergency or _basis(actor.id, organisation, facts, class_code, context.now, False)
        if basis is None:
            return _deny(
                _diagnose("professional", actor.id, organisation, facts, class_code, context.now, False, R_NO_BASIS)
            )
        obligations = _NONE if emergency is None else EMERGENCY_OBLIGATIONS
        if resource is None:
            return _allow((basis,), obligations)
        hidden_reason: Reason | None = None
        if resource.hidden_from_professionals:
            # Hidden by the holder: no trace of it for anyone but its author and the médecin traitant.
            if not (basis is R_MEDECIN_TRAITANT or _is_medecin_traitant(actor.id, facts)):
                return _deny((R_HIDDEN,))
            hidden_reason = R_HIDDEN_MEDECIN_TRAITANT
        profession = actor.profession
        if not profession:
            return _deny((R_PROFESSION_MISSING,))
        verdict = matrix.verdict(profession, resource.class_code, resource.type_code)
        if not verdict.allowed:
            return _deny_matrix(verdict.reason, verdict.rule_id)
        if hidden_reason is None:
            return Decision(True, (basis, verdict.reason), obligations, verdict.rule_id)
        return Decision(True, (basis, hidden_reason, verdict.reason), obligations, verdict.rule_id)

    if action in _WRITES:
        if resource is None:
            return _deny((R_RESOURCE_MISSING,))
        if not may_share(facts.identity_status):
            denies.append(R_IDENTITY_NOT_QUALIFIED)
        if resource.author_kind != "professional" or resource.author_id != actor.id:
            denies.append(R_DEPOSIT_NOT_OWN)
        basis = emergency or _basis(actor.id, organisation, facts, resource.class_code, context.now, True)
        if basis is None:
            denies.extend(
                _diagnose(
                    "professional", actor.id, organisation, facts, resource.class_code, context.now, True, R_NO_BASIS
                )
            )
        if denies or basis is None:
            return _deny(tuple(denies))
        obligations = _NONE if emergency is None else EMERGENCY_OBLIGATIONS
        return _allow((basis, R_OWN_DOCUMENT, R_IDENTITY_QUALIFIED), obligations)

    if action in _AUTHOR_ACTIONS:
        if resource is None:
            return _deny((R_RESOURCE_MISSING,))
        if resource.author_kind != "professional" or resource.author_id != actor.id:
            return _deny((R_AUTHOR_ONLY,))
        return _allow((R_AUTHOR_ACTION,))
    if action == Action.QUALIFY_IDENTITY:
        return _allow((R_IDENTITY_VIGILANCE,))
    return _deny((R_HOLDER_ONLY,))  # HIDE, SHOW, MANAGE_CONSENT, READ_AUDIT (and anything unknown)


# --- secretariat staff -----------------------------------------------------------------------------------------
def _secretariat(
    actor: Actor,
    action: Action,
    facts: PatientFacts,
    resource: DocumentFacts | None,
    context: Context,
    closed: bool,
) -> Decision:
    denies: list[Reason] = []
    if closed:
        denies.append(_closed_reason(facts))
    professional = actor.acting_for
    if actor.id in facts.blocked_professionals or (
        professional is not None and professional in facts.blocked_professionals
    ):
        denies.append(R_BLOCKED)
    organisation = actor.organisation_id
    if organisation is not None and organisation in facts.blocked_organisations:
        denies.append(R_BLOCKED_ORGANISATION)
    if context.mode != Mode.NORMAL:
        denies.append(R_MODE_NOT_ALLOWED)
    if denies:
        return _deny(tuple(denies))
    if action in _WRITES:
        if not professional:
            return _deny((R_SECRETARIAT_NO_PROFESSIONAL,))
        if resource is None:
            return _deny((R_RESOURCE_MISSING,))
        if not may_share(facts.identity_status):
            denies.append(R_IDENTITY_NOT_QUALIFIED)
        if resource.author_kind != "professional" or resource.author_id != professional:
            denies.append(R_SECRETARIAT_NOT_FOR)
        basis = _basis(professional, organisation, facts, resource.class_code, context.now, True)
        if basis is None:
            denies.extend(
                _diagnose(
                    "professional",
                    professional,
                    organisation,
                    facts,
                    resource.class_code,
                    context.now,
                    True,
                    R_NO_BASIS,
                )
            )
        if denies or basis is None:
            return _deny(tuple(denies))
        return _allow((R_SECRETARIAT_FOR, basis, R_IDENTITY_QUALIFIED), _NONE, "access.secretariat_for_professional")
    if action == Action.QUALIFY_IDENTITY:
        return _allow((R_IDENTITY_VIGILANCE,))
    if action in _READS:
        return _deny((R_SECRETARIAT_NO_READ,))
    return _deny((R_SECRETARIAT_ACTION,))


# --- referenced apps -------------------------------------------------------------------------------------------
def _app_grant(app_id: str, facts: PatientFacts, class_code: str | None, now: dt.datetime, write: bool) -> bool:
    for grant in facts.grants:
        if (
            grant.grantee_kind == "app"
            and grant.grantee_id == app_id
            and (grant.can_write if write else grant.can_read)
            and _grant_is_valid(grant.revoked_at, grant.valid_from, grant.valid_until, now)
            and (class_code is None or not grant.class_codes or class_code in grant.class_codes)
        ):
            return True
    return False


def _app(
    actor: Actor,
    action: Action,
    facts: PatientFacts,
    resource: DocumentFacts | None,
    context: Context,
    closed: bool,
) -> Decision:
    denies: list[Reason] = []
    if closed:
        denies.append(_closed_reason(facts))
    if context.mode != Mode.NORMAL:
        denies.append(R_MODE_NOT_ALLOWED)
    if denies:
        return _deny(tuple(denies))
    now = context.now
    if action in _READS:
        if resource is None:
            if action == Action.READ:
                return _deny((R_RESOURCE_MISSING,))
            class_code = None
        else:
            # The app acts for the holder under the holder's grant: what the holder hid from professionals and
            # what is held back until the announcement consultation stays out of its reach.
            if resource.invisible_to_patient:
                denies.append(R_HELD_BACK)
            if resource.hidden_from_professionals:
                denies.append(R_HIDDEN)
            class_code = resource.class_code
        if not _app_grant(actor.id, facts, class_code, now, False):
            denies.extend(_diagnose("app", actor.id, None, facts, class_code, now, False, R_APP_NO_GRANT))
        return _deny(tuple(denies)) if denies else _allow((R_APP_GRANT_READ,))
    if action in _WRITES or action == Action.DELETE:  # an app deletes (cancels) only what it added
        if resource is None:
            return _deny((R_RESOURCE_MISSING,))
        if action in _WRITES and not may_share(facts.identity_status):
            denies.append(R_IDENTITY_NOT_QUALIFIED)
        if resource.author_kind != "app" or resource.author_id != actor.id:
            denies.append(R_APP_NOT_AUTHOR)
        if not _app_grant(actor.id, facts, resource.class_code, now, True):
            denies.extend(_diagnose("app", actor.id, None, facts, resource.class_code, now, True, R_APP_NO_GRANT))
        if denies:
            return _deny(tuple(denies))
        return _allow((R_APP_GRANT_WRITE, R_IDENTITY_QUALIFIED) if action in _WRITES else (R_APP_GRANT_WRITE,))
    return _deny((R_APP_ACTION,))

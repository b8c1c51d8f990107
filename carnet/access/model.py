"""The facts an access decision is made from, and the decision itself: plain frozen values, no I/O.

The services gather these facts (from the stores, the session, the clock), call
:func:`carnet.access.decide.decide`, enforce the :class:`Decision` and record it in the audit trail.
Nothing here imports the infrastructure; every datetime is timezone-aware UTC.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

from carnet.identity.status import IdentityStatus

__all__ = [
    "AUTH_METHODS_FOR_KIND",
    "Action",
    "Actor",
    "ActorKind",
    "AuthMethod",
    "AuthorKind",
    "CareTeamMember",
    "Consent",
    "Context",
    "Decision",
    "DocumentFacts",
    "GRANT_ALIASES",
    "Grant",
    "GranteeKind",
    "Mode",
    "PatientFacts",
    "Reason",
    "SPACE_NAMESPACE",
    "SpaceCategory",
    "SpaceStatus",
    "grant_class_codes",
    "space_facts",
]


class ActorKind(StrEnum):
    """Who acts."""

    PROFESSIONAL = "professional"  # a health (or social) professional, identified by RPPS/ADELI
    SECRETARIAT = "secretariat"  # CPE staff acting for a professional (``Actor.acting_for``)
    PATIENT = "patient"  # the holder of the space (titulaire), or a patient acting on another record
    REPRESENTATIVE = "representative"  # legal representative of the holder (minor, protected adult)
    APP = "app"  # a referenced app of the catalogue, acting on the holder's grant
    SYSTEM = "system"  # the platform's own jobs (dispatch, retention, imports)
    OPERATOR = "operator"  # the platform operator / auditor


class AuthMethod(StrEnum):
    """How the actor authenticated."""

    CPS = "cps"  # carte de professionnel de santé
    E_CPS = "e_cps"  # e-CPS (mobile)
    CPE = "cpe"  # carte de personnel d'établissement (secretariat staff)
    PRO_SANTE_CONNECT = "pro_sante_connect"
    FRANCE_CONNECT = "france_connect"  # the holder and the representatives
    APP_TOKEN = "app_token"  # OAuth2 token of a referenced app
    CLI = "cli"  # the ``carnet`` command on the platform host
    SYSTEM = "system"  # an internal job


# Which authentication may carry which kind of actor. The threat: a credential issued for one kind of actor
# (an app token, a patient's FranceConnect session) replayed as another kind to widen its access.
AUTH_METHODS_FOR_KIND: dict[ActorKind, frozenset[AuthMethod]] = {
    ActorKind.PROFESSIONAL: frozenset({AuthMethod.CPS, AuthMethod.E_CPS, AuthMethod.PRO_SANTE_CONNECT}),
    ActorKind.SECRETARIAT: frozenset({AuthMethod.CPE, AuthMethod.PRO_SANTE_CONNECT}),
    ActorKind.PATIENT: frozenset({AuthMethod.FRANCE_CONNECT}),
    ActorKind.REPRESENTATIVE: frozenset({AuthMethod.FRANCE_CONNECT}),
    ActorKind.APP: frozenset({AuthMethod.APP_TOKEN}),
    ActorKind.SYSTEM: frozenset({AuthMethod.SYSTEM, AuthMethod.CLI}),
    ActorKind.OPERATOR: frozenset({AuthMethod.CLI, AuthMethod.PRO_SANTE_CONNECT}),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Actor:
    """Who asks. ``profession`` is a TRE_G15 code (or a TRE_R94 code for social professions), ``specialty`` J01."""

    kind: ActorKind
    id: str
    auth_method: AuthMethod
    name: str | None = None
    profession: str | None = None
    specialty: str | None = None
    organisation_id: str | None = None
    organisation_name: str | None = None
    acting_for: str | None = None  # SECRETARIAT: the professional they work for
    represented_patient_ids: frozenset[str] = frozenset()  # REPRESENTATIVE: as claimed by the session


class Action(StrEnum):
    READ = "read"
    LIST = "list"
    SEARCH = "search"
    DEPOSIT = "deposit"
    REPLACE = "replace"
    HIDE = "hide"  # the holder hides a document from professionals
    SHOW = "show"
    HOLD_BACK = "hold_back"  # the author keeps a document from the patient until the announcement consultation
    RELEASE = "release"
    DELETE = "delete"
    SET_REPRESENTATIVE_VISIBILITY = "set_representative_visibility"
    MANAGE_CONSENT = "manage_consent"  # care team, oppositions, grants, emergency setting
    READ_AUDIT = "read_audit"  # the holder's access history
    QUALIFY_IDENTITY = "qualify_identity"


class Mode(StrEnum):
    NORMAL = "normal"
    EMERGENCY = "emergency"  # bris de glace
    REGULATION = "regulation"  # SAMU / centre 15


class SpaceStatus(StrEnum):
    PENDING = "pending"  # created, the holder has six weeks to oppose
    OPEN = "open"
    OPPOSED = "opposed"  # the holder opposed the creation
    CLOSED = "closed"


@dataclass(frozen=True, slots=True, kw_only=True)
class CareTeamMember:
    """A professional of the care team: presumed consent once the patient was informed, unless refused."""

    professional_id: str
    informed_at: dt.datetime | None = None
    refused_at: dt.datetime | None = None
    is_medecin_traitant: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Consent:
    """The patient's explicit consent for one professional outside the care team, valid until ``expires_at``."""

    professional_id: str
    given_at: dt.datetime
    expires_at: dt.datetime


GranteeKind = Literal["professional", "organisation", "app"]
AuthorKind = Literal["professional", "patient", "app"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Grant:
    """An entry of the directory of grants (répertoire des autorisations). Empty ``class_codes`` = every class."""

    grantee_kind: GranteeKind
    grantee_id: str
    can_read: bool
    can_write: bool
    valid_from: dt.datetime
    class_codes: frozenset[str] = frozenset()
    valid_until: dt.datetime | None = None  # None = permanent
    revoked_at: dt.datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PatientFacts:
    """What the holder decided, and the state of their space and identity."""

    patient_id: str
    identity_status: IdentityStatus
    space_status: SpaceStatus = SpaceStatus.OPEN
    care_team: tuple[CareTeamMember, ...] = ()
    consents: tuple[Consent, ...] = ()
    blocked_professionals: frozenset[str] = frozenset()
    blocked_organisations: frozenset[str] = frozenset()
    emergency_refused: bool = False  # also refuses the regulation mode (docs/access-matrix.md)
    grants: tuple[Grant, ...] = ()
    representatives: frozenset[str] = frozenset()  # actor ids of the legal representatives
    is_minor: bool = False
    protected_adult: bool = False  # under guardianship: the representatives keep acting for the holder


@dataclass(frozen=True, slots=True, kw_only=True)
class DocumentFacts:
    """The document acted on (or being deposited). ``class_code`` is J06 (or 95 "gestion"), ``type_code`` J07."""

    id: str
    type_code: str
    class_code: str
    author_id: str
    author_kind: AuthorKind = "professional"
    hidden_from_professionals: bool = False  # hidden by the holder
    invisible_to_patient: bool = False  # held back until the announcement consultation
    invisible_to_representatives: bool = False
    status: str = "current"


# The space's data beyond documents, decided like documents: each category is the ``class_code`` of the resource, in
# the ``space:`` namespace so that it can never collide with a J06 / TRE_A03 class code. The matrix has a row per
# profession and category (docs/profile.md); grants name these codes in ``class_codes`` like document classes.
SPACE_NAMESPACE = "space:"


class SpaceCategory(StrEnum):
    """A category of the space's data that is not a document (the class code of its facts)."""

    PROFILE = "space:profile"  # the health questionnaire: treatments, interventions, history, advance directives
    VITALS = "space:vitals"  # constantes de santé: weight, height, blood pressure, heart rate, glucose...
    VACCINATIONS = "space:vaccinations"
    ALLERGIES = "space:allergies"
    AGENDA = "space:agenda"  # later part of issue 8
    REIMBURSEMENTS = "space:reimbursements"  # later part of issue 8 (the insurer's feed; class 60 for documents)


# The catalogue of referenced apps (carnet/catalogue) names the space's categories without the namespace, and its
# "profile" covers the allergies (AllergyIntolerance) with the questionnaire: a grant's class codes are read through
# this table (carnet.access.service.facts_for), so either spelling bounds an app the same way.
GRANT_ALIASES: dict[str, frozenset[str]] = {
    "profile": frozenset({SpaceCategory.PROFILE.value, SpaceCategory.ALLERGIES.value}),
    "vitals": frozenset({SpaceCategory.VITALS.value}),
    "vaccinations": frozenset({SpaceCategory.VACCINATIONS.value}),
    "allergies": frozenset({SpaceCategory.ALLERGIES.value}),
    "agenda": frozenset({SpaceCategory.AGENDA.value}),
    "reimbursements": frozenset({SpaceCategory.REIMBURSEMENTS.value}),
}


def grant_class_codes(codes: Iterable[str]) -> frozenset[str]:
    """The class codes a grant covers: its own, plus the ``space:`` codes its catalogue category names stand for."""
    out = set(codes)
    for code in list(out):
        out |= GRANT_ALIASES.get(code, frozenset())
    return frozenset(out)


def space_facts(category: SpaceCategory, *, id: str, author_id: str, author_kind: AuthorKind) -> DocumentFacts:
    """The facts of one item of the space's data (or of the category as a whole, ``id`` naming it): decided by
    :func:`carnet.access.decide.decide` exactly as a document of class ``category`` with no type."""
    return DocumentFacts(id=id, type_code="", class_code=category.value, author_id=author_id, author_kind=author_kind)


@dataclass(frozen=True, slots=True, kw_only=True)
class Context:
    """When and how: ``now`` must be timezone-aware; ``justification`` is mandatory in emergency modes."""

    now: dt.datetime
    mode: Mode = Mode.NORMAL
    justification: str | None = None
    request_id: str | None = None


@dataclass(frozen=True, slots=True)
class Reason:
    """Why: a stable snake_case ``code`` and a text the patient can read, in French and English."""

    code: str
    fr: str
    en: str


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer. ``reasons`` lists every rule that allowed it, or every rule that denied it.

    ``obligations`` are what the service must do on top of enforcing: ``flag_emergency`` and
    ``notify_holder_emergency`` for an emergency or regulation access, ``trace_denial`` for every refusal.
    ``rule_id`` names the rule that decided (the first denying rule, or the last allowing one).
    The decision id is given by the caller when it records the decision.
    """

    allowed: bool
    reasons: tuple[Reason, ...]
    obligations: frozenset[str] = field(default_factory=frozenset)
    rule_id: str = ""

    @property
    def codes(self) -> tuple[str, ...]:
        """The reason codes, in order."""
        return tuple(reason.code for reason in self.reasons)

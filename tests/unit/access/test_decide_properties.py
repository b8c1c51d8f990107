"""Properties of the access decision over random actors, facts, documents and contexts (hypothesis)."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from carnet.access.decide import EMERGENCY_OBLIGATIONS, TRACE_DENIAL, decide, document_key
from carnet.access.matrix import default_matrix
from carnet.access.model import (
    Action,
    Actor,
    ActorKind,
    AuthMethod,
    CareTeamMember,
    Consent,
    Context,
    Decision,
    DocumentFacts,
    Grant,
    Mode,
    PatientFacts,
    SpaceStatus,
)
from carnet.identity.status import IdentityStatus
from carnet.record.valuesets import CLASS_FOR_TYPE

NOW = dt.datetime(2026, 11, 22, 9, 30, tzinfo=dt.UTC)
HOLDER_ID = "patient-1"
PROFESSIONALS = ("pro-1", "pro-2", "pro-3", "pro-4")
ORGANISATIONS = ("org-1", "org-2")
APPS = ("app-1", "app-2")
REPRESENTATIVES = ("rep-1", "rep-2")
IDS = (*PROFESSIONALS, HOLDER_ID, "patient-2", *APPS, *REPRESENTATIVES, "cpe-1", "job", "")
PROFESSIONS = ("10", "21", "40", "60", "70", "93", "41", "77", None)
TYPES = ("11488-4", "34874-8", "68599-0", "18748-4", "57833-6", "ATTEST-RESID", "REMB", "DOCPAT03", "28653-4", "XX-1")
CLASSES = ("10", "11", "31", "42", "60", "90", "95", "99")
AUTH_FOR = {
    ActorKind.PROFESSIONAL: AuthMethod.CPS,
    ActorKind.SECRETARIAT: AuthMethod.CPE,
    ActorKind.PATIENT: AuthMethod.FRANCE_CONNECT,
    ActorKind.REPRESENTATIVE: AuthMethod.FRANCE_CONNECT,
    ActorKind.APP: AuthMethod.APP_TOKEN,
    ActorKind.SYSTEM: AuthMethod.SYSTEM,
    ActorKind.OPERATOR: AuthMethod.CLI,
}

moments = st.integers(min_value=-200, max_value=200).map(lambda hours: NOW + dt.timedelta(hours=hours))
maybe_moments = st.none() | moments


IDS_FOR = {
    ActorKind.PROFESSIONAL: PROFESSIONALS,
    ActorKind.SECRETARIAT: ("cpe-1",),
    ActorKind.PATIENT: (HOLDER_ID, HOLDER_ID, "patient-2"),
    ActorKind.REPRESENTATIVE: REPRESENTATIVES,
    ActorKind.APP: APPS,
    ActorKind.SYSTEM: ("job",),
    ActorKind.OPERATOR: ("auditor",),
}


@st.composite
def actors(draw: st.DrawFn, kinds: tuple[ActorKind, ...] = tuple(ActorKind)) -> Actor:
    kind = draw(st.sampled_from(kinds))
    # Mostly the identity and authentication that go with the kind; sometimes anything (forged or misrouted).
    odd = draw(st.integers(0, 9)) == 0
    return Actor(
        kind=kind,
        id=draw(st.sampled_from(IDS if odd else IDS_FOR[kind])),
        auth_method=draw(st.sampled_from(AuthMethod)) if odd else AUTH_FOR[kind],
        profession=draw(st.sampled_from(PROFESSIONS)),
        organisation_id=draw(st.none() | st.sampled_from(ORGANISATIONS)),
        acting_for=draw(st.none() | st.sampled_from(PROFESSIONALS)),
        represented_patient_ids=draw(st.frozensets(st.sampled_from((HOLDER_ID, "patient-2")))),
    )


grants = st.builds(
    Grant,
    grantee_kind=st.sampled_from(("professional", "organisation", "app")),
    grantee_id=st.sampled_from((*PROFESSIONALS, *ORGANISATIONS, *APPS)),
    can_read=st.booleans(),
    can_write=st.booleans(),
    class_codes=st.frozensets(st.sampled_from(CLASSES), max_size=3),
    valid_from=moments,
    valid_until=maybe_moments,
    revoked_at=maybe_moments,
)
care_team = st.lists(
    st.builds(
        CareTeamMember,
        professional_id=st.sampled_from(PROFESSIONALS),
        informed_at=maybe_moments,
        refused_at=st.sampled_from((None, None, None, NOW - dt.timedelta(days=1))),
        is_medecin_traitant=st.booleans(),
    ),
    max_size=4,
    unique_by=lambda member: member.professional_id,
).map(tuple)
consents = st.lists(
    st.builds(Consent, professional_id=st.sampled_from(PROFESSIONALS), given_at=moments, expires_at=moments),
    max_size=3,
).map(tuple)
facts_strategy = st.builds(
    PatientFacts,
    patient_id=st.just(HOLDER_ID),
    identity_status=st.sampled_from(IdentityStatus),
    space_status=st.sampled_from(
        (SpaceStatus.OPEN,) * 4 + (SpaceStatus.PENDING, SpaceStatus.OPPOSED, SpaceStatus.CLOSED)
    ),
    care_team=care_team,
    consents=consents,
    blocked_professionals=st.frozensets(st.sampled_from(PROFESSIONALS), max_size=1),
    blocked_organisations=st.frozensets(st.just("org-2"), max_size=1),
    emergency_refused=st.sampled_from((False, False, True)),
    grants=st.lists(grants, max_size=3).map(tuple),
    representatives=st.frozensets(st.sampled_from(REPRESENTATIVES)),
    is_minor=st.booleans(),
    protected_adult=st.booleans(),
)


@st.composite
def documents(draw: st.DrawFn) -> DocumentFacts | None:
    if draw(st.integers(0, 5)) == 0:
        return None
    type_code = draw(st.sampled_from(TYPES))
    consistent = CLASS_FOR_TYPE.get(type_code)
    class_code = draw(st.sampled_from(CLASSES)) if consistent is None or draw(st.booleans()) else consistent
    return DocumentFacts(
        id="doc",
        type_code=type_code,
        class_code=class_code,
        author_id=draw(st.sampled_from((*PROFESSIONALS, HOLDER_ID, *APPS))),
        author_kind=draw(st.sampled_from(("professional", "patient", "app"))),
        hidden_from_professionals=draw(st.booleans()),
        invisible_to_patient=draw(st.booleans()),
        invisible_to_representatives=draw(st.booleans()),
    )


contexts = st.builds(
    Context,
    now=st.just(NOW),
    mode=st.sampled_from((Mode.NORMAL, Mode.NORMAL, Mode.NORMAL, Mode.EMERGENCY, Mode.REGULATION)),
    justification=st.sampled_from((None, "", "   ", "inconscient, allergies à vérifier", "appel au 15")),
)
cases = st.tuples(actors(), st.sampled_from(Action), facts_strategy, documents(), contexts)
READS = (Action.READ, Action.LIST, Action.SEARCH)
professional_reads = st.tuples(
    actors((ActorKind.PROFESSIONAL,)), st.sampled_from(READS), facts_strategy, documents(), contexts
)
SETTINGS = settings(max_examples=300, deadline=None)


def _is_medecin_traitant(actor: Actor, facts: PatientFacts) -> bool:
    return any(m.professional_id == actor.id and m.is_medecin_traitant for m in facts.care_team)


def _acts_for_holder(actor: Actor, facts: PatientFacts) -> bool:
    if actor.kind == ActorKind.PATIENT:
        return actor.id == facts.patient_id
    return actor.kind == ActorKind.REPRESENTATIVE and actor.id in facts.representatives


@SETTINGS
@given(cases)
def test_decide_never_raises_and_always_says_why(
    case: tuple[Actor, Action, PatientFacts, DocumentFacts | None, Context],
) -> None:
    decision = decide(*case)
    assert isinstance(decision, Decision)
    assert decision.reasons, "a decision without a reason"
    assert "decision_error" not in decision.codes, "well-formed facts never reach the fail-closed guard"
    if not decision.allowed:
        assert decision.obligations == TRACE_DENIAL
    else:
        assert decision.obligations <= EMERGENCY_OBLIGATIONS
    assert decide(*case) == decision, "the decision is a pure function of its input"


@SETTINGS
@given(cases, st.text(min_size=1, max_size=12), st.text(max_size=12))
def test_documents_with_the_same_key_get_the_same_decision(
    case: tuple[Actor, Action, PatientFacts, DocumentFacts | None, Context], other_id: str, other_author: str
) -> None:
    # carnet.record.policy.Filter decides once per document_key and reuses the decision.
    actor, action, facts, resource, context = case
    if resource is None:
        return
    for other in (
        replace(resource, id=other_id),
        replace(resource, id=other_id, author_id=other_author),
        replace(resource, author_id=actor.id),
        replace(resource, author_id=actor.acting_for or other_author),
    ):
        if document_key(actor, other) == document_key(actor, resource):
            assert decide(actor, action, facts, other, context) == decide(*case)


@SETTINGS
@given(cases)
def test_a_blocked_professional_is_never_allowed_anything(
    case: tuple[Actor, Action, PatientFacts, DocumentFacts | None, Context],
) -> None:
    actor, action, facts, resource, context = case
    actor = replace(actor, kind=ActorKind.PROFESSIONAL, id=actor.id or "pro-1", auth_method=AuthMethod.CPS)
    facts = replace(facts, blocked_professionals=facts.blocked_professionals | {actor.id})
    assert not decide(actor, action, facts, resource, context).allowed


@SETTINGS
@given(professional_reads)
def test_a_hidden_document_is_never_readable_by_a_professional_neither_author_nor_medecin_traitant(
    case: tuple[Actor, Action, PatientFacts, DocumentFacts | None, Context],
) -> None:
    actor, action, facts, resource, context = case
    if resource is None:
        return
    hidden = replace(resource, hidden_from_professionals=True)
    decision = decide(actor, action, facts, hidden, context)
    if decision.allowed:
        assert hidden.author_id == actor.id or _is_medecin_traitant(actor, facts)


@SETTINGS
@given(cases, st.sampled_from((SpaceStatus.OPPOSED, SpaceStatus.CLOSED)))
def test_nothing_is_allowed_on_an_opposed_or_closed_space_but_to_the_holder_and_the_platform(
    case: tuple[Actor, Action, PatientFacts, DocumentFacts | None, Context], status: SpaceStatus
) -> None:
    actor, action, facts, resource, context = case
    facts = replace(facts, space_status=status)
    decision = decide(actor, action, facts, resource, context)
    if decision.allowed:
        assert actor.kind == ActorKind.SYSTEM or _acts_for_holder(actor, facts), decision.codes
        assert action not in (Action.DEPOSIT, Action.REPLACE), "nothing is deposited in an opposed or closed space"


@SETTINGS
@given(
    st.tuples(
        actors((ActorKind.PROFESSIONAL, ActorKind.SECRETARIAT, ActorKind.APP)),
        st.sampled_from(Action),
        facts_strategy,
        documents(),
        contexts,
    ),
    st.sampled_from((None, "", " ", "\t\n")),
    st.sampled_from((Mode.EMERGENCY, Mode.REGULATION)),
)
def test_an_emergency_without_justification_never_allows(
    case: tuple[Actor, Action, PatientFacts, DocumentFacts | None, Context], justification: str | None, mode: Mode
) -> None:
    actor, action, facts, resource, _ = case
    context = Context(now=NOW, mode=mode, justification=justification)
    assert not decide(actor, action, facts, resource, context).allowed


@SETTINGS
@given(professional_reads)
def test_a_professional_reads_only_what_the_matrix_allows_unless_they_wrote_it(
    case: tuple[Actor, Action, PatientFacts, DocumentFacts | None, Context],
) -> None:
    actor, action, facts, resource, context = case
    if resource is None:
        return
    if not decide(actor, action, facts, resource, context).allowed:
        return
    if resource.author_id == actor.id and resource.author_kind == "professional":
        return
    assert actor.profession is not None
    assert default_matrix().allows(actor.profession, resource.class_code, resource.type_code)[0]


@SETTINGS
@given(cases)
def test_an_allowed_emergency_access_is_always_flagged(
    case: tuple[Actor, Action, PatientFacts, DocumentFacts | None, Context],
) -> None:
    decision = decide(*case)
    if decision.allowed and {"emergency_access", "regulation_access"} & set(decision.codes):
        assert decision.obligations == EMERGENCY_OBLIGATIONS
        assert not case[2].emergency_refused

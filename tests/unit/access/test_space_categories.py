"""The space's data beyond documents (profile, vitals, vaccinations, allergies, agenda, reimbursements) decided by the
same ``decide`` as documents, each category the class code of its facts (``space:…``): a grid that reads like the
rules, and properties over random actors and facts (hypothesis)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carnet.access.decide import decide
from carnet.access.matrix import SPACE_CATEGORIES, default_matrix
from carnet.access.model import (
    SPACE_NAMESPACE,
    Action,
    Actor,
    ActorKind,
    AuthMethod,
    CareTeamMember,
    Context,
    DocumentFacts,
    Mode,
    PatientFacts,
    SpaceCategory,
    SpaceStatus,
    grant_class_codes,
    space_facts,
)
from carnet.record.valuesets import value_sets
from tests.unit.access.access_builders import (
    APP_TENSIO,
    APP_UNKNOWN,
    CAMILLE,
    DENTIST_INES,
    DR_BLOCKED,
    DR_MARTIN,
    DR_STRANGER,
    HOLDER,
    NOW,
    NURSE_LEA,
    PARENT,
    PHARMACIST_PAUL,
    SOCIAL_WORKER_NINA,
    camille,
    emergency,
    grant,
    normal,
    professional,
)
from tests.unit.access.test_decide_properties import actors, contexts, facts_strategy

VITAL = space_facts(SpaceCategory.VITALS, id="obs-weight", author_id=CAMILLE, author_kind="patient")
APP_VITAL = space_facts(SpaceCategory.VITALS, id="obs-bp", author_id=APP_TENSIO.id, author_kind="app")
VACCINATION = space_facts(SpaceCategory.VACCINATIONS, id="imm-dtp", author_id=DR_MARTIN.id, author_kind="professional")
QUESTIONNAIRE = space_facts(SpaceCategory.PROFILE, id="qr-1", author_id=CAMILLE, author_kind="patient")
ALLERGY = space_facts(SpaceCategory.ALLERGIES, id="allergy-1", author_id=CAMILLE, author_kind="patient")
AGENDA = space_facts(SpaceCategory.AGENDA, id="event-1", author_id=CAMILLE, author_kind="patient")
REIMBURSEMENT = space_facts(SpaceCategory.REIMBURSEMENTS, id="remb-1", author_id="cnam", author_kind="app")
ITEMS = {"profile": QUESTIONNAIRE, "vitals": VITAL, "vaccinations": VACCINATION, "allergies": ALLERGY,
         "agenda": AGENDA, "reimbursements": REIMBURSEMENT}  # fmt: skip
# Nurse Léa is in Camille's care team (informed): whatever she may not read below is the matrix's refusal.
NURSE = NURSE_LEA
KINE = professional("rpps-kine-in-team", "70")
SOCIAL = SOCIAL_WORKER_NINA


def _team_facts() -> PatientFacts:
    base = camille()
    extra = tuple(CareTeamMember(professional_id=p.id, informed_at=NOW) for p in (KINE, SOCIAL))
    return replace(base, care_team=base.care_team + extra)


# --- the grid: who reads which category ------------------------------------------------------------------------

#              profile vitals vaccinations allergies agenda reimbursements
GRID = {
    "médecin":  (DR_MARTIN, "Y  Y  Y  Y  Y  Y"),
    "infirmier": (NURSE,    "Y  Y  Y  Y  N  N"),
    "kiné":     (KINE,      "Y  Y  Y  Y  N  N"),
    "social":   (SOCIAL,    "N  N  N  N  N  N"),
}  # fmt: skip


@pytest.mark.parametrize(
    ("who", "category", "expected"),
    [
        pytest.param(who, category, mark == "Y", id=f"{who} × {category}: {'lit' if mark == 'Y' else 'ne lit pas'}")
        for who, (_, marks) in GRID.items()
        for category, mark in zip(ITEMS, marks.split(), strict=True)
    ],
)
def test_a_care_team_member_reads_a_category_as_the_matrix_says(who: str, category: str, expected: bool) -> None:
    actor = GRID[who][0]
    item = ITEMS[category]
    if item.author_id == actor.id:  # a professional always reads what they wrote: take someone else's
        item = replace(item, author_id="rpps-someone-else")
    decision = decide(actor, Action.READ, _team_facts(), item, normal())
    assert decision.allowed is expected, decision.codes
    assert decision.rule_id == f"matrix:{actor.profession}:{item.class_code}"
    assert ("matrix_allowed" if expected else "matrix_denied") in decision.codes
    listing = decide(actor, Action.LIST, _team_facts(), replace(item, id=item.class_code), normal())
    assert listing.allowed is expected, "a category listed is decided like one of its items"


def test_the_reasons_name_the_category_in_plain_french() -> None:
    decision = decide(NURSE, Action.READ, camille(), AGENDA, normal())
    assert (
        decision.reasons[0].fr == "un infirmier ne peut pas consulter l'agenda de l'espace santé (matrice "
        "d'habilitation)"
    )
    allowed = decide(NURSE, Action.READ, camille(), VITAL, normal())
    assert allowed.reasons[-1].fr == ("la matrice d'habilitation permet à un infirmier de consulter les constantes de "
                                      "santé de l'espace santé")  # fmt: skip


def test_every_category_has_a_row_for_every_profession_and_no_j06_code_is_taken() -> None:
    matrix = default_matrix()
    j06 = {code.code for code in value_sets().class_code}
    assert set(SPACE_CATEGORIES) == {c.value for c in SpaceCategory}
    for category in SpaceCategory:
        assert category.value.startswith(SPACE_NAMESPACE) and category.value not in j06
        rows = [row for row in matrix.rows if row.class_code == category.value]
        assert {row.profession_code for row in rows} == matrix.professions, category
        assert all(row.source for row in rows)
        assert all(row.to_check for row in rows if row.profession_code != "10"), "the texts are silent: to check"


def test_the_holder_reads_and_feeds_their_own_profile_and_the_parent_of_a_minor_too() -> None:
    for item in ITEMS.values():
        assert decide(HOLDER, Action.READ, camille(), item, normal()).allowed
    own = space_facts(SpaceCategory.VITALS, id="(nouveau)", author_id=CAMILLE, author_kind="patient")
    assert decide(HOLDER, Action.DEPOSIT, camille(), own, normal()).codes == ("holder_own_record", "patient_document")
    minor = camille(is_minor=True)
    assert decide(PARENT, Action.DEPOSIT, minor, own, normal()).allowed
    assert decide(PARENT, Action.READ, minor, VACCINATION, normal()).allowed
    assert decide(PARENT, Action.READ, camille(), VITAL, normal()).codes == ("representative_after_majority",)


def test_an_app_reads_and_feeds_only_the_categories_of_its_grant() -> None:
    facts = camille(grants=(grant("app", APP_TENSIO.id, can_write=True, class_codes=frozenset({"space:vitals"})),))
    new = space_facts(SpaceCategory.VITALS, id="(nouveau)", author_id=APP_TENSIO.id, author_kind="app")
    assert decide(APP_TENSIO, Action.DEPOSIT, facts, new, normal()).codes == ("app_grant_write", "identity_qualified")
    assert decide(APP_TENSIO, Action.READ, facts, VITAL, normal()).allowed
    assert decide(APP_TENSIO, Action.READ, facts, ALLERGY, normal()).codes == ("grant_class_not_covered",)
    wrong = space_facts(SpaceCategory.VACCINATIONS, id="(nouveau)", author_id=APP_TENSIO.id, author_kind="app")
    assert decide(APP_TENSIO, Action.DEPOSIT, facts, wrong, normal()).codes == ("grant_class_not_covered",)
    assert decide(APP_UNKNOWN, Action.READ, facts, VITAL, normal()).codes == ("app_no_grant",)
    read_only = camille(grants=(grant("app", APP_TENSIO.id, class_codes=frozenset({"space:vitals"})),))
    assert decide(APP_TENSIO, Action.DEPOSIT, read_only, new, normal()).codes == ("grant_does_not_allow_writing",)
    stolen = replace(new, author_id=APP_UNKNOWN.id)
    assert "app_not_author" in decide(APP_TENSIO, Action.DEPOSIT, facts, stolen, normal()).codes


def test_blocks_consents_and_emergency_work_unchanged_on_the_space_data() -> None:
    assert decide(DR_BLOCKED, Action.READ, camille(), VITAL, normal()).codes == ("blocked_by_holder",)
    assert decide(DENTIST_INES, Action.READ, camille(), VITAL, normal()).codes == ("care_team_refused",)
    assert decide(DR_STRANGER, Action.READ, camille(), VITAL, normal()).codes == ("no_basis",)
    assert decide(PHARMACIST_PAUL, Action.READ, camille(), ALLERGY, normal()).codes[0] == "consent_given"
    broken = decide(DR_STRANGER, Action.READ, camille(), ALLERGY, emergency())
    assert broken.allowed and "flag_emergency" in broken.obligations
    assert not decide(DR_STRANGER, Action.READ, camille(emergency_refused=True), ALLERGY, emergency()).allowed
    assert not decide(DR_MARTIN, Action.READ, camille(space_status=SpaceStatus.CLOSED), VITAL, normal()).allowed


def test_a_professional_feeds_a_vaccination_only_on_a_qualified_identity_with_a_basis() -> None:
    from carnet.identity.status import IdentityStatus

    new = space_facts(SpaceCategory.VACCINATIONS, id="(nouveau)", author_id=NURSE.id, author_kind="professional")
    assert decide(NURSE, Action.DEPOSIT, camille(), new, normal()).allowed
    unqualified = camille(identity_status=IdentityStatus.PROV)
    assert "identity_not_qualified" in decide(NURSE, Action.DEPOSIT, unqualified, new, normal()).codes
    assert "no_basis" in decide(replace(NURSE, id="rpps-nobody"), Action.DEPOSIT, camille(),
                                replace(new, author_id="rpps-nobody"), normal()).codes  # fmt: skip


# --- properties -------------------------------------------------------------------------------------------------

space_items = st.builds(
    DocumentFacts,
    id=st.sampled_from(("item-1", "item-2", "space:vitals")),
    type_code=st.just(""),
    class_code=st.sampled_from([c.value for c in SpaceCategory]),
    author_id=st.sampled_from(("pro-1", "pro-2", "patient-1", "app-1", "rep-1")),
    author_kind=st.sampled_from(("professional", "patient", "app")),
)
READS = (Action.READ, Action.LIST, Action.SEARCH)
PROPERTIES = settings(max_examples=300, deadline=None)


@PROPERTIES
@given(actors((ActorKind.PROFESSIONAL,)), st.sampled_from(tuple(Action)), facts_strategy, space_items, contexts)
def test_a_blocked_professional_never_reads_nor_feeds_any_of_the_space_data(
    actor: Actor, action: Action, facts: PatientFacts, item: DocumentFacts, context: Context
) -> None:
    actor = replace(actor, id=actor.id or "pro-1", auth_method=AuthMethod.CPS)
    blocked = replace(facts, blocked_professionals=facts.blocked_professionals | {actor.id})
    assert not decide(actor, action, blocked, item, context).allowed


@PROPERTIES
@given(actors((ActorKind.PROFESSIONAL,)), st.sampled_from(READS), facts_strategy, space_items, contexts)
def test_a_professional_reads_the_space_data_only_as_the_matrix_allows_unless_they_wrote_it(
    actor: Actor, action: Action, facts: PatientFacts, item: DocumentFacts, context: Context
) -> None:
    decision = decide(actor, action, facts, item, context)
    if not decision.allowed or (item.author_id == actor.id and item.author_kind == "professional"):
        return
    assert actor.profession is not None
    assert default_matrix().allows(actor.profession, item.class_code)[0], decision.codes


@PROPERTIES
@given(actors((ActorKind.PROFESSIONAL,)), st.sampled_from(READS), facts_strategy, space_items, contexts)
def test_no_social_professional_ever_reads_a_vital_an_allergy_or_the_questionnaire(
    actor: Actor, action: Action, facts: PatientFacts, item: DocumentFacts, context: Context
) -> None:
    social = replace(actor, profession="41")
    item = replace(item, author_kind="patient")
    assert not decide(social, action, facts, item, context).allowed


@PROPERTIES
@given(actors((ActorKind.APP,)), st.sampled_from(tuple(Action)), facts_strategy, space_items, contexts)
def test_an_app_never_acts_on_a_category_its_live_grants_do_not_cover(
    actor: Actor, action: Action, facts: PatientFacts, item: DocumentFacts, context: Context
) -> None:
    decision = decide(actor, action, facts, item, context)
    if not decision.allowed:
        return
    write = action in (Action.DEPOSIT, Action.REPLACE)
    assert any(
        g.grantee_kind == "app" and g.grantee_id == actor.id and (g.can_write if write else g.can_read)
        and g.revoked_at is None and g.valid_from <= NOW and (g.valid_until is None or NOW < g.valid_until)
        and (not g.class_codes or item.class_code in g.class_codes)
        for g in facts.grants
    ), decision.codes  # fmt: skip


@PROPERTIES
@given(actors(), st.sampled_from(tuple(Action)), facts_strategy, space_items, contexts)
def test_on_a_closed_space_only_the_holder_and_the_platform_touch_the_space_data(
    actor: Actor, action: Action, facts: PatientFacts, item: DocumentFacts, context: Context
) -> None:
    closed = replace(facts, space_status=SpaceStatus.CLOSED)
    decision = decide(actor, action, closed, item, context)
    if decision.allowed:
        holder = (actor.kind == ActorKind.PATIENT and actor.id == closed.patient_id) or (
            actor.kind == ActorKind.REPRESENTATIVE and actor.id in closed.representatives
        )
        assert holder or actor.kind == ActorKind.SYSTEM
        assert action not in (Action.DEPOSIT, Action.REPLACE)


@PROPERTIES
@given(actors((ActorKind.PROFESSIONAL, ActorKind.APP, ActorKind.SECRETARIAT)), facts_strategy, space_items,
       st.sampled_from((Mode.EMERGENCY, Mode.REGULATION)))  # fmt: skip
def test_the_emergency_mode_opens_nothing_when_the_holder_refused_it(
    actor: Actor, facts: PatientFacts, item: DocumentFacts, mode: Mode
) -> None:
    refused = replace(facts, emergency_refused=True)
    context = Context(now=NOW, mode=mode, justification="inconscient, allergies à vérifier")
    assert not decide(actor, Action.READ, refused, item, context).allowed


def test_a_grant_named_with_the_catalogue_categories_covers_the_same_space_data() -> None:
    assert grant_class_codes({"vitals", "10"}) == {"vitals", "space:vitals", "10"}
    assert grant_class_codes({"profile"}) >= {"space:profile", "space:allergies"}
    facts = camille(grants=(grant("app", APP_TENSIO.id, class_codes=grant_class_codes({"profile"})),))
    assert decide(APP_TENSIO, Action.READ, facts, ALLERGY, normal()).allowed
    assert decide(APP_TENSIO, Action.READ, facts, QUESTIONNAIRE, normal()).allowed
    assert not decide(APP_TENSIO, Action.READ, facts, VITAL, normal()).allowed

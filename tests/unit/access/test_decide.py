"""The access decision as a grid: one row per rule and one per exception, reading like the rules."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from typing import Any

import pytest

from carnet.access.decide import EMERGENCY_OBLIGATIONS, REASONS, TRACE_DENIAL, decide
from carnet.access.matrix import Matrix
from carnet.access.model import (
    Action,
    Actor,
    CareTeamMember,
    Consent,
    Context,
    Decision,
    DocumentFacts,
    PatientFacts,
    SpaceStatus,
)
from carnet.identity.status import IdentityStatus
from tests.unit.access.access_builders import (
    APP_MEASURES,
    APP_TENSIO,
    APP_UNKNOWN,
    AUDITOR,
    CONSULTATION,
    DAY,
    DENTIST_INES,
    DR_BLOCKED,
    DR_FROM_GRANTED_HOSPITAL,
    DR_GRANTED,
    DR_LAKE_CLINIC,
    DR_MARTIN,
    DR_NO_PROFESSION,
    DR_SAMU,
    DR_STRANGER,
    FORGED,
    FRONT_DESK,
    FRONT_DESK_ALONE,
    HELD_BACK,
    HIDDEN,
    HOLDER,
    HOUR,
    IMAGING,
    KINE_HUGO,
    NAMELESS,
    NOT_A_PARENT,
    NOT_FOR_PARENTS,
    NOW,
    NURSE_LEA,
    NURSE_SAMU,
    ODD_PROFESSION,
    OPERATIVE_REPORT,
    OTHER_PATIENT,
    PARENT,
    PATIENT_NOTE,
    PHARMACIST_PAUL,
    PLATFORM,
    PRESCRIPTION,
    PSYCHIATRIC_SUMMARY,
    RESIDENCE,
    SOCIAL_WORKER_NINA,
    SURGEON_ZOE,
    camille,
    document,
    emergency,
    grant,
    normal,
    regulation,
)

A = Action
MINOR = camille(is_minor=True)
UNQUALIFIED = camille(identity_status=IdentityStatus.RECUP)
NEW_REPORT_BY_MARTIN = document(id="new", author_id=DR_MARTIN.id)
NEW_REPORT_BY_LEA = document(id="new", type_code="11506-3", author_id=NURSE_LEA.id)
NEW_REPORT_BY_STRANGER = document(id="new", author_id=DR_STRANGER.id)
NEW_REPORT_BY_GRANTED = document(id="new", author_id=DR_GRANTED.id)


def row(
    name: str,
    actor: Actor,
    action: Action,
    facts: PatientFacts,
    resource: DocumentFacts | None,
    context: Context,
    allowed: bool,
    code: str,
) -> Any:
    return pytest.param(actor, action, facts, resource, context, allowed, code, id=name)


GRID = [
    # --- the holder -------------------------------------------------------------------------------------------
    row("holder reads her consultation report", HOLDER, A.READ, camille(), CONSULTATION, normal(), True,
        "holder_own_record"),
    row("holder lists her record", HOLDER, A.LIST, camille(), None, normal(), True, "holder_own_record"),
    row("holder searches her record", HOLDER, A.SEARCH, camille(), None, normal(), True, "holder_own_record"),
    row("holder does not see a document held back for the announcement", HOLDER, A.READ, camille(), HELD_BACK,
        normal(), False, "invisible_to_patient"),
    row("holder's listing drops a held-back document", HOLDER, A.LIST, camille(), HELD_BACK, normal(), False,
        "invisible_to_patient"),
    row("holder hides a document from professionals", HOLDER, A.HIDE, camille(), CONSULTATION, normal(), True,
        "holder_manages_space"),
    row("holder shows it again", HOLDER, A.SHOW, camille(), HIDDEN, normal(), True, "holder_manages_space"),
    row("holder deletes a document", HOLDER, A.DELETE, camille(), CONSULTATION, normal(), True,
        "holder_manages_space"),
    row("holder manages consents and grants", HOLDER, A.MANAGE_CONSENT, camille(), None, normal(), True,
        "holder_manages_space"),
    row("holder reads her access history", HOLDER, A.READ_AUDIT, camille(), None, normal(), True,
        "holder_manages_space"),
    row("holder sets what the representatives see", HOLDER, A.SET_REPRESENTATIVE_VISIBILITY, camille(),
        CONSULTATION, normal(), True, "holder_manages_space"),
    row("holder deposits her own document", HOLDER, A.DEPOSIT, camille(), PATIENT_NOTE, normal(), True,
        "patient_document"),
    row("holder deposits without a qualified identity (her own space)", HOLDER, A.DEPOSIT, UNQUALIFIED,
        PATIENT_NOTE, normal(), True, "patient_document"),
    row("holder cannot deposit a professional's document", HOLDER, A.DEPOSIT, camille(), CONSULTATION, normal(),
        False, "holder_deposits_own_documents_only"),
    row("holder never holds back", HOLDER, A.HOLD_BACK, camille(), CONSULTATION, normal(), False,
        "author_only_action"),
    row("holder never releases", HOLDER, A.RELEASE, camille(), HELD_BACK, normal(), False, "invisible_to_patient"),
    row("holder cannot change her identity status", HOLDER, A.QUALIFY_IDENTITY, camille(), None, normal(), False,
        "patient_cannot_qualify_identity"),
    row("another patient gets nothing", OTHER_PATIENT, A.READ, camille(), CONSULTATION, normal(), False,
        "not_own_record"),
    row("holder still reads a closed space", HOLDER, A.READ, camille(space_status=SpaceStatus.CLOSED),
        CONSULTATION, normal(), True, "holder_own_record"),
    row("nothing is deposited in a closed space", HOLDER, A.DEPOSIT, camille(space_status=SpaceStatus.CLOSED),
        PATIENT_NOTE, normal(), False, "space_closed"),
    # --- representatives --------------------------------------------------------------------------------------
    row("parent of a minor reads for her", PARENT, A.READ, MINOR, CONSULTATION, normal(), True,
        "representative_of_minor"),
    row("parent of a minor does not see what is invisible to representatives", PARENT, A.READ, MINOR,
        NOT_FOR_PARENTS, normal(), False, "invisible_to_representatives"),
    row("parent of a minor does not see what is held back", PARENT, A.READ, MINOR, HELD_BACK, normal(), False,
        "invisible_to_patient"),
    row("parent cannot change what representatives see", PARENT, A.SET_REPRESENTATIVE_VISIBILITY, MINOR,
        CONSULTATION, normal(), False, "representative_cannot_set_visibility"),
    row("parent manages consents for a minor", PARENT, A.MANAGE_CONSENT, MINOR, None, normal(), True,
        "representative_of_minor"),
    row("parent after majority: access ends", PARENT, A.READ, camille(is_minor=False), CONSULTATION, normal(),
        False, "representative_after_majority"),
    row("guardian of a protected adult reads", PARENT, A.READ, camille(protected_adult=True), CONSULTATION,
        normal(), True, "representative_of_protected_adult"),
    row("someone who is not a representative", NOT_A_PARENT, A.READ, MINOR, CONSULTATION, normal(), False,
        "not_a_representative"),
    # --- professionals: oppositions and space -----------------------------------------------------------------
    row("blocked professional", DR_BLOCKED, A.READ, camille(), CONSULTATION, normal(), False, "blocked_by_holder"),
    row("blocked professional cannot deposit either", DR_BLOCKED, A.DEPOSIT, camille(),
        document(author_id=DR_BLOCKED.id), normal(), False, "blocked_by_holder"),
    row("professional of a blocked organisation", DR_LAKE_CLINIC, A.READ, camille(), CONSULTATION, normal(), False,
        "organisation_blocked_by_holder"),
    row("author in a blocked organisation loses even her own document", SURGEON_ZOE, A.READ, camille(),
        OPERATIVE_REPORT, normal(), False, "organisation_blocked_by_holder"),
    row("space opposed by the holder", DR_MARTIN, A.READ, camille(space_status=SpaceStatus.OPPOSED), CONSULTATION,
        normal(), False, "space_opposed"),
    row("space closed", DR_MARTIN, A.READ, camille(space_status=SpaceStatus.CLOSED), CONSULTATION, normal(), False,
        "space_closed"),
    row("no deposit in a closed space", DR_MARTIN, A.DEPOSIT, camille(space_status=SpaceStatus.CLOSED),
        NEW_REPORT_BY_MARTIN, normal(), False, "space_closed"),
    row("a space within its six weeks is open to the care team", NURSE_LEA, A.READ,
        camille(space_status=SpaceStatus.PENDING), CONSULTATION, normal(), True, "care_team_member"),
    # --- professionals: grounds to read -----------------------------------------------------------------------
    row("médecin traitant reads", DR_MARTIN, A.READ, camille(), PRESCRIPTION, normal(), True, "medecin_traitant"),
    row("informed care team member reads", NURSE_LEA, A.READ, camille(), CONSULTATION, normal(), True,
        "care_team_member"),
    row("care team member lists", NURSE_LEA, A.LIST, camille(), None, normal(), True, "care_team_member"),
    row("care team member refused by the patient", DENTIST_INES, A.READ, camille(), CONSULTATION, normal(), False,
        "care_team_refused"),
    row("care team member who has not informed the patient", KINE_HUGO, A.READ, camille(), CONSULTATION, normal(),
        False, "care_team_not_informed"),
    row("professional outside the care team without consent", DR_STRANGER, A.READ, camille(), CONSULTATION,
        normal(), False, "no_basis"),
    row("professional outside the care team cannot even list", DR_STRANGER, A.LIST, camille(), None, normal(),
        False, "no_basis"),
    row("valid explicit consent", PHARMACIST_PAUL, A.READ, camille(), PRESCRIPTION, normal(), True, "consent_given"),
    row("expired consent", PHARMACIST_PAUL, A.READ,
        camille(consents=(Consent(professional_id=PHARMACIST_PAUL.id, given_at=NOW - 5 * HOUR,
                                  expires_at=NOW - HOUR),)),
        PRESCRIPTION, normal(), False, "consent_expired"),
    row("read grant covering reports", DR_GRANTED, A.READ, camille(), CONSULTATION, normal(), True, "grant_read"),
    row("read grant for another category", DR_GRANTED, A.READ, camille(), PRESCRIPTION, normal(), False,
        "grant_class_not_covered"),
    row("expired grant", DR_GRANTED, A.READ,
        camille(grants=(grant("professional", DR_GRANTED.id, valid_until=NOW - DAY),)), CONSULTATION, normal(),
        False, "grant_expired"),
    row("revoked grant", DR_GRANTED, A.READ,
        camille(grants=(grant("professional", DR_GRANTED.id, revoked_at=NOW - HOUR),)), CONSULTATION, normal(),
        False, "grant_revoked"),
    row("grant not yet valid", DR_GRANTED, A.READ,
        camille(grants=(grant("professional", DR_GRANTED.id, valid_from=NOW + DAY),)), CONSULTATION, normal(),
        False, "grant_not_yet_valid"),
    row("grant to the organisation", DR_FROM_GRANTED_HOSPITAL, A.READ, camille(), IMAGING, normal(), True,
        "grant_read"),
    # --- professionals: the matrix ----------------------------------------------------------------------------
    row("a nurse may not read an operative report", NURSE_LEA, A.READ, camille(), OPERATIVE_REPORT, normal(), False,
        "matrix_denied"),
    row("a dentist may not read a psychiatric summary (consent given)", DENTIST_INES, A.READ,
        camille(consents=(Consent(professional_id=DENTIST_INES.id, given_at=NOW - HOUR, expires_at=NOW + HOUR),)),
        PSYCHIATRIC_SUMMARY, normal(), False, "matrix_denied"),
    row("a médecin may not read the attestation de résidence", DR_MARTIN, A.READ, camille(), RESIDENCE, normal(),
        False, "matrix_denied"),
    row("a médecin reads the operative report", DR_MARTIN, A.READ, camille(), OPERATIVE_REPORT, normal(), True,
        "matrix_allowed"),
    row("a social worker reads a social document", SOCIAL_WORKER_NINA, A.READ,
        camille(care_team=(CareTeamMember(professional_id=SOCIAL_WORKER_NINA.id, informed_at=NOW - DAY),)),
        document(id="doc-social-2", type_code="28653-4", author_id=DR_MARTIN.id), normal(), True, "matrix_allowed"),
    row("a social worker may not read a consultation report", SOCIAL_WORKER_NINA, A.READ,
        camille(care_team=(CareTeamMember(professional_id=SOCIAL_WORKER_NINA.id, informed_at=NOW - DAY),)),
        CONSULTATION, normal(), False, "matrix_denied"),
    row("a professional without a profession", DR_NO_PROFESSION, A.READ,
        camille(care_team=(CareTeamMember(professional_id=DR_NO_PROFESSION.id, informed_at=NOW - DAY),)),
        CONSULTATION, normal(), False, "profession_missing"),
    row("a profession the matrix does not know", ODD_PROFESSION, A.READ,
        camille(care_team=(CareTeamMember(professional_id=ODD_PROFESSION.id, informed_at=NOW - DAY),)),
        CONSULTATION, normal(), False, "matrix_denied"),
    row("a document held back from the patient is visible to professionals", NURSE_LEA, A.READ, camille(),
        HELD_BACK, normal(), True, "care_team_member"),
    row("reading needs a document", NURSE_LEA, A.READ, camille(), None, normal(), False, "resource_missing"),
    # --- professionals: hidden documents ----------------------------------------------------------------------
    row("a hidden document is invisible to a care team member", NURSE_LEA, A.READ, camille(), HIDDEN, normal(),
        False, "hidden_by_holder"),
    row("and dropped from her listing", NURSE_LEA, A.LIST, camille(), HIDDEN, normal(), False, "hidden_by_holder"),
    row("the author still reads her hidden document", SURGEON_ZOE, A.READ, camille(blocked_organisations=frozenset()),
        HIDDEN, normal(), True, "own_document"),
    row("the médecin traitant sees a hidden document", DR_MARTIN, A.READ, camille(), HIDDEN, normal(), True,
        "hidden_visible_to_medecin_traitant"),
    row("a refused médecin traitant does not", DR_MARTIN, A.READ,
        camille(care_team=(CareTeamMember(professional_id=DR_MARTIN.id, is_medecin_traitant=True,
                                          refused_at=NOW - DAY),)),
        HIDDEN, normal(), False, "care_team_refused"),
    row("emergency access does not reveal hidden documents", DR_STRANGER, A.READ, camille(), HIDDEN, emergency(),
        False, "hidden_by_holder"),
    # --- professionals: emergency and regulation --------------------------------------------------------------
    row("emergency access with a justification", DR_STRANGER, A.READ, camille(), CONSULTATION, emergency(), True,
        "emergency_access"),
    row("emergency access without justification", DR_STRANGER, A.READ, camille(), CONSULTATION, emergency(None),
        False, "emergency_justification_missing"),
    row("emergency access with a blank justification", DR_STRANGER, A.READ, camille(), CONSULTATION,
        emergency("   "), False, "emergency_justification_missing"),
    row("emergency access refused by the holder", DR_STRANGER, A.READ, camille(emergency_refused=True),
        CONSULTATION, emergency(), False, "emergency_refused_by_holder"),
    row("emergency access still follows the matrix", NURSE_SAMU, A.READ, camille(), OPERATIVE_REPORT, emergency(),
        False, "matrix_denied"),
    row("emergency access does not lift an opposition", DR_BLOCKED, A.READ, camille(), CONSULTATION, emergency(),
        False, "blocked_by_holder"),
    row("regulation by the médecin régulateur", DR_SAMU, A.READ, camille(), CONSULTATION, regulation(), True,
        "regulation_access"),
    row("regulation is for médecins", NURSE_SAMU, A.READ, camille(), CONSULTATION, regulation(), False,
        "regulation_medecin_only"),
    row("regulation without justification", DR_SAMU, A.READ, camille(), CONSULTATION, regulation(None), False,
        "emergency_justification_missing"),
    row("refusing emergency access also refuses regulation", DR_SAMU, A.READ, camille(emergency_refused=True),
        CONSULTATION, regulation(), False, "emergency_refused_by_holder"),
    # --- professionals: deposits and author actions -----------------------------------------------------------
    row("the médecin traitant deposits his report", DR_MARTIN, A.DEPOSIT, camille(), NEW_REPORT_BY_MARTIN,
        normal(), True, "own_document"),
    row("a care team nurse deposits her report", NURSE_LEA, A.DEPOSIT, camille(), NEW_REPORT_BY_LEA, normal(), True,
        "care_team_member"),
    row("deposit for an unqualified identity", DR_MARTIN, A.DEPOSIT, UNQUALIFIED, NEW_REPORT_BY_MARTIN, normal(),
        False, "identity_not_qualified"),
    row("deposit of someone else's document", DR_MARTIN, A.DEPOSIT, camille(), NEW_REPORT_BY_LEA, normal(), False,
        "deposit_not_own_document"),
    row("deposit without any ground", DR_STRANGER, A.DEPOSIT, camille(), NEW_REPORT_BY_STRANGER, normal(), False,
        "no_basis"),
    row("deposit needs a write grant, not a read grant", DR_GRANTED, A.DEPOSIT, camille(), NEW_REPORT_BY_GRANTED,
        normal(), False, "grant_does_not_allow_writing"),
    row("deposit with a write grant", DR_GRANTED, A.DEPOSIT,
        camille(grants=(grant("professional", DR_GRANTED.id, can_read=False, can_write=True),)),
        NEW_REPORT_BY_GRANTED, normal(), True, "grant_write"),
    row("replace one's own document", DR_MARTIN, A.REPLACE, camille(), CONSULTATION, normal(), True,
        "own_document"),
    row("the author holds back a document", DR_MARTIN, A.HOLD_BACK, camille(), CONSULTATION, normal(), True,
        "author_action"),
    row("the author releases it", DR_MARTIN, A.RELEASE, camille(), HELD_BACK, normal(), True, "author_action"),
    row("only the author holds back", NURSE_LEA, A.HOLD_BACK, camille(), CONSULTATION, normal(), False,
        "author_only_action"),
    row("only the author deletes", NURSE_LEA, A.DELETE, camille(), CONSULTATION, normal(), False,
        "author_only_action"),
    row("the author deletes", DR_MARTIN, A.DELETE, camille(), CONSULTATION, normal(), True, "author_action"),
    row("a professional never hides", DR_MARTIN, A.HIDE, camille(), CONSULTATION, normal(), False,
        "holder_only_action"),
    row("a professional never shows", DR_MARTIN, A.SHOW, camille(), HIDDEN, normal(), False, "holder_only_action"),
    row("a professional never reads the access history", DR_MARTIN, A.READ_AUDIT, camille(), None, normal(), False,
        "holder_only_action"),
    row("a professional never manages consents", DR_MARTIN, A.MANAGE_CONSENT, camille(), None, normal(), False,
        "holder_only_action"),
    row("a professional qualifies the identity", DR_MARTIN, A.QUALIFY_IDENTITY, camille(), None, normal(), True,
        "identity_vigilance"),
    # --- secretariat ------------------------------------------------------------------------------------------
    row("secretariat never reads clinical documents", FRONT_DESK, A.READ, camille(), CONSULTATION, normal(), False,
        "secretariat_no_clinical_read"),
    row("secretariat never lists them", FRONT_DESK, A.LIST, camille(), None, normal(), False,
        "secretariat_no_clinical_read"),
    row("secretariat deposits for its professional", FRONT_DESK, A.DEPOSIT, camille(), NEW_REPORT_BY_MARTIN,
        normal(), True, "secretariat_for_professional"),
    row("secretariat deposits only its professional's documents", FRONT_DESK, A.DEPOSIT, camille(),
        NEW_REPORT_BY_LEA, normal(), False, "secretariat_not_for_professional"),
    row("secretariat acting for nobody", FRONT_DESK_ALONE, A.DEPOSIT, camille(), NEW_REPORT_BY_MARTIN, normal(),
        False, "secretariat_acting_for_missing"),
    row("secretariat deposit for an unqualified identity", FRONT_DESK, A.DEPOSIT, UNQUALIFIED,
        NEW_REPORT_BY_MARTIN, normal(), False, "identity_not_qualified"),
    row("secretariat of a blocked professional", FRONT_DESK, A.DEPOSIT,
        camille(blocked_professionals=frozenset({DR_MARTIN.id})), NEW_REPORT_BY_MARTIN, normal(), False,
        "blocked_by_holder"),
    row("secretariat qualifies identities", FRONT_DESK, A.QUALIFY_IDENTITY, camille(), None, normal(), True,
        "identity_vigilance"),
    row("secretariat cannot hold back", FRONT_DESK, A.HOLD_BACK, camille(), CONSULTATION, normal(), False,
        "secretariat_action_not_allowed"),
    row("secretariat has no emergency mode", FRONT_DESK, A.DEPOSIT, camille(), NEW_REPORT_BY_MARTIN, emergency(),
        False, "mode_not_allowed"),
    # --- referenced apps --------------------------------------------------------------------------------------
    row("app with a grant reads a covered category", APP_TENSIO, A.READ, camille(), CONSULTATION, normal(), True,
        "app_grant_read"),
    row("app with a grant lists", APP_TENSIO, A.LIST, camille(), None, normal(), True, "app_grant_read"),
    row("app grant for another category", APP_TENSIO, A.READ, camille(), PRESCRIPTION, normal(), False,
        "grant_class_not_covered"),
    row("app without a grant", APP_UNKNOWN, A.READ, camille(), CONSULTATION, normal(), False, "app_no_grant"),
    row("app whose grant expired", APP_TENSIO, A.READ,
        camille(grants=(grant("app", APP_TENSIO.id, valid_until=NOW - HOUR),)), CONSULTATION, normal(), False,
        "grant_expired"),
    row("app whose grant was revoked", APP_TENSIO, A.READ,
        camille(grants=(grant("app", APP_TENSIO.id, revoked_at=NOW - HOUR),)), CONSULTATION, normal(), False,
        "grant_revoked"),
    row("app never reads a hidden document", APP_TENSIO, A.READ, camille(), HIDDEN, normal(), False,
        "hidden_by_holder"),
    row("app never reads a held-back document", APP_TENSIO, A.READ, camille(), HELD_BACK, normal(), False,
        "invisible_to_patient"),
    row("app deposits its own measures", APP_TENSIO, A.DEPOSIT, camille(), APP_MEASURES, normal(), True,
        "app_grant_write"),
    row("app cannot deposit a professional's document", APP_TENSIO, A.DEPOSIT, camille(), CONSULTATION, normal(),
        False, "app_not_author"),
    row("app never hides", APP_TENSIO, A.HIDE, camille(), CONSULTATION, normal(), False, "app_action_not_allowed"),
    row("app deletes its own measures", APP_TENSIO, A.DELETE, camille(), APP_MEASURES, normal(), True,
        "app_grant_write"),
    row("app never deletes a professional's document", APP_TENSIO, A.DELETE, camille(), CONSULTATION, normal(),
        False, "app_not_author"),
    row("app in a closed space", APP_TENSIO, A.READ, camille(space_status=SpaceStatus.CLOSED), CONSULTATION,
        normal(), False, "space_closed"),
    # --- the platform -----------------------------------------------------------------------------------------
    row("platform job reads", PLATFORM, A.READ, camille(), HIDDEN, normal(), True, "system_job"),
    row("platform job works on a closed space", PLATFORM, A.DELETE, camille(space_status=SpaceStatus.CLOSED),
        CONSULTATION, normal(), True, "system_job"),
    row("platform job never deposits for an unqualified identity", PLATFORM, A.DEPOSIT, UNQUALIFIED, CONSULTATION,
        normal(), False, "identity_not_qualified"),
    row("operator reads the audit trail", AUDITOR, A.READ_AUDIT, camille(), None, normal(), True, "operator_audit"),
    row("operator never reads documents", AUDITOR, A.READ, camille(), CONSULTATION, normal(), False,
        "operator_no_clinical_access"),
    # --- bad input --------------------------------------------------------------------------------------------
    row("a professional presenting an app token", FORGED, A.READ, camille(), CONSULTATION, normal(), False,
        "actor_invalid"),
    row("an actor without an id", NAMELESS, A.READ, camille(), CONSULTATION, normal(), False, "actor_invalid"),
    row("a request time without time zone", DR_MARTIN, A.READ, camille(), CONSULTATION,
        Context(now=dt.datetime(2026, 11, 22, 9, 30)), False, "invalid_context"),
    row("facts that cannot be compared fail closed", PHARMACIST_PAUL, A.READ,
        camille(consents=(Consent(professional_id=PHARMACIST_PAUL.id, given_at=dt.datetime(2026, 11, 22),
                                  expires_at=dt.datetime(2026, 11, 23)),)),
        PRESCRIPTION, normal(), False, "decision_error"),
]  # fmt: skip


@pytest.mark.parametrize(("actor", "action", "facts", "resource", "context", "allowed", "code"), GRID)
def test_decision_grid(
    actor: Actor,
    action: Action,
    facts: PatientFacts,
    resource: DocumentFacts | None,
    context: Context,
    allowed: bool,
    code: str,
) -> None:
    decision = decide(actor, action, facts, resource, context)
    assert decision.allowed is allowed, decision.codes
    assert code in decision.codes, decision.codes
    assert decision.reasons, "every decision says why"
    assert decision.rule_id
    if allowed:
        assert "trace_denial" not in decision.obligations
    else:
        assert decision.obligations == TRACE_DENIAL


def test_emergency_access_is_flagged_and_the_holder_notified() -> None:
    decision = decide(DR_STRANGER, Action.READ, camille(), CONSULTATION, emergency())
    assert decision.allowed
    assert decision.obligations == EMERGENCY_OBLIGATIONS == frozenset({"flag_emergency", "notify_holder_emergency"})
    assert decision.codes == ("emergency_access", "matrix_allowed")
    regulated = decide(DR_SAMU, Action.READ, camille(), CONSULTATION, regulation())
    assert regulated.obligations == EMERGENCY_OBLIGATIONS
    assert decide(DR_MARTIN, Action.READ, camille(), CONSULTATION, normal()).obligations == frozenset()


def test_an_allowed_read_names_its_ground_and_the_matrix_row() -> None:
    decision = decide(NURSE_LEA, Action.READ, camille(), CONSULTATION, normal())
    assert decision.codes == ("care_team_member", "matrix_allowed")
    assert decision.rule_id == "matrix:60:10"
    assert decision.reasons[1].fr == (
        "la matrice d'habilitation permet à un infirmier de consulter un document « compte rendu ou fiche de "
        "consultation ou de visite »"
    )


def test_a_matrix_refusal_names_the_row_and_reads_like_the_regulation() -> None:
    decision = decide(NURSE_LEA, Action.READ, camille(), OPERATIVE_REPORT, normal())
    assert decision.rule_id == "matrix:60:10:34874-8"
    assert [r.fr for r in decision.reasons] == [
        "un infirmier ne peut pas consulter un document « compte rendu opératoire » (matrice d'habilitation)"
    ]


def test_a_denial_lists_every_reason_that_contributed() -> None:
    facts = camille(space_status=SpaceStatus.CLOSED, blocked_professionals=frozenset({DR_LAKE_CLINIC.id}))
    decision = decide(DR_LAKE_CLINIC, Action.READ, facts, CONSULTATION, emergency(None))
    assert decision.codes == (
        "space_closed",
        "blocked_by_holder",
        "organisation_blocked_by_holder",
        "emergency_justification_missing",
    )
    assert decision.rule_id == "access.space_closed"
    no_ground = decide(
        DR_GRANTED,
        Action.READ,
        camille(
            consents=(Consent(professional_id=DR_GRANTED.id, given_at=NOW - DAY, expires_at=NOW - HOUR),),
            grants=(grant("professional", DR_GRANTED.id, revoked_at=NOW - HOUR),),
        ),
        CONSULTATION,
        normal(),
    )
    assert no_ground.codes == ("consent_expired", "grant_revoked")


def test_a_matrix_can_be_given() -> None:
    lenient = Matrix.from_text(
        "profession_code,profession_label,class_code,type_code,read,source,to_check,note\n"
        "60,infirmier,10,,yes,test,no,\n"
    )
    assert decide(NURSE_LEA, Action.READ, camille(), OPERATIVE_REPORT, normal(), matrix=lenient).allowed
    empty = Matrix.from_text("profession_code,profession_label,class_code,type_code,read,source,to_check,note\n")
    assert not decide(DR_MARTIN, Action.READ, camille(), PRESCRIPTION, normal(), matrix=empty).allowed


def test_actions_given_as_plain_strings_are_understood() -> None:
    assert decide(NURSE_LEA, "read", camille(), CONSULTATION, normal()).allowed  # type: ignore[arg-type]
    assert not decide(NURSE_LEA, "fly", camille(), CONSULTATION, normal()).allowed  # type: ignore[arg-type]


def test_every_reason_has_a_stable_code_and_both_texts() -> None:
    assert len(REASONS) >= 60
    for code, reason in REASONS.items():
        assert reason.code == code
        assert re.fullmatch(r"[a-z][a-z0-9_]*", code), code
        assert reason.fr and reason.en and reason.fr != reason.en, code


def test_every_reason_code_is_documented() -> None:
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[3] / "docs" / "access-matrix.md").read_text("utf-8")
    missing = [code for code in (*REASONS, "matrix_allowed", "matrix_denied") if f"`{code}`" not in doc]
    assert missing == []


def test_the_decision_is_a_frozen_value() -> None:
    decision = decide(DR_MARTIN, Action.READ, camille(), CONSULTATION, normal())
    assert isinstance(decision, Decision)
    with pytest.raises(dataclasses.FrozenInstanceError):
        decision.allowed = False  # type: ignore[misc]
    assert decision == decide(DR_MARTIN, Action.READ, camille(), CONSULTATION, normal())

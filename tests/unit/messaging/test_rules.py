"""The messaging rule as a grid (one row per rule) and as properties (hypothesis), pure: no database."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from carnet.messaging.model import (
    REASONS,
    ConversationFacts,
    ConversationStatus,
    MailboxKind,
    Party,
    decide_close,
    decide_post,
    normalise_address,
    patient_address,
)

DR = Party("claire.moreau@demo.mssante.fr", MailboxKind.PERSONAL)
NURSE = Party("julie.petit@demo.mssante.fr", MailboxKind.PERSONAL)
LAB = Party("resultats@labo.mssante.fr", MailboxKind.APPLICATIVE)
OUTSIDE = Party("dr.lointain@hopital.mssante.fr", MailboxKind.EXTERNAL)
DOMINIQUE = Party("279035121518989@patient.mssante.fr", MailboxKind.PATIENT)
OTHER_PATIENT = Party("190021234567890@patient.mssante.fr", MailboxKind.PATIENT)


def conversation(*parties: Party, status: ConversationStatus = ConversationStatus.OPEN) -> ConversationFacts:
    patient = next((p.address for p in parties if p.is_patient), None)
    return ConversationFacts(status=status, participants=frozenset(p.address for p in parties),
                             patient_address=patient, opened_by=parties[0].address)  # fmt: skip


OPEN = conversation(DR, DOMINIQUE)
CLOSED = conversation(DR, DOMINIQUE, status=ConversationStatus.CLOSED)

GRID = [
    # sender, recipients, conversation, allowed, reason
    (DR, (DOMINIQUE,), None, True, "professional_opens"),
    (LAB, (DOMINIQUE,), None, True, "professional_opens"),
    (OUTSIDE, (DOMINIQUE,), None, True, "professional_opens"),
    (DR, (NURSE, OUTSIDE), None, True, "professional_opens"),
    (DOMINIQUE, (DR,), None, False, "patient_cannot_open"),
    (DOMINIQUE, (OTHER_PATIENT,), None, False, "patient_cannot_open"),
    (DR, (DOMINIQUE, OTHER_PATIENT), None, False, "one_patient_per_conversation"),
    (DOMINIQUE, (DR,), OPEN, True, "patient_replies"),
    (DOMINIQUE, (DR, NURSE), OPEN, False, "patient_new_recipient"),
    (DR, (DOMINIQUE, NURSE), OPEN, True, "professional_writes"),
    (DR, (OTHER_PATIENT,), OPEN, False, "one_patient_per_conversation"),
    (DOMINIQUE, (DR,), CLOSED, False, "conversation_closed"),
    (DR, (DOMINIQUE,), CLOSED, False, "conversation_closed"),
    (NURSE, (DR,), OPEN, False, "not_a_participant"),
    (DR, (), None, False, "no_recipient"),
    (DR, (DR,), None, False, "sender_is_only_recipient"),
]


@pytest.mark.parametrize(("sender", "recipients", "conv", "allowed", "reason"), GRID)
def test_the_rule_grid(
    sender: Party, recipients: tuple[Party, ...], conv: ConversationFacts | None, allowed: bool, reason: str
) -> None:
    decision = decide_post(sender, recipients, conv)
    assert (decision.allowed, decision.codes) == (allowed, (reason,))
    assert decision.reasons[0].fr and decision.reasons[0].en


def test_either_side_closes_and_only_once() -> None:
    assert decide_close(DOMINIQUE, OPEN).codes == ("participant_closes",)
    assert decide_close(DR, OPEN).allowed
    assert decide_close(NURSE, OPEN).codes == ("not_a_participant",)
    assert decide_close(DR, CLOSED).codes == ("already_closed",)


def test_every_reason_has_both_languages() -> None:
    assert all(r.fr and r.en and r.code == code for code, r in REASONS.items())


# --- properties -------------------------------------------------------------------------------------------------

kinds = st.sampled_from(list(MailboxKind))
parties = st.builds(Party, st.sampled_from([f"box{i}@demo.mssante.fr" for i in range(6)]), kinds)
conversations = st.one_of(
    st.none(),
    st.builds(
        ConversationFacts,
        status=st.sampled_from(list(ConversationStatus)),
        participants=st.frozensets(st.sampled_from([f"box{i}@demo.mssante.fr" for i in range(6)]), max_size=6),
        patient_address=st.one_of(st.none(), st.sampled_from([f"box{i}@demo.mssante.fr" for i in range(6)])),
    ),
)


@given(parties, st.lists(parties, max_size=5).map(tuple), conversations)
def test_the_rule_is_total_and_always_explains_itself(
    sender: Party, recipients: tuple[Party, ...], conv: ConversationFacts | None
) -> None:
    decision = decide_post(sender, recipients, conv)
    assert len(decision.reasons) == 1 and decision.rule_id == "messaging." + decision.codes[0]
    assert decision.allowed == (decision.codes[0] in {"professional_opens", "professional_writes", "patient_replies"})


@given(
    st.lists(parties, min_size=1, max_size=5).map(tuple),
    st.sampled_from([f"p{i}@patient.mssante.fr" for i in range(3)]),
)
def test_a_patient_never_opens_a_conversation(recipients: tuple[Party, ...], address: str) -> None:
    assert not decide_post(Party(address, MailboxKind.PATIENT), recipients, None).allowed


@given(parties, st.lists(parties, min_size=1, max_size=5).map(tuple), conversations)
def test_nobody_writes_in_a_closed_conversation(
    sender: Party, recipients: tuple[Party, ...], conv: ConversationFacts | None
) -> None:
    if conv is not None and conv.status is ConversationStatus.CLOSED:
        assert not decide_post(sender, recipients, conv).allowed


@given(parties, st.lists(parties, min_size=1, max_size=5).map(tuple), conversations)
def test_an_allowed_message_involves_one_patient_at_most(
    sender: Party, recipients: tuple[Party, ...], conv: ConversationFacts | None
) -> None:
    if decide_post(sender, recipients, conv).allowed:
        patients = {p.address for p in (sender, *recipients) if p.is_patient}
        if conv is not None and conv.patient_address:
            patients.add(conv.patient_address)
        assert len(patients) <= 1


@given(st.lists(parties.filter(lambda p: not p.is_patient), min_size=2, max_size=5))
def test_professionals_write_to_each_other_freely(pros: list[Party]) -> None:
    sender, others = pros[0], tuple(p for p in pros[1:] if p.address != pros[0].address)
    if others:
        assert decide_post(sender, others, None).allowed


@given(st.text(max_size=80))
def test_address_normalisation_never_raises_and_is_idempotent(text: str) -> None:
    normal = normalise_address(text)
    if normal is not None:
        assert normalise_address(normal) == normal and normal == normal.lower()


def test_the_patient_address_is_the_matricule_at_the_domain() -> None:
    assert patient_address("279035121518989", "Patient.MSSante.fr") == "279035121518989@patient.mssante.fr"

"""The status machine agrees with its meaning: a status is the pair (confirmed by INSi, checked on a document)."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from carnet.errors import CarnetError
from carnet.identity.status import (
    TRANSITIONS,
    ActorKind,
    Evidence,
    IdDocumentType,
    IdentityStatus,
    QualificationActor,
    transition,
)

MEANING = {
    IdentityStatus.PROV: (False, False),
    IdentityStatus.RECUP: (True, False),
    IdentityStatus.VALI: (False, True),
    IdentityStatus.QUAL: (True, True),
}
DOCTOR = QualificationActor(kind=ActorKind.PROFESSIONAL, profession_code="10", id="810000000001")
AT = dt.datetime(2026, 11, 22, tzinfo=dt.UTC)


def expected(status: IdentityStatus, evidence: Evidence) -> tuple[bool, bool]:
    insi, document = MEANING[status]
    return {
        Evidence.INSI_MATCH: (True, document),
        Evidence.ID_DOCUMENT: (insi, True),
        Evidence.EXCEPTION_ATTESTATION: (insi, True),
        Evidence.TRAIT_CHANGE_WITH_DOCUMENT: (False, True),
        Evidence.TRAIT_CHANGE: (False, False),
        Evidence.INSI_INVALIDATED: (False, document),
    }[evidence]


def test_every_row_of_the_table_means_what_it_says() -> None:
    for (status, evidence), target in TRANSITIONS.items():
        assert MEANING[target] == expected(status, evidence), (status, evidence)


def test_only_meaningless_steps_are_missing_from_the_table() -> None:
    missing = {(s, e) for s in IdentityStatus for e in Evidence} - set(TRANSITIONS)
    assert missing == {
        (IdentityStatus.PROV, Evidence.EXCEPTION_ATTESTATION),  # nothing from INSi to attest
        (IdentityStatus.VALI, Evidence.EXCEPTION_ATTESTATION),
        (IdentityStatus.QUAL, Evidence.EXCEPTION_ATTESTATION),  # already qualified
        (IdentityStatus.PROV, Evidence.INSI_INVALIDATED),  # no INSi link to lose
        (IdentityStatus.VALI, Evidence.INSI_INVALIDATED),
    }


@given(st.lists(st.sampled_from(list(Evidence)), max_size=12))
def test_no_sequence_of_steps_qualifies_without_insi_and_a_document_or_attestation(steps: list[Evidence]) -> None:
    status, insi, checked = IdentityStatus.PROV, False, False
    for evidence in steps:
        try:
            status = transition(
                current=status,
                evidence=evidence,
                actor=DOCTOR,
                at=AT,
                document_type=IdDocumentType.CN if "document" in evidence.value else None,
                perfect_insi_match=True,
            ).to_status
        except CarnetError:
            continue
        insi, checked = expected_after(insi, checked, evidence)
        assert MEANING[status] == (insi, checked)
    if status is IdentityStatus.QUAL:
        assert insi and checked


def expected_after(insi: bool, checked: bool, evidence: Evidence) -> tuple[bool, bool]:
    status = next(s for s, m in MEANING.items() if m == (insi, checked))
    return expected(status, evidence)

"""The RNIV identity status machine."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from itertools import product
from typing import Any

import pytest

from carnet.errors import CarnetError, InvalidTransition, QualificationNotAllowed, ValidationError
from carnet.identity.status import (
    IDENTITY_STATUS_SYSTEM,
    TRANSITIONS,
    ActorKind,
    Evidence,
    IdDocumentType,
    IdentityStatus,
    QualificationActor,
    may_share,
    transition,
)

PROV, RECUP, VALI, QUAL = IdentityStatus.PROV, IdentityStatus.RECUP, IdentityStatus.VALI, IdentityStatus.QUAL
INSI, DOC, EXCEPTION = Evidence.INSI_MATCH, Evidence.ID_DOCUMENT, Evidence.EXCEPTION_ATTESTATION
CHANGE_DOC, CHANGE, INVALIDATED = Evidence.TRAIT_CHANGE_WITH_DOCUMENT, Evidence.TRAIT_CHANGE, Evidence.INSI_INVALIDATED

DOCTOR = QualificationActor(ActorKind.PROFESSIONAL, "10", "810000000001")
NURSE = QualificationActor(ActorKind.PROFESSIONAL, "60", "810000000002")
SECRETARIAT = QualificationActor(ActorKind.SECRETARIAT, None, "cpe-0001")
PATIENT = QualificationActor(ActorKind.PATIENT, None, "patient-1")
SYSTEM = QualificationActor(ActorKind.SYSTEM, None, "insi-batch")
AT = datetime(2025, 6, 15, 9, 30, tzinfo=UTC)

# The RNIV rules, written out independently of the implementation's table.
EXPECTED = [
    (PROV, INSI, RECUP),
    (RECUP, INSI, RECUP),
    (VALI, INSI, QUAL),
    (QUAL, INSI, QUAL),
    (PROV, DOC, VALI),
    (RECUP, DOC, QUAL),
    (VALI, DOC, VALI),
    (QUAL, DOC, QUAL),
    (RECUP, EXCEPTION, QUAL),
    (PROV, CHANGE_DOC, VALI),
    (RECUP, CHANGE_DOC, VALI),
    (VALI, CHANGE_DOC, VALI),
    (QUAL, CHANGE_DOC, VALI),
    (PROV, CHANGE, PROV),
    (RECUP, CHANGE, PROV),
    (VALI, CHANGE, PROV),
    (QUAL, CHANGE, PROV),
    (RECUP, INVALIDATED, PROV),
    (QUAL, INVALIDATED, VALI),
]


def valid_arguments(evidence: Evidence) -> dict[str, Any]:
    """The actor and extras that make ``evidence`` acceptable."""
    if evidence is EXCEPTION:
        return {"actor": DOCTOR, "perfect_insi_match": True}
    if evidence in (DOC, CHANGE_DOC):
        return {"actor": SECRETARIAT, "document_type": IdDocumentType.CN}
    return {"actor": SYSTEM}


def test_the_table_is_exactly_the_rniv_rules() -> None:
    assert TRANSITIONS == {(start, evidence): end for start, evidence, end in EXPECTED}


@pytest.mark.parametrize(("start", "evidence", "end"), EXPECTED, ids=[f"{s}+{e}->{t}" for s, e, t in EXPECTED])
def test_allowed_transitions(start: IdentityStatus, evidence: Evidence, end: IdentityStatus) -> None:
    arguments = valid_arguments(evidence)
    result = transition(current=start, evidence=evidence, at=AT, note="  contrôle à l'accueil ", **arguments)
    assert (result.from_status, result.to_status, result.evidence) == (start, end, evidence)
    assert (result.actor, result.at, result.document_type) == (arguments["actor"], AT, arguments.get("document_type"))
    assert result.note == "contrôle à l'accueil"


MISSING = [(s, e) for s, e in product(IdentityStatus, Evidence) if (s, e) not in {(a, b) for a, b, _ in EXPECTED}]


@pytest.mark.parametrize(("start", "evidence"), MISSING, ids=[f"{s}+{e}" for s, e in MISSING])
def test_transitions_outside_the_table_are_refused(start: IdentityStatus, evidence: Evidence) -> None:
    with pytest.raises(InvalidTransition) as caught:
        transition(current=start, evidence=evidence, at=AT, **valid_arguments(evidence))
    assert f"depuis {start} ({start.label_fr})" in caught.value.message
    allowed_from = [s for s, e, _ in EXPECTED if e is evidence]
    assert all(str(s) in caught.value.message.split("possibles :")[1] for s in allowed_from)


REFUSALS: list[tuple[str, IdentityStatus, Evidence, dict[str, Any], type[CarnetError], str]] = [
    ("patient cannot use INSi", PROV, INSI, {"actor": PATIENT}, QualificationNotAllowed, "patient"),
    (
        "patient cannot check a document",
        PROV,
        DOC,
        {"actor": PATIENT, "document_type": IdDocumentType.PA},
        QualificationNotAllowed,
        "patient",
    ),
    (
        "patient cannot attest",
        RECUP,
        EXCEPTION,
        {"actor": PATIENT, "perfect_insi_match": True},
        QualificationNotAllowed,
        "patient",
    ),
    (
        "system cannot check a document",
        PROV,
        DOC,
        {"actor": SYSTEM, "document_type": IdDocumentType.PA},
        QualificationNotAllowed,
        "professionnel",
    ),
    (
        "system cannot change a trait with a document",
        QUAL,
        CHANGE_DOC,
        {"actor": SYSTEM, "document_type": IdDocumentType.PA},
        QualificationNotAllowed,
        "professionnel",
    ),
    (
        "system cannot attest",
        RECUP,
        EXCEPTION,
        {"actor": SYSTEM, "perfect_insi_match": True},
        QualificationNotAllowed,
        "professionnel",
    ),
    (
        "secretariat cannot use the exception",
        RECUP,
        EXCEPTION,
        {"actor": SECRETARIAT, "perfect_insi_match": True},
        QualificationNotAllowed,
        "La procédure d'exception est réservée au médecin qui connaît personnellement le patient ; "
        "le secrétariat ne peut pas l'utiliser",
    ),
    (
        "a nurse cannot use the exception",
        RECUP,
        EXCEPTION,
        {"actor": NURSE, "perfect_insi_match": True},
        QualificationNotAllowed,
        "réservée au médecin",
    ),
    (
        "a professional without profession cannot use the exception",
        RECUP,
        EXCEPTION,
        {"actor": QualificationActor(ActorKind.PROFESSIONAL, None, "x"), "perfect_insi_match": True},
        QualificationNotAllowed,
        "réservée au médecin",
    ),
    (
        "exception needs a perfect INSi match",
        RECUP,
        EXCEPTION,
        {"actor": DOCTOR},
        InvalidTransition,
        "correspondance parfaite",
    ),
    (
        "exception only from RECUP",
        PROV,
        EXCEPTION,
        {"actor": DOCTOR, "perfect_insi_match": True},
        InvalidTransition,
        "statuts de départ possibles : RECUP",
    ),
    (
        "document check needs a document",
        PROV,
        DOC,
        {"actor": SECRETARIAT},
        ValidationError,
        "pièce d'identité est requise",
    ),
    (
        "trait change with document needs a document",
        QUAL,
        CHANGE_DOC,
        {"actor": DOCTOR},
        ValidationError,
        "pièce d'identité est requise",
    ),
    (
        "birth certificate is not enough for an adult",
        PROV,
        DOC,
        {"actor": SECRETARIAT, "document_type": IdDocumentType.AN},
        ValidationError,
        "n'est acceptée que pour un mineur",
    ),
    (
        "livret de famille is not enough for an adult",
        RECUP,
        DOC,
        {"actor": DOCTOR, "document_type": IdDocumentType.LE},
        ValidationError,
        "n'est acceptée que pour un mineur",
    ),
    (
        "low-trust document cannot back a trait change of an adult",
        QUAL,
        CHANGE_DOC,
        {"actor": DOCTOR, "document_type": IdDocumentType.AN},
        ValidationError,
        "n'est acceptée que pour un mineur",
    ),
    (
        "INSi match carries no document",
        PROV,
        INSI,
        {"actor": SYSTEM, "document_type": IdDocumentType.PA},
        ValidationError,
        "Aucune pièce d'identité",
    ),
    (
        "exception is without document",
        RECUP,
        EXCEPTION,
        {"actor": DOCTOR, "perfect_insi_match": True, "document_type": IdDocumentType.PA},
        ValidationError,
        "Aucune pièce d'identité",
    ),
    (
        "naive datetime",
        PROV,
        INSI,
        {"actor": SYSTEM, "at": datetime(2025, 6, 15, 9, 30)},
        ValidationError,
        "fuseau horaire",
    ),
]


@pytest.mark.parametrize(
    ("start", "evidence", "arguments", "error", "fragment"),
    [row[1:] for row in REFUSALS],
    ids=[row[0] for row in REFUSALS],
)
def test_refusals(
    start: IdentityStatus, evidence: Evidence, arguments: dict[str, Any], error: type[CarnetError], fragment: str
) -> None:
    with pytest.raises(CarnetError) as caught:
        transition(current=start, evidence=evidence, **({"at": AT} | arguments))
    assert type(caught.value) is error
    assert fragment in caught.value.message


ACCEPTED = [
    (
        "birth certificate for a minor",
        PROV,
        DOC,
        {"actor": SECRETARIAT, "document_type": IdDocumentType.AN, "is_minor": True},
        VALI,
    ),
    (
        "livret de famille for a minor",
        RECUP,
        DOC,
        {"actor": DOCTOR, "document_type": IdDocumentType.LE, "is_minor": True},
        QUAL,
    ),
    ("passport for a minor", RECUP, DOC, {"actor": DOCTOR, "document_type": IdDocumentType.PA, "is_minor": True}, QUAL),
    ("titre de séjour for an adult", PROV, DOC, {"actor": SECRETARIAT, "document_type": IdDocumentType.TS}, VALI),
    (
        "birth certificate backs a trait change of a minor",
        QUAL,
        CHANGE_DOC,
        {"actor": NURSE, "document_type": IdDocumentType.AN, "is_minor": True},
        VALI,
    ),
    ("secretariat records an INSi match", PROV, INSI, {"actor": SECRETARIAT}, RECUP),
    ("nurse records a trait change", QUAL, CHANGE, {"actor": NURSE}, PROV),
    ("codes given as strings", "RECUP", "id_document", {"actor": SECRETARIAT, "document_type": "PA"}, QUAL),
    (
        "other time zone",
        PROV,
        INSI,
        {"actor": SYSTEM, "at": datetime(2025, 1, 1, tzinfo=timezone(timedelta(hours=1)))},
        RECUP,
    ),
]


@pytest.mark.parametrize(
    ("start", "evidence", "arguments", "end"), [row[1:] for row in ACCEPTED], ids=[row[0] for row in ACCEPTED]
)
def test_accepted_variants(
    start: IdentityStatus, evidence: Evidence, arguments: dict[str, Any], end: IdentityStatus
) -> None:
    result = transition(current=start, evidence=evidence, **({"at": AT} | arguments))
    assert result.to_status is end
    assert isinstance(result.from_status, IdentityStatus) and isinstance(result.evidence, Evidence)
    assert result.document_type is (
        None if "document_type" not in arguments else IdDocumentType(arguments["document_type"])
    )


@pytest.mark.parametrize(
    ("document", "high_trust"),
    [
        (IdDocumentType.PA, True),
        (IdDocumentType.CN, True),
        (IdDocumentType.TS, True),
        (IdDocumentType.AN, False),
        (IdDocumentType.LE, False),
    ],
)
def test_document_trust(document: IdDocumentType, high_trust: bool) -> None:
    assert document.high_trust is high_trust
    assert document.accepted_for_minor is True


@pytest.mark.parametrize(
    ("status", "label_fr", "label_en", "shareable"),
    [
        (PROV, "Identité provisoire", "Provisional identity", False),
        (RECUP, "Identité récupérée", "Retrieved identity", False),
        (VALI, "Identité validée", "Validated identity", False),
        (QUAL, "Identité qualifiée", "Qualified identity", True),
    ],
)
def test_statuses_labels_and_sharing(status: IdentityStatus, label_fr: str, label_en: str, shareable: bool) -> None:
    assert status.value == status.name
    assert (status.label_fr, status.label_en) == (label_fr, label_en)
    assert may_share(status) is shareable


def test_identity_status_code_system() -> None:
    assert IDENTITY_STATUS_SYSTEM == "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-identity-status"

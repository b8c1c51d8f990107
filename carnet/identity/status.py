"""The RNIV identity status machine: PROV, RECUP, VALI, QUAL and the evidence that moves between them.

RECUP = the identity comes from the INSi teleservice; VALI = it was checked against a high-trust identity
document; QUAL = both. The matricule INS may only be shared or transmitted when the identity is QUAL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from carnet.errors import InvalidTransition, QualificationNotAllowed, ValidationError

__all__ = [
    "IDENTITY_STATUS_SYSTEM",
    "MEDECIN_PROFESSION_CODE",
    "MODE_VALIDATION_SYSTEM",
    "TRANSITIONS",
    "ActorKind",
    "Evidence",
    "IdDocumentType",
    "IdentityStatus",
    "QualificationActor",
    "Transition",
    "may_share",
    "transition",
]

IDENTITY_STATUS_SYSTEM = "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-identity-status"
MODE_VALIDATION_SYSTEM = "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-mode-validation-identity"
MEDECIN_PROFESSION_CODE = "10"  # TRE_G15-ProfessionSante: médecin


class IdentityStatus(StrEnum):
    """The four RNIV identity statuses (FR Core fr-core-cs-identity-status)."""

    PROV = "PROV"
    RECUP = "RECUP"
    VALI = "VALI"
    QUAL = "QUAL"

    @property
    def label_fr(self) -> str:
        return _STATUS_LABELS[self][0]

    @property
    def label_en(self) -> str:
        return _STATUS_LABELS[self][1]


_STATUS_LABELS = {
    IdentityStatus.PROV: ("Identité provisoire", "Provisional identity"),
    IdentityStatus.RECUP: ("Identité récupérée", "Retrieved identity"),
    IdentityStatus.VALI: ("Identité validée", "Validated identity"),
    IdentityStatus.QUAL: ("Identité qualifiée", "Qualified identity"),
}


class Evidence(StrEnum):
    """What justifies a status change."""

    INSI_MATCH = "insi_match"  # INSi returned this identity and its traits agree
    ID_DOCUMENT = "id_document"  # a high-trust identity document was checked
    EXCEPTION_ATTESTATION = "exception_attestation"  # a doctor who knows the patient attests, no document
    TRAIT_CHANGE_WITH_DOCUMENT = "trait_change_with_document"  # an INS trait changed, backed by a document
    TRAIT_CHANGE = "trait_change"  # an INS trait changed without a document
    INSI_INVALIDATED = "insi_invalidated"  # INSi no longer returns this INS / returned other traits

    @property
    def label_fr(self) -> str:
        return _EVIDENCE_LABELS[self]


_EVIDENCE_LABELS = {
    Evidence.INSI_MATCH: "la correspondance avec le retour INSi",
    Evidence.ID_DOCUMENT: "le contrôle d'une pièce d'identité",
    Evidence.EXCEPTION_ATTESTATION: "la procédure d'exception (attestation du médecin)",
    Evidence.TRAIT_CHANGE_WITH_DOCUMENT: "la modification d'un trait INS justifiée par une pièce d'identité",
    Evidence.TRAIT_CHANGE: "la modification d'un trait INS sans pièce d'identité",
    Evidence.INSI_INVALIDATED: "l'invalidation par le téléservice INSi",
}


class IdDocumentType(StrEnum):
    """Identity documents, coded as FR Core fr-core-cs-mode-validation-identity.

    Sources: FR Core VS fr-core-vs-mode-validation-identity-ins (PA, CN, AN, LE) and identito-na.fr (passport,
    CNI and titre de séjour are the high-trust documents; birth certificate and livret de famille only for minors).
    """

    PA = "PA"
    CN = "CN"
    TS = "TS"
    AN = "AN"
    LE = "LE"

    @property
    def label_fr(self) -> str:
        return _DOCUMENT_LABELS[self]

    @property
    def high_trust(self) -> bool:
        return self in (IdDocumentType.PA, IdDocumentType.CN, IdDocumentType.TS)

    @property
    def accepted_for_minor(self) -> bool:
        return True


_DOCUMENT_LABELS = {
    IdDocumentType.PA: "passeport",
    IdDocumentType.CN: "carte nationale d'identité",
    IdDocumentType.TS: "titre de séjour",
    IdDocumentType.AN: "extrait d'acte de naissance",
    IdDocumentType.LE: "livret de famille",
}


class ActorKind(StrEnum):
    PROFESSIONAL = "professional"
    SECRETARIAT = "secretariat"  # CPE holder acting for a professional
    PATIENT = "patient"
    SYSTEM = "system"


@dataclass(frozen=True)
class QualificationActor:
    """Who changes the status; ``profession_code`` is a TRE_G15 code ("10" = médecin)."""

    kind: ActorKind
    profession_code: str | None
    id: str


_S, _E = IdentityStatus, Evidence
TRANSITIONS: dict[tuple[IdentityStatus, Evidence], IdentityStatus] = {
    # INSi returns the identity with agreeing traits: it becomes "récupérée", or "qualifiée" if already checked.
    (_S.PROV, _E.INSI_MATCH): _S.RECUP,
    (_S.RECUP, _E.INSI_MATCH): _S.RECUP,
    (_S.VALI, _E.INSI_MATCH): _S.QUAL,
    (_S.QUAL, _E.INSI_MATCH): _S.QUAL,
    # A high-trust identity document is checked: "validée", or "qualifiée" if it came from INSi.
    (_S.PROV, _E.ID_DOCUMENT): _S.VALI,
    (_S.RECUP, _E.ID_DOCUMENT): _S.QUAL,
    (_S.VALI, _E.ID_DOCUMENT): _S.VALI,
    (_S.QUAL, _E.ID_DOCUMENT): _S.QUAL,
    # Exception procedure: only from an INSi identity, by a doctor who knows the patient.
    (_S.RECUP, _E.EXCEPTION_ATTESTATION): _S.QUAL,
    # An INS trait changes on the strength of a document: the identity is checked but no longer the INSi one.
    (_S.PROV, _E.TRAIT_CHANGE_WITH_DOCUMENT): _S.VALI,
    (_S.RECUP, _E.TRAIT_CHANGE_WITH_DOCUMENT): _S.VALI,
    (_S.VALI, _E.TRAIT_CHANGE_WITH_DOCUMENT): _S.VALI,
    (_S.QUAL, _E.TRAIT_CHANGE_WITH_DOCUMENT): _S.VALI,
    # An INS trait changes without a document: back to provisional, whatever the status.
    (_S.PROV, _E.TRAIT_CHANGE): _S.PROV,
    (_S.RECUP, _E.TRAIT_CHANGE): _S.PROV,
    (_S.VALI, _E.TRAIT_CHANGE): _S.PROV,
    (_S.QUAL, _E.TRAIT_CHANGE): _S.PROV,
    # INSi no longer confirms the identity: the INSi part of the status is lost.
    (_S.RECUP, _E.INSI_INVALIDATED): _S.PROV,
    (_S.QUAL, _E.INSI_INVALIDATED): _S.VALI,
}
del _S, _E

_DOCUMENT_EVIDENCE = frozenset({Evidence.ID_DOCUMENT, Evidence.TRAIT_CHANGE_WITH_DOCUMENT})
_SYSTEM_EVIDENCE = frozenset({Evidence.INSI_MATCH, Evidence.INSI_INVALIDATED, Evidence.TRAIT_CHANGE})


@dataclass(frozen=True)
class Transition:
    """One recorded status change and its justification."""

    from_status: IdentityStatus
    to_status: IdentityStatus
    evidence: Evidence
    actor: QualificationActor
    at: datetime
    document_type: IdDocumentType | None = None
    note: str | None = None


def _check_actor(evidence: Evidence, actor: QualificationActor) -> None:
    if actor.kind is ActorKind.PATIENT:
        raise QualificationNotAllowed(
            "Le patient ne peut pas modifier le statut de confiance de son identité", field="actor"
        )
    if actor.kind is ActorKind.SYSTEM and evidence not in _SYSTEM_EVIDENCE:
        raise QualificationNotAllowed(
            f"Un traitement automatique ne peut pas s'appuyer sur {evidence.label_fr} ; "
            "une action d'un professionnel est requise",
            field="actor",
        )
    if evidence is Evidence.EXCEPTION_ATTESTATION:
        if actor.kind is ActorKind.SECRETARIAT:
            raise QualificationNotAllowed(
                "La procédure d'exception est réservée au médecin qui connaît personnellement le patient ; "
                "le secrétariat ne peut pas l'utiliser",
                field="actor",
            )
        if actor.profession_code != MEDECIN_PROFESSION_CODE:
            raise QualificationNotAllowed(
                "La procédure d'exception est réservée au médecin qui connaît personnellement le patient",
                field="actor",
            )


def _check_document(evidence: Evidence, document_type: IdDocumentType | None, is_minor: bool) -> None:
    if evidence not in _DOCUMENT_EVIDENCE:
        if document_type is not None:
            raise ValidationError(
                f"Aucune pièce d'identité n'est attendue pour {evidence.label_fr}", field="document_type"
            )
        return
    if document_type is None:
        raise ValidationError(f"Une pièce d'identité est requise pour {evidence.label_fr}", field="document_type")
    if not (document_type.high_trust or (is_minor and document_type.accepted_for_minor)):
        raise ValidationError(
            f"La pièce « {document_type.label_fr} » n'est acceptée que pour un mineur ; "
            "passeport, carte nationale d'identité ou titre de séjour attendu",
            field="document_type",
        )


def transition(
    *,
    current: IdentityStatus,
    evidence: Evidence,
    actor: QualificationActor,
    at: datetime,
    document_type: IdDocumentType | None = None,
    is_minor: bool = False,
    perfect_insi_match: bool = False,
    note: str | None = None,
) -> Transition:
    """Apply ``evidence`` to an identity in status ``current``; raise if the RNIV rules refuse it."""
    current, evidence = IdentityStatus(current), Evidence(evidence)
    document_type = None if document_type is None else IdDocumentType(document_type)
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValidationError("L'horodatage du changement de statut doit comporter un fuseau horaire", field="at")
    _check_actor(evidence, actor)
    target = TRANSITIONS.get((current, evidence))
    if target is None:
        allowed = ", ".join(f"{s} ({s.label_fr})" for (s, e) in TRANSITIONS if e is evidence)
        raise InvalidTransition(
            f"Changement de statut impossible depuis {current} ({current.label_fr}) avec {evidence.label_fr} ; "
            f"statuts de départ possibles : {allowed}"
        )
    if evidence is Evidence.EXCEPTION_ATTESTATION and not perfect_insi_match:
        raise InvalidTransition(
            "La procédure d'exception exige une correspondance parfaite des traits avec le retour INSi"
        )
    _check_document(evidence, document_type, is_minor)
    note = note.strip() if note else None
    return Transition(
        from_status=current,
        to_status=target,
        evidence=evidence,
        actor=actor,
        at=at,
        document_type=document_type,
        note=note or None,
    )


def may_share(status: IdentityStatus) -> bool:
    """True only for QUAL: the matricule INS may only be shared or transmitted for a qualified identity."""
    return status == IdentityStatus.QUAL

"""Documents of the shared record: metadata (XDS/MHD as profiled by the CI-SIS and the DMP), pure rules."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum

# OID of the national directory of health professionals' identifiers (idNatPs: RPPS/ADELI-based).
IDNATPS_OID = "1.2.250.1.71.4.2.1"


class AuthorKind(StrEnum):
    PROFESSIONAL = "professional"
    PATIENT = "patient"
    APP = "app"


class DocumentStatus(StrEnum):
    """XDS availability: current (Approved), superseded by a replacement (Deprecated), logically deleted."""

    CURRENT = "current"
    SUPERSEDED = "superseded"
    DELETED = "deleted"


@dataclass(frozen=True, slots=True)
class Author:
    id: str
    family: str | None = None
    given: str | None = None
    profession: str | None = None  # TRE_G15 code
    specialty: str | None = None  # JDV_J01 code
    organisation_id: str | None = None
    organisation_name: str | None = None

    @property
    def display_name(self) -> str:
        return " ".join(p for p in (self.given, self.family) if p) or self.id


@dataclass(frozen=True, slots=True)
class DocumentMetadata:
    """What a producer submits with a document (or what the CDA header says)."""

    unique_id: str
    type_code: str
    class_code: str
    format_code: str
    confidentiality_code: str
    title: str
    author: Author
    author_kind: AuthorKind
    mime_type: str
    creation_time: dt.datetime
    language: str = "fr-FR"
    comment: str | None = None
    facility_type: str | None = None
    practice_setting: str | None = None
    service_start: dt.datetime | None = None
    service_stop: dt.datetime | None = None
    submission_source: str | None = None
    invisible_to_patient: bool = False
    invisible_to_representatives: bool = False


@dataclass(frozen=True, slots=True)
class DocumentEntry:
    """A stored document entry (one version), as services hand it out."""

    id: str
    patient_id: str
    metadata: DocumentMetadata
    status: DocumentStatus
    size: int
    sha256: str
    submission_time: dt.datetime
    replaces_id: str | None
    replaced_by_id: str | None
    hidden_from_professionals: bool
    invisible_to_patient: bool
    invisible_to_representatives: bool
    deleted_at: dt.datetime | None
    probable_duplicate: bool = False
    same_content_as: tuple[str, ...] = field(default_factory=tuple)
    sha1: str | None = None  # hex; FHIR Attachment.hash (None for entries deposited before migration 0006)


def duplicate_key(m: DocumentMetadata) -> tuple[str, str, dt.date]:
    """Probable duplicates share type, author and service date (the national service's rule)."""
    when = m.service_start or m.creation_time
    return (m.type_code, m.author.id, when.date())

"""Builders for test data with names that read like a story."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from carnet.access.model import Actor, ActorKind, AuthMethod
from carnet.identity.traits import Traits, make_traits

TODAY = dt.date(2026, 11, 22)

DR_HOUSE = Actor(
    kind=ActorKind.PROFESSIONAL, id="810000000001", auth_method=AuthMethod.CPS, profession="10",
    name="Dr Claire MOREAU", organisation_name="Cabinet médical des Lilas",
)  # fmt: skip
NURSE_JOY = Actor(kind=ActorKind.PROFESSIONAL, id="810000000060", auth_method=AuthMethod.CPS, profession="60",
                  name="Julie PETIT")  # fmt: skip
FRONT_DESK = Actor(kind=ActorKind.SECRETARIAT, id="CPE-000000101", auth_method=AuthMethod.CPE,
                   acting_for="810000000001", name="Accueil du cabinet")  # fmt: skip
THE_PATIENT = Actor(kind=ActorKind.PATIENT, id="patient-self", auth_method=AuthMethod.FRANCE_CONNECT)
PLATFORM = Actor(kind=ActorKind.SYSTEM, id="import", auth_method=AuthMethod.SYSTEM)


def dominique(**overrides: Any) -> Traits:
    """The CI-SIS example patient, as the INSi sandbox knows her."""
    values: dict[str, Any] = dict(
        birth_name="Pat-Trois",
        birth_first_names="Dominique Marie-Louise",
        sex="F",
        birth_date="1979-03-28",
        birth_place="51215",
    )
    values.update(overrides)
    return make_traits(today=TODAY, **values)


def make_person(**overrides: Any) -> Traits:
    values: dict[str, Any] = dict(
        birth_name="Lagarde",
        birth_first_names="Hélène Rose",
        sex="F",
        birth_date="1990-02-14",
        birth_place="75056",
    )
    values.update(overrides)
    return make_traits(today=TODAY, **values)


CDA_EXAMPLES = Path(__file__).resolve().parents[1].parent / "shared" / "reference" / "cda-examples"


def example(name: str) -> bytes:
    """One of the official CI-SIS example documents, unmodified."""
    return (CDA_EXAMPLES / name).read_bytes()


def qualified_patient(platform: Any, traits: Traits | None = None) -> str:
    """Register a patient and qualify the identity through the sandbox INSi and an identity card."""
    from carnet.identity import service
    from carnet.identity.status import IdDocumentType

    with platform.uow() as uow:
        reg = service.register(uow=uow, actor=FRONT_DESK, traits=traits or dominique())
        service.retrieve_ins(uow=uow, actor=FRONT_DESK, insi=platform.insi, patient_id=reg.patient.id)
        service.record_document_check(
            uow=uow, actor=FRONT_DESK, patient_id=reg.patient.id, document_type=IdDocumentType.CN
        )
        uow.commit()
    return str(reg.patient.id)


def patient_as(patient_id: str) -> Actor:
    """The holder of the record, signed in."""
    return Actor(kind=ActorKind.PATIENT, id=patient_id, auth_method=AuthMethod.FRANCE_CONNECT)


def author_of(author_id: str) -> Actor:
    """The professional who wrote a document, signed in with their CPS."""
    return Actor(kind=ActorKind.PROFESSIONAL, id=author_id, auth_method=AuthMethod.CPS, profession="10")


def in_care_team(platform: Any, patient_id: str, *professionals: Actor) -> None:
    """Each professional joins the patient's care team, having informed the patient."""
    from carnet.access import service as access

    with platform.uow() as uow:
        for professional in professionals:
            access.join_care_team(uow=uow, actor=professional, patient_id=patient_id)
        uow.commit()


def pdf_with_stream(content: bytes) -> bytes:
    """A one-page PDF (Helvetica, WinAnsi) with ``content`` as its content stream and an exact xref table."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def minimal_pdf(words: str) -> bytes:
    """A one-page PDF showing ``words`` (ASCII)."""
    return pdf_with_stream(f"BT /F1 12 Tf 72 712 Td ({words}) Tj ET".encode())

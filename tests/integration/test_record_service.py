"""The shared record on both backends: deposit of the official examples, versions, visibility, search."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import select

from carnet.access.model import Actor
from carnet.audit.store import AuditRow
from carnet.bootstrap import Platform
from carnet.errors import Conflict, DocumentRejected, Forbidden, NotFound
from carnet.record import service as record
from carnet.record.model import Author, AuthorKind, DocumentMetadata, DocumentStatus
from carnet.record.store import DocumentFilters, DocumentRow
from tests.builders import (
    CDA_EXAMPLES,
    DR_HOUSE,
    FRONT_DESK,
    PLATFORM,
    author_of,
    dominique,
    example,
    in_care_team,
    minimal_pdf,
    patient_as,
    qualified_patient,
)

SYSTEM = PLATFORM
DOMINIQUE_EXAMPLES = sorted(p.name for p in CDA_EXAMPLES.glob("*.xml") if not p.name.startswith("eDISP"))
TYPES = {
    "BIO-CR-BIO_2021.01_Microbiologie_V1.xml": "11502-2",
    "BIO-CR-BIO_2024.01_TSH_1.xml": "11502-2",
    "CNAM-HR_2021.01_sans-info.xml": "REMB",
    "DOC_NON_STRUCTURE_CDA-R2-N1.xml": "11502-2",
    "IMG_CR_IMG_2024.01.xml": "18748-4",
    "IMG_CR_IMG_2024.01_CDA-R2-Niveau-1.xml": "18748-4",
    "LDL-EES_2022.01.xml": "18761-7",
    "LDL-SES_2022.01.xml": "11490-0",
    "VAC_2023.01.xml": "11369-6",
    "VSM_1.4_2022.01.xml": "SYNTH",
    "eP-MED-DM_2022.01_PosoStruct.xml": "57833-6",
}


@pytest.fixture
def dominique_id(platform: Platform) -> str:
    """The example patient, qualified, with her doctor in her care team."""
    patient_id = qualified_patient(platform)
    in_care_team(platform, patient_id, DR_HOUSE)
    return patient_id


def deposit(platform: Platform, patient_id: str, content: bytes, **kwargs: object) -> record.DepositResult:
    with platform.uow() as uow:
        result = record.deposit(
            uow=uow,
            actor=kwargs.pop("actor", SYSTEM),
            patient_id=patient_id,
            content=content,  # type: ignore[arg-type]
            **kwargs,
        )  # type: ignore[arg-type]
        uow.commit()
    return result


def listing(platform: Platform, actor: Actor, patient_id: str, **filters: object) -> list[str]:
    with platform.uow() as uow:
        page = record.list_documents(uow=uow, actor=actor, patient_id=patient_id, filters=DocumentFilters(**filters))  # type: ignore[arg-type]
        uow.commit()
    return [e.metadata.title for e in page.items]


def stored_rows(platform: Platform) -> int:
    with platform.uow() as uow:
        return len(uow.session.scalars(select(DocumentRow)).all())


@pytest.mark.parametrize("name", DOMINIQUE_EXAMPLES)
def test_every_official_example_is_deposited_with_its_header_metadata(
    platform: Platform, dominique_id: str, name: str
) -> None:
    result = deposit(platform, dominique_id, example(name))
    meta = result.entry.metadata
    assert result.created
    assert meta.type_code == TYPES[name]
    assert meta.class_code and meta.format_code and meta.author.id
    assert meta.creation_time.tzinfo is not None
    with platform.uow() as uow:
        entry, data = record.get_content(uow=uow, actor=DR_HOUSE, entry_id=result.entry.id)
    assert data == example(name)
    assert entry.patient_id == dominique_id


def test_the_dispensation_example_goes_to_its_own_patient_only(platform: Platform, dominique_id: str) -> None:
    with pytest.raises(DocumentRejected) as refused:
        deposit(platform, dominique_id, example("eDISP-MED_2024.01.xml"))
    assert [p.code for p in refused.value.problems] == ["wrong_patient"]
    assert "277076322082910" in refused.value.message
    assert stored_rows(platform) == 0


def test_a_document_for_an_unqualified_identity_is_refused(platform: Platform) -> None:
    from carnet.identity import service

    with platform.uow() as uow:
        provisional = service.register(uow=uow, actor=FRONT_DESK, traits=dominique()).patient.id
        uow.commit()
    with pytest.raises(Forbidden, match="qualifiée"):
        deposit(platform, provisional, example("VSM_1.4_2022.01.xml"))
    with platform.uow() as uow:
        denied = uow.session.scalars(select(AuditRow).where(AuditRow.outcome == "denied")).all()
    assert [d.action for d in denied] == ["document.deposit"]


def test_a_wrong_ins_key_is_refused_before_anything_is_stored(platform: Platform, dominique_id: str) -> None:
    broken = example("VSM_1.4_2022.01.xml").replace(b'extension="279035121518989"', b'extension="279035121518988"', 1)
    with pytest.raises(DocumentRejected) as refused:
        deposit(platform, dominique_id, broken)
    assert any("recordTarget" in p.location for p in refused.value.problems)
    assert stored_rows(platform) == 0
    assert not [p for p in (platform.settings.data_dir / "blobs").rglob("*") if p.is_file()]


def test_resending_the_same_document_is_idempotent(platform: Platform, dominique_id: str) -> None:
    first = deposit(platform, dominique_id, example("LDL-SES_2022.01.xml"))
    again = deposit(platform, dominique_id, example("LDL-SES_2022.01.xml"))
    assert (again.created, again.entry.id) == (False, first.entry.id)
    assert stored_rows(platform) == 1


def test_the_same_unique_id_with_other_content_is_refused(platform: Platform, dominique_id: str) -> None:
    deposit(platform, dominique_id, example("LDL-SES_2022.01.xml"))
    altered = example("LDL-SES_2022.01.xml").replace(b"<title>", "<title>Modifié : ".encode(), 1)
    with pytest.raises(Conflict, match="déjà utilisé"):
        deposit(platform, dominique_id, altered)


def test_a_replacement_supersedes_the_old_version_and_keeps_it(platform: Platform, dominique_id: str) -> None:
    original = deposit(platform, dominique_id, example("VSM_1.4_2022.01.xml"))
    version2 = example("VSM_1.4_2022.01.xml").replace(
        b'<id root="1.2.250.1.213.1.1.1.13.2022.1.1"/>', b'<id root="1.2.250.1.213.1.1.1.13.2022.1.2"/>', 1
    )
    assert version2 != example("VSM_1.4_2022.01.xml")
    replacement = deposit(platform, dominique_id, version2, replaces=original.entry.metadata.unique_id)
    with platform.uow() as uow:
        old = record.get_document(uow=uow, actor=DR_HOUSE, entry_id=original.entry.id)
    assert old.status is DocumentStatus.SUPERSEDED and old.replaced_by_id == replacement.entry.id
    assert replacement.entry.replaces_id == original.entry.id
    assert listing(platform, DR_HOUSE, dominique_id) == [replacement.entry.metadata.title]
    assert len(listing(platform, DR_HOUSE, dominique_id, statuses=("current", "superseded"))) == 2
    with pytest.raises(Conflict, match="plus la version en vigueur"):
        deposit(platform, dominique_id, version2.replace(b"2022.1.2", b"2022.1.3", 1), replaces=original.entry.id)


def test_hidden_documents_leave_no_trace_for_professionals(platform: Platform, dominique_id: str) -> None:
    doc = deposit(platform, dominique_id, example("IMG_CR_IMG_2024.01.xml"))
    holder = patient_as(dominique_id)
    with platform.uow() as uow:
        record.hide_from_professionals(uow=uow, actor=holder, entry_id=doc.entry.id)
        uow.commit()
    assert listing(platform, DR_HOUSE, dominique_id) == []
    assert listing(platform, holder, dominique_id) == [doc.entry.metadata.title]
    with platform.uow() as uow, pytest.raises(NotFound):
        record.get_content(uow=uow, actor=DR_HOUSE, entry_id=doc.entry.id)
    with platform.uow() as uow, pytest.raises(NotFound):  # not even a refusal: no trace that it exists
        record.show_to_professionals(uow=uow, actor=DR_HOUSE, entry_id=doc.entry.id)
    with platform.uow() as uow:
        record.show_to_professionals(uow=uow, actor=holder, entry_id=doc.entry.id)
        uow.commit()
    assert listing(platform, DR_HOUSE, dominique_id) == [doc.entry.metadata.title]


def test_a_document_held_back_until_the_announcement_is_released_by_its_author(
    platform: Platform, dominique_id: str
) -> None:
    doc = deposit(platform, dominique_id, example("BIO-CR-BIO_2024.01_TSH_1.xml"), invisible_to_patient=True)
    author = author_of(doc.entry.metadata.author.id)
    in_care_team(platform, dominique_id, author)
    holder = patient_as(dominique_id)
    assert listing(platform, holder, dominique_id) == []
    with platform.uow() as uow, pytest.raises(Forbidden, match="auteur"):
        record.release_to_patient(uow=uow, actor=DR_HOUSE, entry_id=doc.entry.id)
    with platform.uow() as uow:
        record.release_to_patient(uow=uow, actor=author, entry_id=doc.entry.id)
        uow.commit()
    assert listing(platform, holder, dominique_id) == [doc.entry.metadata.title]


def test_logical_deletion_keeps_the_entry_and_its_content(platform: Platform, dominique_id: str) -> None:
    doc = deposit(platform, dominique_id, example("LDL-EES_2022.01.xml"))
    with platform.uow() as uow:
        record.delete(uow=uow, actor=patient_as(dominique_id), entry_id=doc.entry.id)
        uow.commit()
    assert listing(platform, DR_HOUSE, dominique_id) == []
    with platform.uow() as uow:
        entry, data = record.get_content(uow=uow, actor=SYSTEM, entry_id=doc.entry.id)
    assert entry.status is DocumentStatus.DELETED and data == example("LDL-EES_2022.01.xml")


def test_filters_and_grouping_by_category(platform: Platform, dominique_id: str) -> None:
    for name in ("BIO-CR-BIO_2024.01_TSH_1.xml", "IMG_CR_IMG_2024.01.xml", "VSM_1.4_2022.01.xml"):
        deposit(platform, dominique_id, example(name))
    assert len(listing(platform, DR_HOUSE, dominique_id, type_codes=("11502-2",))) == 1
    assert len(listing(platform, DR_HOUSE, dominique_id, author_kind="patient")) == 0
    with platform.uow() as uow:
        groups = record.grouped_by_class(uow=uow, actor=DR_HOUSE, patient_id=dominique_id)
    assert sum(len(entries) for _, _, entries in groups) == 3
    assert all(label and label != code for code, label, _ in groups)


def test_full_text_search_ignores_accents_and_case(platform: Platform, dominique_id: str) -> None:
    vsm = deposit(platform, dominique_id, example("VSM_1.4_2022.01.xml"))
    deposit(platform, dominique_id, example("BIO-CR-BIO_2024.01_TSH_1.xml"))
    with platform.uow() as uow:
        accented = record.search_documents(uow=uow, actor=DR_HOUSE, patient_id=dominique_id, query="Synthèse")
        plain = record.search_documents(uow=uow, actor=DR_HOUSE, patient_id=dominique_id, query="SYNTHESE")
        nothing = record.search_documents(uow=uow, actor=DR_HOUSE, patient_id=dominique_id, query="xylophone")
    assert vsm.entry.id in [e.id for e in accented.items]
    assert [e.id for e in accented.items] == [e.id for e in plain.items]
    assert nothing.items == []


def test_a_patient_deposits_a_pdf_of_their_own(platform: Platform, dominique_id: str) -> None:
    pdf = minimal_pdf("Ordonnance de lunettes")
    meta = DocumentMetadata(
        unique_id="2.25.1234567890",
        type_code="DOCPAT01",
        class_code="90",
        format_code="urn:ihe:iti:xds-sd:pdf:2008",
        confidentiality_code="N",
        title="Mes lunettes",
        author=Author(id=dominique_id),
        author_kind=AuthorKind.PATIENT,
        mime_type="application/pdf",
        creation_time=platform.clock.now(),
    )
    holder = patient_as(dominique_id)
    result = deposit(platform, dominique_id, pdf, actor=holder, mime_type="application/pdf", metadata=meta)
    assert listing(platform, holder, dominique_id, author_kind="patient") == ["Mes lunettes"]
    with pytest.raises(DocumentRejected) as refused:
        deposit(
            platform,
            dominique_id,
            b"%PDF-not really",
            actor=holder,
            mime_type="application/pdf",
            metadata=replace(meta, unique_id="2.25.99"),
        )
    assert refused.value.problems[0].code == "not_pdf"
    assert result.created


def test_an_oversized_document_is_refused(platform: Platform, dominique_id: str) -> None:
    with pytest.raises(DocumentRejected) as refused:
        deposit(platform, dominique_id, example("VSM_1.4_2022.01.xml"), max_bytes=1000)
    assert refused.value.problems[0].code == "too_large"

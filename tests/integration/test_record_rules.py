"""Bad input, duplicates and rendering of the record, on both backends."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest
from sqlalchemy import select

from carnet.bootstrap import Platform
from carnet.errors import DocumentRejected, Forbidden, StorageError
from carnet.record import service as record
from carnet.record.model import Author, AuthorKind, DocumentMetadata, duplicate_key
from carnet.record.store import DocumentFilters, DocumentRow
from tests.builders import (
    DR_HOUSE,
    FRONT_DESK,
    NURSE_JOY,
    author_of,
    example,
    in_care_team,
    minimal_pdf,
    patient_as,
    qualified_patient,
)
from tests.integration.test_record_service import SYSTEM, deposit

VSM = "VSM_1.4_2022.01.xml"


@pytest.fixture
def dominique_id(platform: Platform) -> str:
    patient_id = qualified_patient(platform)
    in_care_team(platform, patient_id, DR_HOUSE)
    return patient_id


def rows(platform: Platform) -> int:
    with platform.uow() as uow:
        return len(uow.session.scalars(select(DocumentRow)).all())


def blob_files(platform: Platform) -> int:
    return len([p for p in (platform.settings.data_dir / "blobs").rglob("*") if p.is_file()])


def refused_codes(platform: Platform, patient_id: str, content: bytes, **kwargs: object) -> list[str]:
    with pytest.raises(DocumentRejected) as refused:
        deposit(platform, patient_id, content, **kwargs)
    assert rows(platform) == 0 and blob_files(platform) == 0, "nothing stored for a refused document"
    return [p.code for p in refused.value.problems]


XXE = b'<?xml version="1.0"?>\n<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>\n<ClinicalDocument>&e;</ClinicalDocument>'
LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
    b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]><ClinicalDocument>&c;</ClinicalDocument>'
)


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        pytest.param(lambda b: XXE, "xml_doctype", id="external entity (XXE)"),
        pytest.param(lambda b: LAUGHS, "xml_doctype", id="entity expansion"),
        pytest.param(lambda b: b[: len(b) * 6 // 10], "xml_malformed", id="truncated upload"),
        pytest.param(lambda b: b.replace(b'code="SYNTH"', b'code="NOPE"', 1), "type_code_unknown", id="unknown type"),
        pytest.param(
            lambda b: b.replace(b'extension="279035121518989"', b'extension="279035121518988"', 1),
            "ins_invalid",
            id="INS with a wrong key",
        ),
        pytest.param(
            lambda b: b.replace(b'extension="279035121518989"', b'extension="277076322082910"', 1),
            "wrong_patient",
            id="another patient's INS",
        ),
    ],
)
def test_bad_documents_are_refused_for_the_right_reason(
    platform: Platform, dominique_id: str, mutate: object, expected: str
) -> None:
    content = mutate(example(VSM))  # type: ignore[operator]
    assert expected in refused_codes(platform, dominique_id, content)


def test_a_header_that_disagrees_with_the_submitted_metadata_is_refused(platform: Platform, dominique_id: str) -> None:
    checked = record.check_document(example(VSM), max_bytes=10**7)
    assert checked.metadata is not None
    claimed = replace(checked.metadata, type_code="11502-2")
    codes = refused_codes(platform, dominique_id, example(VSM), metadata=claimed)
    assert codes == ["metadata_mismatch"]


def test_a_professional_must_send_cda_not_a_bare_pdf(platform: Platform, dominique_id: str) -> None:
    meta = DocumentMetadata(
        unique_id="2.25.42", type_code="11502-2", class_code="10", format_code="urn:ihe:iti:xds-sd:pdf:2008",
        confidentiality_code="N", title="CR", author=Author(id=DR_HOUSE.id), author_kind=AuthorKind.PROFESSIONAL,
        mime_type="application/pdf", creation_time=platform.clock.now(),
    )  # fmt: skip
    codes = refused_codes(
        platform, dominique_id, minimal_pdf("CR"), actor=DR_HOUSE, mime_type="application/pdf", metadata=meta
    )
    assert "cda_required" in codes


def patient_pdf(platform: Platform, patient_id: str, uid: str) -> DocumentMetadata:
    return DocumentMetadata(
        unique_id=uid, type_code="DOCPAT01", class_code="90", format_code="urn:ihe:iti:xds-sd:pdf:2008",
        confidentiality_code="N", title="Analyse de sang (scan)", author=Author(id=patient_id),
        author_kind=AuthorKind.PATIENT, mime_type="application/pdf", creation_time=platform.clock.now(),
    )  # fmt: skip


def test_the_same_bytes_twice_are_stored_once_and_reported(platform: Platform, dominique_id: str) -> None:
    holder = patient_as(dominique_id)
    pdf = minimal_pdf("Resultats du laboratoire")
    first = deposit(platform, dominique_id, pdf, actor=holder, mime_type="application/pdf",
                    metadata=patient_pdf(platform, dominique_id, "2.25.1001"))  # fmt: skip
    second = deposit(platform, dominique_id, pdf, actor=holder, mime_type="application/pdf",
                     metadata=patient_pdf(platform, dominique_id, "2.25.1002"))  # fmt: skip
    assert second.same_content_as == (first.entry.id,)
    assert rows(platform) == 2 and blob_files(platform) == 1


def test_probable_duplicates_are_flagged_in_listings(platform: Platform, dominique_id: str) -> None:
    deposit(platform, dominique_id, example(VSM))
    copy = example(VSM).replace(b"1.2.250.1.213.1.1.1.13.2022.1.1", b"1.2.250.1.213.1.1.1.13.2022.9.9", 1)
    deposit(platform, dominique_id, copy)
    deposit(platform, dominique_id, example("LDL-SES_2022.01.xml"))
    with platform.uow() as uow:
        page = record.list_documents(uow=uow, actor=DR_HOUSE, patient_id=dominique_id)
    flags = {e.metadata.type_code: [] for e in page.items}
    for e in page.items:
        flags[e.metadata.type_code].append(e.probable_duplicate)
    assert flags == {"SYNTH": [True, True], "11490-0": [False]}


def test_the_day_of_the_duplicate_rule_computed_by_the_database_is_that_of_duplicate_key(
    platform: Platform, dominique_id: str
) -> None:
    # list_documents reads duplicate_day from the database rather than both times of every entry.
    doc = deposit(platform, dominique_id, example(VSM)).entry.id
    paris = dt.timezone(dt.timedelta(hours=2))
    times = [
        (dt.datetime(2026, 3, 1, 23, 59, 59, 999999, tzinfo=dt.UTC), None),
        (dt.datetime(2026, 3, 2, 0, 0, tzinfo=dt.UTC), None),
        (dt.datetime(2026, 3, 2, 1, 30, tzinfo=paris), None),  # 1 March in UTC
        (dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.UTC), dt.datetime(2025, 12, 31, 23, 0, tzinfo=dt.UTC)),
        (dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.UTC), dt.datetime(2026, 1, 1, 0, 30, tzinfo=paris)),
    ]
    for creation, service in times:
        with platform.uow() as uow:
            row = uow.documents.get(doc)
            assert row is not None
            row.creation_time, row.service_start = creation, service
            uow.commit()
        with platform.uow() as uow:
            row = uow.documents.get(doc)
            assert row is not None
            found = uow.documents.matching_columns(dominique_id, DocumentFilters(), ["id", "duplicate_day"])
            assert [(r.id, r.duplicate_day) for r in found] == [
                (doc, duplicate_key(record._metadata(row))[2].isoformat())
            ]


def test_a_content_that_cannot_be_written_fails_the_commit_and_nothing_is_kept(
    platform: Platform, dominique_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The content is written in the background while the deposit goes on; the commit waits for it.
    def disk_full(data: bytes) -> str:
        raise StorageError("écriture impossible dans le stockage de documents : plus de place")

    monkeypatch.setattr(platform.blobs, "put", disk_full)
    with platform.uow() as uow:
        audit_before = len(uow.audit.for_patient(dominique_id))
    with platform.uow() as uow, pytest.raises(StorageError, match="plus de place"):
        record.deposit(uow=uow, actor=SYSTEM, patient_id=dominique_id, content=example(VSM))
        uow.commit()
    assert rows(platform) == 0 and blob_files(platform) == 0
    with platform.uow() as uow:
        assert len(uow.audit.for_patient(dominique_id)) == audit_before
    monkeypatch.undo()
    assert deposit(platform, dominique_id, example(VSM)).created
    assert rows(platform) == 1 and blob_files(platform) == 1


def test_secretariat_deposits_but_does_not_read(platform: Platform, dominique_id: str) -> None:
    assistant = replace(FRONT_DESK, acting_for="801234567897")  # the author of the VSM example
    in_care_team(platform, dominique_id, author_of("801234567897"))
    result = deposit(platform, dominique_id, example(VSM), actor=assistant)
    assert result.created
    with platform.uow() as uow, pytest.raises(Forbidden, match="secrétariat"):
        record.get_content(uow=uow, actor=assistant, entry_id=result.entry.id)


def test_invisible_to_representatives_is_set_by_the_holder(platform: Platform, dominique_id: str) -> None:
    doc = deposit(platform, dominique_id, example(VSM))
    with platform.uow() as uow, pytest.raises(Forbidden):
        record.set_invisible_to_representatives(uow=uow, actor=NURSE_JOY, entry_id=doc.entry.id, invisible=True)
    with platform.uow() as uow:
        entry = record.set_invisible_to_representatives(
            uow=uow, actor=patient_as(dominique_id), entry_id=doc.entry.id, invisible=True
        )
        uow.commit()
    assert entry.invisible_to_representatives


def test_another_patient_cannot_read_this_record(platform: Platform, dominique_id: str) -> None:
    doc = deposit(platform, dominique_id, example(VSM))
    stranger = replace(patient_as(dominique_id), id="someone-else")
    with platform.uow() as uow, pytest.raises(Forbidden, match="propre dossier"):
        record.get_content(uow=uow, actor=stranger, entry_id=doc.entry.id)


@pytest.mark.parametrize("name", [VSM, "IMG_CR_IMG_2024.01_CDA-R2-Niveau-1.xml"])
def test_documents_render_to_safe_html(platform: Platform, dominique_id: str, name: str) -> None:
    doc = deposit(platform, dominique_id, example(name))
    with platform.uow() as uow:
        html = record.render_document(
            uow=uow, actor=DR_HOUSE, entry_id=doc.entry.id, pdf_url=f"/documents/{doc.entry.id}/content"
        )
    assert doc.entry.metadata.title.split(" ")[0] in html
    assert "<script" not in html.lower()


def test_reads_are_audited_and_refusals_too(platform: Platform, dominique_id: str) -> None:

    doc = deposit(platform, dominique_id, example(VSM))
    with platform.uow() as uow:
        record.get_content(uow=uow, actor=DR_HOUSE, entry_id=doc.entry.id)
        uow.commit()
    with platform.uow() as uow, pytest.raises(Forbidden):
        record.hide_from_professionals(uow=uow, actor=DR_HOUSE, entry_id=doc.entry.id)
    with platform.uow() as uow:
        trail = [(a.action, a.actor_id, a.outcome) for a in uow.audit.for_patient(dominique_id)]
    assert ("document.read", DR_HOUSE.id, "success") in trail
    assert ("document.hide", DR_HOUSE.id, "denied") in trail
    assert SYSTEM.id in {actor for _, actor, _ in trail}

"""IHE XDM packages: a CI-SIS example CDA written and read back unchanged; tampered or hostile ZIPs refused."""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from pathlib import Path

import pytest

from carnet.errors import DocumentRejected
from carnet.messaging import xdm

VSM = Path(__file__).resolve().parents[3].parent / "shared" / "reference" / "cda-examples" / "VSM_1.4_2022.01.xml"
WHEN = dt.datetime(2026, 11, 30, 9, 15, tzinfo=dt.UTC)


def _package() -> xdm.XdmPackage:
    patient = xdm.PatientId(id="279035121518989", oid="1.2.250.1.213.1.4.10")
    document = xdm.XdmDocument(
        unique_id="1.2.250.1.213.1.1.9.4242.1",
        patient_id=patient,
        type_code=xdm.XdmCode("60591-5", "2.16.840.1.113883.6.1", "Synthèse médicale"),
        class_code=xdm.XdmCode("11", "1.2.250.1.213.1.1.4.1", "Synthèse"),
        format_code=xdm.XdmCode("urn:asip:ci-sis:vsm:2012", "1.2.250.1.213.1.1.4.2.282", "VSM"),
        confidentiality=(xdm.XdmCode("N", "2.16.840.1.113883.5.25", "Normal"),),
        creation_time=WHEN,
        title="Synthèse médicale",
        mime_type="text/xml",
        data=VSM.read_bytes(),
    )
    submission = xdm.XdmSubmissionSet(unique_id="1.2.250.1.213.1.1.9.4242.2", source_id="1.2.250.1.213.1.1.9",
                                      submission_time=WHEN, patient_id=patient)  # fmt: skip
    return xdm.XdmPackage(submission_set=submission, documents=(document,))


def _rezip(data: bytes, change: dict[str, bytes | None], extra: dict[str, bytes] | None = None) -> bytes:
    """The same ZIP with some members replaced (None: removed) and others added."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            if info.filename in change:
                if change[info.filename] is not None:
                    dst.writestr(info.filename, change[info.filename] or b"")
                continue
            dst.writestr(info.filename, src.read(info.filename))
        for name, content in (extra or {}).items():
            dst.writestr(name, content)
    return out.getvalue()


def _doc_member(data: bytes) -> str:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return next(n for n in z.namelist() if n.startswith("IHE_XDM/") and not n.endswith("METADATA.XML"))


def test_a_package_written_then_read_gives_back_the_same_documents_and_the_patient_ins() -> None:
    package = _package()
    data = xdm.write(package)
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        assert "IHE_XDM/SUBSET01/METADATA.XML" in z.namelist()
    back = xdm.read(data)
    assert len(back.documents) == 1
    doc, original = back.documents[0], package.documents[0]
    assert doc.data == original.data
    assert (doc.unique_id, doc.type_code.code, doc.class_code.code, doc.mime_type) == (
        original.unique_id, "60591-5", "11", "text/xml")  # fmt: skip
    assert doc.patient_id.id == "279035121518989"
    assert doc.patient_id.ins is not None
    assert back.submission_set.unique_id == package.submission_set.unique_id


def test_a_document_changed_after_packaging_is_refused_for_its_hash_or_size() -> None:
    data = xdm.write(_package())
    member = _doc_member(data)
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        content = z.read(member)
    tampered = _rezip(data, {member: content.replace(b"PAT-TROIS", b"PAT-TROIX")})
    with pytest.raises(DocumentRejected) as refused:
        xdm.read(tampered)
    assert {p.code for p in refused.value.problems} & {"hash_mismatch", "size_mismatch"}


@pytest.mark.parametrize("name", ["../evil.txt", "/etc/passwd", "IHE_XDM/../../x"])
def test_a_member_outside_the_package_is_refused(name: str) -> None:
    data = _rezip(xdm.write(_package()), {}, extra={name: b"x"})
    with pytest.raises(DocumentRejected):
        xdm.read(data)


def test_bytes_that_are_not_a_zip_are_refused_with_a_reason() -> None:
    with pytest.raises(DocumentRejected) as refused:
        xdm.read(b"%PDF-1.4 not a zip")
    assert refused.value.problems


def test_a_package_without_metadata_is_refused() -> None:
    data = _rezip(xdm.write(_package()), {"IHE_XDM/SUBSET01/METADATA.XML": None})
    with pytest.raises(DocumentRejected):
        xdm.read(data)

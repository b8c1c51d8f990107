"""A PDF wrapped in a CDA R2 level 1 document: the document checker reads it with no problem, its metadata are
those of the form, the PDF comes back unchanged, and a code outside the official value sets is refused."""

from __future__ import annotations

import datetime as dt

import pytest

from carnet.errors import ValidationError
from carnet.identity.matricule import Ins
from carnet.identity.model import PatientIdentity
from carnet.identity.status import IdentityStatus
from carnet.record import level1, service
from carnet.record.cda import embedded_content
from carnet.record.model import Author
from carnet.record.xml import parse_xml
from tests.builders import dominique, minimal_pdf

DOMINIQUE = PatientIdentity(id="dossier-dominique", status=IdentityStatus.QUAL, traits=dominique(),
                            ins=Ins.parse("279035121518989", "1.2.250.1.213.1.4.10"))  # fmt: skip
DR_MARTIN = Author(id="899700000001", family="MARTIN", given="Paul", specialty="G15_10/SM54",
                   organisation_id="1519990044", organisation_name="Maison de santé des Trois Fontaines")  # fmt: skip
OPERATIVE = level1.Level1Form(type_code="34874-8", title="CR opératoire — appendicectomie",
                              practice_setting="AMBULATOIRE", facility_type="SA01")  # fmt: skip
CREATED = dt.datetime(2026, 3, 12, 9, 15, tzinfo=dt.UTC)


def test_the_wrapped_pdf_passes_the_document_checker_with_the_form_metadata() -> None:
    pdf = minimal_pdf("Appendicectomie sans complication")
    content = level1.pdf_document(pdf=pdf, patient=DOMINIQUE, author=DR_MARTIN, form=OPERATIVE, created=CREATED)
    checked = service.check_document(content, max_bytes=10_000_000)
    assert checked.problems == []
    meta = checked.metadata
    assert meta is not None
    assert (meta.type_code, meta.class_code, meta.confidentiality_code) == ("34874-8", "10", "N")
    assert meta.format_code == "urn:ihe:iti:xds-sd:pdf:2008"
    assert (meta.practice_setting, meta.facility_type) == ("AMBULATOIRE", "SA01")
    assert meta.author.id == DR_MARTIN.id and meta.author.profession == "10"
    assert meta.creation_time == CREATED
    assert meta.title == "CR opératoire — appendicectomie"
    assert checked.header is not None and checked.header.patient_ins is not None
    assert checked.header.patient_ins.value == "279035121518989"
    assert embedded_content(parse_xml(content, max_bytes=10_000_000)) == ("application/pdf", pdf)


def test_text_is_escaped_and_codes_outside_the_value_sets_are_refused() -> None:
    form = level1.Level1Form(type_code="34874-8", title="<script>x</script> & co", practice_setting="AMBULATOIRE",
                             facility_type="SA01")  # fmt: skip
    content = level1.pdf_document(pdf=minimal_pdf("x"), patient=DOMINIQUE, author=DR_MARTIN, form=form,
                                  created=CREATED)  # fmt: skip
    assert b"<script>" not in content
    for wrong in ({"type_code": "PAS-UN-TYPE"}, {"practice_setting": "NULLE-PART"}, {"facility_type": "ZZ"},
                  {"confidentiality_code": "INVISIBLE_PATIENT"}, {"title": "  "}):  # fmt: skip
        values = {"type_code": "34874-8", "title": "CR", "practice_setting": "AMBULATOIRE", "facility_type": "SA01"}
        values.update(wrong)
        with pytest.raises(ValidationError):
            level1.pdf_document(pdf=b"%PDF", patient=DOMINIQUE, author=DR_MARTIN,
                                form=level1.Level1Form(**values), created=CREATED)  # type: ignore[arg-type]  # fmt: skip
    provisional = PatientIdentity(id="p", status=IdentityStatus.PROV, traits=dominique(), ins=None)
    with pytest.raises(ValidationError, match="INS"):
        level1.pdf_document(pdf=b"%PDF", patient=provisional, author=DR_MARTIN, form=OPERATIVE, created=CREATED)

"""Reading and checking CDA R2 headers: the 12 official CI-SIS examples, broken variants, arbitrary bytes."""

from __future__ import annotations

import base64
import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carnet.identity.matricule import InsOid
from carnet.record.cda import CdaHeader, Problem, embedded_content, format_code_for, parse_hl7_time, read_cda

EXAMPLES = Path(__file__).resolve().parents[3].parent / "shared" / "reference" / "cda-examples"
MAX = 10 * 1024 * 1024
PLUS_ONE = dt.timezone(dt.timedelta(hours=1))
DOMINIQUE = ("279035121518989", InsOid.TEST_NIR)


@dataclass(frozen=True)
class Expected:
    type_code: str
    ins: tuple[str, InsOid]
    level: int
    effective_time: dt.datetime
    author_id: str
    format_code: str


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, second, tzinfo=PLUS_ONE)


EXPECTED = {
    "BIO-CR-BIO_2021.01_Microbiologie_V1.xml": Expected(
        "11502-2", DOMINIQUE, 3, at(2021, 1, 4, 16, 5, 27), "801234534765", "urn:ihe:lab:xd-lab:2008"
    ),
    "BIO-CR-BIO_2024.01_TSH_1.xml": Expected(
        "11502-2", DOMINIQUE, 3, at(2021, 4, 1, 17, 10), "801234534765", "urn:ihe:lab:xd-lab:2008"
    ),
    "CNAM-HR_2021.01_sans-info.xml": Expected(
        "REMB", DOMINIQUE, 3, at(2019, 7, 1, 16, 49), "518003502400041/1.2.250.1.215.1.2", "urn:asip:ci-sis:hr:2019"
    ),
    "DOC_NON_STRUCTURE_CDA-R2-N1.xml": Expected(
        "11502-2", DOMINIQUE, 1, at(2021, 4, 1, 13, 47, 45), "801234534765", "urn:ihe:iti:xds-sd:pdf:2008"
    ),
    "IMG_CR_IMG_2024.01.xml": Expected(
        "18748-4",
        DOMINIQUE,
        3,
        at(2021, 1, 8, 11, 17),
        "801234560801",
        "urn:ihe:rad:CDA:ImagingReportStructuredHeadings:2013",
    ),
    "IMG_CR_IMG_2024.01_CDA-R2-Niveau-1.xml": Expected(
        "18748-4", DOMINIQUE, 1, at(2021, 1, 8, 11, 17), "801234560801", "urn:ihe:iti:xds-sd:pdf:2008"
    ),
    "LDL-EES_2022.01.xml": Expected(
        "18761-7", DOMINIQUE, 3, at(2019, 10, 29, 11, 17), "801234567897", "urn:asip:ci-sis:ldl-ees:2017"
    ),
    "LDL-SES_2022.01.xml": Expected(
        "11490-0", DOMINIQUE, 3, at(2019, 12, 3, 13, 30), "801234567897", "urn:asip:ci-sis:ldl-ses:2017"
    ),
    "VAC_2023.01.xml": Expected(
        "11369-6", DOMINIQUE, 3, at(2021, 4, 9, 17), "801234567897", "urn:asip:ci-sis:vac:2019"
    ),
    "VSM_1.4_2022.01.xml": Expected(
        "SYNTH", DOMINIQUE, 3, at(2020, 3, 12, 11, 17), "801234567897", "urn:asip:ci-sis:vsm:2012"
    ),
    "eDISP-MED_2024.01.xml": Expected(
        "60593-1",
        ("277076322082910", InsOid.NIR),
        3,
        at(2024, 12, 25, 9, 30),
        "578435954900010/1.2.250.1.176.1",
        "urn:ihe:pharm:dis:2010",
    ),
    "eP-MED-DM_2022.01_PosoStruct.xml": Expected(
        "57833-6", DOMINIQUE, 3, at(2021, 12, 1, 9, 30), "801234567897", "urn:ihe:pharm:pre:2010"
    ),
}
EXAMPLE_FILES = sorted(EXAMPLES.glob("*.xml"))


def example(name: str) -> bytes:
    return (EXAMPLES / name).read_bytes()


def read_ok(data: bytes) -> tuple[CdaHeader, list[Problem]]:
    header, problems, tree = read_cda(data, max_bytes=MAX)
    assert header is not None and tree is not None
    return header, problems


def codes(problems: list[Problem]) -> set[str]:
    return {p.code for p in problems}


def only(problems: list[Problem], code: str) -> Problem:
    found = [p for p in problems if p.code == code]
    assert len(found) == 1, problems
    return found[0]


# --- the official examples -----------------------------------------------------------------------------------


def test_the_twelve_examples_are_there() -> None:
    assert sorted(p.name for p in EXAMPLE_FILES) == sorted(EXPECTED)


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.name)
def test_every_official_example_reads_without_error(path: Path) -> None:
    expected = EXPECTED[path.name]
    header, problems = read_ok(path.read_bytes())
    assert [p for p in problems if p.severity == "error"] == []
    assert header.type_code.code == expected.type_code
    assert header.patient_ins is not None
    assert (header.patient_ins.value, header.patient_ins.oid) == expected.ins
    assert header.level == expected.level
    assert header.effective_time == expected.effective_time
    assert header.effective_time.tzinfo is not None
    assert header.authors[0].id_root == "1.2.250.1.71.4.2.1"
    assert header.authors[0].id_extension == expected.author_id
    format_code = format_code_for(header)
    assert format_code is not None and format_code.code == expected.format_code
    assert header.confidentiality.code == "N"
    assert header.language == "fr-FR"
    assert header.title
    assert header.facility_type is not None and header.practice_setting is not None
    assert header.unique_id.startswith(header.set_id or "no set id")


def test_the_official_examples_raise_no_warning_either() -> None:
    for path in EXAMPLE_FILES:
        _, problems = read_ok(path.read_bytes())
        assert problems == [], path.name


def test_header_of_the_vsm_in_detail() -> None:
    header, _ = read_ok(example("VSM_1.4_2022.01.xml"))
    assert header.unique_id == "1.2.250.1.213.1.1.1.13.2022.1.1"
    assert header.set_id == "1.2.250.1.213.1.1.1.13.2022.1"
    assert header.version == 1
    assert header.title
    assert header.type_code.system == "1.2.250.1.213.1.1.4.12"
    assert header.patient_ids == [
        ("1.2.250.1.213.1.4.10", "279035121518989"),
        ("1.2.3.4.567.8.9.10", "1234567890121"),
    ]
    assert header.patient_birth_name == "PAT-TROIS"
    assert header.patient_given == "DOMINIQUE"
    assert header.patient_birth_first_names == "DOMINIQUE MARIE-LOUISE"
    assert header.patient_sex == "F"
    assert header.patient_birth_date == dt.date(1979, 3, 28)
    author = header.authors[0]
    assert (author.family, author.given) == ("MEDIONI", "Stéphane")
    assert author.profession is not None
    assert (author.profession.code, author.profession.system) == ("G15_10/SM26", "1.2.250.1.213.1.1.4.5")
    assert author.time == at(2020, 3, 12, 11, 17)
    assert header.custodian_name == "Centre de soins le Belvédère"
    assert header.facility_type is not None and header.facility_type.code == "SA04"
    assert header.practice_setting is not None and header.practice_setting.code == "ETABLISSEMENT"
    assert header.service_start == at(2020, 3, 12, 11, 17)
    assert header.replaces is None
    assert header.body_media_type is None
    assert "1.2.250.1.213.1.1.1.13" in header.template_ids
    assert header.legal_authenticator is not None and header.legal_authenticator.ids


def test_a_replacement_names_the_replaced_document_as_xds_does() -> None:
    header, _ = read_ok(example("CNAM-HR_2021.01_sans-info.xml"))
    assert header.replaces == "1.2.250.1.213.1.1.9^10002-1"
    assert header.version == 2
    assert header.service_start == at(2019, 1, 1, 15, 45)
    assert header.service_stop == at(2019, 7, 1, 15, 45)


def test_the_edisp_patient_has_a_production_nir_and_other_names() -> None:
    header, _ = read_ok(example("eDISP-MED_2024.01.xml"))
    assert header.patient_ins is not None and header.patient_ins.system == "urn:oid:1.2.250.1.213.1.4.8"
    assert (header.patient_birth_name, header.patient_given) == ("NESSI", "RUTH")
    assert len(header.authors) == 2
    assert header.authors[0].profession is not None and header.authors[0].profession.code == "DISPOSITIF"
    assert header.authors[1].id_extension == "807505123456"


@pytest.mark.parametrize("name", ["DOC_NON_STRUCTURE_CDA-R2-N1.xml", "IMG_CR_IMG_2024.01_CDA-R2-Niveau-1.xml"])
def test_a_level_one_document_carries_a_pdf(name: str) -> None:
    header, problems, tree = read_cda(example(name), max_bytes=MAX)
    assert header is not None and tree is not None and problems == []
    assert header.body_media_type == "application/pdf"
    content = embedded_content(tree)
    assert content is not None
    media_type, pdf = content
    assert media_type == "application/pdf"
    assert pdf.startswith(b"%PDF-") and b"%%EOF" in pdf[-1024:]


def test_a_structured_document_has_no_embedded_content() -> None:
    _, _, tree = read_cda(example("VSM_1.4_2022.01.xml"), max_bytes=MAX)
    assert tree is not None and embedded_content(tree) is None


# --- HL7 times -----------------------------------------------------------------------------------------------

PARIS_WINTER = dt.timezone(dt.timedelta(hours=1))
PARIS_SUMMER = dt.timezone(dt.timedelta(hours=2))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("20210108111700+0100", dt.datetime(2021, 1, 8, 11, 17, tzinfo=PARIS_WINTER)),
        ("202101040735+0100", dt.datetime(2021, 1, 4, 7, 35, tzinfo=PARIS_WINTER)),
        (
            "20210108111700-0330",
            dt.datetime(2021, 1, 8, 11, 17, tzinfo=dt.timezone(-dt.timedelta(hours=3, minutes=30))),
        ),
        ("20210108111700.25+0000", dt.datetime(2021, 1, 8, 11, 17, 0, 250000, tzinfo=dt.UTC)),
        ("20200701134745", dt.datetime(2020, 7, 1, 13, 47, 45, tzinfo=PARIS_SUMMER)),
        ("20201231", dt.datetime(2020, 12, 31, tzinfo=PARIS_WINTER)),
        ("2020", dt.datetime(2020, 1, 1, tzinfo=PARIS_WINTER)),
    ],
)
def test_hl7_times_are_aware_and_zoneless_ones_are_in_paris(value: str, expected: dt.datetime) -> None:
    parsed = parse_hl7_time(value)
    assert parsed is not None and parsed.tzinfo is not None
    assert parsed == expected
    assert parsed.utcoffset() == expected.utcoffset()


def test_a_negative_offset_is_behind_utc() -> None:
    assert parse_hl7_time("20210108111700-0330") == dt.datetime(2021, 1, 8, 14, 47, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    "value", ["", "2021-01-08", "20211308", "20210230", "2021010", "20210108250000", "20210108+2400", "202101081117.5"]
)
def test_invalid_hl7_times(value: str) -> None:
    assert parse_hl7_time(value) is None


# --- broken variants -----------------------------------------------------------------------------------------

VSM = "VSM_1.4_2022.01.xml"
PDF_DOC = "DOC_NON_STRUCTURE_CDA-R2-N1.xml"
INS_ID = b'<id extension="279035121518989" root="1.2.250.1.213.1.4.10"/>'


def edit(name: str, old: bytes, new: bytes, count: int = 1) -> bytes:
    data = example(name)
    assert data.count(old) == count, f"{old!r} found {data.count(old)} times in {name}"
    return data.replace(old, new)


def assert_refused(data: bytes, code: str, *, max_bytes: int = MAX) -> Problem:
    header, problems, tree = read_cda(data, max_bytes=max_bytes)
    assert (header, tree) == (None, None)
    assert len(problems) == 1
    problem = problems[0]
    assert (problem.code, problem.xpath, problem.severity) == (code, "/", "error")
    return problem


def test_xxe_is_refused_before_parsing() -> None:
    doctype = b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
    data = example(VSM).replace(b"?>", b"?>\n" + doctype, 1).replace(b"<title>", b"<title>&e;", 1)
    problem = assert_refused(data, "xml_doctype")
    assert "ligne 2" in problem.message


def test_billion_laughs_is_refused() -> None:
    lol = b"".join(
        b'<!ENTITY lol%d "%s">' % (i, b"".join([b"&lol%d;" % (i - 1)] * 10) if i else b"lol") for i in range(10)
    )
    data = b'<?xml version="1.0"?>\n<!DOCTYPE lolz [' + lol + b"]>\n<ClinicalDocument>&lol9;</ClinicalDocument>"
    assert_refused(data, "xml_doctype")


def test_a_truncated_document_is_malformed_xml_with_its_line() -> None:
    data = example(VSM)
    problem = assert_refused(data[: len(data) * 6 // 10], "xml_malformed")
    assert re.search(r"\(ligne [0-9]+\)$", problem.message)


def test_an_oversized_document_is_refused() -> None:
    data = example(VSM)
    problem = assert_refused(data, "xml_too_large", max_bytes=len(data) - 1)
    assert str(len(data)) in problem.message
    assert read_cda(data, max_bytes=len(data))[0] is not None


def test_an_empty_document_is_refused() -> None:
    assert_refused(b"  \n", "xml_empty")


@pytest.mark.parametrize(
    "data",
    [
        example(VSM).replace(b'xmlns="urn:hl7-org:v3"', b'xmlns="urn:hl7-org:v2"', 1),
        example(VSM).replace(b"<ClinicalDocument", b"<Document", 1).replace(b"</ClinicalDocument>", b"</Document>"),
        b"<ClinicalDocument/>",
    ],
    ids=["wrong-namespace", "wrong-name", "no-namespace"],
)
def test_a_root_that_is_not_a_clinical_document_is_refused(data: bytes) -> None:
    problem = assert_refused(data, "not_cda")
    assert "ClinicalDocument" in problem.message


def test_an_ins_with_a_wrong_key() -> None:
    data = edit(VSM, b'extension="279035121518989"', b'extension="279035121518988"')
    header, problems = read_ok(data)
    problem = only(problems, "ins_invalid")
    assert problem.severity == "error"
    assert problem.xpath == "/ClinicalDocument/recordTarget/patientRole/id[1]/@extension"
    assert "(key)" in problem.message and "89 attendu, 88 reçu" in problem.message
    assert header.patient_ins is None
    assert codes(problems) == {"ins_invalid"}


def test_an_ins_with_a_wrong_key_when_it_is_the_only_id() -> None:
    data = edit("VAC_2023.01.xml", b'extension="279035121518989"', b'extension="279035121518988"')
    _, problems = read_ok(data)
    assert only(problems, "ins_invalid").xpath == "/ClinicalDocument/recordTarget/patientRole/id/@extension"


def test_a_document_without_ins() -> None:
    _, problems = read_ok(edit(VSM, INS_ID, b""))
    problem = only(problems, "ins_missing")
    assert (problem.xpath, problem.severity) == ("/ClinicalDocument/recordTarget/patientRole/id", "error")
    assert problem.message == "aucun INS dans recordTarget/patientRole/id"


def test_a_nir_used_as_social_security_number_is_not_an_ins() -> None:
    _, problems = read_ok(edit(VSM, b'root="1.2.250.1.213.1.4.10"', b'root="1.2.250.1.213.1.4.13"'))
    assert "ins_missing" in codes(problems)


def test_two_different_ins() -> None:
    other = b'<id extension="277076322082910" root="1.2.250.1.213.1.4.8"/>'
    _, problems = read_ok(edit(VSM, INS_ID, INS_ID + other))
    assert only(problems, "ins_conflict").severity == "error"


def test_a_document_without_patient() -> None:
    data = re.sub(rb"<recordTarget>.*?</recordTarget>", b"", example(VSM), count=1, flags=re.DOTALL)
    header, problems = read_ok(data)
    assert only(problems, "record_target_missing").xpath == "/ClinicalDocument/recordTarget"
    assert header.patient_ins is None and header.patient_birth_name is None


def test_an_unknown_type_code() -> None:
    header, problems = read_ok(edit(VSM, b'<code code="SYNTH"', b'<code code="NOPE"'))
    problem = only(problems, "type_code_unknown")
    assert (problem.xpath, problem.severity) == ("/ClinicalDocument/code/@code", "error")
    assert "JDV_J07" in problem.message
    assert header.type_code.code == "NOPE"
    assert format_code_for(header) is not None  # the format follows the templateId, not the type


def test_a_ci_sis_type_the_dmp_does_not_take_is_a_warning() -> None:
    _, problems = read_ok(edit(VSM, b'<code code="SYNTH"', b'<code code="FICHE-CONTACTS"'))
    problem = only(problems, "type_code_not_dmp")
    assert (problem.xpath, problem.severity) == ("/ClinicalDocument/code/@code", "warning")
    assert "JDV_J66" in problem.message


def test_a_type_code_of_the_wrong_code_system_is_unknown() -> None:
    _, problems = read_ok(edit(VSM, b'codeSystem="1.2.250.1.213.1.1.4.12"/>', b'codeSystem="2.16.840.1.113883.6.1"/>'))
    assert "type_code_unknown" in codes(problems)


def test_an_unknown_confidentiality_code() -> None:
    _, problems = read_ok(edit(VSM, b'<confidentialityCode code="N"', b'<confidentialityCode code="X"'))
    problem = only(problems, "confidentiality_unknown")
    assert (problem.xpath, problem.severity) == ("/ClinicalDocument/confidentialityCode/@code", "error")


def test_a_restricted_document_is_fine() -> None:
    header, problems = read_ok(edit(VSM, b'<confidentialityCode code="N"', b'<confidentialityCode code="R"'))
    assert problems == [] and header.confidentiality.code == "R"


def test_every_problem_is_reported_at_once() -> None:
    data = (
        example(VSM)
        .replace(b'<code code="SYNTH"', b'<code code="NOPE"', 1)
        .replace(b'<confidentialityCode code="N"', b'<confidentialityCode code="X"', 1)
        .replace(b'extension="279035121518989"', b'extension="279035121518988"', 1)
        .replace(b'code="SA04"', b'code="SA99"', 1)
    )
    _, problems = read_ok(data)
    assert codes(problems) == {"type_code_unknown", "confidentiality_unknown", "ins_invalid", "facility_type_unknown"}


@pytest.mark.parametrize(
    ("old", "code"),
    [
        (rb"<effectiveTime value=\"20200312111700\+0100\"/>", "effective_time_missing"),
        (rb"<confidentialityCode [^>]*/>", "confidentiality_missing"),
        (rb"<id root=\"1\.2\.250\.1\.213\.1\.1\.1\.13\.2022\.1\.1\"/>", "id_missing"),
        (rb"<code code=\"SYNTH\"[^>]*/>", "type_code_missing"),
    ],
)
def test_without_a_required_element_there_is_no_header(old: bytes, code: str) -> None:
    data, replaced = re.subn(old, b"", example(VSM), count=1)
    assert replaced == 1
    header, problems, tree = read_cda(data, max_bytes=MAX)
    assert header is None and tree is not None
    assert only(problems, code).severity == "error"


def test_an_invalid_creation_time() -> None:
    data = edit(VSM, b'<effectiveTime value="20200312111700+0100"/>', b'<effectiveTime value="20201312"/>')
    header, problems, _ = read_cda(data, max_bytes=MAX)
    assert header is None
    assert only(problems, "effective_time_invalid").xpath == "/ClinicalDocument/effectiveTime/@value"


def test_a_document_id_that_is_not_an_oid() -> None:
    _, problems = read_ok(edit(VSM, b'<id root="1.2.250.1.213.1.1.1.13.2022.1.1"/>', b'<id root="doc-42"/>'))
    assert only(problems, "id_invalid").xpath == "/ClinicalDocument/id/@root"


def test_a_document_without_author() -> None:
    data = re.sub(rb"<author>.*?</author>", b"", example(VSM), count=1, flags=re.DOTALL)
    _, problems = read_ok(data)
    assert only(problems, "author_missing").xpath == "/ClinicalDocument/author"


def test_an_author_without_id() -> None:
    # the first occurrence is the author's (the others: legal authenticator, participants, performers)
    _, problems = read_ok(example(VSM).replace(b'<id root="1.2.250.1.71.4.2.1" extension="801234567897"/>', b"", 1))
    problem = only(problems, "author_id_missing")
    assert (problem.xpath, problem.severity) == ("/ClinicalDocument/author/assignedAuthor/id", "error")


def test_an_unknown_author_specialty_is_a_warning() -> None:
    _, problems = read_ok(example(VSM).replace(b'code="G15_10/SM26"', b'code="G15_10/SM99"', 1))
    problem = only(problems, "author_specialty_unknown")
    assert (problem.xpath, problem.severity) == ("/ClinicalDocument/author/assignedAuthor/code/@code", "warning")


def test_facility_type_unknown_is_an_error_and_absent_a_warning() -> None:
    _, problems = read_ok(edit(VSM, b'code="SA04"', b'code="SA99"'))
    problem = only(problems, "facility_type_unknown")
    assert problem.severity == "error"
    assert problem.xpath == "/ClinicalDocument/componentOf/encompassingEncounter/location/healthCareFacility/code/@code"
    data = re.sub(rb"<componentOf>.*?</componentOf>", b"", example(VSM), count=1, flags=re.DOTALL)
    header, problems = read_ok(data)
    problem = only(problems, "facility_type_missing")
    assert problem.severity == "warning"
    assert problem.xpath == "/ClinicalDocument/componentOf/encompassingEncounter/location/healthCareFacility/code"
    assert header.facility_type is None


def test_practice_setting_unknown_is_an_error_and_absent_a_warning() -> None:
    _, problems = read_ok(edit(VSM, b'code="ETABLISSEMENT"', b'code="NOPE"', count=4))
    problem = only(problems, "practice_setting_unknown")
    assert problem.severity == "error"
    assert problem.xpath == (
        "/ClinicalDocument/documentationOf/serviceEvent/performer/assignedEntity/representedOrganization"
        "/standardIndustryClassCode/@code"
    )
    data = re.sub(rb"<standardIndustryClassCode [^>]*/>", b"", example(VSM), flags=re.DOTALL)
    header, problems = read_ok(data)
    assert only(problems, "practice_setting_missing").severity == "warning"
    assert header.practice_setting is None


def test_the_practice_setting_may_come_from_the_author() -> None:
    header, _ = read_ok(example("eDISP-MED_2024.01.xml"))
    assert header.practice_setting is not None and header.practice_setting.code == "AMBULATOIRE"
    data = re.sub(rb"<documentationOf>.*?</documentationOf>", b"", example("eDISP-MED_2024.01.xml"), flags=re.DOTALL)
    header, problems = read_ok(data)
    assert header.practice_setting is not None and header.practice_setting.code == "AMBULATOIRE"
    assert "practice_setting_missing" not in codes(problems)


def pdf_body(text: bytes) -> bytes:
    data, count = re.subn(rb"(<text [^>]*>)[^<]*(</text>)", rb"\g<1>" + text + rb"\g<2>", example(PDF_DOC))
    assert count == 1
    return data


BODY_TEXT = "/ClinicalDocument/component/nonXMLBody/text"


def test_a_nonxmlbody_whose_base64_is_not_a_pdf() -> None:
    header, problems = read_ok(pdf_body(base64.b64encode(b"<html>pas un pdf</html>")))
    problem = only(problems, "body_not_pdf")
    assert (problem.message, problem.xpath, problem.severity) == ("le PDF inclus n'est pas un PDF", BODY_TEXT, "error")
    assert header.level == 1


def test_a_nonxmlbody_that_is_not_base64() -> None:
    _, problems = read_ok(pdf_body(b"%PDF-1.5 ceci n'est pas du base64 !"))
    assert only(problems, "body_base64_invalid").xpath == BODY_TEXT


def test_an_empty_nonxmlbody() -> None:
    _, problems = read_ok(pdf_body(b""))
    assert only(problems, "body_empty").xpath == BODY_TEXT


def test_a_nonxmlbody_of_a_refused_media_type() -> None:
    _, problems = read_ok(edit(PDF_DOC, b'mediaType="application/pdf"', b'mediaType="application/msword"'))
    problem = only(problems, "body_media_type")
    assert (problem.xpath, problem.severity) == (f"{BODY_TEXT}/@mediaType", "error")


def test_a_nonxmlbody_not_in_base64() -> None:
    _, problems = read_ok(edit(PDF_DOC, b'representation="B64"', b'representation="TXT"'))
    assert only(problems, "body_representation").xpath == f"{BODY_TEXT}/@representation"


def test_a_plain_text_level_one_document() -> None:
    data = edit(PDF_DOC, b'mediaType="application/pdf"', b'mediaType="text/plain"')
    data, _ = re.subn(
        rb"(<text [^>]*>)[^<]*(</text>)", rb"\g<1>" + base64.b64encode("Résultat normal".encode()) + rb"\g<2>", data
    )
    header, problems, tree = read_cda(data, max_bytes=MAX)
    assert header is not None and tree is not None and problems == []
    format_code = format_code_for(header)
    assert format_code is not None and format_code.code == "urn:ihe:iti:xds-sd:text:2008"
    assert embedded_content(tree) == ("text/plain", "Résultat normal".encode())


def test_a_body_that_is_neither_structured_nor_embedded() -> None:
    data = edit(VSM, b"<structuredBody>", b"<otherBody>").replace(b"</structuredBody>", b"</otherBody>")
    header, problems = read_ok(data)
    problem = only(problems, "body_missing")
    assert (problem.xpath, problem.severity) == ("/ClinicalDocument/component", "error")
    assert header.level == 0 and format_code_for(header) is None


def test_a_structured_document_of_no_known_model_is_not_referenced() -> None:
    data, count = re.subn(rb'<templateId root="1\.2\.250\.1\.213\.1\.1\.1\.13"[^>]*/>', b"", example(VSM))
    assert count == 1
    header, _ = read_ok(data)
    format_code = format_code_for(header)
    assert format_code is not None and format_code.code == "urn:asipSante:modelesHorsProfils:2011"


# --- robustness ----------------------------------------------------------------------------------------------

SMALL_EXAMPLES = [example("CNAM-HR_2021.01_sans-info.xml"), example(VSM), example("VAC_2023.01.xml")]


def check_never_raises(data: bytes) -> None:
    header, problems, tree = read_cda(data, max_bytes=MAX)
    if header is None:
        assert problems, "a document without header must say why"
    assert all(p.severity in ("error", "warning") and p.xpath.startswith("/") and p.message for p in problems)
    if header is not None:
        format_code_for(header)
    if tree is not None:
        embedded_content(tree)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=4096))
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    check_never_raises(data)


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet="<>/=\"' abcdeClinicalDocument:xmlns&;#", max_size=300))
def test_xml_like_text_never_raises(text: str) -> None:
    check_never_raises(text.encode())


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(SMALL_EXAMPLES),
    st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.one_of(st.none(), st.integers(0, 255))), max_size=4),
)
def test_mutated_examples_never_raise(original: bytes, mutations: list[tuple[float, int | None]]) -> None:
    data = bytearray(original)
    header_end = original.index(b"<component>")
    for where, byte in mutations:
        position = int(where * header_end)  # the header is where the reader looks
        if byte is None:
            del data[position]
        else:
            data[position] = byte
    check_never_raises(bytes(data))

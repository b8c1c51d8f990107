"""The NOS value sets shipped with the package and the typeCode → classCode table."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from carnet.record.valuesets import CLASS_FOR_TYPE, Code, ValueSet, class_for_type, load_value_set, value_sets

REFERENCE_NOS = Path(__file__).resolve().parents[3].parent / "shared" / "reference" / "nos"
DATA = Path(__file__).resolve().parents[3] / "carnet" / "record" / "data"
CSV_FILES = [
    "JDV_J01_XdsAuthorSpecialty_CISIS.csv",
    "JDV_J02_XdsHealthcareFacilityTypeCode_CISIS.csv",
    "JDV_J04_XdsPracticeSettingCode_CISIS.csv",
    "JDV_J06_XdsClassCode_CISIS.csv",
    "JDV_J07_XdsTypeCode_CISIS.csv",
    "JDV_J08_XdsConfidentialityCode_CISIS.csv",
    "JDV_J10_XdsFormatCode_CISIS.csv",
    "JDV_J66_TypeCode_DMP.csv",
    "TRE_G15_ProfessionSante.csv",
]
LOINC = "2.16.840.1.113883.6.1"
TRE_A05 = "1.2.250.1.213.1.1.4.12"


@pytest.mark.parametrize("name", CSV_FILES)
def test_the_shipped_csv_is_an_unchanged_copy_of_the_reference(name: str) -> None:
    assert (DATA / name).read_bytes() == (REFERENCE_NOS / name).read_bytes()


@pytest.mark.parametrize(
    ("attribute", "oid", "count"),
    [
        ("author_specialty", "1.2.250.1.213.1.1.5.461", 396),
        ("facility_type", "1.2.250.1.213.1.1.5.466", 69),
        ("practice_setting", "1.2.250.1.213.1.1.5.467", 12),
        ("class_code", "1.2.250.1.213.1.1.5.462", 11),
        ("type_code", "1.2.250.1.213.1.1.5.471", 114),
        ("confidentiality", "1.2.250.1.213.1.1.5.463", 6),
        ("format_code", "1.2.250.1.213.1.1.5.465", 81),
        ("type_code_dmp", "1.2.250.1.213.1.1.5.7", 81),
        ("profession", "1.2.250.1.71.1.2.7", 30),
    ],
)
def test_each_value_set_has_its_oid_and_every_code(attribute: str, oid: str, count: int) -> None:
    vs: ValueSet = getattr(value_sets(), attribute)
    assert vs.oid == oid
    assert len(vs) == count == len(vs.codes)
    assert all(code.system for code in vs)
    assert all(code.display for code in vs)


def test_value_sets_are_read_once() -> None:
    assert value_sets() is value_sets()


def test_format_codes_without_an_oid_column_get_the_oid_of_their_code_system() -> None:
    formats = value_sets().format_code
    pdf = formats.get("urn:ihe:iti:xds-sd:pdf:2008")
    assert pdf == Code(
        "urn:ihe:iti:xds-sd:pdf:2008", "1.3.6.1.4.1.19376.1.2.3", "Document à corps non structuré en Pdf/A-1"
    )
    assert pdf.system_uri == "urn:oid:1.3.6.1.4.1.19376.1.2.3"
    kos = formats.get("1.2.840.10008.5.1.4.1.1.88.59")
    assert kos is not None and kos.system == "1.2.840.10008.2.6.1"
    vsm = formats.get("urn:asip:ci-sis:vsm:2012")
    assert vsm is not None and vsm.system == "1.2.250.1.213.1.1.4.2.282"


def test_symbolic_systems_are_kept_and_the_two_astm_spellings_agree() -> None:
    vs = value_sets()
    signature = vs.class_code.get("urn:oid:1.3.6.1.4.1.19376.1.2.1.1.1")
    assert signature is not None and signature.system == "URN" and signature.system_uri == "URN"
    assert vs.type_code.get("E1762") == vs.type_code_dmp.get("E1762") == Code("E1762", "ASTM", "Full Document")


def test_lookups_by_code_by_system_and_code_and_by_code_object() -> None:
    types = value_sets().type_code
    cr_bio = types.get("11502-2", LOINC)
    assert cr_bio == Code("11502-2", LOINC, "CR d'examens biologiques")
    assert types.get("11502-2", f"urn:oid:{LOINC}") == cr_bio
    assert types.get(" 11502-2 ") == cr_bio
    assert types.get("11502-2", TRE_A05) is None
    assert "11502-2" in types
    assert (LOINC, "11502-2") in types
    assert (TRE_A05, "11502-2") not in types
    assert cr_bio in types
    assert Code("11502-2", TRE_A05, "") not in types
    assert "NOPE" not in types
    assert 11502 not in types
    assert types.codes[(LOINC, "11502-2")] is cr_bio


def test_labels_are_french_and_unknown_codes_are_shown_as_is() -> None:
    vs = value_sets()
    assert vs.class_code.label("10") == "Compte rendu"
    assert vs.confidentiality.label("N") == "Normal"
    assert vs.profession.label("10") == "Médecin"
    assert vs.type_code.label("SYNTH") == "Synthèse"
    assert vs.type_code.label("ZZZ") == "ZZZ"


def test_a_code_repeated_in_two_systems_needs_its_system() -> None:
    vs = ValueSet("test", "1.2.3", [(Code("A", "1.1", "un"), None), (Code("A", "1.2", "deux"), None)])
    assert vs.get("A") is None
    assert "A" not in vs
    assert vs.get("A", "1.2") == Code("A", "1.2", "deux")
    assert vs.label("A", "1.1") == "un"


def test_duplicates_are_refused() -> None:
    with pytest.raises(ValueError, match="en double"):
        ValueSet("test", "1.2.3", [(Code("A", "1.1", "un"), None), (Code("A", "1.1", "deux"), None)])


def test_codes_past_their_end_of_validity_are_no_longer_valid_but_still_labelled() -> None:
    old = Code("OLD", "1.1", "Ancien")
    vs = ValueSet("test", "1.2.3", [(old, dt.date(2020, 12, 31)), (Code("NEW", "1.1", "Nouveau"), None)])
    assert vs.get("OLD") is None
    assert "OLD" not in vs
    assert vs.get("OLD", include_expired=True) == old
    assert vs.get("OLD", on=dt.date(2020, 12, 31)) == old  # dateFin is the last valid day
    assert vs.is_expired(old, on=dt.date(2021, 1, 1))
    assert vs.end_of(old) == dt.date(2020, 12, 31)
    assert vs.label("OLD") == "Ancien"
    assert [c.code for c in vs] == ["NEW"]
    assert len(vs) == 1


def test_loading_a_file_that_is_not_shipped_fails() -> None:
    with pytest.raises(FileNotFoundError):
        load_value_set("x", "1.2.3", "JDV_J99_Nothing.csv")


@pytest.mark.parametrize(
    ("type_code", "class_code"),
    [
        ("11502-2", "10"),  # CR d'examens biologiques
        ("34874-8", "10"),  # CR opératoire
        ("11490-0", "10"),  # lettre de liaison à la sortie
        ("18748-4", "31"),  # CR d'imagerie: Imagerie médicale in ASS_X04
        ("IMG-KOS", "31"),
        ("18761-7", "11"),  # note de transfert: Synthèse in ASS_X04
        ("SYNTH", "11"),
        ("60591-5", "11"),
        ("57833-6", "42"),
        ("57832-8", "42"),
        ("57828-6", "42"),
        ("PRESC-KINE", "42"),
        ("PRESC-BIO", "42"),
        ("55115-0", "42"),
        ("60593-1", "43"),
        ("18776-5", "44"),
        ("80565-5", "45"),
        ("11369-6", "52"),  # historique des vaccinations: Certificat, déclaration in ASS_X04
        ("87273-9", "52"),
        ("CERT_DECL", "52"),
        ("89601-9", "52"),
        ("REMB", "60"),
        ("EXPPAT_3", "90"),
        ("DOCPAT10", "90"),
        ("DOCPAT03", "10"),
        ("ATTEST-RESID", "95"),
    ],
)
def test_class_for_type(type_code: str, class_code: str) -> None:
    assert class_for_type(type_code) == class_code
    assert class_for_type(f" {type_code} ") == class_code


def test_class_for_type_does_not_guess() -> None:
    assert class_for_type("NOPE") is None
    assert class_for_type("") is None


def test_every_type_of_j07_has_a_class_but_the_implant_card() -> None:
    # ASS_X04 (2024-04-26) predates 101881-1 "Carte d'implant" (J07 2024-09-27): to add when NOS maps it.
    missing = {c.code for c in value_sets().type_code if class_for_type(c.code) is None}
    assert missing == {"101881-1"}


def test_every_class_of_the_table_is_in_j06_but_the_two_newer_ones() -> None:
    # 95 Document de gestion and 99 Document technique are in TRE_A03 but not in the saved J06 (2020-12-17).
    classes = value_sets().class_code
    assert {c for c in set(CLASS_FOR_TYPE.values()) if c not in classes} == {"95", "99"}


def test_every_dmp_type_is_a_ci_sis_type_but_the_old_pathology_code() -> None:
    vs = value_sets()
    assert {c.code for c in vs.type_code_dmp if (c.system, c.code) not in vs.type_code} == {"11526-1"}

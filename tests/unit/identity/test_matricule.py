"""Matricule INS: parsing rules, control key, fast validation and the INS (matricule + OID)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from carnet.errors import InvalidMatricule
from carnet.identity.matricule import (
    Ins,
    InsOid,
    MatriculeKind,
    compute_key,
    is_valid_matricule,
    parse_matricule,
)

VALID = ["279035121518989", "277076322082910", "253072A07300443", "253072B07300470", "295109912611193"]
INVALID_KEYS = ["222127505611201", "221042545611404"]
ALLOWED_MONTHS = [f"{m:02d}" for m in (*range(1, 13), 20, *range(30, 43), *range(50, 100))]
ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def oracle_key(body: str) -> str:
    """The key, computed independently of the code under test."""
    digits = body[:5] + {"2A": "19", "2B": "18"}.get(body[5:7], body[5:7]) + body[7:]
    return f"{97 - int(digits) % 97:02d}" if digits.isascii() and digits.isdigit() else "00"


def nir(
    sex: str = "2",
    year: str = "79",
    month: str = "03",
    place: str = "51215",
    order: str = "189",
    key: str | None = None,
) -> str:
    """A matricule built from its parts; the key is computed unless given."""
    body = sex + year + month + place + order
    return body + (oracle_key(body) if key is None else key)


def rejected_part(text: str) -> str:
    with pytest.raises(InvalidMatricule) as caught:
        parse_matricule(text)
    return caught.value.part


# --- known vectors -------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", VALID)
def test_reference_vectors_are_valid(value: str) -> None:
    assert parse_matricule(value).value == value
    assert is_valid_matricule(value)


@pytest.mark.parametrize("value", INVALID_KEYS)
def test_reference_vectors_with_a_wrong_key_are_rejected_on_the_key(value: str) -> None:
    assert rejected_part(value) == "key"
    assert not is_valid_matricule(value)


def test_fr_core_example_is_rejected_and_its_key_is_wrong_too() -> None:
    # 123456789012244: month 45 does not exist, and the key would be wrong anyway.
    assert rejected_part("123456789012244") == "month"
    assert compute_key("1234567890122") != "44"
    assert not is_valid_matricule("123456789012244")


def test_parts_of_the_ci_sis_test_identity() -> None:
    m = parse_matricule("279035121518989")
    assert (m.sex_digit, m.sex, m.year, m.month) == ("2", "F", "79", "03")
    assert (m.department, m.commune, m.order, m.key) == ("51", "215", "189", "89")
    assert not m.born_abroad
    assert str(m) == "279035121518989"


def test_parts_of_a_person_born_abroad() -> None:
    m = parse_matricule("295109912611193")
    assert (m.sex, m.department, m.commune, m.order, m.key) == ("F", "99", "126", "111", "93")
    assert m.born_abroad


def test_parts_of_corsica_and_overseas_matricules() -> None:
    corsica = parse_matricule("253072A07300443")
    assert (corsica.department, corsica.commune, corsica.sex) == ("2A", "073", "F")
    overseas = parse_matricule(nir(sex="1", place="97105"))
    assert (overseas.department, overseas.commune, overseas.sex) == ("971", "05", "M")
    assert not overseas.born_abroad


@pytest.mark.parametrize(
    "text",
    [" 279035121518989 ", "2 79 03 51 215 189 89", "2\u00a079\u202f03 51215189\t89", "253072a07300443"],
    ids=["surrounding spaces", "inner spaces", "no-break spaces and tab", "lower-case corsica"],
)
def test_spaces_are_removed_and_letters_upper_cased(text: str) -> None:
    expected = "".join(text.split()).upper()
    assert parse_matricule(text).value == expected
    assert is_valid_matricule(text)


def test_compute_key() -> None:
    assert compute_key("2790351215189") == "89"
    assert compute_key("253072A073004") == "43"
    assert compute_key("253072B073004") == "70"


@pytest.mark.parametrize("bad", ["279035121518", "27903512151898", "2790X51215189", "2537A2A073004"])
def test_compute_key_refuses_a_malformed_body(bad: str) -> None:
    with pytest.raises(InvalidMatricule) as caught:
        compute_key(bad)
    assert caught.value.part == "characters"


# --- one row per rule ----------------------------------------------------------------------------------

REJECTIONS = [
    # length: 15 characters once spaces are removed
    ("length", "14 characters", "27903512151898"),
    ("length", "16 characters", "2790351215189890"),
    ("length", "empty", ""),
    ("length", "only spaces", "     "),
    # characters: digits only, except 2A/2B at positions 6-7
    ("characters", "letter in the order", nir(order="18X")),
    ("characters", "letter in the year", nir(year="7a")),
    ("characters", "3A is not Corsica", nir(place="3A215")),
    ("characters", "2C is not Corsica", nir(place="2C215")),
    ("characters", "A2 is not Corsica", nir(place="A2215")),
    ("characters", "Corsica letter in the commune", nir(place="212A5")),
    ("characters", "superscript digit", nir(year="7²")),
    ("characters", "arabic-indic digit", nir(year="7٩")),
    ("characters", "punctuation", nir(order="18.")),
    # sex: first digit in 1, 2, 3, 4, 7, 8
    ("sex", "0", nir(sex="0")),
    ("sex", "5", nir(sex="5")),
    ("sex", "6", nir(sex="6")),
    ("sex", "9", nir(sex="9")),
    # month: 01-12, 20, 30-42, 50-99
    ("month", "00", nir(month="00")),
    ("month", "13", nir(month="13")),
    ("month", "19", nir(month="19")),
    ("month", "21", nir(month="21")),
    ("month", "29", nir(month="29")),
    ("month", "43", nir(month="43")),
    ("month", "49", nir(month="49")),
    # department: not 00; 97 followed by 1-8
    ("department", "00", nir(place="00215")),
    ("department", "970", nir(place="97015")),
    ("department", "979", nir(place="97915")),
    # commune: not all zeros (3 digits, 2 for overseas, country code for 99)
    ("commune", "000", nir(place="51000")),
    ("commune", "000 in Corsica", nir(place="2A000")),
    ("commune", "00 overseas", nir(place="97100")),
    ("commune", "country 000", nir(place="99000")),
    # order: not 000
    ("order", "000", nir(order="000")),
    # key: 01-97 and equal to 97 - (first 13 mod 97)
    ("key", "00", nir(key="00")),
    ("key", "98", nir(key="98")),
    ("key", "99", nir(key="99")),
    ("key", "off by one", nir(key="88")),
    ("key", "key of the other Corsican department", "253072B07300443"),
]


@pytest.mark.parametrize(
    ("part", "text"), [(p, t) for p, _, t in REJECTIONS], ids=[f"{p}: {i}" for p, i, _ in REJECTIONS]
)
def test_each_rule_rejects_its_part(part: str, text: str) -> None:
    assert rejected_part(text) == part
    assert not is_valid_matricule(text)


ACCEPTED_EDGES = (
    [nir(sex=sex) for sex in "123478"]
    + [nir(month=month) for month in ("01", "12", "20", "30", "42", "50", "99")]
    + [
        nir(place=place)
        for place in ("01001", "20004", "2A004", "2B999", "95999", "96123", "97101", "97899", "98001", "99999")
    ]
    + [nir(order="001"), nir(order="999")]
)


@pytest.mark.parametrize("text", ACCEPTED_EDGES)
def test_boundaries_of_each_rule_are_accepted(text: str) -> None:
    assert parse_matricule(text).value == text
    assert is_valid_matricule(text)


def test_messages_say_what_was_expected() -> None:
    with pytest.raises(InvalidMatricule) as caught:
        parse_matricule(nir(key="34"))
    assert caught.value.message == "Clé de contrôle incorrecte : 89 attendu, 34 reçu"
    assert caught.value.field == "matricule"
    with pytest.raises(InvalidMatricule, match="Mois de naissance incorrect.*13 reçu"):
        parse_matricule(nir(month="13"))
    with pytest.raises(InvalidMatricule, match="« X » en position 15"):
        parse_matricule("27903512151898X")


# --- properties ----------------------------------------------------------------------------------------


def _numbered(low: int, high: int, width: int) -> st.SearchStrategy[str]:
    return st.integers(low, high).map(lambda n: f"{n:0{width}d}")


places = st.one_of(
    st.tuples(_numbered(1, 96, 2), _numbered(1, 999, 3)).map("".join),
    st.tuples(st.sampled_from(["2A", "2B"]), _numbered(1, 999, 3)).map("".join),
    st.tuples(st.just("97"), _numbered(1, 8, 1), _numbered(1, 99, 2)).map("".join),
    st.tuples(st.sampled_from(["98", "99"]), _numbered(1, 999, 3)).map("".join),
)
valid_matricules = st.builds(
    nir,
    sex=st.sampled_from("123478"),
    year=_numbered(0, 99, 2),
    month=st.sampled_from(ALLOWED_MONTHS),
    place=places,
    order=_numbered(1, 999, 3),
)


def _accepted(text: str) -> bool:
    try:
        parse_matricule(text)
    except InvalidMatricule:
        return False
    return True


@given(valid_matricules)
def test_generated_matricules_are_valid(value: str) -> None:
    assert parse_matricule(value).value == value
    assert is_valid_matricule(value)


@given(valid_matricules)
def test_every_single_substitution_is_rejected(value: str) -> None:
    for i, original in enumerate(value):
        for c in ALPHABET:
            if c != original:
                mutated = value[:i] + c + value[i + 1 :]
                assert not _accepted(mutated), mutated
                assert not is_valid_matricule(mutated), mutated


@given(valid_matricules)
def test_every_adjacent_transposition_is_rejected(value: str) -> None:
    for i in range(14):
        if value[i] != value[i + 1]:
            swapped = value[:i] + value[i + 1] + value[i] + value[i + 2 :]
            assert not _accepted(swapped), swapped
            assert not is_valid_matricule(swapped), swapped


@given(
    st.one_of(
        st.text(),
        st.text(alphabet="0123456789", min_size=15, max_size=15),
        st.text(alphabet="0123456789ABab \u00a0", min_size=13, max_size=18),
        valid_matricules.flatmap(lambda v: st.sampled_from([v, v.lower(), f" {v[:7]} {v[7:]} ", v + "0", v[:-1]])),
    )
)
def test_fast_validation_agrees_with_parsing(text: str) -> None:
    assert is_valid_matricule(text) is _accepted(text)


# --- INS -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("oid", "kind", "label"),
    [
        ("1.2.250.1.213.1.4.8", MatriculeKind.NIR, "INS-NIR"),
        ("1.2.250.1.213.1.4.9", MatriculeKind.NIA, "INS-NIA"),
        ("1.2.250.1.213.1.4.10", MatriculeKind.NIR, "INS-NIR de test"),
        ("1.2.250.1.213.1.4.11", MatriculeKind.NIR, "INS-NIR de démonstration"),
    ],
)
def test_ins_oids(oid: str, kind: MatriculeKind, label: str) -> None:
    ins = Ins.parse("279035121518989", oid)
    assert ins.oid is InsOid(oid)
    assert ins.kind is kind
    assert ins.oid.label == label
    assert ins.system == f"urn:oid:{oid}"
    assert ins.value == "279035121518989"


def test_ins_accepts_an_urn_and_a_spaced_matricule() -> None:
    ins = Ins.parse("2 79 03 51 215 189 89", "urn:oid:1.2.250.1.213.1.4.10")
    assert (ins.value, ins.oid) == ("279035121518989", InsOid.TEST_NIR)


@pytest.mark.parametrize(
    ("oid", "fragment"),
    [
        ("1.2.250.1.213.1.4.13", "numéro de sécurité sociale"),
        ("1.2.250.1.213.1.4.14", "numéro de sécurité sociale"),
        ("1.2.250.1.213.1.4.2", "INS-C"),
        ("1.2.250.1.213.1.4.80", "inconnu"),
        ("", "inconnu"),
    ],
)
def test_ins_refuses_oids_that_are_not_ins(oid: str, fragment: str) -> None:
    with pytest.raises(InvalidMatricule) as caught:
        Ins.parse("279035121518989", oid)
    assert caught.value.part == "oid"
    assert fragment in caught.value.message


def test_ins_refuses_an_invalid_matricule() -> None:
    with pytest.raises(InvalidMatricule) as caught:
        Ins.parse("279035121518988", InsOid.NIR)
    assert caught.value.part == "key"

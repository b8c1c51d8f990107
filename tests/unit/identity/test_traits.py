"""Identity traits: RNIV name normalisation, sex, birth date, birth place, and INS trait changes."""

from __future__ import annotations

import dataclasses
import re
from datetime import date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from carnet.errors import InvalidTrait
from carnet.identity.traits import (
    INS_TRAIT_FIELDS,
    Traits,
    changed_ins_traits,
    make_traits,
    normalise_birth_place,
    normalise_first_names,
    normalise_name,
)

TODAY = date(2025, 6, 15)
NORMALISED_NAME_RE = re.compile(r"[A-Z]+(?:(?: |-|--|')[A-Z]+)*")


# --- names ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Müller", "MULLER"),
        ("Lætitia", "LAETITIA"),
        ("Œdipe", "OEDIPE"),
        ("Straße", "STRASSE"),
        ("O’Brien", "O'BRIEN"),
        ("O‘Neil", "O'NEIL"),
        ("O`Neil", "O'NEIL"),
        ("O´Neil", "O'NEIL"),
        ("d ' Artagnan", "D'ARTAGNAN"),
        ("  jean  -  pierre ", "JEAN-PIERRE"),
        ("DUPONT--DURAND", "DUPONT--DURAND"),
        ("Dupont -- Durand", "DUPONT--DURAND"),
        ("Zoë-Élise", "ZOE-ELISE"),
        ("François Çağlar", "FRANCOIS CAGLAR"),
        ("Søren", "SOREN"),
        ("Jean\u00a0Paul", "JEAN PAUL"),
        ("Jean\tPaul", "JEAN PAUL"),
        ("ＪＥＡＮ", "JEAN"),
        ("A" * 100, "A" * 100),
    ],
)
def test_names_are_normalised(raw: str, expected: str) -> None:
    assert normalise_name(raw, field="birth_name") == expected


@pytest.mark.parametrize(
    ("raw", "char"), [("Dupont3", "3"), ("dupont@x", "@"), ("Du_pont", "_"), ("Dupont.", "."), ("Jean, Paul", ",")]
)
@pytest.mark.parametrize(
    ("field", "label"),
    [("birth_name", "le nom de naissance"), ("first_name", "le premier prénom"), ("used_name", "le nom utilisé")],
)
def test_forbidden_characters_are_named_with_the_field(raw: str, char: str, field: str, label: str) -> None:
    with pytest.raises(InvalidTrait) as caught:
        normalise_name(raw, field=field)
    assert caught.value.message == f"Caractère non autorisé « {char} » dans {label}"
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ("Dupont---Durand", "trois tirets"),
        ("Dupont - - - Durand", "trois tirets"),
        ("Dupont-'Durand", "« -' »"),
        ("O''Brien", "« '' »"),
        ("-Dupont", "commencer et se terminer par une lettre"),
        ("Dupont'", "commencer et se terminer par une lettre"),
        ("--", "commencer et se terminer par une lettre"),
        ("", "Le nom de naissance est obligatoire"),
        ("   ", "Le nom de naissance est obligatoire"),
        ("A" * 101, "dépasse 100 caractères"),
    ],
)
def test_malformed_names_are_refused(raw: str, fragment: str) -> None:
    with pytest.raises(InvalidTrait) as caught:
        normalise_name(raw, field="birth_name")
    assert fragment in caught.value.message
    assert "nom de naissance" in caught.value.message
    assert caught.value.field == "birth_name"


NAME_ALPHABET = "abcdezAÉÈçàâäîïôöùûüÿñœæßøŒÆ ’'`-\u00a0\t"


@given(st.one_of(st.text(), st.text(alphabet=NAME_ALPHABET)))
def test_normalisation_is_idempotent(raw: str) -> None:
    try:
        once = normalise_name(raw, field="birth_name")
    except InvalidTrait:
        return
    assert NORMALISED_NAME_RE.fullmatch(once)
    assert len(once) <= 100
    assert normalise_name(once, field="birth_name") == once


words = st.text(alphabet="abcdeéèçàöüœæßÀÉÖ", min_size=1, max_size=8)
separators = st.sampled_from([" ", "  ", "-", " - ", "--", " -- ", "'", "’", " ' "])


@given(st.lists(st.tuples(separators, words), max_size=5), words)
def test_well_formed_names_are_always_accepted(parts: list[tuple[str, str]], first: str) -> None:
    raw = first + "".join(sep + word for sep, word in parts)
    once = normalise_name(raw, field="birth_name")
    assert NORMALISED_NAME_RE.fullmatch(once)
    assert normalise_name(once, field="birth_name") == once


def test_first_names_list_keeps_composed_first_names() -> None:
    assert normalise_first_names("jean-pierre  Paul") == ("JEAN-PIERRE", "PAUL")
    assert normalise_first_names("Zoë") == ("ZOE",)


def test_first_names_list_errors_name_the_list() -> None:
    with pytest.raises(InvalidTrait) as caught:
        normalise_first_names("Jean 2")
    assert caught.value.message == "Caractère non autorisé « 2 » dans la liste des prénoms de naissance"
    assert caught.value.field == "birth_first_names"


# --- traits --------------------------------------------------------------------------------------------


def traits(**overrides: object) -> Traits:
    """The CI-SIS test identity, with overrides."""
    values: dict[str, object] = {
        "birth_name": "Pat-Trois",
        "birth_first_names": "Dominique Marie-Louise",
        "sex": "F",
        "birth_date": "1979-03-28",
        "birth_place": "51215",
        "today": TODAY,
    }
    return make_traits(**(values | overrides))  # type: ignore[arg-type]


def test_make_traits_normalises_everything() -> None:
    assert traits(used_name=" martin ", used_first_name="Dominique") == Traits(
        birth_name="PAT-TROIS",
        first_name="DOMINIQUE",
        birth_first_names="DOMINIQUE MARIE-LOUISE",
        sex="F",
        birth_date=date(1979, 3, 28),
        birth_place="51215",
        used_name="MARTIN",
        used_first_name="DOMINIQUE",
    )


def test_blank_used_names_are_absent() -> None:
    t = traits(used_name="  ", used_first_name="")
    assert (t.used_name, t.used_first_name) == (None, None)


def test_first_name_given_must_be_the_first_birth_first_name() -> None:
    assert traits(first_name="dominique").first_name == "DOMINIQUE"
    with pytest.raises(InvalidTrait) as caught:
        traits(first_name="Marie-Louise")
    assert caught.value.field == "first_name"
    assert "premier prénom" in caught.value.message


@pytest.mark.parametrize("field", ["birth_name", "birth_first_names", "first_name", "used_name", "used_first_name"])
def test_each_name_trait_is_checked_under_its_own_field(field: str) -> None:
    with pytest.raises(InvalidTrait) as caught:
        traits(**{field: "Dominique 2"})
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("raw", "expected"), [("M", "M"), ("F", "F"), ("m", "M"), ("f", "F"), ("1", "M"), ("2", "F"), (" f ", "F")]
)
def test_sex_is_accepted_in_its_usual_forms(raw: str, expected: str) -> None:
    assert traits(sex=raw).sex == expected


@pytest.mark.parametrize("raw", ["U", "I", "X", "3", "", "MF"])
def test_other_sexes_are_refused(raw: str) -> None:
    with pytest.raises(InvalidTrait) as caught:
        traits(sex=raw)
    assert caught.value.field == "sex"
    assert "M ou F attendu" in caught.value.message


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1979-03-28", date(1979, 3, 28)),
        (date(1880, 1, 1), date(1880, 1, 1)),
        (TODAY, TODAY),
        ("2024-02-29", date(2024, 2, 29)),
    ],
)
def test_birth_dates_accepted(raw: date | str, expected: date) -> None:
    assert traits(birth_date=raw).birth_date == expected


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        (TODAY + timedelta(days=1), "futur"),
        ("2030-01-01", "futur"),
        (date(1879, 12, 31), "antérieure au 1880-01-01"),
        ("1879-06-01", "antérieure au 1880-01-01"),
        ("2023-02-30", "inexistante"),
        ("2023-13-01", "inexistante"),
        ("28/03/1979", "format AAAA-MM-JJ"),
        ("19790328", "format AAAA-MM-JJ"),
        (datetime(1979, 3, 28, 12, 0), "sans heure"),
    ],
)
def test_birth_dates_refused(raw: date | str, fragment: str) -> None:
    with pytest.raises(InvalidTrait) as caught:
        traits(birth_date=raw)
    assert caught.value.field == "birth_date"
    assert "Date de naissance" in caught.value.message
    assert fragment in caught.value.message


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("51215", "51215"),
        (" 75056 ", "75056"),
        ("2A004", "2A004"),
        ("2b033", "2B033"),
        ("97105", "97105"),
        ("97801", "97801"),
        ("98611", "98611"),
        ("99350", "99350"),
        ("99999", "99999"),
    ],
)
def test_birth_place_codes_accepted(raw: str, expected: str) -> None:
    assert normalise_birth_place(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "5121",
        "512155",
        "00123",
        "20004",
        "2C004",
        "A1234",
        "97015",
        "97901",
        "97100",
        "51000",
        "99000",
        "75 056",
        "7505٦",
    ],
)
def test_birth_place_codes_refused(raw: str) -> None:
    with pytest.raises(InvalidTrait) as caught:
        traits(birth_place=raw)
    assert caught.value.field == "birth_place"
    assert "lieu de naissance" in caught.value.message


# --- INS trait changes ---------------------------------------------------------------------------------

OTHER_VALUES = {
    "birth_name": "PAT-QUATRE",
    "first_name": "MARIE",
    "birth_first_names": "DOMINIQUE MARIE",
    "sex": "M",
    "birth_date": date(1979, 3, 29),
    "birth_place": "51216",
}


def test_identical_traits_have_no_change() -> None:
    assert changed_ins_traits(traits(), traits()) == frozenset()


@pytest.mark.parametrize("field", INS_TRAIT_FIELDS)
def test_each_ins_trait_change_is_reported(field: str) -> None:
    old = traits()
    assert changed_ins_traits(old, dataclasses.replace(old, **{field: OTHER_VALUES[field]})) == {field}


def test_used_names_are_not_ins_traits() -> None:
    old = traits()
    new = dataclasses.replace(old, used_name="MARTIN", used_first_name="DOM", birth_place="51216")
    assert changed_ins_traits(old, new) == {"birth_place"}

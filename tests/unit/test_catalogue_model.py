"""The catalogue's pure rules: the data categories (J06 labels as the reference has them), the scopes read as
categories read and fed against a convention (a grid, and a property: never a category outside the convention),
the redirect URIs an app may register, the commission's checklist."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from carnet.access.model import GRANT_ALIASES, SpaceCategory
from carnet.catalogue.model import (
    CATEGORIES,
    CLASS_SYSTEM,
    DOCUMENT_CODES,
    FEED_CODES,
    FEEDS,
    category_label,
    consent_feed_scopes,
    consent_scopes,
    criteria,
    feed_problem,
    months_later,
    parse_scopes,
    read_scopes,
    redirect_uri_problem,
    token_scopes,
)

J06 = Path(__file__).resolve().parents[2].parent / "shared" / "reference" / "nos" / "JDV_J06_XdsClassCode_CISIS.csv"
VITALS = "http://terminology.hl7.org/CodeSystem/observation-category|vital-signs"


def test_the_document_categories_are_the_j06_classes_with_their_official_labels() -> None:
    with J06.open(encoding="utf-8") as source:
        rows = {r["code"]: r for r in csv.DictReader(source) if r["code"].isdigit()}
    assert {c.code: c.fr for c in CATEGORIES if c.kind == "document"} == {k: r["display"] for k, r in rows.items()}
    assert {r["codeSystemUrl"] for r in rows.values()} == {CLASS_SYSTEM}
    assert [c.code for c in CATEGORIES if c.kind == "space"] == ["profile", "vitals", "vaccinations", "agenda",
                                                                 "reimbursements"]  # fmt: skip
    assert category_label("vitals", "en") == "Vital signs" and category_label("inconnue") == "inconnue"


CONVENTION = frozenset({"11", "10", "vitals"})


@pytest.mark.parametrize(
    ("scope", "categories", "error"),
    [
        (None, CONVENTION, None),  # nothing named: the whole convention
        ("launch/patient", CONVENTION, None),
        (f"patient/DocumentReference.rs?category={CLASS_SYSTEM}|11", {"11"}, None),
        ("patient/DocumentReference.rs?category=urn:oid:1.2.250.1.213.1.1.4.1|10", {"10"}, None),
        ("patient/DocumentReference.rs?category=11 patient/Binary.r patient/Patient.r", {"11"}, None),
        ("patient/DocumentReference.read", {"10", "11"}, None),  # every document class of the convention
        (f"patient/Observation.rs?category={VITALS}", {"vitals"}, None),
        ("patient/Observation.rs", {"vitals"}, None),
        ("patient/Immunization.rs", None, "hors de la convention de l'application : Vaccinations"),
        ("patient/DocumentReference.rs?category=42", None, "hors de la convention de l'application : Prescription"),
        ("patient/DocumentReference.rs?category=99", None, "catégorie de document inconnue"),
        ("patient/DocumentReference.rs?category=http://autre|11", None, "catégorie de document inconnue"),
        ("patient/Observation.rs?category=laboratory", None, "portée non prise en charge"),
        ("patient/Observation.cruds", None, "ne permet pas à l'application d'alimenter : Constantes de santé"),
        ("patient/DocumentReference.c", None, "ne dépose pas de documents"),
        ("user/DocumentReference.rs", None, "portée non prise en charge"),
        ("openid", None, "portée non prise en charge"),
        ("patient/Patient.r", CONVENTION, None),
    ],
)
def test_scopes_are_read_as_categories_of_the_convention(scope: str | None, categories: set[str] | None,
                                                         error: str | None) -> None:  # fmt: skip
    asked = parse_scopes(scope, CONVENTION)
    if error is None:
        assert asked.error is None and asked.categories == frozenset(categories or ())
    else:
        assert asked.error == "invalid_scope" and error in (asked.description or "")


FEEDING = frozenset({"vitals", "agenda"})


@pytest.mark.parametrize(
    ("scope", "categories", "feeds", "error"),
    [
        (None, CONVENTION, FEEDING, None),  # nothing named: the whole convention, read and fed
        ("launch/patient", CONVENTION, FEEDING, None),
        ("patient/Observation.c", set(), {"vitals"}, None),  # feeding only
        (f"patient/Observation.c?category={VITALS}", set(), {"vitals"}, None),
        ("patient/Observation.write", set(), {"vitals"}, None),  # SMART v1
        ("patient/Observation.u patient/Appointment.cu", set(), {"vitals", "agenda"}, None),
        ("patient/Observation.cruds", {"vitals"}, {"vitals"}, None),  # reads and feeds
        ("patient/Observation.*", {"vitals"}, {"vitals"}, None),
        (f"patient/DocumentReference.rs?category={CLASS_SYSTEM}|11 patient/Appointment.c", {"11"}, {"agenda"}, None),
        ("patient/Immunization.c", None, None, "ne permet pas à l'application d'alimenter : Vaccinations"),
        ("patient/AllergyIntolerance.c", None, None, "d'alimenter : Allergies et intolérances"),
        (
            "patient/Immunization.rs patient/Immunization.c",
            None,
            None,
            "hors de la convention de l'application : Vaccinations ; catégories que la convention ne permet pas",
        ),
        ("patient/DocumentReference.cruds", None, None, "ne dépose pas de documents"),
        ("patient/Binary.c", None, None, "ne dépose pas de documents"),
        ("patient/QuestionnaireResponse.c", None, None, "rempli par le titulaire seul"),
        ("patient/ExplanationOfBenefit.c", None, None, "n'alimente que les constantes de santé"),
        ("patient/Patient.u", None, None, "n'alimente que les constantes de santé"),
        ("patient/Observation.c?category=laboratory", None, None, "n'alimente que les constantes de santé"),
        ("patient/Observation.rc", None, None, "portée non prise en charge"),  # v2 letters out of order
        ("patient/Observation.x", None, None, "portée non prise en charge"),
    ],
)
def test_write_scopes_are_read_as_feed_categories_of_the_convention(
    scope: str | None, categories: set[str] | None, feeds: set[str] | None, error: str | None
) -> None:
    asked = parse_scopes(scope, CONVENTION, FEEDING)
    if error is None:
        assert (asked.error, asked.categories, asked.feeds) == (
            None,
            frozenset(categories or ()),
            frozenset(feeds or ()),
        )
    else:
        assert asked.error == "invalid_scope" and error in (asked.description or ""), asked.description


_WORDS = st.sampled_from([
    "launch/patient", "patient/Patient.r", "patient/Binary.r", "patient/DocumentReference.rs",
    f"patient/DocumentReference.rs?category={CLASS_SYSTEM}|11", "patient/DocumentReference.rs?category=42",
    "patient/DocumentReference.c", "patient/Observation.rs", "patient/Observation.c", "patient/Observation.cruds",
    f"patient/Observation.cu?category={VITALS}", "patient/Observation.write", "patient/Immunization.rs",
    "patient/Immunization.c", "patient/AllergyIntolerance.rs", "patient/AllergyIntolerance.cu",
    "patient/Appointment.c", "patient/Appointment.*", "patient/QuestionnaireResponse.rs",
    "patient/QuestionnaireResponse.c", "patient/ExplanationOfBenefit.rs", "patient/ExplanationOfBenefit.write",
    "patient/Observation.d", "patient/Observation.read", "openid", "user/Observation.c",
])  # fmt: skip
_CODES = [c.code for c in CATEGORIES]


@given(words=st.lists(_WORDS, max_size=6), convention=st.frozensets(st.sampled_from(_CODES)),
       feeding=st.frozensets(st.sampled_from(sorted(FEED_CODES))))  # fmt: skip
def test_parse_scopes_never_grants_a_category_outside_the_convention(
    words: list[str], convention: frozenset[str], feeding: frozenset[str]
) -> None:
    asked = parse_scopes(" ".join(words), convention, feeding)
    if asked.error is None:
        assert asked.categories <= convention and asked.feeds <= feeding
        assert asked.categories or asked.feeds
        assert asked.feeds <= FEED_CODES  # never a document class, the questionnaire or the reimbursements
    else:
        assert asked.error == "invalid_scope" and asked.description
        assert asked.beyond == asked.categories - convention and asked.feed_beyond == asked.feeds - feeding


def test_the_feed_categories_are_the_space_categories_whose_services_accept_an_app() -> None:
    assert [f.code for f in FEEDS] == ["vitals", "vaccinations", "allergies", "agenda"]
    # Each feed category names exactly one space: category in the grants (the questionnaire is never among them).
    assert {code: GRANT_ALIASES[code] for code in FEED_CODES} == {
        "vitals": {SpaceCategory.VITALS.value}, "vaccinations": {SpaceCategory.VACCINATIONS.value},
        "allergies": {SpaceCategory.ALLERGIES.value}, "agenda": {SpaceCategory.AGENDA.value}}  # fmt: skip
    assert feed_problem("vitals") is None
    assert "ne dépose pas de documents" in (feed_problem("11") or "")
    assert "titulaire seul" in (feed_problem("profile") or "")
    assert "Assurance Maladie" in (feed_problem("reimbursements") or "")
    assert category_label("allergies") == "Allergies et intolérances" and category_label("agenda", "en") == "Agenda"


def test_the_token_adds_the_create_of_each_fed_category_and_the_consent_screen_its_granular_scope() -> None:
    assert token_scopes(frozenset({"11"}), frozenset({"agenda", "vitals"})) == [
        "launch/patient", "patient/Patient.r", "patient/DocumentReference.rs", "patient/Binary.r",
        "patient/Observation.c", "patient/Appointment.cu"]  # fmt: skip
    assert token_scopes(frozenset(), frozenset({"allergies"})) == ["launch/patient", "patient/Patient.r",
                                                                    "patient/AllergyIntolerance.c"]  # fmt: skip
    assert consent_feed_scopes(frozenset({"vitals", "vaccinations"})) == [
        f"patient/Observation.c?category={VITALS}", "patient/Immunization.c"]  # fmt: skip


def test_a_convention_without_documents_refuses_document_scopes() -> None:
    asked = parse_scopes("patient/DocumentReference.rs", frozenset({"vitals"}))
    assert asked.error == "invalid_scope" and asked.beyond == frozenset({"10"})


def test_the_token_carries_the_coarse_scopes_and_the_consent_screen_the_granular_ones() -> None:
    assert read_scopes(frozenset({"11", "10", "vitals"})) == ["launch/patient", "patient/Patient.r",
                                                              "patient/DocumentReference.rs", "patient/Binary.r",
                                                              "patient/Observation.rs"]  # fmt: skip
    assert consent_scopes(frozenset({"vitals", "11"})) == [f"patient/DocumentReference.rs?category={CLASS_SYSTEM}|11",
                                                           f"patient/Observation.rs?category={VITALS}"]  # fmt: skip
    assert DOCUMENT_CODES == {"10", "11", "31", "42", "43", "44", "45", "52", "60", "90"}


@pytest.mark.parametrize(
    ("uri", "problem"),
    [
        ("https://tensio-app.fr/oauth/retour", None),
        ("http://127.0.0.1:8765/callback", None),
        ("http://localhost/cb", None),
        ("http://tensio-app.fr/cb", "hors de la boucle locale"),
        ("https://tensio-app.fr/cb#fragment", "fragment"),
        ("https://moi:secret@tensio-app.fr/cb", "identifiant ou mot de passe"),
        ("tensio://callback", "schéma autre que https"),
        ("/relative", "non absolue"),
        ("https://" + "a" * 500, "trop longue"),
    ],
)
def test_redirect_uris_an_app_may_register(uri: str, problem: str | None) -> None:
    found = redirect_uri_problem(uri)
    assert (found is None) if problem is None else (problem in (found or ""))


def test_the_checklist_covers_interoperability_security_and_ethics_each_with_its_source() -> None:
    rows = criteria()
    assert len({c.id for c in rows}) == len(rows) >= 7
    assert {c.domain for c in rows if c.mandatory} == {"interoperability", "security", "ethics"}
    assert all(c.fr and c.en and "seeds/004" in c.source for c in rows)


def test_a_convention_runs_calendar_months() -> None:
    start = dt.datetime(2026, 1, 31, 10, tzinfo=dt.UTC)
    assert months_later(start, 1) == dt.datetime(2026, 2, 28, 10, tzinfo=dt.UTC)
    assert months_later(start, 24) == dt.datetime(2028, 1, 31, 10, tzinfo=dt.UTC)
    assert months_later(start, 13) == dt.datetime(2027, 2, 28, 10, tzinfo=dt.UTC)


def test_a_space_category_of_the_access_decision_has_a_label_too() -> None:
    from carnet.catalogue.model import category_label

    assert category_label("space:vitals") == category_label("vitals") != "space:vitals"
    assert category_label("space:allergies") == "Allergies"
    assert category_label("space:allergies", "en") == "Allergies"
    assert category_label("space:inconnue") == "space:inconnue"

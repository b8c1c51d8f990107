"""The catalogue's pure rules: the data categories (J06 labels as the reference has them), the scopes read as
categories against a convention (a grid), the redirect URIs an app may register, the commission's checklist."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import pytest

from carnet.catalogue.model import (
    CATEGORIES,
    CLASS_SYSTEM,
    DOCUMENT_CODES,
    category_label,
    consent_scopes,
    criteria,
    months_later,
    parse_scopes,
    read_scopes,
    redirect_uri_problem,
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
        ("patient/Observation.cruds", None, "ne les modifie pas"),
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

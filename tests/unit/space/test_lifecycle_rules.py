"""The space's life without a database: the population file, contact details, the opposition code, dates, the PDF
letter read back by pypdf."""

from __future__ import annotations

import datetime as dt
import io

import pypdf
import pytest

from carnet.errors import ValidationError
from carnet.settings import Settings
from carnet.space.campaign import read_population
from carnet.space.lifecycle import DEFAULT_RETENTION_YEARS, OPPOSITION_DAYS, code_digest, new_code, years_after
from carnet.space.lifecycle_admin import ContactIn
from carnet.space.lifecycle_letter import Letter, render_pdf
from carnet.space.lifecycle_notice import french_date

GOOD = "279035121518989"


def test_the_population_file_is_read_with_its_contact_details() -> None:
    people = read_population(f"\ufeffins;email;telephone;adresse;code_postal;ville\n"
                             f"{GOOD};dominique@example.org;06 12 34 56 78;12 rue des Lilas;51100;Reims\n"
                             "\n277076322082910;;;;;\n")  # fmt: skip
    assert [p.ins for p in people] == [GOOD, "277076322082910"]
    assert people[0].contact.cleaned().phone == "0612345678" and people[1].contact.empty
    assert read_population(f"ins,email\n{GOOD},a@b.fr\n")[0].contact.email == "a@b.fr"


def test_every_bad_line_of_the_population_is_reported_and_nothing_read() -> None:
    with pytest.raises(ValidationError) as refused:
        read_population(f"ins;email;code_postal;ville;adresse\n{GOOD};pas-une-adresse;;;\n27903512151898;;;;\n"
                        f"{GOOD};;;;\n277076322082910;;5110;Reims;1 rue\n")  # fmt: skip
    message = refused.value.message
    assert "4 erreur(s), rien n'a été enregistré" in message
    assert "ligne 2, email : adresse électronique invalide" in message
    assert "ligne 3, ins : Le matricule INS doit comporter 15 caractères" in message
    assert "ligne 4, ins : 279035121518989 figure déjà ligne 2" in message
    assert "ligne 5, code_postal : 5 chiffres attendus" in message
    with pytest.raises(ValidationError, match="colonne « ins »"):
        read_population("nir;email\n1;2\n")
    with pytest.raises(ValidationError, match="colonnes inconnues prenom"):
        read_population("ins;prenom\n1;2\n")
    with pytest.raises(ValidationError, match="vide"):
        read_population("ins\n\n")


@pytest.mark.parametrize(
    ("contact", "problem"),
    [
        (ContactIn(email="dominique@exemple"), "email : adresse électronique invalide"),
        (ContactIn(email="a b@example.org"), "email"),
        (ContactIn(phone="0612"), "telephone"),
        (ContactIn(phone="+33 6 12 34 56 78"), None),
        (ContactIn(phone="0033612345678"), None),
        (ContactIn(address_line="1 rue", postal_code="51100"), "adresse : une adresse postale a une voie"),
        (ContactIn(address_line="Bahnhofstrasse 1", postal_code="8001", city="Zürich", country="Suisse"), None),
        (ContactIn(address_complement="Bâtiment B"), "complement"),
        (ContactIn(city="R" * 101, address_line="1 rue", postal_code="51100"), "city : 100 caractères au plus"),
    ],
)
def test_contact_details_are_checked_field_by_field(contact: ContactIn, problem: str | None) -> None:
    problems = contact.problems()
    if problem is None:
        assert problems == []
    else:
        assert any(p.startswith(problem) for p in problems), problems


def test_the_opposition_code_reads_aloud_and_is_kept_hashed() -> None:
    code = new_code()
    assert len(code) == 14 and code[4] == code[9] == "-" and not set(code) & set("01IO")
    assert code_digest(code) == code_digest(code.lower().replace("-", " ")) and len(code_digest(code)) == 64
    assert new_code() != code


def test_dates_of_the_rules() -> None:
    assert OPPOSITION_DAYS == 42 and DEFAULT_RETENTION_YEARS == 10
    assert Settings(_env_file=None).space_retention_years == DEFAULT_RETENTION_YEARS
    with pytest.raises(ValueError):
        Settings(_env_file=None, space_retention_years=0)
    assert years_after(dt.date(2026, 11, 22), 10) == dt.date(2036, 11, 22)
    assert years_after(dt.date(2028, 2, 29), 1) == dt.date(2029, 2, 28)
    assert years_after(dt.date(2027, 7, 9), -18) == dt.date(2009, 7, 9)
    assert french_date(dt.date(2027, 1, 1)) == "1er janvier 2027" and french_date(dt.date(2026, 8, 3)) == "3 août 2026"


def test_the_letter_is_a_one_page_pdf_whose_text_reads_back() -> None:
    letter = Letter(sender=("Mon espace santé",), recipient=("Mme Hélène LAGARDE", "3 place de l'Église",
                    "75011 PARIS"), place_and_date="Le 22 novembre 2026", subject="Objet : création (test) \\ « ok »",
                    paragraphs=("Ceci est un paragraphe assez long pour être coupé en plusieurs lignes : " * 4,),
                    highlight="Code d'opposition : K7QF-93XM-2P4A",
                    closing=("Le service Mon espace santé",))  # fmt: skip
    data = render_pdf(letter, title="Création de votre espace santé")
    assert data.startswith(b"%PDF-1.4") and data.rstrip().endswith(b"%%EOF")
    reader = pypdf.PdfReader(io.BytesIO(data), strict=True)
    assert len(reader.pages) == 1 and reader.metadata is not None
    assert reader.metadata.title == "Création de votre espace santé"
    text = reader.pages[0].extract_text()
    for part in ("Mme Hélène LAGARDE", "3 place de l'Église", "Objet : création (test) \\ « ok »",
                 "Code d'opposition : K7QF-93XM-2P4A"):  # fmt: skip
        assert part in text
    too_long = Letter(sender=(), recipient=(), place_and_date="", subject="", paragraphs=("ligne",) * 40)
    with pytest.raises(ValueError, match="trop longue"):
        render_pdf(too_long)

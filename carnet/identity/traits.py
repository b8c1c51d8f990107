"""Identity traits and their normalisation under the French identity-vigilance rules (RNIV).

Names keep only A–Z, space, hyphen and apostrophe, upper case, without diacritics; the list of birth first
names is space-separated, a composed first name keeps its hyphen ("JEAN-PIERRE PAUL").
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime

from carnet.errors import InvalidTrait

__all__ = [
    "INS_TRAIT_FIELDS",
    "MAX_NAME_LENGTH",
    "MIN_BIRTH_DATE",
    "UNKNOWN_BIRTH_PLACE",
    "Traits",
    "changed_ins_traits",
    "make_traits",
    "normalise_birth_date",
    "normalise_birth_place",
    "normalise_first_names",
    "normalise_name",
    "normalise_sex",
]

INS_TRAIT_FIELDS = ("birth_name", "first_name", "birth_first_names", "sex", "birth_date", "birth_place")
MAX_NAME_LENGTH = 100
MIN_BIRTH_DATE = date(1880, 1, 1)
UNKNOWN_BIRTH_PLACE = "99999"

# French labels, with their article, used in error messages.
_LABELS = {
    "birth_name": "le nom de naissance",
    "first_name": "le premier prénom",
    "birth_first_names": "la liste des prénoms de naissance",
    "used_name": "le nom utilisé",
    "used_first_name": "le prénom utilisé",
    "sex": "le sexe",
    "birth_date": "la date de naissance",
    "birth_place": "le lieu de naissance",
}

_APOSTROPHE_LIKE = "’‘`´ʼ"
# Applied before Unicode normalisation too: NFKC/NFKD turn "´" into a space and a combining accent.
_APOSTROPHES = str.maketrans(dict.fromkeys(_APOSTROPHE_LIKE, "'"))
# Ligatures and letters that have no Unicode decomposition, hence survive the removal of combining marks.
_LETTERS = str.maketrans(
    {"Œ": "OE", "Æ": "AE", "ß": "SS", "ẞ": "SS", "Ø": "O", "Ł": "L", "Đ": "D", "Ð": "D"}
    | dict.fromkeys(_APOSTROPHE_LIKE, "'")
)
_SPACE_AROUND_PUNCT_RE = re.compile(r" ?([-']) ?")
_FORBIDDEN_RE = re.compile(r"[^A-Z '-]")
_PUNCT_RUN_RE = re.compile(r"[-' ]{2,}")
_BIRTH_PLACE_RE = re.compile(r"(?:(?!00|20|97)[0-9]{2}|2[AB])(?!000)[0-9]{3}|97[1-8](?!00)[0-9]{2}")
_ISO_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def trait_label(field: str) -> str:
    return _LABELS.get(field, field)


def _capitalised(field: str) -> str:
    label = trait_label(field)
    return label[0].upper() + label[1:]


def normalise_name(value: str, *, field: str) -> str:
    """Normalise a name or first name to the RNIV form; raise :class:`InvalidTrait` if it cannot be."""
    # NFKD covers NFKC (compatibility forms: ligatures "ﬁ", full-width letters, no-break spaces) and
    # separates the diacritics, which are then dropped.
    text = unicodedata.normalize("NFKD", value.translate(_APOSTROPHES))
    text = "".join(c for c in text if not unicodedata.combining(c)).upper().translate(_LETTERS)
    text = " ".join(text.split())
    text = _SPACE_AROUND_PUNCT_RE.sub(r"\1", text)
    if not text:
        raise InvalidTrait(f"{_capitalised(field)} est obligatoire", field=field)
    bad = _FORBIDDEN_RE.search(text)
    if bad:
        raise InvalidTrait(f"Caractère non autorisé « {bad.group()} » dans {trait_label(field)}", field=field)
    for run in _PUNCT_RUN_RE.findall(text):
        if run != "--":
            detail = "trois tirets ou plus" if set(run) == {"-"} else f"« {run} »"
            raise InvalidTrait(
                f"Séparateurs non autorisés ({detail}) dans {trait_label(field)} : seul le double tiret est admis",
                field=field,
            )
    if not (text[0].isalpha() and text[-1].isalpha()):
        raise InvalidTrait(f"{_capitalised(field)} doit commencer et se terminer par une lettre", field=field)
    if len(text) > MAX_NAME_LENGTH:
        raise InvalidTrait(
            f"{_capitalised(field)} dépasse {MAX_NAME_LENGTH} caractères ({len(text)} reçus)", field=field
        )
    return text


def normalise_first_names(value: str) -> tuple[str, ...]:
    """Split and normalise the list of birth first names; ``" ".join(result)`` is the INS list, ``result[0]``
    the first birth first name."""
    return tuple(normalise_name(value, field="birth_first_names").split(" "))


def normalise_sex(value: str) -> str:
    """``"M"`` or ``"F"`` from M/F (any case) or the NIR digits 1/2."""
    sex = {"M": "M", "F": "F", "1": "M", "2": "F"}.get(value.strip().upper())
    if sex is None:
        raise InvalidTrait(f"Sexe non reconnu « {value} » : M ou F attendu", field="sex")
    return sex


def normalise_birth_date(value: date | str, *, today: date) -> date:
    """A real date (``date`` or ISO ``YYYY-MM-DD``) between 1880-01-01 and ``today``."""
    if isinstance(value, datetime):
        raise InvalidTrait("Date de naissance attendue sans heure (AAAA-MM-JJ)", field="birth_date")
    if isinstance(value, str):
        text = value.strip()
        if _ISO_DATE_RE.fullmatch(text) is None:
            raise InvalidTrait(
                f"Date de naissance « {value} » invalide : format AAAA-MM-JJ attendu", field="birth_date"
            )
        try:
            value = date.fromisoformat(text)
        except ValueError:
            raise InvalidTrait(f"Date de naissance « {text} » inexistante", field="birth_date") from None
    if value > today:
        raise InvalidTrait(
            f"Date de naissance {value.isoformat()} dans le futur (aujourd'hui : {today.isoformat()})",
            field="birth_date",
        )
    if value < MIN_BIRTH_DATE:
        raise InvalidTrait(
            f"Date de naissance {value.isoformat()} antérieure au {MIN_BIRTH_DATE.isoformat()}", field="birth_date"
        )
    return value


def normalise_birth_place(value: str) -> str:
    """The 5-character INSEE COG code of the birth place (commune, or 99 + country; 99999 = unknown)."""
    code = value.strip().upper()
    if _BIRTH_PLACE_RE.fullmatch(code) is None:
        raise InvalidTrait(
            f"Code du lieu de naissance « {value} » invalide : code INSEE (COG) de 5 caractères attendu "
            "(département + commune, 2A/2B pour la Corse, 97x + 2 chiffres outre-mer, 99 + code pays, "
            f"{UNKNOWN_BIRTH_PLACE} si inconnu)",
            field="birth_place",
        )
    return code


@dataclass(frozen=True, slots=True)
class Traits:
    """The identity traits of a person, normalised. Build it with :func:`make_traits`."""

    birth_name: str
    first_name: str
    birth_first_names: str
    sex: str
    birth_date: date
    birth_place: str
    used_name: str | None = None
    used_first_name: str | None = None


def _optional_name(value: str | None, field: str) -> str | None:
    return None if value is None or not value.strip() else normalise_name(value, field=field)


def make_traits(
    *,
    birth_name: str,
    first_name: str | None = None,
    birth_first_names: str,
    sex: str,
    birth_date: date | str,
    birth_place: str,
    used_name: str | None = None,
    used_first_name: str | None = None,
    today: date,
) -> Traits:
    """Normalise and check every trait; raise :class:`InvalidTrait` on the first one that breaks a rule."""
    name = normalise_name(birth_name, field="birth_name")
    first_names = normalise_first_names(birth_first_names)
    if first_name is None:
        first = first_names[0]
    else:
        first = normalise_name(first_name, field="first_name")
        if first != first_names[0]:
            raise InvalidTrait(
                f"Le premier prénom « {first} » doit être le premier de la liste des prénoms de naissance "
                f"« {' '.join(first_names)} »",
                field="first_name",
            )
    return Traits(
        birth_name=name,
        first_name=first,
        birth_first_names=" ".join(first_names),
        sex=normalise_sex(sex),
        birth_date=normalise_birth_date(birth_date, today=today),
        birth_place=normalise_birth_place(birth_place),
        used_name=_optional_name(used_name, "used_name"),
        used_first_name=_optional_name(used_first_name, "used_first_name"),
    )


def changed_ins_traits(old: Traits, new: Traits) -> frozenset[str]:
    """The names of the INS traits whose value differs between ``old`` and ``new``."""
    return frozenset(name for name in INS_TRAIT_FIELDS if getattr(old, name) != getattr(new, name))

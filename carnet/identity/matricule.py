"""Matricule INS (NIR or NIA): parsing, control key and the INS (matricule + OID).

Layout of the 15 characters: sex (1) · year (2) · month (2) · birth place (5: department 2 + commune 3,
department 97x + commune 2, or 99 + INSEE country code) · order (3) · key (2).
Key = 97 − (first 13 digits mod 97), Corsica "2A" → 19 and "2B" → 18 before the modulo.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from carnet.errors import InvalidMatricule

__all__ = [
    "OID_INS_NIA",
    "OID_INS_NIR",
    "OID_INS_NIR_DEMO",
    "OID_INS_NIR_TEST",
    "Ins",
    "InsOid",
    "Matricule",
    "MatriculeKind",
    "compute_key",
    "is_valid_matricule",
    "parse_matricule",
]

OID_INS_NIR = "1.2.250.1.213.1.4.8"
OID_INS_NIA = "1.2.250.1.213.1.4.9"
OID_INS_NIR_TEST = "1.2.250.1.213.1.4.10"
OID_INS_NIR_DEMO = "1.2.250.1.213.1.4.11"
# NOT INS: 1.2.250.1.213.1.4.13 / .14 are the NIR / NIA used as social-security numbers (e.g. the
# "ouvrant droit"), and 1.2.250.1.213.1.4.2 is the obsolete calculated INS-C.
_NOT_INS_OIDS = {
    "1.2.250.1.213.1.4.13": "le NIR utilisé comme numéro de sécurité sociale",
    "1.2.250.1.213.1.4.14": "le NIA utilisé comme numéro de sécurité sociale",
    "1.2.250.1.213.1.4.2": "l'ancien INS calculé (INS-C)",
}


class MatriculeKind(StrEnum):
    NIR = "NIR"
    NIA = "NIA"


class InsOid(StrEnum):
    """The assigning authorities of an INS (source: FR Core Patient INS profile)."""

    NIR = OID_INS_NIR
    NIA = OID_INS_NIA
    TEST_NIR = OID_INS_NIR_TEST
    DEMO_NIR = OID_INS_NIR_DEMO

    @property
    def kind(self) -> MatriculeKind:
        return MatriculeKind.NIA if self is InsOid.NIA else MatriculeKind.NIR

    @property
    def label(self) -> str:
        return _OID_LABELS[self]


_OID_LABELS = {
    InsOid.NIR: "INS-NIR",
    InsOid.NIA: "INS-NIA",
    InsOid.TEST_NIR: "INS-NIR de test",
    InsOid.DEMO_NIR: "INS-NIR de démonstration",
}

_SEX_DIGITS = "123478"  # 1/2 NIR, 3/4 foreigners being registered, 7/8 provisional numbers
_MONTHS = frozenset(
    [f"{m:02d}" for m in range(1, 13)] + ["20"] + [str(m) for m in range(30, 43)] + [str(m) for m in range(50, 100)]
)
_CHARACTERS_RE = re.compile(r"[0-9]{5}(?:[0-9]{2}|2[AB])[0-9]{8}")
# Every rule but the key, in one pattern: the fast path of is_valid_matricule.
_VALID_RE = re.compile(
    r"[123478][0-9]{2}"
    r"(?:0[1-9]|1[0-2]|20|3[0-9]|4[0-2]|[5-9][0-9])"
    r"(?:2[AB](?!000)[0-9]{3}|97[1-8](?!00)[0-9]{2}|(?!00|97)[0-9]{2}(?!000)[0-9]{3})"
    r"(?!000)[0-9]{3}"
    r"[0-9]{2}"
)
_FIELD = "matricule"


def _clean(text: str) -> str:
    """Remove every whitespace character and upper-case."""
    return "".join(text.split()).upper()


def _key_of(first13: str) -> int:
    if first13[5] == "2" and first13[6] in "AB":
        first13 = first13[:5] + ("19" if first13[6] == "A" else "18") + first13[7:]
    return 97 - int(first13) % 97


def compute_key(first13: str) -> str:
    """The 2-digit control key of the first 13 characters of a matricule."""
    if len(first13) != 13 or _CHARACTERS_RE.fullmatch(first13 + "00") is None:
        raise InvalidMatricule(
            f"13 caractères attendus (chiffres, 2A/2B pour la Corse) pour calculer la clé, « {first13} » reçu",
            part="characters",
            field=_FIELD,
        )
    return f"{_key_of(first13):02d}"


@dataclass(frozen=True, slots=True)
class Matricule:
    """A well-formed NIR/NIA matricule, split into its parts. Build it with :func:`parse_matricule`."""

    value: str
    sex_digit: str
    sex: str
    year: str
    month: str
    department: str
    commune: str
    order: str
    key: str

    @property
    def born_abroad(self) -> bool:
        return self.department == "99"

    def __str__(self) -> str:
        return self.value


def _fail(part: str, message: str) -> InvalidMatricule:
    return InvalidMatricule(message, part=part, field=_FIELD)


def parse_matricule(text: str) -> Matricule:
    """Parse and check a matricule; raise :class:`InvalidMatricule` naming the first offending part."""
    s = _clean(text)
    if len(s) != 15:
        raise _fail("length", f"Le matricule INS doit comporter 15 caractères : {len(s)} reçu(s)")
    if _CHARACTERS_RE.fullmatch(s) is None:
        bad = next((i, c) for i, c in enumerate(s) if not ("0" <= c <= "9" or (i == 6 and c in "AB" and s[5] == "2")))
        raise _fail(
            "characters",
            f"Caractère non autorisé « {bad[1]} » en position {bad[0] + 1} du matricule INS : "
            "chiffres attendus (2A ou 2B en positions 6–7 pour la Corse)",
        )
    if s[0] not in _SEX_DIGITS:
        raise _fail("sex", f"Premier chiffre (sexe) incorrect : 1, 2, 3, 4, 7 ou 8 attendu, {s[0]} reçu")
    month = s[3:5]
    if month not in _MONTHS:
        raise _fail("month", f"Mois de naissance incorrect : 01 à 12, 20, 30 à 42 ou 50 à 99 attendu, {month} reçu")
    department = s[5:7]
    if department == "00":
        raise _fail("department", "Département de naissance incorrect : 01 à 99, 2A ou 2B attendu, 00 reçu")
    if department == "97":
        if s[7] not in "12345678":
            raise _fail("department", f"Département d'outre-mer incorrect : 971 à 978 attendu, {s[5:8]} reçu")
        department, commune = s[5:8], s[8:10]
    else:
        commune = s[7:10]
    if commune.strip("0") == "":
        what = "Code pays" if department == "99" else "Code commune"
        raise _fail("commune", f"{what} incorrect : {commune} reçu, une valeur non nulle est attendue")
    order = s[10:13]
    if order == "000":
        raise _fail("order", "Numéro d'ordre incorrect : 001 à 999 attendu, 000 reçu")
    key = s[13:15]
    if not "01" <= key <= "97":
        raise _fail("key", f"Clé de contrôle incorrecte : 01 à 97 attendu, {key} reçu")
    expected = f"{_key_of(s[:13]):02d}"
    if key != expected:
        raise _fail("key", f"Clé de contrôle incorrecte : {expected} attendu, {key} reçu")
    return Matricule(
        value=s,
        sex_digit=s[0],
        sex="M" if int(s[0]) % 2 else "F",
        year=s[1:3],
        month=month,
        department=department,
        commune=commune,
        order=order,
        key=key,
    )


def is_valid_matricule(text: str) -> bool:
    """True when :func:`parse_matricule` would accept ``text``; never raises, built for speed."""
    if _VALID_RE.fullmatch(text) is None:
        text = _clean(text)
        if _VALID_RE.fullmatch(text) is None:
            return False
    return _key_of(text[:13]) == int(text[13:])


@dataclass(frozen=True, slots=True)
class Ins:
    """An INS: a matricule and the OID of its assigning authority."""

    matricule: Matricule
    oid: InsOid

    @property
    def kind(self) -> MatriculeKind:
        return self.oid.kind

    @property
    def system(self) -> str:
        return f"urn:oid:{self.oid}"

    @property
    def value(self) -> str:
        return self.matricule.value

    @classmethod
    def parse(cls, matricule: str, oid: str) -> Ins:
        """Build an INS from a matricule and an OID (bare or ``urn:oid:`` prefixed)."""
        bare = oid.strip().removeprefix("urn:oid:")
        try:
            ins_oid = InsOid(bare)
        except ValueError:
            if bare in _NOT_INS_OIDS:
                reason = f"L'OID {bare} désigne {_NOT_INS_OIDS[bare]}, pas un INS"
            else:
                reason = f"OID « {bare} » inconnu"
            raise InvalidMatricule(
                f"{reason} : OID INS attendu ({', '.join(o.value for o in InsOid)})", part="oid", field="oid"
            ) from None
        return cls(matricule=parse_matricule(matricule), oid=ins_oid)

"""The matrice d'habilitation: which profession may read which category or type of document.

The rules are data, in ``carnet/access/data/matrice_habilitation.csv`` (explained in ``docs/access-matrix.md``),
so that a non-programmer can review them row by row. Combining, made explicit:

- a **type row** (``type_code`` set) overrides the **category row** (``class_code`` only) of the same
  profession, whatever classCode the document declares (a document cannot escape a type exception by
  declaring another class);
- at the same level, **deny overrides allow** (two rows for the same cell: one ``no`` wins);
- anything the table does not mention (a profession, a category, a type without its category) is **denied**.

The space's data beyond documents (the health questionnaire, vitals, vaccinations, allergies, agenda,
reimbursements: :class:`carnet.access.model.SpaceCategory`) has category rows too, its class codes in the
``space:`` namespace (never a J06 code), so that the same decision applies to it (docs/profile.md).

For speed the table is compiled into a dict keyed by ``(profession, class, type)`` holding the verdict and
its patient-readable reason; unknown combinations are computed on demand.
"""

from __future__ import annotations

import csv
import functools
import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from importlib import resources

from carnet.access.model import SPACE_NAMESPACE, Reason, SpaceCategory
from carnet.record.valuesets import CLASS_FOR_TYPE, Code, ValueSet, value_sets

__all__ = [
    "CATEGORIES",
    "COLUMNS",
    "DEFAULT_DENY_RULE",
    "GESTION_CLASS",
    "Matrix",
    "MatrixRow",
    "MatrixVerdict",
    "SPACE_CATEGORIES",
    "default_matrix",
    "parse_rows",
    "social_professions",
]

COLUMNS = ("profession_code", "profession_label", "class_code", "type_code", "read", "source", "to_check", "note")
DEFAULT_DENY_RULE = "matrix:default-deny"
# Class 95 "Document de gestion" exists in TRE_A03 and in the ASS_X04 correspondence but not in the saved J06.
GESTION_CLASS = "95"
# The 11 DMP categories (French and English labels used in the reasons).
CATEGORIES: dict[str, tuple[str, str]] = {
    "10": ("compte rendu", "report"),
    "11": ("synthèse", "summary"),
    "31": ("imagerie médicale", "medical imaging"),
    "42": ("prescription", "prescription"),
    "43": ("dispensation", "dispensing"),
    "44": ("plan ou protocole de soins", "care plan or protocol"),
    "45": ("traitement administré", "administered treatment"),
    "52": ("certificat, déclaration", "certificate, declaration"),
    "60": ("données de remboursement", "reimbursement data"),
    "90": ("document déposé par le patient", "document deposited by the patient"),
    GESTION_CLASS: ("document de gestion", "administrative document"),
}
# The space's data beyond documents (carnet.access.model.SpaceCategory): the class code of their facts, in the
# ``space:`` namespace; labels as they read in a sentence of the reasons.
SPACE_CATEGORIES: dict[str, tuple[str, str]] = {
    SpaceCategory.PROFILE.value: ("le profil médical (questionnaire de santé)", "the medical profile (health "
                                  "questionnaire)"),
    SpaceCategory.VITALS.value: ("les constantes de santé", "the vitals"),
    SpaceCategory.VACCINATIONS.value: ("les vaccinations", "the vaccinations"),
    SpaceCategory.ALLERGIES.value: ("les allergies", "the allergies"),
    SpaceCategory.AGENDA.value: ("l'agenda", "the agenda"),
    SpaceCategory.REIMBURSEMENTS.value: ("les données de remboursement", "the reimbursement data"),
}  # fmt: skip
_FEMININE = frozenset({"sage-femme"})
_CR = re.compile(r"^CR\b")


@dataclass(frozen=True, slots=True)
class MatrixRow:
    """One row of the table."""

    profession_code: str
    profession_label: str
    class_code: str
    type_code: str  # "" on a category row
    read: bool
    source: str
    to_check: bool
    note: str

    @property
    def rule_id(self) -> str:
        """``matrix:<profession>:<class>`` or ``matrix:<profession>:<class>:<type>``."""
        base = f"matrix:{self.profession_code}:{self.class_code}"
        return f"{base}:{self.type_code}" if self.type_code else base


@dataclass(frozen=True, slots=True)
class MatrixVerdict:
    """The matrix's answer for one cell, with the reason a patient can read."""

    allowed: bool
    rule_id: str
    reason: Reason


def _yes_no(value: str, column: str, line: int) -> bool:
    value = value.strip().lower()
    if value not in ("yes", "no"):
        raise ValueError(f"matrice d'habilitation, ligne {line} : « {column} » doit valoir yes ou no, pas {value!r}")
    return value == "yes"


def parse_rows(text: str) -> list[MatrixRow]:
    """Read the CSV text (lines starting with ``#`` are comments); raise ValueError on a malformed row."""
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    reader = csv.DictReader(io.StringIO("\n".join(lines), newline=""))
    if tuple(reader.fieldnames or ()) != COLUMNS:
        raise ValueError(f"matrice d'habilitation : colonnes attendues {', '.join(COLUMNS)}")
    rows = []
    for number, raw in enumerate(reader, start=2):
        profession, class_code = raw["profession_code"].strip(), raw["class_code"].strip()
        if not profession or not class_code:
            raise ValueError(f"matrice d'habilitation, ligne {number} : profession et catégorie obligatoires")
        rows.append(
            MatrixRow(
                profession_code=profession,
                profession_label=raw["profession_label"].strip(),
                class_code=class_code,
                type_code=raw["type_code"].strip(),
                read=_yes_no(raw["read"], "read", number),
                source=raw["source"].strip(),
                to_check=_yes_no(raw["to_check"], "to_check", number),
                note=raw["note"].strip(),
            )
        )
    return rows


@functools.cache
def social_professions() -> ValueSet:
    """TRE_R94-ProfessionSocial (active codes), shipped in ``carnet/access/data`` (see its SOURCES.md)."""
    text = resources.files("carnet.access").joinpath("data", "TRE_R94_ProfessionSocial.csv").read_text("utf-8")
    entries = [
        (Code(code=row["code"], system=row["codeSystemOID"], display=row["display"]), None)
        for row in csv.DictReader(io.StringIO(text, newline=""))
    ]
    return ValueSet("TRE_R94-ProfessionSocial", "1.2.250.1.213.1.6.1.4", entries)


def _type_label(type_code: str) -> str:
    vs = value_sets()
    found = vs.type_code.get(type_code, include_expired=True) or vs.type_code_dmp.get(type_code, include_expired=True)
    if found is None:
        return type_code
    label = _CR.sub("compte rendu", found.display)
    # "Synthèse psychiatrique" reads « synthèse psychiatrique » in a sentence; acronyms (COVID-19) stay.
    return label[:1].lower() + label[1:] if label[1:2].islower() else label


class Matrix:
    """The compiled table. ``allows(profession, class_code, type_code) -> (allowed, rule_id)``."""

    _CACHE_LIMIT = 10_000  # on-demand verdicts kept for unknown combinations (bounded: input is untrusted)

    def __init__(self, rows: Iterable[MatrixRow]) -> None:
        self.rows: tuple[MatrixRow, ...] = tuple(rows)
        self._class_rows: dict[tuple[str, str], MatrixRow] = {}
        self._type_rows: dict[tuple[str, str], MatrixRow] = {}
        self._labels: dict[str, str] = {}
        for row in self.rows:
            self._labels.setdefault(row.profession_code, row.profession_label)
            cells = self._type_rows if row.type_code else self._class_rows
            key = (row.profession_code, row.type_code or row.class_code)
            current = cells.get(key)
            if current is None or (current.read and not row.read):  # deny overrides allow at the same level
                cells[key] = row
        self.professions: frozenset[str] = frozenset(self._labels)
        self._reasons: dict[tuple[bool, str, str, str], Reason] = {}
        self._verdicts: dict[tuple[str, str, str], MatrixVerdict] = {}
        self._extra: dict[tuple[str, str, str], MatrixVerdict] = {}
        self._compile()

    @classmethod
    def from_text(cls, text: str) -> Matrix:
        """A matrix from CSV text in the shipped format."""
        return cls(parse_rows(text))

    @classmethod
    def from_package(cls) -> Matrix:
        """The shipped ``matrice_habilitation.csv``."""
        text = resources.files("carnet.access").joinpath("data", "matrice_habilitation.csv").read_text("utf-8")
        return cls.from_text(text)

    def __iter__(self) -> Iterator[MatrixRow]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def to_check(self) -> tuple[MatrixRow, ...]:
        """The rows that go beyond a stated fact and must be checked against the official annex."""
        return tuple(row for row in self.rows if row.to_check)

    def profession_label(self, profession: str) -> str:
        """The French label of a profession code (the table's, else TRE_G15/TRE_R94, else the code)."""
        label = self._labels.get(profession)
        if label:
            return label
        found = value_sets().profession.get(profession) or social_professions().get(profession)
        return found.display.lower() if found is not None else f"professionnel (profession {profession})"

    # --- decisions -------------------------------------------------------------------------------------------

    def allows(self, profession: str, class_code: str, type_code: str = "") -> tuple[bool, str]:
        """Whether ``profession`` may read a document of this class and type, and the deciding rule id."""
        verdict = self.verdict(profession, class_code, type_code)
        return verdict.allowed, verdict.rule_id

    def verdict(self, profession: str, class_code: str, type_code: str = "") -> MatrixVerdict:
        """The verdict with its reason; a dict look-up for every known combination."""
        key = (profession, class_code, type_code)
        found = self._verdicts.get(key) or self._extra.get(key)
        if found is not None:
            return found
        found = self._evaluate(profession, class_code, type_code)
        if len(self._extra) < self._CACHE_LIMIT:
            self._extra[key] = found
        return found

    def _evaluate(self, profession: str, class_code: str, type_code: str) -> MatrixVerdict:
        row = self._type_rows.get((profession, type_code)) if type_code else None
        if row is None:
            row = self._class_rows.get((profession, class_code))
        allowed = row is not None and row.read
        rule_id = row.rule_id if row is not None else DEFAULT_DENY_RULE
        return MatrixVerdict(allowed, rule_id, self._reason(allowed, profession, class_code, type_code))

    def _compile(self) -> None:
        classes = {row.class_code for row in self.rows} | set(CATEGORIES) | set(SPACE_CATEGORIES)
        typed = dict(CLASS_FOR_TYPE)
        for code in value_sets().type_code:
            typed.setdefault(code.code, CLASS_FOR_TYPE.get(code.code, ""))
        for row in self.rows:
            if row.type_code:
                typed.setdefault(row.type_code, row.class_code)
        for profession in self.professions:
            for class_code in classes:
                self._verdicts[(profession, class_code, "")] = self._evaluate(profession, class_code, "")
            for type_code, class_code in typed.items():
                self._verdicts[(profession, class_code, type_code)] = self._evaluate(profession, class_code, type_code)

    def _reason(self, allowed: bool, profession: str, class_code: str, type_code: str) -> Reason:
        key = (allowed, profession, class_code, type_code)
        reason = self._reasons.get(key)
        if reason is not None:
            return reason
        label = self.profession_label(profession)
        article = "une" if label in _FEMININE else "un"
        if class_code.startswith(SPACE_NAMESPACE) and not type_code:
            fr, en = SPACE_CATEGORIES.get(class_code, (class_code, class_code))
            what_fr = f"{fr} de l'espace santé"
            what_en = f"{en} of the health space ({class_code})"
        elif type_code:
            what_fr = f"un document « {_type_label(type_code)} »"
            what_en = f"documents of type “{_type_label(type_code)}” ({type_code})"
        else:
            fr, en = CATEGORIES.get(class_code, (class_code, class_code))
            what_fr = f"un document de la catégorie « {fr} »"
            what_en = f"documents of the category “{en}” ({class_code})"
        if allowed:
            reason = Reason(
                "matrix_allowed",
                f"la matrice d'habilitation permet à {article} {label} de consulter {what_fr}",
                f"the DMP authorisation matrix lets the profession “{label}” ({profession}) read {what_en}",
            )
        else:
            reason = Reason(
                "matrix_denied",
                f"{article} {label} ne peut pas consulter {what_fr} (matrice d'habilitation)",
                f"the profession “{label}” ({profession}) may not read {what_en} (DMP authorisation matrix)",
            )
        self._reasons[key] = reason
        return reason


@functools.cache
def default_matrix() -> Matrix:
    """The shipped matrix, compiled once."""
    return Matrix.from_package()

"""The holder's health profile as plain values and pure rules (no I/O, no framework).

- **Vital signs** (constantes de santé): the kinds are data, ``carnet/space/data/constantes.csv`` (LOINC code, UCUM
  units, the physiological range accepted); :func:`check_measurement` says every reason a measure is refused, each
  with the FHIR expression of the element at fault (``Observation.valueQuantity.value``…).
- **Vaccines**: the products of the CI-SIS vaccination example (``carnet/space/data/vaccins.csv``); any other
  vaccine by its name only.
- **The questionnaire** (``carnet/space/data/questionnaire-profil-medical.json``, a FHIR Questionnaire): current
  treatments, past interventions, history, allergies, advance directives; :class:`Answers` and their checks.
- **Allergies**: :class:`AllergyIn` (the FHIR AllergyIntolerance value sets for category, criticality, status).

Every problem is a :class:`Problem` with a stable code, a French and an English message and its FHIR expression;
:class:`ProfileRejected` (a :class:`carnet.errors.ValidationError`, 422) carries them all to the API's
OperationOutcome (one issue per problem) and to the portal's form (each message in place).
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import io
import json
import math
from dataclasses import dataclass, field, replace
from importlib import resources
from typing import Any

from carnet.errors import ValidationError

__all__ = [
    "ALLERGY_CATEGORIES",
    "ALLERGY_CRITICALITIES",
    "ALLERGY_STATUSES",
    "CIS_SYSTEM",
    "ATC_SYSTEM",
    "LOINC",
    "QUESTIONNAIRE_URL",
    "UCUM",
    "AllergyIn",
    "Answers",
    "ImmunizationIn",
    "Measurement",
    "Problem",
    "ProfileRejected",
    "Quantity",
    "Vaccine",
    "VitalKind",
    "check_allergy",
    "check_answers",
    "check_immunization",
    "check_measurement",
    "entry_kinds",
    "kind_of_code",
    "questionnaire",
    "vaccine",
    "vaccines",
    "vital_kind",
    "vital_kinds",
]

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
CIS_SYSTEM = "urn:oid:1.2.250.1.213.2.3.1"  # Code Identifiant de Spécialité (reference/cda-examples/VAC_2023.01.xml)
ATC_SYSTEM = "http://www.whocc.no/atc"  # ATC, OID 2.16.840.1.113883.6.73 in the CDA example
QUESTIONNAIRE_URL = "https://carnet.example.org/fhir/Questionnaire/profil-medical"
# FHIR R4 AllergyIntolerance value sets (required bindings).
ALLERGY_CATEGORIES = ("food", "medication", "environment", "biologic")
ALLERGY_CRITICALITIES = ("low", "high", "unable-to-assess")
ALLERGY_STATUSES = ("active", "inactive", "resolved")
MAX_LINE = 200  # characters of one answer line (a treatment, an intervention…)
MAX_LINES = 50  # answers of one question
MAX_TEXT = 500  # free text (where the advance directives are kept, the trusted person, a reaction, a note)


@dataclass(frozen=True, slots=True)
class Problem:
    """One reason the input is refused: a stable ``code``, the messages, where (a FHIR expression)."""

    code: str
    fr: str
    en: str
    expression: str


class ProfileRejected(ValidationError):
    """Input of the health profile refused (422): ``problems`` lists every reason with its FHIR expression.

    The code stays ``validation_error`` (documented in docs/errors.md); ``issues`` gives the API's OperationOutcome
    one issue per further problem.
    """

    def __init__(self, problems: list[Problem]) -> None:
        if not problems:
            raise ValueError("ProfileRejected needs at least one problem")
        super().__init__(problems[0].fr, field=problems[0].expression)
        self.problems = list(problems)
        self.issues = [(p.fr, p.expression) for p in problems[1:]]


def _number(value: float, decimals: int = 2) -> str:
    """A number as French text (``0,3``, ``72``)."""
    text = f"{value:.{decimals}f}".rstrip("0").rstrip(".") if decimals else f"{value:.0f}"
    return text.replace(".", ",")


# --- vital signs -------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VitalKind:
    """One kind of measure: its LOINC code, its canonical UCUM unit (and the others accepted, with their factor to
    it), the range accepted, the FHIR profile; a panel (blood pressure) has ``components`` and no unit of its own."""

    key: str
    loinc: str
    loinc_display: str
    label_fr: str
    label_en: str
    unit: str
    other_units: dict[str, float]
    low: float | None
    high: float | None
    decimals: int
    profile: str  # the FHIR R4 vital signs profile's id (bodyweight…), "" for none
    category: str  # observation-category: vital-signs | laboratory
    panel: str  # the panel this kind is a component of, "" for none
    extra_codes: tuple[str, ...]
    source: str
    to_check: bool
    components: tuple[VitalKind, ...] = ()

    def label(self, lang: str = "fr") -> str:
        return self.label_en if lang == "en" else self.label_fr

    @property
    def units(self) -> tuple[str, ...]:
        """Every UCUM unit accepted, the canonical one first."""
        return (self.unit, *self.other_units)

    def canonical(self, value: float, unit: str) -> float:
        """``value`` given in ``unit`` (one of :attr:`units`) in the canonical unit."""
        return value if unit == self.unit else value * self.other_units[unit]

    @property
    def profile_url(self) -> str | None:
        return f"http://hl7.org/fhir/StructureDefinition/{self.profile}" if self.profile else None


def _kinds_from_csv(text: str) -> dict[str, VitalKind]:
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    flat: list[VitalKind] = []
    for row in csv.DictReader(io.StringIO("\n".join(lines), newline="")):
        others = {}
        for item in filter(None, (part.strip() for part in row["other_units"].split(";"))):
            unit, _, factor = item.partition("=")
            others[unit] = float(factor)
        flat.append(
            VitalKind(
                key=row["key"],
                loinc=row["loinc"],
                loinc_display=row["loinc_display"],
                label_fr=row["label_fr"],
                label_en=row["label_en"],
                unit=row["unit"],
                other_units=others,
                low=float(row["low"]) if row["low"] else None,
                high=float(row["high"]) if row["high"] else None,
                decimals=int(row["decimals"]),
                profile=row["profile"],
                category=row["category"],
                panel=row["panel"],
                extra_codes=tuple(filter(None, row["extra_codes"].split(";"))),
                source=row["source"],
                to_check=row["to_check"] == "yes",
            )
        )
    kinds: dict[str, VitalKind] = {}
    for kind in flat:
        if kind.panel:
            continue
        parts = tuple(k for k in flat if k.panel == kind.key)
        kinds[kind.key] = replace(kind, components=parts) if parts else kind
    return kinds


@functools.cache
def vital_kinds() -> dict[str, VitalKind]:
    """The kinds of measure, by key, in the table's order (a panel carries its components)."""
    text = resources.files("carnet.space").joinpath("data", "constantes.csv").read_text("utf-8")
    return _kinds_from_csv(text)


def vital_kind(key: str) -> VitalKind | None:
    """The kind of this key (``weight``), or None."""
    return vital_kinds().get(key)


def entry_kinds() -> tuple[VitalKind, ...]:
    """The kinds a measure is entered as (panels as one entry)."""
    return tuple(vital_kinds().values())


@functools.cache
def _by_code() -> dict[str, VitalKind]:
    out: dict[str, VitalKind] = {}
    for kind in vital_kinds().values():
        out[kind.loinc] = kind
        for code in kind.extra_codes:
            out.setdefault(code, kind)
        for part in kind.components:  # a component's code finds its panel (code=8480-6 finds blood pressures)
            out.setdefault(part.loinc, kind)
    return out


def kind_of_code(code: str) -> VitalKind | None:
    """The kind a LOINC code names (a panel's code, or one of a kind's codes), or None."""
    return _by_code().get(code)


@dataclass(frozen=True, slots=True)
class Quantity:
    """A value with its UCUM unit, and where it is on the wire (the FHIR expression of its Quantity)."""

    value: float
    unit: str
    system: str = UCUM
    where: str = "Observation.valueQuantity"


@dataclass(frozen=True, slots=True, kw_only=True)
class Measurement:
    """A measure being recorded: its kind, its values (one per component of a panel, keyed by component key; the
    kind's own key otherwise), when it was taken, an optional note."""

    kind: str
    values: dict[str, Quantity]
    effective_at: dt.datetime
    note: str | None = None
    effective_where: str = "Observation.effectiveDateTime"
    code_where: str = "Observation.code"


def check_measurement(m: Measurement, *, now: dt.datetime, birth_date: dt.date | None) -> list[Problem]:
    """Every reason the measure is refused: unknown kind, a value missing, not a number, in a unit that is not the
    kind's (UCUM), out of the physiological range; a date in the future or before birth; a systolic pressure that
    is not above the diastolic one."""
    kind = vital_kind(m.kind)
    if kind is None:
        known = ", ".join(vital_kinds())
        return [
            Problem(
                "unknown_vital",
                f"mesure inconnue « {m.kind} » (connues : {known})",
                f"unknown measure “{m.kind}” (known: {known})",
                m.code_where,
            )
        ]
    problems: list[Problem] = []
    parts = kind.components or (kind,)
    for part in parts:
        quantity = m.values.get(part.key)
        if quantity is None:
            problems.append(
                Problem(
                    "value_missing",
                    f"{part.label_fr} : valeur manquante",
                    f"{part.label_en}: value missing",
                    f"{_default_where(kind, part)}.value",
                )
            )
            continue
        problems += _check_quantity(part, quantity)
    for key in m.values:
        if key not in {p.key for p in parts}:
            problems.append(
                Problem(
                    "unknown_component",
                    f"{kind.label_fr} : composante inconnue « {key} »",
                    f"{kind.label_en}: unknown component “{key}”",
                    m.values[key].where,
                )
            )
    if kind.key == "blood_pressure" and not problems:
        systolic, diastolic = m.values["systolic"], m.values["diastolic"]
        if systolic.value <= diastolic.value:
            problems.append(
                Problem(
                    "systolic_not_above_diastolic",
                    f"la pression systolique ({_number(systolic.value)}) doit être supérieure à la diastolique "
                    f"({_number(diastolic.value)})",
                    f"the systolic pressure ({systolic.value:g}) must be above the diastolic one ({diastolic.value:g})",
                    f"{systolic.where}.value",
                )
            )
    problems += _check_moment(
        m.effective_at, now=now, birth_date=birth_date, where=m.effective_where, what=("mesure", "measure")
    )
    if m.note is not None and len(m.note) > MAX_TEXT:
        problems.append(
            Problem(
                "note_too_long",
                f"note : {MAX_TEXT} caractères au plus",
                f"note: {MAX_TEXT} characters at most",
                "Observation.note[0].text",
            )
        )
    return problems


def _default_where(kind: VitalKind, part: VitalKind) -> str:
    if not kind.components:
        return "Observation.valueQuantity"
    return f"Observation.component[{kind.components.index(part)}].valueQuantity"


def _check_quantity(kind: VitalKind, q: Quantity) -> list[Problem]:
    units = ", ".join(kind.units)
    if q.system != UCUM:
        return [
            Problem(
                "unit_system",
                f"{kind.label_fr} : l'unité doit être UCUM ({UCUM}), pas « {q.system} »",
                f"{kind.label_en}: the unit must be UCUM ({UCUM}), not “{q.system}”",
                f"{q.where}.system",
            )
        ]
    if q.unit not in kind.units:
        return [
            Problem(
                "wrong_unit",
                f"{kind.label_fr} : unité « {q.unit} » refusée (attendue : {units})",
                f"{kind.label_en}: unit “{q.unit}” refused (expected: {units})",
                f"{q.where}.code",
            )
        ]
    if not isinstance(q.value, int | float) or isinstance(q.value, bool) or not math.isfinite(q.value):
        return [
            Problem(
                "not_a_number",
                f"{kind.label_fr} : un nombre est attendu",
                f"{kind.label_en}: a number is expected",
                f"{q.where}.value",
            )
        ]
    value = kind.canonical(q.value, q.unit)
    low, high = kind.low, kind.high
    if (low is not None and value < low) or (high is not None and value > high):
        span_fr = f"de {_number(low or 0)} à {_number(high or 0)} {kind.unit}"
        span_en = f"{low:g} to {high:g} {kind.unit}"
        return [
            Problem(
                "out_of_range",
                f"{kind.label_fr} hors des valeurs physiologiques : {_number(q.value, 3)} {q.unit} "
                f"(accepté : {span_fr})",
                f"{kind.label_en} out of the physiological range: {q.value:g} {q.unit} (accepted: {span_en})",
                f"{q.where}.value",
            )
        ]
    return []


def _check_moment(
    moment: dt.datetime | dt.date, *, now: dt.datetime, birth_date: dt.date | None, where: str, what: tuple[str, str]
) -> list[Problem]:
    fr, en = what
    if isinstance(moment, dt.datetime):
        if moment.tzinfo is None:
            return [
                Problem(
                    "date_without_zone",
                    f"date de la {fr} sans fuseau horaire",
                    f"the {en} date has no time zone",
                    where,
                )
            ]
        # A clock a few minutes fast on a phone is not an error; a measure taken tomorrow is.
        future = moment > now + dt.timedelta(minutes=5)
        day = moment.astimezone(dt.UTC).date()
    else:
        future = moment > now.date()
        day = moment
    if future:
        return [
            Problem("in_the_future", f"la date de la {fr} est dans le futur", f"the {en} date is in the future", where)
        ]
    if birth_date is not None and day < birth_date:
        return [
            Problem(
                "before_birth",
                f"la date de la {fr} est antérieure à la naissance",
                f"the {en} date is before birth",
                where,
            )
        ]
    return []


# --- vaccines ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Vaccine:
    """A vaccine product with its CIS code and ATC class (reference/cda-examples/VAC_2023.01.xml)."""

    cis: str
    display: str
    atc: str
    atc_display: str


@functools.cache
def vaccines() -> tuple[Vaccine, ...]:
    """The coded vaccines (``carnet/space/data/vaccins.csv``)."""
    text = resources.files("carnet.space").joinpath("data", "vaccins.csv").read_text("utf-8")
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    return tuple(
        Vaccine(r["cis"], r["display"], r["atc"], r["atc_display"])
        for r in csv.DictReader(io.StringIO("\n".join(lines), newline=""))
    )


def vaccine(cis: str) -> Vaccine | None:
    """The coded vaccine of this CIS code, or None."""
    return next((v for v in vaccines() if v.cis == cis), None)


@dataclass(frozen=True, slots=True, kw_only=True)
class ImmunizationIn:
    """A vaccination being recorded: a coded vaccine (CIS) or a name, the date, the dose number, the lot."""

    occurrence: dt.date
    vaccine_cis: str | None = None
    vaccine_text: str | None = None
    dose_number: int | None = None
    lot_number: str | None = None
    note: str | None = None


def check_immunization(i: ImmunizationIn, *, now: dt.datetime, birth_date: dt.date | None) -> list[Problem]:
    """Every reason the vaccination is refused."""
    problems: list[Problem] = []
    if i.vaccine_cis is not None and vaccine(i.vaccine_cis) is None:
        problems.append(
            Problem(
                "unknown_vaccine",
                f"vaccin de code CIS « {i.vaccine_cis} » inconnu",
                f"unknown vaccine of CIS code “{i.vaccine_cis}”",
                "Immunization.vaccineCode.coding[0].code",
            )
        )
    if i.vaccine_cis is None and not (i.vaccine_text or "").strip():
        problems.append(
            Problem(
                "vaccine_missing",
                "le vaccin est obligatoire (choisi dans la liste ou nommé)",
                "the vaccine is required (chosen from the list or named)",
                "Immunization.vaccineCode",
            )
        )
    if i.vaccine_text is not None and len(i.vaccine_text) > MAX_LINE:
        problems.append(
            Problem(
                "vaccine_too_long",
                f"nom du vaccin : {MAX_LINE} caractères au plus",
                f"vaccine name: {MAX_LINE} characters at most",
                "Immunization.vaccineCode.text",
            )
        )
    if i.dose_number is not None and not 1 <= i.dose_number <= 20:
        problems.append(
            Problem(
                "dose_number",
                "rang de la dose : entre 1 et 20",
                "dose number: between 1 and 20",
                "Immunization.protocolApplied[0].doseNumberPositiveInt",
            )
        )
    if i.lot_number is not None and len(i.lot_number) > 40:
        problems.append(
            Problem(
                "lot_too_long",
                "numéro de lot : 40 caractères au plus",
                "lot number: 40 characters at most",
                "Immunization.lotNumber",
            )
        )
    if i.note is not None and len(i.note) > MAX_TEXT:
        problems.append(
            Problem(
                "note_too_long",
                f"note : {MAX_TEXT} caractères au plus",
                f"note: {MAX_TEXT} characters at most",
                "Immunization.note[0].text",
            )
        )
    problems += _check_moment(
        i.occurrence,
        now=now,
        birth_date=birth_date,
        where="Immunization.occurrenceDateTime",
        what=("vaccination", "vaccination"),
    )
    return problems


# --- allergies ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class AllergyIn:
    """An allergy or intolerance being recorded (substance by name; category, criticality as FHIR codes)."""

    substance: str
    category: str | None = None
    criticality: str | None = None
    reaction: str | None = None
    clinical_status: str = "active"


def check_allergy(a: AllergyIn) -> list[Problem]:
    """Every reason the allergy is refused."""
    problems: list[Problem] = []
    if not a.substance.strip():
        problems.append(
            Problem(
                "substance_missing",
                "la substance est obligatoire",
                "the substance is required",
                "AllergyIntolerance.code.text",
            )
        )
    elif len(a.substance) > MAX_LINE:
        problems.append(
            Problem(
                "substance_too_long",
                f"substance : {MAX_LINE} caractères au plus",
                f"substance: {MAX_LINE} characters at most",
                "AllergyIntolerance.code.text",
            )
        )
    if a.category is not None and a.category not in ALLERGY_CATEGORIES:
        problems.append(
            Problem(
                "allergy_category",
                f"catégorie « {a.category} » inconnue ({', '.join(ALLERGY_CATEGORIES)})",
                f"unknown category “{a.category}”",
                "AllergyIntolerance.category[0]",
            )
        )
    if a.criticality is not None and a.criticality not in ALLERGY_CRITICALITIES:
        problems.append(
            Problem(
                "allergy_criticality",
                f"gravité « {a.criticality} » inconnue ({', '.join(ALLERGY_CRITICALITIES)})",
                f"unknown criticality “{a.criticality}”",
                "AllergyIntolerance.criticality",
            )
        )
    if a.clinical_status not in ALLERGY_STATUSES:
        problems.append(
            Problem(
                "allergy_status",
                f"statut « {a.clinical_status} » inconnu ({', '.join(ALLERGY_STATUSES)})",
                f"unknown status “{a.clinical_status}”",
                "AllergyIntolerance.clinicalStatus",
            )
        )
    if a.reaction is not None and len(a.reaction) > MAX_TEXT:
        problems.append(
            Problem(
                "reaction_too_long",
                f"réaction : {MAX_TEXT} caractères au plus",
                f"reaction: {MAX_TEXT} characters at most",
                "AllergyIntolerance.reaction[0].description",
            )
        )
    return problems


# --- the questionnaire -------------------------------------------------------------------------------------------


@functools.cache
def _questionnaire_text() -> str:
    return resources.files("carnet.space").joinpath("data", "questionnaire-profil-medical.json").read_text("utf-8")


def questionnaire() -> dict[str, Any]:
    """The Questionnaire (FHIR R4 JSON) the holder fills: a fresh copy."""
    loaded: dict[str, Any] = json.loads(_questionnaire_text())
    return loaded


LIST_ITEMS = ("traitements", "interventions", "antecedents", "allergies")


@dataclass(frozen=True, slots=True, kw_only=True)
class Answers:
    """The holder's answers: one line per treatment, intervention, history item, allergy; the advance directives
    (written or not, where they are kept) and the trusted person."""

    treatments: tuple[str, ...] = ()
    interventions: tuple[str, ...] = ()
    history: tuple[str, ...] = ()
    allergies: tuple[str, ...] = ()
    directives_written: bool | None = None
    directives_where: str = ""
    trusted_person: str = ""
    where: dict[str, str] = field(default_factory=dict)  # linkId → FHIR expression of its item (for the problems)

    def lists(self) -> dict[str, tuple[str, ...]]:
        """The list answers by linkId."""
        return {
            "traitements": self.treatments,
            "interventions": self.interventions,
            "antecedents": self.history,
            "allergies": self.allergies,
        }

    def as_json(self) -> dict[str, Any]:
        """The stored form (``profile_questionnaire_responses.answers``)."""
        return {
            **{k: list(v) for k, v in self.lists().items()},
            "directives.redigees": self.directives_written,
            "directives.lieu": self.directives_where,
            "directives.personne_confiance": self.trusted_person,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Answers:
        def lines(key: str) -> tuple[str, ...]:
            return tuple(str(v) for v in data.get(key) or ())

        written = data.get("directives.redigees")
        return cls(
            treatments=lines("traitements"),
            interventions=lines("interventions"),
            history=lines("antecedents"),
            allergies=lines("allergies"),
            directives_written=written if isinstance(written, bool) else None,
            directives_where=str(data.get("directives.lieu") or ""),
            trusted_person=str(data.get("directives.personne_confiance") or ""),
        )

    @classmethod
    def from_text(
        cls,
        *,
        treatments: str = "",
        interventions: str = "",
        history: str = "",
        allergies: str = "",
        directives_written: bool | None = None,
        directives_where: str = "",
        trusted_person: str = "",
    ) -> Answers:
        """From the portal's form: each non-empty line of a text area is one answer."""

        def lines(text: str) -> tuple[str, ...]:
            return tuple(dict.fromkeys(" ".join(line.split()) for line in text.splitlines() if line.strip()))

        return cls(
            treatments=lines(treatments),
            interventions=lines(interventions),
            history=lines(history),
            allergies=lines(allergies),
            directives_written=directives_written,
            directives_where=directives_where.strip(),
            trusted_person=trusted_person.strip(),
        )


def check_answers(a: Answers) -> list[Problem]:
    """Every reason the answers are refused: too many lines, a line too long, free text too long."""
    problems: list[Problem] = []
    for link_id, values in a.lists().items():
        where = a.where.get(link_id, f"QuestionnaireResponse.item.where(linkId='{link_id}')")
        if len(values) > MAX_LINES:
            problems.append(
                Problem(
                    "too_many_answers",
                    f"{link_id} : {MAX_LINES} réponses au plus",
                    f"{link_id}: {MAX_LINES} answers at most",
                    where,
                )
            )
        for index, value in enumerate(values):
            if len(value) > MAX_LINE:
                problems.append(
                    Problem(
                        "answer_too_long",
                        f"{link_id}, ligne {index + 1} : {MAX_LINE} caractères au plus",
                        f"{link_id}, line {index + 1}: {MAX_LINE} characters at most",
                        f"{where}.answer[{index}]",
                    )
                )
    for link_id, value in (
        ("directives.lieu", a.directives_where),
        ("directives.personne_confiance", a.trusted_person),
    ):
        if len(value) > MAX_TEXT:
            where = a.where.get(link_id, f"QuestionnaireResponse.item.where(linkId='{link_id}')")
            problems.append(
                Problem(
                    "answer_too_long",
                    f"{link_id} : {MAX_TEXT} caractères au plus",
                    f"{link_id}: {MAX_TEXT} characters at most",
                    where,
                )
            )
    if a.directives_where and a.directives_written is False:
        where = a.where.get("directives.lieu", "QuestionnaireResponse.item.where(linkId='directives.lieu')")
        problems.append(
            Problem(
                "directives_not_written",
                "le lieu des directives anticipées n'a de sens que si elles sont rédigées",
                "where the advance directives are kept only applies when they are written",
                where,
            )
        )
    return problems

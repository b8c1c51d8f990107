"""The sharing obligations, as plain values: duties, the context of a document, the rules and the answer.

The rules are those of the *arrêté du 26 avril 2022* fixing the list of documents a professional must share
(art. L. 1111-15 of the code de la santé publique), as amended by the *arrêté du 23 mai 2024*. For each listed
document its author must (art. 1 of the arrêté, 1° to 3°):

- ``dmp``: deposit it in the patient's DMP, when the record exists;
- ``mss_professionals``: send it by MSSanté to the médecin traitant, the prescriber if any, and any professional
  whose involvement in the patient's care is relevant;
- ``mss_patient``: send it to the patient's secure messaging, when it exists.

Nothing here reads a file or a database: :mod:`carnet.sharing.obligations` loads the table and answers.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

__all__ = [
    "DUTY_LABELS",
    "EXCLUSION_LABELS",
    "Answer",
    "Context",
    "Duty",
    "DutyAnswer",
    "Effect",
    "Exclusion",
    "Outcome",
    "Reason",
    "Rule",
    "RuleOutcome",
    "french_date",
]


class Duty(StrEnum):
    """One of the three duties of art. 1 of the arrêté (1°, 2°, 3°)."""

    DMP = "dmp"
    MSS_PROFESSIONALS = "mss_professionals"
    MSS_PATIENT = "mss_patient"


DUTY_LABELS: dict[Duty, tuple[str, str]] = {
    Duty.DMP: ("verser au DMP", "deposit in the DMP"),
    Duty.MSS_PROFESSIONALS: (
        "envoyer par MSSanté au médecin traitant, au prescripteur et aux professionnels concernés",
        "send by MSSanté to the médecin traitant, the prescriber and the professionals involved",
    ),
    Duty.MSS_PATIENT: ("envoyer à la messagerie sécurisée du patient", "send to the patient's secure messaging"),
}


class Exclusion(StrEnum):
    """A circumstance the texts exclude from a rule; each is a flag of :class:`Context`."""

    HOSPITAL_STAY = "hospital_stay"
    CONSTITUTIONAL_GENETICS = "constitutional_genetics"
    PRIOR_AGREEMENT = "prior_agreement"


EXCLUSION_LABELS: dict[Exclusion, tuple[str, str]] = {
    Exclusion.HOSPITAL_STAY: ("séjour hospitalier", "hospital stay"),
    Exclusion.CONSTITUTIONAL_GENETICS: ("génétique constitutionnelle", "constitutional genetics"),
    Exclusion.PRIOR_AGREEMENT: ("soumis à entente préalable", "subject to prior agreement"),
}


@dataclass(frozen=True, slots=True)
class Context:
    """The circumstances of the document that the exclusions of the texts name.

    ``hospital_stay``: the document is produced in the frame of a hospital stay or, for a prescription of
    biology tests or an imaging request, the prescribed acts are meant to be performed during a hospital stay.
    ``constitutional_genetics``: a report of an examination of constitutional genetic characteristics.
    ``prior_agreement``: a prescription subject to prior agreement (entente préalable) of the insurer.
    """

    hospital_stay: bool = False
    constitutional_genetics: bool = False
    prior_agreement: bool = False

    def has(self, exclusion: Exclusion) -> bool:
        """True when the document is in the circumstance ``exclusion`` names."""
        return bool(getattr(self, exclusion.value))

    def to_dict(self) -> dict[str, bool]:
        """The three flags by name."""
        return {e.value: self.has(e) for e in Exclusion}


class Effect(StrEnum):
    """What a row of the table says."""

    DUTIES = "duties"  # a rule of this arrêté: its duties apply in its period, outside its exclusions
    OTHER_TEXT = "other_text"  # recalled by the arrêté as already mandatory under another text: no duty here


@dataclass(frozen=True, slots=True)
class Rule:
    """One row of the table: one element of the arrêté's annex (in one version of the text), with its codes.

    ``in_force_from`` is the first day the duties apply (« à compter du » includes the day named);
    ``in_force_until`` the last one (None: no end). Both are None on an ``other_text`` row.
    """

    id: str
    label_fr: str
    type_codes: tuple[str, ...]
    in_force_from: dt.date | None
    in_force_until: dt.date | None
    exclusions: frozenset[Exclusion]
    effect: Effect
    duties: frozenset[Duty]
    source: str
    to_check: bool
    note: str

    def in_force_on(self, on_date: dt.date) -> bool:
        """True when ``on_date`` is inside the rule's period (both ends included)."""
        if self.in_force_from is None or on_date < self.in_force_from:
            return False
        return self.in_force_until is None or on_date <= self.in_force_until


class Outcome(StrEnum):
    """Why a duty applies or not (the ``code`` of a :class:`Reason`)."""

    APPLIES = "applies"
    EXCLUDED = "excluded"
    NOT_YET_IN_FORCE = "not_yet_in_force"
    NO_LONGER_IN_FORCE = "no_longer_in_force"
    OTHER_TEXT = "other_text"
    NOT_LISTED = "not_listed"


@dataclass(frozen=True, slots=True)
class Reason:
    """Why, with a stable ``code`` and a sentence in French and in English."""

    code: Outcome
    fr: str
    en: str


@dataclass(frozen=True, slots=True)
class RuleOutcome:
    """What one rule that names the type says for this context and date."""

    rule: Rule
    outcome: Outcome
    excluded_by: tuple[Exclusion, ...]
    reason: Reason


@dataclass(frozen=True, slots=True)
class DutyAnswer:
    """One duty: whether it applies, the rule that says so (None when no rule names the type) and why."""

    duty: Duty
    applies: bool
    rule_id: str | None
    reason: Reason


@dataclass(frozen=True, slots=True)
class Answer:
    """The answer for one type code, context and date: each duty with its rule and reason.

    ``per_duty`` holds the three duties in :class:`Duty` order; ``rules`` every rule that names the type.
    """

    type_code: str
    type_label: str
    context: Context
    on_date: dt.date
    per_duty: tuple[DutyAnswer, ...]
    rules: tuple[RuleOutcome, ...]

    @property
    def duties(self) -> frozenset[Duty]:
        """The duties that apply."""
        return frozenset(d.duty for d in self.per_duty if d.applies)

    @property
    def listed(self) -> bool:
        """True when a rule of this arrêté names the type (in force or not, excluded or not)."""
        return any(o.rule.effect is Effect.DUTIES for o in self.rules)

    @property
    def other_text(self) -> Rule | None:
        """The row saying the type is already mandatory under another text, if any."""
        return next((o.rule for o in self.rules if o.rule.effect is Effect.OTHER_TEXT), None)

    def for_duty(self, duty: Duty) -> DutyAnswer:
        """The answer for one duty."""
        return next(d for d in self.per_duty if d.duty is duty)

    def applies(self, duty: Duty) -> bool:
        """True when ``duty`` applies."""
        return duty in self.duties

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view (the ``--json`` output of ``carnet sharing obligations``)."""
        return {
            "type_code": self.type_code,
            "type_label": self.type_label,
            "date": self.on_date.isoformat(),
            "context": self.context.to_dict(),
            "listed": self.listed,
            "duties": [d.value for d in Duty if d in self.duties],
            "per_duty": {
                d.duty.value: {
                    "applies": d.applies,
                    "rule_id": d.rule_id,
                    "reason": {"code": d.reason.code.value, "fr": d.reason.fr, "en": d.reason.en},
                }
                for d in self.per_duty
            },
            "rules": [
                {
                    "rule_id": o.rule.id,
                    "outcome": o.outcome.value,
                    "excluded_by": [e.value for e in o.excluded_by],
                    "source": o.rule.source,
                }
                for o in self.rules
            ],
        }


_MONTHS_FR = (
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
)


def french_date(day: dt.date) -> str:
    """``31 décembre 2025`` (``1er`` for the first of the month)."""
    number = "1er" if day.day == 1 else str(day.day)
    return f"{number} {_MONTHS_FR[day.month - 1]} {day.year}"

"""The patient index's domain objects and the pure identity-collision rule."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

import jellyfish
from rapidfuzz import fuzz

from carnet.clock import MAJORITY_AGE, age_on
from carnet.identity.matricule import Ins
from carnet.identity.status import IdentityStatus
from carnet.identity.traits import Traits


@dataclass(frozen=True, slots=True)
class PatientIdentity:
    """One person in the patient index, as the services hand it out."""

    id: str
    status: IdentityStatus
    traits: Traits
    ins: Ins | None
    merged_into_id: str | None = None
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None

    @property
    def display_name(self) -> str:
        name = self.traits.used_name or self.traits.birth_name
        first = self.traits.used_first_name or self.traits.first_name
        return f"{name} {first}"

    def is_minor(self, today: dt.date) -> bool:
        """Under 18 on ``today``, the platform's day (:func:`carnet.clock.local_date`)."""
        return age_on(self.traits.birth_date, today) < MAJORITY_AGE


@dataclass(frozen=True, slots=True)
class Collision:
    """A record that may be the same person (identity-vigilance alert), with the reasons."""

    patient_id: str
    score: float
    reasons: tuple[str, ...]


def phonetic_key(name: str) -> str:
    """A spelling-tolerant key for a normalised name (hyphens, spaces and apostrophes ignored)."""
    compact = "".join(ch for ch in name if ch.isalpha())
    return jellyfish.metaphone(compact)[:40] or compact[:40]


# Similarity (0–100) above which two names are "close" for an identity-vigilance alert.
NAME_SIMILARITY = 80.0


def _close_dates(a: dt.date, b: dt.date) -> str | None:
    if a == b:
        return "même date de naissance"
    if a.year == b.year and a.month == b.day and a.day == b.month:
        return "jour et mois de naissance inversés"
    digits_a, digits_b = a.strftime("%Y%m%d"), b.strftime("%Y%m%d")
    if sum(x != y for x, y in zip(digits_a, digits_b, strict=True)) == 1:
        return "dates de naissance différant d'un chiffre"
    return None


def _name_similarity(a: Traits, b: Traits) -> float:
    names_a = {a.birth_name, *(n for n in [a.used_name] if n)}
    names_b = {b.birth_name, *(n for n in [b.used_name] if n)}
    return max(fuzz.ratio(x, y) for x in names_a for y in names_b)


def find_collisions(traits: Traits, candidates: Iterable[tuple[str, Traits]]) -> list[Collision]:
    """Records whose traits are close to ``traits``: similar names with the same or a mistyped birth date."""
    out: list[Collision] = []
    my_key = phonetic_key(traits.birth_name)
    for patient_id, other in candidates:
        date_reason = _close_dates(traits.birth_date, other.birth_date)
        if date_reason is None:
            continue
        name_score = _name_similarity(traits, other)
        first_score = fuzz.ratio(traits.first_name, other.first_name)
        same_sound = my_key == phonetic_key(other.birth_name)
        if (name_score < NAME_SIMILARITY and not same_sound) or first_score < NAME_SIMILARITY:
            continue
        reasons = [date_reason]
        if traits.birth_name == other.birth_name:
            reasons.append("même nom de naissance")
        elif name_score >= NAME_SIMILARITY:
            reasons.append(f"noms proches ({name_score:.0f} %)")
        else:
            reasons.append("noms de même prononciation")
        reasons.append("même prénom" if first_score == 100 else f"prénoms proches ({first_score:.0f} %)")
        if traits.sex != other.sex:
            reasons.append("sexe différent")
        if traits.birth_place == other.birth_place:
            reasons.append("même lieu de naissance")
        score = (name_score + first_score) / 2 - (10 if traits.sex != other.sex else 0)
        out.append(Collision(patient_id=patient_id, score=round(score, 1), reasons=tuple(reasons)))
    return sorted(out, key=lambda c: -c.score)

"""The INSi teleservice: the port, its sandbox, and the production adapter's boundary.

INSi (CNAM) returns a person's INS and reference traits, either from the Carte Vitale data or from a search
by traits. Its answers carry a return code: ``00`` one identity found, ``01`` none found, ``02`` several
found (traits search only: retry with more first names and/or the birth place).
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from importlib import resources
from typing import Protocol

from carnet.errors import InsiUnavailable
from carnet.identity.matricule import Ins
from carnet.identity.traits import Traits, make_traits, normalise_name


class InsiOutcome(StrEnum):
    FOUND = "00"
    NOT_FOUND = "01"
    SEVERAL_FOUND = "02"

    @property
    def label_fr(self) -> str:
        return {
            "00": "une identité trouvée",
            "01": "aucune identité trouvée : réessayer avec d'autres critères",
            "02": "plusieurs identités trouvées : préciser les prénoms et/ou le lieu de naissance",
        }[self.value]


@dataclass(frozen=True, slots=True)
class InsiResult:
    outcome: InsiOutcome
    ins: Ins | None = None
    traits: Traits | None = None
    candidates: int = 0


@dataclass(frozen=True, slots=True)
class CarteVitaleRead:
    """What practice software reads from a Carte Vitale for one beneficiary on the card."""

    card_nir: str
    beneficiary_birth_date: dt.date
    beneficiary_first_name: str | None = None


@dataclass(frozen=True, slots=True)
class TraitsQuery:
    """A search by traits: birth name, sex and birth date are required; first names and place narrow it."""

    birth_name: str
    sex: str
    birth_date: dt.date
    first_names: tuple[str, ...] = field(default_factory=tuple)
    birth_place: str | None = None


class InsiClient(Protocol):
    def read_carte_vitale(self, card: CarteVitaleRead) -> InsiResult:
        """Retrieve the INS of a beneficiary of a Carte Vitale."""
        ...

    def search_by_traits(self, query: TraitsQuery) -> InsiResult:
        """Retrieve the INS of a person by identity traits."""
        ...


@dataclass(frozen=True, slots=True)
class _SandboxPerson:
    ins: Ins
    traits: Traits
    card_nir: str


class SandboxInsi:
    """A faithful local INSi over a test identity base (test NIRs under the INS-NIR test OID).

    Matching mirrors the teleservice: exact on normalised birth name, sex and birth date; a first name must
    be one of the birth first names; the birth place, when given, must be equal.
    """

    def __init__(self, people: Iterable[_SandboxPerson]) -> None:
        self._people = list(people)

    @classmethod
    def from_package(cls) -> SandboxInsi:
        """The shipped base: carnet/identity/data/insi_sandbox.csv."""
        text = resources.files("carnet.identity").joinpath("data/insi_sandbox.csv").read_text("utf-8")
        return cls.from_rows(csv.DictReader(text.splitlines()))

    @classmethod
    def from_rows(cls, rows: Iterable[dict[str, str]]) -> SandboxInsi:
        today = dt.date.today()
        people = [
            _SandboxPerson(
                ins=Ins.parse(row["matricule"], row["oid"]),
                traits=make_traits(
                    birth_name=row["birth_name"],
                    birth_first_names=row["birth_first_names"],
                    sex=row["sex"],
                    birth_date=row["birth_date"],
                    birth_place=row["birth_place"],
                    today=today,
                ),
                card_nir=row["carte_vitale_nir"],
            )
            for row in rows
        ]
        return cls(people)

    @property
    def people(self) -> list[tuple[Ins, Traits]]:
        return [(p.ins, p.traits) for p in self._people]

    def read_carte_vitale(self, card: CarteVitaleRead) -> InsiResult:
        found = [
            p
            for p in self._people
            if p.card_nir == card.card_nir.replace(" ", "") and p.traits.birth_date == card.beneficiary_birth_date
        ]
        if card.beneficiary_first_name and len(found) > 1:
            first = normalise_name(card.beneficiary_first_name, field="first_name")
            found = [p for p in found if first in p.traits.birth_first_names.split(" ")]
        return self._result(found)

    def search_by_traits(self, query: TraitsQuery) -> InsiResult:
        name = normalise_name(query.birth_name, field="birth_name")
        firsts = {normalise_name(f, field="first_name") for f in query.first_names if f.strip()}
        found = [
            p
            for p in self._people
            if p.traits.birth_name == name
            and p.traits.sex == query.sex
            and p.traits.birth_date == query.birth_date
            and (not firsts or firsts <= set(p.traits.birth_first_names.split(" ")))
            and (query.birth_place is None or p.traits.birth_place == query.birth_place)
        ]
        return self._result(found)

    @staticmethod
    def _result(found: list[_SandboxPerson]) -> InsiResult:
        if not found:
            return InsiResult(InsiOutcome.NOT_FOUND)
        if len(found) > 1:
            return InsiResult(InsiOutcome.SEVERAL_FOUND, candidates=len(found))
        return InsiResult(InsiOutcome.FOUND, ins=found[0].ins, traits=found[0].traits, candidates=1)


class SoapInsi:
    """Production adapter boundary: the CNAM INSi SOAP teleservice.

    The real service needs the facility's authentication certificate (mutual TLS), a VIHF/SAML assertion of
    the acting professional (CPS, e-CPS or CPE) and the LPS and BAM contexts of the calling software, none of
    which exist on this machine, and its endpoints are not reachable from here. docs/insi.md describes the
    contract the adapter implements; until it is configured, every call fails loudly instead of pretending.
    """

    def __init__(self, endpoint: str | None) -> None:
        self.endpoint = endpoint

    def _unavailable(self) -> InsiUnavailable:
        where = self.endpoint or "(CARNET_INSI_ENDPOINT non défini)"
        return InsiUnavailable(
            f"Téléservice INSi injoignable : {where}. Le service réel exige le certificat de l'établissement, "
            "une authentification carte CPS/CPE et un accès au réseau de l'Assurance Maladie ; "
            "utilisez CARNET_INSI_MODE=sandbox en développement."
        )

    def read_carte_vitale(self, card: CarteVitaleRead) -> InsiResult:
        raise self._unavailable()

    def search_by_traits(self, query: TraitsQuery) -> InsiResult:
        raise self._unavailable()

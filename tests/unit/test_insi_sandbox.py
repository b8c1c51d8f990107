"""The sandbox INSi answers like the teleservice: 00 one identity, 01 none, 02 several."""

from __future__ import annotations

import datetime as dt

import pytest

from carnet.errors import InsiUnavailable
from carnet.identity.insi import CarteVitaleRead, InsiOutcome, SandboxInsi, SoapInsi, TraitsQuery
from carnet.identity.matricule import InsOid, is_valid_matricule


@pytest.fixture(scope="module")
def insi() -> SandboxInsi:
    return SandboxInsi.from_package()


def test_every_sandbox_identity_is_a_valid_test_ins(insi: SandboxInsi) -> None:
    assert len(insi.people) >= 60
    for ins, _traits in insi.people:
        assert is_valid_matricule(ins.value)
        assert ins.oid is InsOid.TEST_NIR
    assert len({ins.value for ins, _ in insi.people}) == len(insi.people)


def test_the_ci_sis_example_patient_is_found_by_traits(insi: SandboxInsi) -> None:
    result = insi.search_by_traits(
        TraitsQuery(birth_name="Pat-Trois", sex="F", birth_date=dt.date(1979, 3, 28), first_names=("dominique",))
    )
    assert result.outcome is InsiOutcome.FOUND
    assert result.ins is not None and result.ins.value == "279035121518989"
    assert result.traits is not None and result.traits.birth_first_names == "DOMINIQUE MARIE-LOUISE"


@pytest.mark.parametrize(
    ("query", "outcome"),
    [
        pytest.param(TraitsQuery("PAT-TROIS", "M", dt.date(1979, 3, 28)), InsiOutcome.NOT_FOUND, id="other sex"),
        pytest.param(TraitsQuery("PAT-TROIS", "F", dt.date(1979, 3, 27)), InsiOutcome.NOT_FOUND, id="other date"),
        pytest.param(
            TraitsQuery("PAT-TROIS", "F", dt.date(1979, 3, 28), ("CLAIRE",)),
            InsiOutcome.NOT_FOUND,
            id="first name not among the birth first names",
        ),
        pytest.param(
            TraitsQuery("MARTIN", "M", dt.date(1985, 6, 15), ("JEAN",)),
            InsiOutcome.SEVERAL_FOUND,
            id="homonyms without birth place",
        ),
        pytest.param(
            TraitsQuery("MARTIN", "M", dt.date(1985, 6, 15), ("JEAN",), "69123"),
            InsiOutcome.FOUND,
            id="homonyms told apart by birth place",
        ),
    ],
)
def test_traits_search_outcomes(insi: SandboxInsi, query: TraitsQuery, outcome: InsiOutcome) -> None:
    assert insi.search_by_traits(query).outcome is outcome


def test_a_parents_carte_vitale_serves_each_child_by_birth_date_and_first_name(insi: SandboxInsi) -> None:
    born = dt.date(2016, 5, 9)
    both = insi.read_carte_vitale(CarteVitaleRead("282099910961343", born))
    lucie = insi.read_carte_vitale(CarteVitaleRead("282099910961343", born, "Lucie"))
    assert both.outcome is InsiOutcome.SEVERAL_FOUND and both.candidates == 2
    assert lucie.outcome is InsiOutcome.FOUND and lucie.traits is not None and lucie.traits.first_name == "LUCIE"


def test_the_production_adapter_fails_loudly_when_not_reachable() -> None:
    with pytest.raises(InsiUnavailable, match="INSi injoignable"):
        SoapInsi(None).search_by_traits(TraitsQuery("X", "F", dt.date(2000, 1, 1)))

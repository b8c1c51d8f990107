"""Identity-vigilance alerts: close traits with the same (or a mistyped) birth date."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from carnet.identity.model import find_collisions, phonetic_key
from tests.builders import make_person


def alerts(new: dict[str, Any], existing: dict[str, Any]) -> tuple[str, ...]:
    found = find_collisions(make_person(**new), [("existing", make_person(**existing))])
    return found[0].reasons if found else ()


@pytest.mark.parametrize(
    ("new", "existing", "expected_reason"),
    [
        pytest.param({}, {}, "même nom de naissance", id="same person typed twice"),
        pytest.param({"birth_name": "Lagard"}, {}, "noms proches", id="one letter missing"),
        pytest.param(
            {"birth_name": "Lagarde"},
            {"birth_name": "Lagarde", "used_name": "Martin"},
            "même nom de naissance",
            id="used name does not hide the birth name",
        ),
        pytest.param({"birth_date": "1990-14-02".replace("14-02", "02-14")}, {}, "même date", id="same date"),
        pytest.param(
            {"birth_date": "1990-02-04"},
            {"birth_date": "1990-04-02"},
            "jour et mois de naissance inversés",
            id="day and month swapped",
        ),
        pytest.param({"birth_date": "1990-02-15"}, {}, "différant d'un chiffre", id="one digit typo in the date"),
        pytest.param({"birth_first_names": "Helene"}, {}, "même prénom", id="accents do not matter"),
        pytest.param({"sex": "M"}, {}, "sexe différent", id="sex mistyped is still a warning"),
    ],
)
def test_close_identities_are_flagged(new: dict[str, Any], existing: dict[str, Any], expected_reason: str) -> None:
    reasons = alerts(new, existing)
    assert any(expected_reason in r for r in reasons), reasons


@pytest.mark.parametrize(
    ("new", "existing"),
    [
        pytest.param({"birth_name": "Moreau"}, {}, id="other name"),
        pytest.param({"birth_first_names": "Camille"}, {}, id="other first name"),
        pytest.param({"birth_date": "1975-08-30"}, {}, id="other birth date"),
    ],
)
def test_different_people_are_not_flagged(new: dict[str, Any], existing: dict[str, Any]) -> None:
    assert alerts(new, existing) == ()


def test_the_closest_candidate_comes_first() -> None:
    me = make_person(birth_name="Lagarde")
    found = find_collisions(
        me, [("far", make_person(birth_name="Lagardère")), ("near", make_person(birth_name="Lagarde"))]
    )
    assert [c.patient_id for c in found] == ["near", "far"]


@given(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ -'", min_size=1, max_size=60))
def test_phonetic_key_is_total_and_ignores_separators(name: str) -> None:
    key = phonetic_key(name)
    assert len(key) <= 40
    assert key == phonetic_key(name.replace("-", " ").replace("'", ""))

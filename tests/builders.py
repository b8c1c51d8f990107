"""Builders for test data with names that read like a story."""

from __future__ import annotations

import datetime as dt
from typing import Any

from carnet.identity.status import ActorKind, QualificationActor
from carnet.identity.traits import Traits, make_traits

TODAY = dt.date(2026, 11, 22)

DR_HOUSE = QualificationActor(kind=ActorKind.PROFESSIONAL, profession_code="10", id="810000000001")
NURSE_JOY = QualificationActor(kind=ActorKind.PROFESSIONAL, profession_code="60", id="810000000060")
FRONT_DESK = QualificationActor(kind=ActorKind.SECRETARIAT, profession_code=None, id="CPE-000000101")
THE_PATIENT = QualificationActor(kind=ActorKind.PATIENT, profession_code=None, id="patient-self")


def dominique(**overrides: Any) -> Traits:
    """The CI-SIS example patient, as the INSi sandbox knows her."""
    values: dict[str, Any] = dict(
        birth_name="Pat-Trois",
        birth_first_names="Dominique Marie-Louise",
        sex="F",
        birth_date="1979-03-28",
        birth_place="51215",
    )
    values.update(overrides)
    return make_traits(today=TODAY, **values)


def make_person(**overrides: Any) -> Traits:
    values: dict[str, Any] = dict(
        birth_name="Lagarde",
        birth_first_names="Hélène Rose",
        sex="F",
        birth_date="1990-02-14",
        birth_place="75056",
    )
    values.update(overrides)
    return make_traits(today=TODAY, **values)

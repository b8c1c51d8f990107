"""One notion of "today" for ages: the access decision, the identity rules and the majority job all count a
person's age on the platform's day (Europe/Paris), so around midnight of the 18th birthday they agree.

Born on 15 January 2009 (winter: Paris is UTC+1): 14 January 2027 at 22:30 UTC is 23:30 in Paris, still 17;
at 23:30 UTC it is 00:30 on the 15th in Paris, 18, while the UTC date is still the 14th."""

from __future__ import annotations

import datetime as dt

import pytest

from carnet.bootstrap import Platform
from carnet.clock import FrozenClock, age_at, local_date
from carnet.errors import Forbidden, ValidationError
from carnet.identity import service as identity
from carnet.identity.status import IdDocumentType
from carnet.space import lifecycle_admin
from carnet.space.lifecycle_admin import ContactIn
from tests.builders import FRONT_DESK, PLATFORM, make_person
from tests.lifecycle_builders import representative_of

BORN = dt.date(2009, 1, 15)
STILL_17 = dt.datetime(2027, 1, 14, 22, 30, tzinfo=dt.UTC)  # 23:30 in Paris on the 14th
ALREADY_18 = dt.datetime(2027, 1, 14, 23, 30, tzinfo=dt.UTC)  # 00:30 in Paris on the 15th, the UTC date the 14th


def test_the_age_is_counted_on_the_paris_day() -> None:
    assert local_date(ALREADY_18) == dt.date(2027, 1, 15) and ALREADY_18.date() == dt.date(2027, 1, 14)
    assert (age_at(BORN, STILL_17), age_at(BORN, ALREADY_18)) == (17, 18)
    summer = dt.date(2009, 7, 9)  # Paris is UTC+2: 22:30 UTC is already the next day there
    assert age_at(summer, dt.datetime(2027, 7, 8, 21, 30, tzinfo=dt.UTC)) == 17
    assert age_at(summer, dt.datetime(2027, 7, 8, 22, 30, tzinfo=dt.UTC)) == 18
    leap = dt.date(2008, 2, 29)
    assert age_at(leap, dt.datetime(2026, 2, 28, 12, tzinfo=dt.UTC)) == 17
    assert age_at(leap, dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC)) == 18


def _teen_with_a_parent(platform: Platform) -> str:
    with platform.uow() as uow:
        teen = identity.register(uow=uow, actor=FRONT_DESK, traits=make_person(
            birth_name="MARTIN", birth_first_names="LEA CAMILLE", birth_date=BORN.isoformat())).patient.id  # fmt: skip
        lifecycle_admin.add_representative(uow=uow, actor=PLATFORM, patient_id=teen, representative_id="fc:parent",
                                           role="parent", name="Paul MARTIN",
                                           contact=ContactIn(email="paul.martin@example.org"))  # fmt: skip
        uow.commit()
    return str(teen)


def _parent_may_act(platform: Platform, teen: str) -> bool:
    """The access decision, through a use case the representative of a minor may perform."""
    try:
        with platform.uow() as uow:
            lifecycle_admin.administrative_data(uow=uow, actor=representative_of(teen, "fc:parent"), patient_id=teen)
            uow.commit()
    except Forbidden as refused:
        assert "majorité" in refused.message
        return False
    return True


@pytest.mark.parametrize(("instant", "minor"), [(STILL_17, True), (ALREADY_18, False)], ids=["22h30Z", "23h30Z"])
def test_the_decision_and_the_majority_job_agree_around_midnight(
    platform: Platform, clock: FrozenClock, instant: dt.datetime, minor: bool
) -> None:
    teen = _teen_with_a_parent(platform)
    clock.advance(instant - clock.now())
    with platform.uow() as uow:
        assert lifecycle_admin.administrative_data(uow=uow, actor=PLATFORM, patient_id=teen).minor is minor
    assert _parent_may_act(platform, teen) is minor
    report = lifecycle_admin.majority_due(platform=platform)
    assert report.majorities == (0 if minor else 1)
    with platform.uow() as uow:
        assert bool(uow.access.representatives(teen)) is minor


@pytest.mark.parametrize(("instant", "minor"), [(STILL_17, True), (ALREADY_18, False)], ids=["22h30Z", "23h30Z"])
def test_the_identity_rules_read_the_same_day(platform: Platform, clock: FrozenClock, instant: dt.datetime,
                                              minor: bool) -> None:  # fmt: skip
    """A birth certificate proves the identity of a minor only: accepted at 23:30 in Paris, refused at 00:30."""
    teen = _teen_with_a_parent(platform)
    clock.advance(instant - clock.now())
    with platform.uow() as uow:
        if minor:
            identity.record_document_check(uow=uow, actor=FRONT_DESK, patient_id=teen,
                                           document_type=IdDocumentType.AN)  # fmt: skip
            uow.commit()
        else:
            with pytest.raises(ValidationError, match="n'est acceptée que pour un mineur"):
                identity.record_document_check(uow=uow, actor=FRONT_DESK, patient_id=teen,
                                               document_type=IdDocumentType.AN)  # fmt: skip

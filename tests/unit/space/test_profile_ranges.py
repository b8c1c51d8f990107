"""The physiological ranges and UCUM units of every kind of measure, as properties (hypothesis): a value inside its
range in an accepted unit is taken, anything outside or in another unit is refused with the element at fault."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from carnet.space.profile_model import Measurement, Quantity, VitalKind, check_measurement, vital_kinds

NOW = dt.datetime(2026, 11, 22, 9, 30, tzinfo=dt.UTC)
BORN = dt.date(1979, 3, 28)
SIMPLE = [k for k in vital_kinds().values() if not k.components]
UNITS = sorted({u for k in vital_kinds().values() for part in (k.components or (k,)) for u in part.units}
               | {"[lb_av]", "[degF]", "kPa", "mmol/L", "1", "%25", ""})  # fmt: skip
PROPERTIES = settings(max_examples=200, deadline=None)


def _measure(kind: VitalKind, value: float, unit: str) -> Measurement:
    return Measurement(
        kind=kind.key, values={kind.key: Quantity(value, unit)}, effective_at=NOW - dt.timedelta(hours=1)
    )


@st.composite
def inside(draw: st.DrawFn) -> tuple[VitalKind, float, str]:
    kind = draw(st.sampled_from(SIMPLE))
    unit = draw(st.sampled_from(kind.units))
    assert kind.low is not None and kind.high is not None
    factor = 1.0 if unit == kind.unit else kind.other_units[unit]
    value = draw(st.floats(min_value=kind.low / factor, max_value=kind.high / factor, allow_nan=False))
    return kind, value, unit


@PROPERTIES
@given(inside())
def test_a_value_inside_its_range_in_an_accepted_unit_is_taken(case: tuple[VitalKind, float, str]) -> None:
    kind, value, unit = case
    problems = check_measurement(_measure(kind, value, unit), now=NOW, birth_date=BORN)
    canonical = kind.canonical(value, unit)
    # Only a conversion's rounding right at a bound (1 g below 0.3 kg by a hair) may fall outside.
    assert all(
        p.code == "out_of_range" and min(abs(canonical - (kind.low or 0)), abs(canonical - (kind.high or 0))) < 1e-9
        for p in problems
    ), problems


@PROPERTIES
@given(st.sampled_from(SIMPLE), st.floats(allow_nan=False, allow_infinity=False), st.data())
def test_a_value_outside_its_range_is_refused_naming_the_value(
    kind: VitalKind, value: float, data: st.DataObject
) -> None:
    unit = data.draw(st.sampled_from(kind.units))
    canonical = kind.canonical(value, unit)
    assert kind.low is not None and kind.high is not None
    problems = check_measurement(_measure(kind, value, unit), now=NOW, birth_date=BORN)
    if kind.low <= canonical <= kind.high:
        assert problems == []
    else:
        assert [(p.code, p.expression) for p in problems] == [("out_of_range", "Observation.valueQuantity.value")]


@PROPERTIES
@given(st.sampled_from(SIMPLE), st.sampled_from(UNITS))
def test_a_unit_that_is_not_the_kinds_is_refused_naming_the_unit(kind: VitalKind, unit: str) -> None:
    value = kind.low if kind.low is not None else 1.0
    problems = check_measurement(_measure(kind, value, unit), now=NOW, birth_date=BORN)
    if unit in kind.units:
        assert all(p.code != "wrong_unit" for p in problems)
    else:
        assert [(p.code, p.expression) for p in problems] == [("wrong_unit", "Observation.valueQuantity.code")]


@PROPERTIES
@given(st.integers(min_value=40, max_value=300), st.integers(min_value=20, max_value=200))
def test_a_blood_pressure_is_taken_only_when_the_systolic_is_above_the_diastolic(systolic: int, diastolic: int) -> None:
    m = Measurement(kind="blood_pressure", effective_at=NOW, values={
        "systolic": Quantity(systolic, "mm[Hg]", where="Observation.component[0].valueQuantity"),
        "diastolic": Quantity(diastolic, "mm[Hg]", where="Observation.component[1].valueQuantity"),
    })  # fmt: skip
    codes = [p.code for p in check_measurement(m, now=NOW, birth_date=BORN)]
    assert codes == ([] if systolic > diastolic else ["systolic_not_above_diastolic"])

"""Time as a dependency: always timezone-aware UTC; the platform's day is the French legal day (Europe/Paris).

Every rule counted in days (a person's age, the six weeks of opposition, the retention period) reads the day of
:data:`PLATFORM_TZ`, never the UTC date: between midnight in Paris and midnight UTC the two differ by one day.
"""

from __future__ import annotations

import datetime as dt
from typing import Protocol
from zoneinfo import ZoneInfo

PLATFORM_TZ = ZoneInfo("Europe/Paris")
MAJORITY_AGE = 18


class Clock(Protocol):
    def now(self) -> dt.datetime: ...


class SystemClock:
    """The wall clock, in UTC."""

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)


class FrozenClock:
    """A clock for tests and replays: returns a fixed instant until moved."""

    def __init__(self, instant: dt.datetime) -> None:
        if instant.tzinfo is None:
            raise ValueError("FrozenClock needs a timezone-aware instant")
        self._instant = instant.astimezone(dt.UTC)

    def now(self) -> dt.datetime:
        return self._instant

    def advance(self, delta: dt.timedelta) -> None:
        self._instant += delta


def ensure_utc(value: dt.datetime) -> dt.datetime:
    """Return ``value`` as aware UTC; naive datetimes read back from SQLite are UTC by construction."""
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def local_date(instant: dt.datetime) -> dt.date:
    """The platform's day (French legal time) at ``instant`` (aware; naive is read as UTC)."""
    return ensure_utc(instant).astimezone(PLATFORM_TZ).date()


def age_on(born: dt.date, day: dt.date) -> int:
    """A person's age in full years on ``day`` (born on 29 February: one year older on 1 March of a common
    year)."""
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def age_at(born: dt.date, instant: dt.datetime) -> int:
    """A person's age at ``instant``, counted on the platform's day (:func:`local_date`): the one notion of age of
    the access decision, the identity rules and the majority job."""
    return age_on(born, local_date(instant))

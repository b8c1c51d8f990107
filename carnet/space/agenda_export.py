"""The agenda's and the reimbursements' section of the export and of ``Patient/$everything``
(:mod:`carnet.space.export`).

Registered on import: the patient's events (``Appointment``, cancelled ones included) and reimbursed acts
(``ExplanationOfBenefit``) that the actor may read, each read through its service (the access decision on the
space's category, the audit trail); a category the actor may not read is left out. ``since`` keeps what changed
(an event updated, a line imported) since then.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

from carnet.api.agenda_api import appointment, explanation_of_benefit
from carnet.errors import Forbidden
from carnet.space import agenda, export, reimbursements

RESOURCE_TYPES = ("Appointment", "ExplanationOfBenefit")


def _read(read: Callable[[], list[Any]]) -> list[Any]:
    try:
        return read()
    except Forbidden:  # refused (and traced by the service): this category stays out of the export
        return []


def _changed(at: dt.datetime, since: dt.datetime | None) -> bool:
    aware = at if at.tzinfo else at.replace(tzinfo=dt.UTC)
    return since is None or aware >= since


def resources(scope: export.Scope) -> Iterator[dict[str, Any]]:
    """The agenda's and the reimbursements' resources of ``scope.patient_id`` that ``scope.actor`` may read."""
    common: dict[str, Any] = {"uow": scope.uow, "actor": scope.actor, "patient_id": scope.patient_id, "ctx": scope.ctx}
    if scope.wants("Appointment"):
        for event in _read(lambda: agenda.list_events(**common)):
            if _changed(event.updated_at, scope.since):
                yield appointment(event)
    if scope.wants("ExplanationOfBenefit"):
        for line in _read(lambda: reimbursements.list_lines(**common)):
            if _changed(line.imported_at, scope.since):
                yield explanation_of_benefit(line)


export.register_resources("agenda", RESOURCE_TYPES, resources)

"""The health profile's section of the export and of ``Patient/$everything`` (:mod:`carnet.space.export`).

Registered on import: the Observations, Immunizations, AllergyIntolerances (every status) and
QuestionnaireResponses (every answering) of the patient that the actor may read, each category read through
:mod:`carnet.space.profile` (the access decision, the audit trail); a category the actor may not read is left out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from carnet.errors import Forbidden
from carnet.space import export
from carnet.space import profile as service
from carnet.space import profile_fhir as fhir

RESOURCE_TYPES = ("Observation", "Immunization", "AllergyIntolerance", "QuestionnaireResponse")


def _read(scope: export.Scope, read: Callable[[], list[Any]]) -> list[Any]:
    try:
        return read()
    except Forbidden:  # refused (and traced by the service): this category stays out of the export
        return []


def resources(scope: export.Scope) -> Iterator[dict[str, Any]]:
    """The profile's resources of ``scope.patient_id`` that ``scope.actor`` may read."""
    common: dict[str, Any] = {"uow": scope.uow, "actor": scope.actor, "patient_id": scope.patient_id, "ctx": scope.ctx}
    if scope.wants("Observation"):
        for measure in _read(scope, lambda: service.list_measures(**common, since=scope.since)):
            yield fhir.observation(measure)
    if scope.wants("Immunization"):
        for given in _read(scope, lambda: service.list_immunizations(**common)):
            yield fhir.immunization(given)
    if scope.wants("AllergyIntolerance"):
        for allergy in _read(scope, lambda: service.list_allergies(**common, active_only=False)):
            yield fhir.allergy_intolerance(allergy)
    if scope.wants("QuestionnaireResponse"):
        for answered in _read(scope, lambda: service.list_questionnaire_responses(**common)):
            yield fhir.questionnaire_response(answered)


export.register_resources("profile", RESOURCE_TYPES, resources)

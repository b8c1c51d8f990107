"""The health profile as FHIR R4 (4.0.1) resources, and FHIR input read back into the profile's values.

- a measure is an ``Observation`` following the FHIR vital signs profile (``meta.profile`` vitalsigns and the
  kind's own: bodyweight, bodyheight, bp…; category ``vital-signs``; LOINC ``code``; UCUM ``valueQuantity``; blood
  pressure as the 85354-9 panel with its systolic and diastolic ``component``); glucose is a ``laboratory``
  Observation with no vital signs profile (it is not one of them);
- a vaccination is an ``Immunization`` (``vaccineCode``: CIS code and ATC class from the reference's example, or the
  vaccine's name only in ``text``; ``primarySource`` true when recorded by the professional who gave it);
- an allergy is an ``AllergyIntolerance`` (substance in ``code.text``; ``verificationStatus`` unconfirmed when
  declared by the holder, confirmed when recorded by a professional);
- the questionnaire is a ``Questionnaire`` (data: ``carnet/space/data/questionnaire-profil-medical.json``) and each
  answering a ``QuestionnaireResponse``.

Reading input: :func:`measurement_from` and the others take a resource already validated by ``fhir.resources`` (the
API does it, 400 on a malformed one) and return the values, or raise
:class:`~carnet.space.profile_model.ProfileRejected` with each problem's FHIR expression (422). No framework here:
the export of the space uses the same functions.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from carnet.space.profile import AllergyView, ImmunizationView, MeasureView, QuestionnaireView, Source
from carnet.space.profile_model import (
    ATC_SYSTEM,
    CIS_SYSTEM,
    LOINC,
    QUESTIONNAIRE_URL,
    UCUM,
    AllergyIn,
    Answers,
    ImmunizationIn,
    Measurement,
    Problem,
    ProfileRejected,
    Quantity,
    kind_of_code,
    questionnaire,
    vaccine,
)

__all__ = [
    "allergy_from",
    "allergy_intolerance",
    "answers_from",
    "immunization",
    "immunization_from",
    "measurement_from",
    "observation",
    "questionnaire_response",
]

OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
VITAL_SIGNS = "http://hl7.org/fhir/StructureDefinition/vitalsigns"
ALLERGY_CLINICAL = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"
ALLERGY_VERIFICATION = "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification"
IMMUNIZATION_ORIGIN = "http://terminology.hl7.org/CodeSystem/immunization-origin"
APP_SYSTEM = "https://carnet.example.org/fhir/sid/app"  # as carnet.api.consents: a referenced app's client id
ID_NAT_PS = "urn:oid:1.2.250.1.71.4.2.1"  # the national id of health professionals (reference/identifier_systems)
_CATEGORY_DISPLAY = {"vital-signs": "Vital Signs", "laboratory": "Laboratory"}


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat()


def _patient(patient_id: str) -> dict[str, str]:
    return {"reference": f"Patient/{patient_id}"}


def _who(source: Source, patient_id: str) -> dict[str, Any]:
    """A reference to whoever recorded the item (the holder, a representative, a professional, an app)."""
    if source.kind == "patient":
        return _patient(patient_id)
    if source.kind == "professional":
        return {"identifier": {"system": ID_NAT_PS, "value": source.id}, "display": source.name or source.id}
    if source.kind == "app":
        return {"identifier": {"system": APP_SYSTEM, "value": source.id}, "display": source.name or source.id}
    labels = {"representative": "représentant légal", "system": "plateforme"}
    return {"display": source.name or labels.get(source.kind, source.kind)}


def _quantity(value: float, unit: str) -> dict[str, Any]:
    return {"value": value, "unit": unit, "system": UCUM, "code": unit}


# --- Observation ------------------------------------------------------------------------------------------------


def observation(m: MeasureView) -> dict[str, Any]:
    """The Observation of one measure."""
    kind = m.kind
    codings = [{"system": LOINC, "code": kind.loinc, "display": kind.loinc_display}]
    codings += [{"system": LOINC, "code": code} for code in kind.extra_codes]
    meta: dict[str, Any] = {"lastUpdated": _iso(m.recorded_at)}
    if kind.category == "vital-signs":
        meta["profile"] = [VITAL_SIGNS, *([kind.profile_url] if kind.profile_url else [])]
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "id": m.id,
        "meta": meta,
        "status": m.status,
        "category": [
            {
                "coding": [
                    {
                        "system": OBSERVATION_CATEGORY,
                        "code": kind.category,
                        "display": _CATEGORY_DISPLAY.get(kind.category, kind.category),
                    }
                ]
            }
        ],
        "code": {"coding": codings, "text": kind.label_fr},
        "subject": _patient(m.patient_id),
        "effectiveDateTime": _iso(m.effective_at),
        "issued": _iso(m.recorded_at),
    }
    if m.source.kind == "app":
        resource["device"] = _who(m.source, m.patient_id)
    else:
        resource["performer"] = [_who(m.source, m.patient_id)]
    if kind.components:
        resource["component"] = [
            {
                "code": {
                    "coding": [{"system": LOINC, "code": part.loinc, "display": part.loinc_display}],
                    "text": part.label_fr,
                },
                "valueQuantity": _quantity(*m.values[part.key]),
            }
            for part in kind.components
            if part.key in m.values
        ]
    else:
        resource["valueQuantity"] = _quantity(*m.values[kind.key])
    if m.note:
        resource["note"] = [{"text": m.note}]
    return resource


def _reference_id(value: Any, resource_type: str) -> str | None:
    text = str((value or {}).get("reference") or "")
    head, _, tail = text.rstrip("/").rpartition("/")
    return tail if head.endswith(resource_type) and tail else None


def _moment(text: Any) -> dt.datetime | None:
    """A FHIR dateTime with a time and a zone (a measure is taken at an instant), or None."""
    if not isinstance(text, str) or "T" not in text:
        return None
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo is not None else None


def _quantity_in(raw: Any, where: str, problems: list[Problem]) -> Quantity | None:
    if not isinstance(raw, dict) or raw.get("value") is None:
        problems.append(
            Problem(
                "value_missing", f"{where}.value : valeur obligatoire", f"{where}.value: required", f"{where}.value"
            )
        )
        return None
    code = raw.get("code")
    if not code:
        problems.append(
            Problem(
                "unit_missing",
                f"{where}.code : code UCUM de l'unité obligatoire",
                f"{where}.code: the UCUM unit code is required",
                f"{where}.code",
            )
        )
        return None
    return Quantity(float(raw["value"]), str(code), str(raw.get("system") or ""), where)


def measurement_from(body: dict[str, Any]) -> tuple[str, Measurement]:
    """The patient id and the measure of an Observation (validated structurally before); every problem at once."""
    problems: list[Problem] = []
    patient_id = _reference_id(body.get("subject"), "Patient")
    if patient_id is None:
        problems.append(
            Problem(
                "subject_missing",
                "Observation.subject : référence Patient/<id> obligatoire",
                "Observation.subject: a Patient/<id> reference is required",
                "Observation.subject",
            )
        )
    if body.get("status") != "final":
        problems.append(
            Problem(
                "status",
                "Observation.status : « final » attendu (une mesure prise)",
                "Observation.status: “final” expected (a measure taken)",
                "Observation.status",
            )
        )
    codings = [c for c in ((body.get("code") or {}).get("coding") or []) if isinstance(c, dict)]
    kind = next(
        (
            kind_of_code(str(c.get("code")))
            for c in codings
            if c.get("system") == LOINC and kind_of_code(str(c.get("code"))) is not None
        ),
        None,
    )
    if kind is None:
        given = ", ".join(f"{c.get('system')}|{c.get('code')}" for c in codings) or "aucun"
        problems.append(
            Problem(
                "unknown_vital",
                f"Observation.code : code LOINC d'une constante attendu (reçu : {given})",
                f"Observation.code: the LOINC code of a vital sign is expected (got: {given})",
                "Observation.code.coding",
            )
        )
    effective = _moment(body.get("effectiveDateTime"))
    if effective is None:
        problems.append(
            Problem(
                "effective_missing",
                "Observation.effectiveDateTime : date et heure de la mesure, avec fuseau horaire, obligatoires",
                "Observation.effectiveDateTime: the date and time of the measure, with a time zone, are required",
                "Observation.effectiveDateTime",
            )
        )
    values: dict[str, Quantity] = {}
    if kind is not None and kind.components:
        by_code = {part.loinc: part for part in kind.components}
        for index, component in enumerate(body.get("component") or []):
            where = f"Observation.component[{index}]"
            codes = [
                str(c.get("code"))
                for c in ((component.get("code") or {}).get("coding") or [])
                if c.get("system") == LOINC
            ]
            part = next((by_code[c] for c in codes if c in by_code), None)
            if part is None:
                problems.append(
                    Problem(
                        "unknown_component",
                        f"{where}.code : composante inconnue de "
                        f"« {kind.label_fr} » (attendu : "
                        f"{', '.join(p.loinc for p in kind.components)})",
                        f"{where}.code: unknown component of “{kind.label_en}”",
                        f"{where}.code",
                    )
                )
                continue
            quantity = _quantity_in(component.get("valueQuantity"), f"{where}.valueQuantity", problems)
            if quantity is not None:
                values[part.key] = quantity
    elif kind is not None:
        quantity = _quantity_in(body.get("valueQuantity"), "Observation.valueQuantity", problems)
        if quantity is not None:
            values[kind.key] = quantity
    if problems:
        raise ProfileRejected(problems)
    assert kind is not None and patient_id is not None and effective is not None
    notes = body.get("note") or []
    note = str(notes[0].get("text") or "") if notes and isinstance(notes[0], dict) else None
    return patient_id, Measurement(kind=kind.key, values=values, effective_at=effective, note=note or None)


# --- Immunization -----------------------------------------------------------------------------------------------


def immunization(i: ImmunizationView) -> dict[str, Any]:
    """The Immunization of one vaccination."""
    coded = vaccine(i.vaccine_cis) if i.vaccine_cis else None
    code: dict[str, Any] = {"text": i.vaccine_display}
    if coded is not None:
        code["coding"] = [
            {"system": CIS_SYSTEM, "code": coded.cis, "display": coded.display},
            {"system": ATC_SYSTEM, "code": coded.atc, "display": coded.atc_display},
        ]
    resource: dict[str, Any] = {
        "resourceType": "Immunization",
        "id": i.id,
        "meta": {"lastUpdated": _iso(i.recorded_at)},
        "status": "completed",
        "vaccineCode": code,
        "patient": _patient(i.patient_id),
        "occurrenceDateTime": i.occurrence.isoformat(),
        "recorded": _iso(i.recorded_at),
        "primarySource": i.primary_source,
    }
    if not i.primary_source:  # declared after the fact by the holder (carnet de vaccination) or an app
        resource["reportOrigin"] = {
            "coding": [{"system": IMMUNIZATION_ORIGIN, "code": "record" if i.source.kind == "app" else "recall"}]
        }
    if i.lot_number:
        resource["lotNumber"] = i.lot_number
    if i.source.kind == "professional":
        resource["performer"] = [{"actor": _who(i.source, i.patient_id)}]
    if i.dose_number:
        resource["protocolApplied"] = [{"doseNumberPositiveInt": i.dose_number}]
    if i.note:
        resource["note"] = [{"text": i.note}]
    return resource


def immunization_from(body: dict[str, Any]) -> tuple[str, ImmunizationIn]:
    """The patient id and the vaccination of an Immunization (validated structurally before)."""
    problems: list[Problem] = []
    patient_id = _reference_id(body.get("patient"), "Patient")
    if patient_id is None:
        problems.append(
            Problem(
                "subject_missing",
                "Immunization.patient : référence Patient/<id> obligatoire",
                "Immunization.patient: a Patient/<id> reference is required",
                "Immunization.patient",
            )
        )
    if body.get("status") != "completed":
        problems.append(
            Problem(
                "status",
                "Immunization.status : « completed » attendu",
                "Immunization.status: “completed” expected",
                "Immunization.status",
            )
        )
    code = body.get("vaccineCode") or {}
    cis = next((str(c.get("code")) for c in code.get("coding") or [] if c.get("system") == CIS_SYSTEM), None)
    occurrence = str(body.get("occurrenceDateTime") or "")
    day: dt.date | None = None
    try:
        day = dt.date.fromisoformat(occurrence[:10]) if len(occurrence) >= 10 else None
    except ValueError:
        day = None
    if day is None:
        problems.append(
            Problem(
                "occurrence_missing",
                "Immunization.occurrenceDateTime : date de la vaccination (AAAA-MM-JJ) obligatoire",
                "Immunization.occurrenceDateTime: the date of the vaccination (YYYY-MM-DD) is required",
                "Immunization.occurrenceDateTime",
            )
        )
    if problems:
        raise ProfileRejected(problems)
    assert patient_id is not None and day is not None
    applied = body.get("protocolApplied") or []
    dose = applied[0].get("doseNumberPositiveInt") if applied else None
    notes = body.get("note") or []
    return patient_id, ImmunizationIn(
        occurrence=day,
        vaccine_cis=cis,
        vaccine_text=str(code.get("text") or "") or None,
        dose_number=int(dose) if dose is not None else None,
        lot_number=body.get("lotNumber"),
        note=str(notes[0].get("text") or "") or None if notes else None,
    )


# --- AllergyIntolerance -----------------------------------------------------------------------------------------


def allergy_intolerance(a: AllergyView) -> dict[str, Any]:
    """The AllergyIntolerance of one allergy."""
    verified = "confirmed" if a.source.kind == "professional" else "unconfirmed"
    resource: dict[str, Any] = {
        "resourceType": "AllergyIntolerance",
        "id": a.id,
        "meta": {"lastUpdated": _iso(a.updated_at)},
        "clinicalStatus": {"coding": [{"system": ALLERGY_CLINICAL, "code": a.clinical_status}]},
        "verificationStatus": {"coding": [{"system": ALLERGY_VERIFICATION, "code": verified}]},
        "code": {"text": a.substance},
        "patient": _patient(a.patient_id),
        "recordedDate": _iso(a.recorded_at),
    }
    if a.category:
        resource["category"] = [a.category]
    if a.criticality:
        resource["criticality"] = a.criticality
    who = _who(a.source, a.patient_id)
    if a.source.is_holder:
        resource["asserter"] = who
    elif "reference" not in who:
        resource["recorder"] = who
    if a.reaction:
        resource["reaction"] = [{"manifestation": [{"text": a.reaction}]}]
    return resource


def allergy_from(body: dict[str, Any]) -> tuple[str, AllergyIn]:
    """The patient id and the allergy of an AllergyIntolerance (validated structurally before)."""
    problems: list[Problem] = []
    patient_id = _reference_id(body.get("patient"), "Patient")
    if patient_id is None:
        problems.append(
            Problem(
                "subject_missing",
                "AllergyIntolerance.patient : référence Patient/<id> obligatoire",
                "AllergyIntolerance.patient: a Patient/<id> reference is required",
                "AllergyIntolerance.patient",
            )
        )
    code = body.get("code") or {}
    substance = str(
        code.get("text") or next((c.get("display") for c in code.get("coding") or [] if c.get("display")), "") or ""
    )
    status_codes = [c.get("code") for c in (body.get("clinicalStatus") or {}).get("coding") or []]
    categories = body.get("category") or []
    reactions = body.get("reaction") or []
    reaction = None
    if reactions:
        manifestations = reactions[0].get("manifestation") or []
        reaction = reactions[0].get("description") or (manifestations[0].get("text") if manifestations else None)
    if problems:
        raise ProfileRejected(problems)
    assert patient_id is not None
    return patient_id, AllergyIn(
        substance=substance,
        category=categories[0] if categories else None,
        criticality=body.get("criticality"),
        reaction=reaction,
        clinical_status=str(status_codes[0]) if status_codes else "active",
    )


# --- QuestionnaireResponse --------------------------------------------------------------------------------------


def _texts() -> dict[str, str]:
    out: dict[str, str] = {}

    def walk(items: list[dict[str, Any]]) -> None:
        for item in items:
            out[item["linkId"]] = item["text"]
            walk(item.get("item") or [])

    walk(questionnaire()["item"])
    return out


def questionnaire_response(q: QuestionnaireView) -> dict[str, Any]:
    """The QuestionnaireResponse of one answering (questions without an answer are left out)."""
    texts = _texts()
    items: list[dict[str, Any]] = []
    for link_id, values in q.answers.lists().items():
        if values:
            items.append({"linkId": link_id, "text": texts[link_id], "answer": [{"valueString": v} for v in values]})
    directives: list[dict[str, Any]] = []
    a = q.answers
    if a.directives_written is not None:
        directives.append(
            {
                "linkId": "directives.redigees",
                "text": texts["directives.redigees"],
                "answer": [{"valueBoolean": a.directives_written}],
            }
        )
    for link_id, value in (
        ("directives.lieu", a.directives_where),
        ("directives.personne_confiance", a.trusted_person),
    ):
        if value:
            directives.append({"linkId": link_id, "text": texts[link_id], "answer": [{"valueString": value}]})
    if directives:
        items.append({"linkId": "directives", "text": texts["directives"], "item": directives})
    resource: dict[str, Any] = {
        "resourceType": "QuestionnaireResponse",
        "id": q.id,
        "meta": {"lastUpdated": _iso(q.authored_at)},
        "questionnaire": q.questionnaire,
        "status": q.status,
        "subject": _patient(q.patient_id),
        "authored": _iso(q.authored_at),
        "author": _who(q.source, q.patient_id),
        "source": _patient(q.patient_id),
    }
    if items:
        resource["item"] = items
    return resource


def answers_from(body: dict[str, Any]) -> tuple[str, Answers]:
    """The patient id and the answers of a QuestionnaireResponse to the profile's questionnaire."""
    problems: list[Problem] = []
    patient_id = _reference_id(body.get("subject"), "Patient")
    if patient_id is None:
        problems.append(
            Problem(
                "subject_missing",
                "QuestionnaireResponse.subject : référence Patient/<id> obligatoire",
                "QuestionnaireResponse.subject: a Patient/<id> reference is required",
                "QuestionnaireResponse.subject",
            )
        )
    canonical = str(body.get("questionnaire") or "")
    if canonical.partition("|")[0] != QUESTIONNAIRE_URL:
        problems.append(
            Problem(
                "questionnaire",
                f"QuestionnaireResponse.questionnaire : {QUESTIONNAIRE_URL} attendu",
                f"QuestionnaireResponse.questionnaire: {QUESTIONNAIRE_URL} expected",
                "QuestionnaireResponse.questionnaire",
            )
        )
    if body.get("status") not in ("completed", "amended"):
        problems.append(
            Problem(
                "status",
                "QuestionnaireResponse.status : completed ou amended attendu",
                "QuestionnaireResponse.status: completed or amended expected",
                "QuestionnaireResponse.status",
            )
        )
    lists: dict[str, list[str]] = {key: [] for key in ("traitements", "interventions", "antecedents", "allergies")}
    flags: dict[str, Any] = {}
    where: dict[str, str] = {}

    def answer_values(item: dict[str, Any], path: str, kind: str) -> list[Any]:
        out = []
        for index, answer in enumerate(item.get("answer") or []):
            value = answer.get(kind)
            if value is None:
                problems.append(
                    Problem(
                        "answer_type",
                        f"{path}.answer[{index}] : {kind} attendu",
                        f"{path}.answer[{index}]: {kind} expected",
                        f"{path}.answer[{index}]",
                    )
                )
            else:
                out.append(value)
        return out

    def walk(items: list[dict[str, Any]], prefix: str) -> None:
        for index, item in enumerate(items):
            path = f"{prefix}.item[{index}]"
            link_id = str(item.get("linkId") or "")
            where[link_id] = path
            if link_id in lists:
                lists[link_id] += [" ".join(str(v).split()) for v in answer_values(item, path, "valueString")]
            elif link_id == "directives":
                walk(item.get("item") or [], path)
            elif link_id == "directives.redigees":
                values = answer_values(item, path, "valueBoolean")
                flags[link_id] = bool(values[0]) if values else None
            elif link_id in ("directives.lieu", "directives.personne_confiance"):
                flags[link_id] = " ".join(str(v) for v in answer_values(item, path, "valueString")).strip()
            else:
                problems.append(
                    Problem(
                        "unknown_item",
                        f"{path}.linkId : question « {link_id} » inconnue du questionnaire",
                        f"{path}.linkId: unknown question “{link_id}”",
                        f"{path}.linkId",
                    )
                )

    walk(body.get("item") or [], "QuestionnaireResponse")
    if problems:
        raise ProfileRejected(problems)
    assert patient_id is not None
    return patient_id, Answers(
        treatments=tuple(lists["traitements"]),
        interventions=tuple(lists["interventions"]),
        history=tuple(lists["antecedents"]),
        allergies=tuple(dict.fromkeys(lists["allergies"])),
        directives_written=flags.get("directives.redigees"),
        directives_where=flags.get("directives.lieu", ""),
        trusted_person=flags.get("directives.personne_confiance", ""),
        where=where,
    )

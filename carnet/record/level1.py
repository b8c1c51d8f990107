"""A PDF wrapped in a CDA R2 level 1 document (non-structured body), the form a professional deposits a PDF in.

The record takes only CDA documents from professionals (``record.deposit``: "le PDF va dans un CDA niveau 1"), so
a PDF chosen with its metadata on a form is first wrapped here: the header follows the ANS example
``DOC_NON_STRUCTURE_CDA-R2-N1.xml`` (templates CI-SIS header and IHE XDS-SD), the body is the PDF in base64. Pure:
no I/O; every value is put in the tree by lxml (escaped), and the codes are those of the official value sets
(the document checker then reads the result as any other CDA).
"""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from dataclasses import dataclass

from lxml import etree

from carnet.errors import ValidationError
from carnet.identity.model import PatientIdentity
from carnet.record.model import IDNATPS_OID, Author
from carnet.record.valuesets import value_sets

__all__ = ["Level1Form", "pdf_document"]

HL7 = "urn:hl7-org:v3"
IDNATST_OID = "1.2.250.1.71.4.2.2"  # national identifiers of organisations (idNatSt)
CONFIDENTIALITY_OID = "2.16.840.1.113883.5.25"
GENDER_OID = "2.16.840.1.113883.5.1"
ENCOUNTER_OID = "2.16.840.1.113883.5.4"  # ActCode: AMB (ambulatory)
TEMPLATES = ("2.16.840.1.113883.2.8.2.1", "1.2.250.1.213.1.1.1.1", "1.3.6.1.4.1.19376.1.2.20")
_PARIS = "Europe/Paris"


@dataclass(frozen=True, slots=True, kw_only=True)
class Level1Form:
    """What the professional chose on the deposit form (codes from JDV_J07/J66, J08, J04, J02)."""

    type_code: str
    title: str
    confidentiality_code: str = "N"
    practice_setting: str
    facility_type: str
    service_start: dt.datetime | None = None


def _ts(moment: dt.datetime) -> str:
    """An HL7 TS in French legal time with its offset (``20260312101500+0100``)."""
    from zoneinfo import ZoneInfo

    local = moment.astimezone(ZoneInfo(_PARIS))
    return local.strftime("%Y%m%d%H%M%S%z")


def _el(parent: etree._Element, name: str, text: str | None = None, **attributes: str | None) -> etree._Element:
    element = etree.SubElement(parent, f"{{{HL7}}}{name}", {k: v for k, v in attributes.items() if v is not None})
    if text is not None:
        element.text = text
    return element


def _person(parent: etree._Element, author: Author) -> None:
    person = _el(parent, "assignedPerson")
    name = _el(person, "name")
    if author.given:
        _el(name, "given", author.given)
    _el(name, "family", author.family or author.id)


def _organisation(parent: etree._Element, tag: str, author: Author) -> etree._Element:
    org = _el(parent, tag)
    if author.organisation_id:
        _el(org, "id", root=IDNATST_OID, extension=author.organisation_id)
    else:
        _el(org, "id", nullFlavor="NI")
    _el(org, "name", author.organisation_name or author.display_name)
    return org


def _checked(form: Level1Form, author: Author) -> None:
    """The form's codes are the official ones (a wrong code is the form's error, said before anything is built)."""
    vs = value_sets()
    problems = []
    if vs.type_code_dmp.get(form.type_code) is None:
        problems.append(f"type de document inconnu de JDV_J66 : {form.type_code!r}")
    if form.confidentiality_code not in ("N", "R", "V"):
        problems.append(f"confidentialité attendue N, R ou V (JDV_J08) : {form.confidentiality_code!r}")
    if vs.practice_setting.get(form.practice_setting) is None:
        problems.append(f"cadre d'exercice inconnu de JDV_J04 : {form.practice_setting!r}")
    if vs.facility_type.get(form.facility_type) is None:
        problems.append(f"type d'établissement inconnu de JDV_J02 : {form.facility_type!r}")
    if not form.title.strip():
        problems.append("titre du document absent")
    if not author.id:
        problems.append("auteur sans identifiant national")
    if problems:
        raise ValidationError(" ; ".join(problems), field="metadata")


def pdf_document(
    *, pdf: bytes, patient: PatientIdentity, author: Author, form: Level1Form, created: dt.datetime
) -> bytes:
    """The CDA R2 level 1 document carrying ``pdf`` for ``patient``, written by ``author`` at ``created``.

    The patient's identity must be qualified (its INS is the record target); ``created`` must be aware.
    """
    if patient.ins is None:
        raise ValidationError("le patient n'a pas d'INS : un document ne peut pas lui être adressé", field="patient")
    if created.tzinfo is None:
        raise ValidationError("date de création sans fuseau horaire", field="created")
    _checked(form, author)
    vs = value_sets()
    type_code = vs.type_code_dmp.get(form.type_code)
    setting = vs.practice_setting.get(form.practice_setting)
    facility = vs.facility_type.get(form.facility_type)
    specialty = vs.author_specialty.get(author.specialty) if author.specialty else None
    assert type_code is not None and setting is not None and facility is not None  # checked above

    root = etree.Element(f"{{{HL7}}}ClinicalDocument", nsmap={None: HL7})
    _el(root, "realmCode", code="FR")
    _el(root, "typeId", root="2.16.840.1.113883.1.3", extension="POCD_HD000040")
    for template in TEMPLATES:
        _el(root, "templateId", root=template)
    # A UUID-derived OID (ISO/IEC 9834-8, arc 2.25): unique without a registry of our own.
    _el(root, "id", root=f"2.25.{uuid.uuid4().int}")
    _el(root, "code", code=type_code.code, displayName=type_code.display, codeSystem=type_code.system)
    _el(root, "title", form.title.strip())
    _el(root, "effectiveTime", value=_ts(created))
    confidentiality = vs.confidentiality.get(form.confidentiality_code, CONFIDENTIALITY_OID)
    _el(root, "confidentialityCode", code=form.confidentiality_code, codeSystem=CONFIDENTIALITY_OID,
        displayName=confidentiality.display if confidentiality else None)  # fmt: skip
    _el(root, "languageCode", code="fr-FR")
    _el(root, "setId", root=f"2.25.{uuid.uuid4().int}")
    _el(root, "versionNumber", value="1")

    traits = patient.traits
    role = _el(_el(root, "recordTarget"), "patientRole")
    _el(role, "id", root=patient.ins.oid.value, extension=patient.ins.value)
    person = _el(role, "patient", classCode="PSN")
    name = _el(person, "name")
    _el(name, "family", traits.birth_name, qualifier="BR")
    _el(name, "given", traits.birth_first_names)
    _el(name, "given", traits.first_name, qualifier="BR")
    if traits.used_name:
        _el(name, "family", traits.used_name, qualifier="CL")
    _el(person, "administrativeGenderCode", code=traits.sex, codeSystem=GENDER_OID)
    _el(person, "birthTime", value=traits.birth_date.strftime("%Y%m%d"))
    _el(_el(_el(_el(person, "birthplace"), "place"), "addr"), "county", traits.birth_place)

    author_el = _el(root, "author")
    _el(author_el, "time", value=_ts(created))
    assigned = _el(author_el, "assignedAuthor")
    _el(assigned, "id", root=IDNATPS_OID, extension=author.id)
    if specialty is not None:
        _el(assigned, "code", code=specialty.code, displayName=specialty.display, codeSystem=specialty.system)
    _person(assigned, author)
    org = _organisation(assigned, "representedOrganization", author)
    _el(org, "standardIndustryClassCode", code=setting.code, displayName=setting.display, codeSystem=setting.system)

    custodian = _el(_el(root, "custodian"), "assignedCustodian")
    _organisation(custodian, "representedCustodianOrganization", author)

    legal = _el(root, "legalAuthenticator")
    _el(legal, "time", value=_ts(created))
    _el(legal, "signatureCode", code="S")
    entity = _el(legal, "assignedEntity")
    _el(entity, "id", root=IDNATPS_OID, extension=author.id)
    _person(entity, author)

    start = form.service_start or created
    event = _el(_el(root, "documentationOf"), "serviceEvent")
    _el(_el(event, "effectiveTime"), "low", value=_ts(start))
    performer = _el(_el(event, "performer", typeCode="PRF"), "assignedEntity")
    _el(performer, "id", root=IDNATPS_OID, extension=author.id)
    performer_org = _organisation(performer, "representedOrganization", author)
    _el(performer_org, "standardIndustryClassCode", code=setting.code, displayName=setting.display,
        codeSystem=setting.system)  # fmt: skip

    encounter = _el(_el(root, "componentOf"), "encompassingEncounter")
    _el(encounter, "code", code="AMB", displayName="Ambulatoire", codeSystem=ENCOUNTER_OID)
    _el(_el(encounter, "effectiveTime"), "low", value=_ts(start))
    facility_el = _el(_el(encounter, "location"), "healthCareFacility")
    _el(facility_el, "code", code=facility.code, displayName=facility.display, codeSystem=facility.system)

    body = _el(_el(root, "component"), "nonXMLBody")
    _el(body, "text", base64.b64encode(pdf).decode("ascii"), mediaType="application/pdf", representation="B64")
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))

"""Record entries as FHIR R4 ``DocumentReference`` (PDSm comprehensive profile, IHE MHD), and back the codes.

FHIR release: R4 (4.0.1); the resources are validated in tests with ``fhir.resources.R4B``, whose
DocumentReference, Binary, Bundle and List are the R4 ones. XDS ↔ FHIR (PDSm4DMP): entryUUID ↔ ``id`` and
``identifier``; uniqueId ↔ ``masterIdentifier``; availability ↔ ``status``; typeCode ↔ ``type`` (J07/J66);
classCode ↔ ``category`` (J06); confidentialityCode + visibility ↔ ``securityLabel`` (J08 + TRE_A07);
formatCode ↔ ``content.format`` (J10); healthcareFacilityTypeCode ↔ ``context.facilityType`` (J02);
practiceSettingCode ↔ ``context.practiceSetting`` (J04); serviceStart/StopTime ↔ ``context.period``;
creationTime ↔ ``content.attachment.creation``; submissionTime ↔ ``date``.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
from typing import Any

from carnet.record.model import IDNATPS_OID, AuthorKind, DocumentEntry, DocumentStatus
from carnet.record.valuesets import ValueSet, value_sets

PDSM = "https://interop.esante.gouv.fr/ig/fhir/pdsm"
COMPREHENSIVE_PROFILE = f"{PDSM}/StructureDefinition/pdsm-comprehensive-document-reference"
SIMPLIFIED_PROFILE = f"{PDSM}/StructureDefinition/pdsm-simplified-publish"
SUBMISSION_SET_PROFILE = f"{PDSM}/StructureDefinition/pdsm-submissionset-comprehensive"
BUNDLE_PROFILE = f"{PDSM}/StructureDefinition/pdsm-comprehensive-provide-document-bundle"
IDNATST_OID = "1.2.250.1.71.4.2.2"
RFC3986 = "urn:ietf:rfc:3986"
CONFIDENTIALITY_OID = "2.16.840.1.113883.5.25"
VISIBILITY_OID = "1.2.250.1.213.1.1.4.13"  # TRE_A07
PROFESSION_OID = "1.2.250.1.71.1.2.7"  # TRE_G15
CUSTODIAN = {"display": "Carnet — dossier médical partagé"}

# Visibility flags (TRE_A07) and the entry attribute each one reads.
MASQUE_PS = "MASQUE_PS"
INVISIBLE_PATIENT = "INVISIBLE_PATIENT"
INVISIBLE_REPRESENTANTS_LEGAUX = "INVISIBLE_REPRESENTANTS_LEGAUX"
FLAGS = {
    MASQUE_PS: "hidden_from_professionals",
    INVISIBLE_PATIENT: "invisible_to_patient",
    INVISIBLE_REPRESENTANTS_LEGAUX: "invisible_to_representatives",
}

# Canonical FHIR systems of the NOS code systems (reference/identifier_systems.csv); others stay urn:oid.
SYSTEM_OF_OID = {
    "2.16.840.1.113883.6.1": "http://loinc.org",
    "1.2.250.1.213.1.1.4.12": "https://mos.esante.gouv.fr/NOS/TRE_A05-TypeDocComplementaire/FHIR/TRE-A05-TypeDocComplementaire",
    "1.2.250.1.213.1.1.4.1": "https://mos.esante.gouv.fr/NOS/TRE_A03-ClasseDocument/FHIR/TRE-A03-ClasseDocument",
    "1.2.250.1.213.1.1.4.2.282": "https://mos.esante.gouv.fr/NOS/TRE_A06-FormatCodeComplementaire/FHIR/TRE-A06-FormatCodeComplementaire",
    "1.3.6.1.4.1.19376.1.2.3": "https://mos.esante.gouv.fr/NOS/TRE_A11-IheFormatCode/FHIR/TRE-A11-IheFormatCode",
    "1.2.840.10008.2.6.1": "https://mos.esante.gouv.fr/NOS/TRE_A09-DICOMuidRegistry/FHIR/TRE-A09-DICOMuidRegistry",
    CONFIDENTIALITY_OID: "http://terminology.hl7.org/CodeSystem/v3-Confidentiality",
    VISIBILITY_OID: "https://mos.esante.gouv.fr/NOS/TRE_A07-StatusVisibiliteDocument/FHIR/TRE-A07-StatusVisibiliteDocument",
    "1.2.250.1.71.4.2.4": "https://mos.esante.gouv.fr/NOS/TRE_R02-SecteurActivite/FHIR/TRE-R02-SecteurActivite",
    "1.2.250.1.213.1.1.4.6": "https://mos.esante.gouv.fr/NOS/TRE_A00-ProducteurDocNonPS/FHIR/TRE-A00-ProducteurDocNonPS",
    "1.2.250.1.213.1.1.4.9": "https://mos.esante.gouv.fr/NOS/TRE_A01-CadreExercice/FHIR/TRE-A01-CadreExercice",
    PROFESSION_OID: "https://mos.esante.gouv.fr/NOS/TRE_G15-ProfessionSante/FHIR/TRE-G15-ProfessionSante",
    "1.2.250.1.213.1.1.4.5": "https://mos.esante.gouv.fr/NOS/TRE_R38-SpecialiteOrdinale/FHIR/TRE-R38-SpecialiteOrdinale",
}  # fmt: skip
OID_OF_SYSTEM = {url: oid for oid, url in SYSTEM_OF_OID.items()}

_OID = re.compile(r"[0-2](?:\.(?:0|[1-9][0-9]*))+")

STATUS_TO_FHIR = {
    DocumentStatus.CURRENT: "current",
    DocumentStatus.SUPERSEDED: "superseded",
    DocumentStatus.DELETED: "entered-in-error",
}
STATUS_FROM_FHIR = {fhir: status.value for status, fhir in STATUS_TO_FHIR.items()}


def system_uri(oid: str) -> str:
    """The FHIR ``system`` of a code system given by its OID (canonical URL when NOS has one)."""
    if oid in SYSTEM_OF_OID:
        return SYSTEM_OF_OID[oid]
    return oid if oid in ("URN", "ASTM") or ":" in oid else f"urn:oid:{oid}"


def oid_of(system: str | None) -> str | None:
    """The OID behind a FHIR ``system`` (canonical URL or ``urn:oid:``); None when absent or unknown."""
    if not system:
        return None
    if system in OID_OF_SYSTEM:
        return OID_OF_SYSTEM[system]
    if system.startswith("urn:oid:"):
        return system.removeprefix("urn:oid:")
    return None


def coding(value_set: ValueSet, code: str) -> dict[str, Any]:
    """A Coding of ``code`` from a NOS value set, with its system and French display."""
    found = value_set.get(code, include_expired=True)
    if found is None:
        return {"code": code}
    return {"system": system_uri(found.system), "code": code, "display": found.display}


def concept(value_set: ValueSet, code: str | None) -> dict[str, Any] | None:
    return {"coding": [coding(value_set, code)]} if code else None


def instant(value: dt.datetime | None) -> str | None:
    """A FHIR instant/dateTime: ISO 8601 with its offset (UTC when stored as UTC)."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.isoformat()


def hash_of(sha1_hex: str | None) -> str | None:
    """``Attachment.hash``: the SHA-1 of the content, base64 (FHIR R4)."""
    return base64.b64encode(bytes.fromhex(sha1_hex)).decode("ascii") if sha1_hex else None


def security_labels(entry: DocumentEntry) -> list[dict[str, Any]]:
    """The confidentiality code (J08) and the visibility flags (TRE_A07) that are set."""
    vs = value_sets().confidentiality
    labels = [{"coding": [coding(vs, entry.metadata.confidentiality_code)]}]
    for code, attribute in FLAGS.items():
        if getattr(entry, attribute):
            labels.append({"coding": [{"system": SYSTEM_OF_OID[VISIBILITY_OID], "code": code,
                                       "display": vs.label(code)}]})  # fmt: skip
    return labels


def _patient_resource(ins: tuple[str, str] | None) -> dict[str, Any]:
    patient: dict[str, Any] = {"resourceType": "Patient", "id": "patient"}
    if ins is not None:
        patient["identifier"] = [{"use": "official", "system": f"urn:oid:{ins[1]}", "value": ins[0]}]
    return patient


def _author(entry: DocumentEntry, contained: list[dict[str, Any]]) -> dict[str, Any]:
    """The author: a Patient reference, or contained Practitioner + PractitionerRole (as PDSm does), or a Device."""
    meta, vs = entry.metadata, value_sets()
    author = meta.author
    if meta.author_kind is AuthorKind.PATIENT:
        return {"reference": f"Patient/{entry.patient_id}"}
    if meta.author_kind is AuthorKind.APP:
        contained.append({"resourceType": "Device", "id": "author",
                          "identifier": [{"system": RFC3986, "value": author.id}],
                          "deviceName": [{"name": author.display_name, "type": "user-friendly-name"}]})  # fmt: skip
        return {"reference": "#author"}
    practitioner: dict[str, Any] = {
        "resourceType": "Practitioner",
        "id": "author",
        "identifier": [{"system": f"urn:oid:{IDNATPS_OID}", "value": author.id}],
    }
    if author.family or author.given:
        name: dict[str, Any] = {}
        if author.family:
            name["family"] = author.family
        if author.given:
            name["given"] = [author.given]
        practitioner["name"] = [name]
    role: dict[str, Any] = {"resourceType": "PractitionerRole", "id": "author-role",
                            "practitioner": {"reference": "#author"}}  # fmt: skip
    if author.organisation_id or author.organisation_name:
        organisation: dict[str, Any] = {}
        if author.organisation_id:
            organisation["identifier"] = {"system": f"urn:oid:{IDNATST_OID}", "value": author.organisation_id}
        if author.organisation_name:
            organisation["display"] = author.organisation_name
        role["organization"] = organisation
    if author.profession:
        role["code"] = [concept(vs.profession, author.profession)]
    if author.specialty:
        role["specialty"] = [concept(vs.author_specialty, author.specialty)]
    contained.extend([practitioner, role])
    return {"reference": "#author-role"}


def document_reference(entry: DocumentEntry, *, ins: tuple[str, str] | None) -> dict[str, Any]:
    """The PDSm comprehensive DocumentReference of a record entry; ``ins`` = (matricule, OID) of the patient."""
    meta, vs = entry.metadata, value_sets()
    contained: list[dict[str, Any]] = [_patient_resource(ins)]
    author = _author(entry, contained)
    subject: dict[str, Any] = {"reference": f"Patient/{entry.patient_id}"}
    if ins is not None:
        subject["identifier"] = {"system": f"urn:oid:{ins[1]}", "value": ins[0]}
    attachment: dict[str, Any] = {
        "contentType": meta.mime_type,
        "language": meta.language,
        "url": f"Binary/{entry.id}",
        "size": entry.size,
        "hash": hash_of(entry.sha1),
        "title": meta.title,
        "creation": instant(meta.creation_time),
    }
    context: dict[str, Any] = {"sourcePatientInfo": {"reference": "#patient"}}
    period = {k: v for k, v in (("start", instant(meta.service_start)), ("end", instant(meta.service_stop))) if v}
    if period:
        context["period"] = period
    if meta.facility_type:
        context["facilityType"] = concept(vs.facility_type, meta.facility_type)
    if meta.practice_setting:
        context["practiceSetting"] = concept(vs.practice_setting, meta.practice_setting)
    master = master_identifier(meta.unique_id)
    resource: dict[str, Any] = {
        "resourceType": "DocumentReference",
        "id": entry.id,
        "meta": {"profile": [COMPREHENSIVE_PROFILE]},
        "contained": contained,
        "masterIdentifier": master,
        "identifier": [{"system": RFC3986, "value": f"urn:uuid:{entry.id}"}],
        "status": STATUS_TO_FHIR[entry.status],
        "type": concept(vs.type_code, meta.type_code),
        "category": [concept(vs.class_code, meta.class_code)],
        "subject": subject,
        "date": instant(entry.submission_time),
        "author": [author],
        "custodian": CUSTODIAN,
        "description": meta.comment or meta.title,
        "securityLabel": security_labels(entry),
        "content": [
            {
                "attachment": {k: v for k, v in attachment.items() if v is not None},
                "format": coding(vs.format_code, meta.format_code),
            }
        ],  # fmt: skip
        "context": context,
    }
    if entry.replaces_id:
        resource["relatesTo"] = [
            {"code": "replaces", "target": {"reference": f"DocumentReference/{entry.replaces_id}"}}
        ]
    return resource


def master_identifier(unique_id: str) -> dict[str, str]:
    """``masterIdentifier`` of an XDS uniqueId: an OID as ``urn:oid:``, a URI as is, ``root^extension`` bare."""
    if _OID.fullmatch(unique_id):
        return {"system": RFC3986, "value": f"urn:oid:{unique_id}"}
    if unique_id.startswith(("urn:", "http://", "https://")):
        return {"system": RFC3986, "value": unique_id}
    return {"value": unique_id}


def unique_id_of(value: str) -> str:
    """The XDS uniqueId of a submitted ``masterIdentifier.value`` (``urn:oid:`` dropped, as the CDA header has it)."""
    value = value.strip()
    return value.removeprefix("urn:oid:") if value.startswith("urn:oid:") else value


def binary(entry: DocumentEntry, data: bytes) -> dict[str, Any]:
    """The FHIR Binary of a document's bytes (ITI-68 with ``Accept: application/fhir+json``)."""
    return {
        "resourceType": "Binary",
        "id": entry.id,
        "contentType": entry.metadata.mime_type,
        "securityContext": {"reference": f"DocumentReference/{entry.id}"},
        "data": base64.b64encode(data).decode("ascii"),
    }


def provide_bundle_for(
    content: bytes,
    *,
    patient_id: str,
    source: str | None = None,
    mime_type: str = "text/xml",
    document_reference: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A minimal ITI-65 transaction Bundle for one document: the SubmissionSet, a DocumentReference whose other
    metadata the server reads from the CDA header (or ``document_reference`` merged over it), and the Binary."""
    import hashlib
    import uuid

    ids = [f"urn:uuid:{uuid.uuid4()}" for _ in range(3)]
    subject = {"reference": f"Patient/{patient_id}"}
    submission_set: dict[str, Any] = {
        "resourceType": "List",
        "meta": {"profile": [SUBMISSION_SET_PROFILE]},
        "status": "current",
        "mode": "working",
        "code": {
            "coding": [{"system": "https://profiles.ihe.net/ITI/MHD/CodeSystem/MHDlistTypes", "code": "submissionset"}]
        },  # fmt: skip
        "subject": subject,
        "entry": [{"item": {"reference": ids[1]}}],
    }
    if source:
        submission_set["extension"] = [{"url": "https://profiles.ihe.net/ITI/MHD/StructureDefinition/ihe-sourceId",
                                        "valueIdentifier": {"system": RFC3986, "value": source}}]  # fmt: skip
    reference: dict[str, Any] = {
        "resourceType": "DocumentReference",
        "meta": {"profile": [COMPREHENSIVE_PROFILE]},
        "status": "current",
        "subject": subject,
        "content": [{"attachment": {"contentType": mime_type, "url": ids[2], "size": len(content),
                                    "hash": base64.b64encode(hashlib.sha1(content, usedforsecurity=False).digest())
                                    .decode("ascii")}}],
    }  # fmt: skip
    reference.update(document_reference or {})
    binary_resource = {"resourceType": "Binary", "contentType": mime_type,
                       "data": base64.b64encode(content).decode("ascii")}  # fmt: skip
    return {
        "resourceType": "Bundle",
        "meta": {"profile": [BUNDLE_PROFILE]},
        "type": "transaction",
        "entry": [
            {"fullUrl": ids[0], "resource": submission_set, "request": {"method": "POST", "url": "List"}},
            {"fullUrl": ids[1], "resource": reference, "request": {"method": "POST", "url": "DocumentReference"}},
            {"fullUrl": ids[2], "resource": binary_resource, "request": {"method": "POST", "url": "Binary"}},
        ],
    }

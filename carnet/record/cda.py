"""Reading and checking the header of a CDA R2 document as profiled by the CI-SIS (namespace urn:hl7-org:v3).

:func:`read_cda` never raises on its input: whatever the bytes, it returns the problems it found, each with a
French message and the XPath of where it is (written without namespace prefix, ``[n]`` only where an element
repeats), so that a vendor can fix every one of them at once.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import functools
import re
from dataclasses import dataclass, field
from typing import Literal
from zoneinfo import ZoneInfo

from lxml import etree

from carnet.errors import InvalidMatricule
from carnet.identity.matricule import Ins, InsOid
from carnet.record.valuesets import Code, ValueSet, value_sets
from carnet.record.xml import UnsafeXml, parse_xml

__all__ = [
    "ALLOWED_MEDIA_TYPES",
    "HL7_NS",
    "CdaAuthor",
    "CdaHeader",
    "CdaPerson",
    "Problem",
    "Severity",
    "embedded_content",
    "format_code_for",
    "parse_hl7_time",
    "read_cda",
]

HL7_NS = "urn:hl7-org:v3"
NS = {"hl7": HL7_NS}
PARIS = ZoneInfo("Europe/Paris")
ALLOWED_MEDIA_TYPES = ("application/pdf", "text/plain", "image/jpeg")
Severity = Literal["error", "warning"]

_DOC = "/ClinicalDocument"
_OID_RE = re.compile(r"[0-2](?:\.(?:0|[1-9][0-9]*))+")
_UUID_RE = re.compile(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}")
_TS_RE = re.compile(
    r"([0-9]{4})([0-9]{2})?([0-9]{2})?([0-9]{2})?([0-9]{2})?([0-9]{2})?(?:\.([0-9]{1,6}))?([+-][0-9]{4})?"
)
_INS_OIDS = frozenset(oid.value for oid in InsOid)


# --- model ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a document: a stable code, a French message, where it is, how serious."""

    code: str
    message: str
    xpath: str
    severity: Severity = "error"


@dataclass(frozen=True, slots=True)
class CdaPerson:
    """A person of the header (e.g. the legal authenticator): ids as (root, extension) and the first name parts."""

    ids: list[tuple[str, str | None]]
    family: str | None
    given: str | None
    prefix: str | None


@dataclass(frozen=True, slots=True)
class CdaAuthor:
    """``author/assignedAuthor``; ``profession`` is its ``code`` as given (a JDV_J01 specialty in the CI-SIS)."""

    id_root: str | None
    id_extension: str | None
    family: str | None
    given: str | None
    profession: Code | None
    organisation_id: str | None  # representedOrganization/id: extension, else root
    organisation_name: str | None
    time: dt.datetime | None


@dataclass(frozen=True, slots=True)
class CdaHeader:
    """What the header of a CDA document says, in the terms of XDS metadata."""

    unique_id: str  # "root" or "root^extension", as XDS writes it
    set_id: str | None
    version: int | None
    type_code: Code
    title: str
    effective_time: dt.datetime  # aware; a time without zone is read in Europe/Paris
    confidentiality: Code
    language: str | None
    patient_ins: Ins | None
    patient_ids: list[tuple[str, str | None]]
    patient_birth_name: str | None
    patient_given: str | None  # premier prénom de naissance
    patient_birth_first_names: str | None  # liste des prénoms de naissance
    patient_sex: str | None
    patient_birth_date: dt.date | None
    authors: list[CdaAuthor]
    custodian_id: str | None
    custodian_name: str | None
    service_start: dt.datetime | None
    service_stop: dt.datetime | None
    service_event_code: Code | None
    facility_type: Code | None
    practice_setting: Code | None
    replaces: str | None  # unique id of the document this one replaces (relatedDocument typeCode RPLC)
    level: int  # 1 nonXMLBody, 3 structuredBody, 0 no recognised body
    body_media_type: str | None
    template_ids: list[str] = field(default_factory=list)
    legal_authenticator: CdaPerson | None = None


# --- small readers ----------------------------------------------------------------------------------------------


def parse_hl7_time(value: str) -> dt.datetime | None:
    """An HL7 TS (``YYYY[MM[DD[HH[MM[SS[.S]]]]]][+-ZZZZ]``) as an aware datetime; None when it is not one.

    Missing parts are the start of the period; a time without zone is read in Europe/Paris.
    """
    found = _TS_RE.fullmatch(value.strip())
    if found is None:
        return None
    year, month, day, hour, minute, second, fraction, zone = found.groups()
    if fraction is not None and second is None:
        return None
    try:
        tz: dt.tzinfo = PARIS
        if zone is not None:
            hours, minutes = int(zone[1:3]), int(zone[3:5])
            if hours > 23 or minutes > 59:
                return None
            offset = dt.timedelta(hours=hours, minutes=minutes)
            tz = dt.timezone(-offset if zone[0] == "-" else offset)
        return dt.datetime(
            int(year),
            int(month or 1),
            int(day or 1),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            int((fraction or "0").ljust(6, "0")),
            tzinfo=tz,
        )
    except ValueError:
        return None


def _parse_date(value: str | None) -> dt.date | None:
    found = re.match(r"([0-9]{4})([0-9]{2})([0-9]{2})", value or "")
    if found is None:
        return None
    try:
        return dt.date(int(found[1]), int(found[2]), int(found[3]))
    except ValueError:
        return None


@functools.cache
def _xpath(path: str) -> etree.XPath:
    """``path`` compiled once (the header reader evaluates the same few dozen paths on every document; compiling
    them was most of the cost of ``node.xpath``). lxml serialises the evaluations of one XPath object."""
    return etree.XPath(path, namespaces=NS)


def _els(node: etree._Element, path: str) -> list[etree._Element]:
    found = _xpath(path)(node)
    if not isinstance(found, list):
        return []
    return [e for e in found if isinstance(e, etree._Element)]


def _first(node: etree._Element | None, path: str) -> etree._Element | None:
    if node is None:
        return None
    found = _els(node, path)
    return found[0] if found else None


def _attr(el: etree._Element | None, name: str) -> str | None:
    if el is None:
        return None
    value = el.get(name)
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _text(el: etree._Element | None) -> str | None:
    if el is None:
        return None
    text = " ".join("".join(str(t) for t in el.itertext()).split())
    return text or None


def _code(el: etree._Element | None) -> Code | None:
    code = _attr(el, "code")
    if code is None:
        return None
    return Code(code=code, system=_attr(el, "codeSystem") or "", display=_attr(el, "displayName") or "")


def _id_of(el: etree._Element | None) -> tuple[str, str | None] | None:
    root = _attr(el, "root")
    return None if root is None else (root, _attr(el, "extension"))


def _unique_id(pair: tuple[str, str | None]) -> str:
    root, extension = pair
    return root if extension is None else f"{root}^{extension}"


def _where(el: etree._Element) -> str:
    """A readable XPath of ``el``: local names, ``[n]`` only where the element repeats among its siblings."""
    steps: list[str] = []
    node: etree._Element | None = el
    while node is not None:
        parent = node.getparent()
        step = str(etree.QName(node).localname)
        if parent is not None:
            same = [c for c in parent if c.tag == node.tag]
            if len(same) > 1:
                step += f"[{same.index(node) + 1}]"
        steps.append(step)
        node = parent
    return "/" + "/".join(reversed(steps))


def _qualified(name: etree._Element | None, part: str, qualifier: str | None) -> str | None:
    """The first ``family``/``given`` of ``name`` with ``qualifier`` (None: without qualifier; "*": any)."""
    if name is None:
        return None
    for el in _els(name, f"hl7:{part}"):
        qualifiers = (_attr(el, "qualifier") or "").split()
        if qualifier == "*" or (qualifier is None and not qualifiers) or (qualifier in qualifiers):
            text = _text(el)
            if text:
                return text
    return None


# --- the reader -------------------------------------------------------------------------------------------------


class _Reader:
    """Reads one ClinicalDocument, collecting every problem."""

    def __init__(self, root: etree._Element) -> None:
        self.root = root
        self.problems: list[Problem] = []
        self.vs = value_sets()

    def error(self, code: str, message: str, xpath: str) -> None:
        self.problems.append(Problem(code, message, xpath, "error"))

    def warning(self, code: str, message: str, xpath: str) -> None:
        self.problems.append(Problem(code, message, xpath, "warning"))

    def at(self, path: str) -> etree._Element | None:
        return _first(self.root, path)

    # header parts

    def unique_id(self) -> str | None:
        el = self.at("hl7:id")
        pair = _id_of(el)
        if el is None or pair is None:
            self.error("id_missing", "identifiant unique du document (id/@root) absent", f"{_DOC}/id")
            return None
        if not (_OID_RE.fullmatch(pair[0]) or _UUID_RE.fullmatch(pair[0])):
            self.error(
                "id_invalid", f"identifiant du document « {pair[0]} » : OID ou UUID attendu", f"{_where(el)}/@root"
            )
        return _unique_id(pair)

    def type_code(self) -> Code | None:
        el = self.at("hl7:code")
        code = _code(el)
        if el is None or code is None:
            self.error("type_code_missing", "type de document (code/@code) absent", f"{_DOC}/code")
            return None
        where = f"{_where(el)}/@code"
        if self._find(self.vs.type_code, code) is None:
            self.error(
                "type_code_unknown",
                f"type de document {code.code} ({code.system or 'sans codeSystem'}) absent de {self.vs.type_code.name}",
                where,
            )
        elif self._find(self.vs.type_code_dmp, code) is None:
            self.warning(
                "type_code_not_dmp",
                f"type de document {code.code} absent de {self.vs.type_code_dmp.name} : le DMP le refusera",
                where,
            )
        return code

    def effective_time(self) -> dt.datetime | None:
        el = self.at("hl7:effectiveTime")
        value = _attr(el, "value")
        if el is None or value is None:
            self.error(
                "effective_time_missing",
                "date de création du document (effectiveTime) absente",
                f"{_DOC}/effectiveTime",
            )
            return None
        parsed = parse_hl7_time(value)
        if parsed is None:
            self.error(
                "effective_time_invalid",
                f"date de création « {value} » invalide : AAAAMMJJhhmmss+ZZZZ attendu",
                f"{_where(el)}/@value",
            )
        return parsed

    def confidentiality(self) -> Code | None:
        el = self.at("hl7:confidentialityCode")
        code = _code(el)
        if el is None or code is None:
            self.error(
                "confidentiality_missing",
                "confidentialité (confidentialityCode) absente",
                f"{_DOC}/confidentialityCode",
            )
            return None
        if self._find(self.vs.confidentiality, code) is None:
            self.error(
                "confidentiality_unknown",
                f"confidentialité {code.code} absente de {self.vs.confidentiality.name}",
                f"{_where(el)}/@code",
            )
        return code

    def title(self) -> str:
        title = _text(self.at("hl7:title"))
        if title is None:
            self.warning("title_missing", "titre du document (title) absent", f"{_DOC}/title")
        return title or ""

    def version(self) -> int | None:
        el = self.at("hl7:versionNumber")
        value = _attr(el, "value")
        if el is None or value is None:
            return None
        if not re.fullmatch(r"[0-9]{1,9}", value) or int(value) < 1:
            self.warning(
                "version_invalid", f"numéro de version « {value} » : entier positif attendu", f"{_where(el)}/@value"
            )
            return None
        return int(value)

    def patient(self) -> tuple[Ins | None, list[tuple[str, str | None]], etree._Element | None]:
        role = self.at("hl7:recordTarget/hl7:patientRole")
        if role is None:
            self.error("record_target_missing", "patient (recordTarget/patientRole) absent", f"{_DOC}/recordTarget")
            return None, [], None
        ids: list[tuple[str, str | None]] = []
        found: list[Ins] = []
        seen_ins_oid = False
        for el in _els(role, "hl7:id"):
            pair = _id_of(el)
            if pair is None:
                continue
            ids.append(pair)
            root, extension = pair
            if root not in _INS_OIDS:
                continue
            seen_ins_oid = True
            try:
                found.append(Ins.parse(extension or "", root))
            except InvalidMatricule as exc:
                self.error("ins_invalid", f"INS invalide ({exc.part}) : {exc.message}", f"{_where(el)}/@extension")
        if not seen_ins_oid:
            self.error("ins_missing", "aucun INS dans recordTarget/patientRole/id", f"{_where(role)}/id")
        if len({(i.value, i.oid) for i in found}) > 1:
            self.error(
                "ins_conflict", "plusieurs INS différents dans recordTarget/patientRole/id", f"{_where(role)}/id"
            )
        return (found[0] if found else None), ids, _first(role, "hl7:patient")

    def authors(self) -> list[CdaAuthor]:
        elements = _els(self.root, "hl7:author")
        if not elements:
            self.error("author_missing", "auteur du document (author) absent", f"{_DOC}/author")
        authors: list[CdaAuthor] = []
        for el in elements:
            assigned = _first(el, "hl7:assignedAuthor")
            id_el = _first(assigned, "hl7:id")
            pair = _id_of(id_el)
            if pair is None:
                self.error(
                    "author_id_missing",
                    "auteur sans identifiant (assignedAuthor/id/@root)",
                    f"{_where(assigned)}/id" if assigned is not None else f"{_where(el)}/assignedAuthor",
                )
            code_el = _first(assigned, "hl7:code")
            profession = _code(code_el)
            if (
                code_el is not None
                and profession is not None
                and self._find(self.vs.author_specialty, profession) is None
            ):
                self.warning(
                    "author_specialty_unknown",
                    f"profession/spécialité de l'auteur {profession.code} absente de {self.vs.author_specialty.name}",
                    f"{_where(code_el)}/@code",
                )
            name = _first(assigned, "hl7:assignedPerson/hl7:name")
            organisation = _first(assigned, "hl7:representedOrganization")
            time_el = _first(el, "hl7:time")
            authors.append(
                CdaAuthor(
                    id_root=pair[0] if pair else None,
                    id_extension=pair[1] if pair else None,
                    family=_qualified(name, "family", "*"),
                    given=_qualified(name, "given", "*"),
                    profession=profession,
                    organisation_id=self._org_id(organisation),
                    organisation_name=_text(_first(organisation, "hl7:name")),
                    time=self.time(time_el, "author_time_invalid", "heure de l'auteur"),
                )
            )
        return authors

    def time(self, el: etree._Element | None, code: str, what: str) -> dt.datetime | None:
        value = _attr(el, "value")
        if el is None or value is None:
            return None
        parsed = parse_hl7_time(value)
        if parsed is None:
            self.warning(code, f"{what} « {value} » invalide", f"{_where(el)}/@value")
        return parsed

    def facility_type(self) -> Code | None:
        path = "hl7:componentOf/hl7:encompassingEncounter/hl7:location/hl7:healthCareFacility/hl7:code"
        return self._coded(
            self.at(path),
            self.vs.facility_type,
            "facility_type",
            "type d'établissement (healthCareFacility/code)",
            f"{_DOC}/componentOf/encompassingEncounter/location/healthCareFacility/code",
        )

    def practice_setting(self) -> Code | None:
        el = self.at(
            "hl7:documentationOf/hl7:serviceEvent/hl7:performer/hl7:assignedEntity/hl7:representedOrganization"
            "/hl7:standardIndustryClassCode"
        )
        if el is None:
            el = self.at("hl7:author/hl7:assignedAuthor/hl7:representedOrganization/hl7:standardIndustryClassCode")
        return self._coded(
            el,
            self.vs.practice_setting,
            "practice_setting",
            "cadre d'exercice (standardIndustryClassCode)",
            f"{_DOC}/documentationOf/serviceEvent/performer/assignedEntity/representedOrganization"
            "/standardIndustryClassCode",
        )

    def body(self) -> tuple[int, str | None]:
        """The level and media type of the body, checking an embedded (level 1) content."""
        component = self.at("hl7:component")
        if self.at("hl7:component/hl7:structuredBody") is not None:
            return 3, None
        body = self.at("hl7:component/hl7:nonXMLBody")
        if body is None:
            where = _where(component) if component is not None else f"{_DOC}/component"
            self.error("body_missing", "corps du document absent : structuredBody ou nonXMLBody attendu", where)
            return 0, None
        text = _first(body, "hl7:text")
        if text is None:
            self.error("body_missing", "nonXMLBody sans contenu (text)", f"{_where(body)}/text")
            return 1, None
        where = _where(text)
        media_type = _attr(text, "mediaType")
        if media_type is None:
            self.error("body_media_type", "nonXMLBody/text sans mediaType", f"{where}/@mediaType")
        elif media_type not in ALLOWED_MEDIA_TYPES:
            self.error(
                "body_media_type",
                f"type de contenu « {media_type} » refusé : {', '.join(ALLOWED_MEDIA_TYPES)} attendu",
                f"{where}/@mediaType",
            )
        if _attr(text, "representation") != "B64":
            self.error(
                "body_representation",
                'le contenu de nonXMLBody doit être en base64 (representation="B64")',
                f"{where}/@representation",
            )
            return 1, media_type
        content = _decode_b64(_text(text) or "")
        if content is None:
            self.error("body_base64_invalid", "le contenu de nonXMLBody n'est pas du base64 valide", where)
        elif not content:
            self.error("body_empty", "le contenu de nonXMLBody est vide", where)
        elif media_type == "application/pdf" and not content.startswith(b"%PDF-"):
            self.error("body_not_pdf", "le PDF inclus n'est pas un PDF", where)
        elif media_type == "image/jpeg" and not content.startswith(b"\xff\xd8\xff"):
            self.error("body_not_jpeg", "l'image JPEG incluse n'est pas un JPEG", where)
        return 1, media_type

    # helpers

    @staticmethod
    def _find(value_set: ValueSet, code: Code) -> Code | None:
        return value_set.get(code.code, code.system or None)

    @staticmethod
    def _org_id(organisation: etree._Element | None) -> str | None:
        pair = _id_of(_first(organisation, "hl7:id"))
        return None if pair is None else (pair[1] or pair[0])

    def _coded(self, el: etree._Element | None, value_set: ValueSet, name: str, what: str, default: str) -> Code | None:
        code = _code(el)
        if el is None or code is None:
            self.warning(f"{name}_missing", f"{what} absent", default if el is None else _where(el))
            return None
        if self._find(value_set, code) is None:
            self.error(f"{name}_unknown", f"{what} {code.code} absent de {value_set.name}", f"{_where(el)}/@code")
        return code


def _decode_b64(text: str) -> bytes | None:
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        return None


def _person(el: etree._Element | None) -> CdaPerson | None:
    if el is None:
        return None
    ids = [pair for pair in (_id_of(i) for i in _els(el, "hl7:id")) if pair is not None]
    name = _first(el, "hl7:assignedPerson/hl7:name")
    return CdaPerson(
        ids=ids,
        family=_qualified(name, "family", "*"),
        given=_qualified(name, "given", "*"),
        prefix=_text(_first(name, "hl7:prefix")),
    )


def read_cda(data: bytes, *, max_bytes: int) -> tuple[CdaHeader | None, list[Problem], etree._ElementTree | None]:
    """Parse ``data`` safely and read its header, collecting every problem (never raises on bad input).

    The header is None when the document cannot be described (not XML, not a CDA, or no id, type, creation time
    or confidentiality); the tree is returned whenever the root is a ClinicalDocument.
    """
    try:
        tree = parse_xml(data, max_bytes=max_bytes)
    except UnsafeXml as exc:
        problem = exc.problem
        line = f" (ligne {problem.line})" if problem.line else ""
        return None, [Problem(f"xml_{problem.code}", f"{problem.message}{line}", "/")], None
    root = tree.getroot()
    if root.tag != f"{{{HL7_NS}}}ClinicalDocument":
        qname = etree.QName(root)
        message = (
            f"élément racine {qname.localname} ({qname.namespace or 'sans espace de noms'}) : "
            f"ClinicalDocument de l'espace de noms {HL7_NS} attendu"
        )
        return None, [Problem("not_cda", message, "/")], None
    reader = _Reader(root)
    header = _read_header(reader)
    return header, reader.problems, tree


def _read_header(r: _Reader) -> CdaHeader | None:
    unique_id = r.unique_id()
    type_code = r.type_code()
    title = r.title()
    effective_time = r.effective_time()
    confidentiality = r.confidentiality()
    set_id_pair = _id_of(r.at("hl7:setId"))
    version = r.version()
    patient_ins, patient_ids, patient = r.patient()
    name = _first(patient, "hl7:name")
    authors = r.authors()
    custodian = r.at("hl7:custodian/hl7:assignedCustodian/hl7:representedCustodianOrganization")
    event = r.at("hl7:documentationOf/hl7:serviceEvent")
    event_time = _first(event, "hl7:effectiveTime")
    start_el = _first(event_time, "hl7:low")
    if start_el is None and _attr(event_time, "value") is not None:
        start_el = event_time
    facility_type = r.facility_type()
    practice_setting = r.practice_setting()
    replaced = _id_of(r.at("hl7:relatedDocument[@typeCode='RPLC']/hl7:parentDocument/hl7:id"))
    level, media_type = r.body()
    if unique_id is None or type_code is None or effective_time is None or confidentiality is None:
        return None
    return CdaHeader(
        unique_id=unique_id,
        set_id=_unique_id(set_id_pair) if set_id_pair else None,
        version=version,
        type_code=type_code,
        title=title,
        effective_time=effective_time,
        confidentiality=confidentiality,
        language=_attr(r.at("hl7:languageCode"), "code"),
        patient_ins=patient_ins,
        patient_ids=patient_ids,
        patient_birth_name=_qualified(name, "family", "BR") or _qualified(name, "family", "*"),
        patient_given=_qualified(name, "given", "BR") or _qualified(name, "given", "*"),
        patient_birth_first_names=_qualified(name, "given", None),
        patient_sex=_attr(_first(patient, "hl7:administrativeGenderCode"), "code"),
        patient_birth_date=_parse_date(_attr(_first(patient, "hl7:birthTime"), "value")),
        authors=authors,
        custodian_id=_Reader._org_id(custodian),
        custodian_name=_text(_first(custodian, "hl7:name")),
        service_start=r.time(start_el, "service_time_invalid", "début de l'acte"),
        service_stop=r.time(_first(event_time, "hl7:high"), "service_time_invalid", "fin de l'acte"),
        service_event_code=_code(_first(event, "hl7:code")),
        facility_type=facility_type,
        practice_setting=practice_setting,
        replaces=_unique_id(replaced) if replaced else None,
        level=level,
        body_media_type=media_type,
        template_ids=[t for t in (_attr(e, "root") for e in _els(r.root, "hl7:templateId")) if t],
        legal_authenticator=_person(r.at("hl7:legalAuthenticator/hl7:assignedEntity")),
    )


# --- formatCode and embedded content ------------------------------------------------------------------------------

_FORMAT_OF_MEDIA_TYPE = {
    "application/pdf": "urn:ihe:iti:xds-sd:pdf:2008",
    "text/plain": "urn:ihe:iti:xds-sd:text:2008",
    "image/jpeg": "urn:ihe:iti-fr:xds-sd:jpeg:2010",
}
# Level 3: the formatCode names the content model the document declares conformity to, so it follows the
# templateId (first match wins: the CI-SIS volet before the IHE profile it builds on), never the type alone.
_FORMAT_OF_TEMPLATE: tuple[tuple[str, str], ...] = (
    ("1.2.250.1.213.1.1.1.13", "urn:asip:ci-sis:vsm:2012"),  # VSM, volet de synthèse médicale
    ("1.2.250.1.213.1.1.1.29", "urn:asip:ci-sis:ldl-ses:2017"),  # LDL-SES, lettre de liaison à la sortie
    ("1.2.250.1.213.1.1.1.21", "urn:asip:ci-sis:ldl-ees:2017"),  # LDL-EES, lettre de liaison à l'entrée
    ("1.2.250.1.213.1.1.1.36", "urn:asip:ci-sis:hr:2019"),  # CNAM-HR, historique de remboursements
    ("1.2.250.1.213.1.1.1.37", "urn:asip:ci-sis:vac:2019"),  # VAC, historique des vaccinations
    ("1.2.250.1.213.1.1.1.55", "urn:ihe:lab:xd-lab:2008"),  # CR-BIO
    ("1.3.6.1.4.1.19376.1.3.3", "urn:ihe:lab:xd-lab:2008"),  # IHE XD-LAB
    ("1.2.250.1.213.1.1.1.45", "urn:ihe:rad:CDA:ImagingReportStructuredHeadings:2013"),  # CR-IMG
    ("1.2.840.10008.9.1", "urn:ihe:rad:CDA:ImagingReportStructuredHeadings:2013"),  # DICOM PS3.20 imaging report
    ("1.2.250.1.213.1.1.1.39", "urn:ihe:pharm:pre:2010"),  # eP-MED-DM, prescription de médicaments
    ("1.3.6.1.4.1.19376.1.9.1.1.1", "urn:ihe:pharm:pre:2010"),  # IHE PHARM PRE
    ("1.2.250.1.213.1.1.1.54", "urn:ihe:pharm:dis:2010"),  # eDISP-MED, dispensation
    ("1.3.6.1.4.1.19376.1.9.1.1.3", "urn:ihe:pharm:dis:2010"),  # IHE PHARM DIS
)
# A structured document of no known model: "Document non référencé IHE ou CI-SIS".
_FORMAT_OTHER = "urn:asipSante:modelesHorsProfils:2011"


def format_code_for(header: CdaHeader) -> Code | None:
    """The XDS formatCode (a JDV_J10 code) of the document, or None when no J10 code fits."""
    formats = value_sets().format_code
    if header.level == 1:
        code = _FORMAT_OF_MEDIA_TYPE.get(header.body_media_type or "")
        return formats.get(code) if code else None
    if header.level == 3:
        for template, code in _FORMAT_OF_TEMPLATE:
            if template in header.template_ids:
                return formats.get(code)
        return formats.get(_FORMAT_OTHER)
    return None


def embedded_content(tree: etree._ElementTree) -> tuple[str, bytes] | None:
    """(media type, bytes) of a level-1 body; None for a structured body or an undecodable content."""
    text = _first(tree.getroot(), "/hl7:ClinicalDocument/hl7:component/hl7:nonXMLBody/hl7:text")
    if text is None:
        return None
    media_type = _attr(text, "mediaType") or "text/plain"
    if _attr(text, "representation") == "B64":
        content = _decode_b64(_text(text) or "")
        return None if content is None else (media_type, content)
    if _first(text, "hl7:reference") is not None:
        return None
    return media_type, "".join(str(t) for t in text.itertext()).encode("utf-8")

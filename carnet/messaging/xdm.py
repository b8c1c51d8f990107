"""IHE XDM packages: the ZIP that carries documents and their XDS metadata in an MSSanté message.

Layout (IHE ITI TF-1 §16 "Cross-Enterprise Document Media Interchange", ITI TF-3 §4.2 ebRIM metadata)::

    INDEX.HTM                      what the package holds, for a person opening the ZIP
    README.TXT                     who made it
    IHE_XDM/SUBSET01/METADATA.XML  an ebRIM SubmitObjectsRequest: one RegistryPackage (the submission set),
                                   one ExtrinsicObject per document, HasMember associations
    IHE_XDM/SUBSET01/DOC0001.XML   the documents, named by the ``URI`` slot of their ExtrinsicObject

:func:`read` checks the ZIP before it unpacks anything (see ``_Zip``: names that climb out of the folder
or are absolute, encrypted entries, duplicate names, too many files, too many bytes, a compression ratio of a
"zip bomb"), reads METADATA.XML with the hardened parser of :mod:`carnet.record.xml` (no DTD, no entities, no
network), and checks each document's ``size`` and SHA-1 ``hash`` slots against the file. Anything wrong raises
:class:`~carnet.errors.DocumentRejected` whose ``problems`` (:class:`~carnet.record.cda.Problem`) say every
reason with where it is (a path in the ZIP or an XPath in METADATA.XML). Only one submission set
(``SUBSET01`` or another single folder) per package is read; a package with several is refused, saying so.

:func:`write` builds the package for an outgoing message; sizes and hashes are computed from the bytes.

The French conventions (ANS, CI-SIS "Volet Partage de documents de santé"): the patient is the INS as an HL7 v2
CX, ``matricule^^^&OID&ISO^NH``; authors are XCN ``id^family^given^^^^^^&OID&ISO^D^^^IDNPS``, institutions XON
``name^^^^^&OID&ISO^IDNST^^^id``; codes carry their ``codingScheme`` OID. The classification scheme and
identification scheme UUIDs below are those of ITI TF-3 Table 4.2.5-1 / 4.2.5-2.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import io
import posixpath
import re
import uuid
import zipfile
from dataclasses import dataclass, field

from lxml import etree

from carnet.errors import DocumentRejected, InvalidMatricule
from carnet.identity.matricule import Ins, InsOid, parse_matricule
from carnet.record.cda import Problem
from carnet.record.xml import UnsafeXml, parse_xml

__all__ = [
    "MAX_FILES",
    "MAX_RATIO",
    "MAX_TOTAL_BYTES",
    "PatientId",
    "XdmAuthor",
    "XdmCode",
    "XdmDocument",
    "XdmPackage",
    "XdmSubmissionSet",
    "recipient_address",
    "read",
    "write",
]

RIM = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"
LCM = "urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0"
NS = {"rim": RIM, "lcm": LCM}

# ITI TF-3 Table 4.2.5-1 (classification schemes) and 4.2.5-2 (external identifiers)
STABLE_DOCUMENT = "urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1"
ON_DEMAND_DOCUMENT = "urn:uuid:34268e47-fdf5-41a6-ba33-82133c465248"
SUBMISSION_SET_NODE = "urn:uuid:a54d6aa5-d40d-43f9-88c5-b4633d873bdd"
DE_AUTHOR = "urn:uuid:93606bcf-9494-43ec-9b4e-a7748d1a838d"
DE_CLASS_CODE = "urn:uuid:41a5887f-8865-4c09-adf7-e362475b143a"
DE_CONFIDENTIALITY = "urn:uuid:f4f85eac-e6cb-4883-b524-f2705394840f"
DE_EVENT_CODE = "urn:uuid:2c6b8cb7-8b2a-4051-b291-b1ae6a575ef4"
DE_FORMAT_CODE = "urn:uuid:a09d5840-386c-46f2-b5ad-9c3699a4309d"
DE_FACILITY_TYPE = "urn:uuid:f33fb8ac-18af-42cc-ae0e-ed0b0bdb91e1"
DE_PRACTICE_SETTING = "urn:uuid:cccf5598-8b07-4b77-a05e-ae952c785ead"
DE_TYPE_CODE = "urn:uuid:f0306f51-975f-434e-a61c-c59651d33983"
DE_PATIENT_ID = "urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427"
DE_UNIQUE_ID = "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab"
SS_AUTHOR = "urn:uuid:a7058bb9-b4e4-4307-ba5b-e3f0ab85e12d"
SS_CONTENT_TYPE = "urn:uuid:aa543740-bdda-424e-8c96-df4873be8500"
SS_PATIENT_ID = "urn:uuid:6b5aea1a-874d-4603-a4bc-96a0a7b38446"
SS_SOURCE_ID = "urn:uuid:554ac39e-e3fe-47fe-b233-965d2a147832"
SS_UNIQUE_ID = "urn:uuid:96fdda7c-d067-4183-912e-bf5ee74998a8"
HAS_MEMBER = "urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember"
APPROVED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"
CLASSIFICATION = "urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:Classification"
EXTERNAL_IDENTIFIER = "urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:ExternalIdentifier"

MAX_FILES = 200
MAX_TOTAL_BYTES = 100 * 1024 * 1024  # uncompressed, all entries together
MAX_RATIO = 100  # uncompressed / compressed, per entry larger than 1 MiB (text compresses ~10x; bombs 1000x)
MAX_METADATA_BYTES = 10 * 1024 * 1024
_RATIO_FLOOR = 1024 * 1024

_EXTENSIONS = {"text/xml": "XML", "application/xml": "XML", "application/pdf": "PDF", "text/plain": "TXT"}
_TS = re.compile(r"([0-9]{4})([0-9]{2})?([0-9]{2})?([0-9]{2})?([0-9]{2})?([0-9]{2})?")
_INS_OIDS = {oid.value: oid for oid in InsOid}


# --- model ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class XdmCode:
    """A coded metadata value: ``nodeRepresentation``, its ``codingScheme`` slot, the ``Name`` shown."""

    code: str
    scheme: str
    display: str = ""


@dataclass(frozen=True)
class PatientId:
    """An HL7 v2 CX identifier: ``id^^^&oid&ISO^type`` (the INS: type ``NH``, oid one of the INS OIDs)."""

    id: str
    oid: str
    id_type: str | None = "NH"

    @property
    def cx(self) -> str:
        return f"{self.id}^^^&{self.oid}&ISO" + (f"^{self.id_type}" if self.id_type else "")

    @property
    def ins(self) -> Ins | None:
        """The INS, when the assigning authority is an INS OID and the matricule is valid; else None."""
        oid = _INS_OIDS.get(self.oid)
        if oid is None:
            return None
        try:
            return Ins(parse_matricule(self.id), oid)
        except InvalidMatricule:
            return None

    @classmethod
    def parse(cls, value: str) -> PatientId:
        """Read a CX value; raises ``ValueError`` when it has no id or no ISO assigning authority."""
        parts = value.strip().split("^")
        ident = parts[0].strip()
        authority = parts[3].split("&") if len(parts) > 3 else []
        oid = authority[1].strip() if len(authority) > 1 else ""
        if not ident or not oid or (len(authority) > 2 and authority[2].strip() not in ("ISO", "")):
            raise ValueError(f"identifiant patient CX illisible : {value!r} (attendu id^^^&OID&ISO)")
        id_type = parts[4].strip() if len(parts) > 4 and parts[4].strip() else None
        return cls(ident, oid, id_type)

    @classmethod
    def of_ins(cls, ins: Ins) -> PatientId:
        return cls(str(ins.matricule), ins.oid.value, "NH")


@dataclass(frozen=True)
class XdmAuthor:
    """An ``author`` classification: HL7 v2 values as written (XCN person, XON institutions, codes as
    ``code^display^OID``, XTN telecoms)."""

    person: str | None = None
    institutions: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    specialties: tuple[str, ...] = ()
    telecoms: tuple[str, ...] = ()


def _new_uuid() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


@dataclass(frozen=True)
class XdmDocument:
    """A DocumentEntry and its bytes. ``size`` and ``hash`` (SHA-1, hex) are computed from ``data``; ``uri`` is
    the file name in the package when read (``write`` names files itself), and takes no part in equality."""

    unique_id: str
    patient_id: PatientId
    type_code: XdmCode
    class_code: XdmCode
    format_code: XdmCode
    confidentiality: tuple[XdmCode, ...]
    creation_time: dt.datetime
    title: str
    mime_type: str
    data: bytes = field(repr=False)
    entry_uuid: str = field(default_factory=_new_uuid)
    authors: tuple[XdmAuthor, ...] = ()
    language_code: str | None = "fr-FR"
    healthcare_facility_type: XdmCode | None = None
    practice_setting: XdmCode | None = None
    event_codes: tuple[XdmCode, ...] = ()
    service_start: dt.datetime | None = None
    service_stop: dt.datetime | None = None
    legal_authenticator: str | None = None
    uri: str | None = field(default=None, compare=False)

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def hash(self) -> str:
        return hashlib.sha1(self.data, usedforsecurity=False).hexdigest()


@dataclass(frozen=True)
class XdmSubmissionSet:
    """The RegistryPackage of the submission set. ``intended_recipients`` are XDM's ``intendedRecipient``
    values (``XON|XCN|XTN``); :func:`recipient_address` takes the e-mail out of one."""

    unique_id: str
    source_id: str
    submission_time: dt.datetime
    patient_id: PatientId | None = None
    authors: tuple[XdmAuthor, ...] = ()
    intended_recipients: tuple[str, ...] = ()
    content_type_code: XdmCode | None = None
    title: str | None = None
    entry_uuid: str = field(default_factory=_new_uuid)


@dataclass(frozen=True)
class XdmPackage:
    submission_set: XdmSubmissionSet
    documents: tuple[XdmDocument, ...]


def recipient_address(intended_recipient: str) -> str | None:
    """The e-mail address in an ``intendedRecipient`` value (its XTN part, ``^^Internet^address``), if any."""
    for part in intended_recipient.split("|")[2:3]:
        components = part.split("^")
        if len(components) > 3 and components[3].strip() and "@" in components[3]:
            return components[3].strip()
    return None


def _ts(value: dt.datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("XDS times are UTC: give an aware datetime")
    return value.astimezone(dt.UTC).strftime("%Y%m%d%H%M%S")


def _parse_ts(value: str) -> dt.datetime | None:
    found = _TS.fullmatch(value.strip())
    if not found:
        return None
    y, mo, d, h, mi, s = (int(g) if g else None for g in found.groups())
    try:
        return dt.datetime(y or 1, mo or 1, d or 1, h or 0, mi or 0, s or 0, tzinfo=dt.UTC)
    except ValueError:
        return None


# --- reading ----------------------------------------------------------------------------------------------------


def _reject(problems: list[Problem]) -> DocumentRejected:
    summary = "; ".join(p.message for p in problems[:3]) + (" ; …" if len(problems) > 3 else "")
    return DocumentRejected(f"paquet IHE XDM refusé : {summary}", problems=problems, field="xdm")


class _Zip:
    """The entries of a ZIP, checked before any is unpacked; ``read`` never returns more than was declared."""

    def __init__(self, data: bytes, *, max_files: int, max_total: int, max_ratio: int) -> None:
        try:
            self.zip = zipfile.ZipFile(io.BytesIO(data))
            infos = self.zip.infolist()
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
            raise _reject([Problem("not_zip", f"pas une archive ZIP lisible ({exc})", "/")]) from None
        if len(infos) > max_files:
            raise _reject([Problem("too_many_files", f"{len(infos)} fichiers (maximum {max_files})", "/")])
        problems: list[Problem] = []
        self.entries: dict[str, zipfile.ZipInfo] = {}
        total = 0
        for info in infos:
            name = info.filename
            if "\x00" in name or "\\" in name or name.startswith("/") or re.match(r"^[A-Za-z]:", name):
                problems.append(Problem("unsafe_path", f"chemin absolu ou invalide dans l'archive : {name!r}", name))
                continue
            if ".." in name.split("/"):
                problems.append(Problem("unsafe_path", f"chemin qui sort de l'archive : {name!r}", name))
                continue
            if info.flag_bits & 0x1:
                problems.append(Problem("encrypted", f"fichier chiffré dans l'archive : {name}", name))
                continue
            key = name.upper()
            if key in self.entries:
                problems.append(Problem("duplicate_name", f"nom présent deux fois dans l'archive : {name}", name))
                continue
            total += info.file_size
            if info.file_size > _RATIO_FLOOR and info.file_size > max_ratio * max(info.compress_size, 1):
                problems.append(
                    Problem(
                        "zip_bomb",
                        f"taux de compression suspect pour {name} : {info.file_size} octets pour "
                        f"{info.compress_size} compressés (maximum {max_ratio}×)",
                        name,
                    )
                )
            if not name.endswith("/"):
                self.entries[key] = info
        if total > max_total:
            problems.append(Problem("too_large", f"contenu décompressé de {total} octets (maximum {max_total})", "/"))
        if problems:
            raise _reject(problems)

    def get(self, name: str) -> zipfile.ZipInfo | None:
        return self.entries.get(name.upper())

    def read(self, info: zipfile.ZipInfo) -> bytes:
        """The entry's bytes; a stream longer than its declared size (a lying header) is refused."""
        try:
            with self.zip.open(info) as stream:
                data = stream.read(info.file_size + 1)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError, RuntimeError) as exc:
            raise _reject(
                [Problem("corrupt_entry", f"fichier illisible dans l'archive : {exc}", info.filename)]
            ) from None
        if len(data) != info.file_size:
            raise _reject([Problem("zip_bomb", "taille réelle différente de la taille déclarée", info.filename)])
        return data


def _slot(el: etree._Element, name: str) -> list[str]:
    return [v.text or "" for v in el.xpath("rim:Slot[@name=$n]/rim:ValueList/rim:Value", namespaces=NS, n=name)]


def _one_slot(el: etree._Element, name: str) -> str | None:
    values = _slot(el, name)
    return values[0].strip() if values and values[0].strip() else None


def _name(el: etree._Element) -> str | None:
    found = el.xpath("rim:Name/rim:LocalizedString/@value", namespaces=NS)
    return str(found[0]) if found else None


def _classifications(scope: list[etree._Element], scheme: str, target: str) -> list[etree._Element]:
    found: list[etree._Element] = []
    for container in scope:
        for c in container.xpath("rim:Classification[@classificationScheme=$s]", namespaces=NS, s=scheme):
            if c.get("classifiedObject") in (None, target):
                found.append(c)
    return found


def _code(el: etree._Element) -> XdmCode:
    return XdmCode(el.get("nodeRepresentation") or "", _one_slot(el, "codingScheme") or "", _name(el) or "")


def _author(el: etree._Element) -> XdmAuthor:
    return XdmAuthor(
        person=_one_slot(el, "authorPerson"),
        institutions=tuple(_slot(el, "authorInstitution")),
        roles=tuple(_slot(el, "authorRole")),
        specialties=tuple(_slot(el, "authorSpecialty")),
        telecoms=tuple(_slot(el, "authorTelecommunication")),
    )


def _external_id(scope: list[etree._Element], scheme: str, target: str) -> str | None:
    for container in scope:
        for e in container.xpath("rim:ExternalIdentifier[@identificationScheme=$s]", namespaces=NS, s=scheme):
            if e.get("registryObject") in (None, target) and (e.get("value") or "").strip():
                return str(e.get("value")).strip()
    return None


def _where(el: etree._Element) -> str:
    ident = el.get("id")
    local = etree.QName(el).localname
    return f"METADATA.XML//{local}[@id='{ident}']" if ident else f"METADATA.XML//{local}"


def read(
    data: bytes,
    *,
    max_bytes: int = MAX_TOTAL_BYTES,
    max_files: int = MAX_FILES,
    max_total: int = MAX_TOTAL_BYTES,
    max_ratio: int = MAX_RATIO,
) -> XdmPackage:
    """The package in ``data`` (a ZIP), checked; raises :class:`~carnet.errors.DocumentRejected` saying why not."""
    if len(data) > max_bytes:
        raise _reject([Problem("too_large", f"archive de {len(data)} octets (maximum {max_bytes})", "/")])
    archive = _Zip(data, max_files=max_files, max_total=max_total, max_ratio=max_ratio)
    metadata_names = sorted(
        info.filename for key, info in archive.entries.items() if re.fullmatch(r"IHE_XDM/[^/]+/METADATA\.XML", key)
    )
    if not metadata_names:
        raise _reject([Problem("no_metadata", "IHE_XDM/SUBSET01/METADATA.XML absent : pas un paquet XDM", "/")])
    if len(metadata_names) > 1:
        raise _reject(
            [Problem("several_subsets", f"plusieurs lots dans le paquet ({', '.join(metadata_names)})", "IHE_XDM/")]
        )
    metadata_name = metadata_names[0]
    info = archive.get(metadata_name)
    assert info is not None
    try:
        tree = parse_xml(archive.read(info), max_bytes=MAX_METADATA_BYTES)
    except UnsafeXml as exc:
        problem = exc.problem
        where = f"{metadata_name}:{problem.line}" if problem.line else metadata_name
        raise _reject([Problem(f"metadata_{problem.code}", problem.message, where)]) from None
    return _Reader(archive, tree.getroot(), posixpath.dirname(metadata_name)).package()


class _Reader:
    def __init__(self, archive: _Zip, root: etree._Element, folder: str) -> None:
        self.archive = archive
        self.folder = folder
        self.problems: list[Problem] = []
        lists = [root] if etree.QName(root).localname == "RegistryObjectList" else []
        lists += root.xpath(".//rim:RegistryObjectList", namespaces=NS)
        self.lists: list[etree._Element] = lists

    def fail(self, code: str, message: str, where: str) -> None:
        self.problems.append(Problem(code, message, where))

    def package(self) -> XdmPackage:
        if not self.lists or etree.QName(self.lists[0]).namespace != RIM:
            raise _reject([Problem("metadata_structure", "METADATA.XML sans rim:RegistryObjectList", "METADATA.XML")])
        submission_set = self._submission_set()
        documents: list[XdmDocument] = []
        for el in self._all("ExtrinsicObject"):
            doc = self._document(el)
            if doc is not None:
                documents.append(doc)
        if not documents and not self.problems:
            self.fail("no_document", "aucun document (ExtrinsicObject) dans le paquet", "METADATA.XML")
        seen: set[str] = set()
        for doc in documents:
            if doc.unique_id in seen:
                self.fail("duplicate_document", f"document présent deux fois : {doc.unique_id}", "METADATA.XML")
            seen.add(doc.unique_id)
        if self.problems or submission_set is None:
            raise _reject(self.problems)
        return XdmPackage(submission_set, tuple(documents))

    def _all(self, local: str) -> list[etree._Element]:
        found: list[etree._Element] = []
        for container in self.lists:
            found.extend(container.xpath(f"rim:{local}", namespaces=NS))
        return found

    def _submission_set(self) -> XdmSubmissionSet | None:
        marked = {
            c.get("classifiedObject")
            for container in self.lists
            for c in container.xpath(
                ".//rim:Classification[@classificationNode=$n]", namespaces=NS, n=SUBMISSION_SET_NODE
            )
        }
        packages = [
            p
            for p in self._all("RegistryPackage")
            if p.get("id") in marked or _external_id([p], SS_UNIQUE_ID, p.get("id") or "") is not None
        ]
        if len(packages) != 1:
            self.fail(
                "submission_set",
                f"{len(packages)} lots de soumission (RegistryPackage SubmissionSet) au lieu d'un",
                "METADATA.XML//RegistryPackage",
            )
            return None
        el = packages[0]
        ident = el.get("id") or ""
        where = _where(el)
        scope = [el, *self.lists]
        unique_id = _external_id(scope, SS_UNIQUE_ID, ident)
        source_id = _external_id(scope, SS_SOURCE_ID, ident)
        submitted = _parse_ts(_one_slot(el, "submissionTime") or "")
        if unique_id is None:
            self.fail("missing_metadata", "uniqueId du lot de soumission absent", where)
        if source_id is None:
            self.fail("missing_metadata", "sourceId du lot de soumission absent", where)
        if submitted is None:
            self.fail("missing_metadata", "submissionTime absent ou illisible", where)
        patient: PatientId | None = None
        patient_cx = _external_id(scope, SS_PATIENT_ID, ident)
        if patient_cx is not None:
            try:
                patient = PatientId.parse(patient_cx)
            except ValueError as exc:
                self.fail("patient_id", str(exc), where)
        content = _classifications([el, *self.lists], SS_CONTENT_TYPE, ident)
        if unique_id is None or source_id is None or submitted is None:
            return None
        return XdmSubmissionSet(
            unique_id=unique_id,
            source_id=source_id,
            submission_time=submitted,
            patient_id=patient,
            authors=tuple(_author(a) for a in _classifications([el], SS_AUTHOR, ident)),
            intended_recipients=tuple(v.strip() for v in _slot(el, "intendedRecipient") if v.strip()),
            content_type_code=_code(content[0]) if content else None,
            title=_name(el),
            entry_uuid=ident,
        )

    def _document(self, el: etree._Element) -> XdmDocument | None:
        ident = el.get("id") or ""
        where = _where(el)
        before = len(self.problems)
        object_type = el.get("objectType")
        if object_type != STABLE_DOCUMENT:
            self.fail(
                "object_type", f"type d'objet non pris en charge : {object_type!r} (document stable attendu)", where
            )
            return None
        scope = [el]

        def code(scheme: str, label: str) -> XdmCode | None:
            found = _classifications(scope, scheme, ident)
            if not found or not found[0].get("nodeRepresentation"):
                self.fail("missing_metadata", f"{label} absent", where)
                return None
            return _code(found[0])

        type_code = code(DE_TYPE_CODE, "typeCode")
        class_code = code(DE_CLASS_CODE, "classCode")
        format_code = code(DE_FORMAT_CODE, "formatCode")
        confidentiality = tuple(_code(c) for c in _classifications(scope, DE_CONFIDENTIALITY, ident))
        if not confidentiality:
            self.fail("missing_metadata", "confidentialityCode absent", where)
        unique_id = _external_id(scope, DE_UNIQUE_ID, ident)
        if unique_id is None:
            self.fail("missing_metadata", "uniqueId du document absent", where)
        patient: PatientId | None = None
        patient_cx = _external_id(scope, DE_PATIENT_ID, ident)
        if patient_cx is None:
            self.fail("missing_metadata", "patientId du document absent", where)
        else:
            try:
                patient = PatientId.parse(patient_cx)
            except ValueError as exc:
                self.fail("patient_id", str(exc), where)
        created = _parse_ts(_one_slot(el, "creationTime") or "")
        if created is None:
            self.fail("missing_metadata", "creationTime absent ou illisible", where)
        mime_type = (el.get("mimeType") or "").strip()
        if not mime_type:
            self.fail("missing_metadata", "mimeType absent", where)
        data, uri = self._content(el, where)
        if len(self.problems) > before:
            return None
        assert type_code and class_code and format_code and unique_id and patient and created and data is not None
        facility = _classifications(scope, DE_FACILITY_TYPE, ident)
        practice = _classifications(scope, DE_PRACTICE_SETTING, ident)
        start = _one_slot(el, "serviceStartTime")
        stop = _one_slot(el, "serviceStopTime")
        return XdmDocument(
            unique_id=unique_id,
            patient_id=patient,
            type_code=type_code,
            class_code=class_code,
            format_code=format_code,
            confidentiality=confidentiality,
            creation_time=created,
            title=_name(el) or "",
            mime_type=mime_type,
            data=data,
            entry_uuid=ident,
            authors=tuple(_author(a) for a in _classifications(scope, DE_AUTHOR, ident)),
            language_code=_one_slot(el, "languageCode"),
            healthcare_facility_type=_code(facility[0]) if facility else None,
            practice_setting=_code(practice[0]) if practice else None,
            event_codes=tuple(_code(c) for c in _classifications(scope, DE_EVENT_CODE, ident)),
            service_start=_parse_ts(start) if start else None,
            service_stop=_parse_ts(stop) if stop else None,
            legal_authenticator=_one_slot(el, "legalAuthenticator"),
            uri=uri,
        )

    def _content(self, el: etree._Element, where: str) -> tuple[bytes | None, str | None]:
        values = [v.strip() for v in _slot(el, "URI") if v.strip()]
        if len(values) > 1 and all(re.match(r"^[0-9]+\|", v) for v in values):  # XDS.a long URI split in pieces
            values = ["".join(v.split("|", 1)[1] for v in sorted(values, key=lambda v: int(v.split("|", 1)[0])))]
        if len(values) != 1:
            self.fail("missing_metadata", "slot URI absent (le fichier du document n'est pas nommé)", where)
            return None, None
        uri = values[0]
        if uri.startswith("/") or "\\" in uri or ".." in uri.split("/") or "://" in uri or uri.startswith("file:"):
            self.fail("unsafe_path", f"URI de document qui sort du lot : {uri!r}", where)
            return None, None
        path = posixpath.join(self.folder, uri)
        info = self.archive.get(path)
        if info is None:
            self.fail("missing_file", f"fichier du document absent de l'archive : {path}", where)
            return None, uri
        data = self.archive.read(info)
        declared_size = _one_slot(el, "size")
        if declared_size is not None and declared_size != str(len(data)):
            self.fail(
                "size_mismatch", f"taille déclarée {declared_size}, fichier de {len(data)} octets : {path}", where
            )
        declared_hash = _one_slot(el, "hash")
        actual = hashlib.sha1(data, usedforsecurity=False).hexdigest()
        if declared_hash is not None and declared_hash.lower() != actual:
            self.fail("hash_mismatch", f"empreinte SHA-1 déclarée {declared_hash}, calculée {actual} : {path}", where)
        return data, uri


# --- writing ----------------------------------------------------------------------------------------------------


def _r(tag: str) -> str:
    return f"{{{RIM}}}{tag}"


def _add_slot(parent: etree._Element, name: str, values: list[str] | tuple[str, ...]) -> None:
    if not values:
        return
    slot = etree.SubElement(parent, _r("Slot"), name=name)
    value_list = etree.SubElement(slot, _r("ValueList"))
    for value in values:
        etree.SubElement(value_list, _r("Value")).text = value


def _add_name(parent: etree._Element, value: str | None) -> None:
    if value:
        name = etree.SubElement(parent, _r("Name"))
        etree.SubElement(name, _r("LocalizedString"), value=value, charset="UTF-8")


def _add_code(parent: etree._Element, scheme: str, target: str, code: XdmCode) -> None:
    c = etree.SubElement(
        parent,
        _r("Classification"),
        id=_new_uuid(),
        objectType=CLASSIFICATION,
        classificationScheme=scheme,
        classifiedObject=target,
        nodeRepresentation=code.code,
    )
    _add_slot(c, "codingScheme", [code.scheme])
    _add_name(c, code.display or code.code)


def _add_author(parent: etree._Element, scheme: str, target: str, author: XdmAuthor) -> None:
    c = etree.SubElement(
        parent,
        _r("Classification"),
        id=_new_uuid(),
        objectType=CLASSIFICATION,
        classificationScheme=scheme,
        classifiedObject=target,
        nodeRepresentation="",
    )
    _add_slot(c, "authorPerson", [author.person] if author.person else [])
    _add_slot(c, "authorInstitution", author.institutions)
    _add_slot(c, "authorRole", author.roles)
    _add_slot(c, "authorSpecialty", author.specialties)
    _add_slot(c, "authorTelecommunication", author.telecoms)


def _add_id(parent: etree._Element, scheme: str, target: str, value: str, label: str) -> None:
    e = etree.SubElement(
        parent,
        _r("ExternalIdentifier"),
        id=_new_uuid(),
        objectType=EXTERNAL_IDENTIFIER,
        identificationScheme=scheme,
        registryObject=target,
        value=value,
    )
    _add_name(e, label)


def _metadata(package: XdmPackage, names: list[str]) -> bytes:
    ss = package.submission_set
    root = etree.Element(f"{{{LCM}}}SubmitObjectsRequest", nsmap={"lcm": LCM, "rim": RIM})
    objects = etree.SubElement(root, _r("RegistryObjectList"))
    for doc, name in zip(package.documents, names, strict=True):
        eo = etree.SubElement(
            objects, _r("ExtrinsicObject"), id=doc.entry_uuid, mimeType=doc.mime_type, objectType=STABLE_DOCUMENT
        )
        eo.set("status", APPROVED)
        _add_slot(eo, "creationTime", [_ts(doc.creation_time)])
        _add_slot(eo, "hash", [doc.hash])
        _add_slot(eo, "size", [str(doc.size)])
        _add_slot(eo, "URI", [name])
        _add_slot(eo, "languageCode", [doc.language_code] if doc.language_code else [])
        _add_slot(eo, "legalAuthenticator", [doc.legal_authenticator] if doc.legal_authenticator else [])
        _add_slot(eo, "serviceStartTime", [_ts(doc.service_start)] if doc.service_start else [])
        _add_slot(eo, "serviceStopTime", [_ts(doc.service_stop)] if doc.service_stop else [])
        _add_slot(eo, "sourcePatientId", [doc.patient_id.cx])
        _add_name(eo, doc.title)
        for author in doc.authors:
            _add_author(eo, DE_AUTHOR, doc.entry_uuid, author)
        _add_code(eo, DE_CLASS_CODE, doc.entry_uuid, doc.class_code)
        for code in doc.confidentiality:
            _add_code(eo, DE_CONFIDENTIALITY, doc.entry_uuid, code)
        for code in doc.event_codes:
            _add_code(eo, DE_EVENT_CODE, doc.entry_uuid, code)
        _add_code(eo, DE_FORMAT_CODE, doc.entry_uuid, doc.format_code)
        if doc.healthcare_facility_type is not None:
            _add_code(eo, DE_FACILITY_TYPE, doc.entry_uuid, doc.healthcare_facility_type)
        if doc.practice_setting is not None:
            _add_code(eo, DE_PRACTICE_SETTING, doc.entry_uuid, doc.practice_setting)
        _add_code(eo, DE_TYPE_CODE, doc.entry_uuid, doc.type_code)
        _add_id(eo, DE_PATIENT_ID, doc.entry_uuid, doc.patient_id.cx, "XDSDocumentEntry.patientId")
        _add_id(eo, DE_UNIQUE_ID, doc.entry_uuid, doc.unique_id, "XDSDocumentEntry.uniqueId")
    rp = etree.SubElement(objects, _r("RegistryPackage"), id=ss.entry_uuid)
    _add_slot(rp, "submissionTime", [_ts(ss.submission_time)])
    _add_slot(rp, "intendedRecipient", ss.intended_recipients)
    _add_name(rp, ss.title)
    for author in ss.authors:
        _add_author(rp, SS_AUTHOR, ss.entry_uuid, author)
    if ss.content_type_code is not None:
        _add_code(rp, SS_CONTENT_TYPE, ss.entry_uuid, ss.content_type_code)
    _add_id(rp, SS_UNIQUE_ID, ss.entry_uuid, ss.unique_id, "XDSSubmissionSet.uniqueId")
    _add_id(rp, SS_SOURCE_ID, ss.entry_uuid, ss.source_id, "XDSSubmissionSet.sourceId")
    if ss.patient_id is not None:
        _add_id(rp, SS_PATIENT_ID, ss.entry_uuid, ss.patient_id.cx, "XDSSubmissionSet.patientId")
    etree.SubElement(
        objects,
        _r("Classification"),
        id=_new_uuid(),
        objectType=CLASSIFICATION,
        classifiedObject=ss.entry_uuid,
        classificationNode=SUBMISSION_SET_NODE,
    )
    for doc in package.documents:
        association = etree.SubElement(
            objects,
            _r("Association"),
            id=_new_uuid(),
            objectType="urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:Association",
            associationType=HAS_MEMBER,
            sourceObject=ss.entry_uuid,
            targetObject=doc.entry_uuid,
        )
        _add_slot(association, "SubmissionSetStatus", ["Original"])
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))


def _index(package: XdmPackage, names: list[str]) -> bytes:
    rows = "\n".join(
        f'<li><a href="IHE_XDM/SUBSET01/{html.escape(name)}">{html.escape(doc.title or name)}</a>'
        f" ({html.escape(doc.mime_type)}, {doc.size} octets)</li>"
        for doc, name in zip(package.documents, names, strict=True)
    )
    page = (
        '<!DOCTYPE html>\n<html lang="fr"><head><meta charset="utf-8"><title>Paquet IHE XDM</title></head><body>\n'
        "<h1>Documents de santé (IHE XDM)</h1>\n"
        f"<p>Lot {html.escape(package.submission_set.unique_id)}, source "
        f"{html.escape(package.submission_set.source_id)}.</p>\n<ul>\n{rows}\n</ul>\n"
        '<p>Métadonnées : <a href="IHE_XDM/SUBSET01/METADATA.XML">IHE_XDM/SUBSET01/METADATA.XML</a></p>\n'
        "</body></html>\n"
    )
    return page.encode("utf-8")


README = (
    "Paquet IHE XDM (Cross-Enterprise Document Media Interchange) produit par Carnet.\r\n"
    "Carnet - plateforme open source d'espace numérique de santé.\r\n"
    "Contenu : INDEX.HTM (liste des documents), IHE_XDM/SUBSET01/METADATA.XML (métadonnées XDS ebRIM)\r\n"
    "et les documents IHE_XDM/SUBSET01/DOCnnnn.*.\r\n"
)


def write(package: XdmPackage) -> bytes:
    """The ZIP of ``package``: INDEX.HTM, README.TXT, IHE_XDM/SUBSET01/METADATA.XML and DOC0001.* …"""
    if not package.documents:
        raise ValueError("an XDM package holds at least one document")
    names = [f"DOC{n:04d}.{_EXTENSIONS.get(doc.mime_type, 'BIN')}" for n, doc in enumerate(package.documents, 1)]
    when = package.submission_set.submission_time.astimezone(dt.UTC)
    stamp = (max(when.year, 1980), when.month, when.day, when.hour, when.minute, when.second)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:

        def put(name: str, content: bytes) -> None:
            info = zipfile.ZipInfo(name, date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, content)

        put("INDEX.HTM", _index(package, names))
        put("README.TXT", README.encode("utf-8"))
        put("IHE_XDM/SUBSET01/METADATA.XML", _metadata(package, names))
        for doc, name in zip(package.documents, names, strict=True):
            put(f"IHE_XDM/SUBSET01/{name}", doc.data)
    return out.getvalue()

"""The official NOS value sets (CI-SIS / DMP) shipped with the package, and the typeCode → classCode table.

The CSV files in ``carnet/record/data/`` are unchanged copies of ``reference/nos/`` (see ``data/SOURCES.md``).
Their headers differ slightly: ``code,display,codeSystemOID`` always, then ``dateValid,dateFin`` (SVS exports)
or ``codeSystemUrl`` (FHIR exports).
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from importlib import resources

__all__ = [
    "CLASS_FOR_TYPE",
    "Code",
    "ValueSet",
    "ValueSets",
    "class_for_type",
    "load_value_set",
    "value_sets",
]

_OID_RE = re.compile(r"[0-2](?:\.(?:0|[1-9][0-9]*))+")

# Rows whose codeSystemOID column is empty: the OID of the code system named by their codeSystemUrl
# (reference/identifier_systems.csv, from the PDSm simplified-publish profile).
_OID_OF_URL_NAME = {
    "TRE_A11-IheFormatCode": "1.3.6.1.4.1.19376.1.2.3",
    "TRE_A09-DICOMuidRegistry": "1.2.840.10008.2.6.1",
}
# Symbolic systems spelled differently across exports. NOS identifies TRE_A10-NomenclatureURN by the "OID" ``URN``
# and TRE_A12-NomenclatureASTM by ``ASTM``; both are kept as is.
_SYSTEM_ALIASES = {"ASTM (TRE_A12-NomenclatureASTM)": "ASTM"}


@dataclass(frozen=True, slots=True)
class Code:
    """A coded value: the code, its code system (an OID, or ``URN``/``ASTM`` for the two symbolic NOS systems)."""

    code: str
    system: str
    display: str

    @property
    def system_uri(self) -> str:
        """``urn:oid:<oid>`` (the form FHIR and XDS use); a symbolic system is returned unchanged."""
        return f"urn:oid:{self.system}" if _OID_RE.fullmatch(self.system) else self.system


def _parse_end(text: str) -> dt.date | None:
    """A ``dateFin`` cell: empty, ``YYYY-MM-DD``, ``YYYYMMDD`` or an ISO date-time (its date is kept)."""
    text = text.strip()
    if not text:
        return None
    if re.fullmatch(r"[0-9]{8}", text):
        return dt.date(int(text[:4]), int(text[4:6]), int(text[6:8]))
    return dt.date.fromisoformat(text[:10])


class ValueSet:
    """A value set: its codes keyed by ``(system, code)``; codes past their ``dateFin`` are no longer valid."""

    def __init__(self, name: str, oid: str, entries: Iterable[tuple[Code, dt.date | None]]) -> None:
        self.name = name
        self.oid = oid
        self.codes: dict[tuple[str, str], Code] = {}
        self._ends: dict[tuple[str, str], dt.date] = {}
        self._by_code: dict[str, list[Code]] = {}
        for code, end in entries:
            key = (code.system, code.code)
            if key in self.codes:
                raise ValueError(f"{name} : code {code.code} ({code.system}) en double")
            self.codes[key] = code
            self._by_code.setdefault(code.code, []).append(code)
            if end is not None:
                self._ends[key] = end

    def __repr__(self) -> str:
        return f"ValueSet({self.name!r}, {self.oid!r}, {len(self.codes)} codes)"

    def end_of(self, code: Code) -> dt.date | None:
        """The last day ``code`` is valid (``dateFin``), or None when it has no end."""
        return self._ends.get((code.system, code.code))

    def is_expired(self, code: Code, on: dt.date | None = None) -> bool:
        """True when ``code`` is past its ``dateFin`` on ``on`` (today by default)."""
        end = self.end_of(code)
        return end is not None and (on or dt.date.today()) > end

    def get(
        self, code: str, system: str | None = None, *, include_expired: bool = False, on: dt.date | None = None
    ) -> Code | None:
        """The code, matched by system and code; with ``system`` None, by code alone when that is unambiguous.

        Expired codes are not returned unless ``include_expired`` (to display an old document's labels).
        ``system`` may be bare or ``urn:oid:`` prefixed.
        """
        code = code.strip()
        if system is not None:
            bare = system.strip().removeprefix("urn:oid:")
            found = self.codes.get((_SYSTEM_ALIASES.get(bare, bare), code))
            candidates = [found] if found is not None else []
        else:
            candidates = list(self._by_code.get(code, ()))
        if not include_expired:
            candidates = [c for c in candidates if not self.is_expired(c, on)]
        return candidates[0] if len(candidates) == 1 else None

    def __contains__(self, item: object) -> bool:
        """``"N" in vs``, ``Code(...) in vs`` or ``(system, code) in vs``: only valid (not expired) codes."""
        if isinstance(item, Code):
            return self.get(item.code, item.system) is not None
        if isinstance(item, str):
            return self.get(item) is not None
        if isinstance(item, tuple) and len(item) == 2 and all(isinstance(part, str) for part in item):
            system, code = item
            return self.get(code, system) is not None
        return False

    def __iter__(self) -> Iterator[Code]:
        """The valid codes, in file order."""
        return (c for c in self.codes.values() if not self.is_expired(c))

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def label(self, code: str, system: str | None = None) -> str:
        """The French label of ``code`` (expired codes included), or the code itself when unknown."""
        found = self.get(code, system, include_expired=True)
        return found.display if found is not None else code


def _system_of(row: dict[str, str]) -> str:
    system = (row.get("codeSystemOID") or "").strip()
    if not system:
        url = (row.get("codeSystemUrl") or "").strip()
        name = url.rstrip("/").split("/NOS/", 1)[-1].split("/", 1)[0] if "/NOS/" in url else ""
        system = _OID_OF_URL_NAME.get(name, "")
    if not system:
        raise ValueError(f"système de codes inconnu pour le code {row.get('code')!r}")
    return _SYSTEM_ALIASES.get(system, system)


def load_value_set(name: str, oid: str, filename: str) -> ValueSet:
    """Read one CSV of ``carnet/record/data``."""
    text = resources.files("carnet.record").joinpath("data", filename).read_text(encoding="utf-8-sig")
    entries = [
        (
            Code(code=row["code"].strip(), system=_system_of(row), display=(row.get("display") or "").strip()),
            _parse_end(row.get("dateFin") or ""),
        )
        for row in csv.DictReader(io.StringIO(text, newline=""))
        if (row.get("code") or "").strip()
    ]
    return ValueSet(name, oid, entries)


@dataclass(frozen=True, slots=True)
class ValueSets:
    """The value sets of XDS/DMP document metadata (OIDs: reference/README.md section 2)."""

    author_specialty: ValueSet  # J01
    facility_type: ValueSet  # J02
    practice_setting: ValueSet  # J04
    class_code: ValueSet  # J06
    type_code: ValueSet  # J07
    confidentiality: ValueSet  # J08
    format_code: ValueSet  # J10
    type_code_dmp: ValueSet  # J66
    profession: ValueSet  # TRE_G15 (a code system: its OID is the code system's)


@functools.cache
def value_sets() -> ValueSets:
    """Every value set, read once."""
    return ValueSets(
        author_specialty=load_value_set(
            "JDV_J01-XdsAuthorSpecialty-CISIS", "1.2.250.1.213.1.1.5.461", "JDV_J01_XdsAuthorSpecialty_CISIS.csv"
        ),
        facility_type=load_value_set(
            "JDV_J02-XdsHealthcareFacilityTypeCode-CISIS",
            "1.2.250.1.213.1.1.5.466",
            "JDV_J02_XdsHealthcareFacilityTypeCode_CISIS.csv",
        ),
        practice_setting=load_value_set(
            "JDV_J04-XdsPracticeSettingCode-CISIS",
            "1.2.250.1.213.1.1.5.467",
            "JDV_J04_XdsPracticeSettingCode_CISIS.csv",
        ),
        class_code=load_value_set(
            "JDV_J06-XdsClassCode-CISIS", "1.2.250.1.213.1.1.5.462", "JDV_J06_XdsClassCode_CISIS.csv"
        ),
        type_code=load_value_set(
            "JDV_J07-XdsTypeCode-CISIS", "1.2.250.1.213.1.1.5.471", "JDV_J07_XdsTypeCode_CISIS.csv"
        ),
        confidentiality=load_value_set(
            "JDV_J08-XdsConfidentialityCode-CISIS",
            "1.2.250.1.213.1.1.5.463",
            "JDV_J08_XdsConfidentialityCode_CISIS.csv",
        ),
        format_code=load_value_set(
            "JDV_J10-XdsFormatCode-CISIS", "1.2.250.1.213.1.1.5.465", "JDV_J10_XdsFormatCode_CISIS.csv"
        ),
        type_code_dmp=load_value_set("JDV_J66-TypeCode-DMP", "1.2.250.1.213.1.1.5.7", "JDV_J66_TypeCode_DMP.csv"),
        profession=load_value_set("TRE_G15-ProfessionSante", "1.2.250.1.71.1.2.7", "TRE_G15_ProfessionSante.csv"),
    )


# --- typeCode → classCode ---------------------------------------------------------------------------------------
# The classCode is not in the type value sets. This table transcribes the official NOS correspondence
# ASS_X04-CorrespondanceType-Classe-CISIS, version 20240426120000 (ansforge/IG-terminologie-de-sante,
# ig/main/ConceptMap-ASS-X04-CorrespondanceType-Classe-CISIS.json, commit 123d870d; see data/SOURCES.md).
# TO CHECK against the DMP's own JDV_J57-ClassCode-DMP, which is not in reference/: the DMP may restrict the classes.
# Where ASS_X04 differs from a first guess, ASS_X04 wins, notably:
#   18748-4 CR d'imagerie → 31 Imagerie médicale (not 10); 18761-7 Note de transfert → 11 Synthèse (not 10);
#   11369-6 / 87273-9 / 96874-3 vaccination documents → 52 Certificat, déclaration (not 45 Traitement administré;
#   45 is only 80565-5 CR d'administration de médicaments); DOCPATxx are spread over 10/11/31/42/52/90/95, not all 90.
# Classes 95 (Document de gestion) and 99 (Document technique) exist in TRE_A03 but not in the saved JDV_J06
# (2020-12-17): documents of those types fail a J06 check until J06 is updated.
CLASS_FOR_TYPE: dict[str, str] = {
    # LOINC (2.16.840.1.113883.6.1)
    "10213-7": "10",
    "11369-6": "52",
    "11488-4": "10",
    "11490-0": "10",
    "11493-4": "10",
    "11502-2": "10",
    "11505-5": "10",
    "11506-3": "10",
    "11526-1": "10",
    "11528-7": "10",
    "15507-7": "10",
    "15508-5": "10",
    "18748-4": "31",
    "18761-7": "11",
    "18776-5": "44",
    "24611-6": "10",
    "27899-4": "10",
    "28617-9": "10",
    "28653-4": "10",
    "29274-8": "10",
    "29550-1": "43",
    "29551-9": "42",
    "29554-3": "10",
    "34112-3": "10",
    "34120-6": "10",
    "34133-9": "11",
    "34749-2": "10",
    "34794-8": "10",
    "34842-5": "11",
    "34874-8": "10",
    "34875-5": "10",
    "39256-3": "10",
    "46241-6": "10",
    "47420-5": "10",
    "51851-4": "95",
    "51969-4": "10",
    "52040-3": "31",
    "52063-5": "42",
    "52521-2": "42",
    "55115-0": "42",
    "56445-0": "11",
    "56446-8": "95",
    "57055-6": "11",
    "57057-2": "11",
    "57075-4": "11",
    "57828-6": "42",
    "57832-8": "42",
    "57833-6": "42",
    "59283-2": "10",
    "59284-0": "95",
    "60280-5": "11",
    "60568-3": "10",
    "60591-5": "11",
    "60593-1": "43",
    "61357-0": "42",
    "67851-6": "10",
    "68599-0": "11",
    "68817-6": "11",
    "70004-7": "10",
    "74207-2": "11",
    "74465-6": "90",
    "75468-9": "42",
    "75482-0": "10",
    "75492-9": "10",
    "75497-8": "10",
    "75496-0": "10",
    "77436-4": "10",
    "77604-7": "44",
    "78341-5": "11",
    "78489-2": "11",
    "78513-9": "10",
    "78601-2": "10",
    "80565-5": "45",
    "80771-9": "44",
    "80788-3": "44",
    "80820-4": "11",
    "83836-7": "11",
    "83869-8": "44",
    "83901-9": "11",
    "83981-1": "10",
    "85208-7": "10",
    "86531-1": "95",
    "87273-9": "52",
    "89233-1": "10",
    "89235-6": "11",
    "88348-8": "11",
    "89601-9": "52",
    "93024-8": "10",
    "96349-6": "10",
    "96874-3": "52",
    "96173-0": "52",
    # TRE_A05-TypeDocComplementaire (1.2.250.1.213.1.1.4.12)
    "ATTEST-ASS-COMPL": "95",
    "ATTEST-HEBGT": "95",
    "ATTEST-RESID": "95",
    "ATTEST-DROITS-AM": "95",
    "AUTORIS-SOINS": "95",
    "BIL_AUTO": "10",
    "CERT_DECL": "52",
    "CONTACTS-URGENCE": "95",
    "DISP_AUT": "43",
    "EXPPAT_1": "90",
    "EXPPAT_2": "90",
    "EXPORT_DUI": "11",
    "EXPPAT_3": "90",
    "DOCPAT01": "11",
    "DOCPAT02": "42",
    "DOCPAT03": "10",
    "DOCPAT04": "31",
    "DOCPAT05": "10",
    "DOCPAT06": "10",
    "DOCPAT07": "52",
    "DOCPAT08": "11",
    "DOCPAT09": "95",
    "DOCPAT10": "90",
    "IMG-KOS": "31",
    "PROT_ALD": "44",
    "REMB": "60",
    "SYNTH": "11",
    "PRESC-AAT": "42",
    "PIECE-IDENTITE": "95",
    "PRESC-BIO": "42",
    "PRESC-KINE": "42",
    "PRESC-INF": "42",
    "PRESC-PEDI": "42",
    "PRESC-ORTHOPHO": "42",
    "PRESC-ORTHOPTIE": "42",
    "FEUILLE-DE-STYLE": "99",
    "FICHE-CONTACTS": "95",
    # TRE_A12-NomenclatureASTM → TRE_A10-NomenclatureURN: a detached signature
    "E1762": "urn:oid:1.3.6.1.4.1.19376.1.2.1.1.1",
}


def class_for_type(type_code: str) -> str | None:
    """The XDS classCode (TRE_A03) of a typeCode, from ASS_X04; None for a type the table does not know."""
    return CLASS_FOR_TYPE.get(type_code.strip())

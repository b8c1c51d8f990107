"""ITI-67 search parameters to record filters, paging links, and the security-label patches of a DocumentReference.

FHIR R4 search semantics: a comma inside one parameter is OR, repeating a parameter is AND; dates take the
prefixes ``eq ge le gt lt`` and match at the precision given (``2021`` is the whole year; a time without zone
is UTC). Unknown parameters are ignored (lenient handling) unless ``Prefer: handling=strict``.
"""

from __future__ import annotations

import copy
import datetime as dt
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlencode

from carnet.api import mhd
from carnet.api.outcome import FhirError
from carnet.errors import NotFound
from carnet.identity.store import PatientRow
from carnet.record.store import DocumentFilters

DEFAULT_COUNT = 20
MAX_COUNT = 200
SORTS = {"date": "submitted", "-date": "-submitted", "creation": "date", "-creation": "-date", "title": "title",
         "type": "type"}  # fmt: skip
KNOWN = frozenset({
    "patient", "patient.identifier", "subject", "subject.identifier", "identifier", "status", "type", "category",
    "date", "creation", "period", "author.given", "author.family", "facility", "setting", "format",
    "security-label", "relatesto", "related", "_content", "_text", "_count", "_offset", "_sort", "_format",
})  # fmt: skip
_DATE = re.compile(
    r"^(?P<prefix>[a-z]{2})?(?P<value>(?P<y>\d{4})(?:-(?P<m>\d{2})(?:-(?P<d>\d{2})"
    r"(?:T(?P<time>\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)(?P<tz>Z|[+-]\d{2}:\d{2})?)?)?)?)$"
)
_TICK = dt.timedelta(microseconds=1)


def bad(message: str, where: str, *, status: int = 400) -> FhirError:
    return FhirError(message, status=status, field=where, issue_code="invalid" if status == 400 else None)


@dataclass(slots=True)
class SearchQuery:
    patient_id: str
    filters: DocumentFilters
    sort: str = "-submitted"
    count: int = DEFAULT_COUNT
    offset: int = 0
    text: str | None = None
    used: list[tuple[str, str]] = field(default_factory=list)  # the parameters applied, for the links


def date_range(value: str, where: str) -> tuple[str, dt.datetime, dt.datetime]:
    """``(prefix, low, high)``: the instants ``value`` covers at its precision, ``high`` excluded."""
    match = _DATE.match(value.strip())
    if match is None:
        raise bad(f"{where} : date invalide « {value} » (AAAA[-MM[-JJ[Thh:mm[:ss][zone]]]], préfixes "
                  "eq ge le gt lt)", where)  # fmt: skip
    prefix = match["prefix"] or "eq"
    if prefix not in ("eq", "ge", "le", "gt", "lt"):
        raise bad(f"{where} : préfixe « {prefix} » non pris en charge (eq, ge, le, gt, lt)", where)
    try:
        if match["time"]:
            low = dt.datetime.fromisoformat(match["value"].replace("Z", "+00:00"))
            low = low if low.tzinfo else low.replace(tzinfo=dt.UTC)
            step = {5: dt.timedelta(minutes=1), 8: dt.timedelta(seconds=1)}.get(len(match["time"]), _TICK)
            return prefix, low, low + step
        year, month, day = int(match["y"]), int(match["m"] or 1), int(match["d"] or 1)
        low = dt.datetime(year, month, day, tzinfo=dt.UTC)
    except ValueError:
        raise bad(f"{where} : date impossible « {value} »", where) from None
    if match["d"]:
        return prefix, low, low + dt.timedelta(days=1)
    if match["m"]:
        return prefix, low, (low.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return prefix, low, low.replace(year=year + 1)


def _bounds(values: Sequence[str], where: str) -> tuple[dt.datetime | None, dt.datetime | None]:
    """Every date condition of one parameter, AND-ed, as an inclusive ``(from, to)``."""
    lows: list[dt.datetime] = []
    highs: list[dt.datetime] = []
    for value in values:
        if "," in value:
            raise bad(f"{where} : une seule date par paramètre (répéter le paramètre pour un intervalle)", where)
        prefix, low, high = date_range(value, where)
        if prefix in ("eq", "ge"):
            lows.append(low)
        if prefix == "gt":
            lows.append(high)
        if prefix in ("eq", "le"):
            highs.append(high - _TICK)
        if prefix == "lt":
            highs.append(low - _TICK)
    return (max(lows) if lows else None), (min(highs) if highs else None)


NOTHING = "urn:carnet:nothing"  # a code no entry has: what contradictory conditions match


def _tokens(values: Sequence[str], name: str) -> list[str]:
    """The codes of a token parameter (``system|code``, ``|code`` or ``code``); OR within, AND across."""
    sets = [{v.split("|", 1)[-1].strip() for v in value.split(",") if v.split("|", 1)[-1].strip()} for value in values]
    if not sets or not all(sets):
        raise bad(f"{name} : code attendu (système|code ou code)", name)
    common = set.intersection(*sets)
    return sorted(common) if common else [NOTHING]


def _reference_id(value: str, kind: str) -> str:
    return value.strip().rstrip("/").rsplit(f"{kind}/", 1)[-1]


def _patient(
    grouped: dict[str, list[str]], patient_of_ins: Callable[[str], PatientRow | None]
) -> tuple[str, list[tuple[str, str]]]:
    for name in ("patient", "subject"):
        if grouped.get(name):
            value = grouped[name][0]
            return _reference_id(value, "Patient"), [(name, value)]
    for name in ("patient.identifier", "subject.identifier"):
        if grouped.get(name):
            value = grouped[name][0]
            system, _, matricule = value.rpartition("|")
            row = patient_of_ins(matricule.strip())
            if row is None or (system and system.removeprefix("urn:oid:") != row.ins_oid):
                raise NotFound(f"aucun dossier pour l'INS {value}", field=name)
            return row.id, [(name, value)]
    raise bad("le paramètre patient (ou patient.identifier) est obligatoire (ITI-67)", "patient")


def parse(
    params: Sequence[tuple[str, str]], *, strict: bool, patient_of_ins: Callable[[str], PatientRow | None]
) -> SearchQuery:
    """The record query of ITI-67 parameters; 400 naming the parameter at fault."""
    grouped: dict[str, list[str]] = {}
    for name, value in params:
        if "\x00" in value:
            raise bad(f"{name} : caractère nul interdit", name)
        if name not in KNOWN:
            if strict:
                raise bad(f"paramètre de recherche non pris en charge : {name}", name)
            continue
        if value.strip() or name in ("_content", "_text"):
            grouped.setdefault(name, []).append(value)
    patient_id, used = _patient(grouped, patient_of_ins)
    f = DocumentFilters(statuses=("current", "superseded"))
    for name in sorted(grouped):
        values = grouped[name]
        if name in ("patient", "subject", "patient.identifier", "subject.identifier", "_count", "_offset", "_format"):
            continue
        used.extend((name, v) for v in values)
        if name == "status":
            codes = _tokens(values, name)
            unknown = [c for c in codes if c not in mhd.STATUS_FROM_FHIR and c != NOTHING]
            if unknown:
                raise bad(f"status : « {unknown[0]} » inconnu (current, superseded, entered-in-error)", name)
            f = replace(f, statuses=[mhd.STATUS_FROM_FHIR.get(c, c) for c in codes])
        elif name == "type":
            f = replace(f, type_codes=_tokens(values, name))
        elif name == "category":
            f = replace(f, class_codes=_tokens(values, name))
        elif name == "facility":
            f = replace(f, facility_types=_tokens(values, name))
        elif name == "setting":
            f = replace(f, practice_settings=_tokens(values, name))
        elif name == "format":
            f = replace(f, format_codes=_tokens(values, name))
        elif name == "identifier":
            f = replace(f, unique_ids=[mhd.unique_id_of(v) for v in _tokens(values, name)])
        elif name == "security-label":
            f = _security_filters(f, _tokens(values, name))
        elif name == "date":
            low, high = _bounds(values, name)
            f = replace(f, submitted_from=low, submitted_to=high)
        elif name == "creation":
            low, high = _bounds(values, name)
            f = replace(f, created_from=low, created_to=high)
        elif name == "period":
            low, high = _bounds(values, name)
            f = replace(f, service_from=low, service_to=high)
        elif name == "author.given":
            f = replace(f, author_given=values[-1])
        elif name == "author.family":
            f = replace(f, author_family=values[-1])
        elif name == "relatesto":
            f = replace(f, replaces=_reference_id(values[-1], "DocumentReference"))
        elif name == "related":
            f = replace(f, related_to=_reference_id(values[-1], "DocumentReference"))
    text = " ".join(v.strip() for n in ("_content", "_text") for v in grouped.get(n, []) if v.strip()) or None
    if any(grouped.get(n) for n in ("_content", "_text")) and not text:
        raise bad("_content : texte à rechercher vide", "_content")
    query = SearchQuery(patient_id=patient_id, filters=f, text=text, used=used)
    query.count = _number(grouped.get("_count"), "_count", DEFAULT_COUNT, 0, MAX_COUNT)
    query.offset = _number(grouped.get("_offset"), "_offset", 0, 0, 10**9)
    if grouped.get("_sort"):
        key = grouped["_sort"][-1].split(",")[0].strip()
        if key not in SORTS:
            raise bad(f"_sort : « {key} » non pris en charge ({', '.join(SORTS)})", "_sort")
        query.sort = SORTS[key]
    return query


def _security_filters(f: DocumentFilters, codes: list[str]) -> DocumentFilters:
    """N/R/V are OR-ed on the confidentiality code; a visibility flag (TRE_A07) must be set."""
    return replace(
        f,
        confidentiality_codes=[c for c in codes if c not in mhd.FLAGS],
        hidden_from_professionals=True if mhd.MASQUE_PS in codes else None,
        invisible_to_patient=True if mhd.INVISIBLE_PATIENT in codes else None,
        invisible_to_representatives=True if mhd.INVISIBLE_REPRESENTANTS_LEGAUX in codes else None,
    )


def _number(values: list[str] | None, name: str, default: int, low: int, high: int) -> int:
    if not values:
        return default
    try:
        number = int(values[-1])
    except ValueError:
        raise bad(f"{name} : nombre entier attendu, reçu « {values[-1]} »", name) from None
    if not low <= number <= high:
        raise bad(f"{name} : valeur entre {low} et {high} attendue, reçu {number}", name)
    return number


def links(url: str, query: SearchQuery, total: int) -> list[dict[str, str]]:
    """``self``, ``first``, ``previous``, ``next`` and ``last`` of a searchset (paged by ``_offset``)."""
    params = list(query.used)
    if query.sort != "-submitted":
        params.append(("_sort", next(k for k, v in SORTS.items() if v == query.sort)))

    def at(offset: int) -> str:
        return f"{url}?{urlencode([*params, ('_count', str(query.count)), ('_offset', str(offset))])}"

    out = [{"relation": "self", "url": at(query.offset)}, {"relation": "first", "url": at(0)}]
    if query.count == 0:
        return out
    if query.offset > 0:
        out.append({"relation": "previous", "url": at(max(0, query.offset - query.count))})
    if query.offset + query.count < total:
        out.append({"relation": "next", "url": at(query.offset + query.count)})
    out.append({"relation": "last", "url": at(max(0, (total - 1) // query.count * query.count))})
    return out


# --- PATCH of the security labels ------------------------------------------------------------------------------

_PATCHABLE = ("/securityLabel", "/meta/security")


def _walk(document: Any, path: str, where: str) -> tuple[Any, str]:
    if not path.startswith("/"):
        raise bad(f"chemin JSON Pointer invalide : {path!r}", where)
    parts = [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]
    parent = document
    for part in parts[:-1]:
        try:
            parent = parent[int(part)] if isinstance(parent, list) else parent[part]
        except (KeyError, IndexError, ValueError, TypeError):
            raise bad(f"chemin introuvable dans la ressource : {path}", where, status=422) from None
    return parent, parts[-1]


def _apply_json_patch(document: dict[str, Any], operations: Any) -> dict[str, Any]:
    """RFC 6902 add/remove/replace/test, restricted to the security labels."""
    if not isinstance(operations, list):
        raise bad("JSON Patch : une liste d'opérations est attendue", "body")
    result = copy.deepcopy(document)
    for index, op in enumerate(operations):
        where = f"body[{index}]"
        if not isinstance(op, dict) or not isinstance(op.get("path"), str):
            raise bad("JSON Patch : opération sans « path »", where)
        path, kind = op["path"], op.get("op")
        if not path.startswith(_PATCHABLE):
            raise bad(f"seuls securityLabel et meta.security sont modifiables, pas {path}", f"{where}.path", status=422)
        if path.startswith("/meta/") and "meta" not in result:
            result["meta"] = {}
        if path == "/meta/security" and kind == "add" and "security" not in result["meta"]:
            result["meta"]["security"] = []
        parent, key = _walk(result, path, f"{where}.path")
        try:
            if kind == "add":
                if isinstance(parent, list):
                    parent.insert(len(parent) if key == "-" else int(key), op.get("value"))
                else:
                    parent[key] = op.get("value")
            elif kind == "remove":
                del parent[int(key) if isinstance(parent, list) else key]
            elif kind == "replace":
                parent[int(key) if isinstance(parent, list) else key] = op.get("value")
            elif kind == "test":
                if parent[int(key) if isinstance(parent, list) else key] != op.get("value"):
                    raise bad(f"JSON Patch : le test de {path} a échoué", where, status=412)
            else:
                raise bad(f"JSON Patch : opération « {kind} » non prise en charge (add, remove, replace, test)",
                          f"{where}.op")  # fmt: skip
        except (KeyError, IndexError, ValueError, TypeError):
            raise bad(f"chemin introuvable dans la ressource : {path}", f"{where}.path", status=422) from None
    return result


def _merge_patch(document: dict[str, Any], patch: Any) -> dict[str, Any]:
    """RFC 7386 merge patch (what ``fhirpy``'s ``patch()`` sends): only the labels may differ."""
    if not isinstance(patch, dict):
        raise bad("PATCH : un objet JSON est attendu", "body")
    result = copy.deepcopy(document)
    for key, value in patch.items():
        if key == "securityLabel":
            result["securityLabel"] = value or []
        elif key == "meta" and isinstance(value, dict) and set(value) <= {"security", "profile"}:
            result.setdefault("meta", {})["security"] = value.get("security") or []
        elif result.get(key) != value:
            raise bad(f"seuls securityLabel et meta.security sont modifiables, pas {key}", key, status=422)
    return result


def _codes(items: Any) -> list[str]:
    codes: list[str] = []
    if not isinstance(items, list):
        raise bad("securityLabel / meta.security : une liste est attendue", "securityLabel", status=422)
    for item in items:
        if isinstance(item, dict):
            for coding in item.get("coding") or [item]:
                if isinstance(coding, dict) and coding.get("code"):
                    codes.append(str(coding["code"]))
    return codes


def patched_labels(current: dict[str, Any], body: Any, *, json_patch: bool) -> set[str]:
    """The visibility flags the patched resource asks for; the confidentiality code must stay the same."""
    patched = _apply_json_patch(current, body) if json_patch else _merge_patch(current, body)
    meta: dict[str, Any] = patched["meta"] if isinstance(patched.get("meta"), dict) else {}
    codes = _codes(patched.get("securityLabel") or []) + _codes(meta.get("security") or [])
    flags = {c for c in codes if c in mhd.FLAGS}
    confidentiality = {c for c in codes if c not in mhd.FLAGS}
    before = {c for c in _codes(current.get("securityLabel")) if c not in mhd.FLAGS}
    if confidentiality and confidentiality != before:
        raise bad("le niveau de confidentialité (N, R, V) est fixé par l'auteur du document", "securityLabel",
                  status=422)  # fmt: skip
    return flags

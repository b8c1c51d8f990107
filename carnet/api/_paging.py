"""FHIR search plumbing shared by the Patient, Consent, AuditEvent and directory routers (FHIR R4, JSON).

Parameters are checked strictly: an unknown parameter, a repeated one or a malformed value is a 400
OperationOutcome naming it (FHIR lets a server ignore unknown parameters; refusing them tells the client its
search was not what it meant). Paging: ``_count`` (default 50, at most 200) and ``_offset``; the searchset
Bundle carries ``total`` and ``self``/``next``/``previous`` links.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from fastapi import Request

from carnet.api.outcome import FhirError
from carnet.errors import NotFound

DEFAULT_COUNT = 50
MAX_COUNT = 200
PAGING = frozenset({"_count", "_offset", "_format"})
_FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
_DATE = re.compile(r"^(eq|ne|gt|lt|ge|le|sa|eb|ap)?(\d{4}(-\d{2}(-\d{2})?)?)$")


@dataclass(frozen=True, slots=True)
class Paging:
    offset: int
    count: int


def fhir_base(request: Request) -> str:
    """The base URL of the FHIR endpoint (``…/fhir``)."""
    return str(request.base_url).rstrip("/") + "/fhir"


def params(request: Request, allowed: Iterable[str], *, repeatable: Iterable[str] = ()) -> dict[str, list[str]]:
    """The query parameters, refused when unknown or repeated; ``_format`` must ask for JSON."""
    known = set(allowed) | PAGING
    multi = set(repeatable)
    out: dict[str, list[str]] = {}
    for name, value in request.query_params.multi_items():
        base = name.split(":", 1)[0]
        if base not in known and name not in known:
            raise FhirError(f"paramètre de recherche « {name} » non pris en charge ; paramètres : "
                            f"{', '.join(sorted(known))}", field=name)  # fmt: skip
        if "\x00" in value:
            raise FhirError(f"paramètre « {name} » : caractère NUL refusé", field=name)
        out.setdefault(name, []).append(value)
    for name, values in out.items():
        if len(values) > 1 and name not in multi:
            raise FhirError(f"paramètre « {name} » répété", field=name)
    fmt = out.get("_format", ["json"])[0]
    if fmt not in ("json", "application/json", "application/fhir+json"):
        raise FhirError(f"_format « {fmt} » non pris en charge : seul JSON est servi", field="_format", status=406)
    return out


def resource_id(value: str, resource_type: str) -> str:
    """A logical id from the path; anything that is not a FHIR id cannot name a resource (404)."""
    if not _FHIR_ID.match(value):
        raise NotFound(f"{resource_type}/{value[:80]!r} : identifiant FHIR invalide", field="id")
    return value


def one(found: dict[str, list[str]], name: str) -> str | None:
    """The value of a single-valued parameter (empty is refused)."""
    values = found.get(name)
    if not values:
        return None
    value = values[0].strip()
    if not value:
        raise FhirError(f"paramètre « {name} » vide", field=name)
    return value


def paging(found: dict[str, list[str]]) -> Paging:
    """``_count`` and ``_offset``, checked."""
    count = _integer(found, "_count", DEFAULT_COUNT)
    if count < 0 or count > MAX_COUNT:
        raise FhirError(f"_count doit être compris entre 0 et {MAX_COUNT}", field="_count")
    offset = _integer(found, "_offset", 0)
    if offset < 0:
        raise FhirError("_offset doit être positif", field="_offset")
    return Paging(offset=offset, count=count)


def _integer(found: dict[str, list[str]], name: str, default: int) -> int:
    value = one(found, name)
    if value is None:
        return default
    if not value.isdigit():
        raise FhirError(f"{name} : entier attendu, reçu « {value} »", field=name)
    return int(value)


def token(value: str, name: str) -> tuple[str | None, str]:
    """A token parameter ``[system]|code`` or ``code``: (system or None, code)."""
    if "|" in value:
        system, _, code = value.partition("|")
        if not code:
            raise FhirError(f"{name} : valeur manquante après « | »", field=name)
        return (system or None), code
    return None, value


def boolean(value: str | None, name: str) -> bool | None:
    if value is None:
        return None
    if value not in ("true", "false"):
        raise FhirError(f"{name} : true ou false attendu, reçu « {value} »", field=name)
    return value == "true"


def reference_id(value: str, resource_type: str, name: str) -> str:
    """The id of a reference parameter (``Patient/123``, ``123`` or an absolute URL ending so)."""
    tail = value.rstrip("/").split("/")
    if len(tail) >= 2 and tail[-2] != resource_type:
        raise FhirError(f"{name} : référence vers {resource_type} attendue, reçu « {value} »", field=name)
    if not _FHIR_ID.match(tail[-1]):
        raise FhirError(f"{name} : identifiant de ressource invalide dans « {value[:80]} »", field=name)
    return tail[-1]


def valid_id(value: str) -> bool:
    """Whether ``value`` has the syntax of a FHIR id (letters, digits, ``-`` and ``.``, 64 at most)."""
    return bool(_FHIR_ID.match(value))


@dataclass(frozen=True, slots=True)
class DateBound:
    """A date parameter as a half-open interval [start, end) in UTC, from its prefix and precision."""

    prefix: str
    start: dt.datetime
    end: dt.datetime

    def matches(self, moment: dt.datetime) -> bool:
        if self.prefix == "eq":
            return self.start <= moment < self.end
        if self.prefix == "ne":
            return not (self.start <= moment < self.end)
        if self.prefix in ("gt", "sa"):
            return moment >= self.end
        if self.prefix in ("lt", "eb"):
            return moment < self.start
        if self.prefix == "ge":
            return moment >= self.start
        if self.prefix == "le":
            return moment < self.end
        return self.start <= moment < self.end  # ap: within the given precision


def date_bound(value: str, name: str) -> DateBound:
    """``[prefix]YYYY[-MM[-DD]]`` (a date, the precision gives the interval)."""
    match = _DATE.match(value.strip())
    if match is None:
        raise FhirError(f"{name} : date attendue (AAAA, AAAA-MM ou AAAA-MM-JJ, préfixe eq/ge/le/gt/lt/ne), reçu "
                        f"« {value} »", field=name)  # fmt: skip
    prefix, text = match.group(1) or "eq", match.group(2)
    parts = [int(p) for p in text.split("-")]
    try:
        if len(parts) == 1:
            start, end = dt.datetime(parts[0], 1, 1, tzinfo=dt.UTC), dt.datetime(parts[0] + 1, 1, 1, tzinfo=dt.UTC)
        elif len(parts) == 2:
            start = dt.datetime(parts[0], parts[1], 1, tzinfo=dt.UTC)
            end = dt.datetime(parts[0] + parts[1] // 12, parts[1] % 12 + 1, 1, tzinfo=dt.UTC)
        else:
            start = dt.datetime(parts[0], parts[1], parts[2], tzinfo=dt.UTC)
            end = start + dt.timedelta(days=1)
    except ValueError:
        raise FhirError(f"{name} : date invalide « {value} »", field=name) from None
    return DateBound(prefix=prefix, start=start, end=end)


def searchset(
    request: Request,
    resources: Sequence[dict[str, Any]],
    *,
    total: int | None,
    page: Paging,
    has_more: bool | None = None,
) -> dict[str, Any]:
    """A ``searchset`` Bundle with ``fullUrl``s and the paging links."""
    base = fhir_base(request)
    kept = [(k, v) for k, v in request.query_params.multi_items() if k not in ("_offset", "_count")]
    path = str(request.url).split("?", 1)[0]

    def link(relation: str, offset: int) -> dict[str, str]:
        query = urlencode([*kept, ("_count", str(page.count)), ("_offset", str(offset))])
        return {"relation": relation, "url": f"{path}?{query}"}

    links = [link("self", page.offset)]
    more = has_more if has_more is not None else total is not None and page.offset + page.count < total
    if more and page.count:
        links.append(link("next", page.offset + page.count))
    if page.offset > 0:
        links.append(link("previous", max(0, page.offset - page.count)))
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset"}
    if total is not None:
        bundle["total"] = total
    bundle["link"] = links
    bundle["entry"] = [
        {"fullUrl": f"{base}/{r['resourceType']}/{r['id']}", "resource": r, "search": {"mode": "match"}}
        for r in resources
    ]
    return bundle

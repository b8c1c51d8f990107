"""The audit trail's domain: access modes, the canonical form of an entry and its chained hash.

Pure Python (no SQLAlchemy, no I/O): the store, the verifier and the migration that back-fills the chain all
hash an entry through :func:`entry_hash`, so there is exactly one definition of what is protected.

The hash of an entry is ``sha256(prev_hash + canonical_json(fields))`` in lower-case hex, where the fields are
those of :data:`HASHED_FIELDS`, serialised with sorted keys, no whitespace, UTF-8 (no ASCII escaping), the
instant as ISO 8601 UTC with microseconds. The first entry of a chain follows :data:`GENESIS_HASH`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

__all__ = [
    "GENESIS_HASH",
    "HASHED_FIELDS",
    "PLATFORM_CHAIN",
    "AccessMode",
    "BadEntry",
    "VerifyReport",
    "canonical_fields",
    "canonical_json",
    "chain_key_of",
    "decision_json",
    "entry_hash",
    "hash_fields",
    "iso_utc",
    "jsonable",
]

GENESIS_HASH = "0" * 64
"""The ``prev_hash`` of the first entry of every chain."""

PLATFORM_CHAIN = ""
"""Chain key of the entries that concern no patient (``patient_id`` NULL)."""

HASHED_FIELDS = (
    "chain_key",
    "chain_seq",
    "at",
    "actor_kind",
    "actor_id",
    "actor_name",
    "actor_profession",
    "actor_organisation",
    "auth_method",
    "action",
    "patient_id",
    "outcome",
    "mode",
    "decision",
    "detail",
    "request_id",
)
"""Every field of an entry that the hash protects (the database id is not one: it is assigned on insert)."""


class AccessMode(StrEnum):
    """How the record was accessed: ordinary care, emergency (bris de glace) or emergency regulation (SAMU)."""

    NORMAL = "normal"
    EMERGENCY = "emergency"
    REGULATION = "regulation"

    @property
    def label_fr(self) -> str:
        return _MODE_LABELS[self]

    @property
    def is_emergency(self) -> bool:
        return self is not AccessMode.NORMAL


_MODE_LABELS = {
    AccessMode.NORMAL: "accès normal",
    AccessMode.EMERGENCY: "accès en urgence (bris de glace)",
    AccessMode.REGULATION: "régulation des urgences (centre 15)",
}


def chain_key_of(patient_id: str | None) -> str:
    """One chain per patient; entries about no patient go to the platform chain."""
    return patient_id if patient_id else PLATFORM_CHAIN


def canonical_json(value: Any) -> str:
    """Sorted keys, no whitespace, UTF-8 characters kept, NaN/Infinity refused; non-JSON values as ``str()``."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=str)


def _plain(value: Any) -> bool:
    """True when ``value`` reads back from JSON exactly as it is (no tuple, no non-str key, no NaN, no date)."""
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return True
    if kind is float:
        return bool(value == value and value not in (float("inf"), float("-inf")))
    if kind is list:
        return all(_plain(item) for item in value)
    if kind is dict:
        return all(type(k) is str and _plain(v) for k, v in value.items())
    return False


def jsonable(value: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """``value`` as it will read back from a JSON column (tuples → lists, keys → strings, dates → strings).

    Stored values are normalised before they are hashed, so what is read back hashes to what was written.
    """
    if value is None:
        return None
    if type(value) is dict and _plain(value):
        return value
    result: dict[str, Any] = json.loads(canonical_json(_string_keys(value)))
    return result


def _string_keys(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _string_keys(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_string_keys(v) for v in value]
    return value


def iso_utc(value: dt.datetime) -> str:
    """``2026-11-22T09:30:00.000000Z``: the instant as hashed (microseconds, the precision of both backends)."""
    if value.tzinfo is None:
        raise ValueError("naive datetime refused: use an aware UTC datetime from the clock")
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_fields(values: Mapping[str, Any]) -> dict[str, Any]:
    """The hashed fields of an entry given as a mapping (absent fields are None)."""
    fields = {name: values.get(name) for name in HASHED_FIELDS}
    fields["at"] = iso_utc(values["at"])
    return fields


def hash_fields(entry: Any) -> dict[str, Any]:
    """The hashed fields of ``entry`` (any object with the attributes of :data:`HASHED_FIELDS`)."""
    return canonical_fields({name: getattr(entry, name) for name in HASHED_FIELDS})


def entry_hash(prev_hash: str, fields: Mapping[str, Any]) -> str:
    """``sha256(prev_hash + canonical JSON of fields)``, hex."""
    return hashlib.sha256((prev_hash + canonical_json(dict(fields))).encode("utf-8")).hexdigest()


def _reason_code(reason: Any) -> str:
    if isinstance(reason, str):
        return reason
    code = getattr(reason, "code", None)
    if code is not None:
        return str(getattr(code, "value", code))
    return str(reason)


def decision_json(decision: Any) -> dict[str, Any] | None:
    """An access decision as stored: ``{"allowed": bool, "reasons": [codes], ...}``.

    Accepts a mapping (stored as given) or any object with ``allowed`` and ``reasons`` (reasons may be codes or
    objects with a ``code``); ``obligations`` and a decision id (``decision_id`` or ``id``) are kept when present.
    """
    if decision is None:
        return None
    if isinstance(decision, Mapping):
        return jsonable(decision)
    out: dict[str, Any] = {
        "allowed": bool(decision.allowed),
        "reasons": [_reason_code(r) for r in getattr(decision, "reasons", ()) or ()],
    }
    obligations = getattr(decision, "obligations", None)
    if obligations:
        out["obligations"] = [_reason_code(o) for o in obligations]
    decision_id = getattr(decision, "decision_id", None) or getattr(decision, "id", None)
    if decision_id is not None:
        out["decision_id"] = str(decision_id)
    return jsonable(out)


@dataclass(frozen=True, slots=True)
class BadEntry:
    """The first entry that breaks the chain: where it is and why (in French).

    ``entry_id`` is the database id of the offending row, or None when the row is missing (a removed entry or a
    truncated tail): ``chain_seq`` then names the missing position.
    """

    chain_key: str
    chain_seq: int
    entry_id: int | None
    reason: str

    @property
    def chain_label(self) -> str:
        return f"patient {self.chain_key}" if self.chain_key else "plateforme"

    def describe(self) -> str:
        where = f"chaîne {self.chain_label}, position {self.chain_seq}"
        if self.entry_id is not None:
            where += f", entrée n° {self.entry_id}"
        return f"{where} : {self.reason}"


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """The outcome of ``carnet audit verify``: entries checked and the first bad one, if any."""

    ok: bool
    checked: int
    first_bad: BadEntry | None
    chains: int = 0

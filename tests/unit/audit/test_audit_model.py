"""The canonical form and hash of an audit entry, and how entries are built from actors (no database)."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from enum import StrEnum

import pytest

from carnet.audit import service as audit
from carnet.audit.model import (
    GENESIS_HASH,
    HASHED_FIELDS,
    AccessMode,
    BadEntry,
    canonical_fields,
    canonical_json,
    chain_key_of,
    decision_json,
    entry_hash,
    iso_utc,
    jsonable,
)
from carnet.identity.status import ActorKind, QualificationActor
from tests.builders import DR_HOUSE, THE_PATIENT

AT = dt.datetime(2026, 11, 22, 9, 30, 15, 123456, tzinfo=dt.UTC)
# The actor the services passed before the access layer: kind, profession code and id only.
LEGACY_DOCTOR = QualificationActor(kind=ActorKind.PROFESSIONAL, profession_code="10", id="810000000001")


def an_entry(**overrides: object) -> dict[str, object]:
    values: dict[str, object] = {
        "chain_key": "b0a1c2d3-0000-4000-8000-000000000001",
        "chain_seq": 3,
        "at": AT,
        "actor_kind": "professional",
        "actor_id": "810000000001",
        "actor_name": "Dr Grégoire House",
        "actor_profession": "10",
        "actor_organisation": "Hôpital Princeton-Plainsboro",
        "auth_method": "cps",
        "action": "document.read",
        "patient_id": "b0a1c2d3-0000-4000-8000-000000000001",
        "outcome": "success",
        "mode": "normal",
        "decision": {"allowed": True, "reasons": ["care_team"]},
        "detail": {"document": "d-1"},
        "request_id": "req-1",
    }
    values.update(overrides)
    return values


def test_the_canonical_json_has_sorted_keys_no_whitespace_and_utf8() -> None:
    assert canonical_json({"b": 1, "a": "é", "c": [1, {"z": None, "y": True}]}) == (
        '{"a":"é","b":1,"c":[1,{"y":true,"z":null}]}'
    )
    with pytest.raises(ValueError):
        canonical_json({"x": float("nan")})


def test_the_hash_is_sha256_of_the_previous_hash_and_the_canonical_fields() -> None:
    fields = canonical_fields(an_entry())
    assert list(fields) == list(HASHED_FIELDS)
    assert fields["at"] == "2026-11-22T09:30:15.123456Z"
    expected = hashlib.sha256((GENESIS_HASH + canonical_json(fields)).encode("utf-8")).hexdigest()
    assert entry_hash(GENESIS_HASH, fields) == expected
    assert len(expected) == 64


@pytest.mark.parametrize("field", [f for f in HASHED_FIELDS if f != "at"])
def test_changing_any_hashed_field_changes_the_hash(field: str) -> None:
    original = entry_hash(GENESIS_HASH, canonical_fields(an_entry()))
    changed = an_entry(**{field: "forged"})
    assert entry_hash(GENESIS_HASH, canonical_fields(changed)) != original


def test_the_instant_and_the_previous_hash_are_protected_too() -> None:
    fields = canonical_fields(an_entry())
    later = canonical_fields(an_entry(at=AT + dt.timedelta(microseconds=1)))
    assert entry_hash(GENESIS_HASH, fields) != entry_hash(GENESIS_HASH, later)
    assert entry_hash(GENESIS_HASH, fields) != entry_hash("1" * 64, fields)


def test_the_hash_does_not_depend_on_key_order_or_time_zone() -> None:
    paris = dt.timezone(dt.timedelta(hours=1))
    a = canonical_fields(an_entry(detail={"x": 1, "y": 2}))
    b = canonical_fields(an_entry(detail={"y": 2, "x": 1}, at=AT.astimezone(paris)))
    assert entry_hash(GENESIS_HASH, a) == entry_hash(GENESIS_HASH, b)


def test_a_naive_instant_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        iso_utc(dt.datetime(2026, 11, 22, 9, 30))


def test_values_are_normalised_as_a_json_column_gives_them_back() -> None:
    assert jsonable({"ids": ("a", "b"), 3: "three", "when": dt.date(2026, 11, 22)}) == {
        "ids": ["a", "b"],
        "3": "three",
        "when": "2026-11-22",
    }
    plain = {"document": "d-1", "n": 2, "ok": True, "nested": {"list": [1, 2.5, None]}}
    assert jsonable(plain) is plain
    assert jsonable(None) is None


def test_one_chain_per_patient_and_one_for_the_platform() -> None:
    assert chain_key_of("p-1") == "p-1"
    assert chain_key_of(None) == chain_key_of("") == ""


class ReasonCode(StrEnum):
    NOT_IN_CARE_TEAM = "not_in_care_team"


@dataclass(frozen=True)
class Reason:
    code: ReasonCode
    fr: str


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reasons: tuple[Reason, ...]
    obligations: tuple[str, ...] = ()
    decision_id: str | None = None


def test_a_decision_object_is_stored_as_allowed_and_reason_codes() -> None:
    decision = Decision(
        allowed=False,
        reasons=(Reason(ReasonCode.NOT_IN_CARE_TEAM, "hors de l'équipe de soins"),),
        obligations=("notify_holder",),
        decision_id="dec-7",
    )
    assert decision_json(decision) == {
        "allowed": False,
        "reasons": ["not_in_care_team"],
        "obligations": ["notify_holder"],
        "decision_id": "dec-7",
    }
    assert decision_json({"allowed": True, "reasons": ("care_team",)}) == {"allowed": True, "reasons": ["care_team"]}
    assert decision_json(None) is None


@dataclass(frozen=True)
class Kind:
    value: str


@dataclass(frozen=True)
class RichActor:
    kind: Kind
    id: str
    name: str
    profession_code: str
    organisation_name: str
    auth_method: str


def test_an_entry_reads_the_optional_actor_attributes_and_explicit_arguments_win() -> None:
    actor = RichActor(Kind("professional"), "810000000060", "Joy Infirmière", "60", "Centre Pokémon", "e_cps")
    values = audit.entry_values(at=AT, actor=actor, action="document.list", patient_id="p-1")
    assert (values["actor_name"], values["actor_profession"], values["actor_organisation"], values["auth_method"]) == (
        "Joy Infirmière",
        "60",
        "Centre Pokémon",
        "e_cps",
    )
    explicit = audit.entry_values(
        at=AT, actor=actor, action="document.list", patient_id="p-1", actor_organisation="Clinique du Lac"
    )
    assert explicit["actor_organisation"] == "Clinique du Lac"
    bare = audit.entry_values(at=AT, actor=LEGACY_DOCTOR, action="document.read", patient_id="p-1")
    assert (bare["actor_kind"], bare["actor_id"], bare["actor_profession"], bare["actor_name"]) == (
        "professional",
        LEGACY_DOCTOR.id,
        "10",
        None,
    )
    assert bare["mode"] == "normal"


def test_clinical_free_text_is_erased_from_the_detail_and_the_erasure_noted() -> None:
    values = audit.entry_values(
        at=AT,
        actor=THE_PATIENT,
        action="document.search",
        patient_id="p-1",
        detail={"query": "sérologie VIH", "returned": ["d-1"], "filters": {"text": "x", "type": "11488-4"}},
    )
    assert values["detail"] == {
        "returned": ["d-1"],
        "filters": {"type": "11488-4"},
        "erased": ["filters.text", "query"],
    }


def test_the_request_id_comes_from_the_request_context_unless_given() -> None:
    with audit.request_context("req-from-the-api"):
        assert audit.entry_values(at=AT, actor=DR_HOUSE, action="a", patient_id=None)["request_id"] == (
            "req-from-the-api"
        )
        given = audit.entry_values(at=AT, actor=DR_HOUSE, action="a", patient_id=None, request_id="req-explicit")
        assert given["request_id"] == "req-explicit"
    assert audit.current_request_id() is None


def test_modes_and_their_labels() -> None:
    assert [m.value for m in AccessMode] == ["normal", "emergency", "regulation"]
    assert not AccessMode.NORMAL.is_emergency
    assert AccessMode.EMERGENCY.is_emergency and AccessMode.REGULATION.is_emergency
    assert "bris de glace" in AccessMode.EMERGENCY.label_fr
    with pytest.raises(ValueError):
        audit.entry_values(at=AT, actor=DR_HOUSE, action="a", patient_id=None, mode="curious")


def test_a_bad_entry_describes_where_it_is_in_french() -> None:
    assert BadEntry("p-1", 3, 42, "entrée modifiée").describe() == (
        "chaîne patient p-1, position 3, entrée n° 42 : entrée modifiée"
    )
    assert BadEntry("", 7, None, "fin de chaîne tronquée").describe() == (
        "chaîne plateforme, position 7 : fin de chaîne tronquée"
    )

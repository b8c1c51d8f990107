"""SMART scopes: v1 and v2 syntax, resource wildcards, and nothing granted by a malformed scope."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from carnet.auth.scopes import permits


@pytest.mark.parametrize(
    ("scope", "resource", "interaction", "expected"),
    [
        ("patient/DocumentReference.rs", "DocumentReference", "r", True),
        ("patient/DocumentReference.rs", "DocumentReference", "s", True),
        ("patient/DocumentReference.rs", "DocumentReference", "c", False),
        ("patient/DocumentReference.rs", "Binary", "r", False),
        ("patient/DocumentReference.read", "DocumentReference", "s", True),
        ("patient/DocumentReference.write", "DocumentReference", "c", True),
        ("patient/DocumentReference.write", "DocumentReference", "r", False),
        ("system/*.read", "Patient", "r", True),
        ("system/*.cruds", "Consent", "d", True),
        ("patient/*.*", "Observation", "u", True),
        ("openid", "Patient", "r", False),
        ("patient/documentreference.rs", "DocumentReference", "r", False),
        ("patient/DocumentReference.rsx", "DocumentReference", "r", False),
    ],
)
def test_scope_grammar(scope: str, resource: str, interaction: str, expected: bool) -> None:
    assert permits(frozenset({scope}), resource, interaction) is expected


@given(st.sets(st.text(max_size=40), max_size=5), st.sampled_from("cruds"))
def test_no_scope_without_the_resource_or_a_wildcard_grants_anything(scopes: set[str], interaction: str) -> None:
    clean = frozenset(s for s in scopes if "*" not in s and "Binary" not in s)
    assert not permits(clean, "Binary", interaction)

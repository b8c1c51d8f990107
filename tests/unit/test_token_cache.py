"""The token validator remembers verified tokens only until they expire."""

from __future__ import annotations

import time

import pytest

from carnet.auth.devidp import DevIdentityProvider, professional_claims
from carnet.auth.keys import SigningKey
from carnet.auth.tokens import LEEWAY_SECONDS, TokenValidator
from carnet.errors import Unauthenticated

AUDIENCE = "http://127.0.0.1:8000/fhir"


def test_a_remembered_token_is_refused_once_expired() -> None:
    idp = DevIdentityProvider(issuer="http://127.0.0.1:8000/dev-idp", audience=AUDIENCE, key=SigningKey.generate())
    now = [time.time()]
    validator = TokenValidator([idp.trusted_issuer()], audience=AUDIENCE, clock=lambda: now[0])
    token = idp.mint(professional_claims("810000000001", profession="10", given_name="C", family_name="M"),
                     subject="810000000001", lifetime=60, now=now[0])  # fmt: skip
    first = validator.validate(token)
    first["SubjectNameID"] = "tampered"  # callers get a copy: the remembered claims stay intact
    assert validator.validate(token)["SubjectNameID"] == "810000000001"
    now[0] += 60 + LEEWAY_SECONDS + 1
    with pytest.raises(Unauthenticated, match="expiré"):
        validator.validate(token)

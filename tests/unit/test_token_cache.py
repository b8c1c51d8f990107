"""The token validator remembers verified tokens only until they expire."""

from __future__ import annotations

import time

import pytest

from carnet.auth.devidp import DevIdentityProvider, professional_claims
from carnet.auth.keys import SigningKey
from carnet.auth.tokens import LEEWAY_SECONDS, TokenValidator, TrustedIssuer
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


def _doctor_token(idp: DevIdentityProvider) -> str:
    return idp.mint(professional_claims("810000000001", profession="10", given_name="C", family_name="M"),
                    subject="810000000001", lifetime=600)  # fmt: skip


def test_a_remembered_token_is_refused_once_its_key_is_withdrawn_and_kept_while_it_is_published() -> None:
    issuer_url = "http://127.0.0.1:8000/dev-idp"
    old = DevIdentityProvider(issuer=issuer_url, audience=AUDIENCE, key=SigningKey.generate())
    new = DevIdentityProvider(issuer=issuer_url, audience=AUDIENCE, key=SigningKey.generate())
    published = [old.jwks()]
    validator = TokenValidator([TrustedIssuer(issuer=issuer_url, jwks_provider=lambda: published[0])],
                               audience=AUDIENCE)  # fmt: skip
    before = _doctor_token(old)
    validator.validate(before)
    published[0] = {"keys": [*old.jwks()["keys"], *new.jwks()["keys"]]}  # the new key comes in beside the old one
    validator.validate(_doctor_token(new))  # an unknown kid: the keys are loaded again
    assert validator.remembered(before) is not None  # the old key is still published: still remembered
    published[0] = new.jwks()  # the old key withdrawn, which the validator learns at its next load of the keys
    stranger = DevIdentityProvider(issuer=issuer_url, audience=AUDIENCE, key=SigningKey.generate())
    with pytest.raises(Unauthenticated, match="clé de signature inconnue"):
        validator.validate(_doctor_token(stranger))
    assert validator.remembered(before) is None
    with pytest.raises(Unauthenticated, match="clé de signature inconnue"):
        validator.validate(before)


def test_a_remembered_token_is_verified_again_when_its_issuer_is_replaced() -> None:
    idp = DevIdentityProvider(issuer="http://127.0.0.1:8000/dev-idp", audience=AUDIENCE, key=SigningKey.generate())
    validator = TokenValidator([idp.trusted_issuer()], audience=AUDIENCE)
    token = _doctor_token(idp)
    validator.validate(token)
    other = DevIdentityProvider(issuer=idp.issuer, audience=AUDIENCE, key=SigningKey.generate())
    validator.add(other.trusted_issuer())  # the same issuer URL now trusted with other keys only
    assert validator.remembered(token) is None
    with pytest.raises(Unauthenticated):
        validator.validate(token)


def test_tokens_are_remembered_by_digest_not_kept_in_memory() -> None:
    idp = DevIdentityProvider(issuer="http://127.0.0.1:8000/dev-idp", audience=AUDIENCE, key=SigningKey.generate())
    validator = TokenValidator([idp.trusted_issuer()], audience=AUDIENCE)
    token = _doctor_token(idp)
    validator.validate(token)
    assert validator.remembered(token) is not None
    assert [len(key) for key in validator._verified] == [32]  # SHA-256 digests only

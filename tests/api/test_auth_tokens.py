"""Bearer tokens: only a valid token of a trusted issuer, for our audience and in its validity period, gets in."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient

from carnet.auth.devidp import DevIdentityProvider, professional_claims
from carnet.auth.keys import SigningKey
from tests.api.conftest import Tokens
from tests.builders import DR_HOUSE, FRONT_DESK

WHOAMI = "/auth/whoami"


def _outcome_says(response: object, status: int, words: str) -> None:
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    body = response.json()  # type: ignore[attr-defined]
    assert body["resourceType"] == "OperationOutcome"
    assert words in body["issue"][0]["diagnostics"]


def test_a_professional_token_maps_to_the_professional(client: TestClient, tokens: Tokens) -> None:
    response = client.get(WHOAMI, headers=tokens.headers(tokens.for_actor(DR_HOUSE)))
    assert response.status_code == 200, response.text
    me = response.json()
    assert (me["kind"], me["id"], me["profession"], me["auth_method"]) == ("professional", DR_HOUSE.id, "10", "cps")


def test_a_secretariat_token_acts_for_its_professional(client: TestClient, tokens: Tokens) -> None:
    me = client.get(WHOAMI, headers=tokens.headers(tokens.for_actor(FRONT_DESK))).json()
    assert (me["kind"], me["auth_method"], me["acting_for"]) == ("secretariat", "cpe", FRONT_DESK.acting_for)


def test_no_token_is_401_with_a_bearer_challenge(client: TestClient) -> None:
    response = client.get(WHOAMI)
    _outcome_says(response, 401, "Authorization")
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["issue"][0]["code"] == "login"


def test_an_expired_token_is_refused(client: TestClient, tokens: Tokens) -> None:
    token = tokens.for_actor(DR_HOUSE, now=time.time() - 7200, lifetime=600)
    _outcome_says(client.get(WHOAMI, headers=tokens.headers(token)), 401, "expiré")


def test_a_token_from_an_untrusted_issuer_is_refused(client: TestClient, tokens: Tokens) -> None:
    stranger = DevIdentityProvider(issuer="https://idp.example.net/realms/evil", audience=tokens.idp.audience,
                                   key=SigningKey.generate())  # fmt: skip
    token = stranger.mint(professional_claims(DR_HOUSE.id, profession="10", given_name="A", family_name="B"),
                          subject=DR_HOUSE.id)  # fmt: skip
    _outcome_says(client.get(WHOAMI, headers=tokens.headers(token)), 401, "émetteur non reconnu")


def test_a_token_signed_with_another_key_under_our_issuer_is_refused(client: TestClient, tokens: Tokens) -> None:
    forger = DevIdentityProvider(issuer=tokens.idp.issuer, audience=tokens.idp.audience, key=SigningKey.generate())
    token = forger.mint(professional_claims(DR_HOUSE.id, profession="10", given_name="A", family_name="B"),
                        subject=DR_HOUSE.id)  # fmt: skip
    _outcome_says(client.get(WHOAMI, headers=tokens.headers(token)), 401, "clé de signature inconnue")


def test_a_token_for_another_audience_is_refused(client: TestClient, tokens: Tokens) -> None:
    token = tokens.for_actor(DR_HOUSE, audience="https://other-service.example.org")
    _outcome_says(client.get(WHOAMI, headers=tokens.headers(token)), 401, "aud")


def test_an_unsigned_token_is_refused(client: TestClient, tokens: Tokens) -> None:
    import jwt

    token = jwt.encode({"iss": tokens.idp.issuer, "sub": "x", "aud": tokens.idp.audience, "iat": int(time.time()),
                        "exp": int(time.time()) + 60, "SubjectNameID": DR_HOUSE.id, "amr": ["cps"]},
                       key="", algorithm="none")  # fmt: skip
    _outcome_says(client.get(WHOAMI, headers=tokens.headers(token)), 401, "algorithme")


def test_every_answer_carries_a_request_id_and_keeps_a_given_one(client: TestClient) -> None:
    assert len(client.get("/health").headers["x-request-id"]) == 32
    assert client.get("/health", headers={"X-Request-ID": "abc-123"}).headers["x-request-id"] == "abc-123"

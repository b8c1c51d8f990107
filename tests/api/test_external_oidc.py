"""Interoperability: tokens of an external OpenID provider (node-oidc-provider, started on loopback) are accepted.

The provider (tests/oidc/server.mjs, started by the fixture of tests/api/oidc_support.py) issues JWT access
tokens through client credentials with resource indicators (RFC 8707) and Carnet's claims. Carnet trusts it only
through ``CARNET_OIDC_ISSUERS`` (issuer + jwks_uri), with the development identity provider off: the real
discovery-free configuration a deployment uses. With ``CARNET_REQUIRE_NODE=1`` (``make test``, CI) a missing
Node.js fails the run instead of skipping these tests.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import jwt
import pytest
from fastapi.testclient import TestClient

from carnet.api.app import create_app
from carnet.bootstrap import Platform
from carnet.settings import Settings
from tests.api.oidc_support import AUDIENCE, ExternalProvider, external_provider

__all__ = ["external_provider"]  # the session fixture, shared with the portal's tests


@pytest.fixture
def external_client(
    platform: Platform, settings: Settings, external_provider: ExternalProvider, monkeypatch: pytest.MonkeyPatch
) -> Iterator[TestClient]:
    """Carnet configured by environment variables to trust only the external provider."""
    monkeypatch.setenv("CARNET_OIDC_ISSUERS", json.dumps([{"issuer": external_provider.issuer,
                                                           "jwks_uri": external_provider.jwks_uri}]))  # fmt: skip
    monkeypatch.setenv("CARNET_API_AUDIENCE", AUDIENCE)
    monkeypatch.setenv("CARNET_DEV_IDP", "false")
    monkeypatch.setenv("CARNET_RATE_LIMIT_PER_MINUTE", "0")
    configured = Settings(env="test", data_dir=settings.data_dir, demo_data=False, _env_file=None)
    assert configured.oidc_issuers[0].issuer == external_provider.issuer
    app = create_app(configured, platform=platform)
    assert app.state.dev_idp is None
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_professional_token_of_the_external_provider_is_accepted(
    external_client: TestClient, external_provider: ExternalProvider
) -> None:
    token = external_provider.token("lgc-cabinet", "lgc-cabinet-secret", scope="system/Patient.rs")
    claims = jwt.decode(token, options={"verify_signature": False})
    assert (claims["iss"], claims["aud"], jwt.get_unverified_header(token)["typ"]) == (
        external_provider.issuer, AUDIENCE, "at+jwt")  # fmt: skip
    me = external_client.get("/auth/whoami", headers=_bearer(token))
    assert me.status_code == 200, me.text
    assert me.json() | {"name": None} == {
        "kind": "professional", "id": "899700000002", "auth_method": "e_cps", "issuer": external_provider.issuer,
        "name": None, "profession": "10", "specialty": "SM26", "organisation": "1519990028", "acting_for": None,
        "scopes": [],
    }  # fmt: skip
    assert me.json()["name"] == "Sophie LEROY"
    metadata = external_client.get("/fhir/metadata", headers=_bearer(token))
    assert metadata.status_code == 200, metadata.text
    assert metadata.json()["resourceType"] == "CapabilityStatement"


def test_an_app_token_of_the_external_provider_carries_its_scopes_and_patient(
    external_client: TestClient, external_provider: ExternalProvider
) -> None:
    token = external_provider.token("smart-app", "smart-app-secret", scope="patient/DocumentReference.rs")
    me = external_client.get("/auth/whoami", headers=_bearer(token)).json()
    assert (me["kind"], me["id"], me["auth_method"], me["scopes"]) == (
        "app", "smart-app", "app_token", ["patient/DocumentReference.rs"])  # fmt: skip
    assert jwt.decode(token, options={"verify_signature": False})["patient"] == "279035121518989"


def test_a_token_of_the_external_provider_for_another_audience_is_refused(
    external_client: TestClient, external_provider: ExternalProvider
) -> None:
    token = external_provider.token("lgc-cabinet", "lgc-cabinet-secret", resource="https://other-service.example/api")
    response = external_client.get("/auth/whoami", headers=_bearer(token))
    assert response.status_code == 401, response.text
    assert response.json()["resourceType"] == "OperationOutcome"
    assert "autre service (aud)" in response.json()["issue"][0]["diagnostics"]


def test_a_tampered_token_of_the_external_provider_is_refused(
    external_client: TestClient, external_provider: ExternalProvider
) -> None:
    token = external_provider.token("smart-app", "smart-app-secret")
    header, payload, signature = token.split(".")
    claims = jwt.decode(token, options={"verify_signature": False}) | {"scope": "patient/*.cruds"}
    forged_payload = jwt.utils.base64url_encode(json.dumps(claims).encode()).decode()
    response = external_client.get("/auth/whoami", headers=_bearer(f"{header}.{forged_payload}.{signature}"))
    assert response.status_code == 401, response.text
    assert "jeton refusé" in response.json()["issue"][0]["diagnostics"]


def test_the_provider_rotates_its_key_and_carnet_fetches_the_new_one(
    external_client: TestClient, external_provider: ExternalProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The re-fetch throttle (30 s against a flood of forged kids) is shortened so the test does not wait for it.
    monkeypatch.setattr("carnet.auth.tokens.MIN_REFETCH_SECONDS", 0.2)
    before = external_provider.token("lgc-cabinet", "lgc-cabinet-secret")
    assert external_client.get("/auth/whoami", headers=_bearer(before)).status_code == 200
    fetches = external_provider.stats()["jwks_fetches"]

    rotated = external_provider.rotate()
    time.sleep(0.3)
    after = external_provider.token("lgc-cabinet", "lgc-cabinet-secret")
    old_kid, new_kid = jwt.get_unverified_header(before)["kid"], jwt.get_unverified_header(after)["kid"]
    assert new_kid == rotated["kid"] != old_kid

    response = external_client.get("/auth/whoami", headers=_bearer(after))
    assert response.status_code == 200, response.text
    assert external_provider.stats()["jwks_fetches"] == fetches + 1  # the unknown kid made Carnet fetch the JWKS
    # Tokens signed with the previous key stay valid while the provider still publishes it.
    assert external_client.get("/auth/whoami", headers=_bearer(before)).status_code == 200
    assert external_provider.stats()["jwks_fetches"] == fetches + 1

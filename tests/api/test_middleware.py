"""Cross-cutting behaviour of the API: per-client rate limit, CORS, request ids."""

from __future__ import annotations

from fastapi.testclient import TestClient

from carnet.api.app import create_app
from carnet.api.middleware import RateLimitMiddleware
from carnet.bootstrap import Platform
from carnet.settings import Settings
from tests.api.conftest import Tokens
from tests.builders import DR_HOUSE, NURSE_JOY


def test_a_client_over_its_rate_gets_429_with_retry_after_and_others_do_not(
    platform: Platform, api_settings: Settings
) -> None:
    app = create_app(api_settings.model_copy(update={"rate_limit_per_minute": 5}), platform=platform)
    with TestClient(app, raise_server_exceptions=False) as client:
        tokens = Tokens(app.state.dev_idp)
        house = tokens.headers(tokens.for_actor(DR_HOUSE))
        statuses = [client.get("/auth/whoami", headers=house).status_code for _ in range(7)]
        assert statuses[:5] == [200] * 5
        assert statuses[5:] == [429, 429]
        limited = client.get("/auth/whoami", headers=house)
        assert limited.json()["issue"][0]["code"] == "throttled"
        assert int(limited.headers["retry-after"]) >= 1
        assert limited.headers["x-request-id"]
        # Another client has its own bucket.
        assert client.get("/auth/whoami", headers=tokens.headers(tokens.for_actor(NURSE_JOY))).status_code == 200


def test_the_bucket_refills_with_time() -> None:
    now = [0.0]
    limiter = RateLimitMiddleware(app=None, per_minute=60, clock=lambda: now[0])  # type: ignore[arg-type]
    assert [limiter._take("c") for _ in range(60)] == [0.0] * 60
    assert limiter._take("c") > 0
    now[0] += 1.0  # one second: one more request
    assert limiter._take("c") == 0.0
    assert limiter._take("c") > 0


def test_cors_answers_the_configured_origins_only(platform: Platform, api_settings: Settings) -> None:
    settings = api_settings.model_copy(update={"cors_origins": ["https://lgc.example.fr"]})
    with TestClient(create_app(settings, platform=platform)) as client:
        preflight = {"Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "authorization"}
        allowed = client.options("/fhir/metadata", headers={"Origin": "https://lgc.example.fr", **preflight})
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == "https://lgc.example.fr"
        other = client.get("/fhir/metadata", headers={"Origin": "https://evil.example.com"})
        assert "access-control-allow-origin" not in other.headers


def test_unknown_routes_and_methods_answer_an_operation_outcome(client: TestClient) -> None:
    missing = client.get("/fhir/NoSuchThing/1")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/fhir+json")
    assert missing.json()["issue"][0]["code"] == "not-found"
    wrong = client.delete("/fhir/metadata")
    assert wrong.status_code == 405
    assert wrong.json()["issue"][0]["code"] == "not-supported"


def test_smart_discovery_names_the_identity_provider(client: TestClient, tokens: Tokens) -> None:
    found = client.get("/fhir/.well-known/smart-configuration").json()
    assert found["issuer"] == tokens.idp.issuer
    assert found["token_endpoint"] == f"{tokens.idp.issuer}/token"
    assert "S256" in found["code_challenge_methods_supported"]


def test_the_request_id_ties_the_answer_to_the_audit_entries(
    client: TestClient, tokens: Tokens, platform: Platform
) -> None:
    from tests.builders import in_care_team, qualified_patient

    patient_id = qualified_patient(platform)
    in_care_team(platform, patient_id, DR_HOUSE)
    headers = tokens.headers(tokens.for_actor(DR_HOUSE), **{"X-Request-ID": "lgc-7f3a-0001"})
    assert client.get(f"/fhir/Patient/{patient_id}", headers=headers).status_code == 200
    with platform.uow() as uow:
        entries = [row for row in uow.audit.chain(patient_id) if row.request_id == "lgc-7f3a-0001"]
    assert entries, "the read left an audit entry carrying the caller's request id"
    assert all(row.actor_id == DR_HOUSE.id for row in entries)

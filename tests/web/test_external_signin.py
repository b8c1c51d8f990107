"""Portal sign-in with external OpenID providers (``CARNET_WEB_OIDC_PROVIDERS``).

The providers are real: node-oidc-provider on loopback (tests/oidc/server.mjs, the session fixture of
tests/api/oidc_support.py), with two portal clients, a FranceConnect-like one for patients (client_secret_basic, as
its discovery offers first) and a Pro Santé Connect-like one for professionals (client_secret_post, configured), and
the development identity provider off. The patient and the professional sign in on the provider's own login page in
Debian's Chromium and land on their home page; the choice page lists both providers (TestClient); a wrong client
secret is refused by the provider and said so; the settings refuse a provider the API does not trust, and
``carnet config`` masks the client secrets.
"""

from __future__ import annotations

import asyncio
import base64
import html
import json
import re
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pydantic
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from carnet.api.app import create_app
from carnet.bootstrap import Platform
from carnet.cli import app as cli
from carnet.errors import Unauthenticated
from carnet.settings import Settings
from carnet.web.auth import SignInProvider, _check_id_token, _client_authentication
from tests.api.conftest import LiveServer, _free_port
from tests.api.oidc_support import ExternalProvider, external_provider
from tests.web.conftest import _missing
from tests.web.test_accessibility import AXE, _summary, _violations
from tests.web.test_patient_journey import _dominique_with_a_summary

__all__ = ["external_provider"]  # the session fixture that starts the Node provider

PATIENTS_SECRET = "carnet-portail-patients-secret"
PROS_SECRET = "carnet-portail-pros-secret"


def _providers(issuer: str, audience: str, *, patients_secret: str = PATIENTS_SECRET) -> list[dict[str, Any]]:
    """The two portal clients registered at the test provider (tests/oidc/server.mjs PORTAL_CLIENTS)."""
    return [
        {"key": "franceconnect", "label_fr": "FranceConnect (test)", "label_en": "FranceConnect (test)",
         "kind": "patient", "issuer": issuer, "client_id": "carnet-portail-patients",
         "client_secret": patients_secret, "audience": audience},
        {"key": "psc", "label_fr": "Pro Santé Connect (test)", "label_en": "Pro Santé Connect (test)",
         "kind": "professional", "issuer": issuer, "client_id": "carnet-portail-pros", "client_secret": PROS_SECRET,
         "token_auth_method": "client_secret_post", "audience": audience},
    ]  # fmt: skip


def _portal_settings(settings: Settings, provider: ExternalProvider, public_url: str, **overrides: Any) -> Settings:
    """Validated settings (not a model_copy) trusting only the external provider, the development one off."""
    audience = f"{public_url}/fhir"
    values: dict[str, Any] = {
        "env": "test", "data_dir": settings.data_dir, "database_url": settings.database_url, "demo_data": False,
        "rate_limit_per_minute": 0, "dev_idp": False, "public_url": public_url,
        "oidc_issuers": [{"issuer": provider.issuer, "jwks_uri": provider.jwks_uri}],
        "web_oidc_providers": _providers(provider.issuer, audience),
    } | overrides  # fmt: skip
    return Settings(**values, _env_file=None)


@dataclass
class Portal:
    url: str
    app: FastAPI


@pytest.fixture
def portal(platform: Platform, settings: Settings, external_provider: ExternalProvider) -> Iterator[Portal]:
    """The platform under uvicorn on loopback, signing its people in through the external provider only."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    application = create_app(_portal_settings(settings, external_provider, url), platform=platform)
    assert application.state.dev_idp is None
    server = uvicorn.Server(uvicorn.Config(application, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield Portal(url=url, app=application)
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def _sign_in_at_the_provider(page: Any, provider: ExternalProvider, login: str) -> None:
    """node-oidc-provider's development login form: the account's login, any password."""
    page.wait_for_url(f"{provider.issuer}/interaction/**")
    page.locator("input[name=login]").fill(login)
    page.locator("input[name=password]").fill("mot-de-passe-de-test")
    page.get_by_role("button", name="Sign-in").click()


def test_the_patient_signs_in_through_the_external_provider(
    portal: Portal, platform: Platform, external_provider: ExternalProvider, browser_page: Any, screenshot: Any
) -> None:
    if not AXE.is_file():
        _missing("axe-core is not installed (make chromium: npm ci in tests/web)")
    _dominique_with_a_summary(platform)
    page = browser_page
    page.goto(f"{portal.url}/documents")
    page.wait_for_url(f"{portal.url}/connexion?next=%2Fdocuments")
    assert page.get_by_role("heading", level=1).inner_text() == "Choisir comment se connecter"
    patients = page.get_by_role("region", name="Vous êtes patient ou représentant légal")
    assert patients.get_by_role("link").all_inner_texts() == ["Se connecter avec FranceConnect (test)"]
    screenshot(page, "01-choose-provider")
    violations = _violations(page)  # the choice page: axe-core finds no serious violation
    assert not violations, _summary(violations)

    patients.get_by_role("link", name="Se connecter avec FranceConnect (test)").click()
    _sign_in_at_the_provider(page, external_provider, "dominique")
    page.wait_for_url(f"{portal.url}/documents")
    page.get_by_role("navigation").get_by_role("link", name="Accueil").click()
    page.wait_for_url(f"{portal.url}/")
    assert page.get_by_role("heading", level=1).inner_text().startswith("Bonjour Dominique")
    assert page.get_by_role("link", name="Synthèse Médicale").count() == 1
    screenshot(page, "02-home")


def test_the_professional_signs_in_through_the_external_provider(
    portal: Portal, external_provider: ExternalProvider, browser_page: Any, screenshot: Any
) -> None:
    page = browser_page
    page.goto(f"{portal.url}/pro")
    page.wait_for_url(f"{portal.url}/connexion?next=%2Fpro")
    # On the way to the professional portal, the professionals' providers come first.
    assert page.get_by_role("heading", level=2).first.inner_text() == "Vous êtes professionnel de santé"
    page.get_by_role("link", name="Se connecter avec Pro Santé Connect (test)").click()
    _sign_in_at_the_provider(page, external_provider, "sophie")  # the portal redeems the code with client_secret_post
    page.wait_for_url(f"{portal.url}/pro")
    assert page.get_by_role("heading", level=1).inner_text() == "Bonjour Sophie LEROY"
    screenshot(page, "01-pro-home")


def test_the_choice_page_lists_both_providers(platform: Platform, settings: Settings) -> None:
    configured = Settings(
        env="test", data_dir=settings.data_dir, demo_data=False, dev_idp=False, _env_file=None,
        oidc_issuers=[{"issuer": "https://fc.example", "jwks_uri": "https://fc.example/jwks"},
                      {"issuer": "https://psc.example", "jwks_uri": "https://psc.example/jwks"}],
        web_oidc_providers=[
            {"key": "fc", "label_fr": "FranceConnect", "label_en": "FranceConnect", "kind": "patient",
             "issuer": "https://fc.example", "client_id": "carnet-fc", "client_secret": "fc-secret"},
            {"key": "psc", "label_fr": "Pro Santé Connect", "label_en": "Pro Santé Connect (health professionals)",
             "kind": "professional", "issuer": "https://psc.example", "client_id": "carnet-psc"},
        ],
    )  # fmt: skip
    with TestClient(create_app(configured, platform=platform), follow_redirects=False) as client:
        answer = client.get("/connexion?next=/documents")
        assert answer.status_code == 200, answer.text
        assert '<html lang="fr">' in answer.text and "<h1>Choisir comment se connecter</h1>" in answer.text
        links = re.findall(r'<a class="button" href="([^"]+)">([^<]+)</a>', answer.text)
        assert links == [
            ("/connexion?fournisseur=fc&amp;next=%2Fdocuments", "Se connecter avec FranceConnect"),
            ("/connexion?fournisseur=psc&amp;next=%2Fdocuments", "Se connecter avec Pro Santé Connect"),
        ]
        assert "Vous êtes patient ou représentant légal" in answer.text
        assert "Vous êtes professionnel de santé" in answer.text

        english = client.get("/connexion?lang=en")
        assert '<html lang="en">' in english.text and "Choose how to sign in" in english.text
        assert "Sign in with Pro Santé Connect (health professionals)" in english.text

        unknown = client.get("/connexion?fournisseur=inconnu&lang=fr")
        assert unknown.status_code == 400 and 'role="alert"' in unknown.text
        assert "Ce moyen de connexion n'existe pas" in html.unescape(unknown.text)
        # No sign-in was started: nothing was fetched from the providers, no login cookie was set.
        assert "carnet_login" not in unknown.headers.get("set-cookie", "")


def _code_from_the_provider(authorize: str, provider: ExternalProvider, login: str) -> tuple[str, dict[str, str]]:
    """What the browser does at the provider (its login form), with httpx: the callback URL's parameters."""
    with httpx.Client(follow_redirects=False, timeout=10) as browser:
        answer = browser.get(authorize)
        for _ in range(6):
            location = answer.headers.get("location", "")
            if "/auth/callback" in location:
                query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
                return location, query
            if answer.status_code in (302, 303):
                answer = browser.get(httpx.URL(str(answer.url)).join(location))
                continue
            form = re.search(r'action="([^"]+)"', answer.text)
            assert form is not None, answer.text
            answer = browser.post(form.group(1), data={"prompt": "login", "login": login, "password": "x"})
    raise AssertionError("the provider never redirected to the portal")


def test_a_wrong_client_secret_is_refused_by_the_provider_and_said_so(
    platform: Platform, settings: Settings, external_provider: ExternalProvider
) -> None:
    url = "http://127.0.0.1:8000"
    wrong = _portal_settings(settings, external_provider, url,
                             web_oidc_providers=_providers(external_provider.issuer, f"{url}/fhir",
                                                           patients_secret="pas-le-bon-secret"))  # fmt: skip
    with TestClient(create_app(wrong, platform=platform), follow_redirects=False) as client:
        start = client.get("/connexion?fournisseur=franceconnect")
        assert start.status_code == 303 and start.headers["location"].startswith(f"{external_provider.issuer}/auth?")
        asked = parse_qs(urlsplit(start.headers["location"]).query)
        assert asked["client_id"] == ["carnet-portail-patients"] and asked["resource"] == [f"{url}/fhir"]
        assert asked["code_challenge_method"] == ["S256"] and asked["redirect_uri"] == [f"{url}/auth/callback"]
        _, query = _code_from_the_provider(start.headers["location"], external_provider, "dominique")
        assert query["iss"] == external_provider.issuer
        answer = client.get("/auth/callback", params=query)
        assert answer.status_code == 400
        reason = re.search(r'role="alert"><p>([^<]+)</p>', html.unescape(answer.text))
        assert reason is not None and reason.group(1) == ("code refusé par le fournisseur d'identité : "
                                                          "client authentication failed")  # fmt: skip
        assert "carnet_session" not in answer.headers.get("set-cookie", "")


def test_the_callback_opens_the_session_with_the_providers_access_token(
    platform: Platform, settings: Settings, external_provider: ExternalProvider
) -> None:
    _dominique_with_a_summary(platform)
    url = "http://127.0.0.1:8000"
    with TestClient(create_app(_portal_settings(settings, external_provider, url), platform=platform),
                    follow_redirects=False) as client:  # fmt: skip
        start = client.get("/connexion?fournisseur=franceconnect&next=/historique")
        _, query = _code_from_the_provider(start.headers["location"], external_provider, "dominique")
        answer = client.get("/auth/callback", params=query)
        assert answer.status_code == 303 and answer.headers["location"] == "/historique", answer.text
        home = client.get("/")
        assert home.status_code == 200 and "Bonjour Dominique" in home.text
        # The same sign-in request cannot be replayed: its cookie is gone.
        again = client.get("/auth/callback", params=query)
        assert again.status_code == 400 and "demande de connexion inconnue ou expirée" in again.text


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"oidc_issuers": []}, "doit aussi figurer dans CARNET_OIDC_ISSUERS"),
        ({"web_oidc_providers": [_providers("https://idp.example", "https://carnet.example/fhir")[0]] * 2},
         "clés en double"),
        ({"web_oidc_providers": [_providers("https://idp.example", "https://ailleurs.example/fhir")[0]]},
         "mais l'API attend https://carnet.example/fhir"),
        ({"web_oidc_providers": [_providers("https://idp.example", "https://carnet.example/fhir")[0]
                                 | {"scopes": ["profile"]}]}, "openid"),
        ({"web_oidc_providers": [_providers("https://idp.example", "https://carnet.example/fhir")[0]
                                 | {"key": "Franche Connexion"}]}, "clé de fournisseur invalide"),
    ],
)  # fmt: skip
def test_the_settings_refuse_a_provider_the_api_would_not_accept(change: dict[str, Any], complaint: str) -> None:
    values: dict[str, Any] = {
        "public_url": "https://carnet.example", "dev_idp": False,
        "oidc_issuers": [{"issuer": "https://idp.example/", "jwks_uri": "https://idp.example/jwks"}],
        "web_oidc_providers": _providers("https://idp.example", "https://carnet.example/fhir")[:1],
    } | change  # fmt: skip
    with pytest.raises(pydantic.ValidationError, match=re.escape(complaint)):
        Settings(**values, _env_file=None)


def test_production_wants_https_providers_and_config_masks_their_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    production = {"env": "production", "secret_key": "x" * 48, "database_url": "postgresql://carnet@db/carnet",
                  "insi_mode": "soap", "demo_data": False, "dev_idp": False,
                  "oidc_issuers": [{"issuer": "http://idp.example", "jwks_uri": "http://idp.example/jwks"}],
                  "web_oidc_providers": _providers("http://idp.example", "http://127.0.0.1:8000/fhir")[:1]}  # fmt: skip
    with pytest.raises(pydantic.ValidationError, match="the issuers must be https in production"):
        Settings(**production, _env_file=None)

    for name in ("CARNET_SECRET_KEY", "CARNET_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CARNET_DEV_IDP", "false")
    monkeypatch.setenv("CARNET_OIDC_ISSUERS", json.dumps([{"issuer": "https://idp.example",
                                                           "jwks_uri": "https://idp.example/jwks"}]))  # fmt: skip
    monkeypatch.setenv("CARNET_WEB_OIDC_PROVIDERS", json.dumps(
        _providers("https://idp.example", "http://127.0.0.1:8000/fhir")))  # fmt: skip
    shown = CliRunner().invoke(cli, ["config"])
    assert shown.exit_code == 0, shown.output
    assert "carnet-portail-patients" in shown.output and "**********" in shown.output
    assert PATIENTS_SECRET not in shown.output and PROS_SECRET not in shown.output
    as_json = CliRunner().invoke(cli, ["config", "--json"])
    providers = json.loads(as_json.output)["web_oidc_providers"]
    assert [p["client_secret"] for p in providers] == ["**********", "**********"]


def _confidential(**changes: Any) -> SignInProvider:
    return replace(SignInProvider(key="fc", issuer="https://fc.example", client_id="carnet portail",
                                  client_secret="s3cret:+/"), **changes)  # fmt: skip


def test_the_client_authenticates_as_the_discovery_offers() -> None:
    form: dict[str, str] = {}
    headers = _client_authentication(_confidential(), {}, form)  # nothing said: client_secret_basic, the default
    # RFC 6749 §2.3.1: id and secret form-encoded before base64.
    assert headers == {"Authorization": "Basic " + base64.b64encode(b"carnet%20portail:s3cret%3A%2B%2F").decode()}
    assert form == {}
    offered = {"token_endpoint_auth_methods_supported": ["private_key_jwt", "client_secret_post"]}
    form = {}
    assert _client_authentication(_confidential(), offered, form) == {}
    assert form == {"client_id": "carnet portail", "client_secret": "s3cret:+/"}
    with pytest.raises(Unauthenticated, match="n'offre pas client_secret_basic"):
        _client_authentication(_confidential(token_auth_method="client_secret_basic"), offered, {})
    with pytest.raises(Unauthenticated, match="il offre : private_key_jwt"):
        _client_authentication(_confidential(), {"token_endpoint_auth_methods_supported": ["private_key_jwt"]}, {})
    form = {}
    assert _client_authentication(_confidential(client_secret=None), offered, form) == {}  # a public client
    assert form == {"client_id": "carnet portail"}


def test_an_id_token_for_several_clients_must_name_the_portal_as_azp(live_server: LiveServer) -> None:
    idp = live_server.app.state.dev_idp
    config = httpx.get(f"{idp.issuer}/.well-known/openid-configuration").json()

    def check(token: str) -> None:
        # In its own thread: Playwright's sync API may already run an event loop in this one.
        with ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, _check_id_token(config, idp.issuer, token, "n", client_id="portail")).result()

    check(idp.mint({"nonce": "n"}, subject="fc-x", audience="portail"))
    with pytest.raises(ValueError, match="azp"):
        check(idp.mint({"nonce": "n"}, subject="fc-x", audience=["portail", "autre-client"]))  # type: ignore[arg-type]
    check(idp.mint({"nonce": "n", "azp": "portail"}, subject="fc-x", audience=["portail", "autre-client"]))  # type: ignore[arg-type]

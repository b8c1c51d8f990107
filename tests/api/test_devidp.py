"""The development identity provider's OpenID Connect endpoints: discovery, JWKS, authorization code with PKCE and
the login page of demo users, client credentials, userinfo; each error answered as OAuth 2.0 says; off in
production-like settings. The end-to-end flow runs against the platform under uvicorn with a loopback redirect URI.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import http.server
import io
import json
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import jwt
import lxml.html
import pytest
from fastapi.testclient import TestClient

from carnet.api.app import create_app
from carnet.auth import devusers
from carnet.bootstrap import Platform
from carnet.demo import load_demo
from carnet.settings import Settings
from tests.api.conftest import LiveServer

ISSUER = "http://127.0.0.1:8000/dev-idp"
LOOPBACK = "http://127.0.0.1:53682/callback"
DOCTOR = "pro:899700000001"


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def authorize_params(challenge: str | None, *, client_id: str = "carnet-web", redirect_uri: str = LOOPBACK,
                     scope: str = "openid profile", **extra: str) -> dict[str, str]:  # fmt: skip
    params = {"response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri, "scope": scope,
              "state": "st-42", "nonce": "n-0S6", **extra}  # fmt: skip
    if challenge:
        params |= {"code_challenge": challenge, "code_challenge_method": "S256"}
    return params


def redirected(response: Any) -> dict[str, str]:
    """The query parameters of a redirect answer."""
    assert response.status_code == 303, response.text
    query = parse_qs(urlsplit(response.headers["location"]).query)
    return {key: values[0] for key, values in query.items()}


def login(client: TestClient, params: dict[str, str], user: str = DOCTOR) -> str:
    """Sign ``user`` in through the form; returns the authorization code."""
    back = redirected(client.post("/dev-idp/authorize", data={**params, "user": user, "action": "login"},
                                  follow_redirects=False))  # fmt: skip
    assert back["state"] == params["state"] and back["iss"] == ISSUER
    return back["code"]


def exchange(client: TestClient, code: str, verifier: str | None, *, client_id: str = "carnet-web",
             redirect_uri: str = LOOPBACK, **extra: Any) -> Any:  # fmt: skip
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri, "client_id": client_id}
    if verifier:
        data["code_verifier"] = verifier
    return client.post("/dev-idp/token", data=data, **extra)


def oauth_error(response: Any, status: int, error: str, words: str = "") -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == error, body
    assert words in body["error_description"], body
    assert response.headers["cache-control"] == "no-store"


def whoami(client: TestClient, token: str) -> dict[str, Any]:
    response = client.get("/auth/whoami", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    return dict(response.json())


def signed_in(client: TestClient, user: str, *, client_id: str = "carnet-web", scope: str = "openid profile",
              secret: str | None = None) -> dict[str, Any]:  # fmt: skip
    verifier, challenge = pkce()
    params = authorize_params(challenge, client_id=client_id, scope=scope)
    auth = (client_id, secret) if secret else None
    response = exchange(client, login(client, params, user), verifier, client_id=client_id, auth=auth)
    assert response.status_code == 200, response.text
    return dict(response.json())


# --- discovery and keys ----------------------------------------------------------------------------------------


def test_discovery_names_the_endpoints_grants_and_smart_scopes(client: TestClient) -> None:
    doc = client.get("/dev-idp/.well-known/openid-configuration").json()
    assert doc["issuer"] == ISSUER
    assert {doc[k] for k in ("authorization_endpoint", "token_endpoint", "jwks_uri", "userinfo_endpoint")} == {
        f"{ISSUER}/authorize", f"{ISSUER}/token", f"{ISSUER}/jwks", f"{ISSUER}/userinfo"}  # fmt: skip
    assert doc["grant_types_supported"] == ["authorization_code", "client_credentials"]
    assert doc["response_types_supported"] == ["code"]
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert {"openid", "patient/DocumentReference.rs", "system/DocumentReference.cruds"} <= set(doc["scopes_supported"])


def test_tokens_verify_with_the_published_key_set(client: TestClient) -> None:
    keys = client.get("/dev-idp/jwks").json()["keys"]
    token = signed_in(client, DOCTOR)["access_token"]
    (key,) = [k for k in keys if k["kid"] == jwt.get_unverified_header(token)["kid"]]
    assert "d" not in key  # public part only
    claims = jwt.decode(token, jwt.PyJWK(key), algorithms=["RS256"], audience="http://127.0.0.1:8000/fhir")
    assert (claims["iss"], claims["SubjectNameID"], claims["client_id"]) == (ISSUER, "899700000001", "carnet-web")


# --- authorization code ----------------------------------------------------------------------------------------


def test_the_login_page_lists_the_demo_users_accessibly(client: TestClient) -> None:
    response = client.get("/dev-idp/authorize", params=authorize_params(pkce()[1]))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = lxml.html.fromstring(response.text)
    assert page.get("lang") == "fr"
    assert len(page.xpath("//main")) == 1 and page.xpath("//h1")
    radios = page.xpath("//input[@type='radio'][@name='user']")
    values = {r.get("value") for r in radios}
    assert {DOCTOR, "pro:0899700101", "patient:279035121518989", "patient:174013523855420"} <= values
    for radio in radios:  # every choice has its label
        (label,) = page.xpath(f"//label[@for='{radio.get('id')}']")
        assert label.text_content().strip()
    assert radios[0].get("autofocus") is not None
    legends = [legend.text_content() for legend in page.xpath("//fieldset/legend")]
    assert legends == ["Professionnels de santé", "Secrétariat", "Patients", "Représentant légal"]
    text = page.text_content()
    assert "Dr Paul MARTIN" in text and "Médecin" in text and "Médecine Générale" in text and "Infirmier" in text
    assert "Mathis MOREAU" in text  # the represented child


@pytest.mark.parametrize(
    ("user", "expected"),
    [
        (DOCTOR, {"kind": "professional", "id": "899700000001", "profession": "10", "auth_method": "cps"}),
        ("pro:899700000002", {"kind": "professional", "profession": "10", "specialty": "SM26", "auth_method": "e_cps"}),
        ("pro:899700000061", {"kind": "professional", "profession": "60", "organisation": "1519990028"}),
        ("pro:0899700101", {"kind": "secretariat", "auth_method": "cpe", "acting_for": "899700000001"}),
        ("patient:279035121518989", {"kind": "patient", "id": "279035121518989", "auth_method": "france_connect"}),
    ],
)
def test_each_kind_of_demo_user_signs_in(client: TestClient, user: str, expected: dict[str, str]) -> None:
    body = signed_in(client, user)
    assert (body["token_type"], body["expires_in"], body["scope"]) == ("Bearer", 3600, "openid profile")
    me = whoami(client, body["access_token"])
    assert {key: me[key] for key in expected} == expected


def test_the_representative_token_names_the_represented_child(client: TestClient) -> None:
    token = signed_in(client, "patient:174013523855420")["access_token"]
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["ins"] == "174013523855420"
    assert claims["represents"] == [{"ins": "117069912729402", "oid": devusers.INS_OID_TEST}]


def test_the_id_token_is_for_the_client_with_its_nonce(client: TestClient) -> None:
    body = signed_in(client, DOCTOR)
    key = client.get("/dev-idp/jwks").json()["keys"][0]
    claims = jwt.decode(body["id_token"], jwt.PyJWK(key), algorithms=["RS256"], audience="carnet-web")
    assert (claims["iss"], claims["sub"], claims["nonce"], claims["given_name"]) == (
        ISSUER, "899700000001", "n-0S6", "Paul")  # fmt: skip
    digest = hashlib.sha256(body["access_token"].encode()).digest()[:16]
    assert claims["at_hash"] == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def test_a_smart_app_signed_in_by_a_patient_gets_an_app_token_bound_to_them(client: TestClient) -> None:
    body = signed_in(client, "patient:279035121518989", client_id="demo-app", secret="demo-app-secret",
                     scope="openid patient/DocumentReference.rs")  # fmt: skip
    me = whoami(client, body["access_token"])
    assert (me["kind"], me["id"], me["scopes"]) == ("app", "demo-app", ["patient/DocumentReference.rs"])
    assert jwt.decode(body["access_token"], options={"verify_signature": False})["patient"] == "279035121518989"


def test_a_client_only_lists_the_users_it_may_sign_in(client: TestClient) -> None:
    params = authorize_params(pkce()[1], client_id="demo-app", scope="patient/*.rs")
    page = lxml.html.fromstring(client.get("/dev-idp/authorize", params=params).text)
    values = {r.get("value") for r in page.xpath("//input[@name='user']")}
    assert values and all(v.startswith("patient:") for v in values)
    response = client.post("/dev-idp/authorize", data={**params, "user": DOCTOR, "action": "login"})
    assert response.status_code == 400
    assert "Choisissez" in lxml.html.fromstring(response.text).xpath("//*[@role='alert']")[0].text_content()


def test_no_user_chosen_shows_the_page_again_with_the_error(client: TestClient) -> None:
    response = client.post("/dev-idp/authorize", data={**authorize_params(pkce()[1]), "action": "login"})
    assert response.status_code == 400
    page = lxml.html.fromstring(response.text)
    (alert,) = page.xpath("//*[@role='alert']")
    assert alert.get("autofocus") is not None
    assert page.xpath("//form/@aria-describedby") == ["erreur"]


def test_cancel_sends_access_denied_back_to_the_client(client: TestClient) -> None:
    back = redirected(client.post("/dev-idp/authorize", data={**authorize_params(pkce()[1]), "action": "cancel"},
                                  follow_redirects=False))  # fmt: skip
    assert (back["error"], back["state"], "code" in back) == ("access_denied", "st-42", False)


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"client_id": "rogue-app"}, "client inconnu"),
        ({"redirect_uri": "https://attacker.example/callback"}, "redirect_uri non enregistrée"),
        ({"redirect_uri": "http://127.0.0.1:53682/other"}, "redirect_uri non enregistrée"),
        ({"redirect_uri": "http://192.0.2.1:53682/callback"}, "redirect_uri non enregistrée"),
        ({"redirect_uri": ""}, "redirect_uri absent"),
    ],
)
def test_an_untrusted_client_or_redirect_gets_a_page_never_a_redirect(
    client: TestClient, change: dict[str, str], words: str
) -> None:
    params = authorize_params(pkce()[1]) | change
    shown = client.get("/dev-idp/authorize", params=params, follow_redirects=False)
    posted = client.post("/dev-idp/authorize", data={**params, "user": DOCTOR}, follow_redirects=False)
    for response in (shown, posted):
        assert response.status_code == 400
        assert "location" not in response.headers
        assert words in lxml.html.fromstring(response.text).xpath("//*[@role='alert']")[0].text_content()


@pytest.mark.parametrize(
    ("params", "error", "words"),
    [
        (authorize_params(None), "invalid_request", "PKCE obligatoire"),
        (authorize_params(None, code_challenge="x" * 43, code_challenge_method="plain"), "invalid_request", "S256"),
        (authorize_params(None, code_challenge="short", code_challenge_method="S256"), "invalid_request", "mal formé"),
        (authorize_params("c" * 43) | {"response_type": "token"}, "unsupported_response_type", "response_type=code"),
        (authorize_params("c" * 43, scope="openid system/*.rs"), "invalid_scope", "system/*.rs"),
        (authorize_params("c" * 43, client_id="demo-app", scope="openid"), "invalid_scope", "portée patient"),
    ],
)
def test_a_bad_request_from_a_trusted_client_goes_back_to_it_with_the_error(
    client: TestClient, params: dict[str, str], error: str, words: str
) -> None:
    back = redirected(client.get("/dev-idp/authorize", params=params, follow_redirects=False))
    assert (back["error"], back["state"], back["iss"]) == (error, "st-42", ISSUER)
    assert words in back["error_description"]


def test_a_wrong_code_verifier_is_refused_and_the_code_still_works(client: TestClient) -> None:
    verifier, challenge = pkce()
    code = login(client, authorize_params(challenge))
    oauth_error(exchange(client, code, pkce()[0]), 400, "invalid_grant", "code_challenge")
    oauth_error(exchange(client, code, None), 400, "invalid_grant", "code_verifier absent")
    assert exchange(client, code, verifier).status_code == 200


def test_a_code_is_used_once(client: TestClient) -> None:
    verifier, challenge = pkce()
    code = login(client, authorize_params(challenge))
    assert exchange(client, code, verifier).status_code == 200
    oauth_error(exchange(client, code, verifier), 400, "invalid_grant", "déjà utilisé")


def test_a_code_is_bound_to_its_redirect_uri_and_client(client: TestClient) -> None:
    verifier, challenge = pkce()
    code = login(client, authorize_params(challenge))
    other = "http://127.0.0.1:53682/auth/callback"  # also registered for carnet-web, but not the one used
    oauth_error(exchange(client, code, verifier, redirect_uri=other), 400, "invalid_grant", "redirect_uri")
    oauth_error(exchange(client, code, verifier, client_id="demo-lgc", auth=("demo-lgc", "demo-lgc-secret")), 400,
                "invalid_grant", "autre client")  # fmt: skip
    assert exchange(client, code, verifier).status_code == 200


def test_a_forged_or_garbled_code_is_refused(client: TestClient) -> None:
    verifier, challenge = pkce()
    code = login(client, authorize_params(challenge))
    header, payload, signature = code.split(".")
    claims = jwt.decode(code, options={"verify_signature": False}) | {"user": "patient:277076322082910"}
    forged = f"{header}.{jwt.utils.base64url_encode(json.dumps(claims).encode()).decode()}.{signature}"
    oauth_error(exchange(client, forged, verifier), 400, "invalid_grant", "invalide")
    oauth_error(exchange(client, "not-a-code", verifier), 400, "invalid_grant", "invalide")


def test_a_confidential_client_must_authenticate_to_redeem_its_code(client: TestClient) -> None:
    verifier, challenge = pkce()
    params = authorize_params(challenge, client_id="demo-lgc")
    code = login(client, params)
    oauth_error(exchange(client, code, verifier, client_id="demo-lgc"), 401, "invalid_client", "secret")
    response = exchange(client, code, verifier, client_id="demo-lgc", auth=("demo-lgc", "demo-lgc-secret"))
    assert response.status_code == 200, response.text
    assert whoami(client, response.json()["access_token"])["id"] == "899700000001"


# --- client credentials ----------------------------------------------------------------------------------------


def test_client_credentials_with_basic_authentication_gives_an_app_token(client: TestClient) -> None:
    response = client.post("/dev-idp/token", data={"grant_type": "client_credentials", "scope": "patient/*.rs"},
                           auth=("demo-app", "demo-app-secret"))  # fmt: skip
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["token_type"], body["scope"], "id_token" in body) == ("Bearer", "patient/*.rs", False)
    me = whoami(client, body["access_token"])
    assert (me["kind"], me["id"], me["auth_method"], me["scopes"]) == ("app", "demo-app", "app_token", ["patient/*.rs"])
    assert jwt.decode(body["access_token"], options={"verify_signature": False})["patient"] == "279035121518989"


def test_client_credentials_with_post_authentication_defaults_to_the_allowed_scopes(client: TestClient) -> None:
    response = client.post("/dev-idp/token", data={"grant_type": "client_credentials", "client_id": "demo-lgc",
                                                   "client_secret": "demo-lgc-secret"})  # fmt: skip
    assert response.status_code == 200, response.text
    scopes = response.json()["scope"].split()
    assert set(scopes) == set(devusers.SMART_SYSTEM_SCOPES)
    assert whoami(client, response.json()["access_token"])["scopes"] == sorted(scopes)


@pytest.mark.parametrize(
    ("data", "auth", "status", "error", "words"),
    [
        ({"grant_type": "client_credentials"}, ("demo-app", "wrong"), 401, "invalid_client", "secret incorrect"),
        ({"grant_type": "client_credentials"}, ("nobody", "x"), 401, "invalid_client", "inconnu"),
        ({"grant_type": "client_credentials"}, None, 401, "invalid_client", "client_id absent"),
        ({"grant_type": "client_credentials", "client_id": "carnet-web"}, None, 400, "unauthorized_client", ""),
        ({"grant_type": "client_credentials", "scope": "system/*.rs"}, ("demo-app", "demo-app-secret"), 400,
         "invalid_scope", "system/*.rs"),
        ({"grant_type": "client_credentials", "scope": "openid"}, ("demo-lgc", "demo-lgc-secret"), 400,
         "invalid_scope", "openid"),
        ({"grant_type": "password"}, ("demo-lgc", "demo-lgc-secret"), 400, "unsupported_grant_type", "password"),
        ({}, ("demo-lgc", "demo-lgc-secret"), 400, "invalid_request", "grant_type"),
        ({"grant_type": "client_credentials", "client_secret": "demo-lgc-secret"}, ("demo-lgc", "demo-lgc-secret"),
         400, "invalid_request", "une seule méthode"),
    ],
)  # fmt: skip
def test_token_endpoint_errors_follow_oauth(
    client: TestClient, data: dict[str, str], auth: tuple[str, str] | None, status: int, error: str, words: str
) -> None:
    response = client.post("/dev-idp/token", data=data, auth=auth)
    oauth_error(response, status, error, words)
    if status == 401:
        assert response.headers["www-authenticate"].startswith("Basic")


def test_a_token_request_that_is_not_a_form_is_a_clean_error(client: TestClient) -> None:
    for kwargs in ({"json": {"grant_type": "client_credentials"}},
                   {"content": b"--x\r\nbroken", "headers": {"Content-Type": "multipart/form-data; boundary=x"}},
                   {"content": b"\xff\xfe", "headers": {"Authorization": "Basic %%%"}}):  # fmt: skip
        response = client.post("/dev-idp/token", **kwargs)
        assert response.status_code in (400, 401), response.text
        assert response.json()["error"] in ("invalid_request", "invalid_client")


# --- userinfo and switching off -------------------------------------------------------------------------------


def test_userinfo_gives_the_signed_in_users_claims(client: TestClient) -> None:
    token = signed_in(client, "patient:279035121518989")["access_token"]
    info = client.get("/dev-idp/userinfo", headers={"Authorization": f"Bearer {token}"}).json()
    assert (info["sub"], info["ins"], info["given_name"], info["family_name"]) == (
        "fc-279035121518989", "279035121518989", "Dominique", "PAT-TROIS")  # fmt: skip
    response = client.get("/dev-idp/userinfo")
    assert response.status_code == 401
    assert response.json()["resourceType"] == "OperationOutcome"


def test_the_provider_is_absent_when_switched_off(platform: Platform, api_settings: Settings) -> None:
    app = create_app(api_settings.model_copy(update={"dev_idp": False}), platform=platform)
    assert app.state.dev_idp is None
    with TestClient(app, raise_server_exceptions=False) as off:
        for method, path in (("GET", "/dev-idp/.well-known/openid-configuration"), ("GET", "/dev-idp/jwks"),
                             ("GET", "/dev-idp/authorize"), ("POST", "/dev-idp/token")):  # fmt: skip
            response = off.request(method, path)
            assert response.status_code == 404, path
            assert response.json()["resourceType"] == "OperationOutcome"


def test_the_demo_users_match_the_demo_data(platform: Platform) -> None:
    load_demo(platform)
    with platform.uow() as uow:
        for person in (*devusers.PATIENTS, *devusers.REPRESENTATIVES):
            row = uow.patients.by_ins(person.ins)
            assert row is not None, person
            assert (row.status, row.birth_date.isoformat()) == ("QUAL", person.birth_date), person
            for child in person.represents:
                assert uow.patients.by_ins(child) is not None
    assert devusers.PROFESSIONALS[0].national_id == "899700000001"  # carnet.demo's DEMO_DOCTOR


def test_the_demo_professionals_are_those_of_the_demo_directory() -> None:
    extract = resources.files("carnet.directory").joinpath("data/demo_directory.csv").read_text("utf-8")
    rows = [row for row in csv.DictReader(io.StringIO(extract)) if row["professional_id"]]
    for pro in devusers.PROFESSIONALS:
        mine = [row for row in rows if row["professional_id"] == pro.national_id]
        assert mine, pro
        row = mine[0]
        assert (row["family_name"], row["given_name"], row["profession_code"], row["specialty_code"] or None,
                row["active"]) == (pro.family_name, pro.given_name, pro.profession, pro.specialty, "1")  # fmt: skip
        assert pro.organisation_id in {r["organisation_id"] for r in mine}


# --- end to end, under uvicorn ---------------------------------------------------------------------------------


@dataclass
class Callback:
    """A loopback redirect URI, as a native app or a test harness listens on (RFC 8252)."""

    uri: str
    received: list[dict[str, str]]


@pytest.fixture
def loopback_callback() -> Iterator[Callback]:
    received: list[dict[str, str]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            query = parse_qs(urlsplit(self.path).query)
            received.append({key: values[0] for key, values in query.items()})
            body = "Connexion terminée, vous pouvez fermer cette page.".encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's signature
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Callback(f"http://127.0.0.1:{server.server_address[1]}/callback", received)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_the_authorization_code_flow_end_to_end(live_server: LiveServer, loopback_callback: Callback) -> None:
    issuer = f"{live_server.url}/dev-idp"
    with httpx.Client(timeout=10) as http_client:
        discovery = http_client.get(f"{issuer}/.well-known/openid-configuration").json()
        assert discovery["issuer"] == issuer
        verifier, challenge = pkce()
        params = authorize_params(challenge, redirect_uri=loopback_callback.uri, state=secrets.token_urlsafe(16))
        page = http_client.get(f"{discovery['authorization_endpoint']}?{urlencode(params)}")
        assert page.status_code == 200
        # Fill in the form as a browser does: its hidden fields, the chosen user, the submit button.
        document = lxml.html.fromstring(page.text, base_url=str(page.url))
        (form,) = document.forms
        fields = {name: value for name, value in form.form_values()}
        fields |= {"user": "patient:279035121518989", "action": "login"}
        action = httpx.URL(str(page.url)).join(form.action)
        answer = http_client.post(action, data=fields, follow_redirects=True)
        assert answer.status_code == 200 and "Connexion terminée" in answer.text
        (back,) = loopback_callback.received
        assert (back["state"], back["iss"]) == (params["state"], issuer)

        token_url = discovery["token_endpoint"]
        redeem = {"grant_type": "authorization_code", "code": back["code"], "redirect_uri": loopback_callback.uri,
                  "client_id": "carnet-web"}  # fmt: skip
        oauth = http_client.post(token_url, data=redeem | {"code_verifier": pkce()[0]})
        assert (oauth.status_code, oauth.json()["error"]) == (400, "invalid_grant")
        oauth = http_client.post(token_url, data=redeem | {"redirect_uri": f"{loopback_callback.uri}x",
                                                           "code_verifier": verifier})  # fmt: skip
        assert (oauth.status_code, oauth.json()["error"]) == (400, "invalid_grant")

        tokens = http_client.post(token_url, data=redeem | {"code_verifier": verifier})
        assert tokens.status_code == 200, tokens.text
        access = tokens.json()["access_token"]
        me = http_client.get(f"{live_server.url}/auth/whoami", headers={"Authorization": f"Bearer {access}"})
        assert me.status_code == 200, me.text
        assert (me.json()["kind"], me.json()["id"], me.json()["issuer"]) == ("patient", "279035121518989", issuer)
        info = http_client.get(discovery["userinfo_endpoint"], headers={"Authorization": f"Bearer {access}"})
        assert info.json()["ins"] == "279035121518989"

        reused = http_client.post(token_url, data=redeem | {"code_verifier": verifier})
        assert (reused.status_code, reused.json()["error"]) == (400, "invalid_grant")

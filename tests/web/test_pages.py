"""The portal pages without a browser: the session cookie, CSRF, the sign-in callback's checks, the errors as
HTML pages (the API keeps its OperationOutcome), the download, the language cookie, the stylesheet."""

from __future__ import annotations

import html
import time
from dataclasses import replace

import pytest
from fastapi.testclient import TestClient

from carnet.bootstrap import Platform
from carnet.record import service as record
from carnet.settings import Settings
from carnet.web import session as web_session
from carnet.web.auth import CLIENT_ID, _check_id_token, _safe_next
from carnet.web.patient import _class_options
from tests.api.conftest import LiveServer, Tokens
from tests.builders import DR_HOUSE, PLATFORM, example, in_care_team, qualified_patient

DOMINIQUE_INS = "279035121518989"
VSM = "VSM_1.4_2022.01.xml"


def _signed_in(client: TestClient, token: str, *, settings: Settings | None = None, csrf: str = "jeton-csrf") -> None:
    settings = settings or client.app.state.settings  # type: ignore[attr-defined]
    value = web_session.sign(settings, "session", {"token": token, "csrf": csrf, "exp": int(time.time()) + 600})
    client.cookies.set(web_session.SESSION_COOKIE, value)


def _dominique_with_a_summary(platform: Platform) -> tuple[str, str]:
    patient_id = qualified_patient(platform)
    in_care_team(platform, patient_id, DR_HOUSE)
    with platform.uow() as uow:
        entry = record.deposit(uow=uow, actor=PLATFORM, patient_id=patient_id, content=example(VSM)).entry
        uow.commit()
    return patient_id, entry.id


def test_a_page_without_session_sends_to_sign_in(client: TestClient) -> None:
    answer = client.get("/documents", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/connexion?next=%2Fdocuments"


def test_a_forged_or_expired_session_is_no_session(client: TestClient, tokens: Tokens, platform: Platform) -> None:
    _dominique_with_a_summary(platform)
    token = tokens.for_patient(DOMINIQUE_INS)
    other = Settings(secret_key="another-key-another-key-another-key-0000")  # type: ignore[arg-type]
    _signed_in(client, token, settings=other)
    assert client.get("/", follow_redirects=False).status_code == 303
    expired = tokens.for_patient(DOMINIQUE_INS, lifetime=-60)
    _signed_in(client, expired)
    assert client.get("/", follow_redirects=False).status_code == 303
    _signed_in(client, token)
    home = client.get("/", follow_redirects=False)
    assert home.status_code == 200
    assert "Bonjour Dominique PAT-TROIS" in home.text
    assert "Synthèse Médicale" in home.text
    assert home.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in home.headers["content-security-policy"]


def test_hiding_needs_the_session_csrf_token(client: TestClient, tokens: Tokens, platform: Platform) -> None:
    patient_id, document_id = _dominique_with_a_summary(platform)
    _signed_in(client, tokens.for_patient(DOMINIQUE_INS), csrf="le-bon-jeton")
    for form in ({}, {"csrf": "un-autre-jeton"}):
        refused = client.post(f"/documents/{document_id}/masquer", data=form, follow_redirects=False)
        assert refused.status_code == 403
        assert "Le formulaire a expiré" in refused.text
    with platform.uow() as uow:
        assert record.get_document(uow=uow, actor=DR_HOUSE, entry_id=document_id).hidden_from_professionals is False
    done = client.post(f"/documents/{document_id}/masquer", data={"csrf": "le-bon-jeton"}, follow_redirects=False)
    assert done.status_code == 303
    with platform.uow() as uow:
        listing = record.list_documents(uow=uow, actor=DR_HOUSE, patient_id=patient_id)
    assert document_id not in [e.id for e in listing.items]


def test_the_download_is_the_original_bytes(client: TestClient, tokens: Tokens, platform: Platform) -> None:
    _, document_id = _dominique_with_a_summary(platform)
    _signed_in(client, tokens.for_patient(DOMINIQUE_INS))
    answer = client.get(f"/documents/{document_id}/contenu")
    assert answer.status_code == 200
    assert answer.content == example(VSM)
    assert answer.headers["content-disposition"].startswith("attachment;")


def test_a_refused_document_is_an_html_page_and_the_api_keeps_its_outcome(
    client: TestClient, tokens: Tokens, platform: Platform
) -> None:
    _, document_id = _dominique_with_a_summary(platform)
    # A professional outside the care team, signed in to the portal: an HTML page, never JSON.
    stranger = replace(DR_HOUSE, id="810000000099", name="AUTRE Jean")
    _signed_in(client, tokens.for_actor(stranger))
    page = client.get(f"/documents/{document_id}")
    assert page.status_code == 403
    assert page.headers["content-type"].startswith("text/html")
    assert "Accès refusé" in page.text
    missing = client.get("/documents/inconnu")
    assert missing.status_code == 404 and "Page introuvable" in missing.text
    api = client.get("/auth/whoami")
    assert api.status_code == 401 and api.headers["content-type"].startswith("application/fhir+json")


def test_the_callback_checks_its_sign_in_request(client: TestClient) -> None:
    unknown = client.get("/auth/callback?code=x&state=y")
    assert unknown.status_code == 400 and "demande de connexion inconnue ou expirée" in unknown.text
    settings: Settings = client.app.state.settings  # type: ignore[attr-defined]
    login = {"state": "attendu", "nonce": "n", "verifier": "v" * 64, "issuer": "http://idp", "next": "/",
             "exp": int(time.time()) + 60}  # fmt: skip
    client.cookies.set(web_session.LOGIN_COOKIE, web_session.sign(settings, "login", login))
    wrong_state = client.get("/auth/callback?code=x&state=autre")
    assert wrong_state.status_code == 400 and "state incorrect" in wrong_state.text
    client.cookies.set(web_session.LOGIN_COOKIE, web_session.sign(settings, "login", login))
    wrong_issuer = client.get("/auth/callback?code=x&state=attendu&iss=http://ailleurs")
    assert wrong_issuer.status_code == 400 and "autre fournisseur" in wrong_issuer.text


def test_pages_are_not_in_the_openapi_schema_and_the_stylesheet_is_served(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert not [p for p in paths if p == "/" or p.startswith(("/documents", "/connexion", "/static", "/auth/cal"))]
    css = client.get("/static/carnet.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert "--c-primary" in css.text
    assert client.get("/static/..%2Fsession.py").status_code == 404


def test_english_is_chosen_and_remembered(client: TestClient) -> None:
    answer = client.get("/connexion/terminee?lang=en")
    assert '<html lang="en">' in answer.text and "Sign in" in answer.text
    assert answer.cookies.get("lang") == "en"
    assert '<html lang="en">' in client.get("/connexion/terminee").text
    assert '<html lang="fr">' in client.get("/connexion/terminee?lang=fr").text
    assert '<html lang="fr">' in client.get("/connexion/terminee?lang=xx").text


def test_after_sign_in_the_browser_returns_only_to_a_local_path() -> None:
    assert _safe_next("/documents/abc?fait=masque") == "/documents/abc?fait=masque"
    for outside in ("https://ailleurs.example/", "//ailleurs.example/", "/\\ailleurs.example", "", None):
        assert _safe_next(outside) == "/"


def test_the_id_token_must_carry_the_sign_in_nonce_and_be_for_the_portal(live_server: LiveServer) -> None:
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    import httpx
    import jwt

    idp = live_server.app.state.dev_idp
    config = httpx.get(f"{idp.issuer}/.well-known/openid-configuration").json()

    def check(token: str) -> None:
        # In its own thread: Playwright's sync API may already run an event loop in this one.
        with ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, _check_id_token(config, idp.issuer, token, "le-nonce")).result()

    check(idp.mint({"nonce": "le-nonce"}, subject="fc-x", audience=CLIENT_ID))
    with pytest.raises(ValueError, match="nonce"):
        check(idp.mint({"nonce": "un-autre"}, subject="fc-x", audience=CLIENT_ID))
    with pytest.raises(jwt.InvalidAudienceError):
        check(idp.mint({"nonce": "le-nonce"}, subject="fc-x", audience="demo-app"))
    with pytest.raises(jwt.MissingRequiredClaimError):
        check(idp.mint({}, subject="fc-x", audience=CLIENT_ID))


def test_instants_are_shown_in_french_legal_time() -> None:
    import datetime as dt

    from carnet.web.templating import _date, _time

    late = dt.datetime(2026, 1, 1, 23, 30, tzinfo=dt.UTC)  # winter: UTC+1
    assert (_date(late), _time(late)) == ("02/01/2026", "00:30")
    assert _date(dt.datetime(2026, 7, 14, 12, 0), "en") == "2026-07-14"  # naive: taken as UTC
    assert _time(dt.datetime(2026, 7, 14, 12, 0)) == "14:00"  # summer: UTC+2


def test_the_documents_are_filtered_by_class_depositor_and_dates(
    client: TestClient, tokens: Tokens, platform: Platform
) -> None:
    _, document_id = _dominique_with_a_summary(platform)
    with platform.uow() as uow:
        class_code = record.get_document(uow=uow, actor=DR_HOUSE, entry_id=document_id).metadata.class_code
    _signed_in(client, tokens.for_patient(DOMINIQUE_INS))

    def shown(query: str) -> bool:
        answer = client.get(f"/documents?{query}")
        assert answer.status_code == 200
        return f'href="/documents/{document_id}"' in answer.text

    assert shown("") and shown("par=pro") and shown(f"classe={class_code}")
    assert shown("du=2020-03-12&au=2020-03-12")  # the summary was written on 12 March 2020
    assert not shown("par=moi")
    assert not shown("du=2020-03-13")
    assert not shown("au=2020-03-11")
    other_class = next(code for code, _ in _class_options() if code != class_code)
    assert not shown(f"classe={other_class}")
    assert not shown("q=synthese&par=moi")  # the search takes the filters too
    refused = client.get("/documents?du=pas-une-date&classe=inconnue")
    assert "Un filtre n'a pas été compris" in html.unescape(refused.text)
    assert f'href="/documents/{document_id}"' in refused.text  # the unreadable filters are not applied


def test_a_notification_is_marked_read_with_the_csrf_token(
    client: TestClient, tokens: Tokens, platform: Platform
) -> None:
    from carnet.notify import service as notify

    patient_id, _ = _dominique_with_a_summary(platform)
    with platform.uow() as uow:
        unread = [n for n in notify.list_for(uow=uow, patient_id=patient_id) if n.read_at is None]
    assert unread  # the deposit notified her
    _signed_in(client, tokens.for_patient(DOMINIQUE_INS), csrf="le-bon-jeton")
    home = client.get("/")
    assert f'action="/notifications/{unread[0].id}/lue"' in home.text
    target = f"/notifications/{unread[0].id}/lue"
    assert client.post(target, data={"csrf": "autre"}, follow_redirects=False).status_code == 403
    assert client.post(target, data={"csrf": "le-bon-jeton"}, follow_redirects=False).status_code == 303
    with platform.uow() as uow:
        assert next(n for n in notify.list_for(uow=uow, patient_id=patient_id) if n.id == unread[0].id).read_at
    assert f'action="/notifications/{unread[0].id}/lue"' not in client.get("/").text
    someone_else = client.post("/notifications/inconnue/lue", data={"csrf": "le-bon-jeton"})
    assert someone_else.status_code == 404 and "text/html" in someone_else.headers["content-type"]

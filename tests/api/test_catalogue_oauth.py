"""An app of the catalogue connects through a real OAuth 2.0 client (Authlib, authorization code with PKCE) to the
platform served by uvicorn: the holder's consent screen lists exactly the convention's categories, the app reads a
document with its token, then the holder disconnects it (its next call refused), it connects again and its
referencing is withdrawn (refused again); an app that feeds the vitals adds a measure with its token (in the
holder's vitals, source "app") but may not add an event while the holder did not let it feed the agenda (403,
traced), nor a past one when it may, nor anything once withdrawn; categories beyond the convention and bad token
requests are refused with their reasons; both backends."""

from __future__ import annotations

import datetime as dt
import html
import re
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import OAuth2Client, OAuthError
from sqlalchemy import select

from carnet.audit.store import AuditRow
from carnet.bootstrap import Platform
from carnet.catalogue import service as catalogue
from carnet.catalogue.model import CLASS_SYSTEM
from carnet.space import agenda, profile
from carnet.web import session as web_session
from tests.api.conftest import LiveServer
from tests.builders import patient_as
from tests.catalogue_builders import CALLBACK, OPERATOR, referenced_app
from tests.web.test_pages import DOMINIQUE_INS, _dominique_with_a_summary

CSRF = "jeton-csrf-catalogue"
SUMMARIES = f"patient/DocumentReference.rs?category={CLASS_SYSTEM}|11"
_OPEN: list[httpx.Client] = []


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    """Every HTTP client a test opens (the holder's browser, the app's OAuth client) is closed after it."""
    yield
    while _OPEN:
        _OPEN.pop().close()


def _holder_browser(live: LiveServer) -> httpx.Client:
    """The holder's browser, signed in to the patient portal (a session cookie of the portal)."""
    token = live.tokens.for_patient(DOMINIQUE_INS)
    value = web_session.sign(live.app.state.settings, "session", {"token": token, "csrf": CSRF,
                                                                    "exp": int(time.time()) + 600})  # fmt: skip
    browser = httpx.Client(base_url=live.url, follow_redirects=False, timeout=30)
    _OPEN.append(browser)
    browser.cookies.set(web_session.SESSION_COOKIE, value)
    return browser


def _server_metadata(live: LiveServer) -> dict[str, Any]:
    answer = httpx.get(f"{live.url}/catalogue/.well-known/oauth-authorization-server", timeout=30)
    assert answer.status_code == 200
    body: dict[str, Any] = answer.json()
    assert body["issuer"] == f"{live.url}/catalogue" and body["code_challenge_methods_supported"] == ["S256"]
    return body


def _app_client(app_id: str, scope: str) -> OAuth2Client:
    client = OAuth2Client(client_id=app_id, redirect_uri=CALLBACK, scope=scope, code_challenge_method="S256",
                          token_endpoint_auth_method="none", timeout=30)  # fmt: skip
    _OPEN.append(client)
    return client


def _consent_fields(page: str) -> dict[str, str]:
    return {html.unescape(name): html.unescape(value)
            for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page)}  # fmt: skip


def _connect(live: LiveServer, browser: httpx.Client, app_id: str, scope: str) -> tuple[OAuth2Client, dict[str, Any]]:
    """The app sends the holder to the consent screen, the holder accepts, the app redeems the code."""
    meta = _server_metadata(live)
    client = _app_client(app_id, scope)
    verifier = generate_token(48)
    url, state = client.create_authorization_url(meta["authorization_endpoint"], code_verifier=verifier)
    screen = browser.get(url)
    assert screen.status_code == 200, screen.text
    text = html.unescape(screen.text)
    assert "Autoriser « Tensio » à accéder à vos données" in text
    fields = _consent_fields(screen.text)
    assert fields["csrf"] == CSRF and fields["code_challenge_method"] == "S256"
    answered = browser.post("/applications/autoriser", data={**fields, "decision": "autoriser"})
    assert answered.status_code == 303, answered.text
    location = answered.headers["location"]
    assert location.startswith(CALLBACK) and parse_qs(urlsplit(location).query)["state"] == [state]
    token = client.fetch_token(meta["token_endpoint"], authorization_response=location, code_verifier=verifier)
    return client, dict(token)


def _trail(platform: Platform, patient_id: str) -> list[str]:
    with platform.uow() as uow:
        stmt = select(AuditRow.action).where(AuditRow.patient_id == patient_id).order_by(AuditRow.id)
        return list(uow.session.scalars(stmt))


def test_an_app_connects_reads_a_document_and_loses_access_on_disconnection_then_withdrawal(
    live_server: LiveServer, platform: Platform
) -> None:
    patient_id, summary_id = _dominique_with_a_summary(platform)
    app_id = referenced_app(platform, granted=("11", "vitals"))
    browser = _holder_browser(live_server)

    # The consent screen lists exactly what the convention grants when the app names no category.
    meta = _server_metadata(live_server)
    screen = browser.get(meta["authorization_endpoint"], params={
        "response_type": "code", "client_id": app_id, "redirect_uri": CALLBACK, "state": "s1",
        "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", "code_challenge_method": "S256"})  # fmt: skip
    listed = re.findall(r"<li class=\"list__item\"><strong>([^<]+)</strong>", screen.text)
    assert [html.unescape(x) for x in listed] == ["Synthèse", "Constantes de santé"]

    app, token = _connect(live_server, browser, app_id, f"launch/patient {SUMMARIES}")
    assert token["patient"] == patient_id and token["token_type"] == "Bearer"
    assert "patient/DocumentReference.rs" in token["scope"].split()
    found = app.get(f"{live_server.url}/fhir/DocumentReference", params={"patient": patient_id})
    assert found.status_code == 200, found.text
    assert [e["resource"]["id"] for e in found.json().get("entry", [])] == [summary_id]
    content = app.get(f"{live_server.url}/fhir/Binary/{summary_id}")
    assert content.status_code == 200 and b"ClinicalDocument" in content.content

    # The connection is a grant shown with the app's name in "qui peut accéder".
    who = html.unescape(browser.get("/acces").text)
    assert "Tensio" in who and "application référencée — Tensio SAS" in who and "Synthèse" in who

    page = browser.get("/applications")
    (connection_id,) = re.findall(r'action="/applications/connexions/([^/]+)/deconnecter"', page.text)
    done = browser.post(f"/applications/connexions/{connection_id}/deconnecter", data={"csrf": CSRF})
    assert done.status_code == 303 and "fait=deconnectee" in done.headers["location"]
    refused = app.get(f"{live_server.url}/fhir/DocumentReference/{summary_id}")
    assert refused.status_code == 401, refused.text
    assert "déconnecté" in refused.json()["issue"][0]["diagnostics"]

    again, _ = _connect(live_server, browser, app_id, SUMMARIES)
    assert again.get(f"{live_server.url}/fhir/DocumentReference/{summary_id}").status_code == 200
    with platform.uow() as uow:
        catalogue.withdraw(uow=uow, member=OPERATOR, app_id=app_id, reason="manquement aux engagements éthiques")
        uow.commit()
    withdrawn = again.get(f"{live_server.url}/fhir/DocumentReference/{summary_id}")
    assert withdrawn.status_code == 401 and "retiré" in withdrawn.json()["issue"][0]["diagnostics"]
    assert "Tensio" not in html.unescape(browser.get("/acces").text)
    trail = _trail(platform, patient_id)
    for action in ("catalogue.connect", "catalogue.token", "catalogue.disconnect", "catalogue.withdrawal_disconnect",
                   "consent.grant_revoked"):  # fmt: skip
        assert action in trail


def test_categories_beyond_the_convention_are_refused_with_the_reason(
    live_server: LiveServer, platform: Platform
) -> None:
    patient_id, _ = _dominique_with_a_summary(platform)
    app_id = referenced_app(platform, granted=("11",))
    browser = _holder_browser(live_server)
    meta = _server_metadata(live_server)
    client = _app_client(app_id, f"{SUMMARIES} patient/Observation.rs")
    url, state = client.create_authorization_url(meta["authorization_endpoint"], code_verifier=generate_token(48))
    answer = browser.get(url)
    assert answer.status_code == 303
    back = parse_qs(urlsplit(answer.headers["location"]).query)
    assert back["error"] == ["invalid_scope"] and back["state"] == [state]
    assert back["error_description"] == ["catégories de données hors de la convention de l'application : "
                                         "Constantes de santé"]  # fmt: skip
    assert "catalogue.authorize_refused" in _trail(platform, patient_id)
    with platform.uow() as uow:
        assert [g for g in uow.access.grants(patient_id) if g.grantee_kind == "app"] == []


@pytest.mark.parametrize(
    ("change", "status", "fragment"),
    [
        ({"client_id": "inconnue"}, 400, "application inconnue du catalogue"),
        ({"redirect_uri": "https://ailleurs.example/cb"}, 400, "adresse de retour non enregistrée"),
    ],
)
def test_an_untrusted_client_or_redirect_is_said_on_a_page_never_redirected(
    live_server: LiveServer, platform: Platform, change: dict[str, str], status: int, fragment: str
) -> None:
    _dominique_with_a_summary(platform)
    app_id = referenced_app(platform)
    browser = _holder_browser(live_server)
    params = {"response_type": "code", "client_id": app_id, "redirect_uri": CALLBACK, "state": "s",
              "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", "code_challenge_method": "S256",
              **change}  # fmt: skip
    answer = browser.get("/applications/autoriser", params=params)
    assert answer.status_code == status and fragment in html.unescape(answer.text)


def test_bad_authorization_and_token_requests_are_refused_with_their_reasons(
    live_server: LiveServer, platform: Platform
) -> None:
    _dominique_with_a_summary(platform)
    app_id = referenced_app(platform)
    browser = _holder_browser(live_server)
    meta = _server_metadata(live_server)
    no_pkce = browser.get("/applications/autoriser", params={"response_type": "code", "client_id": app_id,
                                                             "redirect_uri": CALLBACK})  # fmt: skip
    assert parse_qs(urlsplit(no_pkce.headers["location"]).query)["error_description"][0].startswith("PKCE obligatoire")
    for scope, reason in (("patient/Observation.cud", "ne permet pas à l'application d'alimenter : Constantes de "
                           "santé"), ("patient/DocumentReference.c", "ne dépose pas de documents")):  # fmt: skip
        writes = browser.get("/applications/autoriser", params={
            "response_type": "code", "client_id": app_id, "redirect_uri": CALLBACK, "scope": scope,
            "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            "code_challenge_method": "S256"})  # fmt: skip
        assert reason in parse_qs(urlsplit(writes.headers["location"]).query)["error_description"][0]

    client = _app_client(app_id, SUMMARIES)
    url, _ = client.create_authorization_url(meta["authorization_endpoint"], code_verifier=generate_token(48))
    fields = _consent_fields(browser.get(url).text)
    location = browser.post("/applications/autoriser", data={**fields, "decision": "autoriser"}).headers["location"]
    with pytest.raises(OAuthError, match="code_verifier ne correspond pas"):
        client.fetch_token(meta["token_endpoint"], authorization_response=location, code_verifier=generate_token(48))
    code = parse_qs(urlsplit(location).query)["code"][0]
    replay = httpx.post(meta["token_endpoint"], data={"grant_type": "authorization_code", "code": code,
                                                      "client_id": app_id, "redirect_uri": CALLBACK,
                                                      "code_verifier": generate_token(48)}, timeout=30)  # fmt: skip
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"  # spent by the failed attempt
    for form, error in (({"grant_type": "password"}, "unsupported_grant_type"), ({}, "invalid_request"),
                        ({"grant_type": "authorization_code", "code": "x"}, "invalid_client")):  # fmt: skip
        assert httpx.post(meta["token_endpoint"], data=form, timeout=30).json()["error"] == error

    refused = browser.post("/applications/autoriser", data={**fields, "decision": "refuser"})
    assert parse_qs(urlsplit(refused.headers["location"]).query)["error"] == ["access_denied"]
    forged = browser.post("/applications/autoriser", data={**fields, "csrf": "faux", "decision": "autoriser"})
    assert forged.status_code == 403


VITAL_SIGNS = "http://terminology.hl7.org/CodeSystem/observation-category"
EVENT_KIND = "https://carnet.sante.fr/fhir/CodeSystem/agenda-event-kind"


def _weight(patient_id: str, when: dt.datetime) -> dict[str, Any]:
    return {"resourceType": "Observation", "status": "final",
            "category": [{"coding": [{"system": VITAL_SIGNS, "code": "vital-signs"}]}],
            "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7", "display": "Body weight"}]},
            "subject": {"reference": f"Patient/{patient_id}"}, "effectiveDateTime": when.isoformat(),
            "valueQuantity": {"value": 71.5, "unit": "kg", "system": "http://unitsofmeasure.org",
                              "code": "kg"}}  # fmt: skip


def _appointment(patient_id: str, start: dt.datetime) -> dict[str, Any]:
    return {"resourceType": "Appointment", "status": "booked", "description": "Contrôle tensionnel",
            "appointmentType": {"coding": [{"system": EVENT_KIND, "code": "appointment"}]},
            "start": start.isoformat(), "end": (start + dt.timedelta(minutes=20)).isoformat(),
            "participant": [{"actor": {"reference": f"Patient/{patient_id}"}, "status": "accepted"}]}  # fmt: skip


def _denied(platform: Platform, patient_id: str, action: str) -> list[dict[str, Any]]:
    with platform.uow() as uow:
        stmt = select(AuditRow).where(AuditRow.patient_id == patient_id, AuditRow.action == action,
                                      AuditRow.outcome == "denied")  # fmt: skip
        return [dict(r.detail or {}) for r in uow.session.scalars(stmt)]


def test_an_app_feeds_the_vitals_with_its_token_but_only_what_the_holder_let_it_feed(
    live_server: LiveServer, platform: Platform
) -> None:
    patient_id, _ = _dominique_with_a_summary(platform)
    app_id = referenced_app(platform, granted=("11",), fed=("vitals", "agenda"))
    browser = _holder_browser(live_server)
    base, now = live_server.url, platform.clock.now()
    scope = f"launch/patient {SUMMARIES} patient/Observation.c"

    # The consent screen says apart what the app will read and what it will add to the space.
    meta = _server_metadata(live_server)
    assert {"patient/Appointment.cu", "patient/Immunization.c", "patient/AllergyIntolerance.c",
            f"patient/Observation.c?category={VITAL_SIGNS}|vital-signs"} <= set(meta["scopes_supported"])  # fmt: skip
    client = _app_client(app_id, scope)
    url, _ = client.create_authorization_url(meta["authorization_endpoint"], code_verifier=generate_token(48))
    screen = html.unescape(browser.get(url).text)
    reads, adds = (re.findall(r"<strong>([^<]+)</strong>", part) for part in
                   screen.split('id="alimentation"', 1))  # fmt: skip
    assert reads == ["Synthèse"] and adds == ["Constantes de santé"]
    assert (
        "Ce que l'application pourra lire" in screen and "Ce que l'application pourra ajouter à votre espace" in screen
    )
    assert f"patient/Observation.c?category={VITAL_SIGNS}|vital-signs" in screen

    app, token = _connect(live_server, browser, app_id, scope)
    granted = token["scope"].split()
    assert "patient/Observation.c" in granted and "patient/Observation.rs" not in granted
    assert "patient/Appointment.cu" not in granted

    made = app.post(f"{base}/fhir/Observation", json=_weight(patient_id, now - dt.timedelta(hours=1)))
    assert made.status_code == 201, made.text
    with platform.uow() as uow:
        (measure,) = profile.list_measures(uow=uow, actor=patient_as(patient_id), patient_id=patient_id)
    assert measure.id == made.json()["id"] and (measure.source.kind, measure.source.id) == ("app", app_id)
    assert app.get(f"{base}/fhir/Observation", params={"patient": patient_id}).status_code == 403  # feeds, not reads

    # The agenda: the convention allows it, the holder did not: refused, and traced in the holder's history.
    refused = app.post(f"{base}/fhir/Appointment", json=_appointment(patient_id, now + dt.timedelta(days=3)))
    assert refused.status_code == 403 and refused.json()["resourceType"] == "OperationOutcome"
    assert "Appointment (c)" in refused.json()["issue"][0]["diagnostics"]
    (trace,) = _denied(platform, patient_id, "agenda.event_refused")
    assert trace["resource"] == "Appointment" and trace["interaction"] == "c"

    # Connected again with the agenda: a future event is added, a past one refused as for any app.
    again, token = _connect(live_server, browser, app_id, "patient/Observation.c patient/Appointment.c")
    assert {"patient/Observation.c", "patient/Appointment.cu"} <= set(token["scope"].split())
    past = again.post(f"{base}/fhir/Appointment", json=_appointment(patient_id, now - dt.timedelta(days=1)))
    assert past.status_code == 422 and [i["expression"] for i in past.json()["issue"]] == [["Appointment.start"]]
    booked = again.post(f"{base}/fhir/Appointment", json=_appointment(patient_id, now + dt.timedelta(days=3)))
    assert booked.status_code == 201, booked.text
    with platform.uow() as uow:
        (event,) = agenda.list_events(uow=uow, actor=patient_as(patient_id), patient_id=patient_id)
    assert (event.source_kind, event.source_id, event.status) == ("app", app_id, "booked")
    assert again.get(f"{base}/fhir/DocumentReference", params={"patient": patient_id}).status_code == 403  # not asked

    with platform.uow() as uow:
        catalogue.withdraw(uow=uow, member=OPERATOR, app_id=app_id, reason="manquement aux engagements éthiques")
        uow.commit()
    after = again.post(f"{base}/fhir/Observation", json=_weight(patient_id, now - dt.timedelta(minutes=5)))
    assert after.status_code == 401 and "retiré" in after.json()["issue"][0]["diagnostics"]
    with platform.uow() as uow:
        assert len(profile.list_measures(uow=uow, actor=patient_as(patient_id), patient_id=patient_id)) == 1
        assert all(g.revoked_at is not None for g in uow.access.grants(patient_id) if g.grantee_kind == "app")

"""Automated accessibility check: axe-core (npm, tests/web/package-lock.json) run in Debian's Chromium on the main
pages of the patient's space, of the professional portal and on the development identity provider's login page; no
serious or critical violation of WCAG 2.1 A/AA rules is allowed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from carnet.bootstrap import Platform
from tests.api.conftest import LiveServer
from tests.builders import in_care_team
from tests.web.conftest import _missing
from tests.web.test_patient_journey import _dominique_with_a_summary, _sign_in
from tests.web.test_pro_journey import DR_MARTIN, _vsm_by
from tests.web.test_pro_journey import _sign_in as _sign_in_as
from tests.web.test_pro_pages import _operative_report_by

AXE = Path(__file__).resolve().parent / "node_modules" / "axe-core" / "axe.min.js"
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


def _violations(page: Any) -> list[dict[str, Any]]:
    page.evaluate(AXE.read_text("utf-8"))
    result = page.evaluate("tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", TAGS)
    return [v for v in result["violations"] if v["impact"] in ("serious", "critical")]


def _summary(violations: list[dict[str, Any]]) -> str:
    return json.dumps([{"id": v["id"], "help": v["help"], "nodes": [n["target"] for n in v["nodes"]][:5]}
                       for v in violations], ensure_ascii=False, indent=1)  # fmt: skip


def test_the_main_pages_have_no_serious_accessibility_violation(
    live_server: LiveServer, platform: Platform, chromium: Any, screenshot: Any
) -> None:
    if not AXE.is_file():
        _missing("axe-core is not installed (make chromium: npm ci in tests/web)")
    _, document_id = _dominique_with_a_summary(platform)
    # axe is injected through the DevTools protocol; the pages' Content-Security-Policy stays on.
    context = chromium.new_context(locale="fr-FR", viewport={"width": 390, "height": 844})  # a phone
    context.set_default_timeout(15_000)
    page = context.new_page()
    try:
        _sign_in(page, live_server, "Dominique PAT-TROIS")
        found: dict[str, list[dict[str, Any]]] = {}
        for path in ("/", "/documents", f"/documents/{document_id}", "/documents?q=synthese", "/historique",
                     "/?lang=en", "/connexion/terminee?lang=fr"):  # fmt: skip
            page.goto(f"{live_server.url}{path}")
            name = path.strip("/").replace("/", "-").replace("?", "-").replace("=", "-") or "home"
            screenshot(page, f"phone-{name[:40]}")
            violations = _violations(page)
            if violations:
                found[path] = violations
        assert not found, "\n".join(f"{path}: {_summary(v)}" for path, v in found.items())
    finally:
        context.close()


@pytest.mark.parametrize("path", ["/connexion/terminee"])
def test_a_page_is_usable_with_the_keyboard_alone(live_server: LiveServer, browser_page: Any, path: str) -> None:
    page = browser_page
    page.goto(f"{live_server.url}{path}")
    page.keyboard.press("Tab")
    skip = page.locator(":focus")
    assert skip.inner_text() == "Aller au contenu" and skip.is_visible()
    page.keyboard.press("Enter")
    assert page.url.endswith("#contenu")


def _phone(chromium: Any) -> Any:
    context = chromium.new_context(locale="fr-FR", viewport={"width": 390, "height": 844})
    context.set_default_timeout(15_000)
    return context


def test_the_professional_pages_have_no_serious_accessibility_violation(
    live_server: LiveServer, platform: Platform, chromium: Any, screenshot: Any
) -> None:
    if not AXE.is_file():
        _missing("axe-core is not installed (make chromium: npm ci in tests/web)")
    patient_id, summary_id = _dominique_with_a_summary(platform)
    in_care_team(platform, patient_id, DR_MARTIN)
    report_id = _operative_report_by(platform, patient_id, DR_MARTIN)
    context = _phone(chromium)
    page = context.new_page()
    try:
        _sign_in_as(page, live_server, "Dr Paul MARTIN")
        found: dict[str, list[dict[str, Any]]] = {}

        def check(name: str) -> None:
            screenshot(page, f"phone-pro-{name}")
            violations = _violations(page)
            if violations:
                found[name] = violations

        for name, path in (("home", "/pro"), ("search", "/pro/patients?ins=279035121518989"),
                           ("patient", f"/pro/patients/{patient_id}"),
                           ("patient-en", f"/pro/patients/{patient_id}?lang=en"),
                           ("documents", f"/pro/patients/{patient_id}/documents?lang=fr"),
                           ("documents-search", f"/pro/patients/{patient_id}/documents?q=synthese"),
                           ("summary", f"/pro/documents/{summary_id}"), ("report", f"/pro/documents/{report_id}"),
                           ("deposit", f"/pro/patients/{patient_id}/deposer")):  # fmt: skip
            page.goto(f"{live_server.url}{path}")
            check(name)
        broken = _vsm_by(DR_MARTIN.id).replace(b'code="SYNTH"', b'code="PAS-UN-TYPE"', 1)
        page.get_by_label("Fichier CDA (XML)").set_input_files({"name": "casse.xml", "mimeType": "text/xml",
                                                                "buffer": broken})  # fmt: skip
        page.get_by_role("button", name="Vérifier et déposer").click()
        page.locator("#cda-problemes").wait_for()
        check("deposit-refused")
        page.goto(f"{live_server.url}/pro/patients/{patient_id}")
        page.get_by_label("Justification de l'urgence").fill("Patient inconscient aux urgences, sans proche")
        page.get_by_role("button", name="Déclarer l'accès en urgence").click()
        page.wait_for_url("**?fait=urgence")
        check("emergency-declared")
        assert not found, "\n".join(f"{name}: {_summary(v)}" for name, v in found.items())
    finally:
        context.close()


def test_the_development_identity_providers_login_page_has_no_serious_violation(
    live_server: LiveServer, chromium: Any, screenshot: Any
) -> None:
    if not AXE.is_file():
        _missing("axe-core is not installed (make chromium: npm ci in tests/web)")
    context = _phone(chromium)
    page = context.new_page()
    try:
        page.goto(f"{live_server.url}/pro")  # not signed in: the identity provider's login page
        assert "/dev-idp/authorize" in page.url
        screenshot(page, "phone-dev-idp-login")
        violations = _violations(page)
        assert not violations, _summary(violations)
    finally:
        context.close()

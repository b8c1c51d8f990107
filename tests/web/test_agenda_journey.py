"""The agenda in a real browser (Debian's Chromium driven by Playwright), both backends: the holder adds an event,
sees it in its month, makes the calendar's address, copies it and downloads the .ics (parsed back with
``icalendar``); axe-core finds no serious or critical WCAG 2.1 A/AA violation on « Mon agenda » and « Mes
remboursements », at phone width, in French and English, with a refused event on screen."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import icalendar

from carnet.bootstrap import Platform
from carnet.space import agenda, reimbursements
from tests.api.conftest import LiveServer
from tests.builders import patient_as, qualified_patient
from tests.web.conftest import _missing
from tests.web.test_accessibility import AXE, _phone, _summary, _violations
from tests.web.test_pages import DOMINIQUE_INS
from tests.web.test_patient_journey import _sign_in


def _add(page: Any, live: LiveServer, title: str, day: str, hour: str) -> None:
    page.goto(f"{live.url}/espace/agenda")
    page.get_by_label("Type").select_option(label="Rendez-vous")
    page.get_by_label("Intitulé").fill(title)
    page.get_by_label("Date", exact=True).fill(day)
    page.get_by_label("Heure (heure de Paris)").fill(hour)
    page.get_by_label("Durée en minutes (facultatif)").fill("30")
    page.get_by_label("Lieu").fill("Cabinet dentaire, 4 rue Haute")
    page.get_by_role("button", name="Ajouter à mon agenda").click()


def test_the_holder_adds_an_event_sees_it_and_downloads_the_ics(
    live_server: LiveServer, platform: Platform, browser_page: Any, screenshot: Any, tmp_path: Path
) -> None:
    patient_id = qualified_patient(platform)
    page = browser_page
    _sign_in(page, live_server, "Dominique PAT-TROIS")

    _add(page, live_server, "Dentiste : détartrage", "2026-12-03", "14:30")
    page.wait_for_url("**/espace/agenda?mois=2026-12&fait=ajoute#confirmation")
    assert "L'événement a été ajouté à votre agenda." in page.get_by_role("status").first.inner_text()
    day = page.get_by_role("region", name="03/12/2026")
    assert "14:30 – 15:00" in day.inner_text() and "Dentiste : détartrage" in day.inner_text()
    screenshot(page, "01-agenda")

    page.get_by_role("button", name="Créer l'adresse de mon agenda").click()
    page.wait_for_url("**/espace/agenda?fait=adresse#adresse")
    address = page.get_by_label("Adresse de mon agenda (iCalendar)").input_value()
    assert address.startswith(live_server.url + "/agenda/") and address.endswith(".ics")
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    page.get_by_role("button", name="Copier l'adresse").click()
    page.locator("#copie-faite", has_text="Adresse copiée.").wait_for()
    screenshot(page, "02-address")

    with page.expect_download() as download:
        page.get_by_role("link", name="Télécharger le fichier .ics").click()
    saved = tmp_path / "agenda.ics"
    download.value.save_as(saved)
    calendar = icalendar.Calendar.from_ical(saved.read_bytes())
    [event] = list(calendar.walk("VEVENT"))
    assert (
        str(event["SUMMARY"]) == "Dentiste : détartrage" and str(event["LOCATION"]) == "Cabinet dentaire, 4 rue Haute"
    )
    assert event["DTSTART"].dt.isoformat() == "2026-12-03T13:30:00+00:00"
    assert saved.read_bytes().count(b"\r\n") == len(saved.read_bytes().splitlines())

    with platform.uow() as uow:
        stored = agenda.list_events(uow=uow, actor=patient_as(patient_id), patient_id=patient_id)
    assert [e.title for e in stored] == ["Dentiste : détartrage"]


def test_the_agenda_pages_have_no_serious_accessibility_violation(
    live_server: LiveServer, platform: Platform, chromium: Any, screenshot: Any
) -> None:
    if not AXE.is_file():
        _missing("axe-core is not installed (make chromium: npm ci in tests/web)")
    patient_id = qualified_patient(platform)
    feed = ("line_id;ins;care_date;act_code;act_label;professional;paid;reimbursed;left_to_pay\r\n"
            f"AM-1;{DOMINIQUE_INS};2026-10-02;GS;Consultation;Dr Claire MOREAU;30.00;20.00;\r\n").encode()  # fmt: skip
    with platform.uow() as uow:
        reimbursements.import_feed(uow=uow, data=feed, fmt="csv")
        agenda.feed_token(uow=uow, actor=patient_as(patient_id), patient_id=patient_id)
        uow.commit()
    context = _phone(chromium)
    page = context.new_page()
    found: dict[str, list[dict[str, Any]]] = {}

    def check(name: str) -> None:
        screenshot(page, f"phone-{name}")
        violations = _violations(page)
        if violations:
            found[name] = violations

    try:
        _sign_in(page, live_server, "Dominique PAT-TROIS")
        _add(page, live_server, "Vaccin grippe", "2026-11-28", "10:00")
        page.wait_for_url("**fait=ajoute**")
        for name, path in (("agenda", "/espace/agenda?mois=2026-11"), ("agenda-en", "/espace/agenda?lang=en"),
                           ("reimbursements", "/espace/remboursements"),
                           ("reimbursements-en", "/espace/remboursements?lang=en&du=2026-01-01")):  # fmt: skip
            page.goto(f"{live_server.url}{path}")
            check(name)
        page.goto(f"{live_server.url}/espace/agenda?lang=fr")
        page.get_by_label("Intitulé").fill("x" * 10)
        page.get_by_label("Durée en minutes (facultatif)").fill("")
        page.evaluate("document.getElementById('titre').value = ' '")
        page.get_by_role("button", name="Ajouter à mon agenda").click()
        page.get_by_role("alert").wait_for()
        check("agenda-refused")
        assert not found, "\n".join(f"{name}: {_summary(v)}" for name, v in found.items())
    finally:
        context.close()

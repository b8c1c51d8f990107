"""Web portal fixtures: the platform under uvicorn on loopback (its public URL is the live URL, so the OpenID
Connect redirect comes back to it) and a page of Debian's Chromium driven by Playwright.

With ``CARNET_REQUIRE_CHROMIUM=1`` (set by ``make test`` and CI) a missing Chromium or Playwright fails the browser
tests; otherwise they are skipped. Screenshots go to ``test-artifacts/web/`` (ignored by git).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.api.conftest import LiveServer, api_settings, app, client, live_server, tokens

__all__ = ["LiveServer", "api_settings", "app", "client", "live_server", "tokens"]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]  # fmt: skip
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "web"


def _required() -> bool:
    return os.environ.get("CARNET_REQUIRE_CHROMIUM", "") not in ("", "0", "false")


def _missing(reason: str) -> None:
    if _required():
        pytest.fail(f"Chromium and Playwright are required (CARNET_REQUIRE_CHROMIUM=1): {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """Debian's Chromium, headless, launched once for the session."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("the playwright package is not installed (pip install -e '.[test]')")
    if not os.access(CHROMIUM, os.X_OK):
        _missing(f"{CHROMIUM} not found (Debian: apt-get install chromium; make test installs it as root)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def browser_page(chromium: Any) -> Iterator[Any]:
    """A fresh browser context (no cookies) and page, French, desktop size."""
    context = chromium.new_context(locale="fr-FR", viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()


@pytest.fixture
def screenshot(request: pytest.FixtureRequest) -> Any:
    """``screenshot(page, "name")`` saves a full-page PNG under test-artifacts/web/<test>/."""
    folder = ARTIFACTS / request.node.name.replace("/", "_").replace("[", "-").rstrip("]")

    def take(page: Any, name: str) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take

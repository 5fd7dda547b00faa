"""Real-browser fixtures: Debian Chromium (/usr/bin/chromium) through the playwright package, with fake
camera and microphone; the app runs in-process on a tiny checkpoint and a 3-clip library.

Install the browser with scripts/install_browser.sh (CI does); without it these tests skip with a reason.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.ui.app_fixtures import ROOT, running_app, tiny_checkpoint  # noqa: F401  (fixtures)

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = ROOT / "artifacts" / "screenshots"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync",
        "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]  # fake webcam + mic


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/browser" in str(item.fspath):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        pytest.skip("Chromium is not installed at /usr/bin/chromium: run scripts/install_browser.sh")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, running_app):
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, permissions=["camera", "microphone"])
    pg = ctx.new_page()
    pg.set_default_timeout(30000)
    pg.goto(running_app[0], wait_until="load")  # not "networkidle": gradio never goes idle
    pg.locator("#explain-button").wait_for(timeout=30000)
    yield pg
    ctx.close()


def shot(page, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path

"""The app in a real Chromium: page load, a clip explained, a library run, live prediction from fake
devices, a bad upload that leaves the app serving. One screenshot per tab under artifacts/screenshots/."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser.conftest import shot
from tests.ui.app_fixtures import EXAMPLES

LONG = 120_000  # ms: the model runs on CPU next to other work


def upload(page, path) -> None:
    page.locator("#clip-video input[type=file]").set_input_files(str(path))


def open_tab(page, name: str) -> None:
    page.get_by_role("tab", name=name).click()


def test_page_loads_with_checkpoint_header_and_all_tabs(page):
    expect(page.locator("#app-header")).to_contain_text("Checkpoint:")
    for tab in ("Clip", "Library", "Live", "Audit"):
        expect(page.get_by_role("tab", name=tab)).to_be_visible()
    open_tab(page, "Audit")
    expect(page.locator("#audit-identity")).to_contain_text("unauthenticated")  # no --auth-file here
    shot(page, "audit")


def test_upload_a_clip_shows_label_reasoning_and_plots(page):
    upload(page, EXAMPLES / "synth_00002.mp4")
    page.locator("#explain-button").click()
    expect(page.locator("#clip-label")).to_contain_text("checkpoint:", timeout=LONG)
    expect(page.locator("#clip-label h2")).to_have_text(re.compile(r"\S"))
    expect(page.locator("#probs-plot .js-plotly-plot")).to_have_count(1, timeout=30_000)
    expect(page.locator(".js-plotly-plot")).to_have_count(5, timeout=30_000)  # probs, modality, gate, frames, audio
    expect(page.locator("#reasoning")).to_be_visible()
    expect(page.locator("#clip-notices")).not_to_be_empty()
    shot(page, "clip")


def test_library_run_on_three_clips_shows_metrics(page):
    open_tab(page, "Library")
    expect(page.locator("#library-table")).to_contain_text("synth_00002.mp4", timeout=LONG)
    page.locator("#library-run").click()
    expect(page.locator("#library-metrics")).to_contain_text("3 / 3 clips scored", timeout=LONG)
    expect(page.locator("#library-metrics")).to_contain_text("WAR")
    shot(page, "library")


def test_live_tab_predicts_from_fake_camera_and_microphone(page):
    open_tab(page, "Live")
    expect(page.locator("#live-status")).to_contain_text("camera: no frames")  # says plainly what is missing
    page.locator("#live-cam").get_by_text("Click to Access Webcam").click()
    page.wait_for_timeout(1500)
    page.locator("#live-cam button[aria-label='capture photo']").first.click()  # starts frame streaming
    page.locator("#live-mic").get_by_role("button", name="Record").first.click()  # starts mic streaming
    expect(page.locator("#live-status")).to_contain_text("frames buffered", timeout=LONG)
    expect(page.locator("#live-label")).to_contain_text("checkpoint:", timeout=LONG)
    expect(page.locator("#live-status")).to_contain_text("s buffered")
    shot(page, "live")


def test_bad_upload_shows_one_line_error_and_app_keeps_serving(page, tmp_path):
    bad = tmp_path / "notes.mp4"
    bad.write_text("this is a text file, not a video\n" * 10)
    upload(page, bad)
    page.locator("#explain-button").click()
    msg = page.locator("[data-testid='toast-body']").get_by_text(re.compile(r"cannot read clip"))
    expect(msg.first).to_be_visible(timeout=LONG)
    text = msg.first.inner_text().strip()
    assert "\n" not in text and "internal error" not in text and "Traceback" not in text, text
    page.reload(wait_until="load")  # the same server still answers a good clip
    page.locator("#explain-button").wait_for()
    upload(page, EXAMPLES / "synth_00000.mp4")
    page.locator("#explain-button").click()
    expect(page.locator("#clip-label")).to_contain_text("checkpoint:", timeout=LONG)

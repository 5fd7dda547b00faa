"""The app in a real Chromium: page load, a clip explained, a library run, live prediction from fake
devices, a bad upload that leaves the app serving. One screenshot per tab under artifacts/screenshots/."""

from __future__ import annotations

import re

from playwright.sync_api import TimeoutError as PlaywrightTimeout
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


def test_live_one_start_button_streams_camera_and_microphone(page):
    open_tab(page, "Live")
    expect(page.locator("#live-status")).to_contain_text("camera: no frames")  # says plainly what is missing
    page.locator("#live-start").click()  # one Start for both devices
    expect(page.locator("#live-status")).to_contain_text("frames buffered", timeout=LONG)
    expect(page.locator("#live-status")).to_contain_text("s buffered", timeout=LONG)
    expect(page.locator("#live-label")).to_contain_text("checkpoint:", timeout=LONG)
    shot(page, "live")
    page.locator("#live-stop").click()
    expect(page.locator("#live-status")).to_contain_text("stopped", timeout=LONG)


def _start_camera(page) -> None:
    page.locator("#live-cam").get_by_text("Click to Access Webcam").click()
    page.wait_for_timeout(1500)
    page.locator("#live-cam button[aria-label='capture photo']").first.click()  # starts frame streaming


def _start_mic(page) -> None:
    """Press the microphone's Record; under a loaded CPU the first press can land before the component is
    ready, so press again (at most twice more) until it shows its Stop button, i.e. it is recording."""
    record = page.locator("#live-mic").get_by_role("button", name="Record").first
    stop = page.locator("#live-mic").get_by_role("button", name="Stop").first
    for _ in range(3):
        record.wait_for(state="visible", timeout=LONG)
        record.click()
        try:
            stop.wait_for(state="visible", timeout=15_000)
            return
        except PlaywrightTimeout:
            continue
    raise AssertionError("the microphone never started recording")


def test_live_staggered_start_microphone_10_s_before_the_camera(page):
    open_tab(page, "Live")
    _start_mic(page)
    expect(page.locator("#live-status")).to_contain_text("s buffered", timeout=LONG)
    page.wait_for_timeout(10_000)
    _start_camera(page)
    expect(page.locator("#live-status")).to_contain_text("frames buffered", timeout=LONG)
    expect(page.locator("#live-status")).to_contain_text("s buffered")  # one clock: both are in the window
    expect(page.locator("#live-label")).to_contain_text("checkpoint:", timeout=LONG)


def test_live_camera_only_and_microphone_only(page):
    open_tab(page, "Live")
    _start_camera(page)
    expect(page.locator("#live-label")).to_contain_text("checkpoint:", timeout=LONG)
    expect(page.locator("#live-status")).to_contain_text("microphone: no audio received")
    page.reload(wait_until="load")
    page.locator("#explain-button").wait_for()
    open_tab(page, "Live")
    _start_mic(page)
    expect(page.locator("#live-label")).to_contain_text("checkpoint:", timeout=LONG)
    expect(page.locator("#live-status")).to_contain_text("camera: no frames")


def test_library_folder_with_an_unrelated_csv_shows_its_one_line_message_not_error_badges(page, running_app):
    import shutil

    root = running_app[1].library_root
    sub = root / "zz-unrelated"
    sub.mkdir(exist_ok=True)
    shutil.copy(EXAMPLES / "synth_00003.mp4", sub / "1001_DFA_ANG_XX.mp4")
    (sub / "manifest.csv").write_text("file,label\n1001_DFA_ANG_XX.mp4,angry\n")
    try:
        open_tab(page, "Library")
        page.locator("#library-path textarea, #library-path input").first.fill("zz-unrelated")
        page.locator("#library-open").click()
        expect(page.locator("#library-status")).to_contain_text("is not a manifest", timeout=LONG)
        expect(page.locator("#library-status")).to_contain_text("1 labelled by crema-d")
        expect(page.locator("#library-table")).to_contain_text("1001_DFA_ANG_XX.mp4")
        expect(page.locator("#library-table")).to_contain_text("angry")
        page.locator("#library-path textarea, #library-path input").first.fill("no-such-folder")
        page.locator("#library-open").click()
        expect(page.locator("#library-status")).to_contain_text("does not exist", timeout=LONG)
        assert page.locator(".error:visible, [data-testid='status-tracker'] .error:visible").count() == 0
    finally:
        shutil.rmtree(sub)


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

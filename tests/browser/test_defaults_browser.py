"""Defaults from the checkpoint, seen in the page (issue 17 item 2): the Clip and Library token sliders start at
and reach the checkpoint's generation_config limit (1500 here; 2048 without one), an explanation and a Library
run use it, and the Clip tab's explain mode and the Library's audit evidence mode follow the warm-up timing."""

from __future__ import annotations

import sys

import pytest
from playwright.sync_api import expect

from tests.ui.app_fixtures import EXAMPLES, ROOT, free_port
from tests.ui.test_defaults import with_limit

LONG = 120_000


@pytest.fixture(scope="module")
def app_1500(tiny_checkpoint, tmp_path_factory):
    sys.path.insert(0, str(ROOT))
    import shutil

    import app as app_module
    from r1omni.ui import launch_options

    work = tmp_path_factory.mktemp("app-1500")
    ckpt = with_limit(tiny_checkpoint, work / "tiny-1500", 1500)
    lib = work / "library"
    lib.mkdir()
    shutil.copy(EXAMPLES / "synth_00002.mp4", lib / "synth_00002.mp4")
    settings = app_module.parse_args(["--checkpoint", str(ckpt), "--library", str(lib), "--db", str(work / "db"),
                                      "--port", str(free_port()), "--device", "cpu"])  # --explain-mode auto
    demo = app_module.build(settings, work / "private")
    demo.launch(prevent_thread_lock=True, quiet=True, **launch_options(settings, demo.r1omni_backend))
    yield f"http://127.0.0.1:{settings.port}/", demo
    demo.close()


def _open(browser, url):
    ctx = browser.new_context(viewport={"width": 1280, "height": 1000})
    pg = ctx.new_page()
    pg.set_default_timeout(30_000)
    pg.goto(url, wait_until="load")
    pg.locator("#explain-button").wait_for()
    return ctx, pg


def _slider(page, elem_id: str) -> tuple[str, int]:
    """(number box value, range maximum) of a slider."""
    box = page.locator(f"#{elem_id} input[type=number]")
    return box.input_value(), int(page.locator(f"#{elem_id} input[type=range]").get_attribute("max"))


def _checked(page, elem_id: str) -> str:
    return page.locator(f"#{elem_id} input[type=radio]:checked").get_attribute("value")


def test_the_sliders_start_at_and_reach_the_checkpoints_limit_and_the_model_uses_it(browser, app_1500):
    ctx, page = _open(browser, app_1500[0])
    page.get_by_text("Options").first.click()
    value, top = _slider(page, "clip-max-new")
    assert value == "1500" and top >= 1500
    page.locator("#clip-video input[type=file]").set_input_files(str(EXAMPLES / "synth_00002.mp4"))
    page.locator("#explain-button").click()
    expect(page.locator("#clip-notices")).to_contain_text("stopped after 1500 tokens", timeout=LONG)

    page.get_by_role("tab", name="Library").click()
    value, top = _slider(page, "library-max-new")
    assert value == "1500" and top >= 1500
    expect(page.locator("#library-table")).to_contain_text("synth_00002.mp4", timeout=LONG)
    page.locator("#library-run").click()
    expect(page.locator("#library-table")).to_contain_text("stopped after 1500 tokens", timeout=LONG)
    ctx.close()


def test_the_explain_and_audit_evidence_modes_follow_the_warm_up_timing(browser, app_1500):
    backend = app_1500[1].r1omni_backend
    assert backend.predict_s is not None  # the warm-up prediction ran at start-up
    measured = backend.predict_s
    try:
        for seconds, mode in ((1000.0, "fast"), (0.01, "full")):
            backend.predict_s = seconds  # what a slow (or a quick) warm-up prediction would have measured
            ctx, page = _open(browser, app_1500[0])
            page.get_by_text("Options").first.click()
            expect(page.locator(f"#clip-mode input[value={mode}]")).to_be_checked()
            page.get_by_role("tab", name="Library").click()
            expect(page.locator(f"#library-audit-mode input[value={mode}]")).to_be_checked()
            ctx.close()
    finally:
        backend.predict_s = measured


def test_without_a_limit_in_generation_config_the_sliders_start_at_2048(page):
    page.get_by_text("Options").first.click()
    value, top = _slider(page, "clip-max-new")
    assert value == "2048" and top >= 2048
    page.get_by_role("tab", name="Library").click()
    assert _slider(page, "library-max-new")[0] == "2048"

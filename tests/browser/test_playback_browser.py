"""Clips the browser cannot play (CREMA-D .flv, an AVI/MJPEG made here) play in every player of the page: an
upload in the Clip tab, a Library row opened in the Clip tab and the Audit player, whose seek buttons move it.
The players get H.264/AAC playback copies; the explanation still reads the original file."""

from __future__ import annotations

import re
import shutil
import sys

import pytest
from playwright.sync_api import expect

from tests import media_factory as mf
from tests.conftest import REAL_CLIPS
from tests.ui.app_fixtures import ROOT, free_port
from tests.ui.explain_samples import sample_explain

LONG = 120_000
REAL_FLV = REAL_CLIPS / "1001_DFA_ANG_XX.flv"
COPY_SRC = re.compile(r"playback-[0-9a-f]{32}\.mp4")

PLAYS_JS = """(sel) => { const v = document.querySelector(sel + ' video');
  return !!v && v.readyState >= 2 && /playback-[0-9a-f]{32}\\.mp4/.test(v.currentSrc); }"""
SEEK_JS = """async ([sel, t]) => { const v = document.querySelector(sel + ' video');
  await new Promise((ok) => { v.addEventListener('seeked', ok, {once: true}); v.currentTime = t; });
  return [v.currentTime, v.readyState]; }"""


@pytest.fixture(scope="module")
def play_app(tiny_checkpoint, tmp_path_factory):
    """The app on the tiny checkpoint with a library of clips no browser plays as they are."""
    sys.path.insert(0, str(ROOT))
    import app as app_module
    from r1omni.ui import launch_options

    work = tmp_path_factory.mktemp("play-app")
    lib = work / "library"
    old = lib / "old"
    old.mkdir(parents=True)
    avi = mf.make_av_clip(old / "mjpeg_pcm.avi", seconds=3.0, vcodec="mjpeg", acodec="pcm_s16le",
                          size=(96, 64), extra=("-q:v", "3"))
    clips = {"avi": avi}
    if REAL_FLV.is_file():
        clips["flv"] = shutil.copy(REAL_FLV, old / REAL_FLV.name)
    settings = app_module.parse_args(["--checkpoint", str(tiny_checkpoint), "--library", str(lib),
                                      "--db", str(work / "app.sqlite"), "--port", str(free_port()),
                                      "--device", "cpu", "--explain-mode", "fast"])  # fast: cheaper, same files
    demo = app_module.build(settings, work / "private")
    demo.launch(prevent_thread_lock=True, quiet=True, **launch_options(settings, demo.r1omni_backend))
    yield f"http://127.0.0.1:{settings.port}/", demo, lib, clips
    demo.close()


@pytest.fixture
def play_page(browser, play_app):
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = ctx.new_page()
    pg.set_default_timeout(30_000)
    pg.goto(play_app[0], wait_until="load")
    pg.locator("#explain-button").wait_for()
    yield pg
    ctx.close()


def _plays_and_seeks(page, sel: str, t: float) -> None:
    page.wait_for_function(PLAYS_JS, arg=sel, timeout=LONG)
    got, ready = page.evaluate(SEEK_JS, [sel, t])
    assert abs(got - t) < 0.05 and ready >= 1, (got, ready)


@pytest.mark.parametrize("kind", ["avi", "flv"])
def test_an_upload_the_browser_cannot_play_plays_and_is_explained_from_the_original(play_page, play_app, kind):
    _, demo, lib, clips = play_app
    if kind not in clips:
        pytest.skip("../shared/data/real-clips is absent")
    src = clips[kind]
    play_page.locator("#clip-video input[type=file]").set_input_files(str(src))
    _plays_and_seeks(play_page, "#clip-video", 1.0)
    play_page.get_by_text("Options").first.click()
    box = play_page.locator("#clip-max-new input[type=number]")  # a short reasoning: this test is about files
    box.fill("32")
    box.press("Tab")
    play_page.locator("#explain-button").click()
    expect(play_page.locator("#clip-label")).to_contain_text("checkpoint:", timeout=LONG)
    play_page.get_by_text("Raw explain JSON").click(no_wait_after=True)
    raw = play_page.locator("#clip-raw")
    expect(raw).to_contain_text(src.name, timeout=30_000)  # the explanation read the original file
    assert not COPY_SRC.search(raw.inner_text())
    backend = demo.r1omni_backend
    assert all(lib not in p.parents for p in backend.playback.folder.rglob("*"))
    assert sorted(p.name for p in src.parent.iterdir()) == sorted(p.name for p in clips.values())  # nothing beside


def test_a_library_row_opened_in_the_clip_tab_plays(play_page):
    play_page.get_by_role("tab", name="Library").click()
    play_page.locator("#library-path textarea, #library-path input").first.fill("old")
    play_page.locator("#library-open").click()
    table = play_page.locator("#library-table")
    expect(table).to_contain_text("mjpeg_pcm.avi", timeout=LONG)
    table.get_by_text("mjpeg_pcm.avi").locator("visible=true").first.click()  # Gradio keeps a hidden copy too
    expect(play_page.get_by_role("tab", name="Clip", selected=True)).to_be_visible(timeout=LONG)
    _plays_and_seeks(play_page, "#clip-video", 2.0)


@pytest.mark.parametrize("kind", ["avi", "flv"])
def test_the_audit_player_plays_an_audited_item_and_its_seek_buttons_move_it(play_page, play_app, kind):
    _, demo, lib, clips = play_app
    if kind not in clips:
        pytest.skip("../shared/data/real-clips is absent")
    src = clips[kind]
    res = sample_explain()  # frames at 0, 0.5, 1.0, 1.5 s: all inside both clips
    res["prediction"]["text"] += f" {kind}"  # one audit item per clip
    pid = demo.r1omni_backend.audit.add_explanation({**res, "file": str(src)}, clip=str(src.relative_to(lib)))
    play_page.get_by_role("tab", name="Audit").click()
    play_page.locator("#audit-name input, #audit-name textarea").first.fill("ann")
    play_page.locator("#audit-refresh").click()
    play_page.locator("#audit-queue").get_by_text(pid).filter(visible=True).first.click()
    expect(play_page.locator("#audit-item")).to_contain_text(pid)
    play_page.wait_for_function(PLAYS_JS, arg="#audit-video", timeout=LONG)
    seek = play_page.locator("#audit-evidence [data-seek]")
    expect(seek.first).to_be_visible()
    t = float(seek.nth(2).get_attribute("data-seek"))
    assert t > 0
    seek.nth(2).click()
    play_page.wait_for_function("""(t) => { const v = document.querySelector('#audit-video video');
      return Math.abs(v.currentTime - t) < 0.05 && !v.seeking && v.readyState >= 2; }""", arg=t, timeout=30_000)

"""Library and Live in a real Chromium say what happened: Stop answers where the run stopped (counts read from
the store), Retry failed with nothing failed says so, a row opened in the Clip tab shows its stored result at
once, plurals; Live runs nothing after Stop, a restart starts a new timeline, labels stay readable at any
length, and the demo checkpoint's notice shows on live input (fake camera and microphone)."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import sys
import threading
import time

import pytest
from playwright.sync_api import expect

from r1omni.prompts import LABEL_SETS
from r1omni.ui import views
from tests.browser.conftest import shot
from tests.ui.app_fixtures import ROOT, free_port, make_library

LONG = 120_000  # ms: the model runs on CPU next to other work


def _open_library(page, folder: str) -> None:
    page.get_by_role("tab", name="Library").click()
    page.locator("#library-path textarea, #library-path input").first.fill(folder)
    page.locator("#library-open").click()
    expect(page.locator("#library-status")).to_contain_text("8 clips", timeout=LONG)


def test_library_stop_says_where_it_stopped_from_the_store_and_a_row_opens_with_its_result(page, running_app):
    _, settings, demo = running_app
    sub = settings.library_root / "zz-stop"
    make_library(sub / "a", 4)  # 8 clips never run: 4 batches of 2 (--batch-size 2)
    make_library(sub / "b", 4)
    try:
        _open_library(page, "zz-stop")
        # the model deliberately slowed by 3 s a batch, so Stop lands inside batch 1 however loaded the CPU is
        backend, started = demo.r1omni_backend, threading.Event()
        real = backend.predict_clips

        def slowed(*args, **kwargs):
            started.set()
            time.sleep(3.0)
            return real(*args, **kwargs)

        backend.predict_clips = slowed
        try:
            page.locator("#library-run").click()
            assert started.wait(LONG / 1000)
            page.locator("#library-stop").click()
            status = page.locator("#library-run-status")
            expect(status).to_contain_text("scored; Run resumes", timeout=LONG)
        finally:
            del backend.predict_clips  # the real method again
        m = re.search(r"stopped after batch (\d+): (\d+) of (\d+) scored", status.inner_text())
        assert m, status.inner_text()
        batches, scored, total = map(int, m.groups())
        con = sqlite3.connect(settings.db)
        rows = con.execute("SELECT result FROM results WHERE clip LIKE ?", (f"%{sub.name}%",)).fetchall()
        con.close()
        in_store = sum(1 for (r,) in rows if not json.loads(r).get("error"))
        assert batches == 1 and total == 8 and scored == in_store and len(rows) == 2 * batches
        expect(page.locator("#library-metrics")).to_contain_text(f"{scored} / 8 clips scored")  # not stale
        shot(page, "library-stopped")

        page.locator("#library-retry").click()  # nothing failed: it says so
        expect(status).to_contain_text("no failed clips to retry", timeout=LONG)
        page.locator("#library-run").click()  # Run resumes: the rest
        expect(status).to_contain_text(f"done: {8 - len(rows)} clips run", timeout=LONG)

        row = page.locator("#library-table").get_by_text("a/synth_00000.mp4")
        row.filter(visible=True).first.click()
        expect(page.get_by_role("tab", name="Clip")).to_have_attribute("aria-selected", "true")
        expect(page.locator("#clip-label")).to_contain_text("checkpoint:", timeout=30_000)  # without Explain
        expect(page.locator("#clip-notices")).to_contain_text("stored Library result")

        page.get_by_role("tab", name="Library").click()
        page.get_by_label("File contains").fill("a/synth_00001")
        expect(page.locator("#library-page-text")).to_contain_text("1 clip matches", timeout=30_000)
    finally:
        shutil.rmtree(sub)


# ---------------------------------------------------------------- live
@pytest.fixture(scope="module")
def demo_app(tmp_path_factory):
    """(url, demo) of the app on the demo checkpoint (what a first-time user runs)."""
    sys.path.insert(0, str(ROOT))
    import app as app_module
    from r1omni.ui import launch_options

    work = tmp_path_factory.mktemp("demo_app")
    settings = app_module.parse_args(["--library", str(make_library(work / "library", 3)), "--db",
                                      str(work / "r.sqlite"), "--port", str(free_port()), "--device", "cpu"])
    demo = app_module.build(settings)
    demo.launch(prevent_thread_lock=True, quiet=True, **launch_options(settings))
    yield f"http://127.0.0.1:{settings.port}/", demo
    demo.close()


@pytest.fixture
def demo_page(browser, demo_app):
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, permissions=["camera", "microphone"])
    pg = ctx.new_page()
    pg.set_default_timeout(30_000)
    pg.goto(demo_app[0], wait_until="load")
    pg.locator("#explain-button").wait_for(timeout=30_000)
    yield pg
    ctx.close()


def test_library_stop_also_stops_send_to_audit(demo_page, demo_app):
    page, backend = demo_page, demo_app[1].r1omni_backend
    page.get_by_role("tab", name="Library").click()
    expect(page.locator("#library-status")).to_contain_text("3 clips", timeout=LONG)
    page.locator("#library-run").click()
    expect(page.locator("#library-metrics")).to_contain_text("3 / 3 clips scored", timeout=LONG)
    page.locator("#library-send-audit").click()
    msg = page.locator("#library-send-audit-status")
    expect(msg).to_contain_text("sent 1 of 3", timeout=LONG)
    page.locator("#library-stop").click()
    expect(msg).to_contain_text("stopped: sent", timeout=LONG)
    sent = int(re.search(r"stopped: sent (\d) of 3", msg.inner_text()).group(1))
    assert sent < 3 and backend.audit.counts()["predictions"] == sent  # what it says is what was stored


def _timeline(page) -> dict:
    """{trace name: x values} of the Live timeline as Plotly holds it in the page."""
    return page.evaluate("""() => {
      const gd = document.querySelector('#live-timeline .js-plotly-plot');
      return gd && gd.data ? Object.fromEntries(gd.data.map(d => [d.name, Array.from(d.x || [])])) : {};
    }""")


def _wait_trace(page, name: str) -> None:
    page.wait_for_function("""(name) => {
      const gd = document.querySelector('#live-timeline .js-plotly-plot');
      return gd && gd.data && gd.data.some(d => d.name === name && d.x && d.x.length > 0);
    }""", arg=name, timeout=LONG)


def test_live_stop_runs_nothing_after_it_and_a_restart_starts_a_new_timeline(demo_page, demo_app):
    page, demo = demo_page, demo_app[1]
    backend = demo.r1omni_backend
    page.get_by_role("tab", name="Live").click()
    page.locator("#live-start").click()
    expect(page.locator("#live-label")).to_contain_text("checkpoint:", timeout=LONG)
    page.wait_for_function("""() => {
      const gd = document.querySelector('#live-timeline .js-plotly-plot');
      return gd && gd.data && gd.data.some(d => d.x && d.x.length > 0);
    }""", timeout=LONG)

    # Stop while a window is being explained (the model deliberately slowed by 4 s, so Stop lands inside it):
    # what it explains is not shown and "stopped" is never overwritten
    started, finished, real = threading.Event(), threading.Event(), backend.explain_window

    def slowed(*args, **kwargs):
        started.set()
        time.sleep(4.0)
        try:
            return real(*args, **kwargs)
        finally:
            finished.set()

    backend.explain_window = slowed
    try:
        assert started.wait(LONG / 1000)
        before = _timeline(page)
        page.locator("#live-stop").click()
        lock = demo.r1omni_backend.model_lock
        seen, quiet_since = [], None
        deadline = time.monotonic() + LONG / 1000
        while time.monotonic() < deadline:
            text = page.locator("#live-status").inner_text().strip()
            if not seen or seen[-1] != text:
                seen.append(text)
            if finished.is_set() and lock.acquire(blocking=False):  # the slowed window is done, none runs
                lock.release()
                quiet_since = quiet_since or time.monotonic()
                if time.monotonic() - quiet_since > 2 * 3.0:  # two ticks: any late update would have come
                    break
            else:
                quiet_since = None
            page.wait_for_timeout(100)
        shown = [t for t in seen if t.startswith("stopped")]
        assert shown and seen[seen.index(shown[0]):] == [shown[0]], seen  # once shown, it stays
        assert _timeline(page) == before
    finally:
        del backend.explain_window  # the real method again

    # Start again: a new timeline on a new clock; the old one stays (faint) until cleared
    restarted = time.monotonic()
    page.locator("#live-start").click()
    _wait_trace(page, "earlier run 1")
    _wait_trace(page, "emotion")
    tl = _timeline(page)
    assert len(tl["earlier run 1"]) == len(before["emotion"]) and tl["emotion"]
    assert max(tl["emotion"]) <= time.monotonic() - restarted + 0.5  # its clock starts at this Start
    shot(page, "live-restarted")
    page.locator("#live-stop").click()
    page.locator("#live-clear").click()
    page.wait_for_function("""() => {
      const gd = document.querySelector('#live-timeline .js-plotly-plot');
      return !gd || !gd.data || gd.data.every(d => !d.x || d.x.length === 0);
    }""", timeout=30_000)


def test_live_shows_the_demo_checkpoints_notice_on_camera_and_microphone_input(demo_page):
    page = demo_page
    page.get_by_role("tab", name="Live").click()
    page.locator("#live-start").click()
    expect(page.locator("#live-label")).to_contain_text("checkpoint:", timeout=LONG)
    # the demo model on a camera and a microphone: its honesty notice, as in the Clip tab
    expect(page.locator("#live-notices")).to_contain_text("demo checkpoint knows drawn synthetic faces")
    page.locator("#live-stop").click()


def test_live_timeline_labels_never_overlap_however_long_the_timeline(browser):
    labels = list(LABEL_SETS["mafw"])
    history = [{"run": 1, "t": 4.0 + 3 * i, "window": [3.0 * i, 4.0 + 3 * i], "label": labels[i % len(labels)],
                "confidence": 0.4 + 0.05 * (i % 5), "video_share": 0.5, "audio_share": 0.5} for i in range(400)]
    fig = views.timeline_figure(history)
    fig.update_layout(width=800)  # about the Live column's width at 1280 px
    page = browser.new_page(viewport={"width": 900, "height": 900})
    try:
        page.set_content(fig.to_html(include_plotlyjs=True, full_html=True))
        page.locator(".js-plotly-plot .main-svg").first.wait_for(timeout=30_000)
        boxes = page.evaluate("""(labels) => [...document.querySelectorAll('.js-plotly-plot svg text')]
            .filter(t => labels.includes(t.textContent.trim()))
            .map(t => { const b = t.getBoundingClientRect();
                        return [t.textContent.trim(), b.left, b.top, b.right, b.bottom]; })""", labels)
    finally:
        page.close()
    assert {b[0] for b in boxes} == set(labels)  # every label written out in full
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            apart = a[3] <= b[1] or b[3] <= a[1] or a[4] <= b[2] or b[4] <= a[2]
            assert apart, f"'{a[0]}' overlaps '{b[0]}'"

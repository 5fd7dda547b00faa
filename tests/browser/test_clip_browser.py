"""The Clip tab in a real Chromium, driven as a user does (files set on the page's own upload inputs):
audio-only and combined uploads, results that stream in while the model works (on a deliberately slowed
model), a page a newcomer can read (one notice per fact, nothing cut, a legend, no server paths), and the
Library and Audit tabs at a phone's width."""

from __future__ import annotations

import re
import shutil
import sys
import time

import pytest
from playwright.sync_api import expect

from tests import media_factory as mf
from tests.browser.conftest import shot
from tests.browser.test_audit_browser import seeded  # noqa: F401  (fixture: demo explanations in a store)
from tests.ui.app_fixtures import EXAMPLES, ROOT, free_port

LONG = 120_000  # ms: the model runs on CPU next to other work


def upload_video(page, path) -> None:
    page.locator("#clip-video input[type=file]").set_input_files(str(path))


def upload_audio(page, path) -> None:
    page.locator("#clip-audio input[type=file]").set_input_files(str(path))
    # the audio box shows its player once the upload is in (the file is then on the server)
    expect(page.locator("#clip-audio audio, #clip-audio [data-testid='waveform-controls'], #clip-audio button")
           .first).to_be_visible(timeout=30_000)


def explain_and_wait(page) -> None:
    """Press Explain and wait for the final result (the notices panel is filled last)."""
    page.locator("#explain-button").click()
    expect(page.locator("#clip-label")).to_contain_text("checkpoint:", timeout=LONG)
    expect(page.locator("#clip-notices")).to_contain_text(re.compile(r"\S"), timeout=LONG)


def raw_json_text(page) -> str:
    """The raw explain JSON as the page shows it, without whitespace (the viewer puts each token on a line)."""
    page.get_by_text("Raw explain JSON").dispatch_event("click")  # opens the accordion (no navigation wait)
    raw = page.locator("#clip-raw")
    expect(raw).to_contain_text("prediction", timeout=30_000)
    return re.sub(r"\s+", "", raw.inner_text())


def toasts(page) -> list[str]:
    return [t.strip() for t in page.locator("[data-testid='toast-body']").all_inner_texts()]


@pytest.fixture
def mp3(tmp_path):
    return mf.make_av_clip(tmp_path / "voice note.mp3", video=False, seconds=1.5, acodec="libmp3lame")


# ------------------------------------------------------------------ issue 18 item 2: audio-only and combined
def test_an_audio_file_alone_is_explained(page, mp3):
    upload_audio(page, mp3)
    explain_and_wait(page)
    assert not any("no clip given" in t for t in toasts(page)), toasts(page)
    notices = page.locator("#clip-notices").inner_text()
    assert notices.count("no video track") == 1, notices  # one notice per fact
    assert '"modalities":{"video":false,"audio":true}' in raw_json_text(page)


def test_a_video_and_an_audio_file_are_explained_as_one_clip(page, mp3):
    upload_video(page, EXAMPLES / "synth_00002.mp4")
    upload_audio(page, mp3)
    explain_and_wait(page)
    notices = page.locator("#clip-notices").inner_text()
    assert "the frames of 'synth_00002.mp4' and the audio of 'voice note.mp3'" in notices, notices
    raw = raw_json_text(page)
    assert '"modalities":{"video":true,"audio":true}' in raw, raw[:400]


# ------------------------------------------------------------------ issue 18 item 6: a newcomer can read it
def _cut_plot_titles(page) -> list[str]:
    """Plot titles whose text runs past the right edge of their plot (drawn, then clipped by the SVG)."""
    return page.evaluate("""() => [...document.querySelectorAll('.js-plotly-plot')].flatMap(plot => {
        const svg = plot.querySelector('svg.main-svg'); const t = plot.querySelector('.gtitle');
        if (!svg || !t || !t.textContent) return [];
        const a = svg.getBoundingClientRect(), b = t.getBoundingClientRect();
        return (b.right > a.right + 1 || b.left < a.left - 1) ? [t.textContent] : [];
    })""")


def frames_gallery(page):
    """The Clip tab's gallery of sampled frames (found by its label, as a user finds it)."""
    return page.get_by_text("Sampled frames", exact=False).first.locator(
        "xpath=ancestor::div[contains(concat(' ', normalize-space(@class), ' '), ' block ')][1]")


def _cut_captions(page) -> list[str]:
    """Gallery captions shown shorter than their text (ellipsis or overflow)."""
    found = frames_gallery(page).evaluate("""g => [...g.querySelectorAll('[class*=caption]')]
        .filter(e => e.textContent.trim()).map(e => [e.textContent.trim(), e.scrollWidth > e.clientWidth + 1])""")
    assert found, "no captions under the frames"
    return [text for text, cut in found if cut]


def test_the_clip_tab_reads_for_a_newcomer(page):
    page.set_viewport_size({"width": 1024, "height": 800})  # a small laptop: where titles and captions were cut
    upload_video(page, EXAMPLES / "synth_00002.mp4")
    explain_and_wait(page)
    expect(page.locator(".js-plotly-plot")).to_have_count(5, timeout=30_000)
    expect(frames_gallery(page).locator("img").first).to_be_visible(timeout=30_000)
    page.wait_for_timeout(500)  # plotly lays titles out after the figure is attached
    assert _cut_plot_titles(page) == []
    assert _cut_captions(page) == []
    legend = page.locator("#clip-legend")
    expect(legend).to_be_visible()
    for words in ("Shapley", "nats", "Occlusion score", "Gate"):
        expect(legend).to_contain_text(words)
    raw = raw_json_text(page)
    assert '"clip":"synth_00002.mp4"' in raw
    assert not re.search(r"(/tmp|/home|/root|/var|gradio)/", raw), re.findall(r'"[^"]*/[^"]*"', raw)[:5]
    notices = page.locator("#clip-notices").inner_text().splitlines()
    assert len(notices) == len(set(notices)), notices
    shot(page, "clip-readable")


def _narrow_cells(page, selector: str, min_chars: int = 4) -> list[str]:
    """Visible table cells whose text box is narrower than `min_chars` characters of their own font (or than
    their whole text, when it is shorter): those wrap words letter by letter."""
    return page.evaluate("""([sel, k]) => {
        const ctx = document.createElement('canvas').getContext('2d');
        return [...document.querySelectorAll(sel)].filter(c => c.offsetParent !== null && c.textContent.trim())
          .filter(c => {
            const st = getComputedStyle(c);
            ctx.font = `${st.fontWeight} ${st.fontSize} ${st.fontFamily}`;
            const text = c.textContent.trim(), ch = ctx.measureText('0').width;
            const longest = Math.max(...text.split(/\\s+/).map(w => ctx.measureText(w).width));
            const box = c.clientWidth - parseFloat(st.paddingLeft) - parseFloat(st.paddingRight);
            return box + 1 < Math.min(longest, k * ch);
          }).map(c => c.textContent.trim().slice(0, 30));
    }""", [selector, min_chars])


def test_library_tab_at_390_px(page):
    page.set_viewport_size({"width": 390, "height": 844})
    page.get_by_role("tab", name="Library").click()
    expect(page.locator("#library-table")).to_contain_text("synth_00002.mp4", timeout=LONG)
    page.locator("#library-run").click()
    expect(page.locator("#library-metrics")).to_contain_text("3 / 3 clips scored", timeout=LONG)
    expect(page.locator("#library-metrics table").first).to_be_visible()
    assert _narrow_cells(page, "#library-metrics td, #library-metrics th") == []
    assert _narrow_cells(page, "#library-table td, #library-table th") == []
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390 + 2, f"the page scrolls sideways at 390 px ({width} px wide)"
    shot(page, "library-390")


def test_audit_tab_at_390_px(browser, slow_app):
    url, _ = slow_app  # its store holds the seeded demo explanations
    ctx = browser.new_context(viewport={"width": 390, "height": 844})
    page = ctx.new_page()
    try:
        page.goto(url, wait_until="load")
        page.get_by_role("tab", name="Audit").click()
        page.locator("#audit-name input, #audit-name textarea").first.fill("newcomer")
        page.locator("#audit-next").click()
        expect(page.locator("#audit-queue")).to_contain_text("synth_", timeout=LONG)
        expect(page.locator("#audit-item")).not_to_contain_text("Pick an item", timeout=LONG)
        page.wait_for_timeout(500)
        assert _narrow_cells(page, "[id^=audit] td, [id^=audit] th") == []
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390 + 2, f"the page scrolls sideways at 390 px ({width} px wide)"
        shot(page, "audit-390")
    finally:
        ctx.close()


# ------------------------------------------------------------------ issue 17 item 3: results as they come
STEP_S = 0.15  # seconds each decoding step sleeps: the demo writes about 40 tokens, so ~6 s of generation


@pytest.fixture(scope="module")
def slow_app(tmp_path_factory, seeded):
    """The app on the demo checkpoint (it writes real reasonings) with a forward hook that sleeps at every
    decoding step (one new token per row), so results visibly come in over several seconds; its store is a
    copy of the audit tests' seeded one (demo explanations of example clips to audit)."""
    sys.path.insert(0, str(ROOT))
    import app as app_module
    from r1omni.ui import launch_options

    work = tmp_path_factory.mktemp("slow-app")
    lib = work / "library"
    lib.mkdir()
    shutil.copy(EXAMPLES / "synth_00002.mp4", lib)
    shutil.copy(seeded[1], work / "results.sqlite")
    settings = app_module.parse_args(["--library", str(lib), "--db", str(work / "results.sqlite"),
                                      "--port", str(free_port()), "--device", "cpu", "--max-upload-mb", "5"])
    demo = app_module.build(settings)

    def slow_decoding_step(module, args, kwargs):
        ids = kwargs.get("input_ids")
        if ids is not None and ids.shape[-1] == 1 and kwargs.get("inputs_embeds") is None:
            time.sleep(STEP_S)

    model = demo.r1omni_backend.pipeline.model
    hook = model.register_forward_pre_hook(slow_decoding_step, with_kwargs=True)
    demo.launch(prevent_thread_lock=True, quiet=True, **launch_options(settings))
    yield f"http://127.0.0.1:{settings.port}/", demo
    demo.close()
    hook.remove()


def _open(browser, url):
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = ctx.new_page()
    pg.set_default_timeout(30_000)
    pg.goto(url, wait_until="load")
    pg.locator("#explain-button").wait_for(timeout=30_000)
    return ctx, pg


def test_reasoning_streams_before_the_result_and_a_waiting_request_sees_its_place(browser, slow_app):
    url, _ = slow_app
    ctx, page = _open(browser, url)
    ctx2, other = _open(browser, url)
    try:
        upload_video(page, EXAMPLES / "synth_00002.mp4")
        page.locator("#explain-button").click()
        # the reasoning is on the page while it is still being generated, before any answer
        expect(page.locator("#reasoning")).to_contain_text("face", timeout=LONG)
        assert "checkpoint:" not in page.locator("#clip-label").inner_text()
        expect(page.locator("#clip-progress")).to_contain_text("Generating")
        expect(page.locator("#clip-progress")).to_contain_text(re.compile(r"\d+ tokens"))
        # then the answer and class distribution, and the attribution's progress in variants
        expect(page.locator("#clip-label")).to_contain_text("checkpoint:", timeout=LONG)
        expect(page.locator("#clip-progress")).to_contain_text("Done", timeout=LONG)
        expect(page.locator("#clip-progress")).not_to_contain_text("Generating")
        # a second request while one runs: it is told its place and, now that one was measured, how long
        upload_video(other, EXAMPLES / "synth_00001.mp4")
        page.locator("#explain-button").click()
        expect(page.locator("#clip-progress")).to_contain_text("Generating", timeout=LONG)
        other.locator("#explain-button").click()
        expect(other.locator("#clip-progress")).to_contain_text("1 request ahead of yours", timeout=LONG)
        expect(other.locator("#clip-progress")).to_contain_text(re.compile(r"about \d+ s"))
        expect(other.locator("#clip-label")).to_contain_text("checkpoint:", timeout=LONG)
        expect(page.locator("#clip-progress")).to_contain_text("Done", timeout=LONG)
    finally:
        ctx.close()
        ctx2.close()


def test_the_attribution_stage_reports_variants_done_over_total(browser, slow_app):
    url, _ = slow_app
    ctx, page = _open(browser, url)
    try:
        upload_video(page, EXAMPLES / "synth_00003.mp4")
        page.evaluate("""() => { window.progressSeen = [];
            const el = document.querySelector('#clip-progress');
            new MutationObserver(() => { const t = el.innerText.trim();
                if (t && window.progressSeen[window.progressSeen.length - 1] !== t) window.progressSeen.push(t); })
              .observe(el, {subtree: true, childList: true, characterData: true}); }""")
        page.locator("#explain-button").click()
        expect(page.locator("#clip-progress")).to_contain_text("Done", timeout=LONG)
        seen = page.evaluate("window.progressSeen")
        generating = [i for i, t in enumerate(seen) if "Generating" in t and "token" in t]
        scored = [i for i, t in enumerate(seen) if re.search(r"\d+ / \d+ variants scored", t)]
        assert generating and scored, seen
        assert min(scored) > max(generating), seen  # generation first, then attribution
        fractions = [tuple(map(int, re.search(r"(\d+) / (\d+) variants", seen[i]).groups())) for i in scored]
        assert fractions[0][0] < fractions[0][1], seen  # it started below the total...
        assert [d for d, _ in fractions] == sorted(d for d, _ in fractions), seen  # ...and only went up
        assert re.search(r"ms per token", seen[generating[-1]]), seen
    finally:
        ctx.close()

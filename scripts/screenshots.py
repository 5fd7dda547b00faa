"""Screenshots of each tab with the demo checkpoint, for the README (docs/screenshots/*.png).

    .venv/bin/python scripts/screenshots.py [--clip PATH] [--out docs/screenshots]

Starts the app in-process on the demo checkpoint with assets/examples as the library, drives Debian's
Chromium (fake camera and microphone) through Playwright: explains a clip in the Clip tab, runs the
Library, lets the Live tab predict, audits a claim of a seeded audit store (scripts/audit_seed.py) in the
Audit tab, and saves one PNG per tab, downscaled to keep the repository small.
"""

from __future__ import annotations

import argparse
import socket
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync",
        "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]
LONG = 120_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def save(page, out: Path, name: str, width: int) -> None:
    from PIL import Image

    raw = out / f"{name}.full.png"
    page.screenshot(path=str(raw), full_page=True)
    img = Image.open(raw)
    scale = width / img.width
    img.resize((width, int(img.height * scale)), Image.LANCZOS).convert("RGB").quantize(colors=128).save(
        out / f"{name}.png", optimize=True)
    raw.unlink()
    print(out / f"{name}.png")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--clip", default=str(ROOT / "assets" / "examples" / "synth_00002.mp4"))
    ap.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    ap.add_argument("--width", type=int, default=900)
    ap.add_argument("--tabs", default="clip,library,live,audit")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    import app as app_module
    from playwright.sync_api import expect, sync_playwright

    from r1omni.ui import launch_options

    work = Path(tempfile.mkdtemp())
    tabs = args.tabs.split(",")
    if "audit" in tabs:
        sys.path.insert(0, str(ROOT / "scripts"))
        from audit_seed import seed

        seed(work / "results.sqlite", ROOT / "assets" / "examples", 4)
    settings = app_module.parse_args(["--library", str(ROOT / "assets" / "examples"), "--db",
                                      str(work / "results.sqlite"), "--port", str(free_port()), "--device", "cpu"])
    demo = app_module.build(settings)
    demo.launch(prevent_thread_lock=True, quiet=True, **launch_options(settings))
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=ARGS)
            ctx = browser.new_context(viewport={"width": 1280, "height": 900}, permissions=["camera", "microphone"])
            page = ctx.new_page()
            page.set_default_timeout(60_000)
            page.goto(f"http://127.0.0.1:{settings.port}/", wait_until="load")
            page.locator("#explain-button").wait_for()
            if "clip" in tabs:
                page.locator("#clip-video input[type=file]").set_input_files(args.clip)
                page.wait_for_timeout(1500)
                page.locator("#explain-button").click()
                expect(page.locator("#clip-label")).to_contain_text("checkpoint:", timeout=LONG)
                expect(page.locator("#clip-progress")).to_contain_text("Done", timeout=LONG)  # results stream in
                expect(page.locator(".js-plotly-plot")).to_have_count(5, timeout=LONG)
                page.wait_for_timeout(1500)
                print("label:", page.locator("#clip-label").inner_text().splitlines()[:2])
                print("notices:", page.locator("#clip-notices").inner_text()[:300])
                save(page, out, "clip", args.width)
            if "library" in tabs:
                page.get_by_role("tab", name="Library").click()
                page.locator("#library-run").click()
                expect(page.locator("#library-metrics")).to_contain_text("clips scored", timeout=LONG)
                page.wait_for_timeout(3000)
                save(page, out, "library", args.width)
            if "live" in tabs:
                page.get_by_role("tab", name="Live").click()
                page.locator("#live-cam").get_by_text("Click to Access Webcam").click()
                page.wait_for_timeout(1500)
                page.locator("#live-cam button[aria-label='capture photo']").first.click()
                page.locator("#live-mic").get_by_role("button", name="Record").first.click()
                expect(page.locator("#live-label")).to_contain_text("checkpoint:", timeout=LONG)
                page.wait_for_timeout(4000)
                save(page, out, "live", args.width)
            if "audit" in tabs:
                page.get_by_role("tab", name="Audit").click()
                page.locator("#audit-name input, #audit-name textarea").first.fill("annotator-1")
                page.locator("#audit-next").click()
                expect(page.locator("#audit-claim-detail")).to_contain_text("Claim 1 of", timeout=LONG)
                page.locator("#audit-item").click()
                page.keyboard.press("s")
                expect(page.locator("#audit-status")).to_contain_text("saved", timeout=LONG)
                page.locator("#audit-claim label").first.click()
                page.locator("#audit-evidence [data-seek]").first.click()
                page.wait_for_timeout(1500)
                save(page, out, "audit", args.width)
            browser.close()
    finally:
        demo.close()


if __name__ == "__main__":
    main()

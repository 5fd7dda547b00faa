"""An app started with --host 0.0.0.0 --no-auth says on its page, above every tab, that anyone who can reach
it can use it; a loopback app (the other browser tests) shows no such banner."""

from __future__ import annotations

import sys

from playwright.sync_api import expect

from tests.ui.app_fixtures import ROOT, free_port, make_library


def test_an_open_network_app_says_so_on_every_tab(browser, tiny_checkpoint, tmp_path, running_app):
    sys.path.insert(0, str(ROOT))
    import app as app_module
    from r1omni.ui import launch_options

    settings = app_module.parse_args(["--checkpoint", str(tiny_checkpoint), "--library",
                                      str(make_library(tmp_path / "lib", 1)), "--db", str(tmp_path / "db.sqlite"),
                                      "--port", str(free_port()), "--device", "cpu", "--host", "0.0.0.0",
                                      "--no-auth"])
    demo = app_module.build(settings)
    demo.launch(prevent_thread_lock=True, quiet=True, **launch_options(settings))
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = ctx.new_page()
        page.goto(f"http://127.0.0.1:{settings.port}/", wait_until="load")
        page.locator("#explain-button").wait_for(timeout=30_000)
        banner = page.locator("#open-banner")
        for tab in ("Clip", "Library", "Live", "Audit"):
            page.get_by_role("tab", name=tab).click()
            expect(banner).to_be_visible()
            expect(banner).to_contain_text("open to anyone who can reach it")
        other = ctx.new_page()
        other.goto(running_app[0], wait_until="load")
        other.locator("#explain-button").wait_for(timeout=30_000)
        expect(other.locator("#open-banner")).to_have_count(0)
    finally:
        ctx.close()
        demo.close()

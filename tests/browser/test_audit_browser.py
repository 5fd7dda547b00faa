"""Two annotators in two browser contexts audit demo predictions: verdicts (buttons and keyboard), agreement
that updates, an adjudication, a seek to the evidence, and verdicts that survive a reload and an app restart.

The store is seeded once per session with demo-checkpoint explanations of the example clips (CPU).
"""

from __future__ import annotations

import shutil
import sys

import pytest
from playwright.sync_api import expect

from r1omni.audit import records
from r1omni.audit.store import AuditStore
from tests.browser.conftest import shot
from tests.ui.app_fixtures import ROOT, free_port, make_library

USERS = {"alice": "pw-a", "bob": "pw-b"}
LONG = 60_000


@pytest.fixture(scope="session")
def seeded(tmp_path_factory):
    """(library folder, seeded db) with the demo checkpoint's full explanations of 4 example clips."""
    sys.path.insert(0, str(ROOT / "scripts"))
    from audit_seed import seed

    work = tmp_path_factory.mktemp("audit_seed")
    lib = make_library(work / "library", 4)
    db = work / "seed.sqlite"
    ids = seed(db, lib, 4)
    assert len(ids) == 4
    return lib, db


class App:
    """The app with --auth-file on a copy of the seeded store; restart() builds and launches it again."""

    def __init__(self, lib, db, users):
        sys.path.insert(0, str(ROOT))
        import app as app_module

        self.module = app_module
        self.settings = app_module.parse_args(["--library", str(lib), "--db", str(db), "--port", str(free_port()),
                                               "--device", "cpu", "--auth-file", str(users)])
        self.url = f"http://127.0.0.1:{self.settings.port}/"
        self.demo = None
        self.start()

    def start(self):
        from r1omni.ui import launch_options

        self.demo = self.module.build(self.settings)
        self.demo.launch(prevent_thread_lock=True, quiet=True, **launch_options(self.settings))

    def restart(self):
        self.demo.close()
        self.demo.r1omni_backend.audit.close()
        self.start()


@pytest.fixture
def audit_app(seeded, tmp_path):
    lib, seed_db = seeded
    db = tmp_path / "app.sqlite"
    shutil.copy(seed_db, db)
    users = tmp_path / "users.txt"
    users.write_text("".join(f"{u}:{p}\n" for u, p in USERS.items()))
    app = App(lib, db, users)
    yield app
    app.demo.close()


def login(browser, url: str, user: str):
    ctx = browser.new_context(viewport={"width": 1280, "height": 1000})
    page = ctx.new_page()
    page.set_default_timeout(30_000)
    page.goto(url, wait_until="load")
    page.get_by_label("username").fill(user)
    page.get_by_label("password").fill(USERS[user])
    page.get_by_role("button", name="Login").click()
    page.locator("#explain-button").wait_for()
    page.get_by_role("tab", name="Audit").click()
    expect(page.locator("#audit-identity")).to_contain_text(f"Annotating as {user}")
    return ctx, page


def open_item(page, pid: str):
    page.locator("#audit-queue").get_by_text(pid).filter(visible=True).first.click()
    expect(page.locator("#audit-item")).to_contain_text(pid)


def test_two_annotators_agree_adjudicate_and_verdicts_survive_reload_and_restart(browser, audit_app):
    with AuditStore(audit_app.settings.db) as s:
        pid = s.prediction_ids()[0]
        n_claims = len(s.item(pid)["claims"])
    assert n_claims >= 2
    ctx_a, alice = login(browser, audit_app.url, "alice")
    ctx_b, bob = login(browser, audit_app.url, "bob")
    expect(alice.locator("#audit-queue")).to_contain_text(pid)

    # alice: claim 1 by keyboard, claim 2 by button (each moves to the next open claim)
    open_item(alice, pid)
    expect(alice.locator("#audit-claim-detail")).to_contain_text("Claim 1 of")
    expect(alice.locator("#audit-claim-detail")).to_contain_text("suggestion:")
    alice.locator("#audit-item").click()  # focus outside any text field
    alice.keyboard.press("s")
    expect(alice.locator("#audit-status")).to_contain_text("saved: claim 1 supported")
    expect(alice.locator("#audit-claim-detail")).to_contain_text("Claim 2 of")
    alice.locator("#audit-hallucinated").click()
    expect(alice.locator("#audit-status")).to_contain_text("saved: claim 2 hallucinated")

    # claim 1 cites the face: its evidence buttons seek the player to the frames that carry it
    alice.locator("#audit-claim label").first.click()
    expect(alice.locator("#audit-claim-detail")).to_contain_text("your verdict: supported")
    seek = alice.locator("#audit-evidence [data-seek]")
    expect(seek.first).to_be_visible()
    t = float(seek.nth(1).get_attribute("data-seek"))
    assert t > 0
    seek.nth(1).click()
    got = alice.evaluate("() => document.querySelector('#audit-video video').currentTime")
    assert abs(got - t) < 0.05, (got, t)

    # bob disagrees on claim 1, agrees on claim 2; his agreement panel shows the pair at once
    open_item(bob, pid)
    bob.locator("#audit-hallucinated").click()
    expect(bob.locator("#audit-status")).to_contain_text("saved: claim 1 hallucinated")
    bob.locator("#audit-hallucinated").click()
    expect(bob.locator("#audit-status")).to_contain_text("saved: claim 2 hallucinated")
    expect(bob.locator("#audit-stats")).to_contain_text("alice|bob")
    expect(bob.locator("#audit-stats")).to_contain_text("4 verdicts")
    expect(bob.locator("#audit-progress")).to_contain_text("alice")

    # alice sees agreement update after a refresh, and adjudicates the disagreement
    alice.locator("#audit-refresh").click()
    expect(alice.locator("#audit-stats")).to_contain_text("4 verdicts")
    expect(alice.locator("#audit-stats")).to_contain_text("alice|bob")
    table = alice.locator("#audit-disagreements")
    expect(table).to_contain_text("alice: supported; bob: hallucinated")
    table.get_by_text(pid).filter(visible=True).first.click()
    expect(alice.locator("#audit-adj-detail")).to_contain_text("claim 1")
    alice.locator("#audit-adj-verdict").get_by_text("hallucinated").click()
    alice.locator("#audit-adjudicate").click()
    expect(alice.locator("#audit-adj-status")).to_contain_text("decision recorded: claim 1 hallucinated by alice")
    expect(table).to_contain_text("hallucinated (alice)")
    shot(alice, "audit-two-annotators")

    # a reload keeps everything (server-side store; the login cookie stays)
    bob.reload(wait_until="load")
    bob.locator("#explain-button").wait_for()
    bob.get_by_role("tab", name="Audit").click()
    open_item(bob, pid)
    expect(bob.locator("#audit-claim-detail")).to_contain_text(f"Claim 3 of {n_claims}")  # the first open claim
    bob.locator("#audit-claim label").first.click()
    expect(bob.locator("#audit-claim-detail")).to_contain_text("your verdict: hallucinated")
    ctx_a.close()
    ctx_b.close()

    # an app restart on the same file keeps every verdict and the decision
    audit_app.restart()
    ctx_c, again = login(browser, audit_app.url, "alice")
    expect(again.locator("#audit-stats")).to_contain_text("4 verdicts")
    expect(again.locator("#audit-disagreements")).to_contain_text("hallucinated (alice)")
    open_item(again, pid)
    again.locator("#audit-claim label").first.click()
    expect(again.locator("#audit-claim-detail")).to_contain_text("your verdict: supported")
    ctx_c.close()

    with AuditStore(audit_app.settings.db) as s:
        recs = records.audited_records(s)
    assert len(recs) == 1 and recs[0]["adjudications"][0]["adjudicator"] == "alice"
    assert sorted((v["annotator"], v["verdict"]) for v in recs[0]["claims"][0]["verdicts"]) == \
        [("alice", "supported"), ("bob", "hallucinated")]

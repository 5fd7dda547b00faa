"""Annotators and adjudicators in their own browser contexts audit demo predictions: verdicts (buttons and
keyboard, wherever focus is), blind annotation, agreement that updates, adjudication by role with a
confirmation, a seek to the evidence, refusals as one message, logout, and verdicts that survive a reload
and an app restart.

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
from tests.ui.explain_samples import sample_explain

USERS = {"alice": "pw-a", "bob": "pw-b", "carol": "pw-c", "dave": "pw-d"}
ROLES = {"carol": "adjudicator", "dave": "adjudicator"}  # alice and bob: annotators (the default)
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
    users.write_text("".join(f"{u}:{p}" + (f":{ROLES[u]}" if u in ROLES else "") + "\n" for u, p in USERS.items()))
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


def seeded_pid(db, at_least: int = 3) -> tuple[str, int]:
    """A seeded item with at least `at_least` claims (the fewest such), and its number of claims."""
    with AuditStore(db) as s:
        counts = {p: len(s.item(p)["claims"]) for p in s.prediction_ids()}
    pid = min((p for p, n in counts.items() if n >= at_least), key=lambda p: (counts[p], p))
    return pid, counts[pid]


def no_error_badges(page):
    """Gradio marks every output of an event that raised with an 'Error' status badge."""
    page.wait_for_timeout(300)  # the event's status trackers settle
    assert page.locator("[data-testid=status-tracker] span.error").filter(visible=True).count() == 0


def test_blind_annotation_keys_anywhere_numbering_and_overall_verdict_after_reload(browser, audit_app):
    pid, k = seeded_pid(audit_app.settings.db)
    ctx_a, alice = login(browser, audit_app.url, "alice")
    ctx_b, bob = login(browser, audit_app.url, "bob")

    open_item(alice, pid)
    expect(alice.locator("#audit-claim-detail")).to_contain_text(f"Claim 1 of {k}")
    alice.locator("#audit-item").click()  # focus outside any text field
    alice.keyboard.press("s")
    expect(alice.locator("#audit-status")).to_contain_text("saved: claim 1 supported")
    # after clicking a claim chip (focus on its radio) the keys still work
    alice.locator("#audit-claim label").nth(2).click()
    expect(alice.locator("#audit-claim-detail")).to_contain_text(f"Claim 3 of {k}")
    alice.keyboard.press("h")
    expect(alice.locator("#audit-status")).to_contain_text("saved: claim 3 hallucinated")
    nxt = 4 if k > 3 else 2  # the next claim alice has not judged, after claim 3 (wrapping)
    expect(alice.locator("#audit-claim-detail")).to_contain_text(f"Claim {nxt} of {k}")  # the open one
    alice.keyboard.press("p")  # previous claim
    expect(alice.locator("#audit-claim-detail")).to_contain_text(f"Claim {nxt - 1} of {k}")
    expect(alice.locator("#audit-claim-detail")).to_contain_text(
        "your verdict: " + ("supported" if nxt == 2 else "hallucinated"))
    alice.keyboard.press("n")  # next claim
    expect(alice.locator("#audit-claim-detail")).to_contain_text(f"Claim {nxt} of {k}")
    alice.locator("#audit-clip-verdict").get_by_text("hallucinated").click()
    alice.locator("#audit-clip-note textarea").fill("claim 3 names the wrong cue")
    alice.locator("#audit-clip-save").click()
    expect(alice.locator("#audit-status")).to_contain_text("overall verdict saved: hallucinated")

    # bob does not see alice's verdict before saving his own, and sees it after
    open_item(bob, pid)
    detail = bob.locator("#audit-claim-detail")
    expect(detail).to_contain_text(f"Claim 1 of {k}")
    expect(detail).to_contain_text("shown once you saved yours")
    expect(detail).not_to_contain_text("alice")
    bob.locator("#audit-claim label").first.click()
    bob.keyboard.press("h")
    expect(bob.locator("#audit-status")).to_contain_text("saved: claim 1 hallucinated")
    bob.keyboard.press("p")
    expect(detail).to_contain_text(f"Claim 1 of {k}")
    expect(detail).to_contain_text("others: alice: supported")
    # the disagreement table numbers the claim as every other view does
    table = bob.locator("#audit-disagreements")
    expect(table).to_contain_text("alice: supported; bob: hallucinated")
    row = table.locator("[role=row]", has_text=pid).filter(visible=True).first
    cells = [c.strip() for c in row.locator("[role=gridcell]").all_inner_texts()]
    assert cells[:2] == [pid, "1"], cells
    ctx_b.close()

    # a reload shows alice's saved overall verdict and note again
    alice.reload(wait_until="load")
    alice.locator("#explain-button").wait_for()
    alice.get_by_role("tab", name="Audit").click()
    open_item(alice, pid)
    expect(alice.locator("#audit-clip-verdict input[value='hallucinated']")).to_be_checked()
    expect(alice.locator("#audit-clip-note textarea")).to_have_value("claim 3 names the wrong cue")
    shot(alice, "audit-blind-annotation")

    # logout returns to the login page; the app is closed to this browser again
    alice.locator("#logout").click()
    expect(alice.get_by_label("username")).to_be_visible()
    alice.goto(audit_app.url, wait_until="load")
    expect(alice.get_by_label("username")).to_be_visible()
    ctx_a.close()


def test_a_refused_write_is_one_message_and_categories_are_saved_only_when_meant(browser, audit_app):
    pid, k = seeded_pid(audit_app.settings.db)
    with AuditStore(audit_app.settings.db) as s:
        flagged = s.add_explanation(sample_explain(), clip="flagged.mp4")  # claim 2 is flagged ("other")
    ctx, alice = login(browser, audit_app.url, "alice")
    open_item(alice, pid)
    expect(alice.locator("#audit-claim-detail")).to_contain_text(f"Claim 1 of {k}")
    with AuditStore(audit_app.settings.db) as s:
        s.set_self_consistency(pid, 0, 0.4)  # new evidence: the item alice has open is stale now
    alice.locator("#audit-supported").click()
    status = alice.locator("#audit-status")
    expect(status).to_contain_text("Not saved")
    expect(status).to_contain_text("updated since you loaded it")
    no_error_badges(alice)
    expect(alice.locator("#audit-claim-detail")).to_contain_text("self-consistency: 0.40")  # reloaded
    alice.locator("#audit-supported").click()  # and the tab is usable at once
    expect(status).to_contain_text("saved: claim 1 supported")

    # a flagged claim judged 'supported' stores no category; 'hallucinated' takes the flag's
    open_item(alice, flagged)
    alice.locator("#audit-claim label").nth(1).click()
    expect(alice.locator("#audit-claim-detail")).to_contain_text("Claim 2 of 2")
    expect(alice.locator("#audit-claim-detail")).to_contain_text("suggestion: hallucinated (other)")
    alice.keyboard.press("s")
    expect(status).to_contain_text("saved: claim 2 supported (version 1)")
    alice.keyboard.press("h")  # claim 1 is the open one now
    expect(status).to_contain_text("saved: claim 1 hallucinated")
    ctx.close()
    with AuditStore(audit_app.settings.db) as s:
        rec = next(r for r in records.audited_records(s) if r["prediction_id"] == flagged)
    assert [(v["verdict"], v["category"]) for c in rec["claims"] for v in c["verdicts"]] == \
        [("hallucinated", None), ("supported", None)]


def test_only_adjudicators_decide_never_their_own_claim_and_replacing_asks_first(browser, audit_app):
    pid, k = seeded_pid(audit_app.settings.db)
    with AuditStore(audit_app.settings.db) as s:
        s.put_verdict(pid, 0, "alice", "supported", authenticated=True)
        s.put_verdict(pid, 0, "bob", "hallucinated", authenticated=True)
        s.put_verdict(pid, 0, "dave", "unsure", authenticated=True)  # an adjudicator who judged the claim
    note = "the face is disgusted at 1.2 s but the voice is flat and calm throughout, so the cue is misread"

    def pick(page):
        page.locator("#audit-disagreements").get_by_text(pid).filter(visible=True).first.click()
        expect(page.locator("#audit-adj-detail")).to_contain_text("claim 1:")

    ctx_a, alice = login(browser, audit_app.url, "alice")  # a party to the disagreement, annotator
    pick(alice)
    alice.locator("#audit-adj-verdict").get_by_text("supported").click()
    alice.locator("#audit-adjudicate").click()
    expect(alice.locator("#audit-adj-status")).to_contain_text("only adjudicators record decisions; alice is an "
                                                               "annotator")
    no_error_badges(alice)
    ctx_a.close()

    ctx_d, dave = login(browser, audit_app.url, "dave")
    expect(dave.locator("#audit-identity")).to_contain_text("adjudicator")
    pick(dave)
    dave.locator("#audit-adj-verdict").get_by_text("supported").click()
    dave.locator("#audit-adjudicate").click()
    expect(dave.locator("#audit-adj-status")).to_contain_text("dave judged claim 1 of")
    ctx_d.close()

    ctx_c, carol = login(browser, audit_app.url, "carol")
    pick(carol)
    carol.locator("#audit-adj-verdict").get_by_text("hallucinated").click()
    carol.locator("#audit-adj-note textarea").fill(note)
    carol.locator("#audit-adjudicate").click()
    expect(carol.locator("#audit-adj-status")).to_contain_text("decision recorded: claim 1 hallucinated by carol")
    table = carol.locator("#audit-disagreements")
    cell = table.locator("[role=gridcell]", has_text="by carol at").filter(visible=True).first
    expect(cell).to_contain_text(note)  # the decision in full: verdict, who, when, note
    for el in (cell, cell.locator("span").first):  # not cut off: nothing overflows the cell or its text
        box = el.evaluate("(e) => [e.scrollWidth, e.clientWidth, e.scrollHeight, e.clientHeight]")
        assert box[0] <= box[1] + 1 and box[2] <= box[3] + 1, box
    shot(carol, "audit-adjudication")
    ctx_c.close()

    # another adjudicator's decision replaces carol's only after a confirmation
    with AuditStore(audit_app.settings.db) as s:
        s.put_verdict(pid, 1, "alice", "supported", authenticated=True)
    ctx_e, erin = login(browser, audit_app.url, "carol")  # carol again, in a new session
    pick(erin)
    expect(erin.locator("#audit-adj-detail")).to_contain_text("current decision: hallucinated by carol")
    erin.locator("#audit-adj-verdict").get_by_text("unsure").click()
    erin.locator("#audit-adjudicate").click()
    expect(erin.locator("#audit-adj-status")).to_contain_text("already has a decision")
    confirm = erin.locator("#audit-adj-confirm")
    expect(confirm).to_be_visible()
    with AuditStore(audit_app.settings.db) as s:
        assert s.item(pid)["claims"][0]["adjudication"]["verdict"] == "hallucinated"  # nothing replaced yet
    confirm.click()
    expect(erin.locator("#audit-adj-status")).to_contain_text("decision recorded: claim 1 unsure by carol")
    expect(confirm).to_be_hidden()
    ctx_e.close()
    with AuditStore(audit_app.settings.db) as s:
        rec = next(r for r in records.audited_records(s) if r["prediction_id"] == pid)
    assert [(a["claim_index"], a["adjudicator"], a["verdict"]) for a in rec["adjudications"]] == \
        [(0, "carol", "hallucinated"), (0, "carol", "unsure")]
    assert rec["adjudications"][0]["created_at"] < rec["adjudications"][1]["created_at"]


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

    # alice sees agreement update after a refresh; carol (adjudicator) decides the disagreement
    alice.locator("#audit-refresh").click()
    expect(alice.locator("#audit-stats")).to_contain_text("4 verdicts")
    expect(alice.locator("#audit-stats")).to_contain_text("alice|bob")
    expect(alice.locator("#audit-disagreements")).to_contain_text("alice: supported; bob: hallucinated")
    ctx_c, carol = login(browser, audit_app.url, "carol")
    table = carol.locator("#audit-disagreements")
    table.get_by_text(pid).filter(visible=True).first.click()
    expect(carol.locator("#audit-adj-detail")).to_contain_text("claim 1")
    carol.locator("#audit-adj-verdict").get_by_text("hallucinated").click()
    carol.locator("#audit-adjudicate").click()
    expect(carol.locator("#audit-adj-status")).to_contain_text("decision recorded: claim 1 hallucinated by carol")
    expect(table).to_contain_text("hallucinated by carol")
    ctx_c.close()
    alice.locator("#audit-refresh").click()
    expect(alice.locator("#audit-disagreements")).to_contain_text("hallucinated by carol")
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
    expect(again.locator("#audit-disagreements")).to_contain_text("hallucinated by carol")
    open_item(again, pid)
    again.locator("#audit-claim label").first.click()
    expect(again.locator("#audit-claim-detail")).to_contain_text("your verdict: supported")
    ctx_c.close()

    with AuditStore(audit_app.settings.db) as s:
        recs = records.audited_records(s)
    assert len(recs) == 1 and recs[0]["adjudications"][0]["adjudicator"] == "carol"
    assert sorted((v["annotator"], v["verdict"]) for v in recs[0]["claims"][0]["verdicts"]) == \
        [("alice", "supported"), ("bob", "hallucinated")]

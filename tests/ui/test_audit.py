"""The Audit tab's endpoints over real HTTP with --auth-file: refused without login, the logged-in user is
the annotator, stale writes refused with a message; handlers (send to audit, queue, identity) directly."""

from __future__ import annotations

import sys

import httpx
import pytest
from gradio_client import Client

from r1omni.audit.store import AuditStore
from tests.ui.app_fixtures import ROOT, free_port, make_library
from tests.ui.explain_samples import sample_explain

USERS = {"alice": "pw-alice", "bob": "pw-bob", "carol": "pw-carol"}
ROLES = {"carol": "adjudicator"}  # alice and bob: annotators (the default role)
API = ("audit_queue", "audit_item", "audit_verdict", "audit_clip_verdict", "audit_adjudicate", "audit_stats")


@pytest.fixture(scope="module")
def auth_app(tmp_path_factory):
    """(url, db path, prediction id, demo) of the app (demo checkpoint) with --auth-file on a store holding
    one item and a one-clip library."""
    sys.path.insert(0, str(ROOT))
    import app as app_module
    from r1omni.ui import launch_options

    work = tmp_path_factory.mktemp("audit_app")
    db = work / "app.sqlite"
    with AuditStore(db) as s:
        pid = s.add_explanation(sample_explain())
    users = work / "users.txt"
    users.write_text("".join(f"{u}:{p}" + (f":{ROLES[u]}" if u in ROLES else "") + "\n" for u, p in USERS.items()))
    settings = app_module.parse_args(["--library",
                                      str(make_library(work / "library", 1)), "--db", str(db), "--port",
                                      str(free_port()), "--device", "cpu", "--auth-file", str(users)])
    demo = app_module.build(settings)
    demo.launch(prevent_thread_lock=True, quiet=True, **launch_options(settings))
    yield f"http://127.0.0.1:{settings.port}/", db, pid, demo
    demo.close()


def _verdicts(db) -> int:
    with AuditStore(db) as s:
        return s.counts()["verdicts"]


def test_unauthenticated_http_calls_to_audit_endpoints_are_refused(auth_app):
    url, db, pid, _ = auth_app
    args = {"audit_verdict": [pid, 0, "hallucinated", None, None, 0, None, "mallory"],
            "audit_clip_verdict": [pid, "hallucinated", None, 0, "mallory"],
            "audit_adjudicate": [pid, 0, "hallucinated", None, None, 0, "mallory"],
            "audit_item": [pid], "audit_stats": [], "audit_queue": ["all", "all", ""]}
    with httpx.Client(base_url=url, timeout=30) as http:
        for name in API:
            r = http.post(f"gradio_api/call/{name}", json={"data": args[name]})
            assert r.status_code in (401, 403), (name, r.status_code, r.text[:200])
        assert http.get("gradio_api/info").status_code in (401, 403)
        # a wrong password does not get a session either
        assert http.post("login", data={"username": "alice", "password": "nope"}).status_code in (400, 401)
        r = http.post("gradio_api/call/audit_verdict", json={"data": args["audit_verdict"]})
        assert r.status_code in (401, 403)
    assert _verdicts(db) == 0


def test_the_logged_in_user_is_the_annotator_and_stale_writes_are_refused(auth_app):
    url, db, pid, _ = auth_app
    alice = Client(url, auth=("alice", USERS["alice"]), verbose=False)
    # the name argument is what an unauthenticated app would use; with auth it cannot claim to be someone else
    rec = alice.predict(pid, 1, "hallucinated", "misread cue", "voice is not calm", 0, None, "mallory",
                        api_name="/audit_verdict")
    assert rec["annotator"] == "alice" and rec["version"] == 1
    with pytest.raises(Exception, match="changed since you loaded it"):
        alice.predict(pid, 1, "supported", None, None, 0, None, "", api_name="/audit_verdict")
    bob = Client(url, auth=("bob", USERS["bob"]), verbose=False)
    assert bob.predict(pid, 1, "supported", None, None, 0, None, "", api_name="/audit_verdict")["version"] == 1
    item = bob.predict(pid, api_name="/audit_item")
    assert [(v["annotator"], v["verdict"]) for v in item["claims"][1]["verdicts"]] == \
        [("alice", "hallucinated"), ("bob", "supported")]
    stats = bob.predict(api_name="/audit_stats")
    assert stats["verdicts"] == 2 and set(stats["kappa"]) == {"alice|bob"}
    queue = bob.predict("disagreement", "all", "", api_name="/audit_queue")
    assert [r["prediction_id"] for r in queue] == [pid]
    carol = Client(url, auth=("carol", USERS["carol"]), verbose=False)
    dec = carol.predict(pid, 1, "hallucinated", "misread cue", "voice trembles at 1.2 s", 0, "",
                        api_name="/audit_adjudicate")
    assert dec["adjudicator"] == "carol"
    with AuditStore(db) as s:
        it = s.item(pid)
    assert it["claims"][1]["adjudication"]["verdict"] == "hallucinated"
    assert {v["annotator"]: v["verdict"] for v in it["claims"][1]["verdicts"]} == \
        {"alice": "hallucinated", "bob": "supported"}  # the decision did not edit their verdicts
    with AuditStore(db) as s:
        assert {n for n in s.annotators()} == {"alice", "bob", "carol"}  # no 'mallory'


def test_api_lists_the_audit_endpoints_and_none_of_the_tab_handlers(auth_app):
    url = auth_app[0]
    api = Client(url, auth=("alice", USERS["alice"]), verbose=False).view_api(return_format="dict", print_info=False)
    names = set(api["named_endpoints"])
    assert {f"/{n}" for n in API} <= names
    private = {"/save_verdict", "/refresh", "/open_item", "/pick_queue_row", "/next_item", "/pick_claim",
               "/skip_claim", "/save_clip_verdict", "/pick_disagreement", "/decide", "/export_file", "/send_clip",
               "/send_library"}
    assert not names & private, names & private


def test_identity_without_auth_needs_a_name_and_says_unauthenticated(auth_app):
    from r1omni.errors import UsageError
    from r1omni.ui import audit_tab

    assert audit_tab.annotator(False, "  Dana  ", None) == ("Dana", False)
    with pytest.raises(UsageError, match="annotator name"):
        audit_tab.annotator(False, "", None)
    with pytest.raises(UsageError, match="log in"):
        audit_tab.annotator(True, "alice", None)  # auth on: a typed name is never enough
    backend = auth_app[3].r1omni_backend
    ident = audit_tab.refresh(backend, False, "all", "all", "")[0]
    assert "unauthenticated" in ident


def test_send_clip_stores_the_explanation_and_seek_buttons_carry_times(auth_app, tmp_path):
    from r1omni.ui import audit_tab

    backend = auth_app[3].r1omni_backend
    video = tmp_path / "upload.mp4"
    video.write_bytes((ROOT / "assets" / "examples" / "synth_00002.mp4").read_bytes())
    res = sample_explain()
    res["prediction"]["text"] = res["prediction"]["text"].replace("calm.", "calm!")
    res["claims"][1]["text"] = "The voice sounds calm!"
    msg = audit_tab.send_clip(backend, str(video), res)
    pid = msg.split("`")[1]
    item = backend.audit.item(pid)
    assert item["clip"].startswith("upload/") and item["clip"].endswith("/upload.mp4")
    html = audit_tab.evidence_html(item, 0)
    assert 'data-seek="0.500"' in html  # the frame with the largest occlusion score (0.5, frame 1 at 0.5 s)
    with pytest.raises(Exception, match="explain a clip first"):
        audit_tab.send_clip(backend, str(video), {})


def test_send_a_library_run_to_audit_keeps_the_stored_completions(auth_app):
    """Library -> audit: every stored prediction of the run becomes an item whose completion is exactly the
    stored text (teacher-forced, not generated again), with full evidence (frames / audio windows)."""
    from r1omni.ui import audit_tab, library_tab

    backend = auth_app[3].r1omni_backend
    state = library_tab.open_clips(backend, ".", "dfew")[0]
    list(library_tab.run_batch(backend, state, "dfew", 16))
    stored = [r for _, r in audit_tab._library_results(backend, state, "dfew")]
    assert stored and all(r and r.get("text") for r in stored)
    before = set(backend.audit.prediction_ids())
    msgs = list(audit_tab.send_library(backend, state, "dfew", "full"))
    assert msgs[-1] == f"sent {len(stored)} predictions of this run to the Audit queue"
    new = [backend.audit.item(p) for p in set(backend.audit.prediction_ids()) - before]
    assert sorted(i["completion"] for i in new) == sorted(r["text"] for r in stored)
    for item in new:
        assert item["explanation"]["frames"] and audit_tab.clip_file(backend, item)  # the player finds the clip
        assert all(item["completion"][c["start"]:c["end"]] == c["text"] for c in item["claims"])
    assert list(audit_tab.send_library(backend, state, "dfew", "full"))[-1].startswith("sent ")  # again: same ids
    assert len(backend.audit.prediction_ids()) == len(before) + len(new)


def test_export_from_the_tab_writes_the_design_records(auth_app):
    import json

    from r1omni.ui import audit_tab

    backend = auth_app[3].r1omni_backend
    pid = auth_app[2]
    backend.audit.put_verdict(pid, 0, "bob", "supported", expected_version=0)
    path, msg = audit_tab.export_file(backend, "jsonl")
    recs = [json.loads(line) for line in open(path, encoding="utf-8")]
    assert msg == f"{len(recs)} audited predictions exported" and pid in {r["prediction_id"] for r in recs}
    path, _ = audit_tab.export_file(backend, "csv")
    assert open(path, encoding="utf-8").readline().startswith("prediction_id,clip,checkpoint")


def test_api_roles_and_blind_items(auth_app):
    """The API enforces what the tab does: an annotator sees others' verdicts on a claim only after saving
    theirs; only adjudicators decide, never on a claim they judged; replacing a decision states its version."""
    url, db, _, demo = auth_app
    with AuditStore(db) as s:
        res = sample_explain()
        res["prediction"]["text"] = res["prediction"]["text"].replace("smile.", "smile!")
        res["claims"][0]["text"] = "The mouth curves up into a smile!"
        pid = s.add_explanation(res, clip="roles.mp4")
    alice = Client(url, auth=("alice", USERS["alice"]), verbose=False)
    bob = Client(url, auth=("bob", USERS["bob"]), verbose=False)
    carol = Client(url, auth=("carol", USERS["carol"]), verbose=False)
    alice.predict(pid, 0, "supported", None, None, 0, None, "", api_name="/audit_verdict")
    alice.predict(pid, "supported", None, 0, "", api_name="/audit_clip_verdict")
    seen = bob.predict(pid, "", api_name="/audit_item")
    assert seen["claims"][0]["verdicts"] == [] and seen["clip_verdicts"] == []  # blind before judging
    bob.predict(pid, 0, "hallucinated", None, None, 0, None, "", api_name="/audit_verdict")
    seen = bob.predict(pid, "", api_name="/audit_item")
    assert [v["annotator"] for v in seen["claims"][0]["verdicts"]] == ["alice", "bob"]
    assert [v["annotator"] for v in carol.predict(pid, "", api_name="/audit_item")["claims"][0]["verdicts"]] == \
        ["alice", "bob"]  # adjudicators see all
    with pytest.raises(Exception, match="only adjudicators record decisions; bob is an annotator"):
        bob.predict(pid, 0, "hallucinated", None, None, 0, "", api_name="/audit_adjudicate")
    carol.predict(pid, 1, "unsure", None, None, 0, None, "", api_name="/audit_verdict")
    with pytest.raises(Exception, match="carol judged claim 2 of"):
        carol.predict(pid, 1, "unsure", None, None, 0, "", api_name="/audit_adjudicate")
    assert carol.predict(pid, 0, "supported", None, None, 0, "", api_name="/audit_adjudicate")["version"] == 1
    with pytest.raises(Exception, match="adjudicated meanwhile by carol"):  # a replacement must state version 1
        carol.predict(pid, 0, "hallucinated", None, None, 0, "", api_name="/audit_adjudicate")
    with AuditStore(db) as s:
        assert s.item(pid)["claims"][0]["adjudication"]["verdict"] == "supported"


def test_category_is_saved_only_when_chosen_or_hallucinated(auth_app):
    """The tab never stores the flag's pre-filled category with a 'supported' verdict."""
    from r1omni.ui import audit_tab

    backend = auth_app[3].r1omni_backend
    claim = {"auto_flags": ["cites absent modality"]}
    assert audit_tab.saved_category("hallucinated", None, {}, claim) == "wrong modality"
    assert audit_tab.saved_category("supported", None, {}, claim) is None
    assert audit_tab.saved_category("supported", "misread cue", {}, claim) == "misread cue"  # chosen
    loaded = {"category_loaded": "wrong modality", "category_verdict": "hallucinated"}
    assert audit_tab.saved_category("supported", "wrong modality", loaded, claim) is None  # not re-chosen
    assert audit_tab.saved_category("unsure", "other", loaded, claim) == "other"
    assert backend.audit is not None

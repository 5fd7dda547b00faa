"""The running app on a tiny checkpoint: gradio_client round trips, bad uploads, library handlers, flags."""

from __future__ import annotations

import json
import sqlite3

import pytest
from gradio_client import Client, handle_file

from r1omni.explain import schema_errors
from r1omni.prompts import DFEW
from tests.ui.app_fixtures import EXAMPLES

EXPLAIN_ARGS = ("dfew", "greedy", 16, "fast")


@pytest.fixture(scope="module")
def client(running_app):
    return Client(running_app[0], verbose=False)


def test_explain_endpoint_returns_the_explain_json(client):
    out = client.predict(handle_file(str(EXAMPLES / "synth_00002.mp4")), *EXPLAIN_ARGS, api_name="/explain")
    raw = out[-1]
    assert schema_errors(raw) == []
    assert set(raw["prediction"]["probs"]) == set(DFEW)
    assert raw["prediction"]["checkpoint"]  # every output names its checkpoint
    assert "checkpoint:" in out[0]
    plot = json.loads(out[1]["plot"])  # the class distribution bar
    assert list(plot["data"][0]["x"]) == list(DFEW)


def test_bad_uploads_give_one_line_errors_and_the_app_keeps_serving(client, tmp_path):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 20)
    for bad in (empty, text):
        with pytest.raises(Exception) as e:
            client.predict(handle_file(str(bad)), *EXPLAIN_ARGS, api_name="/explain")
        msg = str(e.value)
        assert "\n" not in msg.strip() and "internal error" not in msg, msg
    huge = tmp_path / "huge.mp4"
    huge.write_bytes(b"\0" * (6 * 1024 * 1024))  # over the 5 MB cap of the fixture
    with pytest.raises(Exception):
        client.predict(handle_file(str(huge)), *EXPLAIN_ARGS, api_name="/explain")
    out = client.predict(handle_file(str(EXAMPLES / "synth_00000.mp4")), *EXPLAIN_ARGS, api_name="/explain")
    assert schema_errors(out[-1]) == []


def test_library_batch_stores_results_and_reopen_shows_them(running_app):
    from r1omni.ui import library_tab

    _, settings, demo = running_app
    backend = demo.r1omni_backend
    state, table, _, metrics, *_ = library_tab.open_clips(backend, settings.library_path, "dfew")
    assert len(table) == 3 and set(table["predicted"]) <= {""} | set(DFEW) | {"outside set", "error"}
    steps = list(library_tab.run_batch(backend, state, "dfew", 16))
    assert len(steps) == 3  # batches of 2 (--batch-size 2): two batches, then the final view
    _, table, _, metrics, _, _ = steps[-1]
    assert "3 / 3 clips scored" in metrics and (table["predicted"] != "").all()
    con = sqlite3.connect(settings.db)
    assert con.execute("SELECT COUNT(*) FROM results").fetchone()[0] >= 3
    con.close()
    state, table2, _, metrics2, *_ = library_tab.open_clips(backend, settings.library_path, "dfew")
    assert metrics2 == metrics and list(table2["predicted"]) == list(table["predicted"])
    assert list(library_tab.run_batch(backend, state, "dfew", 16))[-1][3] == metrics  # nothing left to run


def test_library_refuses_paths_outside_its_root(running_app):
    import gradio as gr

    from r1omni.ui import library_tab

    backend = running_app[2].r1omni_backend
    out = library_tab.open_clips(backend, "../..", "dfew")  # reported in the status line, not raised
    assert out[0] == {} and "outside the library root" in out[2] and str(backend.library_root) not in out[2]


def test_flags_and_auth_file(tmp_path):
    import app as app_module

    from r1omni.errors import UsageError

    s = app_module.parse_args([])
    assert (s.host, s.port, s.auth) == ("127.0.0.1", 7860, None)
    auth = tmp_path / "users.txt"
    auth.write_text("# annotators\nann:secret\n\nbob:pa:ss\n")
    assert app_module.read_auth_file(auth) == [("ann", "secret"), ("bob", "pa:ss")]
    auth.write_text("nocolon\n")
    with pytest.raises(UsageError, match="line 1"):
        app_module.read_auth_file(auth)


def test_pick_row_opens_only_library_files_and_compare_two_checkpoints(running_app, tiny_checkpoint, tmp_path):
    import shutil
    from types import SimpleNamespace

    import gradio as gr

    from r1omni.ui import library_tab

    _, settings, demo = running_app
    backend = demo.r1omni_backend
    path, tabs, *clip_outputs = library_tab.pick_row(backend, {}, "dfew",
                                                     SimpleNamespace(row_value=["synth_00001.mp4", 4.0]))
    assert path == str(settings.library_root / "synth_00001.mp4") and tabs.selected == "clip"
    with pytest.raises(gr.Error, match="outside the library root"):
        library_tab.pick_row(backend, {}, "dfew", SimpleNamespace(row_value=["../../etc/passwd"]))
    state = library_tab.open_clips(backend, ".", "dfew")[0]
    list(library_tab.run_batch(backend, state, "dfew", 16))  # A on every clip (a no-op when already stored)
    assert backend.checkpoint_choices() == ["same-weights"]  # from --checkpoints
    md, table = library_tab.compare(backend, state, "dfew", "same-weights", 16)
    assert "B: same-weights" in md and md.count("| 3 |") == 2  # both scored on the 3 clips
    assert table.empty  # identical weights, greedy decoding: no disagreements
    other = shutil.copytree(tiny_checkpoint, tmp_path / "elsewhere")  # a folder the operator did not allow
    for name in (str(other), "../elsewhere", "../../" + other.name, str(tiny_checkpoint.parent)):
        with pytest.raises(gr.Error) as e:
            library_tab.compare(backend, state, "dfew", name, 16)
        assert "not in the checkpoint folders allowed" in str(e.value) and str(tmp_path) not in str(e.value)


def test_audio_only_upload_and_progress_by_stage(running_app, real_clips):
    from r1omni.ui import clip_tab

    backend = running_app[2].r1omni_backend
    mp3 = next(p for p in real_clips if p.suffix == ".mp3")
    stages = []
    view = backend.explain_clip(mp3, mode="full", max_new_tokens=16, progress=lambda f, s: stages.append((f, s)))
    assert [s for _, s in stages] == ["decode", "predict", "attribution"]
    assert [f for f, _ in stages] == sorted(f for f, _ in stages)
    assert view.result["prediction"]["modalities"] == {"video": False, "audio": True}
    out = clip_tab.explain_clip(backend, None, "dfew", "greedy", 16, "fast", audio=str(mp3),
                                progress=lambda *a, **k: None)
    assert out[-1]["prediction"]["modalities"]["audio"] is True and "no video track" in out[-2]


def _spied_backend(running_app, lib, store, calls):
    from r1omni.ui.backend import Backend

    backend = Backend(running_app[2].r1omni_backend.pipeline, store, lib, batch_size=1)
    real = backend.predict_clips
    backend.predict_clips = lambda paths, *a, **k: calls.append(len(paths)) or real(paths, *a, **k)
    return backend


def test_stop_ends_the_run_before_the_next_batch_and_retry_reruns_only_failed_clips(running_app, tmp_path):
    from r1omni.library_store import LibraryStore
    from r1omni.ui import library_tab
    from tests.ui.app_fixtures import make_library

    lib = make_library(tmp_path / "lib", n=4)
    store = LibraryStore(tmp_path / "r.sqlite")
    calls = []
    backend = _spied_backend(running_app, lib, store, calls)
    state = library_tab.open_clips(backend, ".", "dfew")[0]
    assert library_tab.stop_run() == "nothing is running"
    library_tab.arm_run()  # Run clicked
    run = library_tab.run_batch(backend, state, "dfew", 16)
    first_step = next(run)  # one batch done
    assert "batch 1 of 4" in first_step[5]
    assert library_tab.stop_run().startswith("stopping")  # Stop pressed (no request: the local session)
    rest = list(run)
    stored = store.get_keyed(backend.key, [c.key for c in state["clips"]], "dfew")
    scored = sum(1 for r in stored.values() if not r.get("error"))
    assert calls == [1] and len(rest) == 1 and len(stored) == 1
    assert f"stopped after batch 1: {scored} of 4 scored" in rest[0][5]  # read from the store
    assert f"**{scored} / 4 clips scored**" in rest[0][3]
    first = state["clips"][0]
    store.put_many(backend.key, "dfew", [(first.key, {"clip": first.rel, "error": "decoder crashed"})])
    state = library_tab.open_clips(backend, ".", "dfew")[0]
    assert "1 clip failed" in library_tab._metrics(state, "dfew")[0]
    list(library_tab.run_batch(backend, state, "dfew", 16))  # resume: the 3 not run, not the failed one
    assert calls == [1, 1, 1, 1] and state["results"][first.rel].get("error") == "decoder crashed"
    list(library_tab.retry_failed(backend, state, "dfew", 16))
    assert calls == [1, 1, 1, 1, 1] and "error" not in state["results"][first.rel]
    last = list(library_tab.retry_failed(backend, state, "dfew", 16))[-1]  # none failed now: it says so
    assert calls == [1, 1, 1, 1, 1] and last[5] == "no failed clips to retry"
    store.close()


def test_stop_pressed_while_the_run_waits_for_the_model_stops_it_before_the_first_batch(running_app, tmp_path):
    from r1omni.library_store import LibraryStore
    from r1omni.ui import library_tab
    from tests.ui.app_fixtures import make_library

    store = LibraryStore(tmp_path / "r.sqlite")
    calls = []
    backend = _spied_backend(running_app, make_library(tmp_path / "lib", n=2), store, calls)
    state = library_tab.open_clips(backend, ".", "dfew")[0]
    library_tab.arm_run()  # clicked; queued behind another model event
    assert library_tab.stop_run().startswith("stopping")
    (last,) = list(library_tab.run_batch(backend, state, "dfew", 16))
    assert calls == [] and "stopped before the first batch: 0 of 2 scored" in last[5]
    assert len(list(library_tab.run_batch(backend, state, "dfew", 16))) == 3  # Stop does not linger
    store.close()


def test_stop_also_stops_send_to_audit_between_two_clips(tmp_path):
    from r1omni.audit.store import AuditStore
    from r1omni.library_store import LibraryStore
    from r1omni.ui import audit_tab, library_tab
    from r1omni.ui.boundary import bind
    from tests.ui.app_fixtures import make_library

    from r1omni.inference import Pipeline
    from r1omni.ui.backend import Backend

    store = LibraryStore(tmp_path / "r.sqlite")  # the demo checkpoint: its predictions have a text to audit
    backend = Backend(Pipeline.load(None, device="cpu"), store, make_library(tmp_path / "lib", n=3))
    backend.audit = AuditStore(tmp_path / "a.sqlite")
    state = library_tab.open_clips(backend, ".", "dfew")[0]
    list(library_tab.run_batch(backend, state, "dfew", 256))
    send = library_tab.stoppable(bind(audit_tab.send_library, backend))
    library_tab.arm_run()
    steps = send(state, "dfew", "fast", progress=lambda *a, **k: None)
    assert next(steps) == "sent 1 of 3 predictions to audit…"
    library_tab.stop_run()
    assert list(steps) == ["**stopped:** sent 1 of 3 predictions to audit"]
    assert backend.audit.counts()["predictions"] == 1
    store.close()


def test_a_library_row_opened_in_the_clip_tab_shows_its_stored_result_and_plurals(running_app):
    from types import SimpleNamespace

    from r1omni.ui import library_tab

    _, settings, demo = running_app
    backend = demo.r1omni_backend
    state = library_tab.open_clips(backend, settings.library_path, "dfew")[0]
    list(library_tab.run_batch(backend, state, "dfew", 16))
    stored = state["results"]["synth_00001.mp4"]
    path, tabs, label, probs, reasoning, *_, notices, raw = library_tab.pick_row(
        backend, state, "dfew", SimpleNamespace(row_value=["synth_00001.mp4", 4.0]))
    assert path == str(settings.library_root / "synth_00001.mp4") and tabs.selected == "clip"
    assert raw == stored and "checkpoint:" in label and "stored Library result" in notices
    assert probs is not None and "Explain" in notices
    table, text = library_tab.filter_rows(backend, state, "dfew", "all", "all", "all", "synth_00001")
    assert len(table) == 1 and text.startswith("1 clip matches")
    assert library_tab.filter_rows(backend, state, "dfew", "all", "all", "all", "")[1].startswith("3 clips match")

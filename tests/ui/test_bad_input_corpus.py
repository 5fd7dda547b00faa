"""The bad-input corpus (tests/bad_corpus.py, 29 cases) through the CLI, the pipeline and the app: one clear
one-line message each (or a result, for the odd-but-readable ones), the app keeps serving, the store stays
consistent."""

from __future__ import annotations

import json
import sqlite3
import sys

import gradio as gr
import pytest
from gradio_client import Client, handle_file

from r1omni.explain import schema_errors
from tests.bad_corpus import READABLE, make_checkpoint_corpus, make_library_corpus, make_media_corpus
from tests.ui.app_fixtures import EXAMPLES, ROOT

EXPLAIN_ARGS = ("dfew", "greedy", 16, "fast")


def _one_line(msg: str) -> bool:
    return bool(msg.strip()) and "\n" not in msg.strip() and "Traceback" not in msg and "internal error" not in msg


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_media_corpus(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="module")
def bad_checkpoints(tiny_checkpoint, tmp_path_factory):
    return make_checkpoint_corpus(tiny_checkpoint, tmp_path_factory.mktemp("bad-ckpts"))


def test_the_corpus_has_at_least_25_cases(corpus, bad_checkpoints, tmp_path):
    lib = make_library_corpus(tmp_path / "lib")
    assert len(set(corpus) | set(lib) | set(bad_checkpoints)) >= 25


def test_media_corpus_through_the_cli_and_the_pipeline(corpus, tiny_checkpoint, capsys):
    from r1omni import cli
    from r1omni.inference import Pipeline

    names = list(corpus)
    rc = cli.main(["predict", "--checkpoint", str(tiny_checkpoint), "--device", "cpu", "--json",
                   "--max-new-tokens", "8", *map(str, corpus.values())])
    out, err = capsys.readouterr()
    rows = [json.loads(line) for line in out.splitlines()]
    assert rc == 2 and len(rows) == len(names)  # every clip answered in order; bad ones do not stop the rest
    for name, row in zip(names, rows, strict=True):
        if name in READABLE:
            assert "error" not in row and row["checkpoint"], (name, row)
        else:
            assert _one_line(row["error"]), (name, row)
    err_lines = err.strip().splitlines()
    assert len(err_lines) == len(names) - len(READABLE) and all(e.startswith("error: ") for e in err_lines)
    pipe = Pipeline.load(tiny_checkpoint, device="cpu")
    for name, res in zip(names, pipe.predict(list(corpus.values()), max_new_tokens=8), strict=True):
        d = res.to_dict()
        assert ("error" in d) == (name not in READABLE), (name, d)


def test_media_corpus_through_the_app_keeps_it_serving(running_app, corpus):
    client = Client(running_app[0], verbose=False)
    for name, path in corpus.items():
        if name in ("directory", "missing", "oversize"):  # not uploadable (oversize: see test_app's upload cap)
            continue
        try:
            out = client.predict(handle_file(str(path)), *EXPLAIN_ARGS, api_name="/explain")
        except Exception as err:  # noqa: BLE001 - the message is what is checked
            assert name not in READABLE, (name, err)
            msg = str(err)
            assert _one_line(msg) and "/tmp" not in msg, (name, msg)
            continue
        assert name in READABLE, name
        assert out[-1]["prediction"]["checkpoint"], name
    out = client.predict(handle_file(str(EXAMPLES / "synth_00000.mp4")), *EXPLAIN_ARGS, api_name="/explain")
    assert schema_errors(out[-1]) == []  # the same server still explains a good clip


def test_library_corpus_opens_runs_and_leaves_the_store_consistent(running_app, tmp_path):
    from r1omni.library_store import LibraryStore
    from r1omni.ui import library_tab
    from r1omni.ui.backend import Backend

    root = tmp_path / "lib"
    make_library_corpus(root)
    store = LibraryStore(tmp_path / "r.sqlite")
    backend = Backend(running_app[2].r1omni_backend.pipeline, store, root, batch_size=4)
    state, table, status, *_ = library_tab.open_clips(backend, ".", "dfew")
    assert "export.csv" in status and "is not a manifest" in status and "skipped" in status
    assert str(root) not in status and "symlink_out.mp4" not in set(table["file"])
    lib = library_tab.open_library(".", root)
    assert any("unknown label 'bored'" in s for s in lib.skipped) and any("gone.mp4" in s for s in lib.skipped)
    n = len(state["clips"])
    steps = list(library_tab.run_batch(backend, state, "dfew", 8))
    _, table, _, metrics, _, _ = steps[-1]
    assert f"/ {n} clips scored" in metrics and (table["predicted"] != "").all()
    errors = [r["error"] for r in state["results"].values() if r.get("error")]
    assert errors and all(_one_line(e) and str(root) not in e for e in errors)
    con = sqlite3.connect(tmp_path / "r.sqlite")
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert con.execute("SELECT COUNT(*) FROM results").fetchone()[0] == n
    con.close()
    assert len(list(library_tab.run_batch(backend, state, "dfew", 8))) == 1  # nothing left: no model call
    store.close()


def test_checkpoint_corpus_through_cli_pipeline_app_start_and_compare(bad_checkpoints, running_app, capsys):
    sys.path.insert(0, str(ROOT))
    import app as app_module

    from r1omni import cli
    from r1omni.errors import CheckpointError
    from r1omni.inference import Pipeline
    from r1omni.ui import library_tab
    from r1omni.ui.backend import Backend

    clip = str(EXAMPLES / "synth_00000.mp4")
    folder = next(iter(bad_checkpoints.values())).parent
    be = running_app[2].r1omni_backend
    backend = Backend(be.pipeline, be.store, be.library_root, checkpoint_dirs=(folder,),
                      loader=lambda ck: Pipeline.load(ck, device="cpu"))
    state = library_tab.open_clips(backend, ".", "dfew")[0]
    for name, ck in bad_checkpoints.items():
        assert cli.main(["predict", "--checkpoint", str(ck), "--device", "cpu", clip]) == 2, name
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and _one_line(err), (name, err)
        with pytest.raises(CheckpointError):
            Pipeline.load(ck, device="cpu")
        assert app_module.main(["--checkpoint", str(ck), "--device", "cpu", "--port", "1"]) == 2, name
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and _one_line(err), (name, err)
        with pytest.raises(gr.Error) as e:
            library_tab.compare(backend, state, "dfew", ck.name, 8)
        assert _one_line(str(e.value)) and str(folder) not in str(e.value), (name, e.value)

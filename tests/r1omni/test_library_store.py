"""Library opening (folder / manifest, root containment) and the SQLite results store (real file)."""

import json
import os
import sqlite3

import pytest

from r1omni.errors import UsageError
from r1omni.library_store import SCHEMA_VERSION, LibraryStore, open_library, resolve_inside


def _touch(path, data=b"x"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_resolve_inside_refuses_escapes(tmp_path):
    root = tmp_path / "lib"
    root.mkdir()
    assert resolve_inside(root, "a/b.mp4") == (root / "a/b.mp4").resolve()
    for bad in ("../secret.mp4", str(tmp_path / "other.mp4"), "/etc/passwd", "a/../../x"):
        with pytest.raises(UsageError, match="outside the library root"):
            resolve_inside(root, bad)


def test_open_folder_scans_media_and_skips_symlinks_out(tmp_path):
    root = tmp_path / "lib"
    _touch(root / "a.mp4")
    _touch(root / "sub" / "b.wav")
    _touch(root / "notes.txt")
    outside = _touch(tmp_path / "secret.mp4")
    os.symlink(outside, root / "link.mp4")
    lib = open_library(".", root)
    assert [c.rel for c in lib.clips] == ["a.mp4", "sub/b.wav"]
    assert lib.skipped and "outside" in lib.skipped[0]


def test_open_manifest_keeps_labels_and_refuses_rows_outside_root(tmp_path):
    root = tmp_path / "lib"
    _touch(root / "clips" / "a.mp4")
    _touch(tmp_path / "escape.mp4")
    (root / "m.csv").write_text("path,label,dataset,duration_s\nclips/a.mp4,Happiness,dfew,2.5\n"
                                "../escape.mp4,sad,dfew,1\nclips/missing.mp4,sad,dfew,1\n")
    lib = open_library("m.csv", root)
    assert [(c.rel, c.label, c.dataset, c.duration_s) for c in lib.clips] == [("clips/a.mp4", "happy", "dfew", 2.5)]
    assert len(lib.skipped) == 2
    with pytest.raises(UsageError):
        open_library(str(tmp_path / "escape.mp4"), root)
    with pytest.raises(UsageError, match="does not exist"):
        open_library("nope", root)


def test_store_roundtrip_wal_schema_and_reopen(tmp_path):
    clip = _touch(tmp_path / "a.mp4", b"abc")
    db = tmp_path / "r.sqlite"
    with LibraryStore(db) as store:
        assert store.get("ck", clip, "dfew") is None
        store.put("ck", clip, "dfew", {"label": "happy"})
        store.put("ck2", clip, "dfew", {"label": "sad"})
    with LibraryStore(db) as store:  # reopened: results are there at once
        assert store.get("ck", clip, "dfew") == {"label": "happy"}
        assert store.get("ck", clip, "mafw") is None
        assert store.checkpoints() == ["ck", "ck2"]
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert con.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]
    con.close()


def test_changed_file_is_not_served_a_stale_result(tmp_path):
    clip = _touch(tmp_path / "a.mp4", b"abc")
    with LibraryStore(tmp_path / "r.sqlite") as store:
        store.put("ck", clip, "dfew", {"label": "happy"})
        clip.write_bytes(b"abcdef")  # new size (and mtime)
        assert store.get("ck", clip, "dfew") is None
        assert store.get_many("ck", [clip, tmp_path / "gone.mp4"], "dfew") == {}


def test_wrong_schema_version_is_refused(tmp_path):
    db = tmp_path / "r.sqlite"
    LibraryStore(db).close()
    con = sqlite3.connect(db)
    con.execute("UPDATE schema_version SET version = 99")
    con.commit()
    con.close()
    with pytest.raises(UsageError, match="schema version 99"):
        LibraryStore(db)


def test_export_jsonl_and_csv(tmp_path):
    clip = _touch(tmp_path / "a.mp4")
    with LibraryStore(tmp_path / "r.sqlite") as store:
        store.put("ck", clip, "dfew", {"label": "happy"})
        store.put("ck", _touch(tmp_path / "b.mp4"), "dfew", {"clip": "b", "error": "bad clip"})
        assert store.export(tmp_path / "out.jsonl") == 2
        assert store.export(tmp_path / "out.csv") == 2
    lines = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert {x["result"].get("label") for x in lines} == {"happy", None}
    assert "bad clip" in (tmp_path / "out.csv").read_text()


# ---------------------------------------------------------------- libraries as people have them
def test_real_clip_folder_with_an_unrelated_csv_opens_with_labels_from_file_names(real_clips):
    from tests.conftest import REAL_CLIPS

    lib = open_library(".", REAL_CLIPS)
    assert len(lib.clips) == len(real_clips) == 13  # every media file, whatever else the folder holds
    assert len(lib.reports) == 2 and all("is not a manifest" in r and "\n" not in r for r in lib.reports)
    assert "header: file, label, label_set" in lib.reports[0]
    by = {c.rel: c for c in lib.clips}
    assert (by["1001_DFA_ANG_XX.flv"].label, by["1001_DFA_ANG_XX.flv"].dataset) == ("angry", "crema-d")
    assert by["1001_DFA_FEA_XX.flv"].label_set == "dfew" and by["audio_only/1002_DFA_SAD_XX.mp3"].label == "sad"
    rav = by["01-01-08-02-01-01-19.mp4"]
    assert (rav.label, rav.dataset, rav.label_set) == ("surprise", "ravdess", "ravdess")
    assert by["1001_DFA_HAP_XX.flv"].duration_s == pytest.approx(1.868, abs=0.1)


def test_dfew_split_csv_maps_codes_1_to_7_by_video_name(tmp_path):
    from r1omni.manifest import DFEW_CODES

    root = tmp_path / "dfew"
    for i in range(1, 8):
        _touch(root / "clips" / f"{i:05d}.mp4")
    _touch(root / "clips" / "09999.mp4")  # not in the split: unlabelled
    split = root / "EmoLabel_DataSplit" / "set_1.csv"
    split.parent.mkdir(parents=True)
    split.write_text("video_name,label\n" + "".join(f"{i},{i}\n" for i in range(1, 8)))
    lib = open_library(".", root)
    labels = {c.rel: c.label for c in lib.clips}
    assert [labels[f"clips/{i:05d}.mp4"] for i in range(1, 8)] == [DFEW_CODES[i] for i in range(1, 8)]
    assert labels["clips/09999.mp4"] is None and not lib.reports
    assert DFEW_CODES == {1: "happy", 2: "sad", 3: "neutral", 4: "angry", 5: "surprise", 6: "disgust", 7: "fear"}
    split.write_text("video_name,label\n1,9\n")  # a broken split is reported, not fatal
    lib = open_library(".", root)
    assert len(lib.clips) == 8 and "label '9' is not a code 1-7" in lib.reports[0]


def test_r1omni_json_in_a_folder_and_manifest_rows_with_missing_files_or_unknown_labels(tmp_path):
    root = tmp_path / "lib"
    _touch(root / "a.mp4")
    _touch(root / "b.mp4")
    (root / "train.json").write_text(json.dumps([{"video": "a.mp4", "conversations": [
        {"from": "human", "value": "?"}, {"from": "gpt", "value": "<think>x</think><answer>sad</answer>"}]}]))
    lib = open_library(".", root)
    assert {c.rel: c.label for c in lib.clips} == {"a.mp4": "sad", "b.mp4": None}
    (root / "m.csv").write_text("path,label\na.mp4,bored\nb.mp4,happy\ngone.mp4,sad\n")
    lib = open_library("m.csv", root)
    assert [(c.rel, c.label) for c in lib.clips] == [("a.mp4", None), ("b.mp4", "happy")]
    assert any("unknown label 'bored'" in s for s in lib.skipped)
    assert any("gone.mp4 (missing)" in s for s in lib.skipped)
    (root / "notes.csv").write_text("a;b\n1;2\n")
    with pytest.raises(UsageError, match="is not a manifest"):
        open_library("notes.csv", root)  # opened on purpose: one line, not a traceback


def test_durations_are_cached_in_the_store_not_probed_on_every_open(tmp_path, monkeypatch):
    import r1omni.library_store as ls
    from tests.media_factory import make_av_clip

    root = tmp_path / "lib"
    make_av_clip(root / "a.mp4", seconds=1.0)
    with LibraryStore(tmp_path / "r.sqlite") as store:
        first = open_library(".", root, store).clips[0].duration_s
        assert first == pytest.approx(1.0, abs=0.15)

        def no_probe(path):
            raise AssertionError("probed again")

        monkeypatch.setattr(ls, "probe_duration", no_probe)
        assert open_library(".", root, store).clips[0].duration_s == first


def test_checkpoint_fingerprint_follows_config_and_weights_not_the_path(tmp_path):
    import shutil

    from r1omni.library_store import checkpoint_fingerprint

    a = tmp_path / "run"
    a.mkdir()
    (a / "config.json").write_text('{"model_type": "HumanOmni_qwen2"}')
    (a / "model.safetensors").write_bytes(b"\0" * 64)
    (a / "README.md").write_text("notes")
    with LibraryStore(tmp_path / "r.sqlite") as store:
        fa = checkpoint_fingerprint(a, store)
        copy = shutil.copytree(a, tmp_path / "copy" / "run")
        assert checkpoint_fingerprint(copy, store) == fa == checkpoint_fingerprint(a)  # cached == computed
        (a / "README.md").write_text("other notes")
        assert checkpoint_fingerprint(a, store) == fa  # not part of the model
        (a / "model.safetensors").write_bytes(b"\1" * 64)  # retrained in place: same path, new identity
        assert checkpoint_fingerprint(a, store) != fa


def test_batch_put_and_keyed_lookup_and_v1_database_is_upgraded(tmp_path):
    a, b = _touch(tmp_path / "a.mp4", b"a"), _touch(tmp_path / "b.mp4", b"bb")
    db = tmp_path / "r.sqlite"
    con = sqlite3.connect(db)  # a version-1 database as the previous release wrote it
    con.executescript("CREATE TABLE schema_version (version INTEGER NOT NULL); INSERT INTO schema_version VALUES (1);"
                      "CREATE TABLE results (checkpoint TEXT NOT NULL, clip TEXT NOT NULL, mtime_ns INTEGER NOT NULL,"
                      " size INTEGER NOT NULL, label_set TEXT NOT NULL, result TEXT NOT NULL, created REAL NOT NULL,"
                      " PRIMARY KEY (checkpoint, clip, mtime_ns, size, label_set));")
    con.close()
    from r1omni.library_store import file_key

    with LibraryStore(db) as store:
        store.put_many("ck", "dfew", [(file_key(a), {"label": "happy"}), (file_key(b), {"error": "bad"})])
        got = store.get_keyed("ck", [file_key(a), file_key(b), (str(tmp_path / "c.mp4"), 1, 1)], "dfew")
        assert got == {file_key(a): {"label": "happy"}, file_key(b): {"error": "bad"}}
    con = sqlite3.connect(db)
    assert con.execute("SELECT version FROM schema_version").fetchall() == [(2,)]
    con.close()

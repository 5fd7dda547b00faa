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

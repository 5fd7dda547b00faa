"""The app killed with SIGKILL in the middle of a library run: on restart the SQLite store is intact, every
finished batch is there, and Run resumes with only the clips that were not stored."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time

from tests.ui.app_fixtures import ROOT, free_port, make_library

DRIVER = r"""
import sys, threading
sys.path.insert(0, {root!r})
import app as app_module
from r1omni.ui import launch_options, library_tab
settings = app_module.parse_args(["--checkpoint", {ckpt!r}, "--library", {lib!r}, "--db", {db!r},
                                  "--port", {port!r}, "--device", "cpu", "--batch-size", "1"])
demo = app_module.build(settings)
demo.launch(prevent_thread_lock=True, quiet=True, **launch_options(settings))
backend = demo.r1omni_backend
state = library_tab.open_clips(backend, ".", "dfew")[0]
for step in library_tab.run_batch(backend, state, "dfew", 48):
    print("stored", len(state["results"]), flush=True)
print("finished", flush=True)
"""


def test_sigkill_during_a_run_keeps_the_store_consistent_and_the_run_resumable(tiny_checkpoint, tmp_path):
    from r1omni.library_store import LibraryStore
    from r1omni.ui import library_tab
    from r1omni.ui.backend import Backend

    lib = make_library(tmp_path / "lib", n=4)
    for clip in sorted(lib.glob("*.mp4")):  # 8 clips: the examples and a copy of each
        shutil.copy(clip, lib / f"copy_{clip.name}")
    n = 8
    db = tmp_path / "results.sqlite"
    code = DRIVER.format(root=str(ROOT), ckpt=str(tiny_checkpoint), lib=str(lib), db=str(db), port=str(free_port()))
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    seen = []
    deadline = time.monotonic() + 300
    while len(seen) < 2 and time.monotonic() < deadline:
        line = proc.stdout.readline()
        assert line, "the app exited before storing two batches"
        if line.startswith("stored"):
            seen.append(line)
    os.kill(proc.pid, signal.SIGKILL)  # in the middle of the third batch
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    con = sqlite3.connect(db)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    stored = con.execute("SELECT COUNT(*) FROM results").fetchone()[0]
    con.close()
    assert 2 <= stored < n
    from r1omni.inference import Pipeline

    with LibraryStore(db) as store:  # restart: the same store, the same checkpoint identity
        backend = Backend(Pipeline.load(tiny_checkpoint, device="cpu"), store, lib, batch_size=1)
        state = library_tab.open_clips(backend, ".", "dfew")[0]
        assert len(state["results"]) == stored  # the finished clips are shown at once
        steps = list(library_tab.run_batch(backend, state, "dfew", 48))
        assert len(steps) == n - stored + 1  # only the missing clips ran (one batch each, then the final view)
        assert f"{n} / {n} clips scored" in steps[-1][3]

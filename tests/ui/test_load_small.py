"""A small bounded overload of the running app over loopback (the full load is bench/app_load.py).

The model is held busy by the test (it takes `Backend.model_lock`), so what happens does not depend on how
fast the machine is: with room for 2 waiting requests, a burst of 8 gets 1 running + 2 waiting and 5
refused at once with the app's own busy message; once the model is free the 3 are answered, and the app
keeps serving. (The earlier version lowered Gradio's queue bound and raced a burst against a tiny model:
whether the queue was full when a request arrived depended on CPU load, so it flaked.)
"""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor

from gradio_client import Client, handle_file

from tests.ui.app_fixtures import EXAMPLES

EXPLAIN_ARGS = ("dfew", "greedy", 16, "fast")
BUSY = re.compile(r"^Busy: 2 requests are queued for the model; retry in a moment$")


def _until(cond, what: str, limit_s: float = 120.0) -> None:
    deadline = time.monotonic() + limit_s
    while not cond():
        assert time.monotonic() < deadline, f"not within {limit_s:.0f} s: {what}"
        time.sleep(0.05)


def _call(client: Client) -> str:
    try:
        client.submit(handle_file(str(EXAMPLES / "synth_00001.mp4")), *EXPLAIN_ARGS,
                      api_name="/explain").result(timeout=300)
        return "answered"
    except Exception as err:  # noqa: BLE001 - classified by the test
        return str(err)


def test_an_overloaded_app_refuses_with_its_busy_message_and_keeps_serving(running_app):
    url, _, demo = running_app
    gate, backend = demo.r1omni_gate, demo.r1omni_backend
    _until(lambda: gate.waiting == 0 and gate.running == 0, "the app is idle")
    before, refused0 = gate.max_waiting, gate.refused
    assert before == 64  # --queue-size's default
    gate.max_waiting = 2
    client = Client(url, verbose=False, max_workers=12)
    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            with backend.model_lock:  # the model is busy until every request has been admitted or refused
                futures = [pool.submit(_call, client) for _ in range(8)]
                _until(lambda: gate.running == 1 and gate.waiting == 2 and gate.refused - refused0 == 5,
                       "1 running, 2 waiting, 5 refused")
                _until(lambda: sum(f.done() for f in futures) == 5, "the refusals reach the client while busy")
                refusals = [f.result() for f in futures if f.done()]
            outcomes = [f.result(timeout=300) for f in futures]
        assert all(BUSY.match(o) for o in refusals), refusals
        assert outcomes.count("answered") == 3, outcomes
        assert sorted(o for o in outcomes if o != "answered") == sorted(refusals)
        assert _call(client) == "answered"  # still serving
        assert gate.waiting == 0 and gate.running == 0
        assert demo.delete_cache == (3600, 86400)  # what Gradio caches is bounded by age, not kept forever
    finally:
        gate.max_waiting = before
        client.close()


def test_gallery_thumbnails_are_files_written_once_and_bounded():
    """The same frame twice is the same file, never rewritten (Gradio rewrote an in-memory image's cache file
    in place on each request, cutting short a download of it still running); at most `keep` files stay."""
    import os

    import numpy as np

    from r1omni.ui.clip_tab import ThumbnailFiles

    thumbs = ThumbnailFiles(keep=2)
    frame = np.arange(48, dtype=np.uint8).reshape(4, 4, 3)
    first = thumbs.path(frame)
    stat = os.stat(first)
    assert thumbs.path(frame.copy()) == first
    assert (os.stat(first).st_ino, os.stat(first).st_mtime_ns) == (stat.st_ino, stat.st_mtime_ns)
    others = thumbs.paths([np.full((4, 4, 3), v, np.uint8) for v in (1, 2, 3)])
    assert sorted(os.listdir(os.path.dirname(first))) == sorted(os.path.basename(p) for p in others[-2:])

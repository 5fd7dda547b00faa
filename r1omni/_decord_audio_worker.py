"""Child process that decodes audio tracks with decord's AudioReader, for r1omni.media.

Run as a script (`python -I _decord_audio_worker.py`), never imported: it needs only numpy and decord, so it
starts in a fraction of a second. decord 0.6.0's AudioReader never frees its resampled output buffer (about
the decoded track's size per reader; dmlc/decord#189, fixed upstream after the last release), so the parent
runs it here and replaces this process once it has grown; the leak then never reaches the app.

Protocol, one request at a time: the parent writes a JSON line {"path": str, "sample_rate": int}; this
process answers with a JSON line {"ok": bool, "n": samples, "error": str, "stderr": str, "rss_mib": float}
followed, when ok, by n little-endian float32 mono samples. What native code prints (fd 1 and fd 2) during
a decode is captured and sent back in "stderr", so it never mixes with the answers.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile


def _rss_mib() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _decode(path: str, sample_rate: int):
    import decord
    import numpy as np

    reader = decord.AudioReader(path, ctx=decord.cpu(0), sample_rate=sample_rate, mono=True)
    # The reader decodes the whole track at construction; `_array` is that (channels, n) array.
    arr = getattr(reader, "_array", None)
    if arr is None:
        arr = reader[:].asnumpy()
    arr = np.asarray(arr, dtype=np.float32)
    mono = arr.reshape(-1) if arr.shape[0] == 1 else arr.mean(axis=0)
    return np.ascontiguousarray(mono, dtype="<f4")


def main() -> int:
    answers = os.fdopen(os.dup(1), "wb")  # the protocol's own copy of stdout
    requests = sys.stdin.buffer
    for line in requests:
        req = json.loads(line)
        mono, head = None, {}
        with tempfile.TemporaryFile() as sink:
            saved = os.dup(2)
            os.dup2(sink.fileno(), 1)
            os.dup2(sink.fileno(), 2)
            try:
                mono = _decode(req["path"], int(req["sample_rate"]))
                head = {"ok": True, "n": int(mono.size)}
            except Exception as err:  # noqa: BLE001 - sent back; the parent decides what it means
                head = {"ok": False, "error": " ".join(f"{type(err).__name__}: {err}".split())[:2000]}
            finally:
                os.dup2(saved, 2)
                os.close(saved)
            sink.seek(0)
            head["stderr"] = sink.read(4000).decode("utf-8", "replace").strip()
        head["rss_mib"] = round(_rss_mib(), 1)
        answers.write(json.dumps(head).encode() + b"\n")
        if mono is not None:
            answers.write(mono.tobytes())
        answers.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())

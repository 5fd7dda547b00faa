"""What the app's start-up defaults and playback copies cost: the warm-up prediction that picks the default
explain mode (per checkpoint), and a playback copy per clip (probe, first conversion, cached call).

Clips: every .flv/.mp4/.avi under --clips (default ../shared/data/real-clips when present) plus an AVI/MJPEG
made here. Writes bench/results/app_start.json. Not a test: numbers depend on the machine.

    python bench/app_start.py [--checkpoint DIR ...] [--clips DIR] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
EXAMPLES = ROOT / "assets" / "examples"


def warm_up(checkpoint: str | None) -> dict:
    from r1omni.inference import Pipeline
    from r1omni.ui.backend import Backend

    t0 = time.perf_counter()
    pipe = Pipeline.load(checkpoint, device="cpu")
    load_s = time.perf_counter() - t0
    be = Backend(pipe)
    seconds = be.warm_up(sorted(EXAMPLES.glob("*.mp4"))[0])
    return {"checkpoint": checkpoint or "demo", "load_s": round(load_s, 2), "max_new_tokens": be.max_new_tokens,
            "warm_up_s": None if seconds is None else round(seconds, 3), "default_mode": be.explain_mode()}


def copies(clips: list[Path]) -> list[dict]:
    from r1omni.playback import PlaybackCache, browser_plays, probe

    cache = PlaybackCache(tempfile.mkdtemp(prefix="bench-playback-"))
    out = []
    try:
        for c in clips:
            t0 = time.perf_counter()
            p = probe(c)
            probe_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            copy = cache.playable(c)
            first_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            cache.playable(c)
            cached_s = time.perf_counter() - t0
            out.append({"clip": c.name, "bytes": c.stat().st_size, "container": p.container, "video": p.video_codec,
                        "audio": p.audio_codec, "plays_as_is": browser_plays(p, c.suffix),
                        "probe_s": round(probe_s, 4), "first_s": round(first_s, 3), "cached_s": round(cached_s, 4),
                        "copy_bytes": copy.stat().st_size if copy != c.resolve() else None})
    finally:
        cache.clear()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--checkpoint", action="append", default=[], help="checkpoint folder (repeatable; default demo)")
    ap.add_argument("--clips", default=str(ROOT.parent / "shared" / "data" / "real-clips"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "app_start.json"))
    a = ap.parse_args()
    import torch

    torch.set_num_threads(a.threads)
    from tests import media_factory as mf

    tmp = Path(tempfile.mkdtemp(prefix="bench-clips-"))
    clips = [mf.make_av_clip(tmp / "mjpeg_pcm.avi", seconds=3.0, vcodec="mjpeg", acodec="pcm_s16le",
                             size=(480, 270), extra=("-q:v", "3"))]
    if Path(a.clips).is_dir():
        clips += sorted(p for p in Path(a.clips).iterdir() if p.suffix.lower() in (".flv", ".mp4", ".avi"))
    report = {"machine": {"cpus": os.cpu_count(), "threads": a.threads},
              "command": "python bench/app_start.py " + " ".join(sys.argv[1:]),
              "warm_up": [warm_up(c) for c in (a.checkpoint or [None])],
              "playback_copies": copies(clips)}
    Path(a.out).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

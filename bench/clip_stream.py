"""Results as they come in the Clip tab: when each part of an explanation reaches a client of the app.

Starts the app in-process (demo checkpoint unless --checkpoint) and, for each example clip, calls
`/explain_stream` with gradio_client and timestamps the first update carrying reasoning text, the first with
the answer (label headline), the first with the modality shares, and the final result; then `/explain` on
the same clip (one answer, nothing before it). Writes a JSON report. Not a test: timings depend on the
machine and on what else runs on it.

    python bench/clip_stream.py --clips 4 --mode full --out bench/results/clip_stream.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def first_time(updates: list[tuple[float, tuple]], test) -> float | None:
    return next((t for t, out in updates if test(out)), None)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--checkpoint", default=None)
    ap.add_argument("--clips", type=int, default=4)
    ap.add_argument("--mode", default="full", choices=["fast", "full"])
    ap.add_argument("--max-new-tokens", type=int, default=256)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "clip_stream.json"))
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    import app as app_module
    from gradio_client import Client, handle_file

    from r1omni.ui import launch_options

    work = Path(tempfile.mkdtemp())
    argv = ["--db", str(work / "results.sqlite"), "--port", str(free_port()), "--device", "cpu"]
    if args.checkpoint:
        argv += ["--checkpoint", args.checkpoint]
    settings = app_module.parse_args(argv)
    demo = app_module.build(settings)
    demo.launch(prevent_thread_lock=True, quiet=True, **launch_options(settings))
    clips = sorted((ROOT / "assets" / "examples").glob("*.mp4"))[: args.clips]
    rows = []
    try:
        client = Client(f"http://127.0.0.1:{settings.port}/", verbose=False)
        explain_args = ("dfew", "greedy", args.max_new_tokens, args.mode)
        client.predict(handle_file(str(clips[0])), *explain_args, api_name="/explain")  # warm-up
        for clip in clips:
            t0 = time.perf_counter()
            job = client.submit(handle_file(str(clip)), *explain_args, None, api_name="/explain_stream")
            updates: list[tuple[float, tuple]] = []
            seen = 0
            while not job.done() or seen < len(job.outputs()):
                outs = job.outputs()
                for out in outs[seen:]:
                    updates.append((time.perf_counter() - t0, out))
                seen = len(outs)
                time.sleep(0.01)
            final = job.result()
            t_final = time.perf_counter() - t0

            def has_reasoning(out):  # a HighlightedText update with text, before the answer headline
                r = out[3]
                value = r.get("value") if isinstance(r, dict) else r
                return bool(value) and "checkpoint:" not in str(out[1])

            def is_plot(x):
                return isinstance(x, dict) and x.get("type") == "plotly"

            row = {
                "clip": clip.name,
                "updates": len(updates),
                "first_reasoning_s": first_time(updates, has_reasoning),
                "answer_s": first_time(updates, lambda o: "checkpoint:" in str(o[1])),
                "modality_s": first_time(updates, lambda o: is_plot(o[5])),
                "timelines_s": first_time(updates, lambda o: is_plot(o[8])),
                "final_s": round(t_final, 3),
                "label": final[-1]["prediction"].get("label"),
            }
            t1 = time.perf_counter()
            client.predict(handle_file(str(clip)), *explain_args, api_name="/explain")
            row["explain_once_s"] = round(time.perf_counter() - t1, 3)
            rows.append({k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()})
            print(rows[-1])
    finally:
        demo.close()

    def med(key):
        vals = [r[key] for r in rows if r[key] is not None]
        return round(statistics.median(vals), 3) if vals else None

    report = {
        "command": "python bench/clip_stream.py " + " ".join(sys.argv[1:]),
        "checkpoint": args.checkpoint or "demo",
        "mode": args.mode, "max_new_tokens": args.max_new_tokens, "threads": args.threads,
        "machine": {"cpu_count": os.cpu_count(), "python": platform.python_version(),
                    "load_1min_at_start": os.getloadavg()[0]},
        "median": {k: med(k) for k in ("first_reasoning_s", "answer_s", "modality_s", "timelines_s", "final_s",
                                               "explain_once_s")},
        "clips": rows,
    }
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report["median"]))


if __name__ == "__main__":
    main()

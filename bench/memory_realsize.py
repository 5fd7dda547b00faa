"""Peak memory of `predict` and `explain` at R1-Omni's real vocabulary size (151,936), CPU.

    .venv/bin/python bench/memory_realsize.py --clips 8 --max-new-tokens 64

The model is `tests/realsize.py`'s: the tiny preset with the released checkpoint's vocabulary size and a
Qwen2-style tokenizer (random weights, so every completion runs the full `--max-new-tokens`). Each
measurement runs in a fresh subprocess that builds the pipeline, encodes the clips, then runs one command
on all of them; its peak RSS (getrusage ru_maxrss) is reported with the RSS before the command (weights +
clips), so the command's own peak is visible. `--code DIR` runs the workers on another source tree's
`r1omni` (e.g. an export of main, for before/after). Writes bench/results/memory_realsize.json (or --out).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def worker(args) -> dict:
    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    from r1omni.media import Clip
    from tests.realsize import realsize_pipeline

    pipe = realsize_pipeline(seed=0)
    clips = []
    for s in range(args.clips):
        rng = np.random.default_rng(s)
        frames = rng.integers(0, 255, (8, 32, 32, 3), dtype=np.uint8)
        wave = (0.3 * np.sin(np.arange(32000) * 0.05 * (1 + s)) + 0.05 * rng.standard_normal(32000)).astype(np.float32)
        clips.append(Clip(f"clip{s}.mp4", frames, list(range(8)), [i * 0.25 for i in range(8)], wave, 2.0, True, True))
    media = [pipe.encode(c) for c in clips]
    before = _rss_mib()
    t0 = time.perf_counter()
    if args.worker == "predict":
        out = pipe.predict(media, max_new_tokens=args.max_new_tokens, batch_size=args.batch_size)
    else:
        from r1omni.explain import explain

        out = explain(pipe, media, mode=args.mode, max_new_tokens=args.max_new_tokens, batch_size=args.batch_size)
    wall = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"command": args.worker, "clips": len(out), "rss_before_mib": round(before, 1),
            "peak_rss_mib": round(peak, 1), "wall_s": round(wall, 2)}


def measure(kind: str, args, code: str | None) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", kind, "--clips", str(args.clips),
           "--max-new-tokens", str(args.max_new_tokens), "--batch-size", str(args.batch_size),
           "--mode", args.mode, "--threads", str(args.threads)]
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    env["PYTHONPATH"] = os.pathsep.join([p for p in (code, str(REPO)) if p])
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"worker {kind} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clips", type=int, default=8)
    p.add_argument("--max-new-tokens", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--mode", default="full", choices=("full", "fast"))
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--code", default=None, help="source tree whose r1omni the workers run (default: this one)")
    p.add_argument("--label", default="this tree")
    p.add_argument("--out", default=str(REPO / "bench" / "results" / "memory_realsize.json"))
    p.add_argument("--worker", choices=("predict", "explain"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args)))
        return 0
    rows = {kind: measure(kind, args, args.code) for kind in ("predict", "explain")}
    ratio = round(rows["explain"]["peak_rss_mib"] / rows["predict"]["peak_rss_mib"], 3)
    command = "python bench/memory_realsize.py " + " ".join(argv if argv is not None else sys.argv[1:])
    entry = {"code": args.label, "command": command, "predict": rows["predict"], "explain": rows["explain"],
             "explain_over_predict_peak": ratio}
    out = Path(args.out)
    report = json.loads(out.read_text()) if out.exists() else {}
    report.update({
        "model": "tests/realsize.py: tiny preset, vocab_size 151936, Qwen2-style tokenizer, random weights, fp32, CPU",
        "settings": {"clips": args.clips, "max_new_tokens": args.max_new_tokens, "batch_size": args.batch_size,
                     "explain_mode": args.mode, "threads": args.threads},
        "target": "explain peak RSS < 1.5x predict peak RSS on the same clips",
        "note": "peak RSS (ru_maxrss) of a fresh subprocess per command; the CPU is shared with other jobs",
    })
    report.setdefault("runs", {})[args.label] = entry
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(entry, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

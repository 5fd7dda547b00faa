"""Peak RSS of the training media pipeline (`training.data.MediaEncoder`) for 100 vs 1,000 clips.

Each (clips, cache budget) setting runs in its own subprocess: two epochs over the clips in batches of 8,
the way SFT's collator and GRPO's media encoder call it, then its peak RSS (ru_maxrss) is reported. The
1,000 clips are 100 synthetic mp4 files (`r1omni synth`) under 10 link names each, so every name is a
distinct cache key and every miss decodes a real file. Settings: the old unbounded cache (every clip
kept), the byte-budgeted LRU cache decoding in process, and the budget with decoding in one recycled
child process (`decode_workers=1`; decord leaks per opened audio file, so in-process decoding grows
with the number of clips whatever the cache). Not a test: numbers depend on the machine.

    python bench/training_data_memory.py [--preset demo] [--budget-mb 64] [--out bench/results/training_data_memory.json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
UNBOUNDED_MB = 10**9  # larger than any run: the cache of the previous code, which never dropped a clip


def child(args) -> None:
    from r1omni.config import preset_config
    from r1omni.tokenization import build_bert_tokenizer, default_corpus
    from training.data import MediaEncoder

    import torch

    torch.set_num_threads(1)
    paths = Path(args.paths).read_text().split("\n")[: args.n]
    config = preset_config(args.preset)
    encoder = MediaEncoder(config, build_bert_tokenizer(default_corpus(), vocab_size=256),
                           cache=args.cache_mb > 0, cache_mb=args.cache_mb, decode_workers=args.workers)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.perf_counter()
    for _ in range(2):
        for start in range(0, len(paths), 8):
            batch = encoder([{"path": p, "prompt": "what emotion?"} for p in paths[start : start + 8]])
    seconds = time.perf_counter() - t0
    cache = encoder._cache
    one = encoder.encode_row({"path": paths[0]}).nbytes
    print(json.dumps({
        "clips": len(paths), "cache_mb": None if args.cache_mb >= UNBOUNDED_MB else args.cache_mb,
        "decode_workers": args.workers,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "rss_before_mb": round(base, 1), "seconds_2_epochs": round(seconds, 1),
        "cached_clips": len(cache) if cache else 0, "cached_mb": round(cache.nbytes / 2**20, 1) if cache else 0,
        "hits": cache.hits if cache else 0, "misses": cache.misses if cache else 0,
        "mb_per_clip": round(one / 2**20, 3), "batch_shape": list(batch["pixel_values_videos"].shape),
    }))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="demo")
    p.add_argument("--budget-mb", type=float, default=64)
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "training_data_memory.json")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--paths", help=argparse.SUPPRESS)
    p.add_argument("--n", type=int, help=argparse.SUPPRESS)
    p.add_argument("--cache-mb", type=float, help=argparse.SUPPRESS)
    p.add_argument("--workers", type=int, default=0, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        return child(a)
    from r1omni.config import preset_config
    from r1omni.synthetic import generate_clips
    from training.data import encode_media

    tmp = Path(tempfile.mkdtemp(prefix="r1omni-datamem-"))
    manifest = generate_clips(tmp / "clips", 100, seed=3)
    files = sorted(manifest.parent.glob("*.mp4"))
    links = []
    for copy in range(10):
        folder = tmp / f"names{copy}"
        folder.mkdir()
        for f in files:
            (folder / f.name).symlink_to(f)
            links.append(str(folder / f.name))
    paths = tmp / "paths.txt"
    paths.write_text("\n".join(links))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    runs = []
    for cache_mb, workers in ((UNBOUNDED_MB, 0), (a.budget_mb, 0), (a.budget_mb, 1)):
        for n in (100, 1000):
            cmd = [sys.executable, __file__, "--child", "--paths", str(paths), "--n", str(n), "--cache-mb",
                   str(cache_mb), "--preset", a.preset, "--workers", str(workers)]
            out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
            runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(runs[-1], flush=True)
    paper = encode_media(files[0], preset_config("r1-omni-0.5b"))
    by = {(r["cache_mb"], r["decode_workers"], r["clips"]): r["peak_rss_mb"] for r in runs}
    report = {
        "command": f"python bench/training_data_memory.py --preset {a.preset} --budget-mb {a.budget_mb:g}",
        "preset": a.preset, "budget_mb": a.budget_mb, "runs": runs,
        "peak_rss_ratio_1000_vs_100": {
            "unbounded_cache": round(by[(None, 0, 1000)] / by[(None, 0, 100)], 3),
            "budget_in_process_decode": round(by[(a.budget_mb, 0, 1000)] / by[(a.budget_mb, 0, 100)], 3),
            "budget_recycled_decoder": round(by[(a.budget_mb, 1, 1000)] / by[(a.budget_mb, 1, 100)], 3),
        },
        "paper_config_mb_per_clip": round(paper.nbytes / 2**20, 2),
        "note": "2 CPU cores shared with other agents; RSS in MiB (ru_maxrss of the training process; with "
                "decode_workers the decoder child is not counted: it is replaced every 200 clips); one "
                "subprocess per setting",
    }
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report["peak_rss_ratio_1000_vs_100"]), "->", a.out)


if __name__ == "__main__":
    main()
